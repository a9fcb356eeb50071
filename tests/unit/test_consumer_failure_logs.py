"""How a consumer logs a failure it will retry: an outage is a warning, a bug has its
traceback (the suite fails a test on any traceback in a service log)."""

from __future__ import annotations

import logging

import nats.errors
import pytest

from libs.brokers.base import BrokerUnavailable
from libs.runtime.consumer import _log_failure


@pytest.mark.parametrize("error", [
    BrokerUnavailable("alpaca submit o-1: ConnectionError (gave up after 4 attempts)"),
    nats.errors.ConnectionClosedError(),
])
def test_an_outage_is_a_warning_without_a_traceback(
        caplog: pytest.LogCaptureFixture, error: Exception) -> None:
    with caplog.at_level(logging.WARNING, logger="libs.runtime.consumer"):
        _log_failure(error, "%s failed on %s", "executor", "order.requested")
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert record.exc_info is None
    assert "executor failed on order.requested" in record.getMessage()
    assert "will retry" in record.getMessage()


def test_anything_else_is_an_error_with_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="libs.runtime.consumer"):
        try:
            {}["missing"]
        except KeyError as bug:
            _log_failure(bug, "%s failed on %s", "executor", "order.requested")
    [record] = caplog.records
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
