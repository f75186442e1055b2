/**
 * Typed access to the SQLite store. Hot statements are prepared once. The
 * daemon is the only writer; callers own transactions (`store.tx`).
 */
import type { Database, SQLQueryBindings, Statement } from "bun:sqlite";
import type { SourceCursor, StateRow } from "../domain/engine.ts";
import type { PaneRecord } from "../domain/views.ts";
import type { Confidence, ExternalSource, State, TargetHealth } from "../domain/model.ts";
import type { ActiveRuntime, EndReason, NewRuntime } from "../domain/runtime.ts";
import type { PaneInfo } from "../tmux/types.ts";

export interface TargetRow {
  target_id: string;
  tmux_boot_id: string | null;
  tmux_server_pid: number | null;
  tmux_version: string | null;
  last_error: string | null;
  last_error_code: string | null;
  last_error_at: number | null;
  agtmux_path: string | null;
  kind: "local" | "ssh";
  connection_ref: string | null;
  tmux_socket: string | null;
  health: TargetHealth;
  health_changed_at: number | null;
  last_topology_at: number | null;
  created_at: number;
  updated_at: number;
}

export interface RuntimeRow {
  runtime_id: string;
  target_id: string;
  tmux_server_boot_id: string;
  pane_id: string;
  pane_epoch: number;
  agent_type: string;
  pid: number | null;
  pane_pid: number | null;
  started_at: number;
  ended_at: number | null;
  end_reason: string | null;
  created_at: number;
}

/** What the runtime-identity rules need of a stored runtime. */
export function asActiveRuntime(r: RuntimeRow): ActiveRuntime {
  return { runtime_id: r.runtime_id, boot_id: r.tmux_server_boot_id, agent_type: r.agent_type, pid: r.pid, pane_pid: r.pane_pid };
}

export interface HookPayloadRow {
  seq: number;
  ingested_at: number;
  raw_payload: string | null;
}

export interface EventRow {
  event_id: string;
  runtime_id: string | null;
  target_id: string;
  pane_id: string | null;
  source: ExternalSource | "daemon";
  event_type: string;
  dedupe_key: string;
  source_event_id: string | null;
  source_seq: number | null;
  event_time: number | null;
  ingested_at: number;
  effective_time: number;
  pid: number | null;
  start_hint: number | null;
  agent_type: string | null;
  action_id: string | null;
  norm_kind: "state" | "heartbeat" | "synthetic";
  norm_state: string | null;
  norm_confidence: string | null;
  norm_reason: string | null;
  outcome: "applied" | "stale_order" | "heartbeat" | "ignored";
  raw_payload: string | null;
}

export interface ActionRow {
  action_id: string;
  action_type: "attach" | "send" | "view-output" | "kill";
  request_ref: string;
  request_hash: string;
  ref: string;
  target_id: string | null;
  pane_id: string | null;
  runtime_id: string | null;
  snapshot_id: string | null;
  requested_by: string | null;
  payload: string | null;
  result_code: string | null;
  result: string | null;
  created_at: number;
  completed_at: number | null;
}

export interface SnapshotRow {
  snapshot_id: string;
  target_id: string;
  pane_id: string;
  runtime_id: string | null;
  state: string | null;
  state_version: number;
  observed_at: number;
  expires_at: number;
  nonce: string;
}

export type InboxStatus = "pending_bind" | "bound" | "dropped_unbound";

export interface InboxRow {
  inbox_id: number;
  event_id: string;
  target_id: string;
  pane_id: string;
  source: ExternalSource;
  dedupe_key: string;
  pid: number | null;
  start_hint: number | null;
  ingested_at: number;
  effective_time: number;
  status: InboxStatus;
  reason_code: string | null;
  runtime_id: string | null;
  envelope: string;
  resolved_at: number | null;
}

interface CursorRow {
  runtime_id: string;
  source: ExternalSource;
  last_source_seq: number | null;
  last_effective_time: number | null;
  last_ingested_at: number | null;
  last_event_id: string | null;
  cand_state: State | null;
  cand_confidence: Confidence | null;
  cand_reason: string | null;
  last_seen_at: number;
}

/**
 * The read model's join (a pane + its active runtime + its state row): the
 * domain's PaneRecord plus the bookkeeping columns the views do not need.
 */
export interface PaneView extends PaneRecord {
  tmux_server_boot_id: string;
  first_seen_at: number;
  last_seen_at: number;
}

/** One `panes` row: the pane columns of PaneView, without the joined runtime and state. */
export type PaneRow = Omit<
  PaneView,
  | "runtime_id"
  | "agent_type"
  | "agent_pid"
  | "agent_started_at"
  | "pane_epoch"
  | "state"
  | "reason_code"
  | "confidence"
  | "state_version"
  | "state_updated_at"
  | "state_last_seen_at"
  | "state_source"
>;

