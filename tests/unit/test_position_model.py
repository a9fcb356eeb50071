"""Model-based test of one account: positions, their protective legs and the breaker.

Hypothesis drives the real decision code (risk, the executor, the sl-tp-monitor,
the orphan cleanup, the portfolio breaker) and the paper broker, wired through
in-memory KV buckets and an in-memory bus, with random sequences of entries, exits,
partial exits and flips from three strategies (legs at the fill price, legs at the
alert price with a trailing stop, no legs), price ticks up and down, cleanup runs,
breaker trips and resumes, and redeliveries of already handled messages (a crash
before the ack). After every step the book the broker holds is checked against a
simple reference model:

- the position equals the sum of the fills the events report (and the projection's);
- cash + positions x price = equity, and the projection agrees with the broker;
- every resting protective order is on the closing side, at most the position, and
  of one entry only; no leg rests on a flat symbol;
- OCO siblings never both fill; a leg fills only when the market crossed it;
- no order the signals did not ask for: every order at the broker was requested;
  every leg belongs to an entry that filled; each signal ended exactly once;
- what-if with nothing changed gives back every recorded fill, leg and breaker trip
  from the events alone (the price ticks are not among them, as in the store).

``HYPOTHESIS_PROFILE=deep`` runs it longer and at random.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter, deque
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import msgspec
import pytest
from fakes.memory import MemoryBus, MemoryKV, MemoryRegistry, StepClock
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from contracts.events import (
    AccountResumed,
    AccountUpdated,
    AnyEvent,
    BreakerTripped,
    CancelRequested,
    Event,
    LegFilled,
    OrderRequested,
    StrategyRegistered,
    TradeExecuted,
    WebhookFailed,
    WebhookValidated,
)
from contracts.market import PriceTick
from contracts.orders import BrokerOrder, entry_order_id
from contracts.signals import Signal
from domain.ledger import Book
from domain.protection import closing_side, is_leg
from libs.brokers.factory import Brokers
from libs.brokers.paper import PaperAccount, PaperBroker, crosses
from libs.registry.models import Account, BreakerConfig, Strategy, Tenant
from libs.whatif.offline import Costs
from libs.whatif.replay import from_list, replay
from projections.accounts import AccountsProjection
from services.executor.handlers import Executor
from services.executor.open_orders import OpenOrders
from services.executor.sweeps import child_order_id
from services.risk.handlers import RiskService
from services.risk.ledger import RiskDecisions, RiskLedgers
from services.sltp_monitor.breaker_loop import BreakerLoop
from services.sltp_monitor.cleanup import OrphanCleanup
from services.sltp_monitor.handlers import SlTpMonitor

D = Decimal
ZERO = D(0)
START = datetime(2026, 12, 1, 14, 30, tzinfo=UTC)
SYMBOLS = ("KO", "PFE")
TENANT = Tenant(id="acme", name="Acme")
ACCOUNT = Account(id="acct", tenant_id="acme", name="Paper", starting_cash=D(1_000_000))
STRATEGIES = {
    # Legs at the average fill price.
    "legs": Strategy(id="s-legs", tenant_id="acme", account_id="acct", name="Legs",
                     slug="legs", secret="x", sizing_mode="alert_contracts",
                     max_order_notional=None, attach_sl_tp=True, sl_pct=D(2), tp_pct=D(4)),
    # Legs at the alert's price, the stop trailing the market.
    "trail": Strategy(id="s-trail", tenant_id="acme", account_id="acct", name="Trail",
                      slug="trail", secret="x", sizing_mode="alert_contracts",
                      max_order_notional=None, attach_sl_tp=True, sl_pct=D(3), tp_pct=D(6),
                      use_avg_fill_for_sl_tp=False, trailing_stop_pct=D(3)),
    # No legs of its own.
    "bare": Strategy(id="s-bare", tenant_id="acme", account_id="acct", name="Bare",
                     slug="bare", secret="x", sizing_mode="alert_contracts",
                     max_order_notional=None),
}
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")


def run(coro: Any) -> Any:
    return asyncio.get_event_loop_policy().get_event_loop().run_until_complete(coro)


class Pipeline:
    """The pipeline services of one machine, wired in memory: every published event
    goes to the handlers that consume it, in publish order."""

    def __init__(self) -> None:
        self.clock = StepClock(START)
        self.registry = MemoryRegistry()
        self.registry.add(TENANT, ACCOUNT, *STRATEGIES.values())
        self.bus = MemoryBus()
        self.paper_kv = MemoryKV()
        paper = PaperBroker(self.paper_kv, self.clock, slippage_bps=ZERO, fee_bps=ZERO,
                            prices=MemoryKV())
        brokers = Brokers(paper)
        self.brokers = brokers
        registry: Any = self.registry
        bus: Any = self.bus
        self.risk = RiskService(registry, brokers, RiskLedgers(MemoryKV()),  # type: ignore[arg-type]
                                RiskDecisions(MemoryKV()), self.clock)  # type: ignore[arg-type]
        self.executor = Executor(registry, brokers, OpenOrders(MemoryKV()),  # type: ignore[arg-type]
                                 self.clock)
        self.monitor = SlTpMonitor(registry, brokers, self.clock)
        self.cleanup = OrphanCleanup(registry, brokers, bus, self.clock, settle_s=0)
        self.breaker = BreakerLoop(bus, registry, brokers, MemoryKV(),  # type: ignore[arg-type]
                                   self.clock)
        self.log: list[Event] = []
        self.stored: set[str] = set()
        self.lagging = False
        self.unreleased: list[AnyEvent] = []

    def consumers(self, event: Event) -> list[Any]:
        """The handlers subscribed to an event's subject, as the consumers are."""
        match event:
            case WebhookValidated():
                return [self.risk.handle]
            case OrderRequested() | CancelRequested():
                return [self.executor.handle]
            case TradeExecuted():
                return [self.monitor.handle, self._release]
            case WebhookFailed():
                return [self._release]
        return []

    async def _release(self, event: AnyEvent) -> list[Any]:
        """Risk's release consumer; while ``lagging`` it falls behind (its events wait)."""
        if self.lagging:
            self.unreleased.append(event)
            return []
        return await self.risk.release(event)

    async def catch_up(self) -> None:
        """The lagging release consumer works off what it holds."""
        self.lagging = False
        for event in self.unreleased:
            await self.risk.release(event)
        self.unreleased = []

    async def deliver(self, *events: Event, dedupe: bool = True) -> None:
        """Publish ``events`` and handle everything that follows from them."""
        queue: deque[Event] = deque()
        for event in events:
            if not dedupe or not await self.bus.publish_event(event, event.event_id):
                queue.append(event)
        queue.extend(self.bus.take())
        while queue:
            event = queue.popleft()
            if event.event_id not in self.stored:  # the store keeps each event once
                self.stored.add(event.event_id)
                self.log.append(event)
            for handler in self.consumers(event):
                for out in await handler(event):
                    await self.bus.publish_event(out.event, out.msg_id)
            queue.extend(self.bus.take())

    async def settle(self) -> None:
        """The executor's order sync reports what happened to resting orders."""
        await self.executor.sync_open_orders(self.bus)  # type: ignore[arg-type]
        await self.deliver()

    async def state(self) -> PaperAccount:
        """The paper broker's book of the account, as it holds it."""
        entry = self.paper_kv.entries.get(ACCOUNT.id)
        if entry is None:
            return PaperAccount(book=Book(cash=ACCOUNT.starting_cash))
        return msgspec.json.decode(entry.value, type=PaperAccount)


