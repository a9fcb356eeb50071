// A tenant's notification channels: list, add, switch on/off, remove
// (/api/v1/tenants/{tenant_id}/notifications).
import { useState, type FormEvent } from "react";
import { api, ok, type Schemas } from "../api/client";
import type { Session } from "../session";
import { useLoad } from "../hooks";
import { Badge, ErrorLine } from "../components/Status";
import { Tip } from "../components/Tip";

type Channel = Schemas["NotificationChannelView"];
type Kind = Channel["kind"];
type Topic = Channel["topics"][number];
const TOPICS: Topic[] = ["fills", "failures", "breaker", "auth_failures", "daily_summary"];
const SECRET_LABEL: Record<Kind, string> = {
  telegram: "Bot token", discord: "Webhook URL", slack: "Webhook URL",
  email: "SMTP password" };

export function Channels({ session, tenantId }: { session: Session; tenantId: string }) {
  const channels = useLoad(() => ok(api.GET("/api/v1/tenants/{tenant_id}/notifications", {
    params: { path: { tenant_id: tenantId } } })), [tenantId]);
  const [error, setError] = useState("");
  const path = (name: string) => ({ params: { path: { tenant_id: tenantId,
    channel_name: name } } });

  async function toggle(c: Channel) {
    try {
      // The masked secret is sent back as read: the server keeps the stored one.
      const { name: _name, ...fields } = c;
      await ok(api.PUT("/api/v1/tenants/{tenant_id}/notifications/{channel_name}",
        { ...path(c.name), body: { ...fields, enabled: !c.enabled } }));
      channels.reload();
    } catch (err) {
      setError((err as Error).message);
    }
  }
  async function remove(c: Channel) {
    if (!confirm(`Remove the channel ${c.name}?`)) return;
    try {
      await ok(api.DELETE("/api/v1/tenants/{tenant_id}/notifications/{channel_name}",
        path(c.name)));
      channels.reload();
    } catch (err) {
      setError((err as Error).message);
    }
  }

  const rows = channels.data ?? [];
  return (
    <div className="card" data-testid="channels" style={{ marginTop: 12 }}>
      <h2>Notification channels <Tip text="People are told about fills, failures, breaker trips and auth alerts; a burst within the collapse window is one message." /></h2>
      <ErrorLine error={channels.error || error} />
      <div className="table-wrap">
        <table className="grid stack">
          <thead><tr><th>Name</th><th>Kind</th><th>Topics</th><th>Collapse / interval</th>
            <th>Status</th><th /></tr></thead>
          <tbody>
            {rows.map((c) => (
              <tr key={c.name} data-testid={`channel-${c.name}`}>
                <td>{c.name}</td>
                <td>{c.kind}{c.chat_id && <span className="small muted"> {c.chat_id}</span>}
                  {c.to.length > 0 && <span className="small muted"> {c.to.join(", ")}</span>}</td>
                <td className="small">{c.topics.join(", ")}</td>
                <td className="small">{c.collapse_s} s / {c.min_interval_s} s</td>
                <td><Badge value={c.enabled ? "enabled" : "disabled"} /></td>
                <td className="row">{session.canWrite && (<>
                  <button type="button" className="ghost" onClick={() => toggle(c)}>
                    {c.enabled ? "Switch off" : "Switch on"}</button>
                  <button type="button" className="ghost" onClick={() => remove(c)}>
                    Remove</button></>)}</td>
              </tr>
            ))}
            {!channels.loading && rows.length === 0 && (
              <tr><td colSpan={6} className="muted">No notification channels yet.</td></tr>)}
          </tbody>
        </table>
      </div>
      {session.canWrite && <NewChannel tenantId={tenantId} onSaved={channels.reload} />}
    </div>
  );
}

