import { useEffect, useState, type FormEvent } from "react";
import { api, ok, type Strategy } from "../api/client";
import type { Session } from "../session";
import { useCatalog } from "../catalog";
import { ErrorLine } from "../components/Status";
import { Tip } from "../components/Tip";
import { GROUPS, type Setting } from "../settings";

function shown(value: unknown, s: Setting): string {
  if (value === null || value === undefined) return "";
  if (s.kind === "list") return (value as string[]).join(", ");
  if (s.kind === "json") return JSON.stringify(value);
  return String(value);
}

function parsed(text: string, s: Setting): unknown {
  if (s.kind === "list") return text.split(/[\s,]+/).filter(Boolean);
  if (s.kind === "json") return text ? JSON.parse(text) : null;
  return text === "" ? null : text;
}

export function Bots({ session }: { session: Session }) {
  const { strategies, reload, error } = useCatalog();
  const [selected, setSelected] = useState("");
  useEffect(() => {
    if (!selected && strategies.length) setSelected(strategies[0].id);
  }, [strategies, selected]);
  const strategy = strategies.find((s) => s.id === selected);
  return (
    <section>
      <div className="spread">
        <h1>Bots</h1>
        <label className="row" style={{ margin: 0 }}>Strategy
          <select value={selected} onChange={(e) => setSelected(e.target.value)}
            data-testid="bot-select">
            {strategies.map((s) => <option key={s.id} value={s.id}>{s.name}</option>)}
          </select></label>
      </div>
      <ErrorLine error={error} />
      {strategy && <BotSettings key={strategy.id} strategy={strategy} session={session}
        onSaved={reload} />}
    </section>
  );
}

function BotSettings({ strategy, session, onSaved }: { strategy: Strategy; session: Session;
  onSaved: () => Promise<void> }) {
  const [error, setError] = useState("");
  const [saved, setSaved] = useState("");
  const values = strategy as unknown as Record<string, unknown>;
  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const changes: Record<string, unknown> = {};
    try {
      for (const group of GROUPS) {
        for (const s of group.settings) {
          const next = s.kind === "bool" ? form.get(s.key) === "on"
            : parsed(String(form.get(s.key) ?? "").trim(), s);
          if (JSON.stringify(next) !== JSON.stringify(s.kind === "bool" ? !!values[s.key]
            : parsed(shown(values[s.key], s), s))) changes[s.key] = next;
        }
      }
    } catch {
      setError("rate_limits: not valid JSON");
      return;
    }
    setError("");
    setSaved("");
    if (!Object.keys(changes).length) { setSaved("Nothing changed."); return; }
    try {
      await ok(api.PATCH("/api/v1/strategies/{strategy_id}", {
        params: { path: { strategy_id: strategy.id } }, body: changes as never }));
      await onSaved();
      setSaved(`Saved: ${Object.keys(changes).join(", ")}.`);
    } catch (err) {
      setError((err as Error).message);
    }
  }
  return (
    <form onSubmit={submit} data-testid="bot-settings">
      <fieldset disabled={!session.canWrite} style={{ border: 0, padding: 0, margin: 0 }}>
        <div className="cards">
          {GROUPS.map((group) => (
            <div className="card" key={group.title}>
              <h2>{group.title}</h2>
              <table className="grid settings-table"><tbody>
                {group.settings.map((s) => (
                  <tr key={s.key}>
                    <td><label htmlFor={`bot-${s.key}`} style={{ margin: 0 }}>{s.label}</label>
                      <Tip text={s.tip} /></td>
                    <td>{s.kind === "bool" ? (
                      <input id={`bot-${s.key}`} type="checkbox" name={s.key}
                        defaultChecked={!!values[s.key]} />
                    ) : s.kind === "select" ? (
                      <select id={`bot-${s.key}`} name={s.key} defaultValue={shown(values[s.key], s)}>
                        {s.options!.map((o) => <option key={o}>{o}</option>)}
                      </select>
                    ) : (
                      <input id={`bot-${s.key}`} name={s.key} defaultValue={shown(values[s.key], s)}
                        inputMode={s.kind === "number" ? "decimal" : undefined} />
                    )}</td>
                  </tr>
                ))}
              </tbody></table>
            </div>
          ))}
        </div>
      </fieldset>
      <ErrorLine error={error} />
      {saved && <p className="ok-text">{saved}</p>}
      {session.canWrite && <button type="submit">Save settings</button>}
    </form>
  );
}
