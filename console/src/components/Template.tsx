import { useState } from "react";
import type { Strategy } from "../api/client";
import { DIALECTS, template, type DialectId } from "../templates";
import { CopyButton } from "./CopyButton";
import { Qr } from "./Qr";

/** The alert template generator: per dialect the message, copy buttons, a QR code. */
export function TemplateGenerator({ strategy, url, secret }:
  { strategy: Strategy; url: string; secret?: string }) {
  const [dialect, setDialect] = useState<DialectId>("tv_position");
  const message = template(dialect, strategy, secret);
  return (
    <div data-testid="template">
      <div className="dialects" role="group" aria-label="Dialect">
        {DIALECTS.map((d) => (
          <button key={d.id} type="button" aria-pressed={dialect === d.id}
            onClick={() => setDialect(d.id)}>{d.label}</button>
        ))}
      </div>
      <div className="template">
        <div>
          <div className="spread"><strong>Webhook URL</strong>
            <CopyButton text={url} label="Copy URL" testId="copy-url" /></div>
          <pre className="block mono" data-testid="webhook-url">{url}</pre>
          <div className="spread"><strong>Message</strong>
            <CopyButton text={message} label="Copy message" testId="copy-message" /></div>
          <pre className="block mono" data-testid="message">{message}</pre>
          {!secret && <p className="muted small">The secret is shown once, when the strategy
            is created or its secret rotated: put yours in place of the placeholder.</p>}
        </div>
        <Qr text={`${url}\n${message}`} />
      </div>
    </div>
  );
}