class AccountMachine(RuleBasedStateMachine):
    """One account traded by three strategies; the checks hold after every step."""

    def __init__(self) -> None:
        super().__init__()
        asyncio.set_event_loop(asyncio.new_event_loop())
        self.pipe = Pipeline()
        self.prices = {s: D(100) for s in SYMBOLS}
        self.signals = 0
        self.tick_history: list[tuple[str, Decimal]] = []
        # Registry events, each with how many pipeline events were stored before it.
        self.registry_log: list[tuple[int, AnyEvent]] = [(0, _opened(record=True))] + [
            (0, _registered(strategy)) for strategy in STRATEGIES.values()]
        self.replayed_up_to = (-1, -1)

    def teardown(self) -> None:
        asyncio.get_event_loop_policy().get_event_loop().close()

    # -- steps -----------------------------------------------------------------

    def _signal(self, strategy: str, symbol: str, intent: str,
                quantity: Decimal | None = None, **fields: Any) -> WebhookValidated:
        self.signals += 1
        self.pipe.clock.advance(1)
        signal_id = f"{self.signals:08x}-0000-4000-8000-000000000000"
        return WebhookValidated(
            event_id=f"validated-{signal_id}", signal_id=signal_id, tenant_id="acme",
            occurred_at=self.pipe.clock.now(), strategy_id=STRATEGIES[strategy].id,
            account_id=ACCOUNT.id,
            signal=Signal(dialect="exchange", symbol=symbol, asset_class="equity",
                          intent=intent, quantity=quantity,  # type: ignore[arg-type]
                          price=self.prices[symbol], **fields))

    @rule(strategy=st.sampled_from(sorted(STRATEGIES)), symbol=st.sampled_from(SYMBOLS),
          long=st.booleans(), quantity=st.integers(1, 30))
    def entry(self, strategy: str, symbol: str, long: bool, quantity: int) -> None:
        """A long or short entry; against an opposite position it is a flip."""
        before = self.position(symbol)
        paused = run(self.pipe.registry.account(ACCOUNT.id)).paused
        event = self._signal(strategy, symbol, "enter_long" if long else "enter_short",
                             D(quantity))
        run(self.pipe.deliver(event))
        if paused:
            self.expect_failed(event.signal_id, "paused")
            return
        flips = before != 0 and (before > 0) != long
        signed = D(quantity) if long else -D(quantity)
        assert self.position(symbol) == (signed if flips else before + signed)

    @rule(strategy=st.sampled_from(sorted(STRATEGIES)), symbol=st.sampled_from(SYMBOLS),
          intent=st.sampled_from(["exit_long", "exit_short", "close"]))
    def exit(self, strategy: str, symbol: str, intent: str) -> None:
        """An exit closes the whole position on its side; none to close is refused."""
        before = self.position(symbol)
        event = self._signal(strategy, symbol, intent)
        if self.refused_while_paused(event):
            return
        run(self.pipe.deliver(event))
        matches = before != 0 and (intent == "close" or (before > 0) == (intent == "exit_long"))
        if matches:
            assert self.position(symbol) == 0
        else:
            self.expect_failed(event.signal_id, "no_position")
            assert self.position(symbol) == before

    @rule(strategy=st.sampled_from(sorted(STRATEGIES)), symbol=st.sampled_from(SYMBOLS),
          part=st.one_of(st.tuples(st.just("percent"), st.integers(1, 99)),
                         st.tuples(st.just("quantity"), st.integers(1, 40))))
    def partial_exit(self, strategy: str, symbol: str, part: tuple[str, int]) -> None:
        """An exit of part of the position: never more than held, never across zero."""
        before = self.position(symbol)
        intent = "exit_long" if before >= 0 else "exit_short"
        kind, amount = part
        event = self._signal(strategy, symbol, intent, **{kind: D(amount)})
        if self.refused_while_paused(event):
            return
        run(self.pipe.deliver(event))
        if before == 0:
            self.expect_failed(event.signal_id, "no_position")
            return
        closing = abs(before) * amount / 100 if kind == "percent" else D(amount)
        closing = min(closing.quantize(D("0.0001"), rounding="ROUND_DOWN"), abs(before))
        remaining = abs(before) - closing if closing > 0 else abs(before)
        assert self.position(symbol) == (remaining if before > 0 else -remaining)

    @rule(symbol=st.sampled_from(("", *SYMBOLS)),
          intent=st.sampled_from(["close_all", "cancel_all"]))
    def sweep(self, symbol: str, intent: str) -> None:
        """``close_all`` flattens the symbol (or the account); ``cancel_all`` cancels
        resting orders but leaves positions and their protective legs."""
        before = {s: self.position(s) for s in SYMBOLS}
        event = self._signal("bare", symbol or "KO", intent,
                             scope="account" if not symbol else "symbol")
        if not symbol:
            event = msgspec.structs.replace(event, signal=msgspec.structs.replace(
                event.signal, symbol=""))
        if self.refused_while_paused(event):
            return
        run(self.pipe.deliver(event))
        after = {s: self.position(s) for s in SYMBOLS}
        if intent == "cancel_all":
            assert after == before
            ended = [e for e in self.pipe.log if isinstance(e, TradeExecuted)
                     and e.signal_id == event.signal_id]
            assert len(ended) == 1 and ended[0].fill is None
            return
        closed = [symbol] if symbol else list(SYMBOLS)
        for s in SYMBOLS:
            assert after[s] == (0 if s in closed else before[s]), (s, before, after)
        if all(before[s] == 0 for s in closed):
            self.expect_failed(event.signal_id, "no_position")

    @rule(signals=st.lists(st.tuples(
        st.sampled_from(sorted(STRATEGIES)), st.sampled_from(SYMBOLS),
        st.sampled_from(["enter_long", "enter_short", "exit_long", "exit_short", "close"]),
        st.integers(1, 30)), min_size=2, max_size=4))
    def burst(self, signals: list[tuple[str, str, str, int]]) -> None:
        """Several alerts at once (a candle close): each stage takes them in turn, so
        an exit can reach the executor before the legs of the entry it closes."""
        events = [self._signal(strategy, symbol, intent,
                               D(quantity) if intent.startswith("enter") else None)
                  for strategy, symbol, intent, quantity in signals]
        run(self.pipe.deliver(*events))
        for event in events:
            ended = [e for e in self.pipe.log if isinstance(e, TradeExecuted | WebhookFailed)
                     and e.signal_id == event.signal_id]
            assert len(ended) == 1, event.signal

    @rule(signals=st.lists(st.tuples(
        st.sampled_from(sorted(STRATEGIES)), st.sampled_from(SYMBOLS), st.booleans(),
        st.sampled_from(["enter", "exit", "percent", "quantity"]), st.integers(1, 30)),
        min_size=2, max_size=4))
    def while_release_lags(self, signals: list[tuple[str, str, bool, str, int]]) -> None:
        """Alerts one after the other while risk's release consumer is behind: each
        is decided on the broker's position plus the orders not yet released, and an
        order that filled must not count twice."""
        self.pipe.lagging = True
        for strategy, symbol, long, kind, quantity in signals:
            if kind == "enter":
                self.entry(strategy, symbol, long, quantity)
            elif kind == "exit":
                self.exit(strategy, symbol, "exit_long" if long else "exit_short")
            else:
                self.partial_exit(strategy, symbol, (kind, quantity))
        run(self.pipe.catch_up())

    @rule(symbol=st.sampled_from(SYMBOLS), move=st.integers(-8, 8))
    def tick(self, symbol: str, move: int) -> None:
        """The market moves by ``move`` percent."""
        price = (self.prices[symbol] * (1 + D(move) / 100)).quantize(
            D("0.01"), rounding=ROUND_HALF_UP)
        self.prices[symbol] = max(price, D(1))
        self.pipe.clock.advance(1)
        tick = PriceTick(symbol=symbol, price=self.prices[symbol],
                         observed_at=self.pipe.clock.now())
        before = run(self.pipe.state())
        outs = run(self.pipe.executor.on_price(tick))
        for out in outs:
            run(self.pipe.bus.publish_event(out.event, out.msg_id))
        run(self.pipe.deliver())
        self.check_leg_fills(before, symbol, self.prices[symbol])
        self.breaker_check()  # the breaker's round comes often: a move can trip it

    @rule()
    def cleanup(self) -> None:
        """The orphan cleanup finds nothing to do: legs never break the rule."""
        assert run(self.pipe.cleanup.run()) == []
        run(self.pipe.deliver())

    @rule(percent=st.integers(90, 99), loss=st.integers(1, 300))
    def arm_breaker(self, percent: int, loss: int) -> None:
        """Arm (or re-arm) a stop-loss breaker at ``percent`` of a base equity that puts
        its threshold ``loss`` under today's equity (the positions are small beside the
        cash: a threshold of today's equity would never be reached)."""
        equity = run(self.pipe.brokers.paper.snapshot(ACCOUNT)).equity
        account = run(self.pipe.registry.account(ACCOUNT.id))
        base = ((equity - loss) * 100 / percent).quantize(D("0.01"))
        config = BreakerConfig(base_equity=base, global_sl_pct=D(percent))
        armed = account.model_copy(update={"breaker": config})
        self.pipe.registry.add(armed)
        self.record(AccountUpdated(
            event_id=f"armed-{len(self.registry_log)}", signal_id=f"account:{ACCOUNT.id}",
            tenant_id="acme", occurred_at=self.pipe.clock.now(), account_id=ACCOUNT.id,
            changes={"breaker": config.model_dump(mode="json")},
            record=armed.model_dump(mode="json")))

    @rule()
    def breaker_check(self) -> None:
        """A breaker round: a stop-loss trip liquidates everything and pauses."""
        account = run(self.pipe.registry.account(ACCOUNT.id))
        if account.breaker is None:
            return
        self.pipe.clock.advance(1)
        trip = run(self.pipe.breaker.check(account))
        run(self.pipe.deliver())
        if trip is not None:
            assert all(self.position(s) == 0 for s in SYMBOLS)
            assert run(self.pipe.registry.account(ACCOUNT.id)).paused

    @rule()
    def resume(self) -> None:
        account = run(self.pipe.registry.account(ACCOUNT.id))
        resumed = account.model_copy(update={"paused": False, "paused_reason": ""})
        self.pipe.registry.add(resumed)
        self.record(AccountResumed(
            event_id=f"resumed-{len(self.registry_log)}", signal_id=f"resume:{ACCOUNT.id}",
            tenant_id="acme", occurred_at=self.pipe.clock.now(), account_id=ACCOUNT.id,
            record=resumed.model_dump(mode="json")))

    def refused_while_paused(self, event: WebhookValidated) -> bool:
        """Deliver ``event`` if the breaker paused the account: every signal, exits
        and sweeps too, is refused and nothing moves (True)."""
        if not run(self.pipe.registry.account(ACCOUNT.id)).paused:
            return False
        before = {s: self.position(s) for s in SYMBOLS}
        run(self.pipe.deliver(event))
        self.expect_failed(event.signal_id, "paused")
        assert {s: self.position(s) for s in SYMBOLS} == before
        return True

    def record(self, event: AnyEvent) -> None:
        """A registry change, stored (as ``save_change`` publishes it) after the pipeline
        events so far."""
        self.registry_log.append((len(self.pipe.log), event))

    @precondition(lambda self: bool(self.pipe.log))
    @rule(data=st.data())
    def redeliver(self, data: st.DataObject) -> None:
        """A message handled before comes again (a crash before its ack), long after
        JetStream would have dropped a repeat of its outputs: nothing may change."""
        handled = [e for e in self.pipe.log if self.pipe.consumers(e)]
        event = data.draw(st.sampled_from(handled))
        before = run(self.pipe.state())
        self.pipe.bus.msg_ids.clear()
        run(self.pipe.deliver(event, dedupe=False))
        after = run(self.pipe.state())
        changed = {c: (before.orders.get(c), o) for c, o in after.orders.items()
                   if before.orders.get(c) != o}
        assert after.book.positions == before.book.positions, (event, changed)
        assert after.book.cash == before.book.cash, (event, changed)
        new = set(after.orders) - set(before.orders)
        assert not new, f"a redelivered {type(event).__name__} placed {new}"

    # -- the reference model ---------------------------------------------------

    def fills(self) -> list[Any]:
        out = []
        for event in self.pipe.log:
            if isinstance(event, TradeExecuted):
                out += event.all_fills()
            elif isinstance(event, LegFilled):
                out.append(event.fill)
        return out

    def position(self, symbol: str) -> Decimal:
        """The position as the sum of every fill the events reported."""
        total = ZERO
        for fill in self.fills():
            if fill.symbol == symbol:
                total += fill.quantity if fill.side == "buy" else -fill.quantity
        return total

    def expect_failed(self, signal_id: str, code: str) -> None:
        failed = [e for e in self.pipe.log
                  if isinstance(e, WebhookFailed) and e.signal_id == signal_id]
        assert [e.code for e in failed] == [code]

    def check_leg_fills(self, before: PaperAccount, symbol: str, price: Decimal) -> None:
        """A leg that filled on this tick was open and crossed by the price."""
        after = run(self.pipe.state())
        for coid, order in after.orders.items():
            was = before.orders.get(coid)
            if order.status == "filled" and is_leg(order) and was is not None \
                    and was.status == "open":
                assert crosses(order, price) or crosses(was, price), (coid, price)

    @invariant()
    def the_book_is_the_sum_of_the_fills(self) -> None:
        run(self.pipe.settle())
        state = run(self.pipe.state())
        for symbol in SYMBOLS:
            assert state.book.position_quantity(symbol) == self.position(symbol), symbol
        projection = AccountsProjection()
        projection.apply(_opened())
        for event in self.pipe.log:
            projection.apply(event)  # type: ignore[arg-type]
        view = projection.views[ACCOUNT.id]
        assert view.book.cash == state.book.cash
        assert {s: p.quantity for s, p in view.book.positions.items()} == \
            {s: p.quantity for s, p in state.book.positions.items()}
        snapshot = run(self.pipe.brokers.paper.snapshot(ACCOUNT))
        marked = state.book.cash + sum(
            (q * snapshot.last_prices[s] for s, q in snapshot.positions.items()), ZERO)
        assert snapshot.equity == marked

    @invariant()
    def what_if_with_nothing_changed_gives_back_the_recording(self) -> None:
        if self.replayed_up_to == (len(self.pipe.log), len(self.registry_log)):
            return  # nothing stored since the last look
        self.replayed_up_to = (len(self.pipe.log), len(self.registry_log))
        stored: list[AnyEvent] = []
        registry = iter(self.registry_log)
        pending = next(registry, None)
        for index, event in enumerate([*self.pipe.log, None]):
            while pending is not None and pending[0] <= index:
                stored.append(pending[1])
                pending = next(registry, None)
            if event is not None:
                stored.append(event)  # type: ignore[arg-type]
        report = replay(from_list(stored), ACCOUNT.id, {}, costs=Costs(ZERO, ZERO),
                        breaker_interval_s=0).report()
        assert report["changed"] == [], report["changed"]
        assert report["replayed"] == report["recorded"]
        raced = trips_stored_after_their_liquidations(stored)
        if raced != stored:
            again = replay(from_list(raced), ACCOUNT.id, {}, costs=Costs(ZERO, ZERO),
                           breaker_interval_s=0).report()
            assert again == report

    @invariant()
    def legs_only_ever_reduce_the_position(self) -> None:
        state = run(self.pipe.state())
        for symbol in SYMBOLS:
            position = state.book.position_quantity(symbol)
            legs = [o for o in state.orders.values()
                    if o.status == "open" and o.symbol == symbol and is_leg(o)]
            if position == 0:
                assert legs == [], f"legs rest on flat {symbol}: {legs}"
                continue
            assert all(o.side == closing_side(position) for o in legs), legs
            assert all(o.quantity <= abs(position) for o in legs), (position, legs)
            assert len({o.oco_group for o in legs}) <= 1, legs

    @invariant()
    def no_order_nobody_asked_for(self) -> None:
        state = run(self.pipe.state())
        requested = {e.order.client_order_id for e in self.pipe.log
                     if isinstance(e, OrderRequested)}
        requested |= {child_order_id(e.order.client_order_id, symbol)  # close_all's orders
                      for e in self.pipe.log if isinstance(e, OrderRequested)
                      for symbol in e.order.symbols}
        entries_filled = {f.client_order_id for e in self.pipe.log
                          if isinstance(e, TradeExecuted) for f in e.all_fills()}
        for coid, order in state.orders.items():
            assert coid in requested, f"{coid} was never requested"
            if is_leg(order):
                assert entry_order_id(coid) in entries_filled, f"{coid} protects no fill"
        filled_legs = Counter(o.oco_group for o in state.orders.values()
                              if is_leg(o) and o.status == "filled")
        assert all(n == 1 for n in filled_legs.values()), filled_legs
        terminals = Counter(e.signal_id for e in self.pipe.log
                            if isinstance(e, TradeExecuted | WebhookFailed))
        assert all(n == 1 for n in terminals.values()), terminals


