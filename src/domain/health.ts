/**
 * Target health transitions (contracts §6), pure:
 *   ok -> degraded on the first failure;
 *   degraded -> down after 3 consecutive failures within 30 s;
 *   degraded|down -> ok after 2 consecutive successful probes plus a successful topology fetch.
 */
import type { TargetHealth } from "./model.ts";

export interface HealthTracker {
  health: TargetHealth;
  /** times (ms) of the current run of consecutive failures */
  failures: number[];
  successes: number;
}

export const DOWN_AFTER_FAILURES = 3;
export const FAILURE_WINDOW_MS = 30_000;
export const OK_AFTER_SUCCESSES = 2;

export function newTracker(): HealthTracker {
  return { health: "ok", failures: [], successes: 0 };
}

/** @param topologyOk the success included a full topology fetch */
export function observe(t: HealthTracker, ok: boolean, now: number, topologyOk = ok): HealthTracker {
  if (!ok) {
    const failures = [...t.failures, now].filter((x) => now - x <= FAILURE_WINDOW_MS);
    const health: TargetHealth = failures.length >= DOWN_AFTER_FAILURES ? "down" : t.health === "down" ? "down" : "degraded";
    return { health, failures, successes: 0 };
  }
  if (t.health === "ok") return { health: "ok", failures: [], successes: 0 };
  const successes = t.successes + 1;
  if (successes >= OK_AFTER_SUCCESSES && topologyOk) return { health: "ok", failures: [], successes: 0 };
  return { health: t.health, failures: [], successes };
}