export interface PaneDiff {
  added: string[];
  removed: string[];
  changed: string[];
}

export interface StoredState extends StateRow {
  next_check_at: number | null;
}

export interface RetentionCounts {
  payloads_cleared: number;
  events_deleted: number;
  inbox_deleted: number;
}

function cursorFromRow(r: CursorRow): SourceCursor {
  const hasKey = r.last_event_id !== null && r.last_effective_time !== null && r.last_ingested_at !== null;
  return {
    source: r.source,
    key: hasKey
      ? { seq: r.last_source_seq, eff: r.last_effective_time as number, ingestedAt: r.last_ingested_at as number, eventId: r.last_event_id as string }
      : null,
    cand:
      hasKey && r.cand_state !== null && r.cand_confidence !== null
        ? {
            state: r.cand_state,
            confidence: r.cand_confidence,
            reasonCode: r.cand_reason,
            ingestedAt: r.last_ingested_at as number,
            eventId: r.last_event_id as string,
          }
        : null,
    lastSeenAt: r.last_seen_at,
  };
}

export class Store {
  readonly db: Database;
  private readonly s: ReturnType<typeof prepare>;

  constructor(db: Database) {
    this.db = db;
    this.s = prepare(db);
  }

  /**
   * Runs fn in one transaction (a savepoint when nested). fn must be
   * synchronous. BEGIN IMMEDIATE: the write lock is taken up front, so
   * busy_timeout applies; a deferred transaction that reads first and then
   * writes gets SQLITE_BUSY at once when another process holds the lock.
   */
  tx<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  // --- targets -------------------------------------------------------------
  ensureTarget(t: { target_id: string; kind: "local" | "ssh"; connection_ref?: string | null; tmux_socket?: string | null }, now: number): void {
    this.s.ensureTarget.run({
      target_id: t.target_id,
      kind: t.kind,
      connection_ref: t.connection_ref ?? null,
      tmux_socket: t.tmux_socket ?? null,
      now,
    });
  }
  /** Inserts a new target; false when the name is taken. */
  addTarget(t: { target_id: string; kind: "local" | "ssh"; connection_ref: string | null; tmux_socket: string | null; agtmux_path: string | null }, now: number): boolean {
    return this.s.addTarget.run({ ...t, now }).changes > 0;
  }
  /** Deletes a target with everything observed there (panes, runtimes, states, events cascade) and its spool offsets. */
  removeTarget(id: string): boolean {
    return this.tx(() => {
      this.s.deleteSpoolOffsets.run({ target: id });
      return this.s.removeTarget.run({ id }).changes > 0;
    });
  }
  spoolOffsets(target: string): Record<string, number> {
    const out: Record<string, number> = {};
    for (const r of this.s.spoolOffsetsForTarget.all({ target })) out[r.spool_path] = r.byte_offset;
    return out;
  }
  getTarget(id: string): TargetRow | null {
    return this.s.getTarget.get({ id });
  }
  listTargets(): TargetRow[] {
    return this.s.listTargets.all();
  }
  setTargetHealth(id: string, health: TargetHealth, now: number): boolean {
    return this.s.setTargetHealth.run({ id, health, now }).changes > 0;
  }
  setTopologyObserved(id: string, at: number): void {
    this.s.setTopologyObserved.run({ id, at });
  }

  setTargetTmux(id: string, tmux: { boot_id: string; server_pid: number; version: string } | null, now: number): void {
    this.s.setTargetTmux.run({ id, boot: tmux?.boot_id ?? null, pid: tmux?.server_pid ?? null, version: tmux?.version ?? null, now });
  }
  setTargetError(id: string, err: { code: string; message: string } | null, now: number): void {
    this.s.setTargetError.run({ id, code: err?.code ?? null, message: err?.message ?? null, now });
  }

  // --- panes (topology) ----------------------------------------------------
  /** Makes the target's pane rows equal to `panes`; returns what changed. */
  replacePanes(target: string, bootId: string, panes: readonly PaneInfo[], now: number): PaneDiff {
    const existing = new Map(this.s.panesForTarget.all({ target }).map((p) => [p.pane_id, p]));
    const diff: PaneDiff = { added: [], removed: [], changed: [] };
    const seen = new Set<string>();
    for (const p of panes) {
      seen.add(p.pane_id);
      const row = paneRowFrom(target, bootId, p, now);
      const prev = existing.get(p.pane_id);
      if (prev === undefined) diff.added.push(p.pane_id);
      else if (paneChanged(prev, row)) diff.changed.push(p.pane_id);
      else continue;
      this.s.upsertPane.run({ ...row });
    }
    for (const id of existing.keys()) {
      if (seen.has(id)) continue;
      this.s.deletePane.run({ target, pane: id });
      diff.removed.push(id);
    }
    // one statement for every pane still there, not one per pane
    this.s.touchPanes.run({ target, now });
    return diff;
  }
  listPaneViews(target: string | null): PaneView[] {
    return target === null ? this.s.paneViews.all() : this.s.paneViewsForTarget.all({ target });
  }

