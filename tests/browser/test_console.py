"""The web console in a real browser (Debian's Chromium) against a running
``tradehooks up``: what an operator does from the quick start, and what a viewer may not."""

from __future__ import annotations

import json
import os
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import demo_data
import pytest
from browser_helpers import sign_in
from harness import ROOT

pytestmark = pytest.mark.browser

TABS = ("setup", "brokers", "bots", "logs", "analytics", "test", "whatif", "outbound")


def test_sign_in_with_the_admin_key_and_see_the_demo_strategy(up: dict[str, Any],
                                                              page: Any) -> None:
    page.goto(up["console_url"])
    page.get_by_label("API key").fill("thk_wrong")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("alert").filter(has_text="admin API key").wait_for()

    sign_in(page, up["console_url"], up["admin_key"])
    assert page.get_by_test_id("who").inner_text().startswith("admin")
    page.get_by_test_id("strategies").get_by_text("Demo", exact=False).first.wait_for()


def test_create_template_test_alerts_live_logs_trail_pause_resume(up: dict[str, Any],
                                                                   page: Any) -> None:
    sign_in(page, up["console_url"], up["admin_key"])
    # Create a strategy: the secret is shown once, and its template carries it.
    page.get_by_role("button", name="New strategy").click()
    page.locator("#cs-name").fill("Browser Bot")
    page.get_by_text("Advanced").click()
    page.locator("#cs-maxn").fill("100000")
    page.get_by_role("button", name="Create").click()
    secret = page.get_by_test_id("secret").inner_text()
    assert secret.startswith("whsec_")
    page.get_by_test_id("copy-message").click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert json.loads(copied)["token"] == secret
    assert "{{strategy.market_position}}" in copied
    page.get_by_test_id("qr").locator("canvas").wait_for()
    page.get_by_role("button", name="Exchange").click()
    assert '"alertId"' in page.get_by_test_id("message").inner_text()
    url = page.get_by_test_id("webhook-url").inner_text()
    assert url.endswith("/webhook/demo/browser-bot")  # the demo account's tenant

    # The Logs tab tails live while a second tab sends the test alerts.
    page.get_by_role("tab", name="Logs").click()
    page.get_by_test_id("live").filter(has_text="live tail").wait_for()
    sender = page.context.new_page()
    sign_in(sender, up["console_url"], up["admin_key"])
    sender.get_by_role("tab", name="Test").click()
    sender.get_by_label("Strategy").select_option(label="Browser Bot")
    sender.get_by_label(re.compile("^Alert")).fill(json.dumps(
        {"symbol": "AAPL", "action": "buy", "quantity": "3", "price": "190"}))
    sender.get_by_role("button", name="Send dry run").click()
    sender.get_by_role("button", name="Send for real (paper)").click()
    sent = sender.get_by_test_id("sent").locator("li")
    sent.nth(1).wait_for()
    real_id, dry_id = (sent.nth(i).locator("a").inner_text() for i in range(2))
    sender.close()

    rows = page.get_by_test_id("signals")
    for signal_id in (dry_id, real_id):
        row = rows.locator(f'tr[data-signal="{signal_id}"]')
        row.filter(has_text="executed").wait_for()  # arrived live, and ended
        assert "Browser Bot" in row.inner_text()  # the strategy's name, not its id
    assert "dry" in rows.locator(f'tr[data-signal="{dry_id}"]').inner_text()

    # A signal opens its whole trail.
    rows.locator(f'tr[data-signal="{dry_id}"]').click()
    trail = page.get_by_test_id("trail")
    trail.get_by_text("dry run: decided, nothing sent to a broker").wait_for()
    kinds = [e.locator("strong").inner_text() for e in
             page.get_by_test_id("trail-event").all()]
    assert kinds[0] == "webhook.received" and kinds[-1] == "webhook.trade_executed"
    assert "Browser Bot" in trail.inner_text()

    # Pause and resume the account from the Brokers tab.
    page.get_by_role("tab", name="Brokers").click()
    card = page.get_by_test_id(f"account-{up['account_id']}")
    card.get_by_role("button", name="Pause").click()
    card.get_by_test_id("paused-reason").wait_for()
    config = f"/api/v1/accounts/{up['account_id']}/config"
    assert demo_data.api(up, "GET", config)["paused"] is True
    card.get_by_role("button", name="Resume").click()
    card.get_by_role("button", name="Pause").wait_for()
    assert demo_data.api(up, "GET", config)["paused"] is False


