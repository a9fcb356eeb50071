import { useState, type FormEvent } from "react";
import { signIn, type Session } from "./session";

/** Sign in with an admin API key (`thk_…`) or an admin JWT. */
export function SignIn({ onSignedIn }: { onSignedIn: (s: Session) => void }) {
  const [key, setKey] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError("");
    try {
      onSignedIn(await signIn(key.trim()));
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  }
  return (
    <main className="signin">
      <form onSubmit={submit} className="card">
        <h1>tradehooks</h1>
        <p className="muted">Sign in with an admin API key. A viewer key sees everything of
          its tenant, read-only.</p>
        <label htmlFor="key">API key</label>
        <input id="key" type="password" autoComplete="off" value={key} placeholder="thk_…"
          onChange={(e) => setKey(e.target.value)} required />
        <p className="error" role="alert">{error}</p>
        <button type="submit" disabled={busy || !key.trim()}>Sign in</button>
        <p className="muted small"><code>make run</code> prints the admin key and saves it as
          <code> admin_key</code> in <code>var/demo.json</code>.</p>
      </form>
    </main>
  );
}
