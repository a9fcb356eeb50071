import { cleanup, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, expect, test, vi } from "vitest";
import { fakeApi, renderWithCatalog, session } from "../testing/fakeApi";
import { Outbound } from "./Outbound";

afterEach(() => { cleanup(); vi.unstubAllGlobals(); });

const ENDPOINT = { id: "cb-1", tenant_id: "demo", url: "https://hooks.example/th",
  description: "", event_types: ["webhook.failed"], strategy_ids: [], account_ids: [],
  enabled: true, failing: true, disabled_reason: "", previous_valid_until: null };
const DELIVERY = { delivery_id: "d-1", endpoint_id: "cb-1", tenant_id: "demo",
  source_event_id: "e-1", source_type: "webhook.failed", signal_id: "sig-1",
  requested_at: "2026-12-07T10:00:00Z", request_seq: 5, status: "parked", attempts: 9,
  last_attempt_at: null, next_attempt_at: null, last_status_code: 500,
  last_error: "answered 500", ended_at: null, redelivery_of: "" };
const CHANNEL = { name: "desk", kind: "telegram", topics: ["fills"], secret: "********",
  chat_id: "-100", to: [], mail_from: "", smtp_host: "", smtp_port: 587, smtp_user: "",
  smtp_tls: "starttls", collapse_s: 10, min_interval_s: 60, enabled: true };
const ROUTES = {
  "GET /api/v1/callbacks": [ENDPOINT],
  "GET /api/v1/callbacks/cb-1/deliveries": { deliveries: [DELIVERY], truncated: false },
  "POST /api/v1/callbacks/cb-1/deliveries/d-1/redeliver": { delivery_id: "d-2",
    redelivery_of: "d-1" },
  "POST /api/v1/callbacks/cb-1/rotate": { callback: ENDPOINT, secret: "whsec_new" },
  "POST /api/v1/callbacks": { callback: { ...ENDPOINT, id: "cb-2" }, secret: "whsec_first" },
  "GET /api/v1/tenants/demo/notifications": [CHANNEL],
  "PUT /api/v1/tenants/demo/notifications/desk": CHANNEL,
  "PUT /api/v1/tenants/demo/notifications/ops": CHANNEL,
};

test("the delivery log of an endpoint, and one delivery redelivered", async () => {
  const { calls } = fakeApi(ROUTES);
  renderWithCatalog(<Outbound session={session("admin")} />);
  const row = await screen.findByTestId("callback-cb-1");
  expect(within(row).getByText("failing")).toBeInTheDocument();
  await userEvent.click(within(row).getByRole("button", { name: "Deliveries" }));
  const delivery = await screen.findByTestId("delivery");
  expect(within(delivery).getByText("parked")).toBeInTheDocument();
  expect(within(delivery).getByText(/answered 500/)).toBeInTheDocument();
  await userEvent.click(within(delivery).getByRole("button", { name: "Redeliver" }));
  expect(await screen.findByText("Redelivery d-2 requested.")).toBeInTheDocument();
  expect(calls.some((c) => c.method === "POST" &&
    c.path === "/api/v1/callbacks/cb-1/deliveries/d-1/redeliver")).toBe(true);
});

test("registering and rotating show the secret once", async () => {
  vi.stubGlobal("confirm", () => true);
  const { calls } = fakeApi(ROUTES);
  renderWithCatalog(<Outbound session={session("admin")} />);
  const row = await screen.findByTestId("callback-cb-1");
  await userEvent.click(within(row).getByRole("button", { name: "Rotate secret" }));
  expect(await screen.findByTestId("secret")).toHaveTextContent("whsec_new");
  await userEvent.click(screen.getByRole("button", { name: "I saved it" }));
  await userEvent.type(screen.getByLabelText(/^URL/), "https://hooks.example/new");
  await userEvent.click(screen.getByRole("button", { name: "Add endpoint" }));
  expect(await screen.findByTestId("secret")).toHaveTextContent("whsec_first");
  const created = calls.find((c) => c.method === "POST" && c.path === "/api/v1/callbacks");
  expect(JSON.parse(created!.body)).toMatchObject({ tenant_id: "demo",
    url: "https://hooks.example/new",
    event_types: ["webhook.trade_executed", "webhook.failed"] });
});

test("a channel is added, and switched off keeping its secret", async () => {
  vi.stubGlobal("confirm", () => true);
  const { calls } = fakeApi(ROUTES);
  renderWithCatalog(<Outbound session={session("admin")} />);
  const row = await screen.findByTestId("channel-desk");
  await userEvent.click(within(row).getByRole("button", { name: "Switch off" }));
  await waitFor(() => expect(calls.some((c) => c.method === "PUT")).toBe(true));
  const off = JSON.parse(calls.find((c) => c.method === "PUT")!.body);
  expect(off).toMatchObject({ enabled: false, secret: "********", chat_id: "-100" });
  expect(off.name).toBeUndefined();
  const form = screen.getByTestId("new-channel");
  await userEvent.type(within(form).getByLabelText("Name"), "ops");
  await userEvent.type(within(form).getByLabelText(/Bot token/), "123:abc");
  await userEvent.type(within(form).getByLabelText(/Chat id/), "-42");
  await userEvent.click(within(form).getByLabelText("daily_summary"));
  await userEvent.click(within(form).getByRole("button", { name: "Add channel" }));
  await waitFor(() => expect(calls.some((c) =>
    c.path === "/api/v1/tenants/demo/notifications/ops")).toBe(true));
  const added = JSON.parse(calls.find((c) =>
    c.path === "/api/v1/tenants/demo/notifications/ops")!.body);
  expect(added).toMatchObject({ kind: "telegram", secret: "123:abc", chat_id: "-42",
    topics: ["fills", "failures", "breaker", "auth_failures", "daily_summary"] });
});

test("a viewer reads both lists without the buttons that change them", async () => {
  fakeApi(ROUTES);
  renderWithCatalog(<Outbound session={session("viewer")} />);
  await screen.findByTestId("channel-desk");
  await screen.findByTestId("callback-cb-1");
  for (const name of ["Rotate secret", "Switch off", "Remove", "Add endpoint",
    "Add channel"]) {
    expect(screen.queryByRole("button", { name })).toBeNull();
  }
  expect(screen.getByRole("button", { name: "Deliveries" })).toBeInTheDocument();
});