def test_a_viewer_sees_everything_and_can_change_nothing(up: dict[str, Any],
                                                         page: Any) -> None:
    viewer = demo_data.api(up, "POST", "/api/v1/apikeys", {"role": "viewer",
                                                  "tenant_id": up["tenant_id"]})["key"]
    sign_in(page, up["console_url"], viewer)
    page.get_by_test_id("readonly").wait_for()
    page.get_by_test_id("strategies").get_by_text("Demo", exact=False).first.wait_for()
    assert page.get_by_role("button", name="New strategy").count() == 0
    assert page.get_by_role("button", name="Rotate secret").count() == 0
    page.get_by_role("tab", name="Brokers").click()
    page.get_by_test_id(f"account-{up['account_id']}").wait_for()
    assert page.get_by_role("button", name=re.compile("^(Pause|Resume)$")).count() == 0
    assert page.get_by_role("button", name="Save breaker").count() == 0
    page.get_by_role("tab", name="Bots").click()
    settings = page.get_by_test_id("bot-settings")
    assert settings.locator("#bot-percent_of_equity").is_disabled()
    assert page.get_by_role("button", name="Save settings").count() == 0
    page.get_by_role("tab", name="Test").click()
    page.get_by_text("Viewers cannot send test alerts.").wait_for()
    # The server refuses anyway: the console only hides what it would refuse.
    status = page.evaluate("""async ([url, key, account]) => (await fetch(
        `${url}api/v1/accounts/${account}/pause`, {method: "POST",
        headers: {"X-API-Key": key}})).status""", [up["console_url"], viewer,
                                                  up["account_id"]])
    assert status == 403


def test_connect_an_exchange_account_and_change_its_keys(up: dict[str, Any], page: Any,
                                                         tmp_path: Path) -> None:
    """A Bybit account connected from the Brokers tab: stored with its keys sealed
    (never shown back), its card offers the venue's keys; a wrong form is refused
    with the server's reason."""
    sign_in(page, up["console_url"], up["admin_key"])
    page.get_by_role("tab", name="Brokers").click()
    page.get_by_role("button", name="Connect an exchange").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Exchange").select_option("bybit")
    dialog.get_by_label("Name").fill("Bybit perps")
    dialog.locator("#cx-key").fill("bybit-key-1")
    dialog.locator("#cx-secret").fill("bybit-secret-1")
    dialog.locator("#cx-market").select_option("perp")  # Bybit offers spot first
    dialog.locator("#cx-lev").fill("3")
    _shoot(page, (SHOTS or tmp_path) / "brokers-connect-exchange.png")
    dialog.get_by_role("button", name="Connect").click()
    card = page.locator("[data-testid^='account-']").filter(has_text="Bybit perps")
    card.get_by_text("Bybit keys").wait_for()
    stored = next(a for a in demo_data.api(up, "GET", "/api/v1/accounts")
                  if a["name"] == "Bybit perps")
    assert stored["broker"] == "bybit"
    assert stored["exchange"]["api_key"] == "bybit-key-1"
    assert stored["exchange"]["leverage"] == 3 and stored["exchange"]["market"] == "perp"
    assert "bybit-secret-1" not in json.dumps(stored)
    # A new key id, the secret left empty: the stored secret stays.
    card.get_by_text("Bybit keys").click()
    card.locator(f"#ex-{stored['id']}-key").fill("bybit-key-2")
    card.get_by_role("button", name="Save keys").click()
    page.wait_for_function("""async ([url, key, id]) => (await (await fetch(
        `${url}api/v1/accounts/${id}/config`, {headers: {"X-API-Key": key}})).json())
        .exchange.api_key === 'bybit-key-2'""", arg=[up["console_url"], up["admin_key"],
                                                     stored["id"]], polling=200)
    config = demo_data.api(up, "GET", f"/api/v1/accounts/{stored['id']}/config")
    assert config["exchange"]["secret"] == "********"  # kept, never shown
    # What the server refuses is said in the dialog, and nothing is stored.
    page.get_by_role("button", name="Connect an exchange").click()
    dialog.get_by_label("Exchange").select_option("binance")
    dialog.get_by_label("Name").fill("x" * 300)
    dialog.locator("#cx-key").fill("k")
    dialog.locator("#cx-secret").fill("s")
    dialog.get_by_role("button", name="Connect").click()
    dialog.get_by_role("alert").filter(has_text="name").wait_for()
    assert not [a for a in demo_data.api(up, "GET", "/api/v1/accounts")
                if a["name"] == "x" * 300]


