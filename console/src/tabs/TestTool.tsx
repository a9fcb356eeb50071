import { useEffect, useState, type FormEvent } from "react";
import { api, ok } from "../api/client";
import type { Session } from "../session";
import { useCatalog } from "../catalog";
import { ErrorLine } from "../components/Status";
import { go } from "../route";

const SAMPLE = JSON.stringify({ symbol: "AAPL", action: "buy", quantity: "5",
  price: "190.50" }, null, 2);

type Sent = { signal_id: string; dry_run: boolean };

/** Send a test alert to a strategy: a dry run, or for real on a paper account. */
export function TestTool({ session, strategyId }: { session: Session; strategyId: string }) {
  const { strategies, accounts } = useCatalog();
  const [selected, setSelected] = useState(strategyId);
  const [body, setBody] = useState(SAMPLE);
  const [sent, setSent] = useState<Sent[]>([]);
  const [error, setError] = useState("");
  useEffect(() => {
    if (!selected && strategies.length) setSelected(strategies[0].id);
  }, [strategies, selected]);
  const strategy = strategies.find((s) => s.id === selected);
  const account = accounts.find((a) => a.id === strategy?.account_id);
  const paper = account?.broker === "paper";
  async function send(dryRun: boolean, e?: FormEvent) {
    e?.preventDefault();
    setError("");
    let alert: unknown;
    try { alert = JSON.parse(body); } catch { setError("The alert is not valid JSON."); return; }
    try {
      const answer = await ok(api.POST("/api/v1/strategies/{strategy_id}/test", {
        params: { path: { strategy_id: selected } },
        body: { alert: alert as Record<string, never>, dry_run: dryRun } }));
      setSent((old) => [{ signal_id: answer.signal_id, dry_run: dryRun }, ...old]);
    } catch (err) {
      setError((err as Error).message);
    }
  }
  return (
    <section>
      <h1>Test tool</h1>
      <p className="muted">A <strong>dry run</strong> is validated and decided by risk like any
        alert, and never reaches a broker; bots get the same with <code>?dry_run=1</code> or
        an <code>X-Dry-Run: 1</code> header. A real test trades on a paper account.</p>
      <form className="card" onSubmit={(e) => send(true, e)} data-testid="test-form">
        <label htmlFor="t-strategy">Strategy</label>
        <select id="t-strategy" value={selected} onChange={(e) => setSelected(e.target.value)}>
          {strategies.map((s) => <option key={s.id} value={s.id}>{s.name}</option>)}</select>
        <label htmlFor="t-alert">Alert (any dialect; no token needed)</label>
        <textarea id="t-alert" rows={8} value={body} onChange={(e) => setBody(e.target.value)} />
        <ErrorLine error={error} />
        {session.canWrite ? (
          <div className="row">
            <button type="submit">Send dry run</button>
            <button type="button" className="ghost" disabled={!paper} onClick={() => send(false)}
              title={paper ? "" : "real test alerts go to paper accounts only"}>
              Send for real (paper)</button>
          </div>
        ) : <p className="muted">Viewers cannot send test alerts.</p>}
      </form>
      {sent.length > 0 && (
        <div className="card" style={{ marginTop: 12 }}>
          <h2>Sent</h2>
          <ul data-testid="sent">{sent.map((s) => (
            <li key={s.signal_id}>{s.dry_run ? "dry run" : "real"}: <a href={`#/logs/${s.signal_id}`}
              onClick={(e) => { e.preventDefault(); go("logs", s.signal_id); }}
              className="mono">{s.signal_id}</a></li>))}</ul>
        </div>
      )}
    </section>
  );
}
