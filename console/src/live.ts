// The live stream (GET /api/v1/stream) read with fetch: EventSource cannot send the
// X-API-Key header. Reconnects after a drop and resumes with Last-Event-ID.
import { useEffect, useRef, useState } from "react";
import { currentApiKey, type SignalRow } from "./api/client";

export type AccountChange = { account_id: string; tenant_id: string; cause: string;
  state: unknown };

type Handlers = { onSignal?: (row: SignalRow) => void;
  onAccount?: (change: AccountChange) => void };

type Frame = { id: string; event: string; data: string };

/** Split a chunked SSE body into frames; returns the frames and the unfinished rest. */
export function parseFrames(buffer: string): [Frame[], string] {
  const frames: Frame[] = [];
  const parts = buffer.split("\n\n");
  const rest = parts.pop() ?? "";
  for (const part of parts) {
    const frame: Frame = { id: "", event: "message", data: "" };
    for (const line of part.split("\n")) {
      if (line.startsWith(":")) continue;
      const at = line.indexOf(":");
      const name = at < 0 ? line : line.slice(0, at);
      const value = at < 0 ? "" : line.slice(at + 1).replace(/^ /, "");
      if (name === "id") frame.id = value;
      else if (name === "event") frame.event = value;
      else if (name === "data") frame.data += value;
    }
    if (frame.data || frame.event !== "message") frames.push(frame);
  }
  return [frames, rest];
}

/** Follow the live stream while mounted (filters as the list's); says if connected. */
export function useLiveStream(query: Record<string, string>, handlers: Handlers): boolean {
  const [connected, setConnected] = useState(false);
  const ref = useRef(handlers);
  ref.current = handlers;
  const key = JSON.stringify(query);
  useEffect(() => {
    const abort = new AbortController();
    let lastId = "";
    let stopped = false;
    async function run() {
      while (!stopped) {
        try {
          const params = new URLSearchParams(JSON.parse(key) as Record<string, string>);
          const headers: Record<string, string> = { "X-API-Key": currentApiKey() };
          if (lastId) headers["Last-Event-ID"] = lastId;
          const resp = await fetch(`/api/v1/stream?${params}`, { headers,
            signal: abort.signal });
          if (!resp.ok || !resp.body) throw new Error(`HTTP ${resp.status}`);
          setConnected(true);
          const reader = resp.body.getReader();
          const decoder = new TextDecoder();
          let buffer = "";
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buffer += decoder.decode(value, { stream: true });
            const [frames, rest] = parseFrames(buffer);
            buffer = rest;
            for (const f of frames) {
              if (f.id) lastId = f.id;
              if (f.event === "signal") ref.current.onSignal?.(JSON.parse(f.data));
              if (f.event === "account") ref.current.onAccount?.(JSON.parse(f.data));
            }
          }
        } catch {
          if (stopped) return;
        }
        setConnected(false);
        await new Promise((r) => setTimeout(r, 1500));
      }
    }
    void run();
    return () => { stopped = true; abort.abort(); };
  }, [key]);
  return connected;
}
