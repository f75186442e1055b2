/**
 * Benchmark profile (TC-044, contracts §13, issue 8): 3 targets (host + 2 ssh
 * "VMs" on loopback sshd, each with its own HOME/TMUX_TMPDIR via SetEnv), 20
 * fake agent panes per target (60), and per target four sources:
 *  - hook: 11 claude panes; 10 hook events/s in all, sustained, through the
 *    REAL hook path (`agtmux emit --hook claude` spawned with the pane's env
 *    and the payload on stdin; on a VM with the VM's env, so it spools for
 *    the relay);
 *  - notify: 3 codex panes; codex's notify program (`agtmux emit --hook codex
 *    --source notify <json>`) reporting a finished turn;
 *  - transcript: 3 claude panes whose SessionStart hook named a transcript;
 *    the bench appends turn-boundary lines as Claude Code writes them;
 *  - pane text (fallback): 3 claude panes without hooks; the bench writes a
 *    recorded Claude screen onto the pane's tty and the daemon's screen
 *    poller has to recognise it.
 *
 * Visible lag = event emitted (emit process spawned / line appended / screen written) -> a
 * `delta` line on a watch client (`GET /v1/watch?scope=panes`) upserting that
 * pane in the new state, per source and target kind (local / ssh).
 *
 * Overhead: daemon CPU (% of one core, /proc/<pid>/stat utime+stime deltas)
 * and RSS (VmRSS, sampled every second) idle (60 agent panes, no events) and
 * under load; the processes the daemon spawns, counted exactly by wrappers
 * (`tmux`, `ps`, `ssh`) first on the daemon's PATH that log their parent pid
 * and argv before exec'ing the real binary (only lines whose parent is the
 * daemon count). Remote commands run by sshd on the VMs are not children of
 * the daemon: they are reported as the ssh targets' scans (GET /v1/targets).
 *
 * Writes bench/out/profile.json and bench/out/profile-latency.svg.
 *
 * Then a profiled pass (--prof-seconds, default 30; 0 skips it): the same load
 * with the daemon restarted under Bun's sampling profiler; writes
 * bench/out/profile-daemon.cpuprofile and profile-daemon-cpu.md (bench/cpuprofile.ts).
 *
 * Flags: --seconds=120 --idle-seconds=30 --rate=10 --prof-seconds=30 --no-build --no-plot --seed=N --daemon-env=K=V,K=V
 */
