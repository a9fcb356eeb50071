import { cleanup, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, expect, test, vi } from "vitest";
import { fakeApi, renderWithCatalog } from "../testing/fakeApi";
import { WhatIf } from "./WhatIf";

afterEach(() => { cleanup(); vi.unstubAllGlobals(); });

const SIDE = { orders: 3, fills: 6, legs_placed: 6, legs_filled: 3, breaker_trips: 1,
  refused: 2, refused_by: { paused: 2 }, rejected: 0, resting: 0, realised_pnl: "-5023.65",
  fees: "0", cash: "94976.35", equity: "94976.35", max_drawdown: "6508.25", positions: {},
  trips: [{ at: "2026-12-02T08:02:33Z", kind: "sl", equity: "94976.35", liquidated: "false" }] };
const REPORT = { account_id: "demo-paper", signals: 5, changes: { "breaker.active": false },
  recorded: SIDE, replayed: { ...SIDE, orders: 5, breaker_trips: 0, refused: 0, refused_by: {},
    trips: [] }, prices: { alert: 0, implied: 3 },
  changed: [{ signal_id: "9bc6953f-42b0", recorded: [], refused: "",
    replayed: [{ client_order_id: "c", side: "buy", quantity: "100", price: "50.025" }] }] };

test("a what-if sends the changes and shows recorded and replayed side by side", async () => {
  const api = fakeApi({ "POST /api/v1/accounts/demo-paper/what-if": REPORT });
  renderWithCatalog(<WhatIf accountId="" />);
  await screen.findByRole("option", { name: "Demo paper account" });
  await userEvent.selectOptions(screen.getByLabelText("Setting 1"), "breaker.active");
  await userEvent.type(screen.getByLabelText("Value 1"), "false");
  await userEvent.click(screen.getByRole("button", { name: "Replay" }));

  const table = await screen.findByTestId("whatif-table");
  const orders = table.querySelector('tr[data-row="orders"]')!;
  expect(orders).toHaveTextContent("35");
  expect(orders).toHaveClass("changed");
  expect(table.querySelector('tr[data-row="fills"]')).not.toHaveClass("changed");
  expect(screen.getByTestId("whatif-trips")).toHaveTextContent("recorded: stop-loss");
  const changed = screen.getByTestId("whatif-changed");
  expect(within(changed).getByText("no fill")).toBeInTheDocument();
  expect(changed).toHaveTextContent("buy 100 @ 50.025");
  const sent = api.calls.find((c) => c.method === "POST"
    && c.path === "/api/v1/accounts/demo-paper/what-if");
  expect(JSON.parse(sent!.body)).toMatchObject({ changes: { "breaker.active": false },
    strategy: "", since: null, until: null });
});

test("a refused change shows the API's reason", async () => {
  fakeApi({});  // the route answers 404 here: the message is shown, nothing else
  renderWithCatalog(<WhatIf accountId="demo-paper" />);
  await userEvent.click(await screen.findByRole("button", { name: "Replay" }));
  expect(await screen.findByRole("alert")).toHaveTextContent("what-if");
  expect(screen.queryByTestId("whatif-table")).toBeNull();
});
