"""``python -m services.api.console.dump_openapi FILE [ASYNCAPI_FILE]``: write the OpenAPI
document the console's client types are generated from, and the AsyncAPI document of
the events (``make console-api``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from contracts import asyncapi
from services.api.openapi import document


def dumped() -> str:
    """The document as committed in ``console/openapi.json`` (stable key order)."""
    return json.dumps(document(), indent=1, sort_keys=True) + "\n"


def dumped_asyncapi() -> str:
    """The AsyncAPI document as committed in ``docs/asyncapi.json``."""
    return json.dumps(asyncapi.document(), indent=1, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    """Write the OpenAPI document to ``argv[0]``, the AsyncAPI one to ``argv[1]``."""
    Path(argv[0]).write_text(dumped())
    if len(argv) > 1:
        Path(argv[1]).write_text(dumped_asyncapi())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