import { appendFileSync, chmodSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { AgtmuxClient } from "../src/client/client.ts";
import type { PaneItem, TargetItem } from "../src/wire/list.ts";
import type { WatchLine } from "../src/wire/watch.ts";
import { type Sshd, sshdAvailable, startSshd } from "../tests/ssh/sshd.ts";
import { removeTempDirs } from "../tests/tmux/harness.ts";
import { BIN as BUILT, benchBox, cpuSecondsOf, type Env, machineInfo, memoryOf, ROOT, run, type Stats, stats, until, stopBoxDaemon, CLAUDE_HOOK_CYCLE } from "./lib.ts";
import { cpuSummaryMarkdown, summarizeCpuProfile } from "./cpuprofile.ts";
import { renderSvg } from "./plot.ts";
import { mulberry32 } from "../tests/helpers/rng.ts";

const argv = process.argv.slice(2);
const opt = (name: string, dflt: string): string => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
const daemonEnvOpt = opt("daemon-env", "")
  .split(",")
  .filter((kv) => kv.includes("="));
const SECONDS = Number(opt("seconds", "120"));
const IDLE_SECONDS = Number(opt("idle-seconds", "30"));
/** native events per second in all (hooks + codex notify steps + transcript lines); screens come on top */
const RATE = Number(opt("rate", "10"));
/** seconds of the extra pass under the CPU profiler (0: none) */
const PROF_SECONDS = Number(opt("prof-seconds", "30"));
const PANES_PER_TARGET = 20;
/** per target, by window index: 0-2 pane text, 3-5 transcript, 6-8 notify (codex), the rest hooks */
const TEXT_PANES_PER_TARGET = 3;
const TRANSCRIPT_PANES_PER_TARGET = 3;
const NOTIFY_PANES_PER_TARGET = 3;
/** each pane-text pane gets a new screen every this many ms (screen poll interval is 1.5 s) */
const TEXT_PERIOD_MS = 6_000;
/**
 * The screen writes are jittered (uniform over 90 % of their gap, seeded):
 * at a fixed 667 ms gap their phase against the poller's 1 s cycle took only
 * 3 values, so the pane-text lag was 3 numbers, not the distribution.
 */
const SEED = Number(opt("seed", String(Date.now() % 1_000_000)));
const rnd = mulberry32(SEED);
/** each transcript pane gets a new turn-boundary line every this many ms (9 panes: 2 lines/s) */
const TRANSCRIPT_PERIOD_MS = 4_500;
/** each notify pane gets a step (thread running, then its notify) every this many ms (9 panes: 1 step/s) */
const NOTIFY_PERIOD_MS = 9_000;
const TIMEOUT_MS = 15_000;
const OUT = join(import.meta.dir, "out");
/** native signals (hook, notify, transcript): 100 ms local, 150 ms over ssh; pane text 1.5 s; RSS 80 MB = 76.3 MiB */
const BUDGET = { contract_p95_ms: 2_000, native_local_p95_ms: 100, native_ssh_p95_ms: 150, pane_text_p95_ms: 1_500, cpu_idle_pct: 2, cpu_load_pct: 5, rss_mb: 80, rss_mib: 80e6 / 2 ** 20 };

const T_START = performance.now();
const log = (s: string): void => console.error(`[profile ${((performance.now() - T_START) / 1000).toFixed(1)}s] ${s}`);


const FIXTURES = join(ROOT, "tests", "fixtures", "claude", "2.1.330", "bash-approve", "screens");
/** a recorded screen as bytes for a pty: clear, home, lines (trailing blanks trimmed), no final newline (no scroll) */
function screen(file: string): string {
  const lines = readFileSync(join(FIXTURES, file), "utf8").split("\n").map((l) => l.trimEnd());
  while (lines.length > 0 && lines.at(-1) === "") lines.pop();
  return `\x1b[H\x1b[2J${lines.slice(-40).join("\r\n")}`;
}
const SCREENS: Array<[string, string]> = [
  ["waiting_approval", screen("02-waiting-approval.txt")],
  ["running", screen("04-running-after-approve.txt")],
];

type Kind = "local" | "ssh";
type Source = "hook" | "notify" | "transcript" | "pane_text";

interface Target {
  name: string;
  kind: Kind;
  env: Env;
  socketPath: string;
  serverPid: number;
  tmux(...args: string[]): Promise<string>;
  stop(): Promise<void>;
  sshd?: Sshd;
}

/** agent argv of window i: codex for the notify panes, claude for the rest */
type Agents = (window: number) => string[];
const isNotifyWindow = (i: number): boolean => i >= TEXT_PANES_PER_TARGET + TRANSCRIPT_PANES_PER_TARGET && i < TEXT_PANES_PER_TARGET + TRANSCRIPT_PANES_PER_TARGET + NOTIFY_PANES_PER_TARGET;
/** fake agents: copies of /bin/sleep named claude and codex in `bin` */
function fakeAgents(bin: string): Agents {
  mkdirSync(bin, { recursive: true });
  for (const name of ["claude", "codex"]) copyFileSync("/bin/sleep", join(bin, name));
  for (const name of ["claude", "codex"]) chmodSync(join(bin, name), 0o755);
  return (i) => [join(bin, isNotifyWindow(i) ? "codex" : "claude"), "100000"];
}

async function makeTmux(name: string, env: Env, agent: Agents): Promise<Target> {
  const tmux = async (...args: string[]): Promise<string> => {
    const r = await run(["tmux", "-f", "/dev/null", ...args], env);
    if (r.code !== 0) throw new Error(`${name}: tmux ${args.slice(0, 6).join(" ")}… failed (${r.code}): ${r.stderr.trim()}`);
    return r.stdout;
  };
  const cmds: string[][] = [["new-session", "-d", "-s", "bench", "-x", "160", "-y", "40", ...agent(0)]];
  for (let i = 1; i < PANES_PER_TARGET; i++) cmds.push(["new-window", "-d", "-t", "bench", ...agent(i)]);
  await tmux(...cmds.flatMap((c, j) => (j === 0 ? c : [";", ...c])));
  const serverPid = Number((await tmux("display-message", "-p", "#{pid}")).trim());
  const socketPath = (await tmux("display-message", "-p", "#{socket_path}")).trim();
  return {
    name,
    kind: name === "host" ? "local" : "ssh",
    env,
    socketPath,
    serverPid,
    tmux,
    async stop() {
      await tmux("kill-server").catch(() => {});
      try {
        process.kill(serverPid, "SIGKILL");
      } catch {
        // gone
      }
    },
  };
}

interface Expectation {
  key: string;
  want: string;
  after: number;
  resolve(t: number): void;
}

/** One NDJSON watch stream (as bench/watch-latency.ts), stamped as chunks arrive. */
class Watcher {
  private readonly ac = new AbortController();
  private closed = false;
  error: unknown = null;
  lines = 0;
  private readonly version = new Map<string, number>();
  private waiting = new Map<string, Expectation>();
  private snapshot: (() => void) | null = null;

  constructor(private readonly socket: string) {}

  /** streams that ended or failed, and were reopened: when (s since T_START), why, and whether the daemon was still running */
  readonly breaks: Array<{ at_s: number; error: string; daemon_alive: boolean }> = [];
  /** expectations met by a snapshot after a reopen (not by a delta) */
  viaSnapshot = 0;
  private alive: () => boolean = () => true;

  async open(alive?: () => boolean): Promise<this> {
    if (alive !== undefined) this.alive = alive;
    const res = await fetch("http://agtmux/v1/watch?scope=panes", { unix: this.socket, signal: this.ac.signal } as RequestInit & { unix: string });
    if (res.status !== 200 || res.body === null) throw new Error(`watch: ${res.status}`);
    const got = new Promise<void>((resolve) => (this.snapshot = resolve));
    void this.pump(res.body);
    await got;
    return this;
  }

  private async pump(body: ReadableStream<Uint8Array>): Promise<void> {
    const reader = body.getReader();
    const dec = new TextDecoder();
    let buf = "";
    let why = "stream ended";
    try {
      for (;;) {
        const r = await reader.read();
        if (r.done) break;
        const t = performance.now();
        buf += dec.decode(r.value, { stream: true });
        for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
          const s = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (s !== "") this.handle(JSON.parse(s) as WatchLine<PaneItem>, t);
        }
      }
    } catch (e) {
      why = e instanceof Error ? e.message : String(e);
    }
    if (this.closed) return;
    const alive = this.alive();
    this.breaks.push({ at_s: Math.round((performance.now() - T_START) / 100) / 10, error: why, daemon_alive: alive });
    log(`watch stream broke (${why}); daemon ${alive ? "alive" : "GONE"}`);
    if (!alive || this.breaks.length > 20) {
      this.error = new Error(`watch stream broke: ${why}; daemon alive: ${alive}`);
      return;
    }
    await this.open().catch((e: unknown) => (this.error = e));
  }

  private handle(line: WatchLine<PaneItem>, t: number): void {
    this.lines++;
    if (line.type === "snapshot") {
      for (const i of line.items) {
        const key = keyOf(i);
        this.version.set(key, i.state_version ?? 0);
        const w = this.waiting.get(key);
        if (w !== undefined && w.want === i.state && (i.state_version ?? 0) > w.after) {
          this.waiting.delete(key);
          this.viaSnapshot++;
          w.resolve(t);
        }
      }
      this.snapshot?.();
      this.snapshot = null;
      return;
    }
    if (line.type !== "delta") return;
    for (const c of line.changes) {
      const item = c.item;
      if (c.op !== "upsert" || item === undefined) continue;
      const key = keyOf(item);
      const v = item.state_version ?? 0;
      this.version.set(key, Math.max(v, this.version.get(key) ?? 0));
      const w = this.waiting.get(key);
      if (w !== undefined && w.want === item.state && v > w.after) {
        this.waiting.delete(key);
        w.resolve(t);
      }
    }
  }

  /** resolves with the arrival time of the delta upserting `key` in `want` with a newer state_version, or null after timeoutMs */
  expect(key: string, want: string, timeoutMs: number): Promise<number | null> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        if (this.waiting.get(key) === e) this.waiting.delete(key);
        resolve(null);
      }, timeoutMs);
      const e: Expectation = {
        key,
        want,
        after: this.version.get(key) ?? 0,
        resolve: (t) => {
          clearTimeout(timer);
          resolve(t);
        },
      };
      this.waiting.set(key, e);
    });
  }

  close(): void {
    this.closed = true;
    this.ac.abort();
  }
}

