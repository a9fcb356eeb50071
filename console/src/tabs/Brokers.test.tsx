import { cleanup, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, expect, test, vi } from "vitest";
import { ACCOUNT, fakeApi, renderWithCatalog, session } from "../testing/fakeApi";
import { Brokers } from "./Brokers";

afterEach(() => { cleanup(); vi.unstubAllGlobals(); });

const STATUS = { accounts: [] };

test("an exchange account is connected with what its venue needs", async () => {
  const { calls } = fakeApi({ "GET /api/v1/status": STATUS, "POST /api/v1/accounts": {} });
  renderWithCatalog(<Brokers session={session("admin")} />);
  await userEvent.click(await screen.findByRole("button", { name: "Connect an exchange" }));
  const dialog = within(screen.getByRole("dialog"));
  // Binance first: no passphrase, no account id; spot by default.
  expect(dialog.queryByLabelText(/^Passphrase/)).toBeNull();
  await userEvent.selectOptions(dialog.getByLabelText("Exchange"), "okx");
  await userEvent.type(dialog.getByLabelText("Name"), "okx main");
  await userEvent.type(dialog.getByLabelText(/^API key/), "k-1");
  await userEvent.type(dialog.getByLabelText(/^Secret/), "s-1");
  await userEvent.type(dialog.getByLabelText(/^Passphrase/), "p-1");
  await userEvent.selectOptions(dialog.getByLabelText(/^Market/), "perp");
  await userEvent.type(dialog.getByLabelText(/^Leverage/), "5");
  await userEvent.click(dialog.getByRole("button", { name: "Connect" }));
  const post = calls.find((c) => c.method === "POST" && c.path === "/api/v1/accounts");
  expect(post).toBeDefined();
  expect(JSON.parse(post!.body)).toEqual({
    tenant_id: "demo", name: "okx main", broker: "okx", currency: "USDT",
    exchange: { api_key: "k-1", secret: "s-1", password: "p-1", account_id: "",
      market: "perp", leverage: 5, margin_mode: "cross", testnet: true } });
});

test("Orderly asks for its account id and offers perpetuals only", async () => {
  fakeApi({ "GET /api/v1/status": STATUS });
  renderWithCatalog(<Brokers session={session("admin")} />);
  await userEvent.click(await screen.findByRole("button", { name: "Connect an exchange" }));
  const dialog = within(screen.getByRole("dialog"));
  await userEvent.selectOptions(dialog.getByLabelText("Exchange"), "orderly");
  expect(dialog.getByLabelText(/^Orderly account id/)).toBeRequired();
  const market = dialog.getByLabelText(/^Market/) as HTMLSelectElement;
  expect([...market.options].map((o) => o.value)).toEqual(["perp"]);
  expect(dialog.getByLabelText(/^Currency/)).toHaveValue("USDC");
});

test("Bybit offers spot and perpetuals", async () => {
  fakeApi({ "GET /api/v1/status": STATUS });
  renderWithCatalog(<Brokers session={session("admin")} />);
  await userEvent.click(await screen.findByRole("button", { name: "Connect an exchange" }));
  const dialog = within(screen.getByRole("dialog"));
  await userEvent.selectOptions(dialog.getByLabelText("Exchange"), "bybit");
  const market = dialog.getByLabelText(/^Market/) as HTMLSelectElement;
  expect([...market.options].map((o) => o.value)).toEqual(["spot", "perp"]);
  expect(dialog.queryByLabelText(/^Passphrase/)).toBeNull();
});

test("an exchange account's keys are changed without sending the secret back", async () => {
  const account = { ...ACCOUNT, id: "demo-bin", name: "Binance", broker: "binance",
    exchange: { api_key: "k-old", secret: "********", password: "********", account_id: "",
      market: "spot", leverage: null, margin_mode: "cross", testnet: true } };
  const { calls } = fakeApi({ "GET /api/v1/accounts": [account], "GET /api/v1/status": STATUS,
    "PATCH /api/v1/accounts/demo-bin": account });
  renderWithCatalog(<Brokers session={session("admin")} />);
  const card = within(await screen.findByTestId("account-demo-bin"));
  await userEvent.click(card.getByText(/Binance keys/));
  const key = card.getByLabelText(/^API key/);
  await userEvent.clear(key);
  await userEvent.type(key, "k-new");
  await userEvent.click(card.getByRole("button", { name: "Save keys" }));
  const patch = calls.find((c) => c.method === "PATCH");
  expect(JSON.parse(patch!.body).exchange).toMatchObject({ api_key: "k-new", secret: "" });
});

test("a viewer cannot connect an exchange", async () => {
  fakeApi({ "GET /api/v1/status": STATUS });
  renderWithCatalog(<Brokers session={session("viewer")} />);
  await screen.findByText("Demo paper account");
  expect(screen.queryByRole("button", { name: "Connect an exchange" })).toBeNull();
});
