import type { Session } from "../session";

export function Analytics(_: { session?: Session }) {
  return <section><h1>Analytics</h1><p className="muted">Coming in the next step.</p></section>;
}
