/**
 * The watch stream's client half (contracts §8; protocol in ../wire/watch.ts):
 * read `GET /v1/watch` as newline-delimited JSON over the Unix socket, keep a
 * local copy of the watched items, and reconnect by cursor when the stream
 * ends or the daemon restarts (the daemon answers an old stream's cursor with
 * a `reset` and a fresh `snapshot`, so the local copy is rebuilt, never patched
 * on top of a state it does not know).
 */
import * as v from "valibot";
import { AgtmuxError } from "../domain/errors.ts";
import { precedenceRank, type State } from "../domain/model.ts";
import { PANE_SORTS, type PaneSort, sortPanes } from "../domain/views.ts";
import type { PaneItem, SessionItem, SessionNameItem, Summary, WindowItem } from "../wire/list.ts";
import { WATCH_LINE_TYPES, WATCH_SCOPES, type WatchIdentity, type WatchItem, type WatchLine, type WatchScope, identityKey } from "../wire/watch.ts";
import { type WatchQuery, fromEnvelope, unreachable, watchPath } from "./client.ts";

export type { WatchQuery } from "./client.ts";

/** Headers must arrive within this; the stream itself has no overall timeout. */
export const WATCH_CONNECT_TIMEOUT_MS = 5_000;
/**
 * No byte (not even a heartbeat) for this long: the stream is taken as dead and
 * torn down (watchForever then reconnects by cursor, losing nothing).
 */
export const WATCH_IDLE_TIMEOUT_MS = 60_000;
export const BACKOFF_MIN_MS = 100;
export const BACKOFF_MAX_MS = 2_000;

/**
 * Splits a byte stream into lines. Bytes are decoded as a UTF-8 stream, so a
 * character cut between two chunks is joined, not replaced. `\r\n` is
 * accepted; empty lines are skipped.
 */
export class LineSplitter {
  private readonly decoder = new TextDecoder("utf-8");
  private buf = "";

  push(chunk: Uint8Array): string[] {
    this.buf += this.decoder.decode(chunk, { stream: true });
    return this.take();
  }

  /** The rest, at end of stream: a last line without its `\n` is incomplete (a cut stream) and is dropped. */
  end(): { lines: string[]; partial: string } {
    this.buf += this.decoder.decode();
    const lines = this.take();
    const partial = this.buf;
    this.buf = "";
    return { lines, partial };
  }

  private take(): string[] {
    const out: string[] = [];
    let start = 0;
    for (let i = this.buf.indexOf("\n"); i !== -1; i = this.buf.indexOf("\n", start)) {
      let line = this.buf.slice(start, i);
      if (line.endsWith("\r")) line = line.slice(0, -1);
      if (line !== "") out.push(line);
      start = i + 1;
    }
    if (start > 0) this.buf = this.buf.slice(start);
    return out;
  }
}

/** Only the envelope is checked here: items are the read API's, typed by ../wire/list.ts. */
const LineSchema = v.looseObject({
  type: v.picklist(WATCH_LINE_TYPES),
  stream_id: v.string(),
  cursor: v.string(),
  scope: v.picklist(WATCH_SCOPES),
  sequence: v.number(),
});

export function parseWatchLine(raw: string): WatchLine {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new AgtmuxError("E_INTERNAL", "the watch stream sent a line that is not JSON", { length: raw.length });
  }
  const r = v.safeParse(LineSchema, parsed);
  if (!r.success) {
    const path = v.getDotPath(r.issues[0]) ?? "";
    throw new AgtmuxError("E_INTERNAL", `the watch stream sent a malformed line (${path || "line"}: ${r.issues[0].message})`, {});
  }
  return parsed as WatchLine;
}

/** A line as parsed, and exactly as the daemon wrote it (`watch --format jsonl` prints `raw`). */
export interface Received {
  line: WatchLine;
  raw: string;
}

export interface WatchStreamOptions {
  /** resume after this `<stream_id>:<sequence>` */
  cursor?: string | undefined;
  /** aborting ends the iteration quietly */
  signal?: AbortSignal | undefined;
  connectTimeoutMs?: number;
  /** 0: never */
  idleTimeoutMs?: number;
}

/**
 * One connection to `GET /v1/watch`. Yields every line until the daemon ends
 * the stream (after a terminal `reset`, or when it goes away: the iteration
 * then just ends). Throws the daemon's error envelope as AgtmuxError, and
 * E_DAEMON_UNREACHABLE when the socket cannot be reached or the stream breaks
 * or stalls. An aborted signal ends it without an error.
 */
