import type { Session } from "../session";

export function Bots(_: { session?: Session }) {
  return <section><h1>Bots</h1><p className="muted">Coming in the next step.</p></section>;
}
