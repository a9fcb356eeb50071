"""Logging set-up: one line per record, and a filter that keeps secrets out of logs.

Every service process (and every CLI command) logs through :func:`setup_logging`:
one handler on the root logger, with :class:`RedactSecrets` on it, so every record
of every library passes it, aiohttp's own parser errors included (a request line
over 8 KiB is logged with the URL, query token and all). Uncaught exceptions go
through the same handler instead of straight to stderr.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from types import TracebackType

from aiohttp.http_exceptions import HttpProcessingError

REDACTED = "[redacted]"
# A value runs to the next separator, quote, backslash (escapes in a repr) or space.
_VALUE = r"(?!\[redacted\])[^\s&\"'\\,;}\]]+"
# Names whose value is a secret, as a query parameter, header, JSON field or keyword
# (``token=…``, ``"secret": "…"``, ``secret_key='…'``, ``APCA-API-SECRET-KEY: …``).
_NAMED = re.compile(
    r"((?:token|[\w-]*secret[\w-]*|password|x-api-key|apca-api-key-id)"
    r"[\"']?\s*[:=]\s*[\"']?)" + _VALUE,
    re.IGNORECASE,
)
# Authorization headers keep their scheme: ``Authorization: Bearer [redacted]``.
_SCHEME = r"(?:bearer|basic|token)"
_AUTHORIZATION = re.compile(
    rf"(authorization[\"']?\s*[:=]\s*[\"']?(?:{_SCHEME}\s+)?)(?!{_SCHEME}\b)" + _VALUE,
    re.IGNORECASE,
)
# Credentials recognisable by their shape wherever they are: strategy secrets
# (whsec_…), admin API keys (thk_…), JWTs (three base64url parts, "eyJ" first), and
# the credentials in notification URLs: a Telegram bot token after ``/bot``, a
# Discord or Slack incoming webhook's path.
_SHAPED = re.compile(
    r"\b(?:whsec|thk)_[A-Za-z0-9+/=_-]+"
    r"|\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"
    r"|(?<=/bot)\d+:[A-Za-z0-9_-]+"
    r"|(?<=/api/webhooks/)\d+/[A-Za-z0-9_-]+"
    r"|(?<=/services/)T[A-Za-z0-9]+/B[A-Za-z0-9]+/[A-Za-z0-9]+",
)


# A bearer credential on its own (aiohttp logs a header's value without its name).
_BEARER = re.compile(r"((?<![\w-])bearer\s+)" + _VALUE, re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` with every secret it shows replaced by ``[redacted]``."""
    text = _AUTHORIZATION.sub(lambda m: m.group(1) + REDACTED, text)
    text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
    text = _NAMED.sub(lambda m: m.group(1) + REDACTED, text)
    return _SHAPED.sub(REDACTED, text)


class RedactSecrets(logging.Filter):
    """Redact secrets in a record's message, its arguments and its exception text."""

    def __init__(self) -> None:
        super().__init__()
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # arguments that do not fit the format: show them as they are
            message = f"{record.msg!r} % {record.args!r}"
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            # The formatter uses this text as it is, instead of formatting exc_info.
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class ClientErrorsInOneLine(logging.Filter):
    """aiohttp logs a request it cannot parse (a line over 8 KiB, a bad status line)
    as an error with a traceback; it answers the client 400 itself. That is a bad
    request, not a fault of ours: one warning line, without the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if record.name == "aiohttp.server" and isinstance(error, HttpProcessingError):
            reason = " ".join(str(error.message).split())
            record.msg, record.args = f"{record.getMessage()}: bad request (400): {reason}", None
            record.exc_info, record.exc_text = None, None
            if record.levelno > logging.WARNING:  # aiohttp's debug records stay debug
                record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def _log_uncaught(kind: type[BaseException], error: BaseException,
                  tb: TracebackType | None) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, error, tb)
        return
    logging.getLogger("uncaught").critical("uncaught exception", exc_info=(kind, error, tb))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is not None:
        logging.getLogger("uncaught").critical(
            "uncaught exception in thread %s", args.thread.name if args.thread else "?",
            exc_info=(args.exc_type, args.exc_value, args.exc_traceback))


def setup_logging(service: str, level: str = "INFO") -> None:
    """Configure the root logger for one service process."""
    handler = logging.StreamHandler()
    handler.setFormatter(
        logging.Formatter(f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s")
    )
    # One line for a client's unparseable request first, then redaction of all.
    handler.addFilter(ClientErrorsInOneLine())
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("nats").setLevel(logging.WARNING)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread
