"""``python -m services.api.console.dump_openapi FILE``: write the OpenAPI document the
console's client types are generated from (``make console-api``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from services.api.openapi import document


def dumped() -> str:
    """The document as committed in ``console/openapi.json`` (stable key order)."""
    return json.dumps(document(), indent=1, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    """Write the document to ``argv[0]``."""
    Path(argv[0]).write_text(dumped())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
