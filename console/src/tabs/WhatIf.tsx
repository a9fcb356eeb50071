import { useEffect, useState, type FormEvent } from "react";
import { api, ok, type Schemas } from "../api/client";
import { useCatalog } from "../catalog";
import { ErrorLine, fmtNum, fmtTime } from "../components/Status";
import { Tip } from "../components/Tip";
import { go } from "../route";
import { GROUPS } from "../settings";

type Report = Schemas["WhatIfReport"];
type Side = Report["recorded"];
type Change = { name: string; value: string };

// What a what-if can change: every strategy setting the Bots tab shows, the breaker's,
// and the paper broker's costs (the names `tradehooks what-if --set` takes).
const SETTINGS: { key: string; label: string }[] = [
  ...GROUPS.flatMap((g) => g.settings.map((s) => ({ key: s.key, label: s.label }))),
  { key: "breaker.active", label: "Breaker: on" },
  { key: "breaker.base_equity", label: "Breaker: base equity" },
  { key: "breaker.global_sl_pct", label: "Breaker: stop-loss (% of base)" },
  { key: "breaker.global_tp_pct", label: "Breaker: take-profit (% of base)" },
  { key: "breaker.liquidate_on_tp", label: "Breaker: liquidate on take-profit" },
  { key: "account.slippage_bps", label: "Paper slippage (bps)" },
  { key: "account.fee_bps", label: "Paper fee (bps)" },
];

const ROWS: { key: keyof Side; label: string; money?: boolean; tip: string }[] = [
  { key: "orders", label: "Orders", tip: "Orders risk asked for, one per signal it let through." },
  { key: "fills", label: "Fills", tip: "Every fill: entries, exits, legs and breaker liquidations." },
  { key: "legs_placed", label: "Legs placed", tip: "Stop-loss and take-profit legs asked for after entries filled." },
  { key: "legs_filled", label: "Legs filled", tip: "Legs the market reached." },
  { key: "breaker_trips", label: "Breaker trips", tip: "Times the portfolio breaker tripped." },
  { key: "refused", label: "Refused", tip: "Signals risk refused (a limit, a pause, no position)." },
  { key: "rejected", label: "Rejected", tip: "Orders the broker refused." },
  { key: "resting", label: "Resting", tip: "Orders still resting at the end." },
  { key: "realised_pnl", label: "Realised P&L", money: true, tip: "Unit: the account's currency." },
  { key: "fees", label: "Fees", money: true, tip: "Unit: the account's currency." },
  { key: "equity", label: "Equity", money: true, tip: "Cash plus positions at the last price seen. Unit: the account's currency." },
  { key: "max_drawdown", label: "Max drawdown", money: true, tip: "Deepest fall of equity from its peak over the period. Unit: the account's currency." },
];

/** `5` → 5, `true` → true, `null` → null, anything else stays text (as `--set` reads it). */
function parseValue(text: string): unknown {
  try { return JSON.parse(text); } catch { return text; }
}

function cell(side: Side, row: (typeof ROWS)[number]): string {
  const v = side[row.key];
  return row.money ? fmtNum(v as string) : String(v);
}

function fills(list: { side?: string; quantity?: string; price?: string }[]): string {
  return list.map((f) => `${f.side} ${f.quantity} @ ${f.price}`).join(", ");
}

/** What if: an account's recorded signals decided again, offline, with other settings,
 * beside what was recorded. Nothing is traded: any key may ask. */
