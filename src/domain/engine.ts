/**
 * The deterministic state engine (contracts §2, §3). Pure: no IO, no clock of
 * its own (callers pass `now`). The store persists what these functions return.
 *
 * Model: per (runtime, source) a cursor holds the order key of the newest
 * state-bearing event applied and that event's transition (the source's
 * *candidate*), plus `last_seen_at` (newest ingested_at of any event of that
 * source, state-bearing or heartbeat). Both are max-reductions, so the same set
 * of events in any order yields the same cursors (TC-006). The pane's state is
 * then a pure function of (candidates, target health, now).
 */
import type { EngineConfig } from "./config.ts";
import {
  type Confidence,
  type ExternalSource,
  type ReasonCode,
  type State,
  type TargetHealth,
  type Transition,
  confidenceRank,
  precedenceRank,
} from "./model.ts";

/** Total order over events of one runtime+source (contracts §3 step 2). */
export interface OrderKey {
  /** source_seq when present; events without one sort before any with one. */
  seq: number | null;
  /** effective_event_time (ms) */
  eff: number;
  ingestedAt: number;
  eventId: string;
}

export function effectiveEventTime(eventTimeMs: number | null, ingestedAt: number, skewBudgetMs: number): number {
  if (eventTimeMs === null) return ingestedAt;
  return Math.abs(eventTimeMs - ingestedAt) <= skewBudgetMs ? eventTimeMs : ingestedAt;
}

export function orderKey(
  e: { source_seq?: number | null; eventTimeMs: number | null; ingestedAt: number; eventId: string },
  cfg: Pick<EngineConfig, "skewBudgetMs">,
): OrderKey {
  return {
    seq: e.source_seq ?? null,
    eff: effectiveEventTime(e.eventTimeMs, e.ingestedAt, cfg.skewBudgetMs),
    ingestedAt: e.ingestedAt,
    eventId: e.eventId,
  };
}

/** <0 if a is older than b, >0 if newer, 0 if equal. */
export function compareKeys(a: OrderKey, b: OrderKey): number {
  if (a.seq !== b.seq) {
    if (a.seq === null) return -1;
    if (b.seq === null) return 1;
    return a.seq - b.seq;
  }
  if (a.eff !== b.eff) return a.eff - b.eff;
  if (a.ingestedAt !== b.ingestedAt) return a.ingestedAt - b.ingestedAt;
  return a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : 0;
}

export interface Candidate {
  state: State;
  confidence: Confidence;
  reasonCode: ReasonCode | null;
  /** daemon clock when the candidate's event was ingested (demotion timer) */
  ingestedAt: number;
  eventId: string;
}

export interface SourceCursor {
  source: ExternalSource;
  key: OrderKey | null;
  cand: Candidate | null;
  lastSeenAt: number;
}

export interface BoundEvent {
  source: ExternalSource;
  key: OrderKey;
  transition: Transition;
}

export type ApplyStatus = "applied" | "stale_order" | "heartbeat";

/** Step 3 of contracts §3: apply only if newer than the cursor of its runtime+source. */
export function applyToCursor(
  prev: SourceCursor | undefined,
  ev: BoundEvent,
): { cursor: SourceCursor; status: ApplyStatus } {
  const base: SourceCursor = prev ?? { source: ev.source, key: null, cand: null, lastSeenAt: ev.key.ingestedAt };
  const lastSeenAt = Math.max(base.lastSeenAt, ev.key.ingestedAt);
  const t = ev.transition;
  if (t.kind !== "state") {
    return { cursor: { ...base, lastSeenAt }, status: "heartbeat" };
  }
  if (base.key !== null && compareKeys(ev.key, base.key) <= 0) {
    return { cursor: { ...base, lastSeenAt }, status: "stale_order" };
  }
  return {
    cursor: {
      source: ev.source,
      key: ev.key,
      cand: {
        state: t.state,
        confidence: t.confidence,
        reasonCode: t.reason_code ?? null,
        ingestedAt: ev.key.ingestedAt,
        eventId: ev.key.eventId,
      },
      lastSeenAt,
    },
    status: "applied",
  };
}

export interface Resolved {
  state: State;
  reasonCode: ReasonCode | null;
  confidence: Confidence;
  /** the source whose candidate won, null for derived unknowns */
  source: ExternalSource | null;
}

/** A candidate as seen at `now`: completed demotes to idle after the demotion window. */
export function effectiveCandidateState(c: Candidate, now: number, cfg: EngineConfig): State {
  if (c.state === "completed" && now - c.ingestedAt >= cfg.completedDemotionMs) return "idle";
  return c.state;
}

function ttlFor(source: ExternalSource, state: State, cfg: EngineConfig): number | null {
  if (source !== "poller" && cfg.stickyStates.includes(state)) return null;
  return cfg.ttlMs[source];
}

export function isFresh(cur: SourceCursor, now: number, cfg: EngineConfig): boolean {
  if (cur.cand === null) return false;
  const ttl = ttlFor(cur.source, effectiveCandidateState(cur.cand, now, cfg), cfg);
  return ttl === null || now - cur.lastSeenAt <= ttl;
}

/** One candidate as the resolver saw it (for `agtmux explain`). */
export interface CandidateView {
  source: ExternalSource;
  state: State;
  /** after completed -> idle demotion */
  effective_state: State;
  confidence: Confidence;
  reason_code: ReasonCode | null;
  event_id: string;
  ingested_at: number;
  last_seen_at: number;
  /** null: never stale on its own (sticky state or no TTL) */
  ttl_ms: number | null;
  fresh: boolean;
  /** in the highest confidence tier among fresh candidates */
  in_tier: boolean;
  won: boolean;
}

