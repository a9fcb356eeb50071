// Who is signed in. The key lives in sessionStorage: it goes when the tab closes.
import { useCallback, useEffect, useState } from "react";
import { api, ok, setApiKey, type Whoami } from "./api/client";

const STORAGE = "tradehooks.key";

export type Session = { key: string; who: Whoami; canWrite: boolean };

/** Check a key against the server: who it is, or an error message. */
export async function signIn(key: string): Promise<Session> {
  setApiKey(key);
  try {
    const who = await ok(api.GET("/api/v1/whoami"));
    sessionStorage.setItem(STORAGE, key);
    return { key, who, canWrite: who.role === "admin" };
  } catch (err) {
    setApiKey("");
    throw err;
  }
}

export function useSession() {
  const [session, setSession] = useState<Session | null>(null);
  const [restoring, setRestoring] = useState(() => !!sessionStorage.getItem(STORAGE));
  useEffect(() => {
    const saved = sessionStorage.getItem(STORAGE);
    if (!saved) return;
    signIn(saved).then(setSession).catch(() => sessionStorage.removeItem(STORAGE))
      .finally(() => setRestoring(false));
  }, []);
  const signOut = useCallback(() => {
    sessionStorage.removeItem(STORAGE);
    setApiKey("");
    setSession(null);
  }, []);
  return { session, setSession, signOut, restoring };
}
