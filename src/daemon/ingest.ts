/**
 * The one ingestion path (contracts §3): external events, spooled events and
 * the reconciler's synthetic events all go through here, one transaction per
 * batch. Only this module writes `states` (through the pure engine).
 */
import * as v from "valibot";
import type { AdapterRegistry } from "../adapters/registry.ts";
import { resolveBind } from "../domain/bind.ts";
import type { DaemonConfig } from "../domain/config.ts";
import {
  type OrderKey,
  type StateRow,
  applyToCursor,
  effectiveEventTime,
  nextDeadline,
  nextStateRow,
  resolve,
} from "../domain/engine.ts";
import { AgtmuxError } from "../domain/errors.ts";
import { type Envelope, EnvelopeSchema, type IngestResult } from "../domain/event.ts";
import { newEventId } from "../domain/ids.ts";
import type { TargetHealth, Transition } from "../domain/model.ts";
import { redactString, redactValue } from "../domain/redact.ts";
import { type AgentObservation, decideRuntime, type RuntimeDecision } from "../domain/runtime.ts";
import type { PaneInfo } from "../tmux/types.ts";
import { type Clock, parseRfc3339 } from "../domain/time.ts";
import { asActiveRuntime, type RuntimeRow, type Store, type StoredState } from "../store/store.ts";
import type { DebugBuffer } from "./debug-buffer.ts";

export interface IngestItem {
  envelope: Envelope;
  /** only the local spool sets this: when the event was queued (same host clock) */
  queuedAt?: number;
}

export type SyntheticEvent =
  | { type: "demotion_due" | "stale_detected"; target_id: string; pane_id: string; runtime_id: string; expect_state_version: number }
  | { type: "target_health_changed"; target_id: string; health: TargetHealth };

export interface StateChange {
  target_id: string;
  pane_id: string;
  before: StateRow | null;
  after: StateRow | null;
}

/** One full look at a target's tmux server and the agent in each pane. */
export interface Observation {
  /** null when no tmux server runs (no panes) */
  server: { boot_id: string; pid: number; version: string } | null;
  panes: readonly PaneInfo[];
  /** pane_id -> the agent process found in it (absent or null: none) */
  agents: ReadonlyMap<string, AgentObservation | null>;
  /** first look after a daemon start or reconnect: mismatches are `resync_mismatch` */
  resync: boolean;
}

export interface ObservationResult {
  changes: StateChange[];
  panes: { added: string[]; removed: string[]; changed: string[] };
  runtimes: { started: string[]; ended: string[] };
}

export interface IngestDeps {
  store: Store;
  registry: AdapterRegistry;
  config: DaemonConfig;
  clock: Clock;
  debug?: DebugBuffer | undefined;
}

const PENDING_BATCH = 500;
const DUE_BATCH = 500;

/** SQLite failures that must fail the whole batch (nothing acknowledged). */
function isFatalStoreError(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code ?? "";
  return /^SQLITE_(FULL|IOERR|READONLY|CORRUPT|NOTADB|CANTOPEN|BUSY|LOCKED|NOMEM)/.test(code);
}

type Touched = Map<string, { target: string; pane: string }>;

/** Marks a pane for re-resolution at the end of the transaction. */
function touch(touched: Touched, target: string, pane: string): void {
  touched.set(`${target}\u0000${pane}`, { target, pane });
}

export class Ingestor {
  private readonly listeners: Array<(changes: StateChange[]) => void> = [];
  private readonly nudgeListeners: Array<(target: string, reason: string) => void> = [];
  private readonly dirtyListeners: Array<() => void> = [];
  constructor(private readonly d: IngestDeps) {}

  /**
   * Called after any commit that may change what lists show: state changes,
   * and topology changes that change no state (a pane opened, renamed, moved).
   */
  onDirty(fn: () => void): void {
    this.dirtyListeners.push(fn);
  }

  /** Something outside ingestion changed what lists show (a target removed). */
  notifyDirty(): void {
    for (const fn of this.dirtyListeners) {
      try {
        fn();
      } catch {
        // a listener must never break ingestion
      }
    }
  }