def _opened(record: bool = False) -> AnyEvent:
    from contracts.events import AccountOpened

    return AccountOpened(event_id="opened", signal_id="", tenant_id="acme", occurred_at=START,
                         account_id=ACCOUNT.id, name="Paper", broker="paper", currency="USD",
                         starting_cash=ACCOUNT.starting_cash,
                         record=ACCOUNT.model_dump(mode="json") if record else {})


def _registered(strategy: Strategy) -> AnyEvent:
    return StrategyRegistered(event_id=f"registered-{strategy.id}", signal_id="",
                              tenant_id="acme", occurred_at=START, strategy_id=strategy.id,
                              account_id=ACCOUNT.id, name=strategy.name, slug=strategy.slug,
                              secret_fingerprint="0" * 12,
                              record=strategy.model_dump(mode="json"))


AccountMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("MODEL_EXAMPLES", 2000 if PROFILE == "deep" else 300)),
    stateful_step_count=30, deadline=None, derandomize=PROFILE != "deep", database=None,
    print_blob=True, suppress_health_check=[HealthCheck.too_slow])
# Shrinking a failure can take minutes: let it finish, so the failure is what is shown.
TestAccountModel = pytest.mark.timeout(0 if PROFILE == "deep" else 900)(AccountMachine.TestCase)


