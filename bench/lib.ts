/** Helpers of the benchmarks: an isolated environment, a tmux server on its default socket, stats, machine info. */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { cpus, release, tmpdir, totalmem, type as osType } from "node:os";
import { join } from "node:path";

export const ROOT = join(import.meta.dir, "..");
export const BIN = join(ROOT, "dist", "agtmux");

export type Env = Record<string, string | undefined>;

/** Variables that would point the daemon, the CLI or tmux at the developer's own setup. */
const LEAKY = /^(TMUX|TMUX_PANE|TMUX_TMPDIR|AGTMUX_.*|XDG_.*|NO_COLOR|FORCE_COLOR)$/;

export interface BenchBox {
  dir: string;
  env: Env;
  socket: string;
  bin: string;
  cleanup(): void;
}

/** A private HOME/XDG/TMUX_TMPDIR tree (short path: Unix sockets are limited to ~104 bytes) and fake agents. */
export function benchBox(): BenchBox {
  const dir = mkdtempSync(join(tmpdir(), "agtb-"));
  for (const d of ["home", "run", "state", "config", "tmux", "bin"]) mkdirSync(join(dir, d), { recursive: true, mode: 0o700 });
  const env: Env = {};
  for (const [k, v] of Object.entries(process.env)) if (!LEAKY.test(k)) env[k] = v;
  Object.assign(env, {
    HOME: join(dir, "home"),
    XDG_RUNTIME_DIR: join(dir, "run"),
    XDG_STATE_HOME: join(dir, "state"),
    XDG_CONFIG_HOME: join(dir, "config"),
    TMUX_TMPDIR: join(dir, "tmux"),
    AGTMUX_NO_AUTOSTART: "1",
    NO_COLOR: "1",
    TZ: "UTC",
  });
  const bin = join(dir, "bin");
  for (const name of ["claude", "codex"]) copyFileSync("/bin/sleep", join(bin, name));
  return { dir, env, socket: join(dir, "run", "agtmux", "agtmuxd.sock"), bin, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export async function run(argv: string[], env: Env, timeoutMs = 60_000): Promise<{ code: number; stdout: string; stderr: string }> {
  const p = Bun.spawn(argv, { env: env as Record<string, string>, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** tmux on the box's default socket (the one the daemon watches when $TMUX is unset). */
export class BenchTmux {
  private readonly pids = new Set<number>();
  constructor(private readonly box: BenchBox) {}

  async run(...args: string[]): Promise<string> {
    const r = await run(["tmux", "-f", "/dev/null", ...args], this.box.env);
    if (r.code !== 0) throw new Error(`tmux ${args.slice(0, 6).join(" ")}… failed (${r.code}): ${r.stderr.trim()}`);
    return r.stdout;
  }

  /** Many tmux commands in one client call (`a ; b ; c`), in chunks. */
  async batch(commands: string[][], chunk = 100): Promise<void> {
    for (let i = 0; i < commands.length; i += chunk) {
      const argv = commands.slice(i, i + chunk).flatMap((c, j) => (j === 0 ? c : [";", ...c]));
      await this.run(...argv);
    }
  }

  async newSession(name: string, command: string[], size = { x: 400, y: 200 }): Promise<void> {
    await this.run("new-session", "-d", "-s", name, "-x", String(size.x), "-y", String(size.y), ...command);
    this.pids.add(Number((await this.run("display-message", "-p", "-t", name, "#{pid}")).trim()));
  }

  agent(name = "claude"): string[] {
    return [join(this.box.bin, name), "100000"];
  }

  async kill(): Promise<void> {
    await this.run("kill-server").catch(() => {});
    for (const pid of this.pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    this.pids.clear();
  }
}

export interface Stats {
  n: number;
  min: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentiles, in ms rounded to 0.01. */
export function stats(samples: readonly number[]): Stats {
  const s = [...samples].toSorted((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? Number.NaN;
  const r2 = (x: number): number => Math.round(x * 100) / 100;
  return { n: s.length, min: r2(s[0] ?? Number.NaN), p50: r2(at(0.5)), p95: r2(at(0.95)), p99: r2(at(0.99)), max: r2(s.at(-1) ?? Number.NaN), mean: r2(s.reduce((a, b) => a + b, 0) / Math.max(1, s.length)) };
}

/** Polls fn until it returns a value, with a deadline. */
export async function until<T>(fn: () => Promise<T | null | undefined | false>, timeoutMs: number, what: string, intervalMs = 20): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => null);
    if (v !== null && v !== undefined && v !== false) return v;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await Bun.sleep(intervalMs);
  }
}

/** VmRSS / VmHWM of a process, in MiB. */
export function memoryOf(pid: number): { rss_mib: number; hwm_mib: number; anon_mib: number; file_mib: number } {
  const text = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? Number.NaN);
  const mib = (key: string): number => Math.round((kb(key) / 1024) * 10) / 10;
  // RssAnon: heaps (JS, malloc, SQLite cache); RssFile: pages of the binary (Bun's code, the bundle) and libraries
  return { rss_mib: mib("VmRSS"), hwm_mib: mib("VmHWM"), anon_mib: mib("RssAnon"), file_mib: mib("RssFile") };
}

/** utime + stime of a process, in seconds (USER_HZ = 100). */
export function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state): utime is field 14, stime field 15
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

export interface MachineInfo {
  os: string;
  cpus: number;
  cpu_model: string;
  mem_gib: number;
  bun: string;
  tmux: string;
  git_commit: string;
  git_dirty: boolean;
  timestamp: string;
}

export async function machineInfo(env: Env): Promise<MachineInfo> {
  const git = await run(["git", "-C", ROOT, "rev-parse", "HEAD"], env).catch(() => ({ stdout: "", code: 1 }));
  const dirty = await run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"], env).catch(() => ({ stdout: "" }));
  const tmux = await run(["tmux", "-V"], env);
  const c = cpus();
  return {
    os: `${osType()} ${release()} ${process.arch}`,
    cpus: c.length,
    cpu_model: c[0]?.model ?? "unknown",
    mem_gib: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    bun: Bun.version,
    tmux: tmux.stdout.trim(),
    git_commit: git.code === 0 ? git.stdout.trim() : "unknown",
    git_dirty: dirty.stdout.trim() !== "",
    timestamp: new Date().toISOString(),
  };
}

// --- helpers of bench/scale.ts and bench/soak.ts ---------------------------------------------

/** One request over the daemon's Unix socket: status, parsed JSON body (null if not JSON) and the round trip. */
export async function api<T = unknown>(socket: string, method: string, path: string, body?: unknown, timeoutMs = 30_000): Promise<{ status: number; json: T; ms: number }> {
  const t0 = performance.now();
  const init: RequestInit & { unix: string } = { method, unix: socket, signal: AbortSignal.timeout(timeoutMs) };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { "content-type": "application/json" };
  }
  const res = await fetch(`http://agtmux${path}`, init);
  const text = await res.text();
  const ms = performance.now() - t0;
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, json: json as T, ms };
}

/** The daemon's SQLite file in a bench box (XDG_STATE_HOME/agtmux/agtmux.db). */
export function boxDbPath(box: BenchBox): string {
  return join(box.dir, "state", "agtmux", "agtmux.db");
}

/** Starts `dist/agtmux daemon` in the box and waits for /v1/health; returns the process and its pid. */
/** Starts `<bin> daemon` in the box and waits for its health; `stderrTo` keeps its log (default: dropped). */
export async function startBoxDaemon(box: BenchBox, extraEnv: Env = {}, bin: string = BIN, stderrTo?: string): Promise<{ proc: Bun.Subprocess; pid: number }> {
  const stderr = stderrTo === undefined ? "ignore" : Bun.file(stderrTo);
  const proc = Bun.spawn([bin, "daemon"], { env: { ...box.env, ...extraEnv } as Record<string, string>, stdin: "ignore", stdout: "ignore", stderr });
  const h = await until(
    async () => {
      const r = await api<{ pid: number }>(box.socket, "GET", "/v1/health", undefined, 1_000);
      return r.status === 200 ? r.json : null;
    },
    20_000,
    "daemon answers /v1/health",
    10,
  );
  return { proc, pid: h.pid };
}

/** SIGTERM (or SIGKILL with hard) and wait. */
export async function stopBoxDaemon(proc: Bun.Subprocess | undefined, hard = false): Promise<void> {
  if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
  proc.kill(hard ? "SIGKILL" : "SIGTERM");
  const t = setTimeout(() => proc.kill("SIGKILL"), 5_000);
  await proc.exited;
  clearTimeout(t);
}

/** tmux on an explicit socket (-S), for many tmux servers in one box. */
export class SocketTmux {
  constructor(
    private readonly box: BenchBox,
    readonly socketPath: string,
  ) {}

  async run(...args: string[]): Promise<string> {
    const r = await run(["tmux", "-S", this.socketPath, "-f", "/dev/null", ...args], this.box.env);
    if (r.code !== 0) throw new Error(`tmux -S ${this.socketPath} ${args.slice(0, 6).join(" ")}… failed (${r.code}): ${r.stderr.trim()}`);
    return r.stdout;
  }

  /** One session of `panes` windows; every tenth runs a fake claude, the rest sleep. */
  async fill(session: string, panes: number): Promise<void> {
    const cmds: string[][] = [];
    for (let i = 0; i < panes; i++) {
      const cmd = i % 10 === 0 ? [join(this.box.bin, "claude"), "100000"] : ["sleep", "100000"];
      cmds.push(i === 0 ? ["new-session", "-d", "-s", session, "-x", "200", "-y", "50", ...cmd] : ["new-window", "-d", "-t", session, ...cmd]);
    }
    for (let i = 0; i < cmds.length; i += 100) await this.run(...cmds.slice(i, i + 100).flatMap((c, j) => (j === 0 ? c : [";", ...c])));
  }

  async kill(): Promise<void> {
    await run(["tmux", "-S", this.socketPath, "kill-server"], this.box.env).catch(() => {});
  }
}

/** Open file descriptors of a process (/proc/<pid>/fd). */
export function fdCount(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return Number.NaN;
  }
}

/** The Claude hook cycle the benches drive per pane: [hook event name, the state it must produce, payload extras]. */
export const CLAUDE_HOOK_CYCLE: ReadonlyArray<readonly [string, string, Record<string, unknown>]> = [
  ["UserPromptSubmit", "running", { prompt: "go" }],
  ["PermissionRequest", "waiting_approval", { tool_name: "Bash", tool_input: { command: "ls" } }],
  ["PostToolUse", "running", { tool_name: "Bash" }],
  ["Stop", "completed", { stop_hook_active: false }],
];
