"""Settings shared by every service, read from the environment (``TRADEHOOKS_*``)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, Field, field_validator


class Settings(BaseModel):
    """Process-wide configuration. Every field has an environment variable."""

    nats_url: str = Field(default="nats://127.0.0.1:4222")
    data_dir: Path = Field(default=Path("var"))
    database_url: str = ""
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    # The operator side (admin and read API, OpenAPI, metrics): its own listener,
    # on loopback unless an operator chooses otherwise. Pipeline services serve
    # their probes (TRADEHOOKS_METRICS_PORT) on this host too.
    operator_host: str = "127.0.0.1"
    operator_port: int = 8081
    # How operators (and the CLI) reach the operator listener when it sits behind a
    # proxy or another host; empty: http://<operator_host>:<operator_port>.
    operator_base_url: str = ""
    # Ingress processes sharing the port (SO_REUSEPORT) under `tradehooks up`; set
    # the same on every `tradehooks run ingress` that shares a port at scale.
    http_workers: int = Field(default=1, ge=1, le=64)
    public_url: str = ""
    dedupe_window_s: float = 600.0
    max_body_bytes: int = 64 * 1024
    signature_tolerance_s: int = 300
    # Webhook JWTs (see ingress/jwt_rules.py): clock skew forgiven on exp/iat/nbf
    # (at most 30 s) and the longest life a token may claim (exp - iat, or exp - now).
    jwt_leeway_s: int = Field(default=30, ge=0, le=30)
    jwt_max_lifetime_s: int = Field(default=24 * 3600, ge=1, le=366 * 86400)
    paper_slippage_bps: float = 5.0
    paper_fee_bps: float = 0.0
    log_level: str = "INFO"
    # Reverse proxies whose X-Forwarded-For is believed (comma-separated CIDRs).
    trusted_proxies: str = ""
    # Failed authentications per strategy and minute before an operator alert.
    auth_alert_threshold: int = 20
    alpaca_timeout_s: float = 5.0
    alpaca_attempts: int = 4
    alpaca_retry_base_s: float = 0.5
    # Crypto venues through ccxt (binance, bybit, okx, orderly).
    exchange_timeout_s: float = 5.0
    exchange_attempts: int = 4
    exchange_retry_base_s: float = 0.5
    # Space requests by the venue's published weights (ccxt's throttle); off only
    # for local fake venues.
    exchange_rate_limit: bool = True
    order_sync_interval_s: float = 1.0
    breaker_interval_s: float = 10.0
    cleanup_interval_s: float = 30.0
    nats_replicas: int = 1
    # Per-account partitions of the pipeline (docs/scaling.md): 0 keeps one consumer
    # per service shared by its instances; N > 0 gives risk, the executor and the
    # sl-tp-monitor N partitions, each owned by one instance at a time through a
    # lease of this many seconds (the validator: one partition, one active instance).
    # N is fixed per deployment: changing it is a migration.
    partitions: int = Field(default=0, ge=0, le=1024)
    partition_lease_s: float = Field(default=6.0, ge=1.0, le=60.0)
    # This process's name among its service's instances (default: host, pid, random).
    instance_id: str = ""
    metrics_port: int = 0
    # Admin API JWTs (off unless one of the two keys is set): see ingress/admin_jwt.py.
    admin_jwt_secret: str = Field(default="", repr=False)
    admin_jwt_public_key: str = ""
    admin_jwt_audience: str = "tradehooks-admin"
    # Periodic signed checkpoints of the event store's chain head, by the auditor (on
    # when a key is set): every so many stored events or seconds, whichever first;
    # 0 switches that trigger off. Files go to the directory (<data dir>/checkpoints).
    checkpoint_key: str = ""
    # logs.jsonl and activity.log under <data dir>/logs, written by the auditor from
    # the store (projections/logbook.py); rotated at this size, keeping this many.
    log_files: bool = True
    log_files_max_bytes: int = Field(default=10 << 20, ge=4096)
    log_files_backups: int = Field(default=5, ge=1, le=100)
    # How long the auditor waits for more events when a fetch brings less than a
    # batch (libs/runtime/consumer.py): one commit for tens of events on a quiet
    # pipeline; the store and read models lag by at most this. 0: never waits.
    auditor_linger_ms: int = Field(default=50, ge=0, le=1000)
    checkpoint_dir: str = ""
    checkpoint_every_events: int = Field(default=10_000, ge=0)
    checkpoint_interval_s: float = Field(default=3600.0, ge=0)
    # Callbacks to tenants' URLs (the dispatcher; see docs/callbacks.md): how long one
    # attempt may take, the retry schedule (exponential from the base, capped, with
    # jitter) and how long it lasts before a delivery is parked, how many parked
    # deliveries in a row disable an endpoint (0: never), attempts in flight.
    callback_timeout_s: float = Field(default=10.0, gt=0, le=60)
    callback_retry_base_s: float = Field(default=5.0, gt=0)
    callback_retry_max_delay_s: float = Field(default=3600.0, gt=0)
    callback_retry_for_s: float = Field(default=86_400.0, ge=0)
    callback_disable_after: int = Field(default=10, ge=0)
    callback_concurrency: int = Field(default=32, ge=1, le=1024)
    # Tests and local development only: URLs naming a loopback address literally
    # (https://127.0.0.1:8443/, http too) are allowed; names resolving to one never.
    callback_allow_loopback: bool = False
    # PEM file of extra certificate authorities callbacks trust (a private CA).
    callback_ca_file: str = ""
    # Notifications to people (the notifier; see docs/notifications.md): the Telegram
    # Bot API's base URL (a local fake in tests), how long one send may take, and how
    # old an event may be to still be told (a notifier that was down does not replay
    # its backlog into chats).
    telegram_api_url: str = "https://api.telegram.org"
    notify_timeout_s: float = Field(default=10.0, gt=0, le=60)
    notify_max_age_s: float = Field(default=3600.0, gt=0)
    # The UTC hour at which channels with the daily_summary topic get the day's counts.
    notify_summary_hour: int = Field(default=21, ge=0, le=23)
    # The Telegram admin bot (in the notifier; off without a token): its token, and
    # the chats bound to a tenant and role, "CHAT_ID=TENANT:ROLE,...".
    telegram_bot_token: str = Field(default="", repr=False)
    telegram_admins: str = ""
    telegram_poll_s: float = Field(default=25.0, ge=0, le=50)
    # Tests only: ingress reads the time from this file (see runtime/clock.FileClock).
    test_clock_file: str = ""

    @field_validator("admin_jwt_secret")
    @classmethod
    def _strong_jwt_secret(cls, secret: str) -> str:
        # HS256 with a short secret can be brute-forced offline from one token.
        if secret and len(secret.encode()) < 32:
            raise ValueError("TRADEHOOKS_ADMIN_JWT_SECRET must be at least 32 bytes")
        return secret

    @property
    def api_url(self) -> str:
        """Base URL of the public listener (the webhook routes) as clients reach it."""
        return self.public_url.rstrip("/") or f"http://{self.http_host}:{self.http_port}"

    @property
    def operator_url(self) -> str:
        """Base URL of the operator listener (admin API, metrics); a wildcard bind
        address is reached on loopback."""
        if self.operator_base_url:
            return self.operator_base_url.rstrip("/")
        host = self.operator_host
        host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host  # noqa: S104
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.operator_port}"

    @property
    def nats_servers(self) -> list[str]:
        """``NATS_URL`` may list several servers of a cluster, comma-separated."""
        return [url.strip() for url in self.nats_url.split(",") if url.strip()]

    @property
    def checkpoints(self) -> Path:
        """Where the auditor writes its signed checkpoints."""
        return Path(self.checkpoint_dir) if self.checkpoint_dir else self.data_dir / "checkpoints"

    @property
    def log_folder(self) -> Path:
        """Where logs.jsonl and activity.log live."""
        return self.data_dir / "logs"

    @property
    def store_url(self) -> str:
        """Event store location: PostgreSQL URL or the default SQLite file."""
        return self.database_url or f"sqlite:///{self.data_dir / 'events.sqlite'}"


_ENV = {
    "nats_url": "NATS_URL",
    "data_dir": "TRADEHOOKS_DATA_DIR",
    "database_url": "TRADEHOOKS_DATABASE_URL",
    "http_host": "TRADEHOOKS_HTTP_HOST",
    "http_port": "TRADEHOOKS_HTTP_PORT",
    "operator_host": "TRADEHOOKS_OPERATOR_HOST",
    "operator_port": "TRADEHOOKS_OPERATOR_PORT",
    "operator_base_url": "TRADEHOOKS_OPERATOR_URL",
    "http_workers": "TRADEHOOKS_HTTP_WORKERS",
    "public_url": "TRADEHOOKS_PUBLIC_URL",
    "dedupe_window_s": "TRADEHOOKS_DEDUPE_WINDOW_S",
    "max_body_bytes": "TRADEHOOKS_MAX_BODY_BYTES",
    "signature_tolerance_s": "TRADEHOOKS_SIGNATURE_TOLERANCE_S",
    "jwt_leeway_s": "TRADEHOOKS_JWT_LEEWAY_S",
    "jwt_max_lifetime_s": "TRADEHOOKS_JWT_MAX_LIFETIME_S",
    "paper_slippage_bps": "TRADEHOOKS_PAPER_SLIPPAGE_BPS",
    "paper_fee_bps": "TRADEHOOKS_PAPER_FEE_BPS",
    "log_level": "TRADEHOOKS_LOG_LEVEL",
    "trusted_proxies": "TRADEHOOKS_TRUSTED_PROXIES",
    "auth_alert_threshold": "TRADEHOOKS_AUTH_ALERT_THRESHOLD",
    "alpaca_timeout_s": "TRADEHOOKS_ALPACA_TIMEOUT_S",
    "alpaca_attempts": "TRADEHOOKS_ALPACA_ATTEMPTS",
    "alpaca_retry_base_s": "TRADEHOOKS_ALPACA_RETRY_BASE_S",
    "exchange_timeout_s": "TRADEHOOKS_EXCHANGE_TIMEOUT_S",
    "exchange_attempts": "TRADEHOOKS_EXCHANGE_ATTEMPTS",
    "exchange_retry_base_s": "TRADEHOOKS_EXCHANGE_RETRY_BASE_S",
    "exchange_rate_limit": "TRADEHOOKS_EXCHANGE_RATE_LIMIT",
    "order_sync_interval_s": "TRADEHOOKS_ORDER_SYNC_INTERVAL_S",
    "breaker_interval_s": "TRADEHOOKS_BREAKER_INTERVAL_S",
    "cleanup_interval_s": "TRADEHOOKS_CLEANUP_INTERVAL_S",
    "nats_replicas": "TRADEHOOKS_NATS_REPLICAS",
    "partitions": "TRADEHOOKS_PARTITIONS",
    "partition_lease_s": "TRADEHOOKS_PARTITION_LEASE_S",
    "instance_id": "TRADEHOOKS_INSTANCE_ID",
    "metrics_port": "TRADEHOOKS_METRICS_PORT",
    "admin_jwt_secret": "TRADEHOOKS_ADMIN_JWT_SECRET",
    "admin_jwt_public_key": "TRADEHOOKS_ADMIN_JWT_PUBLIC_KEY",
    "admin_jwt_audience": "TRADEHOOKS_ADMIN_JWT_AUDIENCE",
    "checkpoint_key": "TRADEHOOKS_CHECKPOINT_KEY",
    "log_files": "TRADEHOOKS_LOG_FILES",
    "log_files_max_bytes": "TRADEHOOKS_LOG_FILES_MAX_BYTES",
    "log_files_backups": "TRADEHOOKS_LOG_FILES_BACKUPS",
    "auditor_linger_ms": "TRADEHOOKS_AUDITOR_LINGER_MS",
    "checkpoint_dir": "TRADEHOOKS_CHECKPOINT_DIR",
    "checkpoint_every_events": "TRADEHOOKS_CHECKPOINT_EVERY_EVENTS",
    "checkpoint_interval_s": "TRADEHOOKS_CHECKPOINT_INTERVAL_S",
    "callback_timeout_s": "TRADEHOOKS_CALLBACK_TIMEOUT_S",
    "callback_retry_base_s": "TRADEHOOKS_CALLBACK_RETRY_BASE_S",
    "callback_retry_max_delay_s": "TRADEHOOKS_CALLBACK_RETRY_MAX_DELAY_S",
    "callback_retry_for_s": "TRADEHOOKS_CALLBACK_RETRY_FOR_S",
    "callback_disable_after": "TRADEHOOKS_CALLBACK_DISABLE_AFTER",
    "callback_concurrency": "TRADEHOOKS_CALLBACK_CONCURRENCY",
    "callback_allow_loopback": "TRADEHOOKS_CALLBACK_ALLOW_LOOPBACK",
    "callback_ca_file": "TRADEHOOKS_CALLBACK_CA_FILE",
    "telegram_api_url": "TRADEHOOKS_TELEGRAM_API_URL",
    "notify_timeout_s": "TRADEHOOKS_NOTIFY_TIMEOUT_S",
    "notify_max_age_s": "TRADEHOOKS_NOTIFY_MAX_AGE_S",
    "notify_summary_hour": "TRADEHOOKS_NOTIFY_SUMMARY_HOUR",
    "telegram_bot_token": "TRADEHOOKS_TELEGRAM_BOT_TOKEN",
    "telegram_admins": "TRADEHOOKS_TELEGRAM_ADMINS",
    "telegram_poll_s": "TRADEHOOKS_TELEGRAM_POLL_S",
    "test_clock_file": "TRADEHOOKS_TEST_CLOCK_FILE",
}


def env_names() -> dict[str, str]:
    """Setting name → environment variable (the configuration table in docs/configuration.md)."""
    return dict(_ENV)


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Build settings from the environment; unset variables keep their defaults."""
    env = os.environ if environ is None else environ
    values = {field: env[var] for field, var in _ENV.items() if env.get(var)}
    return Settings.model_validate(values)
