"""Settings from the environment, and the log filter that masks secrets."""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path

import pytest
from aiohttp.http_exceptions import LineTooLong
from pydantic import ValidationError

from libs.runtime.config import Settings, env_names, load_settings
from libs.runtime.logs import ClientErrorsInOneLine, RedactSecrets, redact, setup_logging


def test_defaults_without_environment() -> None:
    settings = load_settings({})

    assert settings == Settings()
    assert settings.nats_url == "nats://127.0.0.1:4222"
    assert settings.http_port == 8080
    assert settings.signature_tolerance_s == 300
    assert settings.api_url == "http://127.0.0.1:8080"
    assert settings.store_url == f"sqlite:///{Path('var') / 'events.sqlite'}"


def test_every_variable_is_read_and_coerced() -> None:
    settings = load_settings({
        "NATS_URL": "nats://n1:4222,nats://n2:4222",
        "TRADEHOOKS_DATA_DIR": "/srv/th",
        "TRADEHOOKS_DATABASE_URL": "postgresql://u:p@h/d",
        "TRADEHOOKS_HTTP_HOST": "10.0.0.5",
        "TRADEHOOKS_HTTP_PORT": "9090",
        "TRADEHOOKS_PUBLIC_URL": "https://hooks.example.com/",
        "TRADEHOOKS_DEDUPE_WINDOW_S": "30.5",
        "TRADEHOOKS_MAX_BODY_BYTES": "1024",
        "TRADEHOOKS_SIGNATURE_TOLERANCE_S": "60",
        "TRADEHOOKS_PAPER_SLIPPAGE_BPS": "2.5",
        "TRADEHOOKS_PAPER_FEE_BPS": "1",
        "TRADEHOOKS_LOG_LEVEL": "debug",
    })

    assert settings == Settings(
        nats_url="nats://n1:4222,nats://n2:4222", data_dir=Path("/srv/th"),
        database_url="postgresql://u:p@h/d", http_host="10.0.0.5", http_port=9090,
        public_url="https://hooks.example.com/", dedupe_window_s=30.5, max_body_bytes=1024,
        signature_tolerance_s=60, paper_slippage_bps=2.5, paper_fee_bps=1.0, log_level="debug",
    )
    assert settings.api_url == "https://hooks.example.com"
    assert settings.store_url == "postgresql://u:p@h/d"


def test_empty_variables_keep_defaults_and_others_are_ignored() -> None:
    settings = load_settings({"TRADEHOOKS_HTTP_PORT": "", "HTTP_PORT": "1", "PATH": "/bin"})

    assert settings.http_port == 8080


def test_data_dir_moves_the_default_store() -> None:
    settings = load_settings({"TRADEHOOKS_DATA_DIR": "/data"})

    assert settings.store_url == "sqlite:////data/events.sqlite"


def test_bad_values_are_refused() -> None:
    with pytest.raises(ValidationError):
        load_settings({"TRADEHOOKS_HTTP_PORT": "eighty"})


def test_env_names_cover_every_setting() -> None:
    names = env_names()

    assert set(names) == set(Settings.model_fields)
    assert names["database_url"] == "TRADEHOOKS_DATABASE_URL"
    names["nats_url"] = "changed"
    assert env_names()["nats_url"] == "NATS_URL"  # a copy


# --- RedactSecrets --------------------------------------------------------------------


def record(msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("t", logging.INFO, __file__, 1, msg, args or None, None)


def redacted(msg: str, *args: object) -> str:
    rec = record(msg, *args)
    assert RedactSecrets().filter(rec) is True
    return rec.getMessage()


def test_whsec_secrets_are_masked() -> None:
    assert redacted("created strategy with whsec_Ab-_+/9xyz= ok") == (
        "created strategy with [redacted] ok"
    )


def test_secrets_in_arguments_are_masked() -> None:
    assert redacted("secret %s for %s", "whsec_abcDEF123", "gold") == (
        "secret [redacted] for gold"
    )


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("POST /webhook?token=abc123&x=1", "POST /webhook?token=[redacted]&x=1"),
        ("url /webhook/gold?token=p%40ss done", "url /webhook/gold?token=[redacted] done"),
        ("body token=s3cret\"", "body token=[redacted]\""),
        ("token=whsec_abc", "token=[redacted]"),
    ],
)
def test_query_tokens_are_masked(message: str, expected: str) -> None:
    assert redacted(message) == expected


def test_clean_records_are_left_alone() -> None:
    rec = record("accepted signal %s for %s", "sig-1", "gold")

    RedactSecrets().filter(rec)

    assert rec.msg == "accepted signal %s for %s"
    assert rec.args == ("sig-1", "gold")
    assert rec.getMessage() == "accepted signal sig-1 for gold"


