import { useState, type FormEvent } from "react";
import { api, ok, type Account } from "../api/client";
import type { Session } from "../session";
import { useCatalog } from "../catalog";
import { useLoad } from "../hooks";
import { useLiveStream } from "../live";
import { Badge, ErrorLine, fmtNum } from "../components/Status";
import { Dialog } from "../components/Dialog";
import { Tip } from "../components/Tip";

type AccountStatus = {
  account_id: string; paused: boolean; paused_reason: string; equity: string | null;
  cash: string | null; broker_error: string | null; positions: Record<string, string>;
  open_orders: { client_order_id: string; symbol: string; side: string; quantity: string;
    order_type: string; limit_price?: string | null; stop_price?: string | null;
    leg?: string }[];
};

// What a protective leg is, said in words (the order type alone does not tell).
const LEGS: Record<string, string> = { sl: "stop-loss leg", tp: "take-profit leg" };

export function Brokers({ session }: { session: Session }) {
  const { accounts, reload: reloadCatalog, error: catalogError } = useCatalog();
  const status = useLoad(async () => {
    const body = await ok(api.GET("/api/v1/status", {}));
    return Object.fromEntries((body.accounts as unknown as AccountStatus[])
      .map((a) => [a.account_id, a]));
  }, []);
  const live = useLiveStream({}, { onAccount: () => status.reload() });
  const [connecting, setConnecting] = useState(false);
  const [connectingExchange, setConnectingExchange] = useState(false);
  const connected = async () => {
    setConnecting(false); setConnectingExchange(false);
    await reloadCatalog(); status.reload();
  };
  return (
    <section>
      <div className="spread">
        <h1>Brokers</h1>
        <span className="row">
          <span className="small muted"><span className={`live-dot ${live ? "on" : ""}`} />
            {live ? "live" : "connecting…"}</span>
          {session.canWrite && <button type="button" onClick={() => setConnecting(true)}>
            Connect Alpaca</button>}
          {session.canWrite && <button type="button" onClick={() => setConnectingExchange(true)}>
            Connect an exchange</button>}</span>
      </div>
      <ErrorLine error={catalogError || status.error} />
      <div className="cards">
        {accounts.map((a) => (
          <AccountCard key={a.id} account={a} status={status.data?.[a.id]} session={session}
            onChanged={async () => { await reloadCatalog(); status.reload(); }} />
        ))}
      </div>
      <ConnectAlpaca open={connecting} onClose={() => setConnecting(false)} onDone={connected} />
      <ConnectExchange open={connectingExchange} onClose={() => setConnectingExchange(false)}
        onDone={connected} />
    </section>
  );
}

function AccountCard({ account: a, status: st, session, onChanged }: { account: Account;
  status?: AccountStatus; session: Session; onChanged: () => Promise<void> }) {
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const paused = st?.paused ?? a.paused;
  async function act(fn: () => Promise<unknown>) {
    setBusy(true);
    setError("");
    try { await fn(); await onChanged(); } catch (e) { setError((e as Error).message); }
    finally { setBusy(false); }
  }
  const path = { params: { path: { account_id: a.id } } };
  const positions = Object.entries(st?.positions ?? {});
  return (
    <div className="card" data-testid={`account-${a.id}`}>
      <div className="spread">
        <h2>{a.name}</h2>
        <span className="row"><Badge value={a.broker} />
          <Badge value={paused ? "paused" : "active"} /></span>
      </div>
      {paused && <p className="small muted" data-testid="paused-reason">{st?.paused_reason || a.paused_reason}</p>}
      <dl className="kv">
        <dt>Cash</dt><dd data-testid="cash">{fmtNum(st?.cash)} {a.currency}</dd>
        <dt>Equity</dt><dd data-testid="equity">{fmtNum(st?.equity)} {a.currency}</dd>
        <dt>Starting cash</dt><dd>{fmtNum(a.starting_cash)}</dd>
      </dl>
      {st?.broker_error && <p className="error">{st.broker_error}</p>}
      <h3>Positions</h3>
      {positions.length ? (
        <table className="grid" data-testid="positions"><thead><tr><th>Symbol</th><th className="num">Quantity</th></tr></thead>
          <tbody>{positions.map(([sym, q]) => <tr key={sym}><td>{sym}</td>
            <td className="num">{fmtNum(q, 4)}</td></tr>)}</tbody></table>
      ) : <p className="muted small">None.</p>}
      <h3>Open orders</h3>
      {st?.open_orders.length ? (
        <table className="grid" data-testid="open-orders"><thead><tr><th>Order</th><th>Side</th><th className="num">Qty</th>
          <th className="num">Price</th></tr></thead>
          <tbody>{st.open_orders.map((o) => <tr key={o.client_order_id}>
            <td className="small">{o.symbol} {LEGS[o.leg ?? ""] ?? o.order_type}</td><td>{o.side}</td>
            <td className="num">{fmtNum(o.quantity, 4)}</td>
            <td className="num">{fmtNum(o.limit_price ?? o.stop_price)}</td></tr>)}</tbody></table>
      ) : <p className="muted small">None.</p>}
      <BreakerForm account={a} canWrite={session.canWrite} busy={busy}
        onSave={(breaker) => act(() => ok(api.PATCH("/api/v1/accounts/{account_id}",
          { ...path, body: { breaker } as never })))} />
      {a.broker === "alpaca" && <AlpacaKeys account={a} canWrite={session.canWrite}
        onSave={(alpaca) => act(() => ok(api.PATCH("/api/v1/accounts/{account_id}",
          { ...path, body: { alpaca } as never })))} />}
      {a.broker in VENUES && <ExchangeKeys account={a} canWrite={session.canWrite}
        onSave={(exchange) => act(() => ok(api.PATCH("/api/v1/accounts/{account_id}",
          { ...path, body: { exchange } as never })))} />}
      <ErrorLine error={error} />
      {session.canWrite && (
        <div className="row">
          {paused ? (
            <button type="button" disabled={busy} onClick={() => act(() =>
              ok(api.POST("/api/v1/accounts/{account_id}/resume", path)))}>Resume</button>
          ) : (
            <button type="button" className="danger" disabled={busy} onClick={() => act(() =>
              ok(api.POST("/api/v1/accounts/{account_id}/pause", path)))}>Pause</button>
          )}
        </div>
      )}
    </div>
  );
}

