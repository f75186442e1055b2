/**
 * Process-table snapshots: one pass over /proc on local Linux, one `ps` call
 * through an Executor everywhere else (macOS, remote targets).
 *
 * Both produce the same shape (ProcessTable): every live process with its
 * parent, start time (epoch ms) and argv, plus a parent → children index.
 * Zombies are left out (they have no argv and their children are already
 * reparented); kernel threads are kept with an empty argv and their comm.
 */
import { readdirSync, readFileSync } from "node:fs";
import type { Executor } from "../targets/executor.ts";
import type { ProcessTable, ProcInfo } from "./types.ts";

/**
 * Clock ticks per second of the starttime field in /proc/PID/stat. This is the
 * kernel's USER_HZ, which is part of the user-space ABI and is 100 on every
 * architecture we run on (x86, x86_64, arm, arm64, riscv, ppc, s390);
 * `getconf CLK_TCK` prints it. Only alpha and ia64 differ (1024); pass
 * `clockTicks` to override.
 */
export const LINUX_USER_HZ = 100;

export interface ReadProcTableOptions {
  /** default "/proc" (tests point it at a fake tree) */
  procRoot?: string;
  /** taken_at of the snapshot; default Date.now() */
  now?: number;
  /** USER_HZ; default LINUX_USER_HZ (100) */
  clockTicks?: number;
}

/** btime per procRoot: read once. It is fixed for the life of the kernel, and re-reading it can jitter by ±1 s under clock adjustments, which would make start times (process identity) wobble. */
const btimeCache = new Map<string, number>();

function bootTime(procRoot: string): number {
  const cached = btimeCache.get(procRoot);
  if (cached !== undefined) return cached;
  const text = readFileSync(`${procRoot}/stat`, "utf8");
  const m = /^btime\s+(\d+)\s*$/m.exec(text);
  if (m?.[1] === undefined) throw new Error(`${procRoot}/stat: no btime line`);
  const btime = Number(m[1]);
  btimeCache.set(procRoot, btime);
  return btime;
}

/** Boot time in epoch ms (for turning stat's starttime into a wall-clock time). */
export function readBootTimeMs(procRoot = "/proc"): number {
  return bootTime(procRoot) * 1000;
}

/** Fields of /proc/PID/stat that we use. */
export interface StatFields {
  pid: number;
  comm: string;
  state: string;
  ppid: number;
  /** field 22: clock ticks since boot */
  starttime: number;
}

/**
 * Parses one /proc/PID/stat line. comm sits in parentheses and may itself
 * contain spaces and ')', so the comm ends at the LAST ')'; the fields after
 * it are space-separated (state is field 3, ppid field 4, starttime field 22).
 */
export function parseStat(text: string): StatFields | null {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) return null;
  const pid = Number(text.slice(0, open).trim());
  const comm = text.slice(open + 1, close);
  const rest = text.slice(close + 1).trim().split(" ");
  // rest[0] is field 3, so field N is rest[N - 3]
  const state = rest[0];
  const ppid = Number(rest[1]);
  const starttime = Number(rest[19]);
  if (state === undefined || !Number.isSafeInteger(pid) || !Number.isSafeInteger(ppid) || !Number.isSafeInteger(starttime) || rest[19] === undefined) {
    return null;
  }
  return { pid, comm, state, ppid, starttime };
}

/**
 * NUL-separated argv. Trailing empty elements are dropped: the file ends in a
 * NUL, and a process that rewrote its title (node's process.title, libuv)
 * leaves the rest of the original argv area zeroed.
 */
export function parseCmdline(text: string): string[] {
  const argv = text.split("\0");
  while (argv.length > 0 && argv[argv.length - 1] === "") argv.pop();
  return argv;
}

/**
 * Local Linux snapshot: one pass over procRoot, reading `stat` and `cmdline`
 * of each numeric entry. A process that exits mid-read (any read error) is
 * skipped silently; so are zombies. Kernel threads (empty cmdline) are kept
 * with argv [] and their comm.
 *
 * started_at = (btime + starttime / USER_HZ) * 1000, an integer with 10 ms
 * resolution. btime is whole seconds, so it may read up to 1 s before the
 * true wall-clock start; it is the same for every process, so comparisons and
 * identity (pid + started_at) are exact.
 */
export function readProcTable(opts: ReadProcTableOptions = {}): ProcessTable {
  const procRoot = opts.procRoot ?? "/proc";
  const ticks = opts.clockTicks ?? LINUX_USER_HZ;
  const btimeMs = bootTime(procRoot) * 1000;
  const taken_at = opts.now ?? Date.now();
  const procs: ProcInfo[] = [];
  for (const name of readdirSync(procRoot)) {
    if (!/^\d+$/.test(name)) continue;
    let statText: string;
    let cmdlineText: string;
    try {
      statText = readFileSync(`${procRoot}/${name}/stat`, "utf8");
      cmdlineText = readFileSync(`${procRoot}/${name}/cmdline`, "utf8");
    } catch {
      continue; // vanished (ENOENT/ESRCH) or unreadable
    }
    const st = parseStat(statText);
    if (st === null || st.state === "Z" || st.state === "X") continue;
    procs.push({
      pid: st.pid,
      ppid: st.ppid,
      started_at: btimeMs + Math.round((st.starttime * 1000) / ticks),
      argv: parseCmdline(cmdlineText),
      comm: st.comm,
    });
  }
  return buildTable(procs, taken_at);
}