export type ResolutionRule = "target_down" | "no_signal" | "all_stale" | "precedence";

export interface Explanation {
  resolved: Resolved;
  rule: ResolutionRule;
  candidates: CandidateView[];
}

/**
 * Resolution order (contracts §2): (dedupe/order and runtime guard happened
 * upstream) -> target health -> freshness -> confidence tier -> precedence.
 * Lower-confidence candidates (parsed pane text) only count while no fresher
 * high-confidence native signal exists.
 */
export function explainResolution(cursors: readonly SourceCursor[], health: TargetHealth, now: number, cfg: EngineConfig): Explanation {
  const views: CandidateView[] = [];
  for (const cur of cursors) {
    const cand = cur.cand;
    if (cand === null) continue;
    const effective_state = effectiveCandidateState(cand, now, cfg);
    views.push({
      source: cur.source,
      state: cand.state,
      effective_state,
      confidence: cand.confidence,
      reason_code: cand.reasonCode,
      event_id: cand.eventId,
      ingested_at: cand.ingestedAt,
      last_seen_at: cur.lastSeenAt,
      ttl_ms: ttlFor(cur.source, effective_state, cfg),
      fresh: isFresh(cur, now, cfg),
      in_tier: false,
      won: false,
    });
  }
  if (health === "down") {
    return { resolved: { state: "unknown", reasonCode: "target_unreachable", confidence: "low", source: null }, rule: "target_down", candidates: views };
  }
  if (views.length === 0) return { resolved: { state: "unknown", reasonCode: "no_signal", confidence: "low", source: null }, rule: "no_signal", candidates: views };
  const fresh = views.filter((c) => c.fresh);
  if (fresh.length === 0) return { resolved: { state: "unknown", reasonCode: "stale_signal", confidence: "low", source: null }, rule: "all_stale", candidates: views };
  const topConf = Math.max(...fresh.map((c) => confidenceRank(c.confidence)));
  let best: CandidateView | null = null;
  for (const c of fresh) {
    if (confidenceRank(c.confidence) !== topConf) continue;
    c.in_tier = true;
    if (best === null || better(c, best)) best = c;
  }
  const win = best as CandidateView;
  win.won = true;
  const reasonCode = win.effective_state === "unknown" ? (win.reason_code ?? "unsupported_signal") : win.effective_state === win.state ? win.reason_code : null;
  return { resolved: { state: win.effective_state, reasonCode, confidence: win.confidence, source: win.source }, rule: "precedence", candidates: views };
}

export function resolve(cursors: readonly SourceCursor[], health: TargetHealth, now: number, cfg: EngineConfig): Resolved {
  return explainResolution(cursors, health, now, cfg).resolved;
}

/** Deterministic tie-break: precedence, then newer candidate, then source name. */
function better(c: CandidateView, b: CandidateView): boolean {
  const pr = precedenceRank(c.effective_state) - precedenceRank(b.effective_state);
  if (pr !== 0) return pr > 0;
  if (c.ingested_at !== b.ingested_at) return c.ingested_at > b.ingested_at;
  return c.source < b.source;
}

/**
 * The next instant at which `resolve` could change with no new event: a
 * completed candidate's demotion or a candidate's TTL expiry. The reconciler
 * schedules a synthetic event then. null = nothing pending.
 */
export function nextDeadline(cursors: readonly SourceCursor[], now: number, cfg: EngineConfig): number | null {
  let next: number | null = null;
  const consider = (t: number): void => {
    if (t > now && (next === null || t < next)) next = t;
  };
  for (const cur of cursors) {
    const cand = cur.cand;
    if (cand === null) continue;
    if (cand.state === "completed") consider(cand.ingestedAt + cfg.completedDemotionMs);
    const ttl = ttlFor(cur.source, effectiveCandidateState(cand, now, cfg), cfg);
    if (ttl !== null) consider(cur.lastSeenAt + ttl + 1);
  }
  return next;
}

export interface StateRow {
  target_id: string;
  pane_id: string;
  runtime_id: string | null;
  state: State;
  reason_code: string | null;
  confidence: Confidence;
  state_source: string | null;
  state_version: number;
  last_seen_at: number;
  updated_at: number;
}

/**
 * Folds a resolution into the pane's state row. `state_version` increments
 * only when what an operator sees changes (runtime, state, reason, confidence).
 */
export function nextStateRow(
  prev: StateRow | undefined,
  at: { target_id: string; pane_id: string; runtime_id: string | null },
  r: Resolved,
  lastSeenAt: number,
  now: number,
): { row: StateRow; changed: boolean } {
  const changed =
    prev === undefined ||
    prev.runtime_id !== at.runtime_id ||
    prev.state !== r.state ||
    prev.reason_code !== r.reasonCode ||
    prev.confidence !== r.confidence;
  const row: StateRow = {
    target_id: at.target_id,
    pane_id: at.pane_id,
    runtime_id: at.runtime_id,
    state: r.state,
    reason_code: r.reasonCode,
    confidence: r.confidence,
    state_source: r.source,
    state_version: changed ? (prev?.state_version ?? 0) + 1 : (prev as StateRow).state_version,
    last_seen_at: Math.max(prev?.last_seen_at ?? 0, lastSeenAt),
    updated_at: changed ? now : (prev as StateRow).updated_at,
  };
  return { row, changed };
}
