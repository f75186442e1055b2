/** Canonical state model (contracts §2). Pure data, no IO. */

export const STATES = [
  "running",
  "waiting_input",
  "waiting_approval",
  "completed",
  "idle",
  "error",
  "unknown",
] as const;
export type State = (typeof STATES)[number];

/** Highest first (contracts §2). */
export const PRECEDENCE: readonly State[] = [
  "error",
  "waiting_approval",
  "waiting_input",
  "running",
  "completed",
  "idle",
  "unknown",
];
const RANK = new Map<State, number>(PRECEDENCE.map((s, i) => [s, PRECEDENCE.length - i]));
/** Larger is higher precedence. */
export function precedenceRank(s: State): number {
  return RANK.get(s) ?? 0;
}

/** External event sources (contracts §3). */
export const EXTERNAL_SOURCES = ["hook", "notify", "wrapper", "poller"] as const;
export type ExternalSource = (typeof EXTERNAL_SOURCES)[number];
/**
 * `daemon` is internal: the reconciler's synthetic events (stale_detected,
 * target_health_changed, demotion_due). The API refuses it (docs/events.md).
 */
export type Source = ExternalSource | "daemon";

export const CONFIDENCES = ["high", "medium", "low"] as const;
export type Confidence = (typeof CONFIDENCES)[number];
const CONF_RANK: Record<Confidence, number> = { high: 3, medium: 2, low: 1 };
export function confidenceRank(c: Confidence): number {
  return CONF_RANK[c];
}

/** Reason codes that accompany `unknown` (and a few informative ones). */
export const REASON_CODES = [
  "no_signal",
  "stale_signal",
  "target_unreachable",
  "unsupported_signal",
] as const;
export type ReasonCode = (typeof REASON_CODES)[number] | (string & {});

export const TARGET_HEALTH = ["ok", "degraded", "down"] as const;
export type TargetHealth = (typeof TARGET_HEALTH)[number];

export const BIND_DROP_REASONS = ["bind_no_candidate", "bind_ambiguous", "bind_ttl_expired"] as const;
export type BindDropReason = (typeof BIND_DROP_REASONS)[number];

/** What an adapter's normalize step turns one event into (contracts §12). */
export type Transition =
  | { kind: "state"; state: State; confidence: Confidence; reason_code?: ReasonCode }
  /** refreshes freshness of the source without changing its state */
  | { kind: "heartbeat" }
  /** a synthetic reconciler event; triggers re-resolution only */
  | { kind: "synthetic" };

/** Default confidence of a native signal by source. */
export const DEFAULT_CONFIDENCE: Record<ExternalSource, Confidence> = {
  hook: "high",
  notify: "high",
  wrapper: "high",
  poller: "low",
};