  /** Called after each commit with the state rows that changed. */
  onCommit(fn: (changes: StateChange[]) => void): () => void {
    this.listeners.push(fn);
    return () => {
      const i = this.listeners.indexOf(fn);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /**
   * Called after a commit when a target should be looked at again now: events
   * wait for their runtime (pending bind), or an adapter says the agent may
   * have exited (e.g. Claude's SessionEnd).
   */
  onNudge(fn: (target: string, reason: string) => void): void {
    this.nudgeListeners.push(fn);
  }

  /**
   * Ingests a batch of validated envelopes in one transaction. `inTx` runs
   * inside the same transaction (the spool reader stores its offset there).
   */
  ingest(items: readonly IngestItem[], inTx?: () => void): IngestResult[] {
    const now = this.d.clock();
    const touched: Touched = new Map();
    let results: IngestResult[] = [];
    const changes = this.d.store.tx(() => {
      results = items.map((it) => this.guarded(it.envelope.event_id, () => this.ingestOne(it, now, touched)));
      inTx?.();
      return this.refresh(touched, now);
    });
    this.publish(changes);
    const nudges = new Map<string, string>();
    results.forEach((r, i) => {
      const e = items[i]?.envelope;
      if (e === undefined) return;
      if (r.status === "pending_bind" && e.target_id !== undefined) nudges.set(e.target_id, "pending-bind");
      else if ((r.status === "applied" || r.status === "heartbeat" || r.status === "stale_order") && this.d.registry.hints(e).rescan === true) {
        const rt = r.runtime_id === undefined ? null : this.d.store.getRuntime(r.runtime_id);
        if (rt !== null) nudges.set(rt.target_id, "agent-exit-hint");
      }
    });
    for (const [t, why] of nudges) for (const fn of this.nudgeListeners) fn(t, why);
    return results;
  }

  ingestSynthetic(events: readonly SyntheticEvent[]): IngestResult[] {
    const now = this.d.clock();
    const touched: Touched = new Map();
    let results: IngestResult[] = [];
    const changes = this.d.store.tx(() => {
      results = events.map((e) => this.synthetic(e, now, touched));
      return this.refresh(touched, now);
    });
    this.publish(changes);
    return results;
  }

  /** Applies a runtime decision from the topology observer, then settles its pane. */
  applyRuntimeDecision(decision: RuntimeDecision, target: string, pane: string): StateChange[] {
    const now = this.d.clock();
    const changes = this.d.store.tx(() => {
      if (decision.kind === "end") this.d.store.endRuntime(decision.runtime_id, now, decision.reason);
      if (decision.kind === "start") {
        if (decision.end !== undefined) this.d.store.endRuntime(decision.end.runtime_id, now, decision.end.reason);
        this.d.store.insertRuntime(decision.runtime, now);
      }
      const touched: Touched = new Map([[`${target}\u0000${pane}`, { target, pane }]]);
      this.bindPending(now, touched);
      return this.refresh(touched, now);
    });
    this.publish(changes);
    return changes;
  }

  /**
   * Applies a topology observation in one transaction: pane rows, runtime
   * starts/ends (contracts §4 via decideRuntime), pending binds, states.
   */
  applyObservation(target: string, obs: Observation): ObservationResult {
    const { store } = this.d;
    const now = this.d.clock();
    const result: ObservationResult = { changes: [], panes: { added: [], removed: [], changed: [] }, runtimes: { started: [], ended: [] } };
    result.changes = store.tx(() => {
      const touched: Touched = new Map();
      store.setTargetTmux(target, obs.server === null ? null : { boot_id: obs.server.boot_id, server_pid: obs.server.pid, version: obs.server.version }, now);
      const bootId = obs.server?.boot_id ?? "none";
      result.panes = store.replacePanes(target, bootId, obs.panes, now);
      // Panes that are gone take their runtime with them.
      for (const pane of result.panes.removed) {
        const rt = store.activeRuntime(target, pane);
        if (rt !== null && store.endRuntime(rt.runtime_id, now, "pane_closed")) result.runtimes.ended.push(rt.runtime_id);
        touch(touched, target, pane);
      }
      const present = new Set(obs.panes.map((p) => p.pane_id));
      for (const rt of store.activeRuntimesForTarget(target)) {
        if (!present.has(rt.pane_id) && store.endRuntime(rt.runtime_id, now, obs.server === null ? "server_restarted" : "pane_closed")) {
          result.runtimes.ended.push(rt.runtime_id);
          touch(touched, target, rt.pane_id);
        }
      }
      // one query for the target's active runtimes, not one per pane
      const activeByPane = new Map(store.activeRuntimesForTarget(target).map((r) => [r.pane_id, r]));
      for (const p of obs.panes) {
        const active = activeByPane.get(p.pane_id);
        const decision = decideRuntime(
          active === undefined ? undefined : asActiveRuntime(active),
          { target_id: target, boot_id: bootId, pane_id: p.pane_id, pane_pid: p.pane_pid, agent: obs.agents.get(p.pane_id) ?? null, resync: obs.resync },
          () => store.lastEpoch(target, p.pane_id),
        );
        if (decision.kind === "none" || decision.kind === "keep") continue;
        if (decision.kind === "end") {
          store.endRuntime(decision.runtime_id, now, decision.reason);
          result.runtimes.ended.push(decision.runtime_id);
        } else {
          if (decision.end !== undefined) {
            store.endRuntime(decision.end.runtime_id, now, decision.end.reason);
            result.runtimes.ended.push(decision.end.runtime_id);
          }
          store.insertRuntime(decision.runtime, now);
          result.runtimes.started.push(decision.runtime.runtime_id);
        }
        touch(touched, target, p.pane_id);
      }
      store.setTopologyObserved(target, now);
      this.bindPending(now, touched);
      return this.refresh(touched, now);
    });
    this.publish(result.changes);
    const p = result.panes;
    if (result.changes.length === 0 && p.added.length + p.removed.length + p.changed.length + result.runtimes.started.length + result.runtimes.ended.length > 0) this.notifyDirty();
    return result;
  }

  /**
   * The reconciler's tick: resolves pending binds, and turns due deadlines
   * (demotion, TTL expiry) into synthetic events through the same path.
   */
  reconcile(): { bound: number; dropped: number; synthetic: number } {
    const now = this.d.clock();
    const touched: Touched = new Map();
    let counts = { bound: 0, dropped: 0 };
    const changes = this.d.store.tx(() => {
      counts = this.bindPending(now, touched);
      return this.refresh(touched, now);
    });
    this.publish(changes);
    const due: SyntheticEvent[] = this.d.store.dueStates(now, DUE_BATCH).flatMap((s) =>
      s.runtime_id === null
        ? []
        : [
            {
              type: s.state === "completed" ? ("demotion_due" as const) : ("stale_detected" as const),
              target_id: s.target_id,
              pane_id: s.pane_id,
              runtime_id: s.runtime_id,
              expect_state_version: s.state_version,
            },
          ],
    );
    if (due.length > 0) this.ingestSynthetic(due);
    return { ...counts, synthetic: due.length };
  }

  /** Re-resolves every pane (daemon start: time has passed while it was down). */
  refreshAll(): StateChange[] {
    const now = this.d.clock();
    const touched: Touched = new Map();
    for (const s of this.d.store.listStates()) touch(touched, s.target_id, s.pane_id);
    for (const t of this.d.store.listTargets()) {
      for (const r of this.d.store.activeRuntimesForTarget(t.target_id)) touch(touched, r.target_id, r.pane_id);
    }
    const changes = this.d.store.tx(() => this.refresh(touched, now));
    this.publish(changes);
    return changes;
  }

  // -------------------------------------------------------------------------

  private publish(changes: StateChange[]): void {
    if (changes.length === 0) return;
    this.notifyDirty();
    for (const fn of this.listeners) {
      try {
        fn(changes);
      } catch {
        // a listener must never break ingestion
      }
    }
  }

  /** Runs one event in a savepoint: a constraint problem rejects only that event. */
  private guarded(eventId: string, fn: () => IngestResult): IngestResult {
    try {
      return this.d.store.tx(fn);
    } catch (err) {
      if (isFatalStoreError(err)) throw err;
      if (err instanceof AgtmuxError) return { event_id: eventId, status: "rejected", error: err.toEnvelope() };
      const message = err instanceof Error ? err.message : String(err);
      return { event_id: eventId, status: "rejected", error: { code: "E_INTERNAL", message: redactString(message), details: {} } };
    }
  }

  private ingestOne(item: IngestItem, now: number, touched: Touched): IngestResult {
    const { store, config } = this.d;
    const raw = item.envelope;
    if (store.eventIdSeen(raw.event_id)) return { event_id: raw.event_id, status: "duplicate" };
    if (config.debug && this.d.debug !== undefined) this.d.debug.put(raw.event_id, raw, now);
    // Redact first: everything below, normalization included, sees only the redacted event.
    const env = redactEnvelope(raw);
    const ingestedAt = item.queuedAt !== undefined && item.queuedAt <= now ? item.queuedAt : now;
    const eventTime = parseRfc3339(env.event_time);
    const eff = effectiveEventTime(eventTime, ingestedAt, config.engine.skewBudgetMs);

    if (env.runtime_id !== undefined) {
      const rt = store.getRuntime(env.runtime_id);
      if (rt === null || rt.ended_at !== null) {
        throw new AgtmuxError("E_RUNTIME_STALE", rt === null ? "unknown runtime" : "runtime has ended", {
          runtime_id: env.runtime_id,
          ended_at: rt?.ended_at ?? null,
        });
      }
      if ((env.target_id !== undefined && env.target_id !== rt.target_id) || (env.pane_id !== undefined && env.pane_id !== rt.pane_id)) {
        throw new AgtmuxError("E_PRECONDITION_FAILED", "runtime_id does not belong to the given target_id/pane_id", {
          runtime_id: rt.runtime_id,
          runtime_target_id: rt.target_id,
          runtime_pane_id: rt.pane_id,
        });
      }
      if (store.dedupeSeen(rt.runtime_id, env.source, env.dedupe_key)) return { event_id: env.event_id, status: "duplicate" };
      return this.applyBound(env, rt, { ingestedAt, eventTime, eff }, touched);
    }

    const target = env.target_id as string;
    const pane = env.pane_id as string;
    const t = store.getTarget(target);
    if (t === null) {
      throw new AgtmuxError("E_REF_NOT_FOUND", `unknown target ${target}`, { target_id: target });
    }
    // Pane ids are per tmux server: an event from another server's %3 must not land on ours.
    if (env.tmux_server_pid !== undefined && t.tmux_server_pid !== null && env.tmux_server_pid !== t.tmux_server_pid) {
      throw new AgtmuxError("E_REF_NOT_FOUND", `the event comes from tmux server pid ${env.tmux_server_pid}, but target ${target} watches pid ${t.tmux_server_pid}`, {
        target_id: target,
        tmux_server_pid: env.tmux_server_pid,
      });
    }
    if (store.inboxSeen(target, pane, env.source, env.dedupe_key)) return { event_id: env.event_id, status: "duplicate" };
    const active = store.activeRuntime(target, pane);
    if (active !== null && store.dedupeSeen(active.runtime_id, env.source, env.dedupe_key)) {
      return { event_id: env.event_id, status: "duplicate" };
    }
    const inboxId = store.insertInbox({
      event_id: env.event_id,
      target_id: target,
      pane_id: pane,
      source: env.source,
      dedupe_key: env.dedupe_key,
      pid: env.pid ?? null,
      start_hint: env.start_hint !== undefined ? parseRfc3339(env.start_hint) : null,
      ingested_at: ingestedAt,
      effective_time: eff,
      envelope: JSON.stringify(env),
    });
    const row = store.getInbox(env.event_id);
    if (row === null) throw new Error("inbox row vanished");
    return this.tryBind({ ...row, inbox_id: inboxId }, env, now, touched);
  }

  private tryBind(
    row: { inbox_id: number; target_id: string; pane_id: string; pid: number | null; start_hint: number | null; ingested_at: number; effective_time: number },
    env: Envelope,
    now: number,
    touched: Touched,
  ): IngestResult {
    const { store, config } = this.d;
    const decision = resolveBind(
      row,
      store.runtimesForPane(row.target_id, row.pane_id),
      store.getTarget(row.target_id)?.last_topology_at ?? null,
      now,
      config.engine,
    );
    if (decision.kind === "wait") return { event_id: env.event_id, status: "pending_bind" };
    if (decision.kind === "drop") {
      store.resolveInbox(row.inbox_id, "dropped_unbound", decision.reason, null, now);
      return { event_id: env.event_id, status: "dropped_unbound", reason_code: decision.reason };
    }
    store.resolveInbox(row.inbox_id, "bound", null, decision.runtime_id, now);
    const rt = store.getRuntime(decision.runtime_id) as RuntimeRow;
    if (store.dedupeSeen(rt.runtime_id, env.source, env.dedupe_key)) {
      return { event_id: env.event_id, status: "duplicate", runtime_id: rt.runtime_id };
    }
    const eventTime = parseRfc3339(env.event_time);
    return this.applyBound(env, rt, { ingestedAt: row.ingested_at, eventTime, eff: row.effective_time }, touched);
  }

  private bindPending(now: number, touched: Touched): { bound: number; dropped: number } {
    let bound = 0;
    let dropped = 0;
    for (const row of this.d.store.pendingInbox(PENDING_BATCH)) {
      const parsed = v.safeParse(EnvelopeSchema, JSON.parse(row.envelope));
      if (!parsed.success) {
        this.d.store.resolveInbox(row.inbox_id, "dropped_unbound", "bind_no_candidate", null, now);
        dropped++;
        continue;
      }
      const r = this.tryBind(row, parsed.output, now, touched);
      if (r.status === "dropped_unbound") dropped++;
      else if (r.status !== "pending_bind") bound++;
    }
    return { bound, dropped };
  }

  private applyBound(
    env: Envelope,
    rt: RuntimeRow,
    t: { ingestedAt: number; eventTime: number; eff: number },
    touched: Touched,
  ): IngestResult {
    const { store, registry } = this.d;
    const transition: Transition = registry.normalize(env);
    const key: OrderKey = { seq: env.source_seq ?? null, eff: t.eff, ingestedAt: t.ingestedAt, eventId: env.event_id };
    const { cursor, status } = applyToCursor(store.cursor(rt.runtime_id, env.source), { source: env.source, key, transition });
    store.upsertCursor(rt.runtime_id, cursor);
    store.insertEvent({
      event_id: env.event_id,
      runtime_id: rt.runtime_id,
      target_id: rt.target_id,
      pane_id: rt.pane_id,
      source: env.source,
      event_type: env.event_type,
      dedupe_key: env.dedupe_key,
      source_event_id: env.source_event_id ?? null,
      source_seq: env.source_seq ?? null,
      event_time: t.eventTime,
      ingested_at: t.ingestedAt,
      effective_time: t.eff,
      pid: env.pid ?? null,
      start_hint: env.start_hint !== undefined ? parseRfc3339(env.start_hint) : null,
      agent_type: env.agent_type ?? null,
      action_id: env.action_id ?? null,
      norm_kind: transition.kind,
      norm_state: transition.kind === "state" ? transition.state : null,
      norm_confidence: transition.kind === "state" ? transition.confidence : null,
      norm_reason: transition.kind === "state" ? (transition.reason_code ?? null) : null,
      outcome: status,
      raw_payload: env.raw_payload === undefined ? null : JSON.stringify(env.raw_payload),
    });
    touch(touched, rt.target_id, rt.pane_id);
    return { event_id: env.event_id, status, runtime_id: rt.runtime_id };
  }

  private synthetic(e: SyntheticEvent, now: number, touched: Touched): IngestResult {
    const { store } = this.d;
    const event_id = `syn-${newEventId()}`;
    let applied = false;
    if (e.type === "target_health_changed") {
      applied = store.setTargetHealth(e.target_id, e.health, now);
      if (applied) {
        for (const s of store.statesForTarget(e.target_id)) touch(touched, s.target_id, s.pane_id);
        for (const r of store.activeRuntimesForTarget(e.target_id)) touch(touched, r.target_id, r.pane_id);
      }
    } else {
      // Guard: only if the pane still shows what the reconciler saw (runtime + version).
      const cur = store.getState(e.target_id, e.pane_id);
      const rt = store.activeRuntime(e.target_id, e.pane_id);
      applied =
        cur !== null && rt !== null && cur.runtime_id === e.runtime_id && rt.runtime_id === e.runtime_id && cur.state_version === e.expect_state_version;
      // Even when the guard fails, the pane is re-resolved so its deadline moves on.
      touch(touched, e.target_id, e.pane_id);
    }
    store.insertEvent({
      event_id,
      runtime_id: e.type === "target_health_changed" ? null : e.runtime_id,
      target_id: e.target_id,
      pane_id: e.type === "target_health_changed" ? null : e.pane_id,
      source: "daemon",
      event_type: e.type,
      dedupe_key: event_id,
      source_event_id: null,
      source_seq: null,
      event_time: now,
      ingested_at: now,
      effective_time: now,
      pid: null,
      start_hint: null,
      agent_type: null,
      action_id: null,
      norm_kind: "synthetic",
      norm_state: null,
      norm_confidence: null,
      norm_reason: null,
      outcome: applied ? "applied" : "ignored",
      raw_payload: JSON.stringify(e),
    });
    return { event_id, status: applied ? "applied" : "ignored" };
  }

  /** Re-resolves each touched pane; only the engine's output is written to `states`. */
  private refresh(touched: Touched, now: number): StateChange[] {
    const { store, config } = this.d;
    const out: StateChange[] = [];
    for (const { target, pane } of touched.values()) {
      const prev = store.getState(target, pane);
      const rt = store.activeRuntime(target, pane);
      if (rt === null) {
        if (prev !== null && store.deleteState(target, pane)) out.push({ target_id: target, pane_id: pane, before: stripCheck(prev), after: null });
        continue;
      }
      const cursors = store.cursors(rt.runtime_id);
      const health = store.getTarget(target)?.health ?? "ok";
      const resolved = resolve(cursors, health, now, config.engine);
      const lastSeen = cursors.reduce((m, c) => Math.max(m, c.lastSeenAt), rt.started_at);
      const prevRow = prev === null ? undefined : stripCheck(prev);
      const { row, changed } = nextStateRow(prevRow, { target_id: target, pane_id: pane, runtime_id: rt.runtime_id }, resolved, lastSeen, now);
      const nextCheck = health === "down" ? null : nextDeadline(cursors, now, config.engine);
      if (changed || prev === null || prev.next_check_at !== nextCheck || prev.last_seen_at !== row.last_seen_at || prev.state_source !== row.state_source) {
        store.upsertState(row, nextCheck);
      }
      if (changed) out.push({ target_id: target, pane_id: pane, before: prevRow ?? null, after: row });
    }
    return out;
  }
}

function stripCheck(s: StoredState): StateRow {
  const { next_check_at: _ignored, ...row } = s;
  return row;
}

/** Every free-text field is redacted before it can reach SQLite. */
export function redactEnvelope(e: Envelope): Envelope {
  const out: Envelope = { ...e, event_type: redactString(e.event_type), dedupe_key: redactString(e.dedupe_key) };
  if (e.source_event_id !== undefined) out.source_event_id = redactString(e.source_event_id);
  if (e.action_id !== undefined) out.action_id = redactString(e.action_id);
  if (e.raw_payload !== undefined) out.raw_payload = redactValue(e.raw_payload);
  return out;
}
