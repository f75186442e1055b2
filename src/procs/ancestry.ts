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

export function findAgentAncestor(startPid: number, want?: AgentType, procRoot = "/proc"): AgentMatch | null {
  if (process.platform !== "linux") return null;
  let pid = startPid;
  let btime: number | undefined;
  for (let depth = 0; depth < MAX_DEPTH && pid > 1; depth++) {
    let statText: string;
    let cmdline: string;
    try {
      statText = readFileSync(`${procRoot}/${pid}/stat`, "utf8");
      cmdline = readFileSync(`${procRoot}/${pid}/cmdline`, "utf8");
    } catch {
      return null;
    }
    const st = parseStat(statText);
    if (st === null) return null;
    const argv = parseCmdline(cmdline);
    const agent = matchAgent({ argv, comm: st.comm });
    if (agent !== null && (want === undefined || agent === want)) {
      btime ??= readBootTimeMs(procRoot);
      return { agent_type: agent, pid, started_at: btime + Math.round((st.starttime * 1000) / LINUX_USER_HZ), argv };
    }
    pid = st.ppid;
  }
  return null;
}