type Breaker = { base_equity: string; global_sl_pct: string; global_tp_pct: string;
  liquidate_on_tp: boolean; active: boolean };

function BreakerForm({ account, canWrite, busy, onSave }: { account: Account; canWrite: boolean;
  busy: boolean; onSave: (b: Breaker) => void }) {
  const b = account.breaker as Partial<Breaker> | null;
  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    onSave({ base_equity: String(f.get("base_equity")), global_sl_pct: String(f.get("sl")),
      global_tp_pct: String(f.get("tp")), liquidate_on_tp: !!f.get("liq"),
      active: !!f.get("active") });
  }
  const id = account.id;
  return (
    <details className="advanced">
      <summary>Breaker {b?.active ? "(armed)" : "(off)"}</summary>
      <form onSubmit={submit}>
        <fieldset disabled={!canWrite} style={{ border: 0, padding: 0, margin: 0 }}>
          <div className="form-grid">
            <div><label htmlFor={`be-${id}`}>Base equity <Tip text="The equity the thresholds are percentages of, in the account's currency." /></label>
              <input id={`be-${id}`} name="base_equity" defaultValue={b?.base_equity ?? account.starting_cash} /></div>
            <div><label htmlFor={`sl-${id}`}>Stop at % <Tip text="Liquidate and pause when equity falls to this percent of base equity (e.g. 80)." /></label>
              <input id={`sl-${id}`} name="sl" defaultValue={b?.global_sl_pct ?? "80"} /></div>
            <div><label htmlFor={`tp-${id}`}>Take profit at % <Tip text="Trip when equity reaches this percent of base equity (e.g. 120)." /></label>
              <input id={`tp-${id}`} name="tp" defaultValue={b?.global_tp_pct ?? "120"} /></div>
          </div>
          <label><input type="checkbox" name="liq" defaultChecked={!!b?.liquidate_on_tp} /> Liquidate on take-profit
            <Tip text="On a take-profit trip, also close every position." /></label>
          <label><input type="checkbox" name="active" defaultChecked={!!b?.active} /> Armed
            <Tip text="Checked every 10 s while armed." /></label>
          {canWrite && <button type="submit" disabled={busy}>Save breaker</button>}
        </fieldset>
      </form>
    </details>
  );
}

function AlpacaKeys({ account, canWrite, onSave }: { account: Account; canWrite: boolean;
  onSave: (a: { key_id: string; secret_key: string; paper: boolean }) => void }) {
  const current = account.alpaca as { key_id?: string; paper?: boolean } | null;
  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    onSave({ key_id: String(f.get("key_id")), secret_key: String(f.get("secret_key")),
      paper: !!f.get("paper") });
  }
  return (
    <details className="advanced">
      <summary>Alpaca keys</summary>
      <form onSubmit={submit}>
        <fieldset disabled={!canWrite} style={{ border: 0, padding: 0, margin: 0 }}>
          <label htmlFor={`kid-${account.id}`}>Key id</label>
          <input id={`kid-${account.id}`} name="key_id" defaultValue={current?.key_id ?? ""} />
          <label htmlFor={`sk-${account.id}`}>Secret key <Tip text="Stored sealed; never shown back. Leave empty to keep the stored one." /></label>
          <input id={`sk-${account.id}`} name="secret_key" type="password" autoComplete="off" placeholder="(unchanged)" />
          <label><input type="checkbox" name="paper" defaultChecked={current?.paper ?? true} /> Paper trading</label>
          {canWrite && <button type="submit">Save keys</button>}
        </fieldset>
      </form>
    </details>
  );
}

