import type { Session } from "../session";

export function TestTool(_: { session: Session; strategyId: string }) {
  return <section><h1>Test</h1></section>;
}