def test_filter_works_on_a_real_logger(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tests.unit.redact")
    redact = RedactSecrets()
    logger.addFilter(redact)
    try:
        with caplog.at_level(logging.INFO, logger="tests.unit.redact"):
            logger.info("rotated %s -> %s", "whsec_old", "whsec_new")
    finally:
        logger.removeFilter(redact)

    assert caplog.messages == ["rotated [redacted] -> [redacted]"]
    assert "whsec_" not in caplog.text


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("key thk_ab12cd_s3cr3tPart rejected", "key [redacted] rejected"),
        ("headers {'Authorization': 'Bearer thk_ab_cd'}",
         "headers {'Authorization': 'Bearer [redacted]'}"),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln now",
         "Authorization: Bearer [redacted] now"),
        ("Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic [redacted]"),
        ("b'Bearer opaque-credential aaaa'", "b'Bearer [redacted] aaaa'"),
        ("X-API-Key: plainvalue123 sent", "X-API-Key: [redacted] sent"),
        ("{'x-api-key': 'v4lue'}", "{'x-api-key': '[redacted]'}"),
        ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln seen", "jwt [redacted] seen"),
        ("AlpacaConfig(key_id='PK1', secret_key='sk-live-123')",
         "AlpacaConfig(key_id='PK1', secret_key='[redacted]')"),
        ('{"secret": "abc", "name": "x"}', '{"secret": "[redacted]", "name": "x"}'),
        ("APCA-API-SECRET-KEY: hunter2 APCA-API-KEY-ID: PKXYZ",
         "APCA-API-SECRET-KEY: [redacted] APCA-API-KEY-ID: [redacted]"),
        ("TRADEHOOKS_ADMIN_JWT_SECRET=averylongsecret", "TRADEHOOKS_ADMIN_JWT_SECRET=[redacted]"),
        ("bytearray(b'/webhook/x?token=s3cret\\r\\n')",
         "bytearray(b'/webhook/x?token=[redacted]\\r\\n')"),
    ],
)
def test_every_kind_of_secret_is_masked(message: str, expected: str) -> None:
    assert redacted(message) == expected


def test_exception_text_is_masked_and_keeps_its_traceback() -> None:
    try:
        raise ValueError("bad credential whsec_inTheException token=alsoHere")
    except ValueError:
        rec = logging.LogRecord("t", logging.ERROR, __file__, 1, "failed", None,
                                sys.exc_info())
    RedactSecrets().filter(rec)
    text = logging.Formatter().format(rec)
    assert "Traceback (most recent call last):" in text
    assert "whsec_inTheException" not in text and "alsoHere" not in text
    assert "bad credential [redacted] token=[redacted]" in text


def test_stack_info_is_masked() -> None:
    rec = record("x")
    rec.stack_info = "Stack (most recent call last):\n  call(token='s3cret')"
    RedactSecrets().filter(rec)
    assert rec.stack_info == "Stack (most recent call last):\n  call(token='[redacted]')"


def _aiohttp_parser_error() -> logging.LogRecord:
    """aiohttp's record of a request line over 8 KiB whose URL carries a token."""
    url = b"/webhook/gold?token=whsec_TopSecret" + b"a" * 100
    error = LineTooLong(bytearray(url), 8190)  # as aiohttp's parser raises it
    return logging.LogRecord("aiohttp.server", logging.ERROR, __file__, 1,
                             "Error handling request from %s", ("127.0.0.1",),
                             (type(error), error, None))


def test_aiohttp_parser_errors_are_one_masked_warning_line() -> None:
    rec = _aiohttp_parser_error()
    for kept in (ClientErrorsInOneLine(), RedactSecrets()):  # in setup_logging's order
        assert kept.filter(rec)
    text = logging.Formatter("%(levelname)s %(message)s").format(rec)
    assert text.startswith("WARNING Error handling request from 127.0.0.1: bad request "
                           "(400): Got more than 8190 bytes when reading")
    assert "token=[redacted]" in text and "TopSecret" not in text
    assert "Traceback" not in text and "\n" not in text


def test_redaction_alone_masks_the_parser_errors_traceback_too() -> None:
    rec = _aiohttp_parser_error()
    RedactSecrets().filter(rec)
    assert "TopSecret" not in logging.Formatter().format(rec)


def test_setup_logging_routes_uncaught_exceptions_through_the_filter(
        capsys: pytest.CaptureFixture[str]) -> None:
    hooks = sys.excepthook, threading.excepthook
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        setup_logging("test")
        try:
            raise RuntimeError("died holding whsec_uncaughtSecret")
        except RuntimeError as exc:
            sys.excepthook(type(exc), exc, exc.__traceback__)
    finally:
        sys.excepthook, threading.excepthook = hooks
        root.handlers[:] = handlers
        root.setLevel(level)
    err = capsys.readouterr().err
    assert "uncaught exception" in err and "Traceback" in err
    assert "uncaughtSecret" not in err


def test_notification_credentials_in_urls_are_redacted() -> None:
    """Bot tokens and chat webhook paths, should a URL reach a log (a traceback)."""
    assert redact("GET https://api.telegram.org/bot123456:AAH-x_y/getUpdates failed") == \
        "GET https://api.telegram.org/bot[redacted]/getUpdates failed"
    assert redact("POST https://discord.com/api/webhooks/1234/abc-DEF_9 500") == \
        "POST https://discord.com/api/webhooks/[redacted] 500"
    assert redact("https://hooks.slack.com/services/T0AB/B0CD/xyz123") == \
        "https://hooks.slack.com/services/[redacted]"
    assert redact("/services/api/console") == "/services/api/console"
