"""What the screenshots show: strategies, and test alerts sent through the running
system until every tab has something to draw (a position with its protective legs
resting, closed trades with a realised P&L over several seconds, a failed signal with
its reason, dry runs). Everything goes through the operator API, as the console does."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

MOMENTUM = "Momentum AAPL"
SWING = "Swing MSFT"


def api(up: dict[str, Any], method: str, path: str, body: Any = None) -> Any:
    """One call of the operator API with the admin key; the decoded answer."""
    request = urllib.request.Request(  # noqa: S310 - the test's own http URL
        f"{up['api_url']}{path}", method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"X-API-Key": up["admin_key"], "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"{method} {path}: {exc.code} {exc.read()[:500]!r}") from exc


def _strategy(up: dict[str, Any], name: str, **settings: Any) -> str:
    """The id of the strategy named ``name`` on the demo account (created if missing)."""
    for s in api(up, "GET", "/api/v1/strategies"):
        if s["name"] == name:
            return str(s["id"])
    created = api(up, "POST", "/api/v1/strategies", {
        "name": name, "account_id": up["account_id"], "tenant_id": up["tenant_id"],
        **settings})
    return str(created["strategy"]["id"])


def send(up: dict[str, Any], strategy_id: str, alert: dict[str, Any],
         dry_run: bool = False) -> str:
    """A test alert (dry run or real on the paper account); its signal id."""
    answer = api(up, "POST", f"/api/v1/strategies/{strategy_id}/test",
                 {"alert": alert, "dry_run": dry_run})
    return str(answer["signal_id"])


def ended(up: dict[str, Any], signal_id: str, timeout: float = 20) -> dict[str, Any]:
    """The signal's trail once it reached its terminal event (executed or failed)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            trail = api(up, "GET", f"/api/v1/signals/{signal_id}")
        except AssertionError:  # 404 until the event store recorded its first event
            trail = {"terminal": False, "status": "not recorded yet"}
        if trail["terminal"]:
            return dict(trail)
        if time.monotonic() > deadline:
            raise AssertionError(f"signal {signal_id} did not end: {trail['status']}")
        time.sleep(0.1)  # polling the API: the system offers no callback to a test


def _next_second() -> None:
    """Wait for the wall clock's next second: the equity curve keeps one point a second,
    so closed trades a second apart each draw a point."""
    time.sleep(1.02 - time.time() % 1)


def fill(up: dict[str, Any]) -> dict[str, str]:
    """Send the alerts (once per system); returns the signal ids worth opening."""
    momentum = _strategy(up, MOMENTUM, sizing_mode="auto", attach_sl_tp=True,
                         sl_pct="2", tp_pct="4", order_type="market",
                         allowed_symbols=["AAPL", "NVDA"])
    swing = _strategy(up, SWING, sizing_mode="auto", symbol="MSFT")
    done = {s["strategy_id"] for s in
            api(up, "GET", "/api/v1/signals?limit=200")["signals"]}
    if {momentum, swing} <= done:
        return {}
    # Closed trades: round trips of MSFT, each closing in its own second.
    for entry, exit_ in (("410", "418.5"), ("416", "412.2"), ("411", "423.8"),
                         ("420", "427.1")):
        ended(up, send(up, swing, {"symbol": "MSFT", "action": "buy", "quantity": "20",
                                   "price": entry}))
        _next_second()
        ended(up, send(up, swing, {"symbol": "MSFT", "action": "close",
                                   "price": exit_}))
    # A position held with its stop-loss and take-profit legs resting at the broker.
    executed = send(up, momentum, {"symbol": "AAPL", "action": "buy", "quantity": "25",
                                   "price": "190.40"})
    ended(up, executed)
    # A refusal with its reason: far above the strategy's largest order.
    failed = send(up, momentum, {"symbol": "AAPL", "action": "buy", "quantity": "5000",
                                 "price": "190.40"})
    ended(up, failed)
    refused = send(up, momentum, {"symbol": "TSLA", "action": "buy", "quantity": "3",
                                  "price": "250"})
    ended(up, refused)
    dry = send(up, momentum, {"symbol": "NVDA", "action": "buy", "quantity": "4",
                              "price": "121.10"}, dry_run=True)
    ended(up, dry)
    dry_swing = send(up, swing, {"symbol": "MSFT", "action": "buy", "quantity": "10",
                                 "price": "425"}, dry_run=True)
    ended(up, dry_swing)
    return {"executed": executed, "failed": failed, "dry": dry}
