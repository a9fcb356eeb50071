// Strategies and accounts, loaded once and shared: every tab names them (never ids
// alone), and changes anywhere reload them.
import { createContext, useCallback, useContext, useEffect, useMemo, useState,
  type ReactNode } from "react";
import { api, ok, type Account, type Strategy } from "./api/client";

type Catalog = {
  strategies: Strategy[];
  accounts: Account[];
  error: string;
  loaded: boolean;
  reload: () => Promise<void>;
  strategyName: (id: string) => string;
  accountName: (id: string) => string;
};

const Ctx = createContext<Catalog | null>(null);

export function CatalogProvider({ children }: { children: ReactNode }) {
  const [strategies, setStrategies] = useState<Strategy[]>([]);
  const [accounts, setAccounts] = useState<Account[]>([]);
  const [error, setError] = useState("");
  const [loaded, setLoaded] = useState(false);
  const reload = useCallback(async () => {
    try {
      const [s, a] = await Promise.all([ok(api.GET("/api/v1/strategies")),
        ok(api.GET("/api/v1/accounts"))]);
      setStrategies(s);
      setAccounts(a);
      setError("");
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setLoaded(true);
    }
  }, []);
  useEffect(() => { void reload(); }, [reload]);
  const value = useMemo<Catalog>(() => {
    const sNames = new Map(strategies.map((s) => [s.id, s.name]));
    const aNames = new Map(accounts.map((a) => [a.id, a.name]));
    return {
      strategies, accounts, error, loaded, reload,
      strategyName: (id) => sNames.get(id) ?? id,
      accountName: (id) => aNames.get(id) ?? id,
    };
  }, [strategies, accounts, error, loaded, reload]);
  return <Ctx.Provider value={value}>{children}</Ctx.Provider>;
}

export function useCatalog(): Catalog {
  const c = useContext(Ctx);
  if (!c) throw new Error("useCatalog outside CatalogProvider");
  return c;
}