export async function* watchReceived(socket: string, query: WatchQuery, opts: WatchStreamOptions = {}): AsyncGenerator<Received, void, undefined> {
  const outer = opts.signal;
  // a function, not a narrowed property: the signal flips while we await
  const stopped = (): boolean => outer?.aborted === true;
  if (stopped()) return;
  const ac = new AbortController();
  let why: "connect" | "idle" | null = null;
  const onOuter = (): void => ac.abort();
  outer?.addEventListener("abort", onOuter, { once: true });
  let timer: ReturnType<typeof setTimeout> | undefined = setTimeout(() => {
    why = "connect";
    ac.abort();
  }, opts.connectTimeoutMs ?? WATCH_CONNECT_TIMEOUT_MS);
  const idleMs = opts.idleTimeoutMs ?? WATCH_IDLE_TIMEOUT_MS;
  const armIdle = (): void => {
    clearTimeout(timer);
    timer = idleMs > 0 ? setTimeout(() => ((why = "idle"), ac.abort()), idleMs) : undefined;
  };
  const failure = (err: unknown): AgtmuxError =>
    why === "idle" ? new AgtmuxError("E_DAEMON_UNREACHABLE", `the watch stream was silent for ${idleMs} ms`, { socket }) : why === "connect" ? unreachable(socket, { name: "TimeoutError" }) : unreachable(socket, err);
  let reader: { releaseLock(): void } | undefined;
  try {
    let res: Response;
    try {
      res = await fetch(`http://agtmux${watchPath(query, { cursor: opts.cursor })}`, {
        unix: socket,
        signal: ac.signal,
        headers: { accept: "application/x-ndjson" },
      } as RequestInit & { unix: string });
    } catch (err) {
      if (stopped()) return;
      throw failure(err);
    }
    if (!res.ok) {
      const text = await res.text().catch(() => "");
      let body: unknown = null;
      try {
        body = JSON.parse(text);
      } catch {
        // not an envelope: fromEnvelope names the status
      }
      throw fromEnvelope(body, res.status);
    }
    if (res.body === null) return;
    armIdle();
    const body = res.body.getReader();
    reader = body;
    const split = new LineSplitter();
    for (;;) {
      let chunk: Awaited<ReturnType<typeof body.read>>;
      try {
        chunk = await body.read();
      } catch (err) {
        if (stopped()) return;
        throw failure(err);
      }
      if (chunk.done) {
        // a last line without its newline was cut: the next connection resumes before it
        for (const raw of split.end().lines) {
          const line = parseWatchLine(raw);
          yield { line, raw };
        }
        return;
      }
      armIdle();
      for (const raw of split.push(chunk.value)) {
        const line = parseWatchLine(raw);
        yield { line, raw };
        if (line.type === "reset" && line.terminal) return;
      }
    }
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener("abort", onOuter);
    ac.abort();
    try {
      reader?.releaseLock();
    } catch {
      // already released by the abort
    }
  }
}

/** watchReceived, lines only. */
export async function* watchLines(socket: string, query: WatchQuery, opts: WatchStreamOptions = {}): AsyncGenerator<WatchLine, void, undefined> {
  for await (const r of watchReceived(socket, query, opts)) yield r.line;
}

export type WatchStatus =
  /** the first line of a connection arrived */
  | { kind: "connected"; stream_id: string }
  /** the connection failed or ended; the next attempt comes after retryInMs */
  | { kind: "disconnected"; error: AgtmuxError; attempt: number; retryInMs: number; downForMs: number };

export interface WatchForeverOptions {
  cursor?: string | undefined;
  signal?: AbortSignal | undefined;
  /** end after the terminal `reset` of a daemon shutdown instead of waiting for the next daemon */
  stopOnShutdown?: boolean;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** throw the last error once the daemon has been unreachable this long (default: retry for ever) */
  giveUpAfterMs?: number | undefined;
  onStatus?: (s: WatchStatus) => void;
  /** for tests: the line source of one connection (default: watchReceived on the socket) */
  open?: (cursor: string | undefined, signal: AbortSignal | undefined) => AsyncIterable<Received>;
  /** for tests */
  now?: () => number;
  sleep?: (ms: number, signal: AbortSignal | undefined) => Promise<void>;
}

/** Worth another connection: the daemon is away, stopping or starting. Anything else is an answer. */
function retryable(e: AgtmuxError): boolean {
  return e.code === "E_DAEMON_UNREACHABLE" || e.code === "E_SHUTTING_DOWN";
}

