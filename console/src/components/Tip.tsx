/** A hover (and focus) tool-tip: what a setting does and its unit. */
export function Tip({ text }: { text: string }) {
  return (
    <span className="tip" tabIndex={0} role="note" aria-label={text} data-tip={text}>
      ?
    </span>
  );
}
