import { useEffect, useRef, type ReactNode } from "react";

/** A modal dialog (the native <dialog>: focus trap and Escape for free). */
export function Dialog({ title, open, onClose, children }:
  { title: string; open: boolean; onClose: () => void; children: ReactNode }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    if (open && !el.open) el.showModal?.() ?? el.setAttribute("open", "");
    if (!open && el.open) el.close?.() ?? el.removeAttribute("open");
  }, [open]);
  return (
    <dialog ref={ref} onClose={onClose} aria-label={title}>
      <header className="dialog-head">
        <h2>{title}</h2>
        <button type="button" className="ghost" onClick={onClose} aria-label="Close">✕</button>
      </header>
      {open ? children : null}
    </dialog>
  );
}
