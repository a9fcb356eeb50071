import { useState } from "react";

/** Copies `text`; says "Copied" for a moment (fixed width: no layout jump). */
export function CopyButton({ text, label = "Copy", testId }:
  { text: string; label?: string; testId?: string }) {
  const [done, setDone] = useState(false);
  async function copy() {
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // Without clipboard permission (plain http on another host): select-and-copy.
      const area = document.createElement("textarea");
      area.value = text;
      document.body.appendChild(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    setDone(true);
    setTimeout(() => setDone(false), 1500);
  }
  return (
    <button type="button" className="copy" onClick={copy} data-testid={testId}
      aria-label={`${label} to the clipboard`}>
      {done ? "Copied ✓" : label}
    </button>
  );
}