function asAgtmuxError(err: unknown): AgtmuxError {
  return err instanceof AgtmuxError ? err : new AgtmuxError("E_INTERNAL", err instanceof Error ? err.message : String(err), {});
}

function abortableSleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/**
 * The stream, for as long as the caller wants it: reconnects by itself when
 * the stream ends, breaks, or the daemon restarts (backoff 100 ms doubling to
 * 2 s, reset by the first line of a connection), resuming after the last
 * line's cursor. The daemon answers a cursor of an older stream with a
 * `reset` and a fresh `snapshot`, which the caller sees like any other lines.
 * A cursor the daemon refuses (E_CURSOR_INVALID/EXPIRED) is dropped for a
 * fresh snapshot, unless it is the caller's own first cursor (then thrown).
 * Errors that are answers (E_BAD_REQUEST, E_REF_NOT_FOUND, …) are thrown.
 */
export async function* watchForever(socket: string, query: WatchQuery, opts: WatchForeverOptions = {}): AsyncGenerator<Received, void, undefined> {
  const signal = opts.signal;
  const stopped = (): boolean => signal?.aborted === true;
  const min = opts.minBackoffMs ?? BACKOFF_MIN_MS;
  const max = opts.maxBackoffMs ?? BACKOFF_MAX_MS;
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? abortableSleep;
  const open = opts.open ?? ((cursor, sig) => watchReceived(socket, query, { cursor, signal: sig }));
  let cursor = opts.cursor;
  let ownCursor = false;
  let backoff = min;
  let attempt = 0;
  let downSince: number | null = null;
  let refusedInARow = 0;
  while (!stopped()) {
    let error: AgtmuxError;
    let got = false;
    try {
      for await (const r of open(cursor, signal)) {
        if (!got) {
          got = true;
          backoff = min;
          attempt = 0;
          downSince = null;
          refusedInARow = 0;
          opts.onStatus?.({ kind: "connected", stream_id: r.line.stream_id });
        }
        cursor = r.line.cursor;
        ownCursor = true;
        yield r;
        if (r.line.type === "reset" && r.line.terminal && opts.stopOnShutdown === true) return;
      }
      if (stopped()) return;
      error = new AgtmuxError("E_DAEMON_UNREACHABLE", "the watch stream ended", { socket });
    } catch (err) {
      if (stopped()) return;
      error = asAgtmuxError(err);
      if (error.code === "E_CURSOR_INVALID" || error.code === "E_CURSOR_EXPIRED") {
        // ours came from a stream the daemon no longer knows: start over from a snapshot
        if (!ownCursor || refusedInARow > 0) throw error;
        refusedInARow++;
        cursor = undefined;
        continue;
      }
      if (!retryable(error)) throw error;
    }
    const t = now();
    downSince ??= t;
    if (opts.giveUpAfterMs !== undefined && t - downSince >= opts.giveUpAfterMs) throw error;
    attempt++;
    opts.onStatus?.({ kind: "disconnected", error, attempt, retryInMs: backoff, downForMs: t - downSince });
    await sleep(backoff, signal);
    backoff = Math.min(backoff * 2, max);
  }
}

const cmp = (a: string | number | null | undefined, b: string | number | null | undefined): number => {
  if (a === b) return 0;
  if (a === null || a === undefined) return 1;
  if (b === null || b === undefined) return -1;
  if (typeof a === "number" && typeof b === "number") return a - b;
  return String(a) < String(b) ? -1 : 1;
};
const idNum = (id: string | null | undefined): number => (id == null ? Number.MAX_SAFE_INTEGER : Number(id.slice(1)));
const rank = (s: State | null | undefined): number => (s == null ? -1 : precedenceRank(s));

/** The list endpoints' group order (src/domain/views.ts groupOrder): state = highest precedence first, session = by name. */
function groupOrder(sort: string, sa: State | null, sb: State | null, na: string, nb: string): number {
  if (sort === "state") return rank(sb) - rank(sa);
  if (sort === "session") return cmp(na, nb);
  return 0;
}

