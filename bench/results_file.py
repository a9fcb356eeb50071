"""Where the benchmarks keep their numbers: one JSON file per run under bench/results/."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def save_results(kind: str, results: dict[str, Any]) -> Path:
    """Write ``results`` as ``bench/results/<kind>-<timestamp>.json``; says where."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"\nsaved {path}")
    return path