const keyOf = (p: PaneItem): string => `${p.identity.target}/${p.identity.pane_id}`;
const sessionOf = (r: { target: { name: string }; pane: PaneItem }): string => `bench-${r.target.name}-${r.pane.identity.pane_id.slice(1)}`;

/** wrappers counting the daemon's spawns: log "<ppid> <name> <args…>" then exec the real binary */
function spawnCounters(dir: string): { path: string; log: string } {
  const bin = join(dir, "count-bin");
  mkdirSync(bin, { recursive: true });
  const logPath = join(dir, "spawns.log");
  writeFileSync(logPath, "");
  for (const name of ["tmux", "ps", "ssh"]) {
    const real = Bun.which(name);
    if (real === null) continue;
    const p = join(bin, name);
    writeFileSync(p, `#!/bin/sh\necho "$PPID ${name} $*" | cut -c1-200 >> ${logPath}\nexec ${real} "$@"\n`);
    chmodSync(p, 0o755);
  }
  return { path: bin, log: logPath };
}

interface SpawnCount {
  total: number;
  by: Record<string, number>;
}
function countSpawns(logPath: string, pid: number, fromLine: number): { count: SpawnCount; lines: number } {
  const lines = readFileSync(logPath, "utf8").split("\n").filter((l) => l !== "");
  const by: Record<string, number> = {};
  let total = 0;
  for (const l of lines.slice(fromLine)) {
    const [ppid, name, ...args] = l.split(" ");
    if (Number(ppid) !== pid) continue;
    total++;
    // tmux: its subcommand (or -C: a control-mode client); ps/ssh: the name
    const sub = name === "tmux" ? (args.includes("-C") || args.includes("-CC") ? "-C (control client)" : (args.find((x) => /^[a-z]+(-[a-z]+)+$/.test(x)) ?? args.join(" ").slice(0, 40))) : "";
    const k = `${name ?? "?"} ${sub}`.trim();
    by[k] = (by[k] ?? 0) + 1;
  }
  return { count: { total, by }, lines: lines.length };
}

interface Phase {
  seconds: number;
  cpu_pct: number;
  rss_mib: Stats;
  hwm_mib: number;
  /** VmRSS every 1 s (plateau vs growth) */
  rss_series_mib: number[];
  /** RssAnon (heaps) and RssFile (mapped code: the binary, libraries), every 1 s */
  anon_mib: Stats;
  file_mib: Stats;
  anon_series_mib: number[];
  spawns: SpawnCount;
  spawns_per_min: number;
  remote_scans: Record<string, number>;
  remote_scans_per_min: number;
}