  // --- runtimes ------------------------------------------------------------
  insertRuntime(r: NewRuntime, now: number): void {
    this.s.insertRuntime.run({
      runtime_id: r.runtime_id,
      target_id: r.target_id,
      boot_id: r.boot_id,
      pane_id: r.pane_id,
      pane_epoch: r.pane_epoch,
      agent_type: r.agent_type,
      pid: r.pid,
      pane_pid: r.pane_pid,
      started_at: r.started_at,
      now,
    });
  }
  endRuntime(runtimeId: string, at: number, reason: EndReason | string): boolean {
    return this.s.endRuntime.run({ id: runtimeId, at, reason }).changes > 0;
  }
  getRuntime(id: string): RuntimeRow | null {
    return this.s.getRuntime.get({ id });
  }
  activeRuntime(target: string, pane: string): RuntimeRow | null {
    return this.s.activeRuntime.get({ target, pane });
  }
  runtimesForPane(target: string, pane: string): RuntimeRow[] {
    return this.s.runtimesForPane.all({ target, pane });
  }
  lastEpoch(target: string, pane: string): number | null {
    return this.s.lastEpoch.get({ target, pane })?.e ?? null;
  }
  activeRuntimesForTarget(target: string): RuntimeRow[] {
    return this.s.activeRuntimesForTarget.all({ target });
  }

  // --- events --------------------------------------------------------------
  eventIdSeen(eventId: string): boolean {
    return this.s.eventIdSeen.get({ id: eventId }) !== null;
  }
  dedupeSeen(runtimeId: string, source: string, dedupeKey: string): boolean {
    return this.s.dedupeSeen.get({ runtime_id: runtimeId, source, dedupe_key: dedupeKey }) !== null;
  }
  // --- actions (contracts §10) ----------------------------------------------
  getAction(type: string, requestRef: string): ActionRow | null {
    return this.s.getAction.get({ type, ref: requestRef });
  }
  getSnapshot(id: string): SnapshotRow | null {
    return this.s.getSnapshot.get({ id });
  }
  /** the action row and its snapshot, together (one transaction) */
  insertAction(a: ActionRow, snap: SnapshotRow | null): void {
    this.tx(() => {
      if (snap !== null) this.s.insertSnapshot.run({ ...snap });
      this.s.insertAction.run({ ...a });
    });
  }
  completeAction(id: string, code: string, result: string | null, now: number): void {
    this.s.completeAction.run({ id, code, result, now });
  }
  listActions(limit: number): ActionRow[] {
    return this.s.listActions.all({ limit });
  }

  insertEvent(e: EventRow): void {
    this.s.insertEvent.run({ ...e });
  }
  eventsForRuntime(runtimeId: string, source: string, limit: number): EventRow[] {
    return this.s.eventsForRuntime.all({ runtime_id: runtimeId, source, limit });
  }
  /** the newest `hook` events of a runtime stored at or after `since` (ingested_at; an index range), newest first: seq, ingested_at and the (redacted) payload only */
  hookPayloadsForRuntimeSince(runtimeId: string, since: number, limit: number): HookPayloadRow[] {
    return this.s.hookPayloadsForRuntimeSince.all({ runtime_id: runtimeId, since, limit });
  }
  countEvents(): number {
    return this.s.countEvents.get()?.n ?? 0;
  }

  // --- inbox ---------------------------------------------------------------
  inboxSeen(target: string, pane: string, source: string, dedupeKey: string): boolean {
    return this.s.inboxSeen.get({ target, pane, source, dedupe_key: dedupeKey }) !== null;
  }
  insertInbox(r: Omit<InboxRow, "inbox_id" | "status" | "reason_code" | "runtime_id" | "resolved_at">): number {
    return Number(this.s.insertInbox.run({ ...r }).lastInsertRowid);
  }
  pendingInbox(limit: number): InboxRow[] {
    return this.s.pendingInbox.all({ limit });
  }
  inboxForPane(target: string, pane: string, limit: number): InboxRow[] {
    return this.s.inboxForPane.all({ target, pane, limit });
  }
  getInbox(eventId: string): InboxRow | null {
    return this.s.getInbox.get({ id: eventId });
  }
  resolveInbox(inboxId: number, status: Exclude<InboxStatus, "pending_bind">, reason: string | null, runtimeId: string | null, at: number): void {
    this.s.resolveInbox.run({ id: inboxId, status, reason, runtime_id: runtimeId, at });
  }

