// A fake operator API for component tests: answers by path, records every request.
import { render } from "@testing-library/react";
import type { ReactElement } from "react";
import { vi } from "vitest";
import type { Account, Strategy } from "../api/client";
import { CatalogProvider } from "../catalog";
import type { Session } from "../session";

export const STRATEGY = {
  id: "strat-1", tenant_id: "demo", account_id: "demo-paper", name: "Momentum AAPL",
  slug: "momentum-aapl", rate_limits: null, previous_valid_until: null, jwt_public_key: null,
  ip_allowlist: [], enabled: true, suspended: false, sizing_mode: "auto",
  percent_of_equity: "2", fixed_quantity: null, notional: null, max_order_notional: "50000",
  max_order_quantity: null, min_order_notional: null, min_order_quantity: null,
  allowed_symbols: ["AAPL"], max_position_quantity: null, max_position_notional: null,
  daily_notional_limit: null, daily_order_limit: null, max_open_positions: null,
  max_leverage: null, require_stop_loss: false, max_drawdown_pct: null,
  day_timezone: "UTC", quantity_step: "0.0001", order_type: "market",
  use_strategy_order_price: true, limit_offset_ticks: 0, tick_size: "0.01",
  time_in_force: "day", symbol: null, attach_sl_tp: true, sl_pct: "2", tp_pct: "4",
  use_avg_fill_for_sl_tp: true, trailing_stop_pct: null,
} as unknown as Strategy;

export const ACCOUNT = {
  id: "demo-paper", tenant_id: "demo", name: "Demo paper account", broker: "paper",
  alpaca: null, currency: "USD", starting_cash: "100000", slippage_bps: "5", fee_bps: "0",
  active: true, suspended: false, breaker: null, rate_limits: null, paused: false,
  paused_reason: "",
} as unknown as Account;

export function session(role: "admin" | "viewer"): Session {
  return { key: `thk_${role}`, canWrite: role === "admin",
    who: { id: "k1", role, tenant_id: "demo", webhook_base_url: "http://hooks.test" } };
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status,
    headers: { "Content-Type": "application/json" } });
}

/** Stub fetch: `routes` maps "METHOD /path" (no query) to an answer body; anything else
 * is a 404 (the live stream too: the components show it as reconnecting). */
export function fakeApi(routes: Record<string, unknown>) {
  const all: Record<string, unknown> = {
    "GET /api/v1/strategies": [STRATEGY], "GET /api/v1/accounts": [ACCOUNT], ...routes };
  const calls: { method: string; path: string; query: URLSearchParams; body: string }[] = [];
  const fetchMock = vi.fn(async (input: Request | string, init?: RequestInit) => {
    const request = typeof input === "string" ? new Request(new URL(input, "http://x"), init)
      : input;
    const url = new URL(request.url);
    calls.push({ method: request.method, path: url.pathname, query: url.searchParams,
      body: request.body ? await request.clone().text() : "" });
    const key = `${request.method} ${url.pathname}`;
    return key in all ? json(all[key]) : json({ error: "not_found", message: key }, 404);
  });
  vi.stubGlobal("fetch", fetchMock);
  return { calls };
}

/** Render `ui` inside the catalog (strategies and accounts from the fake API). */
export function renderWithCatalog(ui: ReactElement) {
  return render(<CatalogProvider>{ui}</CatalogProvider>);
}
