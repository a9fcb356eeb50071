"""Stream, consumer and KV settings shared by every service."""

from __future__ import annotations

from dataclasses import dataclass, replace

from contracts import subjects

STREAM = "TRADEHOOKS"
STREAM_SUBJECTS = [
    "webhook.>",
    "order.>",
    "registry.>",
    "account.>",
    "security.>",
    "callback.>",
    "deadletter.>",
]
# JetStream drops a repeated Nats-Msg-Id inside this window: repeated stage outputs,
# and repeated alerts (ingress publishes webhook.received with the alert's key as
# its message id). TRADEHOOKS_DEDUPE_WINDOW_S sets it.
DUPLICATE_WINDOW_S = 600.0

# Prices are high-volume inputs, kept briefly in their own stream and not audited.
MARKET_STREAM = "MARKET"
MARKET_SUBJECTS = ["market.>"]
MARKET_MAX_AGE_S = 3600.0

BUCKET_REGISTRY = "th_registry"
BUCKET_OPEN_ORDERS = "th_open_orders"
BUCKET_PRICES = "th_market_prices"
BUCKET_RISK = "th_risk_ledgers"
# Risk's answer to each signal, one key per signal: a redelivery, even after the risk
# service was down for days, gets its first answer; dropped after a week.
BUCKET_RISK_DECISIONS = "th_risk_decisions"
RISK_DECISIONS_KEEP_S = 7 * 86_400.0
BUCKET_BREAKERS = "th_breakers"
BUCKET_RATE = "th_rate_limits"
RATE_WINDOW_KEEP_S = 90_000.0  # a day and a bit: the longest window, then dropped
BUCKET_PAPER = "th_paper_accounts"
# Alerts accepted for strategies under a rate limit (kept for the duplicate window).
BUCKET_ACCEPTED = "th_accepted_alerts"
# Callbacks: one record per delivery (its state and the endpoint's delivery log), kept
# 30 days; and each endpoint's run of parked deliveries.
BUCKET_CALLBACK_DELIVERIES = "th_callback_deliveries"
CALLBACK_DELIVERIES_KEEP_S = 30 * 86_400.0
BUCKET_CALLBACK_HEALTH = "th_callback_health"
# Notifications gathered or cut and not yet sent (libs/notify/pending.py).
BUCKET_NOTIFY_PENDING = "th_notify_pending"
# Which channels were given a day's summary (libs/notify/summary_marks.py): a day
# is summarised on that day only, so three days is plenty.
BUCKET_NOTIFY_SUMMARIES = "th_notify_summaries"
NOTIFY_SUMMARIES_KEEP_S = 3 * 86_400.0
# Partition leases (``<service>.<partition>``: owner, epoch, expiry) and the
# instances' heartbeats (``<service>.<instance>``), see libs/runtime/partitions.
BUCKET_PARTITIONS = "th_partitions"
BUCKET_MEMBERS = "th_members"
MEMBERS_KEEP_S = 600.0

# With partitions on, the stream appends the partition to every subject with tenant,
# account and strategy tokens (``webhook.validated.<t>.<a>.<s>.<p>``), by the server's
# own partition(N, tenant, account) hash; shorter subjects are stored unchanged.
PARTITIONED_SOURCE = "*.*.*.*.*"


def partition_destination(partitions: int) -> str:
    """The stream's subject transform destination for ``partitions`` partitions."""
    tokens = ".".join(f"{{{{wildcard({n})}}}}" for n in range(1, 6))
    return f"{tokens}.{{{{partition({partitions},3,4)}}}}"


@dataclass(frozen=True)
class ConsumerSpec:
    """A durable pull consumer: one per service, shared by all its instances."""

    durable: str
    filter_subjects: tuple[str, ...]
    stage: str
    stream: str = STREAM
    # Attempts before a message is given up (webhook.failed, then dead letter);
    # deliveries after a crash count too. -1: never give up.
    max_deliver: int = 5
    # How long a crashed instance's in-flight messages wait before redelivery.
    # Handlers take milliseconds; slow ones report progress to extend it.
    ack_wait_s: float = 10.0
    # Delays between in-place retries after a handler error (seconds); the last
    # one repeats. Meanwhile only the messages of the same account wait behind it
    # (order over speed there); other accounts' messages go past. With the defaults
    # a poison message is parked on ``deadletter.<durable>`` after ~14 s.
    backoff_s: tuple[float, ...] = (0.2, 1.0, 3.0, 10.0)


VALIDATOR = ConsumerSpec("validator", (subjects.RECEIVED,), "validate")
RISK = ConsumerSpec("risk", (subjects.VALIDATED,), "risk")
# Frees the risk reservation of a signal once its order filled or ended.
RISK_RELEASE = ConsumerSpec("risk_release", (subjects.TRADE_EXECUTED, subjects.FAILED,
                                            subjects.PARTIALLY_FILLED), "risk")
# Orders and cancels of one account arrive on one consumer, so the executor carries
# them out in the order they were decided (a breaker's cancels before its liquidation).
EXECUTOR = ConsumerSpec("executor", (subjects.ORDER_REQUESTED, subjects.CANCEL_REQUESTED),
                        "execute")
EXECUTOR_PRICES = ConsumerSpec("executor_prices", (subjects.PRICES,), "execute",
                               max_deliver=3, stream=MARKET_STREAM)
SLTP_MONITOR = ConsumerSpec("sltp_monitor", (subjects.TRADE_EXECUTED,), "sltp")
# The auditor records every event and never gives up on one (it naks and retries
# until the store is back). Dead letters are not events; they stay in the stream.
AUDITOR = ConsumerSpec(
    "auditor", ("webhook.>", "order.>", "registry.>", "account.>", "security.>", "callback.>"),
    "audit",
    max_deliver=-1,
)

# The dispatcher: lifecycle events in (a callback.requested per endpoint that wants
# one) …
DISPATCHER = ConsumerSpec(
    "dispatcher", ("webhook.>", "order.placed.>", "order.partially_filled.>",
                   "order.leg_filled.>", "order.leg_canceled.>", "order.leg_resized.>",
                   "account.>", "security.>"), "dispatch")
# … and the deliveries themselves: retried by JetStream (a nak with the backoff's
# delay) for as long as the retry period lasts; attempts are counted in the delivery's
# record, so the consumer never gives up on its own. Its ack wait follows the callback
# timeout (see services/dispatcher/worker.py).
DISPATCHER_DELIVERIES = ConsumerSpec("dispatcher_deliveries", (subjects.CALLBACK_REQUESTED,),
                                     "dispatch", max_deliver=-1)

# The notifier: fills, failures, breaker trips and auth-failure alerts, told to people
# on their tenants' channels. It publishes nothing and never gives up on an event.
NOTIFIER = ConsumerSpec(
    "notifier", (subjects.TRADE_EXECUTED, subjects.FAILED, "account.>", "security.>"),
    "notify", max_deliver=-1)


def for_partition(spec: ConsumerSpec, partition: int) -> ConsumerSpec:
    """The consumer of one partition: ``risk-p07``, filtered to that partition's
    subjects (``webhook.validated.>`` becomes ``webhook.validated.*.*.*.7``)."""
    filters = tuple(f"{subject.removesuffix('>')}*.*.*.{partition}"
                    for subject in spec.filter_subjects)
    return replace(spec, durable=f"{spec.durable}-p{partition:02d}", filter_subjects=filters)


def message_id(signal_id: str, stage: str) -> str:
    """The Nats-Msg-Id for the output of ``stage`` for one signal: repeats are dropped."""
    return f"{signal_id}:{stage}"
