import { useEffect, useState } from "react";

export const TABS = [
  { id: "setup", label: "Webhook Setup" },
  { id: "brokers", label: "Brokers" },
  { id: "bots", label: "Bots" },
  { id: "logs", label: "Logs" },
  { id: "analytics", label: "Analytics" },
  { id: "test", label: "Test" },
  { id: "whatif", label: "What if" },
  { id: "outbound", label: "Callbacks & channels" },
] as const;
export type TabId = (typeof TABS)[number]["id"];

export type Route = { tab: TabId; arg: string };

function parse(hash: string): Route {
  const [tab, ...rest] = hash.replace(/^#\/?/, "").split("/");
  const known = TABS.find((t) => t.id === tab);
  return { tab: known ? known.id : "setup", arg: decodeURIComponent(rest.join("/")) };
}

/** The tab (and its argument, e.g. a signal id) from the URL's hash. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => parse(window.location.hash));
  useEffect(() => {
    const onHash = () => setRoute(parse(window.location.hash));
    window.addEventListener("hashchange", onHash);
    return () => window.removeEventListener("hashchange", onHash);
  }, []);
  return route;
}

export function go(tab: TabId, arg = ""): void {
  window.location.hash = `#/${tab}${arg ? "/" + encodeURIComponent(arg) : ""}`;
}
