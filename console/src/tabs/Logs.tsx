import { useCallback, useEffect, useState } from "react";
import { api, ok, type SignalRow } from "../api/client";
import type { Session } from "../session";
import { useCatalog } from "../catalog";
import { useLiveStream } from "../live";
import { Badge, ErrorLine, fmtNum, fmtTime } from "../components/Status";
import { go } from "../route";
import { Trail } from "./Trail";

type Filters = { strategy_id: string; account_id: string; status: string; symbol: string;
  q: string };
const EMPTY: Filters = { strategy_id: "", account_id: "", status: "", symbol: "", q: "" };

function query(f: Filters): Record<string, string> {
  return Object.fromEntries(Object.entries(f).filter(([, v]) => v));
}

function matches(row: SignalRow, f: Filters): boolean {
  return (!f.strategy_id || row.strategy_id === f.strategy_id)
    && (!f.account_id || row.account_id === f.account_id)
    && (!f.status || row.status === f.status) && (!f.symbol || row.symbol === f.symbol)
    && !f.q;
}

export function Logs({ session, signalId }: { session: Session; signalId: string }) {
  if (signalId) return <Trail signalId={signalId} />;
  return <History session={session} />;
}

function History(_: { session: Session }) {
  const { strategies, accounts, strategyName, accountName } = useCatalog();
  const [filters, setFilters] = useState<Filters>(EMPTY);
  const [rows, setRows] = useState<SignalRow[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [fresh, setFresh] = useState<Set<string>>(new Set());
  const [error, setError] = useState("");
  const [loading, setLoading] = useState(true);

  const load = useCallback(async (after: string | null) => {
    setLoading(true);
    try {
      const page = await ok(api.GET("/api/v1/signals", { params: { query: {
        ...query(filters), limit: 50, ...(after ? { cursor: after } : {}) } as never } }));
      setRows((old) => after ? [...old, ...page.signals] : page.signals);
      setCursor(page.next_cursor ?? null);
      setError("");
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setLoading(false);
    }
  }, [filters]);
  useEffect(() => { void load(null); }, [load]);

  const live = useLiveStream(query({ ...filters, q: "" }), {
    onSignal: (row) => {
      if (!matches(row, filters)) return;
      setRows((old) => {
        const at = old.findIndex((r) => r.signal_id === row.signal_id);
        if (at >= 0) return old.map((r, i) => (i === at ? row : r));
        return [row, ...old];
      });
      setFresh((f) => new Set(f).add(row.signal_id));
    },
  });

  const set = (k: keyof Filters) => (e: { target: { value: string } }) =>
    setFilters({ ...filters, [k]: e.target.value });
  return (
    <section>
      <div className="spread">
        <h1>Logs</h1>
        <span className="small muted" data-testid="live"><span className={`live-dot ${live ? "on" : ""}`} />
          {live ? "live tail" : "connecting…"}</span>
      </div>
      <div className="toolbar">
        <div className="field"><label htmlFor="f-strategy">Strategy</label>
          <select id="f-strategy" value={filters.strategy_id} onChange={set("strategy_id")}>
            <option value="">all</option>
            {strategies.map((s) => <option key={s.id} value={s.id}>{s.name}</option>)}</select></div>
        <div className="field"><label htmlFor="f-account">Account</label>
          <select id="f-account" value={filters.account_id} onChange={set("account_id")}>
            <option value="">all</option>
            {accounts.map((a) => <option key={a.id} value={a.id}>{a.name}</option>)}</select></div>
        <div className="field"><label htmlFor="f-status">Status</label>
          <select id="f-status" value={filters.status} onChange={set("status")}>
            <option value="">all</option><option>accepted</option><option>executed</option>
            <option>failed</option></select></div>
        <div className="field"><label htmlFor="f-symbol">Symbol</label>
          <input id="f-symbol" value={filters.symbol} onChange={set("symbol")} size={8} /></div>
        <div className="field"><label htmlFor="f-q">Search</label>
          <input id="f-q" value={filters.q} onChange={set("q")} placeholder="signal / order id, code" /></div>
        <button type="button" className="ghost" onClick={() => setFilters(EMPTY)}>Clear</button>
      </div>
      <ErrorLine error={error} />
      <div className="table-wrap">
        <table className="grid stack" data-testid="signals">
          <thead><tr><th>Received</th><th>Strategy</th><th className="hide-phone">Account</th>
            <th>Symbol</th><th>Side</th><th>Status</th><th className="hide-phone">Stage / reason</th>
            <th className="num">Latency</th><th className="num hide-phone">Fill</th></tr></thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.signal_id} className={`clickable ${fresh.has(r.signal_id) ? "fresh" : ""}`}
                data-testid="signal-row" data-signal={r.signal_id}
                onClick={() => go("logs", r.signal_id)}>
                <td className="small">{fmtTime(r.received_at)}</td>
                <td>{strategyName(r.strategy_id)}</td>
                <td className="hide-phone">{accountName(r.account_id)}</td>
                <td>{r.symbol || "—"}</td><td>{r.side || "—"}</td>
                <td><Badge value={r.status} />{r.dry_run && <> <Badge value="dry" /></>}</td>
                <td className="hide-phone small reason" title={r.reason ?? undefined}>
                  {r.status === "failed" ? <><span className="mono">{r.stage}: {r.code}</span>
                    {r.reason && <span className="muted"> — {r.reason}</span>}</> : r.stage}</td>
                <td className="num">{r.latency_ms != null ? `${fmtNum(r.latency_ms, 0)} ms` : "—"}</td>
                <td className="num hide-phone">{r.fill_quantity ? `${fmtNum(r.fill_quantity, 4)} @ ${fmtNum(r.fill_price)}` : "—"}</td>
              </tr>
            ))}
            {!loading && rows.length === 0 && (
              <tr><td colSpan={9} className="muted">No signals match.</td></tr>)}
          </tbody>
        </table>
      </div>
      {cursor && <p><button type="button" className="ghost" onClick={() => load(cursor)}>
        Older signals</button></p>}
    </section>
  );
}
