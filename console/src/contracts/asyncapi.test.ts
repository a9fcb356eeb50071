// @vitest-environment node
// docs/asyncapi.json (generated from the event catalogue by `make console-api`) must
// be a valid AsyncAPI 3 document, as the AsyncAPI project's own parser judges it.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Parser, DiagnosticSeverity } from "@asyncapi/parser";

// Spectral rules take seconds on a busy 2-core machine.
const SLOW = { timeout: 120_000 };
const parser = new Parser();
const file = fileURLToPath(new URL("../../../docs/asyncapi.json", import.meta.url));

describe("the AsyncAPI document of the events", () => {
  it("parses without errors or warnings, and names every channel's subject", SLOW, async () => {
    const { document, diagnostics } = await parser.parse(readFileSync(file, "utf8"));
    const problems = diagnostics.filter(
      (d) => d.severity === DiagnosticSeverity.Error || d.severity === DiagnosticSeverity.Warning,
    );
    expect(problems.map((d) => `${d.path.join(".")}: ${d.message}`)).toEqual([]);
    expect(document).toBeDefined();
    const addresses = document!.channels().all().map((c) => c.address());
    expect(addresses).toContain("webhook.received.{tenant}.{strategy}");
    expect(addresses).toContain("webhook.trade_executed.{tenant}.{account}.{strategy}");
    expect(document!.operations().all().every((o) => o.action() === "receive")).toBe(true);
  });

  it("refuses a broken document (the check can fail)", SLOW, async () => {
    const broken = JSON.parse(readFileSync(file, "utf8"));
    broken.channels.webhook_received.address = 42;
    const { diagnostics } = await parser.parse(JSON.stringify(broken));
    expect(diagnostics.some((d) => d.severity === DiagnosticSeverity.Error)).toBe(true);
  });
});
