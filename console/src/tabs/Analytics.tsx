import { useState } from "react";
import { api, ok } from "../api/client";
import { useCatalog } from "../catalog";
import { useLoad } from "../hooks";
import { ErrorLine, fmtNum } from "../components/Status";
import { EquityChart } from "../components/EquityChart";
import { Tip } from "../components/Tip";

const PERIODS = [["1", "24 hours"], ["7", "7 days"], ["30", "30 days"], ["90", "90 days"]];

function pct(v: number | null | undefined): string {
  return v === null || v === undefined ? "—" : `${fmtNum(v * 100, 1)} %`;
}

function Stat({ label, value, tip, testId }: { label: string; value: string; tip: string;
  testId?: string }) {
  return <div className="stat"><div className="label">{label}<Tip text={tip} /></div>
    <div className="value" data-testid={testId}>{value}</div></div>;
}

export function Analytics({ theme }: { theme: string }) {
  const { strategies, accounts, strategyName } = useCatalog();
  const [strategy, setStrategy] = useState("");
  const [account, setAccount] = useState("");
  const [days, setDays] = useState("7");
  const figures = useLoad(() => ok(api.GET("/api/v1/analytics", { params: { query: {
    ...(strategy ? { strategy_id: strategy } : {}), ...(account ? { account_id: account } : {}),
    since: String(Date.now() / 1000 - Number(days) * 86400) } } })), [strategy, account, days]);
  const f = figures.data;
  return (
    <section>
      <h1>Analytics</h1>
      <div className="toolbar">
        <div className="field"><label htmlFor="a-strategy">Strategy</label>
          <select id="a-strategy" value={strategy} onChange={(e) => setStrategy(e.target.value)}>
            <option value="">all</option>
            {strategies.map((s) => <option key={s.id} value={s.id}>{s.name}</option>)}</select></div>
        <div className="field"><label htmlFor="a-account">Account</label>
          <select id="a-account" value={account} onChange={(e) => setAccount(e.target.value)}>
            <option value="">all</option>
            {accounts.map((a) => <option key={a.id} value={a.id}>{a.name}</option>)}</select></div>
        <div className="field"><label htmlFor="a-period">Period</label>
          <select id="a-period" value={days} onChange={(e) => setDays(e.target.value)}>
            {PERIODS.map(([v, l]) => <option key={v} value={v}>{l}</option>)}</select></div>
        <button type="button" className="ghost" onClick={figures.reload}>Refresh</button>
      </div>
      <ErrorLine error={figures.error} />
      <div className="stats" data-testid="stats">
        <Stat label="Signals" value={f ? String(f.signals) : "—"} testId="stat-signals"
          tip={`Alerts received in the period${f ? ` (${f.dry_runs} dry runs)` : ""}.`} />
        <Stat label="Success rate" value={pct(f?.success_rate)}
          tip="Executed / (executed + failed)." />
        <Stat label="Latency p50" value={f?.latency_p50_ms != null ? `${fmtNum(f.latency_p50_ms, 0)} ms` : "—"}
          tip="Median time from receipt to the terminal event. Unit: milliseconds." />
        <Stat label="Latency p99" value={f?.latency_p99_ms != null ? `${fmtNum(f.latency_p99_ms, 0)} ms` : "—"}
          tip="99th percentile of receipt to terminal. Unit: milliseconds." />
        <Stat label="Fill rate" value={pct(f?.fill_rate)}
          tip="Orders that filled / orders sent (dry runs aside)." />
        <Stat label="Realised P&L" value={f ? fmtNum(f.realised_pnl) : "—"}
          tip="P&L realised by the period's fills, protective legs included. Unit: account currency." />
        <Stat label="Slippage" value={f?.slippage_bps_avg != null ? `${fmtNum(f.slippage_bps_avg)} bps` : "—"}
          tip="Average fill against the alert's price; positive = worse. Unit: basis points." />
        <Stat label="Stop-loss hits" value={pct(f?.sl_hit_rate)}
          tip="Positions closed by their stop-loss leg / closed by any leg." />
      </div>
      <div className="card" style={{ marginBottom: 12 }}>
        <h2>Equity curve <Tip text="Starting cash (when one account is chosen) plus the cumulative realised P&L." /></h2>
        {f && f.equity_curve.length > 0 ? <EquityChart points={f.equity_curve} theme={theme} />
          : <div className="chart muted" style={{ display: "grid", placeItems: "center" }}>
            No realised P&L in this period.</div>}
      </div>
      <div className="cards">
        <div className="card"><h2>Error reasons</h2>
          {f?.error_reasons.length ? <table className="grid"><thead><tr><th>Code</th>
            <th className="num">Count</th><th>Example</th></tr></thead><tbody>
            {f.error_reasons.map((e) => <tr key={e.code}><td className="mono">{e.code}</td>
              <td className="num">{e.count}</td><td className="wrap small">{e.example}</td></tr>)}
          </tbody></table> : <p className="muted">None.</p>}</div>
        <div className="card"><h2>Per strategy</h2>
          {f?.strategies.length ? <table className="grid"><thead><tr><th>Strategy</th>
            <th className="num">Signals</th><th className="num">Success</th><th className="num">P&L</th>
          </tr></thead><tbody>
            {f.strategies.map((s) => <tr key={s.strategy_id}><td>{strategyName(s.strategy_id)}</td>
              <td className="num">{s.signals}</td><td className="num">{pct(s.success_rate)}</td>
              <td className="num">{fmtNum(s.realised_pnl)}</td></tr>)}
          </tbody></table> : <p className="muted">No signals.</p>}</div>
      </div>
      {f?.truncated && <p className="muted small">The period holds more signals than one
        answer covers; the figures are of the newest 20,000.</p>}
    </section>
  );
}
