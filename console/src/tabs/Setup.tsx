import { useEffect, useState, type FormEvent } from "react";
import { api, ok, type SignalRow, type Strategy } from "../api/client";
import type { Session } from "../session";
import { useCatalog } from "../catalog";
import { Badge, ErrorLine, fmtTime } from "../components/Status";
import { Dialog } from "../components/Dialog";
import { SecretOnce } from "../components/SecretOnce";
import { TemplateGenerator } from "../components/Template";
import { Tip } from "../components/Tip";
import { go } from "../route";

type Revealed = { strategyId: string; secret: string };

/** The strategy's webhook URL: /webhook/<tenant>/<slug>, as contracts/webhook_urls.py
 * builds it (slugs are unique within a tenant only). */
function webhookUrl(session: Session, s: Strategy): string {
  return `${session.who.webhook_base_url}/webhook/${s.tenant_id}/${s.slug}`;
}

/** The newest signal of each strategy (one indexed query each). */
function useLastSignals(strategies: Strategy[]): Record<string, SignalRow | null> {
  const [last, setLast] = useState<Record<string, SignalRow | null>>({});
  const ids = strategies.map((s) => s.id).join(",");
  useEffect(() => {
    let live = true;
    Promise.all(strategies.map(async (s) => {
      const page = await ok(api.GET("/api/v1/signals",
        { params: { query: { strategy_id: s.id, limit: 1 } } })).catch(() => null);
      return [s.id, page?.signals[0] ?? null] as const;
    })).then((pairs) => { if (live) setLast(Object.fromEntries(pairs)); });
    return () => { live = false; };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [ids]);
  return last;
}

export function Setup({ session }: { session: Session }) {
  const { strategies, error, loaded, accountName, reload } = useCatalog();
  const last = useLastSignals(strategies);
  const [creating, setCreating] = useState(false);
  const [open, setOpen] = useState<string>("");
  const [revealed, setRevealed] = useState<Revealed | null>(null);
  const [actionError, setActionError] = useState("");

  async function rotate(s: Strategy) {
    if (!confirm(`Rotate the secret of ${s.name}? The old one keeps working for an hour.`)) return;
    try {
      const answer = await ok(api.POST("/api/v1/strategies/{strategy_id}/rotate",
        { params: { path: { strategy_id: s.id } }, body: { overlap_s: 3600 } }));
      setRevealed({ strategyId: s.id, secret: answer.secret });
      setOpen(s.id);
      await reload();
    } catch (e) {
      setActionError((e as Error).message);
    }
  }

  return (
    <section>
      <div className="spread">
        <h1>Webhook Setup</h1>
        {session.canWrite && (
          <button type="button" onClick={() => setCreating(true)}>New strategy</button>
        )}
      </div>
      <ErrorLine error={error || actionError} />
      <div className="table-wrap">
        <table className="grid stack" data-testid="strategies">
          <thead><tr><th>Strategy</th><th className="hide-phone">Account</th><th className="hide-phone">Webhook URL</th>
            <th>Status</th><th>Last signal</th><th /></tr></thead>
          <tbody>
            {strategies.map((s) => {
              const row = last[s.id];
              return (
                <tr key={s.id} data-testid={`strategy-${s.slug}`}>
                  <td><strong>{s.name}</strong><div className="muted small">{s.slug}</div></td>
                  <td className="hide-phone">{accountName(s.account_id)}</td>
                  <td className="hide-phone mono small url">{webhookUrl(session, s)}</td>
                  <td><Badge value={s.enabled ? "enabled" : "disabled"} /></td>
                  <td className="small last">{row ? <>
                    <Badge value={row.status} /> <span className="muted">{fmtTime(row.received_at)}</span>
                  </> : <span className="muted">none yet</span>}</td>
                  <td className="row-actions"><div className="actions">
                    <button type="button" className="ghost"
                      onClick={() => setOpen(open === s.id ? "" : s.id)}>
                      {open === s.id ? "Hide template" : "Alert template"}</button>
                    {session.canWrite && <>
                      <button type="button" className="ghost" onClick={() => rotate(s)}>
                        Rotate secret</button>
                      <button type="button" className="ghost" onClick={() => go("test", s.id)}>
                        Test</button>
                    </>}
                  </div></td>
                </tr>
              );
            })}
            {loaded && strategies.length === 0 && (
              <tr><td colSpan={6} className="muted">No strategies yet.</td></tr>)}
          </tbody>
        </table>
      </div>
      {strategies.filter((s) => s.id === open).map((s) => (
        <div className="card" key={s.id} style={{ marginTop: 12 }}>
          <h2>{s.name}: alert template</h2>
          {revealed?.strategyId === s.id && (
            <SecretOnce secret={revealed.secret} onDone={() => setRevealed(null)} />
          )}
          <TemplateGenerator strategy={s} url={webhookUrl(session, s)}
            secret={revealed?.strategyId === s.id ? revealed.secret : undefined} />
        </div>
      ))}
      <CreateStrategy open={creating} onClose={() => setCreating(false)}
        onCreated={async (strategy, secret) => {
          setCreating(false);
          await reload();
          setRevealed({ strategyId: strategy.id, secret });
          setOpen(strategy.id);
        }} />
    </section>
  );
}

const SIZING = [
  ["auto", "auto: the alert's quantity, else 2 % of equity"],
  ["percent_equity", "percent of equity"],
  ["alert_contracts", "the alert's contracts"],
  ["fixed_quantity", "fixed quantity"],
  ["notional", "notional (USD)"],
] as const;

function CreateStrategy({ open, onClose, onCreated }: { open: boolean; onClose: () => void;
  onCreated: (s: Strategy, secret: string) => void }) {
  const { accounts } = useCatalog();
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const text = (k: string) => String(form.get(k) ?? "").trim();
    const account = accounts.find((a) => a.id === text("account_id"));
    const body: Record<string, unknown> = {
      name: text("name"), account_id: text("account_id"), tenant_id: account?.tenant_id ?? "",
      sizing_mode: text("sizing_mode"),
    };
    for (const k of ["symbol", "percent_of_equity", "fixed_quantity", "notional", "sl_pct",
      "tp_pct", "max_order_notional", "daily_order_limit", "trailing_stop_pct"]) {
      if (text(k)) body[k] = text(k);
    }
    if (text("order_type")) body.order_type = text("order_type");
    if (text("time_in_force")) body.time_in_force = text("time_in_force");
    if (text("allowed_symbols")) body.allowed_symbols = text("allowed_symbols").split(/[\s,]+/);
    if (form.get("attach_sl_tp")) body.attach_sl_tp = true;
    setBusy(true);
    setError("");
    try {
      const created = await ok(api.POST("/api/v1/strategies", { body: body as never }));
      onCreated(created.strategy, created.secret);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  }
  return (
    <Dialog title="New strategy" open={open} onClose={onClose}>
      <form onSubmit={submit} data-testid="create-strategy">
        <div className="form-grid">
          <div><label htmlFor="cs-name">Name <Tip text="Shown everywhere; its slug makes the webhook URL." /></label>
            <input id="cs-name" name="name" required maxLength={128} /></div>
          <div><label htmlFor="cs-account">Account <Tip text="The broker account its orders go to." /></label>
            <select id="cs-account" name="account_id" required>
              {accounts.map((a) => <option key={a.id} value={a.id}>{a.name} ({a.broker})</option>)}
            </select></div>
          <div><label htmlFor="cs-sizing">Sizing <Tip text="How an entry's size is reached." /></label>
            <select id="cs-sizing" name="sizing_mode" defaultValue="auto">
              {SIZING.map(([v, l]) => <option key={v} value={v}>{l}</option>)}
            </select></div>
          <div><label htmlFor="cs-pct">Percent of equity <Tip text="Size of an entry as a share of equity, in percent (0–100)." /></label>
            <input id="cs-pct" name="percent_of_equity" inputMode="decimal" placeholder="2" /></div>
        </div>
        <details className="advanced">
          <summary>Advanced</summary>
          <div className="form-grid">
            <div><label htmlFor="cs-symbol">Symbol <Tip text="What strategy-routed alerts trade (they name no symbol)." /></label>
              <input id="cs-symbol" name="symbol" placeholder="GLD" /></div>
            <div><label htmlFor="cs-fixed">Fixed quantity <Tip text="Units per entry with fixed-quantity sizing." /></label>
              <input id="cs-fixed" name="fixed_quantity" inputMode="decimal" /></div>
            <div><label htmlFor="cs-notional">Notional <Tip text="USD per entry with notional sizing." /></label>
              <input id="cs-notional" name="notional" inputMode="decimal" /></div>
            <div><label htmlFor="cs-ot">Order type <Tip text="market, limit or stop (the alert's orderType wins)." /></label>
              <select id="cs-ot" name="order_type" defaultValue="">
                <option value="">market (default)</option><option value="limit">limit</option>
                <option value="stop">stop</option></select></div>
            <div><label htmlFor="cs-tif">Time in force <Tip text="day, gtc or ioc." /></label>
              <select id="cs-tif" name="time_in_force" defaultValue="">
                <option value="">day (default)</option><option value="gtc">gtc</option>
                <option value="ioc">ioc</option></select></div>
            <div><label htmlFor="cs-sl">Stop-loss % <Tip text="Stop leg this many percent from the fill (with attach SL/TP)." /></label>
              <input id="cs-sl" name="sl_pct" inputMode="decimal" /></div>
            <div><label htmlFor="cs-tp">Take-profit % <Tip text="Take-profit leg this many percent from the fill." /></label>
              <input id="cs-tp" name="tp_pct" inputMode="decimal" /></div>
            <div><label htmlFor="cs-trail">Trailing stop % <Tip text="The stop follows the market at this distance, in percent." /></label>
              <input id="cs-trail" name="trailing_stop_pct" inputMode="decimal" /></div>
            <div><label htmlFor="cs-maxn">Max order notional <Tip text="Refuse entries above this many USD (default 50,000)." /></label>
              <input id="cs-maxn" name="max_order_notional" inputMode="decimal" /></div>
            <div><label htmlFor="cs-daily">Daily order limit <Tip text="Entries per day (counted in the strategy's day timezone)." /></label>
              <input id="cs-daily" name="daily_order_limit" inputMode="numeric" /></div>
            <div><label htmlFor="cs-allowed">Allowed symbols <Tip text="Comma-separated; empty allows any." /></label>
              <input id="cs-allowed" name="allowed_symbols" placeholder="AAPL, MSFT" /></div>
            <div><label><input type="checkbox" name="attach_sl_tp" /> Attach SL/TP legs
              <Tip text="After an entry fills, place the stop-loss and take-profit above as an OCO pair." /></label></div>
          </div>
        </details>
        <ErrorLine error={error} />
        <div className="row"><button type="submit" disabled={busy}>Create</button>
          <button type="button" className="ghost" onClick={onClose}>Cancel</button></div>
      </form>
    </Dialog>
  );
}
