"""The benchmarks (``make bench``). They use the test harness (tests/harness.py and
its neighbours), so tests/ goes on the import path with the package."""

import sys
from pathlib import Path

_TESTS = str(Path(__file__).resolve().parent.parent / "tests")
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)