  // --- cursors -------------------------------------------------------------
  cursors(runtimeId: string): SourceCursor[] {
    return this.s.cursors.all({ runtime_id: runtimeId }).map(cursorFromRow);
  }
  cursor(runtimeId: string, source: ExternalSource): SourceCursor | undefined {
    const r = this.s.cursor.get({ runtime_id: runtimeId, source });
    return r === null ? undefined : cursorFromRow(r);
  }
  upsertCursor(runtimeId: string, c: SourceCursor): void {
    this.s.upsertCursor.run({
      runtime_id: runtimeId,
      source: c.source,
      seq: c.key?.seq ?? null,
      eff: c.key?.eff ?? null,
      ing: c.key?.ingestedAt ?? null,
      eid: c.key?.eventId ?? null,
      cs: c.cand?.state ?? null,
      cc: c.cand?.confidence ?? null,
      cr: c.cand?.reasonCode ?? null,
      seen: c.lastSeenAt,
    });
  }

  // --- states --------------------------------------------------------------
  getState(target: string, pane: string): StoredState | null {
    return this.s.getState.get({ target, pane });
  }
  upsertState(r: StateRow, nextCheckAt: number | null): void {
    this.s.upsertState.run({ ...r, next_check_at: nextCheckAt });
  }
  deleteState(target: string, pane: string): boolean {
    return this.s.deleteState.run({ target, pane }).changes > 0;
  }
  listStates(): StoredState[] {
    return this.s.listStates.all();
  }
  dueStates(now: number, limit: number): StoredState[] {
    return this.s.dueStates.all({ now, limit });
  }
  statesForTarget(target: string): StoredState[] {
    return this.s.statesForTarget.all({ target });
  }

  // --- spool offsets -------------------------------------------------------
  spoolOffset(target: string, path: string): number {
    return this.s.spoolOffset.get({ target, path })?.byte_offset ?? 0;
  }
  setSpoolOffset(target: string, path: string, offset: number, now: number): void {
    this.s.setSpoolOffset.run({ target, path, offset, now });
  }
  deleteSpoolOffset(target: string, path: string): void {
    this.s.deleteSpoolOffset.run({ target, path });
  }

  // --- retention -----------------------------------------------------------
  /** Clears payloads older than payloadBefore and deletes event/inbox rows older than eventBefore. */
  /**
   * One retention chunk (one short transaction): at most `limit` rows of each
   * kind. Deletes first, so rows about to go are not counted as cleared.
   * `more`: a kind hit the limit, call again.
   */
  purgeChunk(payloadBefore: number, eventBefore: number, limit: number): RetentionCounts & { more: boolean } {
    return this.tx(() => {
      const events_deleted = this.s.deleteEvents.run({ before: eventBefore, limit }).changes;
      const inbox_deleted = this.s.deleteInbox.run({ before: eventBefore, limit }).changes;
      const ev = this.s.clearPayloads.run({ before: payloadBefore, limit }).changes;
      const ib = this.s.clearInboxPayloads.run({ before: payloadBefore, limit }).changes;
      return { payloads_cleared: ev + ib, events_deleted, inbox_deleted, more: Math.max(events_deleted, inbox_deleted, ev, ib) >= limit };
    });
  }

  /** Every chunk at once (tests, small stores); the daemon uses chunks with pauses. */
  purge(payloadBefore: number, eventBefore: number, limit = 5_000): RetentionCounts {
    const total: RetentionCounts = { payloads_cleared: 0, events_deleted: 0, inbox_deleted: 0 };
    for (;;) {
      const c = this.purgeChunk(payloadBefore, eventBefore, limit);
      total.payloads_cleared += c.payloads_cleared;
      total.events_deleted += c.events_deleted;
      total.inbox_deleted += c.inbox_deleted;
      if (!c.more) return total;
    }
  }
}

const PANE_VIEW_SQL = `SELECT p.*, r.runtime_id, r.agent_type, r.pid AS agent_pid, r.started_at AS agent_started_at, r.pane_epoch,
    s.state, s.reason_code, s.confidence, s.state_version, s.updated_at AS state_updated_at, s.last_seen_at AS state_last_seen_at,
    s.state_source
  FROM panes p
  LEFT JOIN runtimes r ON r.target_id = p.target_id AND r.pane_id = p.pane_id AND r.ended_at IS NULL
  LEFT JOIN states s ON s.target_id = p.target_id AND s.pane_id = p.pane_id`;

