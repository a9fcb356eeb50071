import { useEffect, useState } from "react";
import { SignIn } from "./SignIn";
import { useSession, type Session } from "./session";
import { useTheme } from "./theme";
import { TABS, go, useRoute, type TabId } from "./route";
import { Setup } from "./tabs/Setup";
import { Brokers } from "./tabs/Brokers";
import { Bots } from "./tabs/Bots";
import { Logs } from "./tabs/Logs";
import { Analytics } from "./tabs/Analytics";
import { TestTool } from "./tabs/TestTool";
import { WhatIf } from "./tabs/WhatIf";
import { Outbound } from "./tabs/Outbound";
import { CatalogProvider } from "./catalog";

function Tab({ tab, arg, session, theme }: { tab: TabId; arg: string; session: Session;
  theme: string }) {
  switch (tab) {
    case "setup": return <Setup session={session} />;
    case "brokers": return <Brokers session={session} />;
    case "bots": return <Bots session={session} />;
    case "logs": return <Logs session={session} signalId={arg} />;
    case "analytics": return <Analytics theme={theme} />;
    case "test": return <TestTool session={session} strategyId={arg} />;
    case "whatif": return <WhatIf accountId={arg} />;
    case "outbound": return <Outbound session={session} />;
  }
}

export function App() {
  const { session, setSession, signOut, restoring } = useSession();
  const [theme, setTheme] = useTheme();
  const route = useRoute();
  const [menu, setMenu] = useState(false);
  useEffect(() => setMenu(false), [route.tab]);
  const themeButton = (
    <button type="button" className="ghost" data-testid="theme"
      onClick={() => setTheme(theme === "dark" ? "light" : "dark")}
      aria-label={`Switch to the ${theme === "dark" ? "light" : "dark"} theme`}>
      {theme === "dark" ? "☀" : "☾"}
      <span className="theme-label">{theme === "dark" ? " Light" : " Dark"}</span>
    </button>
  );
  if (restoring && !session) return <main className="signin"><p className="muted">…</p></main>;
  if (!session) {
    return (
      <>
        <div className="corner">{themeButton}</div>
        <SignIn onSignedIn={setSession} />
      </>
    );
  }
  return (
    <CatalogProvider>
      <header className="top">
        <span className="brand">tradehooks</span>
        <button type="button" className="ghost menu-toggle" aria-expanded={menu}
          onClick={() => setMenu(!menu)}>☰ {TABS.find((t) => t.id === route.tab)?.label}</button>
        <nav className={menu ? "tabs open" : "tabs"} role="tablist">
          {TABS.map((t) => (
            <a key={t.id} role="tab" href={`#/${t.id}`} aria-selected={route.tab === t.id}
              className={route.tab === t.id ? "active" : ""}
              onClick={(e) => { e.preventDefault(); go(t.id); }}>{t.label}</a>
          ))}
        </nav>
        <span className="who" data-testid="who">
          <span className={`badge badge-${session.who.role}`}>{session.who.role}</span>
          <span className="small muted">{session.who.tenant_id || "all tenants"}</span>
        </span>
        {themeButton}
        <button type="button" className="ghost" onClick={signOut}>Sign out</button>
      </header>
      {!session.canWrite && (
        <p className="readonly-note" data-testid="readonly">Read-only: this is a viewer key.
          Changes are hidden.</p>
      )}
      <main className="content">
        <Tab tab={route.tab} arg={route.arg} session={session} theme={theme} />
      </main>
    </CatalogProvider>
  );
}
