/** A process table snapshot and the agents found in it. */

export interface ProcInfo {
  pid: number;
  ppid: number;
  /** process start time, epoch ms (10 ms resolution from /proc; 1 s from ps) */
  started_at: number;
  /** argv (from /proc/PID/cmdline or ps args); argv[0] may be a path */
  argv: string[];
  /** kernel short name (comm) where known */
  comm?: string;
}

export interface ProcessTable {
  taken_at: number;
  byPid: Map<number, ProcInfo>;
  children: Map<number, number[]>;
}

export const AGENT_TYPES = ["claude", "codex", "gemini", "copilot", "cursor"] as const;
export type AgentType = (typeof AGENT_TYPES)[number];

export interface AgentMatch {
  agent_type: AgentType;
  pid: number;
  started_at: number;
  /** the argv that matched, for display ("node …/codex.js") */
  argv: string[];
}