function ConnectAlpaca({ open, onClose, onDone }: { open: boolean; onClose: () => void;
  onDone: () => Promise<void> }) {
  const [error, setError] = useState("");
  const { accounts } = useCatalog();
  const tenants = [...new Set(accounts.map((a) => a.tenant_id))];
  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    try {
      await ok(api.POST("/api/v1/accounts", { body: {
        tenant_id: String(f.get("tenant_id")), name: String(f.get("name")), broker: "alpaca",
        alpaca: { key_id: String(f.get("key_id")), secret_key: String(f.get("secret_key")),
          paper: !!f.get("paper") } } as never }));
      await onDone();
    } catch (err) { setError((err as Error).message); }
  }
  return (
    <Dialog title="Connect an Alpaca account" open={open} onClose={onClose}>
      <form onSubmit={submit}>
        <label htmlFor="ca-tenant">Tenant</label>
        <select id="ca-tenant" name="tenant_id">{tenants.map((t) => <option key={t}>{t}</option>)}</select>
        <label htmlFor="ca-name">Name</label><input id="ca-name" name="name" required />
        <label htmlFor="ca-key">Key id</label><input id="ca-key" name="key_id" required />
        <label htmlFor="ca-secret">Secret key <Tip text="Sent once, stored sealed; the console never shows it back." /></label>
        <input id="ca-secret" name="secret_key" type="password" autoComplete="off" required />
        <label><input type="checkbox" name="paper" defaultChecked /> Paper trading</label>
        <ErrorLine error={error} />
        <button type="submit">Connect</button>
      </form>
    </Dialog>
  );
}

// The crypto venues (ccxt), with what each needs beyond a key and a secret.
type Venue = { label: string; markets: ("spot" | "perp")[]; passphrase?: boolean;
  accountId?: boolean; keyHint: string };
const VENUES: Record<string, Venue> = {
  binance: { label: "Binance", markets: ["spot", "perp"],
    keyHint: "An API key with spot (and USDⓈ-M futures for perpetuals) trading enabled." },
  bybit: { label: "Bybit", markets: ["spot", "perp"],
    keyHint: "A unified-account API key with spot (and contract, for USDT perpetuals) trading." },
  okx: { label: "OKX", markets: ["spot", "perp"], passphrase: true,
    keyHint: "An API key with trade permission, and the passphrase chosen with it." },
  orderly: { label: "Orderly Network", markets: ["perp"], accountId: true,
    keyHint: "The Orderly key (ed25519:...) registered for your account." },
};

type Exchange = { api_key: string; secret: string; password: string; account_id: string;
  market: string; leverage: number | null; margin_mode: string; testnet: boolean };

/** The fields of an exchange account (the connect dialog's and the keys panel's). */
function ExchangeFields({ venue, current, prefix }: { venue: string;
  current?: Partial<Exchange> | null; prefix: string }) {
  const v = VENUES[venue];
  const [market, setMarket] = useState(current?.market ?? v.markets[0]);
  const editing = !!current;
  return (
    <>
      <label htmlFor={`${prefix}-key`}>API key <Tip text={v.keyHint} /></label>
      <input id={`${prefix}-key`} name="api_key" required defaultValue={current?.api_key ?? ""} />
      <label htmlFor={`${prefix}-secret`}>{venue === "orderly" ? "Orderly secret" : "Secret"}{" "}
        <Tip text={editing ? "Stored sealed; never shown back. Leave empty to keep the stored one."
          : "Sent once, stored sealed; the console never shows it back."} /></label>
      <input id={`${prefix}-secret`} name="secret" type="password" autoComplete="off"
        required={!editing} placeholder={editing ? "(unchanged)" : ""} />
      {v.passphrase && <>
        <label htmlFor={`${prefix}-pass`}>Passphrase <Tip text="The API key's passphrase (OKX asks for it on every request). Stored sealed." /></label>
        <input id={`${prefix}-pass`} name="password" type="password" autoComplete="off"
          required={!editing} placeholder={editing ? "(unchanged)" : ""} /></>}
      {v.accountId && <>
        <label htmlFor={`${prefix}-acct`}>Orderly account id <Tip text="The account id (0x...) the key belongs to." /></label>
        <input id={`${prefix}-acct`} name="account_id" required defaultValue={current?.account_id ?? ""} /></>}
      <label htmlFor={`${prefix}-market`}>Market <Tip text="Spot, or linear perpetuals settled in the quote currency (with leverage and reduce-only exits)." /></label>
      <select id={`${prefix}-market`} name="market" value={market}
        onChange={(e) => setMarket(e.target.value)}>
        {v.markets.map((m) => <option key={m} value={m}>{m === "perp" ? "perpetuals" : "spot"}</option>)}
      </select>
      {market === "perp" && <div className="form-grid">
        <div><label htmlFor={`${prefix}-lev`}>Leverage <Tip text="Set on the venue for each perpetual before its first order (1-125). Empty: the venue's current setting." /></label>
          <input id={`${prefix}-lev`} name="leverage" type="number" min={1} max={125}
            defaultValue={current?.leverage ?? ""} /></div>
        <div><label htmlFor={`${prefix}-margin`}>Margin mode</label>
          <select id={`${prefix}-margin`} name="margin_mode" defaultValue={current?.margin_mode ?? "cross"}>
            <option value="cross">cross</option><option value="isolated">isolated</option>
          </select></div>
      </div>}
      <label><input type="checkbox" name="testnet" defaultChecked={current?.testnet ?? true} /> Testnet
        <Tip text="Trade on the venue's test network (demo trading on OKX). Uncheck only for real money." /></label>
    </>
  );
}

