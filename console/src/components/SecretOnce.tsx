import { CopyButton } from "./CopyButton";

/** A new secret, shown once with a copy button, until the user says it is saved. */
export function SecretOnce({ secret, onDone }: { secret: string; onDone: () => void }) {
  return (
    <div className="secret-once" data-testid="secret-once">
      <strong>The secret, shown once:</strong> copy it now; it is never shown again.
      <div className="row" style={{ marginTop: 6 }}>
        <code data-testid="secret">{secret}</code>
        <CopyButton text={secret} label="Copy secret" testId="copy-secret" />
        <button type="button" className="ghost" onClick={onDone}>I saved it</button>
      </div>
    </div>
  );
}