/** Builds the pid and parent → children indexes (children sorted by pid). */
export function buildTable(procs: readonly ProcInfo[], taken_at: number): ProcessTable {
  const byPid = new Map<number, ProcInfo>();
  const children = new Map<number, number[]>();
  for (const p of procs) byPid.set(p.pid, p);
  for (const p of byPid.values()) {
    if (p.ppid === p.pid) continue;
    const list = children.get(p.ppid);
    if (list === undefined) children.set(p.ppid, [p.pid]);
    else list.push(p.pid);
  }
  for (const list of children.values()) list.sort((a, b) => a - b);
  return { taken_at, byPid, children };
}

/**
 * The portable form: one `ps` call (procps on Linux, BSD ps on macOS).
 *
 * - Run through `env` so the locale and time zone are set on the target
 *   itself, whatever the transport does with environment variables (ssh
 *   servers usually drop all but LANG/LC_*): LC_ALL=C fixes lstart's English
 *   layout ("Tue Nov 24 05:38:18 2026"), TZ=UTC0 makes it UTC, so the start
 *   time is exact across hosts in different zones (1 s resolution: lstart
 *   has no fraction).
 * - `stat` lets zombies be dropped, `-ww` prevents truncation.
 */
export function psArgv(): string[] {
  return ["env", "LC_ALL=C", "TZ=UTC0", "ps", "-axww", "-o", "pid=,ppid=,stat=,lstart=,args="];
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"] as const;

// pid ppid stat  Www Mmm dd hh:mm:ss yyyy  args
const PS_LINE = /^\s*(\d+)\s+(\d+)\s+(\S+)\s+[A-Z][a-z]{2}\s+([A-Z][a-z]{2})\s+(\d{1,2})\s+(\d{1,2}):(\d{2}):(\d{2})\s+(\d{4})(?:\s(.*))?$/;

export interface ParsePsOptions {
  now?: number;
  /**
   * lstart is UTC (psArgv sets TZ=UTC0) unless this is true, in which case it
   * is read in this process's local time zone; that is only right when the
   * target shares it (no DST disambiguation either).
   */
  localTime?: boolean;
}

/**
 * Parses the output of psArgv(). Lines that do not fit the layout are skipped.
 *
 * Limitation: ps prints argv joined by single spaces, so an argument that
 * itself contains a space ("/Users/Jane Doe/bin/claude") cannot be told apart
 * from two arguments; args are split on spaces. Processes with no argv
 * (kernel threads) are printed as "[comm]" and come back as argv [] + comm.
 */
export function parsePsOutput(text: string, opts: ParsePsOptions = {}): ProcessTable {
  const procs: ProcInfo[] = [];
  for (const line of text.split("\n")) {
    const m = PS_LINE.exec(line);
    if (m === null) continue;
    const [, pidS, ppidS, state, mon, day, hh, mm, ss, year, argsRaw] = m;
    if (state === undefined || state.startsWith("Z")) continue;
    const month = MONTHS.indexOf(mon as (typeof MONTHS)[number]);
    if (month < 0) continue;
    const parts = [Number(year), month, Number(day), Number(hh), Number(mm), Number(ss)] as const;
    const started_at = opts.localTime === true ? new Date(...parts).getTime() : Date.UTC(...parts);
    if (!Number.isFinite(started_at)) continue;
    const args = (argsRaw ?? "").trim();
    const bracketed = /^\[(.+)\]$/.exec(args);
    const info: ProcInfo = {
      pid: Number(pidS),
      ppid: Number(ppidS),
      started_at,
      argv: bracketed === null ? args.split(" ").filter((a) => a !== "") : [],
    };
    if (bracketed?.[1] !== undefined) info.comm = bracketed[1];
    procs.push(info);
  }
  return buildTable(procs, opts.now ?? Date.now());
}

/** Snapshot through an Executor (macOS, remote targets): one ps call. */
export async function readProcTableVia(exec: Executor, opts: { timeoutMs?: number; now?: number } = {}): Promise<ProcessTable> {
  const res = await exec.exec(psArgv(), { timeoutMs: opts.timeoutMs ?? 10_000, env: { LC_ALL: "C", TZ: "UTC0" } });
  if (res.code !== 0) throw new Error(`ps on ${exec.targetId} exited ${res.code}: ${res.stderr.trim().slice(0, 300)}`);
  const table = parsePsOutput(res.stdout, opts.now === undefined ? {} : { now: opts.now });
  if (table.byPid.size === 0) throw new Error(`ps on ${exec.targetId}: no processes parsed`);
  return table;
}

/**
 * The cheapest snapshot for a target: /proc for a local Linux executor, ps
 * otherwise.
 */
export async function snapshotProcesses(exec: Executor): Promise<ProcessTable> {
  if (exec.kind === "local" && process.platform === "linux") return readProcTable();
  return readProcTableVia(exec);
}

/** All descendants of rootPid (not rootPid itself), breadth-first; cycle-safe. */
export function descendants(table: ProcessTable, rootPid: number): number[] {
  const out: number[] = [];
  const seen = new Set<number>([rootPid]);
  let frontier = [rootPid];
  while (frontier.length > 0) {
    const next: number[] = [];
    for (const pid of frontier) {
      for (const child of table.children.get(pid) ?? []) {
        if (seen.has(child)) continue;
        seen.add(child);
        out.push(child);
        next.push(child);
      }
    }
    frontier = next;
  }
  return out;
}