export const HOT_QUERIES = {
  paneViewsForTarget: `${PANE_VIEW_SQL} WHERE p.target_id = $target ORDER BY p.session_name, p.window_index, p.pane_index`,
  getTarget: "SELECT * FROM targets WHERE target_id = $id",
  activeRuntime: "SELECT * FROM runtimes WHERE target_id = $target AND pane_id = $pane AND ended_at IS NULL",
  runtimesForPane: "SELECT * FROM runtimes WHERE target_id = $target AND pane_id = $pane ORDER BY pane_epoch DESC LIMIT 16",
  lastEpoch: "SELECT max(pane_epoch) AS e FROM runtimes WHERE target_id = $target AND pane_id = $pane",
  activeRuntimesForTarget: "SELECT * FROM runtimes WHERE target_id = $target AND ended_at IS NULL",
  eventIdSeen: "SELECT 1 AS x FROM events WHERE event_id = $id UNION ALL SELECT 1 FROM event_inbox WHERE event_id = $id LIMIT 1",
  dedupeSeen: "SELECT 1 AS x FROM events WHERE runtime_id = $runtime_id AND source = $source AND dedupe_key = $dedupe_key",
  hookPayloadsForRuntimeSince:
    "SELECT seq, ingested_at, raw_payload FROM events WHERE runtime_id = $runtime_id AND source = 'hook' AND ingested_at >= $since ORDER BY ingested_at DESC LIMIT $limit",
  eventsForRuntime:
    "SELECT * FROM events WHERE runtime_id = $runtime_id AND source = $source ORDER BY ingested_at DESC LIMIT $limit",
  inboxSeen:
    "SELECT 1 AS x FROM event_inbox WHERE target_id = $target AND pane_id = $pane AND source = $source AND dedupe_key = $dedupe_key",
  pendingInbox: "SELECT * FROM event_inbox WHERE status = 'pending_bind' ORDER BY ingested_at LIMIT $limit",
  cursors: "SELECT * FROM runtime_source_cursors WHERE runtime_id = $runtime_id",
  getState: "SELECT * FROM states WHERE target_id = $target AND pane_id = $pane",
  listStates: "SELECT * FROM states ORDER BY updated_at DESC",
  dueStates: "SELECT * FROM states WHERE next_check_at IS NOT NULL AND next_check_at <= $now ORDER BY next_check_at LIMIT $limit",
  // retention works in chunks (a big purge must not hold the one writer for seconds)
  clearPayloads: "UPDATE events SET raw_payload = NULL WHERE seq IN (SELECT seq FROM events WHERE ingested_at < $before AND raw_payload IS NOT NULL LIMIT $limit)",
  deleteEvents: "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE ingested_at < $before LIMIT $limit)",
  deleteInbox: "DELETE FROM event_inbox WHERE inbox_id IN (SELECT inbox_id FROM event_inbox WHERE status IN ('bound', 'dropped_unbound') AND ingested_at < $before LIMIT $limit)",
} as const;

