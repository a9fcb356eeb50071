import { api, ok } from "../api/client";
import { useCatalog } from "../catalog";
import { useLoad } from "../hooks";
import { useLiveStream } from "../live";
import { Badge, ErrorLine, fmtNum, fmtTime } from "../components/Status";
import { go } from "../route";

type Entry = Record<string, unknown> & { type: string; occurred_at: string };

function summary(e: Entry): string {
  const order = e.order as Record<string, unknown> | undefined;
  const fill = e.fill as Record<string, unknown> | undefined;
  const signal = e.signal as Record<string, unknown> | undefined;
  switch (e.type) {
    case "webhook.received": return `${e.dialect} alert, auth ${e.auth_mode}${e.dry_run ? ", dry run" : ""}`;
    case "webhook.validated": return signal ? `${signal.intent} ${signal.symbol}` +
      (signal.quantity ? ` × ${signal.quantity}` : "") + (signal.price ? ` @ ${signal.price}` : "") : "";
    case "order.requested": return order ? `${order.side} ${order.quantity} ${order.symbol} ` +
      `${order.order_type} (${order.client_order_id})` +
      ((order.sizing as Record<string, unknown> | undefined)?.detail
        ? ` — size: ${(order.sizing as Record<string, unknown>).detail}` : "") : "";
    case "order.placed": return order ? `resting at the broker: ${order.order_id}` : "";
    case "webhook.trade_executed": return e.dry_run ? "dry run: decided, nothing sent to a broker"
      : fill ? `filled ${fill.quantity} @ ${fmtNum(String(fill.average_price), 4)}` : "done";
    case "webhook.failed": return `${e.stage}: ${e.code} — ${e.reason}`;
    case "order.leg_filled": return fill ? `${e.leg} leg filled ${fill.quantity} @ ${fmtNum(String(fill.average_price), 4)}` : "";
    default: return "";
  }
}

/** A signal's whole trail on one page: every event, payload, decision, order, fill. */
export function Trail({ signalId }: { signalId: string }) {
  const { strategyName, accountName } = useCatalog();
  const trail = useLoad(() => ok(api.GET("/api/v1/signals/{signal_id}",
    { params: { path: { signal_id: signalId } } })), [signalId]);
  useLiveStream({}, { onSignal: (row) => { if (row.signal_id === signalId) trail.reload(); } });
  const events = (trail.data?.events ?? []) as Entry[];
  const first = events[0] ?? {};
  return (
    <section data-testid="trail">
      <p><a href="#/logs" onClick={(e) => { e.preventDefault(); go("logs"); }}>← Logs</a></p>
      <div className="spread">
        <h1>Signal <span className="mono">{signalId}</span></h1>
        {trail.data && <Badge value={trail.data.status} />}
      </div>
      <ErrorLine error={trail.error} />
      {trail.data && (
        <dl className="kv card" style={{ marginBottom: 12 }}>
          <dt>Strategy</dt><dd>{strategyName(String(first.strategy_id ?? ""))}</dd>
          <dt>Account</dt><dd>{accountName(String(first.account_id ?? ""))}</dd>
          <dt>Received</dt><dd>{fmtTime(first.occurred_at)}</dd>
          <dt>Events</dt><dd>{events.length}{trail.data.terminal ? " (ended)" : " (in progress)"}</dd>
        </dl>
      )}
      <ol className="timeline">
        {events.map((e, i) => (
          <li key={i} className={e.type === "webhook.failed" ? "failed"
            : e.type === "webhook.trade_executed" ? "executed" : ""} data-testid="trail-event">
            <div className="spread"><strong className="mono">{e.type}</strong>
              <span className="small muted">{fmtTime(e.occurred_at)}</span></div>
            <div>{summary(e)}</div>
            <details><summary className="small muted">payload</summary>
              <pre className="block mono">{JSON.stringify(e, null, 2)}</pre></details>
          </li>
        ))}
      </ol>
    </section>
  );
}
