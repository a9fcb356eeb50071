import { cleanup, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, expect, test, vi } from "vitest";
import { GROUPS } from "../settings";
import { fakeApi, renderWithCatalog, session, STRATEGY } from "../testing/fakeApi";
import { Bots } from "./Bots";
import { Brokers } from "./Brokers";
import { Logs } from "./Logs";
import { Setup } from "./Setup";
import { TestTool } from "./TestTool";

afterEach(() => { cleanup(); vi.unstubAllGlobals(); });

const STATUS = { accounts: [{ account_id: "demo-paper", paused: false, paused_reason: "",
  equity: "100456.23", cash: "95696.23", broker_error: null, positions: { AAPL: "25" },
  open_orders: [{ client_order_id: "c-sl", symbol: "AAPL", side: "sell", quantity: "25",
    order_type: "stop", stop_price: "186.69", leg: "sl" }] }] };

test("every Bots setting has a tool-tip saying what it does", async () => {
  fakeApi({});
  renderWithCatalog(<Bots session={session("admin")} />);
  const form = await screen.findByTestId("bot-settings");
  // Plain selectors: role queries over ~30 rows are slow in jsdom.
  const rows = [...form.querySelectorAll("tr")];
  const count = GROUPS.reduce((n, g) => n + g.settings.length, 0);
  expect(rows).toHaveLength(count);
  for (const row of rows) {
    const tips = row.querySelectorAll('[role="note"]');
    expect(tips).toHaveLength(1);
    expect(tips[0].getAttribute("data-tip")?.length).toBeGreaterThan(10);
  }
  expect(screen.getByLabelText("Stop-loss")).toHaveValue("2");
  expect(screen.getByRole("button", { name: "Save settings" })).toBeEnabled();
});

test("a viewer sees the settings but can change none", async () => {
  fakeApi({});
  renderWithCatalog(<Bots session={session("viewer")} />);
  await screen.findByTestId("bot-settings");
  expect(screen.getByLabelText("Percent of equity")).toBeDisabled();
  expect(screen.queryByRole("button", { name: "Save settings" })).toBeNull();
});

test("a viewer sees strategies without the buttons that change them", async () => {
  fakeApi({ "GET /api/v1/signals": { signals: [], next_cursor: null } });
  renderWithCatalog(<Setup session={session("viewer")} />);
  await screen.findByText("Momentum AAPL");
  expect(screen.getByRole("button", { name: "Alert template" })).toBeInTheDocument();
  for (const name of ["New strategy", "Rotate secret", "Test"]) {
    expect(screen.queryByRole("button", { name })).toBeNull();
  }
});

test("an admin gets the write buttons (what the viewer test looks for exists)", async () => {
  fakeApi({ "GET /api/v1/signals": { signals: [], next_cursor: null } });
  renderWithCatalog(<Setup session={session("admin")} />);
  await screen.findByText("Momentum AAPL");
  for (const name of ["New strategy", "Rotate secret", "Test"]) {
    expect(screen.getByRole("button", { name })).toBeInTheDocument();
  }
});

test("a viewer sees the account and its legs but no Pause, keys or breaker save", async () => {
  fakeApi({ "GET /api/v1/status": STATUS });
  renderWithCatalog(<Brokers session={session("viewer")} />);
  expect(await screen.findByText("AAPL stop-loss leg")).toBeInTheDocument();
  for (const name of [/^(Pause|Resume)$/, /Connect Alpaca/, /Save breaker/]) {
    expect(screen.queryByRole("button", { name })).toBeNull();
  }
});

test("a viewer cannot send test alerts", async () => {
  fakeApi({});
  renderWithCatalog(<TestTool session={session("viewer")} strategyId="" />);
  await screen.findByText("Viewers cannot send test alerts.");
  expect(screen.queryByRole("button", { name: /Send/ })).toBeNull();
});

test("Logs name each signal's strategy and account, and say why one failed", async () => {
  const row = { signal_id: "sig-1", strategy_id: STRATEGY.id, account_id: "demo-paper",
    tenant_id: "demo", status: "failed", stage: "risk", code: "max_order_notional",
    reason: "order value 952000.00 exceeds the maximum", symbol: "AAPL", side: "buy",
    dry_run: false, received_at: "2026-01-02T10:00:00Z", latency_ms: 12 };
  const api = fakeApi({ "GET /api/v1/signals": { signals: [row], next_cursor: null } });
  renderWithCatalog(<Logs session={session("viewer")} signalId="" />);
  const table = await screen.findByTestId("signals");
  const line = await within(table).findByText("Momentum AAPL");
  const tr = line.closest("tr")!;
  expect(tr).not.toHaveTextContent(STRATEGY.id);
  expect(tr).toHaveTextContent("Demo paper account");
  expect(tr).toHaveTextContent("risk: max_order_notional");
  expect(tr).toHaveTextContent("exceeds the maximum");
  expect(api.calls.some((c) => c.path === "/api/v1/signals"
    && c.query.get("limit") === "50")).toBe(true);
});

test("the template generator switches dialect on a click", async () => {
  fakeApi({ "GET /api/v1/signals": { signals: [], next_cursor: null } });
  renderWithCatalog(<Setup session={session("admin")} />);
  await userEvent.click(await screen.findByRole("button", { name: "Alert template" }));
  expect(screen.getByTestId("message")).toHaveTextContent("{{strategy.market_position}}");
  await userEvent.click(screen.getByRole("button", { name: "Exchange" }));
  expect(screen.getByTestId("message")).toHaveTextContent('"alertId"');
  expect(screen.getByTestId("webhook-url")).toHaveTextContent(
    "http://hooks.test/webhook/demo/momentum-aapl");
});
