import type { Session } from "../session";

export function Brokers(_: { session?: Session }) {
  return <section><h1>Brokers</h1><p className="muted">Coming in the next step.</p></section>;
}
