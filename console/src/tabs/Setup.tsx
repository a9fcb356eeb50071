import type { Session } from "../session";
import { useCatalog } from "../catalog";
import { Badge, ErrorLine } from "../components/Status";

export function Setup(_: { session: Session }) {
  const { strategies, error, loaded } = useCatalog();
  return (
    <section>
      <h1>Webhook Setup</h1>
      <ErrorLine error={error} />
      <table className="grid" data-testid="strategies">
        <thead><tr><th>Strategy</th><th>Status</th></tr></thead>
        <tbody>
          {strategies.map((s) => (
            <tr key={s.id}><td>{s.name}</td><td><Badge value={s.enabled ? "enabled" : "disabled"} /></td></tr>
          ))}
          {loaded && strategies.length === 0 && <tr><td colSpan={2}>No strategies yet.</td></tr>}
        </tbody>
      </table>
    </section>
  );
}