async function main(): Promise<number> {
  if (!sshdAvailable()) {
    console.error("profile: /usr/sbin/sshd or ssh-keygen missing (apt-get install openssh-server openssh-client); skipped");
    return 0;
  }
  if (!argv.includes("--no-build")) {
    const b = await run([process.execPath, join(ROOT, "scripts", "build.ts"), "--no-smoke"], process.env);
    if (b.code !== 0) throw new Error(`build failed: ${b.stderr}`);
  }
  const box = benchBox();
  // a private copy of the binary: a rebuild of dist/ during the run (it takes minutes) must not pull it away
  const BIN = join(box.dir, "agtmux");
  copyFileSync(BUILT, BIN);
  chmodSync(BIN, 0o755);
  const targets: Target[] = [];
  let daemon: Bun.Subprocess | undefined;
  const daemonStderr = join(box.dir, "daemon.stderr");
  let watcher: Watcher | undefined;
  const cleanup = async (): Promise<void> => {
    watcher?.close();
    await stopBoxDaemon(daemon);
    for (const t of targets) {
      await t.stop();
      await t.sshd?.stop();
    }
    box.cleanup();
    removeTempDirs();
  };
  const onSignal = (): void => {
    daemon?.kill("SIGKILL");
    void cleanup().finally(() => process.exit(130));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    const machine = await machineInfo(box.env);
    // ---- targets: the host and two VMs sharing one client HOME (~/.ssh/config with vm1, vm2)
    targets.push(await makeTmux("host", box.env, fakeAgents(join(box.dir, "agents"))));
    let clientHome: string | undefined;
    for (const name of ["vm1", "vm2"]) {
      const first = targets.find((t) => t.sshd !== undefined)?.sshd;
      const sshd = await startSshd({ aliases: [], trustHostKey: false, ...(first !== undefined ? { client: first.client } : {}) });
      sshd.addAlias(name);
      sshd.trustHostKey();
      clientHome = sshd.client.home;
      const env: Env = { PATH: process.env.PATH, LANG: "C.UTF-8", HOME: sshd.vmHome, TMUX_TMPDIR: sshd.tmuxTmpDir, XDG_RUNTIME_DIR: sshd.runtimeDir, USER: "root" };
      const t = await makeTmux(name, env, fakeAgents(join(sshd.dir, "bin")));
      t.sshd = sshd;
      targets.push(t);
    }
    const counters = spawnCounters(box.dir);
    // --daemon-env=K=V,K=V: extra daemon environment for experiments (BUN_OPTIONS=--smol, BUN_JSC_*), recorded in the artifact
    const extraEnv = Object.fromEntries(daemonEnvOpt.map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]));
    const daemonEnv = { ...box.env, HOME: clientHome, PATH: `${counters.path}:${box.env.PATH ?? "/usr/bin:/bin"}`, ...extraEnv } as Record<string, string>;
    daemon = Bun.spawn([BIN, "daemon"], { env: daemonEnv, stdin: "ignore", stdout: "ignore", stderr: Bun.file(daemonStderr) });
    let pid = daemon.pid;
    const client = new AgtmuxClient({ socket: box.socket });
    const health = await until(() => client.health({ timeoutMs: 500 }), 15_000, "daemon answers /v1/health");
    const cliEnv = { ...box.env, HOME: clientHome } as Env;
    for (const t of targets.filter((x) => x.kind === "ssh")) {
      const r = await run([BIN, "target", "add", t.name, "--kind", "ssh", "--ssh-target", t.name, "--agtmux-path", BIN], cliEnv, 30_000);
      if (r.code !== 0) throw new Error(`agtmux target add ${t.name}: ${r.code} ${r.stderr}${r.stdout}`);
    }
    const targetItems = async (): Promise<TargetItem[]> => (await client.targets()).items;
    await until(async () => (await targetItems()).filter((t) => t.kind === "ssh" && t.status?.relay?.up === true).length === 2, 20_000, "relays on vm1 and vm2 up");
    const panes = await until(
      async () => {
        const r = await client.panes().catch(() => null);
        const codex = r?.items.filter((p) => p.agent?.type === "codex").length ?? 0;
        return r !== null && r.items.length === 3 * PANES_PER_TARGET && codex === 3 * NOTIFY_PANES_PER_TARGET && r.items.every((p) => p.agent?.type === "claude" || p.agent?.type === "codex") ? r.items : null;
      },
      30_000,
      "daemon lists the 60 agent panes (51 claude, 9 codex)",
    );
    log(`daemon pid ${pid} (${health.version}): 3 targets, ${panes.length} agent panes; seed ${SEED} (--seed to repeat)`);
    watcher = await new Watcher(box.socket).open(() => daemon?.exitCode === null);

    // pane roles per target by window index: screens, transcript lines, codex notify, the rest claude hooks
    const byTarget = new Map<string, PaneItem[]>();
    for (const p of panes) byTarget.set(p.identity.target, [...(byTarget.get(p.identity.target) ?? []), p]);
    interface Role {
      pane: PaneItem;
      target: Target;
      step: number;
      tty?: string | undefined;
      /** transcript panes: the file the SessionStart hook named */
      transcript?: string;
    }
    const hookPanes: Role[] = [];
    const textPanes: Role[] = [];
    const transcriptPanes: Role[] = [];
    const notifyPanes: Role[] = [];
    for (const t of targets) {
      const list = (byTarget.get(t.name) ?? []).toSorted((a, b) => (a.window_index ?? 0) - (b.window_index ?? 0));
      if (list.length !== PANES_PER_TARGET) throw new Error(`target ${t.name}: ${list.length} panes listed`);
      const ttys = new Map(
        (await t.tmux("list-panes", "-a", "-F", "#{pane_id} #{pane_tty}"))
          .trim()
          .split("\n")
          .map((l) => l.split(" ") as [string, string]),
      );
      const home = t.env.HOME ?? box.dir;
      list.forEach((pane, i) => {
        const role: Role = { pane, target: t, step: 0 };
        if (i < TEXT_PANES_PER_TARGET) textPanes.push({ ...role, tty: ttys.get(pane.identity.pane_id) });
        else if (i < TEXT_PANES_PER_TARGET + TRANSCRIPT_PANES_PER_TARGET) transcriptPanes.push({ ...role, transcript: join(home, ".claude", "projects", "-bench", `${t.name}-${pane.identity.pane_id.slice(1)}.jsonl`) });
        else if (isNotifyWindow(i)) notifyPanes.push(role);
        else hookPanes.push(role);
      });
    }
    // interleave targets in each round robin
    const byWindow = (a: Role, b: Role): number => (a.pane.window_index ?? 0) - (b.pane.window_index ?? 0) || a.target.name.localeCompare(b.target.name);
    for (const l of [hookPanes, textPanes, transcriptPanes, notifyPanes]) l.sort(byWindow);

    /** `agtmux emit <args>` as a hook runs in the pane: its env (on a VM the VM's, so it spools for the relay), TMUX, TMUX_PANE; payload on stdin */
    const emit = (r: Role, args: string[], payload: Record<string, unknown> | null): Bun.Subprocess => {
      const tmuxEnv = { TMUX: `${r.target.socketPath},${r.target.serverPid},0`, TMUX_PANE: r.pane.identity.pane_id };
      return Bun.spawn([BIN, "emit", ...args], {
        env: { ...r.target.env, ...tmuxEnv } as Record<string, string>,
        stdin: payload === null ? "ignore" : new Blob([JSON.stringify(payload)]),
        stdout: "ignore",
        stderr: "ignore",
      });
    };
    let uuidN = 0;
    /** one transcript line as Claude Code 2.1 writes it at a turn boundary */
    const transcriptLine = (r: Role, kind: "prompt" | "turn_end" | "summary"): string => {
      const base = { uuid: `bench-${process.pid}-${++uuidN}`, timestamp: new Date().toISOString(), sessionId: sessionOf(r), isSidechain: false, cwd: "/tmp", version: "2.1.330" };
      const line =
        kind === "prompt"
          ? { ...base, type: "user", message: { role: "user", content: "go" } }
          : kind === "turn_end"
            ? { ...base, type: "system", subtype: "turn_duration", durationMs: 1000 }
            : { type: "summary", summary: "bench", leafUuid: base.uuid };
      return `${JSON.stringify(line)}\n`;
    };
    // transcript panes: the file exists with a first line (a relay mirrors only what it has seen), then
    // their SessionStart hook names it; the target's follower finds it on its next pass
    await Promise.all(
      transcriptPanes.map(async (r) => {
        const file = r.transcript as string;
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(file, transcriptLine(r, "summary"));
        const code = await emit(r, ["--hook", "claude"], { session_id: sessionOf(r), hook_event_name: "SessionStart", source: "startup", transcript_path: file, cwd: "/tmp" }).exited;
        if (code !== 0) throw new Error(`SessionStart hook for ${r.target.name}/${r.pane.identity.pane_id}: emit exited ${code}`);
      }),
    );
    await until(
      async () => {
        const ps = (await client.panes()).items;
        return transcriptPanes.every((r) => ps.find((p) => keyOf(p) === keyOf(r.pane))?.state === "idle") ? true : null;
      },
      15_000,
      "the transcript panes' SessionStart hooks are applied",
    );

    // ---- sampler: CPU, RSS, spawns, remote scans
    const scansNow = async (): Promise<Record<string, number>> => Object.fromEntries((await targetItems()).map((t) => [t.target, t.status?.scans ?? 0]));
    const measurePhase = async (seconds: number, during: (stopAt: number) => Promise<void>): Promise<Phase> => {
      const rss: number[] = [];
      const anon: number[] = [];
      const file: number[] = [];
      const scans0 = await scansNow();
      const cpu0 = cpuSecondsOf(pid);
      const startLine = countSpawns(counters.log, pid, 0).lines;
      const t0 = performance.now();
      const stopAt = t0 + seconds * 1000;
      const sampling = { on: true };
      const sampler = (async () => {
        while (sampling.on) {
          const m = memoryOf(pid);
          rss.push(m.rss_mib);
          anon.push(m.anon_mib);
          file.push(m.file_mib);
          await Bun.sleep(1_000);
        }
      })();
      await during(stopAt);
      const wall = (performance.now() - t0) / 1000;
      const cpu = cpuSecondsOf(pid) - cpu0;
      sampling.on = false;
      await sampler;
      const sp = countSpawns(counters.log, pid, startLine);
      const scans1 = await scansNow();
      const remote = Object.fromEntries(Object.entries(scans1).map(([k, v]) => [k, v - (scans0[k] ?? 0)]));
      const remoteSsh = Object.entries(remote)
        .filter(([k]) => k !== "host")
        .reduce((a, [, v]) => a + v, 0);
      return {
        seconds: Math.round(wall * 10) / 10,
        cpu_pct: Math.round((cpu / wall) * 1000) / 10,
        rss_mib: stats(rss),
        hwm_mib: memoryOf(pid).hwm_mib,
        rss_series_mib: rss,
        anon_mib: stats(anon),
        file_mib: stats(file),
        anon_series_mib: anon,
        spawns: sp.count,
        spawns_per_min: Math.round((sp.count.total / wall) * 60 * 10) / 10,
        remote_scans: remote,
        remote_scans_per_min: Math.round((remoteSsh / wall) * 60 * 10) / 10,
      };
    };

    // ---- idle: 60 agent panes, no events
    await Bun.sleep(3_000);
    log(`idle ${IDLE_SECONDS} s`);
    const idle = await measurePhase(IDLE_SECONDS, async (stopAt) => void (await Bun.sleep(Math.max(0, stopAt - performance.now()))));
    log(`idle: CPU ${idle.cpu_pct} %, RSS p50 ${idle.rss_mib.p50} MiB, ${idle.spawns_per_min} spawns/min`);

    // ---- load: RATE hook events/s + codex notify + transcript lines + pane-text screens
    const samples: Record<`${Source}_${Kind}`, number[]> = { hook_local: [], hook_ssh: [], notify_local: [], notify_ssh: [], transcript_local: [], transcript_ssh: [], pane_text_local: [], pane_text_ssh: [] };
    const lost: Record<string, number> = {};
    const emitFailures: number[] = [];
    const pending: Array<Promise<void>> = [];
    const sent: Record<Source, number> = { hook: 0, notify: 0, transcript: 0, pane_text: 0 };
    /** the notify panes' unmeasured codex.thread.running steps */
    let threadSteps = 0;
    let w = watcher;
    /** where lags go: the measured run's samples, then the profiled pass's */
    let sink = { samples: samples as Record<string, number[]>, lost };
    /** records the lag of `arrival` (from t0) under source/kind */
    const record = (source: Source, r: Role, t0: number, arrival: Promise<number | null>, exited?: Promise<number>): void => {
      sent[source]++;
      pending.push(
        (async () => {
          const [t, code] = await Promise.all([arrival, exited]);
          if (code !== undefined && code !== 0) emitFailures.push(code);
          const k = `${source}_${r.target.kind}` as const;
          if (t === null) sink.lost[k] = (sink.lost[k] ?? 0) + 1;
          else (sink.samples[k] ??= []).push(t - t0);
        })(),
      );
    };
    const fireHook = (r: Role): void => {
      const [hook, want, extra] = CLAUDE_HOOK_CYCLE[r.step++ % CLAUDE_HOOK_CYCLE.length] as [string, string, Record<string, unknown>];
      const arrival = w.expect(keyOf(r.pane), want, TIMEOUT_MS);
      const t0 = performance.now();
      const p = emit(r, ["--hook", "claude"], { session_id: sessionOf(r), hook_event_name: hook, cwd: "/tmp", ...extra });
      record("hook", r, t0, arrival, p.exited);
    };
    // codex's notify program (`agtmux emit --hook codex --source notify <json>`, as setup-hooks writes it in
    // config.toml) only reports a finished turn. A state needs another source's running to outrank it first
    // (a hook's running would: across sources the state with the higher precedence wins, contracts §2), so each notify pane
    // alternates a `codex.thread.running` on the notify source (what the app-server follower feeds; not
    // measured) with the real notify payload (completed, measured)
    const fireNotify = (r: Role): void => {
      if (r.step++ % 2 === 0) {
        threadSteps++;
        void emit(r, ["--hook", "codex", "--source", "notify", JSON.stringify({ type: "thread.running", "thread-id": sessionOf(r) })], null);
        return;
      }
      const arrival = w.expect(keyOf(r.pane), "completed", TIMEOUT_MS);
      const t0 = performance.now();
      const payload = { type: "agent-turn-complete", "thread-id": sessionOf(r), "turn-id": `turn-${r.step}`, cwd: "/tmp", "input-messages": ["go"], "last-assistant-message": "done" };
      const p = emit(r, ["--hook", "codex", "--source", "notify", JSON.stringify(payload)], null);
      record("notify", r, t0, arrival, p.exited);
    };
    // what Claude Code writes at turn boundaries: the user's prompt (running), then turn_duration (completed)
    const fireTranscript = (r: Role): void => {
      const prompt = r.step++ % 2 === 0;
      const arrival = w.expect(keyOf(r.pane), prompt ? "running" : "completed", TIMEOUT_MS);
      const t0 = performance.now();
      appendFileSync(r.transcript as string, transcriptLine(r, prompt ? "prompt" : "turn_end"));
      record("transcript", r, t0, arrival);
    };
    const fireScreen = (r: Role): void => {
      const [want, bytes] = SCREENS[r.step++ % SCREENS.length] as [string, string];
      const arrival = w.expect(keyOf(r.pane), want, TIMEOUT_MS);
      const t0 = performance.now();
      writeFileSync(r.tty as string, bytes);
      record("pane_text", r, t0, arrival);
    };
    // the rest of RATE is hooks: 10/s in all = 7 hooks + 1 notify step + 2 transcript lines a second
    const hookRate = RATE - (1000 * notifyPanes.length) / NOTIFY_PERIOD_MS - (1000 * transcriptPanes.length) / TRANSCRIPT_PERIOD_MS;
    if (!(hookRate > 0)) throw new Error(`--rate=${RATE} leaves no room for hooks`);
    const lanes = [
      { panes: hookPanes, gap: 1000 / hookRate, offset: 0, jitter: 0, fire: fireHook },
      { panes: notifyPanes, gap: NOTIFY_PERIOD_MS / notifyPanes.length, offset: 150, jitter: 0, fire: fireNotify },
      { panes: transcriptPanes, gap: TRANSCRIPT_PERIOD_MS / transcriptPanes.length, offset: 50, jitter: 0, fire: fireTranscript },
      { panes: textPanes, gap: TEXT_PERIOD_MS / textPanes.length, offset: 250, jitter: 0.9, fire: fireScreen },
    ].map((l) => ({ ...l, n: 0, at: 0 }));
    log(
      `load ${SECONDS} s: ${RATE} native events/s in all; ${hookRate.toFixed(1)} hook events/s over ${hookPanes.length} panes; per pane every ${NOTIFY_PERIOD_MS / 1000} s a codex step (${notifyPanes.length} notify panes), every ${TRANSCRIPT_PERIOD_MS / 1000} s a transcript line (${transcriptPanes.length} panes), every ${TEXT_PERIOD_MS / 1000} s a screen (${textPanes.length} pane-text panes)`,
    );
    const runLanes = async (stopAt: number): Promise<void> => {
      const t0 = performance.now();
      const schedule = (l: (typeof lanes)[number]): void => {
        l.at = t0 + l.offset + l.n * l.gap + (l.jitter > 0 ? rnd() * l.jitter * l.gap : 0);
      };
      for (const l of lanes) {
        l.n = 0;
        schedule(l);
      }
      while (performance.now() < stopAt) {
        const now = performance.now();
        const due = lanes.find((l) => l.at <= now);
        if (due !== undefined) {
          due.fire(due.panes[due.n++ % due.panes.length] as Role);
          schedule(due);
          continue;
        }
        await Bun.sleep(Math.max(0, Math.min(...lanes.map((l) => l.at)) - now));
      }
    };
    const load = await measurePhase(SECONDS, runLanes);
    await Promise.all(pending);
    if (watcher.error !== null) {
      const tail = readFileSync(daemonStderr, "utf8").split("\n").slice(-30).join("\n");
      throw new Error(`watch client failed: ${String(watcher.error)}; daemon exit ${String(daemon.exitCode)} ${String(daemon.signalCode)}; daemon stderr tail:\n${tail}`);
    }
    const finalTargets = await targetItems();
    log(`load: CPU ${load.cpu_pct} %, RSS p50 ${load.rss_mib.p50} MiB, ${load.spawns_per_min} spawns/min; ${JSON.stringify(sent)} sent`);

    // ---- result
    const lat = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, stats(v)])) as Record<keyof typeof samples, Stats>;
    const budgetOf = (k: string): number => (k.startsWith("pane_text") ? BUDGET.pane_text_p95_ms : k.endsWith("_local") ? BUDGET.native_local_p95_ms : BUDGET.native_ssh_p95_ms);
    const sshVersion = await run(["ssh", "-V"], box.env).catch(() => ({ stdout: "", stderr: "unknown" }));
    const result = {
      schema: 1,
      benchmark: "profile",
      tc: "TC-044",
      generated_at: new Date().toISOString(),
      machine,
      versions: { agtmux: health.version, agtmux_commit: health.commit, bun: Bun.version, tmux: machine.tmux, openssh: `${sshVersion.stderr}${sshVersion.stdout}`.trim() },
      params: {
        seconds: SECONDS,
        idle_seconds: IDLE_SECONDS,
        daemon_env: daemonEnvOpt,
        native_event_rate_per_s: RATE,
        hook_rate_per_s: Math.round(hookRate * 100) / 100,
        targets: targets.map((t) => ({ name: t.name, kind: t.kind })),
        panes_per_target: PANES_PER_TARGET,
        hook_panes: hookPanes.length,
        notify_panes: notifyPanes.length,
        notify_period_ms_per_pane: NOTIFY_PERIOD_MS,
        transcript_panes: transcriptPanes.length,
        transcript_period_ms_per_pane: TRANSCRIPT_PERIOD_MS,
        pane_text_panes: textPanes.length,
        pane_text_period_ms_per_pane: TEXT_PERIOD_MS,
        timeout_ms: TIMEOUT_MS,
        seed: SEED,
        schedule: "round robin: hooks over the hook panes interleaved by target, the hook cycle UserPromptSubmit/PermissionRequest/PostToolUse/Stop per pane; screens waiting_approval/running per pane; screen writes jittered by the seed (uniform over 90 % of their gap)",
      },
      method: [
        "visible lag: performance.now() at Bun.spawn of `agtmux emit --hook claude` (hook) or `agtmux emit --hook codex --source notify <agent-turn-complete json>` (notify, codex's notify program; each notify pane alternates it with a codex.thread.running on the notify source, not measured) (pane env: TMUX, TMUX_PANE, the target's HOME/TMUX_TMPDIR/XDG_RUNTIME_DIR; payload on stdin), at the append of a Claude transcript line (transcript: a user prompt -> running, a system turn_duration -> completed, to the file the pane's SessionStart hook named) or at the write of a recorded screen (tests/fixtures/claude/2.1.330/bash-approve/screens 02 / 04, clear + 40 lines) to the pane's tty, until a delta line on ONE watch client (GET /v1/watch?scope=panes over the daemon socket, in this process) upserts the pane with the expected state and a newer state_version",
        "cpu_pct: (utime+stime) delta of the daemon pid / wall time, % of one core; rss: VmRSS sampled every 1 s",
        "spawns: wrapper scripts named tmux/ps/ssh first on the daemon's PATH log their $PPID and argv then exec the real binary; only lines whose parent is the daemon pid count (exact, not sampled). Commands the ssh targets run on the VMs are execs on the persistent ssh2 connection, run by sshd: reported as remote_scans (status.scans deltas of GET /v1/targets; a remote scan = one tmux list-panes + one ps)",
        "host and both VMs share the machine: sshd, ssh crypto, the relays, the emit processes (~10/s, each a start of the compiled binary) and the daemon compete for the same CPUs",
      ],
      latency_ms: lat,
      lost,
      watch_stream_breaks: watcher.breaks,
      met_via_snapshot_after_reopen: watcher.viaSnapshot,
      emit_failures: emitFailures.length,
      sent: { ...sent },
      achieved_hook_rate_per_s: Math.round((sent.hook / load.seconds) * 100) / 100,
      thread_running_steps: threadSteps,
      achieved_native_event_rate_per_s: Math.round(((sent.hook + sent.notify + threadSteps + sent.transcript) / load.seconds) * 100) / 100,
      overhead: { idle, load },
      targets_at_end: finalTargets.map((t) => ({ target: t.target, kind: t.kind, scans: t.status?.scans ?? null, last_scan_ms: t.status?.last_scan_ms ?? null, ssh: t.status?.ssh ?? null, relay: t.status?.relay ?? null, control_clients: t.status?.control_clients ?? null })),
      budgets: BUDGET,
      verdict: {
        contract_p95_le_2s: Object.values(lat).every((s) => s.n === 0 || s.p95 <= BUDGET.contract_p95_ms),
        ...Object.fromEntries(Object.entries(lat).map(([k, s]) => [`${k}_p95_goal_met`, s.n > 0 && s.p95 <= budgetOf(k)])),
        cpu_idle_goal_met: idle.cpu_pct <= BUDGET.cpu_idle_pct,
        cpu_load_goal_met: load.cpu_pct <= BUDGET.cpu_load_pct,
        rss_goal_met: Math.max(idle.rss_mib.max, load.rss_mib.max) <= BUDGET.rss_mib,
      },
      cpu_profile: null as null | Record<string, unknown>,
      samples_ms: Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, v.map((x) => Math.round(x * 100) / 100)])),
      total_s: 0,
    };

    // ---- profiled pass: the same load again with the daemon under Bun's sampling profiler
    // (BUN_OPTIONS=--cpu-prof reaches the compiled binary; the profile is written when it exits).
    // Not during the measured phases: the profiler itself costs ~1.4 % of a core idle at 1 ms.
    if (PROF_SECONDS > 0) {
      log(`profiled pass: daemon restarted under --cpu-prof, ${PROF_SECONDS} s of the same load`);
      watcher.close();
      await stopBoxDaemon(daemon);
      const profDir = join(box.dir, "prof");
      const next = Bun.spawn([BIN, "daemon"], {
        env: { ...daemonEnv, BUN_OPTIONS: `--cpu-prof --cpu-prof-dir=${profDir} --cpu-prof-name=daemon.cpuprofile` },
        stdin: "ignore",
        stdout: "ignore",
        stderr: Bun.file(`${daemonStderr}.prof`),
      });
      daemon = next;
      pid = next.pid;
      await until(() => client.health({ timeoutMs: 500 }), 15_000, "profiled daemon answers /v1/health");
      await until(async () => (await targetItems()).filter((t) => t.kind === "ssh" && t.status?.relay?.up === true).length === 2, 20_000, "relays up again");
      await until(async () => ((await client.panes()).items.length === 3 * PANES_PER_TARGET ? true : null), 30_000, "60 panes listed again");
      watcher = await new Watcher(box.socket).open(() => next.exitCode === null);
      w = watcher;
      const profSamples: Record<string, number[]> = {};
      sink = { samples: profSamples, lost: {} };
      const ph = await measurePhase(PROF_SECONDS, runLanes);
      await Promise.all(pending);
      watcher.close();
      await stopBoxDaemon(next);
      daemon = undefined;
      const file = join(profDir, "daemon.cpuprofile");
      const summary = summarizeCpuProfile(file);
      copyFileSync(file, join(OUT, "profile-daemon.cpuprofile"));
      writeFileSync(join(OUT, "profile-daemon-cpu.md"), cpuSummaryMarkdown(summary, `agtmux daemon CPU profile: ${PROF_SECONDS} s of the profile load (${RATE} native events/s, 60 panes, 3 targets)`));
      result.cpu_profile = {
        seconds: ph.seconds,
        cpu_pct_with_profiler: ph.cpu_pct,
        rss_mib_with_profiler: ph.rss_mib,
        lag_ms_with_profiler: Object.fromEntries(Object.entries(profSamples).map(([k, v]) => [k, stats(v)])),
        lost_with_profiler: sink.lost,
        files: ["bench/out/profile-daemon.cpuprofile", "bench/out/profile-daemon-cpu.md"],
        summary: { ...summary, top_total: summary.top_total.slice(0, 15) },
      };
      console.log(`\ndaemon CPU profile (${PROF_SECONDS} s, profiler on: CPU ${ph.cpu_pct} %): ${summary.samples} JS samples = ${summary.js_cpu_ms} ms (${summary.js_cpu_pct_of_core} % of a core); top self:`);
      for (const r of summary.top_self.slice(0, 8)) console.log(`  ${String(r.self_pct).padStart(5)} %  ${r.fn}  ${r.where}`);
      console.log("wrote bench/out/profile-daemon.cpuprofile, bench/out/profile-daemon-cpu.md");
    }
    result.total_s = Math.round((performance.now() - T_START) / 100) / 10;
    mkdirSync(OUT, { recursive: true });
    writeFileSync(join(OUT, "profile.json"), `${JSON.stringify(result, null, 2)}\n`);

    // ---- summary
    const m = machine;
    console.log(`\nagtmux benchmark profile (TC-044) — ${m.cpus} cpus (${m.cpu_model}), ${m.mem_gib} GiB, bun ${m.bun}, ${m.tmux}, ${m.git_commit.slice(0, 12)}${m.git_dirty ? "+dirty" : ""}`);
    console.log(`3 targets (host + 2 ssh over loopback), 60 agent panes (51 claude, 9 codex); ${SECONDS} s at ${result.achieved_native_event_rate_per_s} native events/s (${result.achieved_hook_rate_per_s}/s hooks, ${result.sent.notify} notify + ${result.thread_running_steps} thread steps, ${result.sent.transcript} transcript lines) + ${result.sent.pane_text} screens\n`);
    const rows: string[][] = [["visible lag (event -> watch delta)", "n", "lost", "p50", "p95", "p99", "max", "goal p95", ""]];
    for (const [k, s] of Object.entries(lat)) {
      const b = budgetOf(k);
      rows.push([k.replace(/_(local|ssh)$/, " $1"), String(s.n), String(lost[k] ?? 0), s.p50.toFixed(1), s.p95.toFixed(1), s.p99.toFixed(1), s.max.toFixed(1), `${b}`, s.n > 0 && s.p95 <= b ? "met" : "MISSED"]);
    }
    const widths = rows[0]?.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? "").length))) ?? [];
    for (const row of rows) console.log(row.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join("  "));
    console.log(`contract p95 <= 2 s for every source: ${result.verdict.contract_p95_le_2s ? "met" : "MISSED"}`);
    for (const [name, ph, goal] of [
      ["idle", idle, BUDGET.cpu_idle_pct],
      ["load", load, BUDGET.cpu_load_pct],
    ] as const) {
      console.log(
        `${name.padEnd(5)} ${ph.seconds} s: daemon CPU ${ph.cpu_pct} % (goal <= ${goal} %: ${ph.cpu_pct <= goal ? "met" : "MISSED"}), RSS p50 ${ph.rss_mib.p50} max ${ph.rss_mib.max} MiB (goal <= ${BUDGET.rss_mb} MB = ${BUDGET.rss_mib.toFixed(1)} MiB: ${ph.rss_mib.max <= BUDGET.rss_mib ? "met" : "MISSED"}; anon p50/max ${ph.anon_mib.p50}/${ph.anon_mib.max}, file ${ph.file_mib.p50}/${ph.file_mib.max}), spawns ${ph.spawns_per_min}/min ${JSON.stringify(ph.spawns.by)}, remote scans ${ph.remote_scans_per_min}/min`,
      );
    }
    if (emitFailures.length > 0) console.log(`emit processes that failed: ${emitFailures.length}`);
    if (watcher.breaks.length > 0) console.log(`watch stream broke and was reopened ${watcher.breaks.length}x: ${JSON.stringify(watcher.breaks)} (expectations met by the reopen's snapshot: ${watcher.viaSnapshot})`);

    if (!argv.includes("--no-plot")) {
      const values = Object.entries(samples).flatMap(([k, v]) => v.map((ms) => ({ series: k, ms: Math.max(0.1, ms) })));
      const spec = {
        $schema: "https://vega.github.io/schema/vega-lite/v5.json",
        title: `visible lag per source and target kind (event -> watch delta), ${SECONDS} s at ${RATE} native events/s, 60 panes, 3 targets`,
        width: 560,
        height: 320,
        data: { values },
        mark: { type: "boxplot", extent: "min-max" },
        encoding: {
          y: { field: "series", type: "nominal", title: null },
          x: { field: "ms", type: "quantitative", scale: { type: "log" }, title: "ms (log)" },
        },
      };
      const svg = await renderSvg(spec, { install: true });
      if ("svg" in svg) {
        writeFileSync(join(OUT, "profile-latency.svg"), svg.svg);
        console.log("wrote bench/out/profile-latency.svg");
      } else console.log(`plot skipped: ${svg.skipped}`);
    }
    console.log(`wrote bench/out/profile.json; total ${result.total_s} s`);
    return 0;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await cleanup();
  }
}

process.exit(await main());