/** What the form holds, as the API takes it (empty secrets: keep the stored ones). */
function exchangeOf(f: FormData): Exchange {
  const leverage = String(f.get("leverage") ?? "");
  return { api_key: String(f.get("api_key") ?? ""), secret: String(f.get("secret") ?? ""),
    password: String(f.get("password") ?? ""), account_id: String(f.get("account_id") ?? ""),
    market: String(f.get("market") ?? "spot"), leverage: leverage ? Number(leverage) : null,
    margin_mode: String(f.get("margin_mode") ?? "cross"), testnet: !!f.get("testnet") };
}

function ExchangeKeys({ account, canWrite, onSave }: { account: Account; canWrite: boolean;
  onSave: (e: Exchange) => void }) {
  const current = account.exchange as Partial<Exchange> | null;
  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    onSave(exchangeOf(new FormData(e.currentTarget)));
  }
  return (
    <details className="advanced">
      <summary>{VENUES[account.broker].label} keys {current?.testnet ? "(testnet)" : ""}</summary>
      <form onSubmit={submit}>
        <fieldset disabled={!canWrite} style={{ border: 0, padding: 0, margin: 0 }}>
          <ExchangeFields venue={account.broker} current={current ?? {}} prefix={`ex-${account.id}`} />
          {canWrite && <button type="submit">Save keys</button>}
        </fieldset>
      </form>
    </details>
  );
}

function ConnectExchange({ open, onClose, onDone }: { open: boolean; onClose: () => void;
  onDone: () => Promise<void> }) {
  const [error, setError] = useState("");
  const [venue, setVenue] = useState("binance");
  const { accounts } = useCatalog();
  const tenants = [...new Set(accounts.map((a) => a.tenant_id))];
  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const exchange = exchangeOf(f);
    try {
      await ok(api.POST("/api/v1/accounts", { body: {
        tenant_id: String(f.get("tenant_id")), name: String(f.get("name")), broker: venue,
        currency: String(f.get("currency") || "USDT"), exchange } as never }));
      await onDone();
    } catch (err) { setError((err as Error).message); }
  }
  return (
    <Dialog title="Connect an exchange account" open={open} onClose={onClose}>
      <form onSubmit={submit}>
        <label htmlFor="cx-venue">Exchange</label>
        <select id="cx-venue" name="venue" value={venue} onChange={(e) => setVenue(e.target.value)}>
          {Object.entries(VENUES).map(([id, v]) => <option key={id} value={id}>{v.label}</option>)}
        </select>
        <label htmlFor="cx-tenant">Tenant</label>
        <select id="cx-tenant" name="tenant_id">{tenants.map((t) => <option key={t}>{t}</option>)}</select>
        <label htmlFor="cx-name">Name</label><input id="cx-name" name="name" required />
        <label htmlFor="cx-currency">Currency <Tip text="The quote currency the account is valued in (USDT, USDC, ...)." /></label>
        <input id="cx-currency" key={`currency-${venue}`} name="currency" defaultValue={venue === "orderly" ? "USDC" : "USDT"} />
        <ExchangeFields key={`fields-${venue}`} venue={venue} prefix="cx" />
        <ErrorLine error={error} />
        <button type="submit">Connect</button>
      </form>
    </Dialog>
  );
}