def test_what_if_replays_the_account_with_a_change_beside_the_recording(
        up: dict[str, Any], page: Any) -> None:
    demo_data.fill(up)
    sign_in(page, up["console_url"], up["admin_key"])
    page.get_by_role("tab", name="What if").click()
    page.get_by_label("Account").select_option(up["account_id"])
    page.get_by_role("button", name="Replay").click()  # nothing changed: as recorded
    table = page.get_by_test_id("whatif-table")
    table.wait_for()
    assert table.locator("tr.changed").count() == 0
    page.get_by_text("None: every signal filled as recorded.").wait_for()

    # Entries worth more than 1 are refused now: fewer orders, more refusals.
    page.get_by_label("Setting 1").select_option("max_order_notional")
    page.get_by_label("Value 1").fill("1")
    page.get_by_role("button", name="Replay").click()
    refused = table.locator('tr[data-row="refused"]')
    refused.and_(page.locator("tr.changed")).wait_for()
    recorded, replayed = (int(refused.locator("td").nth(i).inner_text()) for i in (1, 2))
    assert replayed > recorded
    changed = page.get_by_test_id("whatif-changed")
    changed.get_by_text("refused: max_order_notional").first.wait_for()

    page.get_by_label("Value 1").fill("-1")  # out of range: the API's reason is shown
    page.get_by_role("button", name="Replay").click()
    page.get_by_role("alert").filter(has_text="changes.max_order_notional").wait_for()


class _Receiver(BaseHTTPRequestHandler):
    """A callback receiver: answers 200 and keeps each request's webhook-id."""

    seen: list[str] = []
    arrived = threading.Condition()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.end_headers()
        with self.arrived:
            self.seen.append(self.headers.get("webhook-id", ""))
            self.arrived.notify_all()

    def log_message(self, *args: Any) -> None:
        return None


def _received(count: int) -> list[str]:
    with _Receiver.arrived:
        assert _Receiver.arrived.wait_for(lambda: len(_Receiver.seen) >= count, 30), \
            _Receiver.seen
        return list(_Receiver.seen)


