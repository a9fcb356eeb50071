"""The outages a consumer waits out: errors that are not bugs."""

from __future__ import annotations


class Outage(Exception):
    """Something outside the process did not answer (a broker after its own retries,
    say): the consumer retries the message with backoff and logs a warning, no
    traceback, as it does when NATS itself is away."""
