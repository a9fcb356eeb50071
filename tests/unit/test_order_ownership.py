"""One owner of orders: only the executor writes to a broker.

Every other service decides and publishes requests (``order.requested``,
``order.cancel_requested``); it may read a broker (snapshot, open orders) through
``Brokers.reader_for``. This test reads the code, so a new direct call fails here
before it can place or cancel an order behind the executor's back.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WRITES = frozenset({"submit", "cancel_order", "resize_order", "observe_price", "for_account"})
# The executor writes; the broker adapters implement the writes (and call each other).
OWNERS = ("services/executor/", "libs/brokers/")


def calls_outside_owners() -> list[str]:
    found = []
    for path in sorted(ROOT.glob("services/**/*.py")) + sorted(ROOT.glob("projections/**/*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith(OWNERS):
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=relative)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in WRITES:
                found.append(f"{relative}:{node.lineno} .{node.func.attr}()")
    return found


def test_no_service_but_the_executor_writes_to_a_broker() -> None:
    assert calls_outside_owners() == []


def test_the_check_would_see_a_write(tmp_path: Path) -> None:
    tree = ast.parse("async def f(b, a):\n    await b.cancel_order(a, 'x')\n")
    calls = [n.func.attr for n in ast.walk(tree)
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)]
    assert WRITES & set(calls) == {"cancel_order"}
