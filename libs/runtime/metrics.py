"""Prometheus metrics shared by all services.

Under ``tradehooks up`` every service is a process; ``PROMETHEUS_MULTIPROC_DIR`` is
set so the operator service's ``/metrics`` shows the counters of all of them.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prom_multiprocess

HTTP_REQUESTS = Counter(
    "tradehooks_http_requests_total", "HTTP requests answered", ["route", "status"]
)
HTTP_LATENCY = Histogram(
    "tradehooks_http_request_seconds", "Time to answer an HTTP request", ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
EVENTS_PUBLISHED = Counter(
    "tradehooks_events_published_total", "Events published to JetStream", ["type"]
)
EVENTS_HANDLED = Counter(
    "tradehooks_messages_handled_total", "Messages handled by consumers", ["consumer", "outcome"]
)
STAGE_LATENCY = Histogram(
    "tradehooks_stage_seconds",
    "From the input event's occurrence to the end of the stage's handling",
    ["stage"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
EVENTS_STORED = Counter(
    "tradehooks_events_stored_total", "Events appended to the event store", ["type"]
)
AUTH_FAILURES = Counter(
    "tradehooks_auth_failures_total", "Webhook requests refused for their credentials",
    ["tenant", "strategy"]
)
AUTH_ALERTS = Counter(
    "tradehooks_auth_alerts_total", "Auth-failure alerts raised for operators",
    ["tenant", "strategy"]
)
DEAD_LETTERS = Counter(
    "tradehooks_dead_letters_total", "Messages parked on a dead-letter subject", ["consumer"]
)
HANDLER_ERRORS = Counter(
    "tradehooks_handler_errors_total", "Handler attempts that raised (each retry counts)",
    ["consumer"]
)
CALLBACK_ATTEMPTS = Counter(
    "tradehooks_callback_attempts_total", "Callback attempts by outcome "
    "(delivered, failed, refused)", ["outcome"]
)
CALLBACK_PARKED = Counter(
    "tradehooks_callback_parked_total", "Callback deliveries given up (parked)"
)
# livesum: under ``tradehooks up`` the processes' values add up, and a stopped
# process's value drops out instead of lingering.
RETRYING = Gauge(
    "tradehooks_messages_retrying", "Messages waiting to be retried after a handler error",
    ["consumer"], multiprocess_mode="livesum",
)


def render_metrics() -> tuple[bytes, str]:
    """Exposition body and content type, aggregating processes when configured."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        prom_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