def test_callbacks_and_channels_from_the_console(up: dict[str, Any], page: Any,
                                                 tmp_path: Path) -> None:
    """Register a callback endpoint (secret shown once), see its delivery in the log,
    redeliver it (the receiver gets the same webhook-id again), rotate the secret; add
    a Discord channel, see a private address refused, switch the channel off."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{server.server_address[1]}/hook"
    page.on("dialog", lambda dialog: dialog.accept())
    try:
        sign_in(page, up["console_url"], up["admin_key"])
        page.get_by_role("tab", name="Callbacks & channels").click()
        page.locator("#cb-url").fill(hook)
        page.get_by_role("button", name="Add endpoint").click()
        assert page.get_by_test_id("secret").inner_text().startswith("whsec_")
        page.get_by_role("button", name="I saved it").click()
        signal = demo_data.send(up, up["strategy_id"], {
            "symbol": "AAPL", "action": "buy", "quantity": "1", "price": "190"})
        demo_data.ended(up, signal)
        [first] = _received(1)
        row = page.get_by_test_id("callbacks").locator("tr", has_text=hook)
        row.get_by_role("button", name="Deliveries").click()
        delivered = page.get_by_test_id("delivery").filter(has_text="delivered").first
        delivered.get_by_role("button", name="Redeliver").click()
        page.get_by_text(re.compile(r"^Redelivery .+ requested\.$")).wait_for()
        assert _received(2)[1] == first  # the same event: the receiver can drop it
        row.get_by_role("button", name="Rotate secret").click()
        assert page.get_by_test_id("secret").inner_text().startswith("whsec_")
        page.get_by_role("button", name="I saved it").click()

        form = page.get_by_test_id("new-channel")
        form.get_by_label("Name").fill("ops")
        form.get_by_label("Kind").select_option("discord")
        form.get_by_label("Webhook URL").fill("https://10.0.0.1/api/webhooks/1/tok")
        form.get_by_role("button", name="Add channel").click()
        form.get_by_role("alert").filter(has_text="private address").wait_for()
        form.get_by_label("Webhook URL").fill("https://127.0.0.1:9/api/webhooks/1/tok")
        form.get_by_role("button", name="Add channel").click()
        channel = page.get_by_test_id("channel-ops")
        channel.get_by_text("enabled").wait_for()
        assert "tok" not in page.get_by_test_id("channels").inner_text()
        channel.get_by_role("button", name="Switch off").click()
        channel.get_by_text("disabled").wait_for()
        page.get_by_test_id("deliveries").scroll_into_view_if_needed()
        _shoot(page, (SHOTS or tmp_path) / "outbound-actions.png")
    finally:
        server.shutdown()


SHOTS = Path(os.environ.get("TRADEHOOKS_SCREENSHOTS", "")) if os.environ.get(
    "TRADEHOOKS_SCREENSHOTS") else None


def _ready(up: dict[str, Any], page: Any, tab: str, signals: dict[str, str]) -> None:
    """Wait until ``tab`` shows its data (not a timer: the system may be slow)."""
    if tab == "setup":
        row = page.get_by_test_id("strategy-momentum-aapl")
        row.locator(".badge-executed").wait_for()
        page.get_by_test_id("strategy-swing-msft").locator(".badge-executed").wait_for()
        row.get_by_role("button", name="Alert template").click()
        page.get_by_test_id("qr").locator("canvas").wait_for()
    elif tab == "brokers":
        card = page.get_by_test_id(f"account-{up['account_id']}")
        card.get_by_test_id("open-orders").locator("tbody tr").nth(1).wait_for()
        card.get_by_test_id("positions").get_by_text("AAPL").wait_for()
    elif tab == "bots":
        page.get_by_test_id("bot-select").select_option(label=demo_data.MOMENTUM)
        page.locator("#bot-sl_pct[value='2']").wait_for()
    elif tab == "logs":
        rows = page.get_by_test_id("signals")
        for signal_id in signals.values():
            rows.locator(f'tr[data-signal="{signal_id}"]').wait_for()
    elif tab == "trail":
        # .first: callback.requested events (an endpoint wants fills) name the type too.
        page.get_by_test_id("trail-event").filter(has_text="webhook.trade_executed") \
            .first.wait_for()
    elif tab == "analytics":
        page.get_by_test_id("stat-signals").filter(has_text=re.compile(r"^[1-9]")).wait_for()
        page.get_by_test_id("equity-chart").locator("canvas").first.wait_for()
    elif tab == "test":
        page.get_by_label("Strategy").select_option(label=demo_data.MOMENTUM)
    elif tab == "outbound":
        page.get_by_test_id("callbacks").locator("tbody tr").first.wait_for()
        page.get_by_test_id("channels").locator("tbody tr").first.wait_for()
    elif tab == "whatif":
        page.get_by_label("Setting 1").select_option("max_order_notional")
        page.get_by_label("Value 1").fill("500")
        page.get_by_role("button", name="Replay").click()
        page.get_by_test_id("whatif-changed").wait_for()
    page.wait_for_timeout(300)  # the last frame: charts and fonts settle


def _shoot(page: Any, path: Path) -> None:
    """A screenshot, then: nothing wider than the window (no sideways scrolling)."""
    page.screenshot(path=str(path))
    wide = page.evaluate("""() => [...document.querySelectorAll('body *')]
        .filter((e) => e.getBoundingClientRect().right > innerWidth + 1)
        .slice(0, 5).map((e) => e.tagName + '.' + e.className)""")
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth"), (path, wide)


SHOTS_OF = (("setup", "setup"), ("brokers", "brokers"), ("bots", "bots"), ("logs", "logs"),
            ("trail", "logs/{executed}"), ("analytics", "analytics"), ("test", "test"),
            ("whatif", "whatif"), ("outbound", "outbound"))


def test_every_tab_renders_in_both_themes_and_on_a_phone(up: dict[str, Any], page: Any,
                                                         tmp_path: Path) -> None:
    """Screenshots of each tab with data in it, light and dark (into docs/screenshots
    with ``make screenshots``); nothing overflows sideways at 1280x800 or 390 wide."""
    out = SHOTS or tmp_path
    if SHOTS is not None and not SHOTS.is_absolute():
        out = ROOT / SHOTS
    out.mkdir(parents=True, exist_ok=True)
    signals = demo_data.fill(up)
    if not signals:  # filled by an earlier run on this system: open the newest ones
        rows = demo_data.api(up, "GET", "/api/v1/signals?limit=200")["signals"]
        signals = {"executed": next(r["signal_id"] for r in rows
                                    if r["status"] == "executed" and r["symbol"] == "AAPL")}
    sign_in(page, up["console_url"], up["admin_key"])
    for theme in ("dark", "light"):
        page.evaluate(f"localStorage.setItem('tradehooks.theme', '{theme}')")
        page.reload()
        page.get_by_test_id("who").wait_for()
        assert page.evaluate("document.documentElement.dataset.theme") == theme
        for name, route in SHOTS_OF:
            page.goto(f"{up['console_url']}#/{route.format(**signals)}")
            _ready(up, page, name, signals)
            _shoot(page, out / f"{name}-{theme}.png")
    page.set_viewport_size({"width": 390, "height": 844})
    for name, route in (("setup", "setup"), ("brokers", "brokers"), ("logs", "logs")):
        page.goto(f"{up['console_url']}#/{route}")
        _ready(up, page, name, signals)
        _shoot(page, out / f"phone-{name}-light.png")