/** The same order as the list endpoints (src/domain/views.ts), so a watched table reads like `agtmux list`. */
export function sortItems(scope: WatchScope, items: WatchItem[], sort: string | undefined): WatchItem[] {
  const s = sort ?? "target";
  if (scope === "panes") return sortPanes(items as PaneItem[], (PANE_SORTS as readonly string[]).includes(s) ? (s as PaneSort) : "target");
  if (scope === "windows") {
    return (items as WindowItem[]).toSorted(
      (a, b) =>
        groupOrder(s, a.top_state, b.top_state, a.identity.session_name, b.identity.session_name) ||
        cmp(a.identity.target, b.identity.target) ||
        cmp(a.identity.session_name, b.identity.session_name) ||
        cmp(a.window_index, b.window_index) ||
        cmp(idNum(a.identity.window_id), idNum(b.identity.window_id)),
    );
  }
  const first = items[0];
  if (first !== undefined && "totals" in first) {
    // --group-by session-name rows
    return (items as unknown as SessionNameItem[]).toSorted((a, b) => groupOrder(s, a.totals.top_state, b.totals.top_state, "", "") || cmp(a.identity.session_name, b.identity.session_name)) as unknown as WatchItem[];
  }
  return (items as SessionItem[]).toSorted(
    (a, b) =>
      groupOrder(s, a.top_state, b.top_state, a.identity.session_name, b.identity.session_name) ||
      cmp(a.identity.target, b.identity.target) ||
      cmp(a.identity.session_name, b.identity.session_name),
  );
}

function sameIdentity(a: WatchIdentity, b: WatchIdentity): boolean {
  const x = a as unknown as Record<string, unknown>;
  const y = b as unknown as Record<string, unknown>;
  const keys = new Set([...Object.keys(x), ...Object.keys(y)]);
  for (const k of keys) if (x[k] !== y[k]) return false;
  return true;
}

/**
 * The watched items, kept up to date from the lines: a `snapshot` replaces
 * everything, a `delta` upserts and deletes by identity key, a `reset` clears
 * (a snapshot follows). `items()` is in the list endpoints' order.
 */
export class WatchState<T extends WatchItem = WatchItem> {
  readonly scope: WatchScope;
  private readonly sortOverride: string | undefined;
  private readonly map = new Map<string, T>();
  private sorted: T[] | null = [];
  /** the last line's summary (the scope's rollup) */
  summary: Summary | null = null;
  filters: Record<string, unknown> = {};
  cursor: string | null = null;
  streamId: string | null = null;
  /** a snapshot has arrived since the start or the last reset */
  ready = false;
  /** the last reset (cleared by the next snapshot) */
  lastReset: { reason: string; terminal: boolean } | null = null;
  generatedAt: string | null = null;

  constructor(scope: WatchScope, opts: { sort?: string | undefined } = {}) {
    this.scope = scope;
    this.sortOverride = opts.sort;
  }

  /** Applies one line; true when items or summary changed (what a view must redraw for). */
  apply(line: WatchLine<T> | WatchLine): boolean {
    const l = line as WatchLine<T>;
    this.cursor = l.cursor;
    this.streamId = l.stream_id;
    if (l.type === "heartbeat") {
      const changed = this.summary === null || JSON.stringify(this.summary) !== JSON.stringify(l.summary);
      this.summary = l.summary;
      return changed;
    }
    this.summary = l.summary;
    this.filters = l.filters;
    this.generatedAt = l.generated_at;
    if (l.type === "snapshot") {
      this.map.clear();
      for (const item of l.items) this.map.set(identityKey(this.scope, item.identity), item);
      this.ready = true;
      this.lastReset = null;
      this.sorted = null;
      return true;
    }
    if (l.type === "reset") {
      this.map.clear();
      this.ready = false;
      this.lastReset = { reason: l.reason, terminal: l.terminal };
      this.sorted = null;
      return true;
    }
    for (const c of l.changes) {
      const key = identityKey(this.scope, c.identity);
      if (c.op === "upsert") {
        if (c.item === undefined) continue;
        this.map.set(key, c.item);
      } else {
        // a delete names the identity it removes: a pane that moved (same key, new
        // identity) and was upserted first must not be deleted by its old identity
        const cur = this.map.get(key);
        if (cur !== undefined && sameIdentity(cur.identity, c.identity)) this.map.delete(key);
      }
    }
    this.sorted = null;
    return l.changes.length > 0;
  }

  get size(): number {
    return this.map.size;
  }

  get(identity: WatchIdentity): T | undefined {
    return this.map.get(identityKey(this.scope, identity));
  }

  /** In the list endpoints' order for the sort asked for. */
  items(): T[] {
    if (this.sorted === null) {
      const sort = this.sortOverride ?? (typeof this.filters.sort === "string" ? this.filters.sort : undefined);
      this.sorted = sortItems(this.scope, [...this.map.values()], sort) as T[];
    }
    return this.sorted;
  }
}
