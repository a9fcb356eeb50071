import type { Session } from "../session";

export function Logs(_: { session: Session; signalId: string }) {
  return <section><h1>Logs</h1></section>;
}
