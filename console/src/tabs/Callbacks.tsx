// Callback endpoints: list, register, rotate the signing secret, the delivery log
// and redelivery (the /api/v1/callbacks routes).
import { useState, type FormEvent } from "react";
import { api, ok, type Schemas } from "../api/client";
import type { Session } from "../session";
import { useLoad } from "../hooks";
import { Badge, ErrorLine, fmtTime } from "../components/Status";
import { SecretOnce } from "../components/SecretOnce";
import { Tip } from "../components/Tip";

type Endpoint = Schemas["CallbackEndpointView"];
type EventType = Endpoint["event_types"][number];
export const EVENT_TYPES: EventType[] = [
  "webhook.received", "webhook.validated", "webhook.trade_executed", "webhook.failed",
  "order.placed", "order.partially_filled", "order.leg_filled", "order.leg_canceled",
  "order.leg_resized", "account.breaker_tripped", "account.resumed", "security.auth_failures"];
const DEFAULT_TYPES: EventType[] = ["webhook.trade_executed", "webhook.failed"];

function state(e: Endpoint): string {
  if (!e.enabled) return "disabled";
  return e.failing ? "failing" : "enabled";
}

export function Callbacks({ session, tenantId }: { session: Session; tenantId: string }) {
  const endpoints = useLoad(() => ok(api.GET("/api/v1/callbacks")), []);
  const [shown, setShown] = useState("");
  const [secret, setSecret] = useState<{ id: string; secret: string } | null>(null);
  const [error, setError] = useState("");
  const mine = (endpoints.data ?? []).filter((e) => !tenantId || e.tenant_id === tenantId);

  async function rotate(e: Endpoint) {
    if (!confirm(`Rotate the secret of ${e.url}? Deliveries carry both signatures for an hour.`)) return;
    try {
      const answer = await ok(api.POST("/api/v1/callbacks/{callback_id}/rotate", {
        params: { path: { callback_id: e.id } }, body: { overlap_s: 3600 } }));
      setSecret({ id: e.id, secret: answer.secret });
      endpoints.reload();
    } catch (err) {
      setError((err as Error).message);
    }
  }

  return (
    <div className="card" data-testid="callbacks">
      <h2>Callback endpoints <Tip text="Signed HTTPS posts (Standard Webhooks) of the events an endpoint chose; webhook-id is the event id, so receivers can drop repeats." /></h2>
      <ErrorLine error={endpoints.error || error} />
      {secret && <SecretOnce secret={secret.secret} onDone={() => setSecret(null)} />}
      <div className="table-wrap">
        <table className="grid stack">
          <thead><tr><th>URL</th><th>Events</th><th>Status</th><th /></tr></thead>
          <tbody>
            {mine.map((e) => (
              <tr key={e.id} data-testid={`callback-${e.id}`}>
                <td><code>{e.url}</code></td>
                <td className="small">{e.event_types.join(", ")}</td>
                <td><Badge value={state(e)} />{e.disabled_reason &&
                  <span className="small muted"> {e.disabled_reason}</span>}</td>
                <td className="row">
                  <button type="button" className="ghost"
                    onClick={() => setShown(shown === e.id ? "" : e.id)}>Deliveries</button>
                  {session.canWrite && <button type="button" className="ghost"
                    onClick={() => rotate(e)}>Rotate secret</button>}
                </td>
              </tr>
            ))}
            {!endpoints.loading && mine.length === 0 && (
              <tr><td colSpan={4} className="muted">No callback endpoints yet.</td></tr>)}
          </tbody>
        </table>
      </div>
      {shown && <Deliveries key={shown} endpointId={shown} session={session} />}
      {session.canWrite && tenantId && (
        <NewEndpoint tenantId={tenantId} onCreated={(id, s) => {
          setSecret({ id, secret: s });
          endpoints.reload();
        }} />)}
    </div>
  );
}

function NewEndpoint({ tenantId, onCreated }: { tenantId: string;
  onCreated: (id: string, secret: string) => void }) {
  const [error, setError] = useState("");
  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = e.currentTarget;
    const data = new FormData(form);
    const types = EVENT_TYPES.filter((t) => data.get(t) === "on");
    try {
      const answer = await ok(api.POST("/api/v1/callbacks", { body: {
        tenant_id: tenantId, url: String(data.get("url") ?? "").trim(), event_types: types,
        description: String(data.get("description") ?? ""), enabled: true,
        strategy_ids: [], account_ids: [] } }));
      setError("");
      form.reset();
      onCreated(answer.callback.id, answer.secret);
    } catch (err) {
      setError((err as Error).message);
    }
  }
  return (
    <form onSubmit={submit} data-testid="new-callback" style={{ marginTop: 12 }}>
      <h3>Register an endpoint</h3>
      <div className="form-grid">
        <div><label htmlFor="cb-url">URL <Tip text="https only; private, loopback and metadata addresses are refused." /></label>
          <input id="cb-url" name="url" required placeholder="https://hooks.example.com/tradehooks" /></div>
        <div><label htmlFor="cb-desc">Description</label>
          <input id="cb-desc" name="description" maxLength={200} /></div>
      </div>
      <fieldset className="checks"><legend>Events</legend>
        {EVENT_TYPES.map((t) => (
          <label key={t} className="small"><input type="checkbox" name={t}
            defaultChecked={DEFAULT_TYPES.includes(t)} /> {t}</label>))}
      </fieldset>
      <ErrorLine error={error} />
      <button type="submit">Add endpoint</button>
    </form>
  );
}

function Deliveries({ endpointId, session }: { endpointId: string; session: Session }) {
  const log = useLoad(() => ok(api.GET("/api/v1/callbacks/{callback_id}/deliveries", {
    params: { path: { callback_id: endpointId }, query: { limit: 50 } } })), [endpointId]);
  const [error, setError] = useState("");
  const [note, setNote] = useState("");
  async function again(deliveryId: string) {
    try {
      const answer = await ok(api.POST(
        "/api/v1/callbacks/{callback_id}/deliveries/{delivery_id}/redeliver",
        { params: { path: { callback_id: endpointId, delivery_id: deliveryId } } }));
      setNote(`Redelivery ${answer.delivery_id} requested.`);
      log.reload();
    } catch (err) {
      setError((err as Error).message);
    }
  }
  const rows = log.data?.deliveries ?? [];
  return (
    <div data-testid="deliveries" style={{ marginTop: 12 }}>
      <h3>Delivery log</h3>
      <ErrorLine error={log.error || error} />
      {note && <p className="ok-text">{note}</p>}
      <div className="table-wrap">
        <table className="grid stack">
          <thead><tr><th>Requested</th><th>Event</th><th>Status</th><th>Attempts</th>
            <th>Last answer</th><th /></tr></thead>
          <tbody>
            {rows.map((d) => (
              <tr key={d.delivery_id} data-testid="delivery">
                <td>{fmtTime(d.requested_at)}</td>
                <td className="small">{d.source_type}<br /><span className="muted">{d.signal_id}</span></td>
                <td><Badge value={d.status} />{d.redelivery_of &&
                  <span className="small muted"> again</span>}</td>
                <td>{d.attempts}</td>
                <td className="small">{d.last_status_code || ""} {d.last_error}</td>
                <td>{session.canWrite && <button type="button" className="ghost"
                  onClick={() => again(d.delivery_id)}>Redeliver</button>}</td>
              </tr>
            ))}
            {!log.loading && rows.length === 0 && (
              <tr><td colSpan={6} className="muted">Nothing delivered yet.</td></tr>)}
          </tbody>
        </table>
      </div>
    </div>
  );
}