function NewChannel({ tenantId, onSaved }: { tenantId: string; onSaved: () => void }) {
  const [kind, setKind] = useState<Kind>("telegram");
  const [error, setError] = useState("");
  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = e.currentTarget;
    const data = new FormData(form);
    const text = (k: string) => String(data.get(k) ?? "").trim();
    const email = kind === "email";
    const body: Schemas["NotificationChannelPut"] = {
      kind, secret: text("secret"), topics: TOPICS.filter((t) => data.get(t) === "on"),
      collapse_s: Number(text("collapse_s") || 10),
      min_interval_s: Number(text("min_interval_s") || 60), enabled: true,
      chat_id: kind === "telegram" ? text("chat_id") : "",
      to: email ? text("to").split(/[\s,]+/).filter(Boolean) : [],
      mail_from: email ? text("mail_from") : "", smtp_host: email ? text("smtp_host") : "",
      smtp_port: email ? Number(text("smtp_port") || 587) : 587,
      smtp_user: email ? text("smtp_user") : "",
      smtp_tls: email ? (text("smtp_tls") || "starttls") as Channel["smtp_tls"] : "starttls" };
    try {
      await ok(api.PUT("/api/v1/tenants/{tenant_id}/notifications/{channel_name}", {
        params: { path: { tenant_id: tenantId, channel_name: text("name") } }, body }));
      setError("");
      form.reset();
      onSaved();
    } catch (err) {
      setError((err as Error).message);
    }
  }
  return (
    <form onSubmit={submit} data-testid="new-channel" style={{ marginTop: 12 }}>
      <h3>Add a channel</h3>
      <div className="form-grid">
        <div><label htmlFor="ch-name">Name</label>
          <input id="ch-name" name="name" required pattern="[a-z0-9][a-z0-9_\-]*" maxLength={40}
            placeholder="desk" /></div>
        <div><label htmlFor="ch-kind">Kind</label>
          <select id="ch-kind" value={kind} onChange={(e) => setKind(e.target.value as Kind)}>
            <option value="telegram">Telegram</option><option value="discord">Discord</option>
            <option value="slack">Slack</option><option value="email">E-mail</option>
          </select></div>
        <div><label htmlFor="ch-secret">{SECRET_LABEL[kind]} <Tip text="Sealed at rest and never shown again." /></label>
          <input id="ch-secret" name="secret" type="password" autoComplete="off"
            required={kind !== "email"} /></div>
        {kind === "telegram" && (
          <div><label htmlFor="ch-chat">Chat id <Tip text="The chat, group or channel the bot posts to." /></label>
            <input id="ch-chat" name="chat_id" required placeholder="-1001234567890" /></div>)}
        {kind === "email" && (<>
          <div><label htmlFor="ch-to">To</label>
            <input id="ch-to" name="to" required placeholder="desk@example.com" /></div>
          <div><label htmlFor="ch-from">From</label>
            <input id="ch-from" name="mail_from" required /></div>
          <div><label htmlFor="ch-host">SMTP host</label>
            <input id="ch-host" name="smtp_host" required /></div>
          <div><label htmlFor="ch-port">SMTP port</label>
            <input id="ch-port" name="smtp_port" inputMode="numeric" placeholder="587" /></div>
          <div><label htmlFor="ch-user">SMTP user</label>
            <input id="ch-user" name="smtp_user" /></div>
          <div><label htmlFor="ch-tls">TLS</label>
            <select id="ch-tls" name="smtp_tls" defaultValue="starttls">
              <option value="starttls">STARTTLS</option><option value="tls">TLS</option>
              <option value="none">none (loopback only)</option></select></div></>)}
        <div><label htmlFor="ch-collapse">Collapse (s) <Tip text="Events within this many seconds of the first are one message." /></label>
          <input id="ch-collapse" name="collapse_s" inputMode="decimal" placeholder="10" /></div>
        <div><label htmlFor="ch-interval">Min interval (s) <Tip text="At most one message per topic in this many seconds." /></label>
          <input id="ch-interval" name="min_interval_s" inputMode="decimal" placeholder="60" /></div>
      </div>
      <fieldset className="checks"><legend>Topics</legend>
        {TOPICS.map((t) => (
          <label key={t} className="small"><input type="checkbox" name={t}
            defaultChecked={t !== "daily_summary"} /> {t}</label>))}
      </fieldset>
      <ErrorLine error={error} />
      <button type="submit">Add channel</button>
    </form>
  );
}
