import { useEffect, useState } from "react";

export type Theme = "dark" | "light";
const STORAGE = "tradehooks.theme";

function initial(): Theme {
  const saved = localStorage.getItem(STORAGE);
  if (saved === "dark" || saved === "light") return saved;
  return window.matchMedia?.("(prefers-color-scheme: light)").matches ? "light" : "dark";
}

/** The theme, remembered across visits; set on <html data-theme>. */
export function useTheme(): [Theme, (t: Theme) => void] {
  const [theme, setTheme] = useState<Theme>(initial);
  useEffect(() => {
    document.documentElement.dataset.theme = theme;
    localStorage.setItem(STORAGE, theme);
  }, [theme]);
  return [theme, setTheme];
}