function prepare(db: Database) {
  type Bindings = Extract<SQLQueryBindings, Record<string, unknown>>;
  const q = <R, P extends Bindings>(sql: string): Statement<R, [P]> => db.query<R, [P]>(sql);
  const q0 = <R>(sql: string): Statement<R, []> => db.query<R, []>(sql);
  return {
    ensureTarget: q<unknown, { target_id: string; kind: string; connection_ref: string | null; tmux_socket: string | null; now: number }>(
      `INSERT INTO targets (target_id, kind, connection_ref, tmux_socket, created_at, updated_at)
       VALUES ($target_id, $kind, $connection_ref, $tmux_socket, $now, $now)
       ON CONFLICT (target_id) DO UPDATE SET kind = excluded.kind, connection_ref = excluded.connection_ref,
         tmux_socket = excluded.tmux_socket, updated_at = excluded.updated_at`,
    ),
    getTarget: q<TargetRow, { id: string }>(HOT_QUERIES.getTarget),
    addTarget: q<unknown, { target_id: string; kind: string; connection_ref: string | null; tmux_socket: string | null; agtmux_path: string | null; now: number }>(
      `INSERT INTO targets (target_id, kind, connection_ref, tmux_socket, agtmux_path, created_at, updated_at)
       VALUES ($target_id, $kind, $connection_ref, $tmux_socket, $agtmux_path, $now, $now) ON CONFLICT (target_id) DO NOTHING`,
    ),
    removeTarget: q<unknown, { id: string }>("DELETE FROM targets WHERE target_id = $id"),
    deleteSpoolOffsets: q<unknown, { target: string }>("DELETE FROM spool_offsets WHERE target_id = $target"),
    spoolOffsetsForTarget: q<{ spool_path: string; byte_offset: number }, { target: string }>(
      "SELECT spool_path, byte_offset FROM spool_offsets WHERE target_id = $target",
    ),
    listTargets: q0<TargetRow>("SELECT * FROM targets ORDER BY target_id"),
    setTargetHealth: q<unknown, { id: string; health: string; now: number }>(
      "UPDATE targets SET health = $health, health_changed_at = $now, updated_at = $now WHERE target_id = $id AND health <> $health",
    ),
    setTargetTmux: q<unknown, { id: string; boot: string | null; pid: number | null; version: string | null; now: number }>(
      "UPDATE targets SET tmux_boot_id = $boot, tmux_server_pid = $pid, tmux_version = coalesce($version, tmux_version), updated_at = $now WHERE target_id = $id",
    ),
    setTargetError: q<unknown, { id: string; code: string | null; message: string | null; now: number }>(
      `UPDATE targets SET last_error_code = $code, last_error = $message, updated_at = $now,
         last_error_at = CASE WHEN $message IS NULL THEN NULL WHEN last_error IS NULL THEN $now ELSE last_error_at END
       WHERE target_id = $id AND coalesce(last_error, '') <> coalesce($message, '')`,
    ),
    panesForTarget: q<PaneRow, { target: string }>("SELECT * FROM panes WHERE target_id = $target"),
    upsertPane: q<unknown, Record<string, string | number | null>>(
      `INSERT INTO panes (target_id, pane_id, tmux_server_boot_id, session_id, session_name, session_created, session_attached,
         window_id, window_index, window_name, window_active, window_zoomed, pane_index, pane_pid, current_command, current_path,
         title, is_active, is_dead, width, height, first_seen_at, last_seen_at)
       VALUES ($target_id, $pane_id, $tmux_server_boot_id, $session_id, $session_name, $session_created, $session_attached,
         $window_id, $window_index, $window_name, $window_active, $window_zoomed, $pane_index, $pane_pid, $current_command,
         $current_path, $title, $is_active, $is_dead, $width, $height, $first_seen_at, $last_seen_at)
       ON CONFLICT (target_id, pane_id) DO UPDATE SET tmux_server_boot_id = excluded.tmux_server_boot_id,
         session_id = excluded.session_id, session_name = excluded.session_name, session_created = excluded.session_created,
         session_attached = excluded.session_attached, window_id = excluded.window_id, window_index = excluded.window_index,
         window_name = excluded.window_name, window_active = excluded.window_active, window_zoomed = excluded.window_zoomed,
         pane_index = excluded.pane_index, pane_pid = excluded.pane_pid, current_command = excluded.current_command,
         current_path = excluded.current_path, title = excluded.title, is_active = excluded.is_active,
         is_dead = excluded.is_dead, width = excluded.width, height = excluded.height,
         first_seen_at = CASE WHEN panes.tmux_server_boot_id = excluded.tmux_server_boot_id THEN panes.first_seen_at ELSE excluded.first_seen_at END,
         last_seen_at = excluded.last_seen_at`,
    ),
    touchPanes: q<unknown, { target: string; now: number }>("UPDATE panes SET last_seen_at = $now WHERE target_id = $target"),
    deletePane: q<unknown, { target: string; pane: string }>("DELETE FROM panes WHERE target_id = $target AND pane_id = $pane"),
    paneViews: q0<PaneView>(`${PANE_VIEW_SQL} ORDER BY p.target_id, p.session_name, p.window_index, p.pane_index`),
    paneViewsForTarget: q<PaneView, { target: string }>(HOT_QUERIES.paneViewsForTarget),
    setTopologyObserved: q<unknown, { id: string; at: number }>(
      "UPDATE targets SET last_topology_at = $at WHERE target_id = $id",
    ),
    insertRuntime: q<
      unknown,
      {
        runtime_id: string;
        target_id: string;
        boot_id: string;
        pane_id: string;
        pane_epoch: number;
        agent_type: string;
        pid: number | null;
        pane_pid: number | null;
        started_at: number;
        now: number;
      }
    >(
      `INSERT INTO runtimes (runtime_id, target_id, tmux_server_boot_id, pane_id, pane_epoch, agent_type, pid, pane_pid, started_at, created_at)
       VALUES ($runtime_id, $target_id, $boot_id, $pane_id, $pane_epoch, $agent_type, $pid, $pane_pid, $started_at, $now)`,
    ),
    endRuntime: q<unknown, { id: string; at: number; reason: string }>(
      "UPDATE runtimes SET ended_at = max($at, started_at), end_reason = $reason WHERE runtime_id = $id AND ended_at IS NULL",
    ),
    getRuntime: q<RuntimeRow, { id: string }>("SELECT * FROM runtimes WHERE runtime_id = $id"),
    activeRuntime: q<RuntimeRow, { target: string; pane: string }>(HOT_QUERIES.activeRuntime),
    runtimesForPane: q<RuntimeRow, { target: string; pane: string }>(HOT_QUERIES.runtimesForPane),
    lastEpoch: q<{ e: number | null }, { target: string; pane: string }>(HOT_QUERIES.lastEpoch),
    activeRuntimesForTarget: q<RuntimeRow, { target: string }>(HOT_QUERIES.activeRuntimesForTarget),
    eventIdSeen: q<{ x: number }, { id: string }>(HOT_QUERIES.eventIdSeen),
    dedupeSeen: q<{ x: number }, { runtime_id: string; source: string; dedupe_key: string }>(HOT_QUERIES.dedupeSeen),
    getAction: q<ActionRow, { type: string; ref: string }>("SELECT * FROM actions WHERE action_type = $type AND request_ref = $ref"),
    getSnapshot: q<SnapshotRow, { id: string }>("SELECT * FROM action_snapshots WHERE snapshot_id = $id"),
    insertSnapshot: q<unknown, Record<string, string | number | null>>(
      `INSERT INTO action_snapshots (snapshot_id, target_id, pane_id, runtime_id, state, state_version, observed_at, expires_at, nonce)
       VALUES ($snapshot_id, $target_id, $pane_id, $runtime_id, $state, $state_version, $observed_at, $expires_at, $nonce)`,
    ),
    insertAction: q<unknown, Record<string, string | number | null>>(
      `INSERT INTO actions (action_id, action_type, request_ref, request_hash, ref, target_id, pane_id, runtime_id, snapshot_id, requested_by, payload, result_code, result, created_at, completed_at)
       VALUES ($action_id, $action_type, $request_ref, $request_hash, $ref, $target_id, $pane_id, $runtime_id, $snapshot_id, $requested_by, $payload, $result_code, $result, $created_at, $completed_at)`,
    ),
    completeAction: q<unknown, { id: string; code: string; result: string | null; now: number }>(
      "UPDATE actions SET result_code = $code, result = $result, completed_at = $now WHERE action_id = $id",
    ),
    listActions: q<ActionRow, { limit: number }>("SELECT * FROM actions ORDER BY created_at DESC, action_id DESC LIMIT $limit"),
    insertEvent: q<unknown, Record<string, string | number | null>>(
      `INSERT INTO events (event_id, runtime_id, target_id, pane_id, source, event_type, dedupe_key, source_event_id, source_seq,
         event_time, ingested_at, effective_time, pid, start_hint, agent_type, action_id, norm_kind, norm_state, norm_confidence,
         norm_reason, outcome, raw_payload)
       VALUES ($event_id, $runtime_id, $target_id, $pane_id, $source, $event_type, $dedupe_key, $source_event_id, $source_seq,
         $event_time, $ingested_at, $effective_time, $pid, $start_hint, $agent_type, $action_id, $norm_kind, $norm_state,
         $norm_confidence, $norm_reason, $outcome, $raw_payload)`,
    ),
    eventsForRuntime: q<EventRow, { runtime_id: string; source: string; limit: number }>(HOT_QUERIES.eventsForRuntime),
    hookPayloadsForRuntimeSince: q<HookPayloadRow, { runtime_id: string; since: number; limit: number }>(HOT_QUERIES.hookPayloadsForRuntimeSince),
    countEvents: q0<{ n: number }>("SELECT count(*) AS n FROM events"),
    inboxSeen: q<{ x: number }, { target: string; pane: string; source: string; dedupe_key: string }>(HOT_QUERIES.inboxSeen),
    insertInbox: q<unknown, Record<string, string | number | null>>(
      `INSERT INTO event_inbox (event_id, target_id, pane_id, source, dedupe_key, pid, start_hint, ingested_at, effective_time, status, envelope)
       VALUES ($event_id, $target_id, $pane_id, $source, $dedupe_key, $pid, $start_hint, $ingested_at, $effective_time, 'pending_bind', $envelope)`,
    ),
    pendingInbox: q<InboxRow, { limit: number }>(HOT_QUERIES.pendingInbox),
    getInbox: q<InboxRow, { id: string }>("SELECT * FROM event_inbox WHERE event_id = $id"),
    // explain only (not hot): the (target, pane, source, dedupe) index narrows it, a small sort follows
    inboxForPane: q<InboxRow, { target: string; pane: string; limit: number }>(
      "SELECT * FROM event_inbox WHERE target_id = $target AND pane_id = $pane AND status <> 'bound' ORDER BY ingested_at DESC LIMIT $limit",
    ),
    resolveInbox: q<unknown, { id: number; status: string; reason: string | null; runtime_id: string | null; at: number }>(
      "UPDATE event_inbox SET status = $status, reason_code = $reason, runtime_id = $runtime_id, resolved_at = $at WHERE inbox_id = $id",
    ),
    cursors: q<CursorRow, { runtime_id: string }>(HOT_QUERIES.cursors),
    cursor: q<CursorRow, { runtime_id: string; source: string }>(
      "SELECT * FROM runtime_source_cursors WHERE runtime_id = $runtime_id AND source = $source",
    ),
    upsertCursor: q<
      unknown,
      {
        runtime_id: string;
        source: string;
        seq: number | null;
        eff: number | null;
        ing: number | null;
        eid: string | null;
        cs: string | null;
        cc: string | null;
        cr: string | null;
        seen: number;
      }
    >(
      `INSERT INTO runtime_source_cursors (runtime_id, source, last_source_seq, last_effective_time, last_ingested_at, last_event_id,
         cand_state, cand_confidence, cand_reason, last_seen_at)
       VALUES ($runtime_id, $source, $seq, $eff, $ing, $eid, $cs, $cc, $cr, $seen)
       ON CONFLICT (runtime_id, source) DO UPDATE SET last_source_seq = excluded.last_source_seq,
         last_effective_time = excluded.last_effective_time, last_ingested_at = excluded.last_ingested_at,
         last_event_id = excluded.last_event_id, cand_state = excluded.cand_state, cand_confidence = excluded.cand_confidence,
         cand_reason = excluded.cand_reason, last_seen_at = excluded.last_seen_at`,
    ),
    getState: q<StoredState, { target: string; pane: string }>(HOT_QUERIES.getState),
    upsertState: q<unknown, Record<string, string | number | null>>(
      `INSERT INTO states (target_id, pane_id, runtime_id, state, reason_code, confidence, state_source, state_version,
         last_seen_at, updated_at, next_check_at)
       VALUES ($target_id, $pane_id, $runtime_id, $state, $reason_code, $confidence, $state_source, $state_version,
         $last_seen_at, $updated_at, $next_check_at)
       ON CONFLICT (target_id, pane_id) DO UPDATE SET runtime_id = excluded.runtime_id, state = excluded.state,
         reason_code = excluded.reason_code, confidence = excluded.confidence, state_source = excluded.state_source,
         state_version = excluded.state_version, last_seen_at = excluded.last_seen_at, updated_at = excluded.updated_at,
         next_check_at = excluded.next_check_at`,
    ),
    deleteState: q<unknown, { target: string; pane: string }>("DELETE FROM states WHERE target_id = $target AND pane_id = $pane"),
    listStates: q0<StoredState>(HOT_QUERIES.listStates),
    dueStates: q<StoredState, { now: number; limit: number }>(HOT_QUERIES.dueStates),
    statesForTarget: q<StoredState, { target: string }>("SELECT * FROM states WHERE target_id = $target"),
    spoolOffset: q<{ byte_offset: number }, { target: string; path: string }>(
      "SELECT byte_offset FROM spool_offsets WHERE target_id = $target AND spool_path = $path",
    ),
    setSpoolOffset: q<unknown, { target: string; path: string; offset: number; now: number }>(
      `INSERT INTO spool_offsets (target_id, spool_path, byte_offset, updated_at) VALUES ($target, $path, $offset, $now)
       ON CONFLICT (target_id, spool_path) DO UPDATE SET byte_offset = excluded.byte_offset, updated_at = excluded.updated_at`,
    ),
    deleteSpoolOffset: q<unknown, { target: string; path: string }>(
      "DELETE FROM spool_offsets WHERE target_id = $target AND spool_path = $path",
    ),
    clearPayloads: q<unknown, { before: number; limit: number }>(HOT_QUERIES.clearPayloads),
    clearInboxPayloads: q<unknown, { before: number; limit: number }>(
      `UPDATE event_inbox SET envelope = json_remove(envelope, '$.raw_payload') WHERE inbox_id IN (SELECT inbox_id FROM event_inbox
         WHERE status IN ('bound', 'dropped_unbound') AND ingested_at < $before AND json_type(envelope, '$.raw_payload') IS NOT NULL LIMIT $limit)`,
    ),
    deleteEvents: q<unknown, { before: number; limit: number }>(HOT_QUERIES.deleteEvents),
    deleteInbox: q<unknown, { before: number; limit: number }>(HOT_QUERIES.deleteInbox),
  };
}

