"""Sum the per-test lines of ``TRADEHOOKS_TEST_CPU_LOG`` by module, heaviest first.

    TRADEHOOKS_TEST_CPU_LOG=/tmp/cpu.jsonl make test
    .venv/bin/python tests/cpu_report.py /tmp/cpu.jsonl
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict


def main(path: str, top: int = 40) -> None:
    """Print CPU and wall seconds per module (and per worker), most CPU first."""
    cpu: dict[str, float] = defaultdict(float)
    wall: dict[str, float] = defaultdict(float)
    tests: dict[str, int] = defaultdict(int)
    workers: dict[str, float] = defaultdict(float)
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            cpu[row["module"]] += row["cpu"]
            wall[row["module"]] += row["wall"]
            tests[row["module"]] += 1
            workers[row["worker"]] += row["wall"]
    print(f"{'cpu s':>8} {'wall s':>8} {'tests':>6}  module")
    for module in sorted(cpu, key=cpu.__getitem__, reverse=True)[:top]:
        print(f"{cpu[module]:8.1f} {wall[module]:8.1f} {tests[module]:6d}  {module}")
    print(f"{sum(cpu.values()):8.1f} {sum(wall.values()):8.1f} {sum(tests.values()):6d}  all")
    print("wall per worker: " + ", ".join(f"{w} {s:.0f} s" for w, s in sorted(workers.items())))


if __name__ == "__main__":
    main(sys.argv[1], *(int(a) for a in sys.argv[2:3]))
