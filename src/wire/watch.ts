/**
 * Watch stream wire types (contracts §8), shared by the daemon (producer)
 * and the client (consumer).
 *
 * `GET /v1/watch?scope=panes|windows|sessions&cursor=<stream_id>:<sequence>&<list filters>`
 * answers newline-delimited JSON (one flushed line per event), or SSE with
 * `Accept: text/event-stream` (`event: <type>`, `id: <cursor>`, `data: <line>`).
 * Lines: first a `snapshot` (or, with a cursor, the `delta`s after it), then
 * `delta`s; `reset` (followed by a fresh `snapshot`) when the cursor expired,
 * came from another stream, or the client fell behind; a terminal `reset`
 * with reason `shutdown` when the daemon stops. `heartbeat` lines (additive,
 * see docs/contract-notes.md) keep idle connections honest and carry the
 * current cursor.
 *
 * Response mode (`once=1`): one JSON object `{..., lines: WatchLine[]}` with the
 * snapshot (no cursor) or the deltas after the cursor; an expired cursor is
 * `E_CURSOR_EXPIRED` (410), a malformed or future one `E_CURSOR_INVALID` (400).
 */
import type { PaneIdentity, PaneItem, SessionIdentity, SessionItem, Summary, WindowIdentity, WindowItem } from "./list.ts";

export const WATCH_SCOPES = ["panes", "windows", "sessions"] as const;
export type WatchScope = (typeof WATCH_SCOPES)[number];

export const WATCH_LINE_TYPES = ["snapshot", "delta", "reset", "heartbeat"] as const;
export type WatchLineType = (typeof WATCH_LINE_TYPES)[number];

export type WatchIdentity = PaneIdentity | WindowIdentity | SessionIdentity;
export type WatchItem = PaneItem | WindowItem | SessionItem;

export interface WatchChange<T = WatchItem> {
  op: "upsert" | "delete";
  identity: WatchIdentity;
  /** the full item on upsert */
  item?: T;
}

export type ResetReason = "cursor_expired" | "stream_changed" | "slow_consumer" | "shutdown";

interface LineBase {
  schema_version: number;
  generated_at: string;
  /** when this line was written to this client */
  emitted_at: string;
  stream_id: string;
  /** `<stream_id>:<sequence>`: resume after this line */
  cursor: string;
  scope: WatchScope;
  sequence: number;
  filters: Record<string, unknown>;
  summary: Summary;
}

export interface WatchSnapshot<T = WatchItem> extends LineBase {
  type: "snapshot";
  items: T[];
}

export interface WatchDelta<T = WatchItem> extends LineBase {
  type: "delta";
  changes: Array<WatchChange<T>>;
}

export interface WatchReset extends LineBase {
  type: "reset";
  reason: ResetReason;
  /** a snapshot follows unless this is the terminal reset of a shutdown */
  terminal: boolean;
}

export interface WatchHeartbeat extends LineBase {
  type: "heartbeat";
}

export type WatchLine<T = WatchItem> = WatchSnapshot<T> | WatchDelta<T> | WatchReset | WatchHeartbeat;

/** `GET /v1/watch?once=1` */
export interface WatchResponse<T = WatchItem> {
  schema_version: number;
  generated_at: string;
  stream_id: string;
  cursor: string;
  scope: WatchScope;
  lines: Array<WatchLine<T>>;
}

/** `<stream_id>:<sequence>` */
export function formatCursor(streamId: string, sequence: number): string {
  return `${streamId}:${sequence}`;
}

/** null when malformed */
export function parseCursor(s: string): { stream_id: string; sequence: number } | null {
  const m = /^([A-Za-z0-9._-]{1,128}):(0|[1-9][0-9]{0,15})$/.exec(s);
  if (m === null) return null;
  const sequence = Number(m[2]);
  if (!Number.isSafeInteger(sequence)) return null;
  return { stream_id: m[1] as string, sequence };
}

/** the key of an identity within a scope (panes: target + pane id; windows: target + window id; sessions: target + name) */
export function identityKey(scope: WatchScope, id: WatchIdentity): string {
  if (scope === "panes") return `${id.target}\u0000${(id as PaneIdentity).pane_id}`;
  if (scope === "windows") return `${id.target}\u0000${(id as WindowIdentity).window_id}`;
  return `${id.target}\u0000${id.session_name}`;
}