def test_the_model_sees_a_leg_that_would_add_exposure() -> None:
    """The invariant is not vacuous: a leg on the opening side breaks it."""
    machine = AccountMachine()
    try:
        machine.entry("bare", "KO", True, 5)
        state = run(machine.pipe.state())
        state.orders["stray-sl"] = BrokerOrder(
            order_id="x", client_order_id="stray-sl", symbol="KO", side="buy",
            quantity=D(5), order_type="stop", status="open", submitted_at=START,
            stop_price=D(120), leg="sl", oco_group="stray")
        run(machine.pipe.paper_kv.put(ACCOUNT.id, msgspec.json.encode(state)))
        try:
            machine.legs_only_ever_reduce_the_position()
        except AssertionError:
            return
        raise AssertionError("a buy leg on a long position went unnoticed")
    finally:
        machine.teardown()


def trips_stored_after_their_liquidations(stored: list[AnyEvent]) -> list[AnyEvent]:
    """The same recording as the live stream can also hold it: the breaker publishes
    its liquidation orders before its trip event, so the executor's answers to them
    may be stored before the trip."""
    out = list(stored)
    for trip in [e for e in stored if isinstance(e, BreakerTripped)]:
        answers = [i for i, e in enumerate(out)
                   if isinstance(e, TradeExecuted | WebhookFailed)
                   and e.signal_id.startswith(f"{trip.signal_id}:")]
        if answers and answers[-1] > out.index(trip):
            out.remove(trip)
            out.insert(answers[-1], trip)  # after the last answer (it moved up one)
    return out
