/**
 * Where a hook runs: walk up from a process (a hook's parent shell) to the
 * agent that ran it, reading only the few /proc entries on the way (no full
 * table scan: `agtmux emit` must stay fast). Linux only; elsewhere null.
 */
import { readFileSync } from "node:fs";
import { matchAgent } from "./agents.ts";
import { LINUX_USER_HZ, parseCmdline, parseStat, readBootTimeMs } from "./table.ts";
import type { AgentMatch, AgentType } from "./types.ts";

const MAX_DEPTH = 8;

/**
 * The agent a hook runs under. A launcher and its native child are one agent
 * (`node …/codex` -> `…/codex`): the topology records the outermost process, so
 * the walk keeps going while the parent is the same agent and returns that one.
 */
export function findAgentAncestor(startPid: number, want?: AgentType, procRoot = "/proc"): AgentMatch | null {
  const o = hookOrigin(startPid, want, procRoot);
  return o.kind === "agent" ? o.match : null;
}

export type HookOrigin = { kind: "agent"; match: AgentMatch } | { kind: "shared-daemon"; pid: number } | { kind: "unknown" };

/** Where a hook runs: under one pane's agent, under a daemon shared by many panes, or unknown. */
export function hookOrigin(startPid: number, want?: AgentType, procRoot = "/proc"): HookOrigin {
  if (process.platform !== "linux") return { kind: "unknown" };
  const r = walk(startPid, want, procRoot);
  if (r === "shared-daemon") return { kind: "shared-daemon", pid: startPid };
  return r === null ? { kind: "unknown" } : { kind: "agent", match: r };
}

function walk(startPid: number, want: AgentType | undefined, procRoot: string): AgentMatch | null | "shared-daemon" {
  let pid = startPid;
  let btime: number | undefined;
  let found: AgentMatch | null = null;
  for (let depth = 0; depth < MAX_DEPTH && pid > 1; depth++) {
    let statText: string;
    let cmdline: string;
    try {
      statText = readFileSync(`${procRoot}/${pid}/stat`, "utf8");
      cmdline = readFileSync(`${procRoot}/${pid}/cmdline`, "utf8");
    } catch {
      return found;
    }
    const st = parseStat(statText);
    if (st === null) return found;
    const argv = parseCmdline(cmdline);
    const agent = matchAgent({ argv, comm: st.comm });
    // Codex's shared app-server daemon runs hooks for every pane; it belongs to none, and its
    // parents are whichever pane started it. Under it, a hook cannot be attributed.
    if (agent === "codex" && argv.includes("app-server")) return "shared-daemon";
    const wanted = agent !== null && (want === undefined || agent === want) && (found === null || agent === found.agent_type);
    if (!wanted && found !== null) return found; // past the outermost process of that agent
    if (wanted && agent !== null) {
      btime ??= readBootTimeMs(procRoot);
      found = { agent_type: agent, pid, started_at: btime + Math.round((st.starttime * 1000) / LINUX_USER_HZ), argv };
    }
    pid = st.ppid;
  }
  return found;
}
