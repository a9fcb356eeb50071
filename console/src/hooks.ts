import { useCallback, useEffect, useRef, useState } from "react";

export type Loaded<T> = { data: T | undefined; error: string; loading: boolean;
  reload: () => void };

/** Load once (and whenever `deps` change); `reload` fetches again, keeping the old
 * data on screen meanwhile so nothing jumps. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState("");
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const loader = useRef(load);
  loader.current = load;
  useEffect(() => {
    let live = true;
    setLoading(true);
    loader.current()
      .then((d) => { if (live) { setData(d); setError(""); } })
      .catch((e: Error) => { if (live) setError(e.message); })
      .finally(() => { if (live) setLoading(false); });
    return () => { live = false; };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, loading, reload };
}
