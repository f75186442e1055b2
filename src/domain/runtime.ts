/**
 * Runtime identity (contracts §4). A runtime is one agent process in one pane
 * instance; `pane_epoch` increments whenever that changes. Pure.
 */
import { createHash } from "node:crypto";

export interface RuntimeIdParts {
  target_id: string;
  boot_id: string;
  pane_id: string;
  pane_epoch: number;
  agent_type: string;
  /** process start time in ns (or ms * 1e6 where only ms is known) */
  started_at_ns: bigint;
}

/** Unique and reproducible: the same parts always give the same id. */
export function computeRuntimeId(p: RuntimeIdParts): string {
  const h = createHash("sha256");
  h.update([p.target_id, p.boot_id, p.pane_id, String(p.pane_epoch), p.agent_type, p.started_at_ns.toString()].join("\u0000"));
  return `rt-${h.digest("hex").slice(0, 40)}`;
}

export interface ActiveRuntime {
  runtime_id: string;
  boot_id: string;
  agent_type: string;
  pid: number | null;
  pane_pid: number | null;
}

export interface AgentObservation {
  agent_type: string;
  pid: number;
  /** process start time, epoch ms */
  started_at: number;
  started_at_ns?: bigint;
}

export interface PaneObservation {
  target_id: string;
  boot_id: string;
  pane_id: string;
  /** the pane's own process (its shell); a different one means the pane was recreated */
  pane_pid: number | null;
  agent: AgentObservation | null;
  /** true for a full resync (daemon start, reconnect): mismatches are reported as such */
  resync: boolean;
}

export type EndReason = "pane_recreated" | "server_restarted" | "pid_changed" | "agent_exited" | "resync_mismatch" | "pane_closed";

export interface NewRuntime {
  runtime_id: string;
  target_id: string;
  boot_id: string;
  pane_id: string;
  pane_epoch: number;
  agent_type: string;
  pid: number;
  pane_pid: number | null;
  started_at: number;
}

export type RuntimeDecision =
  | { kind: "none" }
  | { kind: "keep" }
  | { kind: "end"; runtime_id: string; reason: EndReason }
  | { kind: "start"; runtime: NewRuntime; end?: { runtime_id: string; reason: EndReason } };

/**
 * Decides what an observation of a pane means for its runtime.
 * @param lastEpoch highest pane_epoch ever used for this target+pane (null: none);
 *   a function is only called when a runtime starts (callers look it up lazily)
 */
export function decideRuntime(
  active: ActiveRuntime | undefined,
  obs: PaneObservation,
  lastEpoch: number | null | (() => number | null),
): RuntimeDecision {
  const endReason = active === undefined ? undefined : mismatch(active, obs);
  if (active !== undefined && endReason === undefined) return { kind: "keep" };
  if (obs.agent === null) {
    return active === undefined ? { kind: "none" } : { kind: "end", runtime_id: active.runtime_id, reason: endReason ?? "agent_exited" };
  }
  const pane_epoch = ((typeof lastEpoch === "function" ? lastEpoch() : lastEpoch) ?? -1) + 1;
  const started_at_ns = obs.agent.started_at_ns ?? BigInt(obs.agent.started_at) * 1_000_000n;
  const runtime: NewRuntime = {
    runtime_id: computeRuntimeId({
      target_id: obs.target_id,
      boot_id: obs.boot_id,
      pane_id: obs.pane_id,
      pane_epoch,
      agent_type: obs.agent.agent_type,
      started_at_ns,
    }),
    target_id: obs.target_id,
    boot_id: obs.boot_id,
    pane_id: obs.pane_id,
    pane_epoch,
    agent_type: obs.agent.agent_type,
    pid: obs.agent.pid,
    pane_pid: obs.pane_pid,
    started_at: obs.agent.started_at,
  };
  if (active === undefined || endReason === undefined) return { kind: "start", runtime };
  return { kind: "start", runtime, end: { runtime_id: active.runtime_id, reason: endReason } };
}

function mismatch(a: ActiveRuntime, obs: PaneObservation): EndReason | undefined {
  if (a.boot_id !== obs.boot_id) return "server_restarted";
  if (a.pane_pid !== null && obs.pane_pid !== null && a.pane_pid !== obs.pane_pid) return "pane_recreated";
  if (obs.agent === null) return obs.resync ? "resync_mismatch" : "agent_exited";
  if (a.pid !== obs.agent.pid || a.agent_type !== obs.agent.agent_type) return obs.resync ? "resync_mismatch" : "pid_changed";
  return undefined;
}
