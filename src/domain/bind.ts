/**
 * Pending-bind resolver (contracts §3). An event without runtime_id waits in
 * the inbox until exactly one *active* runtime of its target+pane matches every
 * hint it carries (pid equal; |started_at - start_hint| <= tolerance).
 */
import type { EngineConfig } from "./config.ts";
import type { BindDropReason } from "./model.ts";

export interface BindRuntime {
  runtime_id: string;
  pid: number | null;
  started_at: number;
  ended_at: number | null;
}

export interface PendingBind {
  pid: number | null;
  start_hint: number | null;
  ingested_at: number;
  /** effective event time: when the event happened as far as we trust it */
  effective_time: number;
}

export type BindDecision =
  | { kind: "bind"; runtime_id: string }
  | { kind: "drop"; reason: BindDropReason }
  | { kind: "wait" };

/** A topology scan this long after ingest that still shows no match is conclusive. */
export const BIND_OBSERVE_GRACE_MS = 1_000;

/**
 * @param runtimes every runtime of the event's target+pane (active and ended)
 * @param topologyObservedAt when the target's topology was last fully scanned (null: never)
 */
export function resolveBind(
  p: PendingBind,
  runtimes: readonly BindRuntime[],
  topologyObservedAt: number | null,
  now: number,
  cfg: Pick<EngineConfig, "bindTtlMs" | "bindStartToleranceMs">,
): BindDecision {
  const tol = cfg.bindStartToleranceMs;
  const t = p.effective_time;
  // Runtimes alive when the event happened (with tolerance for coarse start times).
  const alive = runtimes.filter((r) => r.started_at - tol <= t && (r.ended_at === null || r.ended_at + tol >= t));
  const matches = alive.filter(
    (r) =>
      (p.pid === null || r.pid === p.pid) &&
      (p.start_hint === null || Math.abs(r.started_at - p.start_hint) <= tol),
  );
  if (matches.length > 1) return { kind: "drop", reason: "bind_ambiguous" };
  const only = matches[0];
  if (only !== undefined) {
    // Its runtime already ended: the event cannot change any current state.
    return only.ended_at === null ? { kind: "bind", runtime_id: only.runtime_id } : { kind: "drop", reason: "bind_no_candidate" };
  }
  if (topologyObservedAt !== null && topologyObservedAt >= p.ingested_at + BIND_OBSERVE_GRACE_MS) {
    return { kind: "drop", reason: "bind_no_candidate" };
  }
  if (now - p.ingested_at >= cfg.bindTtlMs) return { kind: "drop", reason: "bind_ttl_expired" };
  return { kind: "wait" };
}