function paneRowFrom(target: string, bootId: string, p: PaneInfo, now: number): PaneRow {
  return {
    target_id: target,
    pane_id: p.pane_id,
    tmux_server_boot_id: bootId,
    session_id: p.session_id,
    session_name: p.session_name,
    session_created: p.session_created,
    session_attached: p.session_attached,
    window_id: p.window_id,
    window_index: p.window_index,
    window_name: p.window_name,
    window_active: p.window_active ? 1 : 0,
    window_zoomed: p.window_zoomed ? 1 : 0,
    pane_index: p.pane_index,
    pane_pid: p.pane_pid,
    current_command: p.pane_current_command,
    current_path: p.pane_current_path,
    title: p.pane_title,
    is_active: p.pane_active ? 1 : 0,
    is_dead: p.pane_dead ? 1 : 0,
    width: p.pane_width,
    height: p.pane_height,
    first_seen_at: now,
    last_seen_at: now,
  };
}

const PANE_FIELDS = [
  "tmux_server_boot_id", "session_id", "session_name", "session_attached", "window_id", "window_index", "window_name",
  "window_active", "window_zoomed", "pane_index", "pane_pid", "current_command", "current_path", "title", "is_active",
  "is_dead", "width", "height",
] as const satisfies ReadonlyArray<keyof PaneRow>;

function paneChanged(a: PaneRow, b: PaneRow): boolean {
  return PANE_FIELDS.some((k) => a[k] !== b[k]);
}
