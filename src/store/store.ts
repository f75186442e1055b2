/**
 * Typed access to the SQLite store. Hot statements are prepared once. The
 * daemon is the only writer; callers own transactions (`store.tx`).
 */
import type { Database, SQLQueryBindings, Statement } from "bun:sqlite";
import type { SourceCursor, StateRow } from "../domain/engine.ts";
import type { Confidence, ExternalSource, State, TargetHealth } from "../domain/model.ts";
import type { EndReason, NewRuntime } from "../domain/runtime.ts";

export interface TargetRow {
  target_id: string;
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

  /** Runs fn in one transaction (a savepoint when nested). fn must be synchronous. */
  tx<T>(fn: () => T): T {
    return this.db.transaction(fn)();
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
  insertEvent(e: EventRow): void {
    this.s.insertEvent.run({ ...e });
  }
  eventsForRuntime(runtimeId: string, source: string, limit: number): EventRow[] {
    return this.s.eventsForRuntime.all({ runtime_id: runtimeId, source, limit });
  }
  eventsByAction(actionId: string): EventRow[] {
    return this.s.eventsByAction.all({ action_id: actionId });
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
  statesByState(state: State, limit: number): StoredState[] {
    return this.s.statesByState.all({ state, limit });
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
  purge(payloadBefore: number, eventBefore: number): RetentionCounts {
    return this.tx(() => {
      // delete first, so rows about to go are not counted as cleared
      const events_deleted = this.s.deleteEvents.run({ before: eventBefore }).changes;
      const inbox_deleted = this.s.deleteInbox.run({ before: eventBefore }).changes;
      const payloads_cleared =
        this.s.clearPayloads.run({ before: payloadBefore }).changes + this.s.clearInboxPayloads.run({ before: payloadBefore }).changes;
      return { payloads_cleared, events_deleted, inbox_deleted };
    });
  }
}

export const HOT_QUERIES = {
  getTarget: "SELECT * FROM targets WHERE target_id = $id",
  activeRuntime: "SELECT * FROM runtimes WHERE target_id = $target AND pane_id = $pane AND ended_at IS NULL",
  runtimesForPane: "SELECT * FROM runtimes WHERE target_id = $target AND pane_id = $pane ORDER BY pane_epoch DESC LIMIT 16",
  lastEpoch: "SELECT max(pane_epoch) AS e FROM runtimes WHERE target_id = $target AND pane_id = $pane",
  activeRuntimesForTarget: "SELECT * FROM runtimes WHERE target_id = $target AND ended_at IS NULL",
  eventIdSeen: "SELECT 1 AS x FROM events WHERE event_id = $id UNION ALL SELECT 1 FROM event_inbox WHERE event_id = $id LIMIT 1",
  dedupeSeen: "SELECT 1 AS x FROM events WHERE runtime_id = $runtime_id AND source = $source AND dedupe_key = $dedupe_key",
  eventsForRuntime:
    "SELECT * FROM events WHERE runtime_id = $runtime_id AND source = $source ORDER BY ingested_at DESC LIMIT $limit",
  eventsByAction: "SELECT * FROM events WHERE action_id = $action_id ORDER BY seq",
  inboxSeen:
    "SELECT 1 AS x FROM event_inbox WHERE target_id = $target AND pane_id = $pane AND source = $source AND dedupe_key = $dedupe_key",
  pendingInbox: "SELECT * FROM event_inbox WHERE status = 'pending_bind' ORDER BY ingested_at LIMIT $limit",
  cursors: "SELECT * FROM runtime_source_cursors WHERE runtime_id = $runtime_id",
  getState: "SELECT * FROM states WHERE target_id = $target AND pane_id = $pane",
  listStates: "SELECT * FROM states ORDER BY updated_at DESC",
  statesByState: "SELECT * FROM states WHERE state = $state ORDER BY updated_at DESC LIMIT $limit",
  dueStates: "SELECT * FROM states WHERE next_check_at IS NOT NULL AND next_check_at <= $now ORDER BY next_check_at LIMIT $limit",
  clearPayloads: "UPDATE events SET raw_payload = NULL WHERE ingested_at < $before AND raw_payload IS NOT NULL",
  deleteEvents: "DELETE FROM events WHERE ingested_at < $before",
  deleteInbox: "DELETE FROM event_inbox WHERE status IN ('bound', 'dropped_unbound') AND ingested_at < $before",
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
    listTargets: q0<TargetRow>("SELECT * FROM targets ORDER BY target_id"),
    setTargetHealth: q<unknown, { id: string; health: string; now: number }>(
      "UPDATE targets SET health = $health, health_changed_at = $now, updated_at = $now WHERE target_id = $id AND health <> $health",
    ),
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
    insertEvent: q<unknown, Record<string, string | number | null>>(
      `INSERT INTO events (event_id, runtime_id, target_id, pane_id, source, event_type, dedupe_key, source_event_id, source_seq,
         event_time, ingested_at, effective_time, pid, start_hint, agent_type, action_id, norm_kind, norm_state, norm_confidence,
         norm_reason, outcome, raw_payload)
       VALUES ($event_id, $runtime_id, $target_id, $pane_id, $source, $event_type, $dedupe_key, $source_event_id, $source_seq,
         $event_time, $ingested_at, $effective_time, $pid, $start_hint, $agent_type, $action_id, $norm_kind, $norm_state,
         $norm_confidence, $norm_reason, $outcome, $raw_payload)`,
    ),
    eventsForRuntime: q<EventRow, { runtime_id: string; source: string; limit: number }>(HOT_QUERIES.eventsForRuntime),
    eventsByAction: q<EventRow, { action_id: string }>(HOT_QUERIES.eventsByAction),
    countEvents: q0<{ n: number }>("SELECT count(*) AS n FROM events"),
    inboxSeen: q<{ x: number }, { target: string; pane: string; source: string; dedupe_key: string }>(HOT_QUERIES.inboxSeen),
    insertInbox: q<unknown, Record<string, string | number | null>>(
      `INSERT INTO event_inbox (event_id, target_id, pane_id, source, dedupe_key, pid, start_hint, ingested_at, effective_time, status, envelope)
       VALUES ($event_id, $target_id, $pane_id, $source, $dedupe_key, $pid, $start_hint, $ingested_at, $effective_time, 'pending_bind', $envelope)`,
    ),
    pendingInbox: q<InboxRow, { limit: number }>(HOT_QUERIES.pendingInbox),
    getInbox: q<InboxRow, { id: string }>("SELECT * FROM event_inbox WHERE event_id = $id"),
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
    statesByState: q<StoredState, { state: string; limit: number }>(HOT_QUERIES.statesByState),
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
    clearPayloads: q<unknown, { before: number }>(HOT_QUERIES.clearPayloads),
    clearInboxPayloads: q<unknown, { before: number }>(
      "UPDATE event_inbox SET envelope = json_remove(envelope, '$.raw_payload') WHERE status IN ('bound', 'dropped_unbound') AND ingested_at < $before AND json_type(envelope, '$.raw_payload') IS NOT NULL",
    ),
    deleteEvents: q<unknown, { before: number }>(HOT_QUERIES.deleteEvents),
    deleteInbox: q<unknown, { before: number }>(HOT_QUERIES.deleteInbox),
  };
}
