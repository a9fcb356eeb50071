"""Logging set-up: one line per record, and a filter that masks secrets."""

from __future__ import annotations

import logging
import re

# Strategy secrets look like whsec_<base64>; tokens may also ride in query strings.
_SECRET = re.compile(
    r"whsec_[A-Za-z0-9+/=_-]+"
    r"|(?<=token=)[^&\s\"']+"
    r"|(?<=token\": \")[^\"]+"
    r"|(?<=token': ')[^']+",
    re.IGNORECASE,
)


class RedactSecrets(logging.Filter):
    """Replace anything that looks like a secret in the rendered message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _SECRET.sub("[redacted]", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def setup_logging(service: str, level: str = "INFO") -> None:
    """Configure the root logger for one service process."""
    handler = logging.StreamHandler()
    handler.setFormatter(
        logging.Formatter(f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s")
    )
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("nats").setLevel(logging.WARNING)