export function WhatIf({ accountId }: { accountId: string }) {
  const { accounts, strategies } = useCatalog();
  const [account, setAccount] = useState(accountId);
  const [strategy, setStrategy] = useState("");
  const [since, setSince] = useState("");
  const [until, setUntil] = useState("");
  const [changes, setChanges] = useState<Change[]>([{ name: "sl_pct", value: "" }]);
  const [report, setReport] = useState<Report>();
  const [error, setError] = useState("");
  const [running, setRunning] = useState(false);
  useEffect(() => {
    if (!account && accounts.length) setAccount(accounts[0].id);
  }, [accounts, account]);
  const own = strategies.filter((s) => s.account_id === account);

  function edit(i: number, change: Partial<Change>) {
    setChanges((old) => old.map((c, n) => (n === i ? { ...c, ...change } : c)));
  }

  async function run(e: FormEvent) {
    e.preventDefault();
    setError("");
    setRunning(true);
    const body: Schemas["WhatIfIn"] = {
      changes: Object.fromEntries(changes.filter((c) => c.value.trim() !== "")
        .map((c) => [c.name, parseValue(c.value.trim())])),
      strategy, since: since ? new Date(since).toISOString() : null,
      until: until ? new Date(until).toISOString() : null, breaker_interval_s: null };
    try {
      setReport(await ok(api.POST("/api/v1/accounts/{account_id}/what-if", {
        params: { path: { account_id: account } }, body })));
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setRunning(false);
    }
  }

  return (
    <section>
      <h1>What if</h1>
      <p className="muted">The account's recorded signals decided again with other settings —
        by the pipeline's own code: risk, the paper broker, stop-loss and take-profit legs,
        trailing stops and the breaker — offline, beside what really happened. Prices are
        the alerts' and the recorded fills'. The same from the command line:{" "}
        <code>tradehooks what-if ACCOUNT --set sl_pct=1</code>.</p>
      <form className="card" onSubmit={run} data-testid="whatif-form">
        <div className="toolbar">
          <div className="field"><label htmlFor="w-account">Account</label>
            <select id="w-account" value={account} onChange={(e) => { setAccount(e.target.value);
              setStrategy(""); }}>
              {accounts.map((a) => <option key={a.id} value={a.id}>{a.name}</option>)}</select></div>
          <div className="field"><label htmlFor="w-strategy">Strategy</label>
            <select id="w-strategy" value={strategy} onChange={(e) => setStrategy(e.target.value)}>
              <option value="">all</option>
              {own.map((s) => <option key={s.id} value={s.id}>{s.name}</option>)}</select></div>
          <div className="field"><label htmlFor="w-since">From</label>
            <input id="w-since" type="datetime-local" value={since}
              onChange={(e) => setSince(e.target.value)} /></div>
          <div className="field"><label htmlFor="w-until">Until</label>
            <input id="w-until" type="datetime-local" value={until}
              onChange={(e) => setUntil(e.target.value)} /></div>
        </div>
        <h2>Changes <Tip text="Each setting as it would have been instead; empty values are left out. Numbers, true, false and null are read as such." /></h2>
        <table className="grid" data-testid="whatif-changes"><tbody>
          {changes.map((c, i) => (
            <tr key={i}>
              <td><select aria-label={`Setting ${i + 1}`} value={c.name}
                onChange={(e) => edit(i, { name: e.target.value })}>
                {SETTINGS.map((s) => <option key={s.key} value={s.key}>{s.label}</option>)}
              </select></td>
              <td><input aria-label={`Value ${i + 1}`} value={c.value} placeholder="new value"
                onChange={(e) => edit(i, { value: e.target.value })} /></td>
              <td><button type="button" className="ghost" aria-label={`Remove change ${i + 1}`}
                onClick={() => setChanges((old) => old.filter((_, n) => n !== i))}>✕</button></td>
            </tr>))}
        </tbody></table>
        <div className="row">
          <button type="button" className="ghost"
            onClick={() => setChanges((old) => [...old, { name: "fixed_quantity", value: "" }])}>
            Add a change</button>
          <button type="submit" disabled={!account || running}>
            {running ? "Replaying…" : "Replay"}</button>
        </div>
        <ErrorLine error={error} />
      </form>
      {report && <Result report={report} />}
    </section>
  );
}

function Result({ report }: { report: Report }) {
  const { recorded, replayed } = report;
  const trips = [...recorded.trips.map((t) => ({ ...t, side: "recorded" })),
    ...replayed.trips.map((t) => ({ ...t, side: "replayed" }))];
  return (
    <div className="cards" style={{ marginTop: 12 }}>
      <div className="card">
        <h2>Side by side</h2>
        <p className="muted small">{report.signals} recorded signal(s);{" "}
          {Object.keys(report.changes).length ? Object.entries(report.changes)
            .map(([k, v]) => `${k} = ${JSON.stringify(v)}`).join(", ") : "nothing changed"}.</p>
        <table className="grid" data-testid="whatif-table"><thead><tr><th></th>
          <th className="num">Recorded</th><th className="num">Replayed</th></tr></thead><tbody>
          {ROWS.map((row) => {
            const was = cell(recorded, row);
            const now = cell(replayed, row);
            return <tr key={row.key} data-row={row.key} className={was !== now ? "changed" : ""}>
              <td>{row.label}<Tip text={row.tip} /></td><td className="num">{was}</td>
              <td className="num">{was !== now ? <strong>{now}</strong> : now}</td></tr>;
          })}
        </tbody></table>
        {trips.length > 0 && <ul className="small" data-testid="whatif-trips">
          {trips.map((t, i) => <li key={i}>{t.side}: {t.kind === "sl" ? "stop-loss" : "take-profit"}{" "}
            breaker tripped {fmtTime(t.at)} at equity {fmtNum(t.equity)}</li>)}</ul>}
      </div>
      <div className="card">
        <h2>Signals that came out differently</h2>
        {report.changed.length === 0 ? <p className="muted">None: every signal filled as
          recorded.</p> : <table className="grid" data-testid="whatif-changed"><thead><tr>
            <th>Signal</th><th>Recorded</th><th>Replayed</th></tr></thead><tbody>
          {report.changed.slice(0, 200).map((c) => (
            <tr key={c.signal_id}><td><a className="mono" href={`#/logs/${c.signal_id}`}
              onClick={(e) => { e.preventDefault(); go("logs", c.signal_id ?? ""); }}>
              {c.signal_id?.slice(0, 8)}</a></td>
              <td className="wrap small">{fills(c.recorded ?? []) || "no fill"}</td>
              <td className="wrap small">{c.refused ? `refused: ${c.refused}`
                : fills(c.replayed ?? []) || "no fill"}</td></tr>))}
        </tbody></table>}
        {report.changed.length > 200 && <p className="muted small">… and{" "}
          {report.changed.length - 200} more (the API answer has them all).</p>}
      </div>
    </div>
  );
}
