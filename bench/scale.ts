/**
 * Scale benchmark (issue 8 part 3) against the compiled daemon (dist/agtmux):
 *   a. 20 local targets x 50 panes: 20 tmux servers on their own sockets
 *      (`POST /v1/targets {kind: local, tmux_socket}`), 1,000 panes in all;
 *   b. 1 target (host) x 1,000 panes;
 *   for both: GET /v1/panes (agents and ?all=1) and `agtmux list panes --json`
 *   latency, per-target scan cost (GET /v1/targets status.last_scan_ms), RSS;
 *   c. burst on the 1,000-pane host: 1,000 events POSTed in batches within 1 s,
 *      and 1,000 `agtmux emit` spool appends with the daemon stopped, then the
 *      drain time after it starts; every event counted in the events table
 *      (read-only) and the final states compared with the last event per pane;
 *   ssh. 20 ssh targets x 50 panes, the way users run it: loopback OpenSSH
 *      sshds (tests/ssh/sshd.ts; 2: one listens on at most 16 sockets) with
 *      a port per "VM", each port with
 *      its own HOME/TMUX_TMPDIR/XDG_RUNTIME_DIR (`Match LocalPort` + SetEnv,
 *      so each VM has its own agtmux home, spool and relay lock, as 20
 *      machines would), aliases vm1..vm20 in the client's ~/.ssh/config, a
 *      tmux server per VM on a socket path under its TMUX_TMPDIR; each added
 *      with `agtmux target add vmN --kind ssh --ssh-target vmN --tmux-socket
 *      <path> --agtmux-path <binary>`. Measured as a. plus: time from the
 *      first `target add` until every relay is up and all panes are listed,
 *      daemon CPU/RSS idle, TCP connections to sshd, the VM side (relays,
 *      sshd sessions); then bursts over ssh: 1,000 spool lines appended on
 *      the VMs within 1 s (appendToSpool, what `agtmux emit` does there) and
 *      N real `agtmux emit --event=...` processes in the VMs' env, both
 *      drained through the relays; rows counted, final states compared.
 * Writes bench/out/scale.json.
 *
 * Flags: --no-build, --targets=20, --panes-per-target=50, --panes=1000,
 *        --samples=30, --cli-samples=10, --burst=1000, --emit=1000,
 *        --ssh-targets=20, --ssh-panes-per-target=50, --ssh-idle-seconds=20,
 *        --ssh-burst=1000, --ssh-emit=1000, --ssh-add=parallel|serial,
 *        --skip=a,b,c,ssh,ssh-burst
 */
import { Database } from "bun:sqlite";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { appendToSpool } from "../src/client/spool.ts";
import { resolvePaths } from "../src/platform/paths.ts";
import type { ListResponse, PaneItem, TargetItem, TargetResponse } from "../src/wire/list.ts";
import { descendants, type Sshd, sshdAvailable, startSshd } from "../tests/ssh/sshd.ts";
import { removeTempDirs } from "../tests/tmux/harness.ts";
import { api, type BenchBox, BIN, benchBox, boxDbPath, cpuSecondsOf, type Env, machineInfo, memoryOf, ROOT, run, SocketTmux, type Stats, startBoxDaemon, stats, stopBoxDaemon, until } from "./lib.ts";

const argv = process.argv.slice(2);
const opt = (name: string, dflt: string): string => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
const TARGETS = Number(opt("targets", "20"));
const PER_TARGET = Number(opt("panes-per-target", "50"));
const PANES = Number(opt("panes", "1000"));
const SAMPLES = Number(opt("samples", "30"));
const CLI_SAMPLES = Number(opt("cli-samples", "10"));
const BURST = Number(opt("burst", "1000"));
const EMITS = Number(opt("emit", "1000"));
const SSH_TARGETS = Number(opt("ssh-targets", "20"));
const SSH_PER_TARGET = Number(opt("ssh-panes-per-target", "50"));
const SSH_IDLE_S = Number(opt("ssh-idle-seconds", "20"));
const SSH_BURST = Number(opt("ssh-burst", "1000"));
const SSH_EMITS = Number(opt("ssh-emit", "1000"));
/** OpenSSH's MAX_LISTEN_SOCKS is 16; the harness's own port takes one */
const VMS_PER_SSHD = 15;
const SSH_ADD = opt("ssh-add", "parallel") === "serial" ? "serial" : "parallel";
const SKIP = new Set(opt("skip", "").split(",").filter(Boolean));
const OUT = join(import.meta.dir, "out");
const T0 = performance.now();
const log = (s: string): void => console.error(`[scale ${((performance.now() - T0) / 1000).toFixed(1)}s] ${s}`);
const r2 = (x: number): number => Math.round(x * 100) / 100;

interface ScaleNumbers {
  targets: number;
  panes: number;
  agent_panes: number;
  converge_ms: number;
  api_agents_ms: Stats;
  api_all_ms: Stats;
  cli_agents_ms: Stats;
  cli_all_ms: Stats;
  last_scan_ms_per_target: Stats;
  rss_mib: number;
  hwm_mib: number;
}

type Panes = ListResponse<PaneItem>;

async function measure(box: BenchBox, pid: number, targets: number): Promise<Omit<ScaleNumbers, "converge_ms">> {
  const apiAgents: number[] = [];
  const apiAll: number[] = [];
  for (let i = 0; i < 3; i++) await api(box.socket, "GET", "/v1/panes?all=1");
  let last: Panes | null = null;
  for (let i = 0; i < SAMPLES; i++) {
    apiAgents.push((await api(box.socket, "GET", "/v1/panes")).ms);
    const r = await api<Panes>(box.socket, "GET", "/v1/panes?all=1");
    apiAll.push(r.ms);
    last = r.json;
  }
  const cli = async (extra: string[]): Promise<number> => {
    const t = performance.now();
    const r = await run([BIN, "list", "panes", "--json", ...extra], box.env);
    if (r.code !== 0) throw new Error(`agtmux list panes --json ${extra.join(" ")}: ${r.stderr}`);
    return performance.now() - t;
  };
  const cliAgents: number[] = [];
  const cliAll: number[] = [];
  for (let i = 0; i < CLI_SAMPLES; i++) {
    cliAgents.push(await cli([]));
    cliAll.push(await cli(["--all"]));
  }
  // per-target scan cost: sample the workers' last scan over a few seconds
  const scanMs: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = await api<{ items: TargetItem[] }>(box.socket, "GET", "/v1/targets");
    for (const it of t.json.items) if (it.status !== null && it.status.scans > 0 && (targets === 1 || it.target !== "host")) scanMs.push(it.status.last_scan_ms);
    await Bun.sleep(1_000);
  }
  return {
    targets,
    panes: last?.summary.panes ?? 0,
    agent_panes: last?.summary.agent_panes ?? 0,
    api_agents_ms: stats(apiAgents),
    api_all_ms: stats(apiAll),
    cli_agents_ms: stats(cliAgents),
    cli_all_ms: stats(cliAll),
    last_scan_ms_per_target: stats(scanMs),
    ...memoryOf(pid),
  };
}

async function waitPanes(box: BenchBox, n: number, agents: number): Promise<number> {
  const t = performance.now();
  await until(
    async () => {
      const r = await api<Panes>(box.socket, "GET", "/v1/panes?all=1");
      return r.json.summary.panes === n && r.json.summary.agent_panes === agents;
    },
    120_000,
    `daemon lists ${n} panes (${agents} agents)`,
    100,
  );
  return performance.now() - t;
}

/** a. many targets: one tmux server per target. */
async function manyTargets(): Promise<ScaleNumbers> {
  const box = benchBox();
  const servers: SocketTmux[] = [];
  let daemon: Bun.Subprocess | undefined;
  try {
    for (let i = 0; i < TARGETS; i++) {
      const s = new SocketTmux(box, join(box.dir, "tmux", `t${i}.sock`));
      await s.fill(`s${i}`, PER_TARGET);
      servers.push(s);
    }
    const d = await startBoxDaemon(box);
    daemon = d.proc;
    const t = performance.now();
    for (let i = 0; i < TARGETS; i++) {
      const r = await api(box.socket, "POST", "/v1/targets", { name: `t${i}`, kind: "local", tmux_socket: servers[i]?.socketPath });
      if (r.status !== 201 && r.status !== 200) throw new Error(`target add t${i}: ${r.status} ${JSON.stringify(r.json)}`);
    }
    const addMs = performance.now() - t;
    const agentsPer = Math.ceil(PER_TARGET / 10);
    const conv = await waitPanes(box, TARGETS * PER_TARGET, TARGETS * agentsPer);
    log(`a. ${TARGETS} targets added in ${addMs.toFixed(0)} ms, ${TARGETS * PER_TARGET} panes listed ${conv.toFixed(0)} ms later`);
    const m = await measure(box, d.pid, TARGETS);
    log(`a. API p50 ${m.api_agents_ms.p50}/${m.api_all_ms.p50} ms, CLI p50 ${m.cli_agents_ms.p50}/${m.cli_all_ms.p50} ms, scan p50 ${m.last_scan_ms_per_target.p50} ms, RSS ${m.rss_mib} MiB`);
    return { ...m, converge_ms: r2(addMs + conv) };
  } finally {
    await stopBoxDaemon(daemon);
    for (const s of servers) await s.kill();
    box.cleanup();
  }
}

interface BurstResult {
  post: { events: number; batches: number; send_window_ms: number; all_acked_ms: number; statuses: Record<string, number>; rows_in_db: number; lost: number; final_state_mismatches: number; visible_ms: number };
  emit: { events: number; emit_exit_nonzero: number; emit_wall_ms: number; emit_per_process_ms: Stats; spool_bytes: number; drain_ms: number; rows_in_db: number; lost: number; final_state_mismatches: number };
}

const STATES = ["running", "waiting_input", "waiting_approval", "running", "idle"] as const;

/** b. one target with many panes, then c. the bursts on it. */
async function oneTarget(): Promise<{ scale: ScaleNumbers; burst: BurstResult | null }> {
  const box = benchBox();
  let daemon: Bun.Subprocess | undefined;
  try {
    // the host target's default socket: $TMUX_TMPDIR/tmux-<uid>/default
    const uid = process.getuid?.() ?? 0;
    mkdirSync(join(box.dir, "tmux", `tmux-${uid}`), { recursive: true, mode: 0o700 });
    const host = new SocketTmux(box, join(box.dir, "tmux", `tmux-${uid}`, "default"));
    for (let i = 0; i < PANES; i += 50) await host.fill(`fill-${i / 50}`, Math.min(50, PANES - i));
    const d = await startBoxDaemon(box);
    daemon = d.proc;
    let agentsN = 0;
    for (let i = 0; i < PANES; i += 50) agentsN += Math.ceil(Math.min(50, PANES - i) / 10);
    const conv = await waitPanes(box, PANES, agentsN);
    log(`b. ${PANES} panes (${agentsN} agents) listed after ${conv.toFixed(0)} ms`);
    const m = await measure(box, d.pid, 1);
    log(`b. API p50 ${m.api_agents_ms.p50}/${m.api_all_ms.p50} ms, CLI p50 ${m.cli_agents_ms.p50}/${m.cli_all_ms.p50} ms, scan p50 ${m.last_scan_ms_per_target.p50} ms, RSS ${m.rss_mib} MiB`);
    const scale = { ...m, converge_ms: r2(conv) };
    if (SKIP.has("c")) return { scale, burst: null };

    // c. bursts on the agent panes
    const agents = (await api<Panes>(box.socket, "GET", "/v1/panes")).json.items;
    const serverPid = Number((await host.run("display-message", "-p", "#{pid}")).trim());
    const expected = new Map<string, string>();
    let seq = 0;
    const envelope = (prefix: string, i: number): Record<string, unknown> => {
      const p = agents[i % agents.length] as PaneItem;
      const state = STATES[Math.floor(i / agents.length) % STATES.length] as string;
      expected.set(p.identity.pane_id, state);
      const id = `${prefix}-${i}`;
      return { event_id: id, dedupe_key: id, source: "hook", event_type: `state.${state}`, agent_type: "claude", event_time: new Date().toISOString(), source_seq: ++seq, target_id: "host", pane_id: p.identity.pane_id, tmux_server_pid: serverPid };
    };
    const db = (): Database => new Database(boxDbPath(box), { readonly: true });
    const countRows = (prefix: string): number => {
      const h = db();
      try {
        return h.query<{ n: number }, [string]>("SELECT count(*) AS n FROM events WHERE event_id LIKE ?").get(`${prefix}-%`)?.n ?? 0;
      } finally {
        h.close();
      }
    };
    const mismatches = async (): Promise<number> => {
      const items = (await api<Panes>(box.socket, "GET", "/v1/panes")).json.items;
      let bad = 0;
      for (const p of items) {
        const want = expected.get(p.identity.pane_id);
        if (want !== undefined && p.state !== want) bad++;
      }
      return bad;
    };

    // c1. POST: 1,000 events in 10 batches of 100, spread over 1 s
    const batches = 10;
    const per = Math.ceil(BURST / batches);
    const statuses: Record<string, number> = {};
    const tb = performance.now();
    const sends: Promise<void>[] = [];
    for (let b = 0; b < batches; b++) {
      const events = Array.from({ length: Math.min(per, BURST - b * per) }, (_, j) => envelope("burst", b * per + j));
      sends.push(
        api<{ results: Array<{ status: string }> }>(box.socket, "POST", "/v1/events", { events }).then((r) => {
          if (r.status !== 200) throw new Error(`POST /v1/events: ${r.status} ${JSON.stringify(r.json).slice(0, 300)}`);
          for (const x of r.json.results) statuses[x.status] = (statuses[x.status] ?? 0) + 1;
        }),
      );
      const due = tb + ((b + 1) * 1000) / batches;
      if (performance.now() < due) await Bun.sleep(due - performance.now());
    }
    const sendWindow = performance.now() - tb;
    await Promise.all(sends);
    const acked = performance.now() - tb;
    const visible = await until(async () => ((await mismatches()) === 0 ? performance.now() - tb : null), 10_000, "burst states visible", 10).catch(() => Number.NaN);
    const postRows = countRows("burst");
    const post = { events: BURST, batches, send_window_ms: r2(sendWindow), all_acked_ms: r2(acked), statuses, rows_in_db: postRows, lost: BURST - postRows, final_state_mismatches: await mismatches(), visible_ms: r2(visible) };
    log(`c. POST burst: ${BURST} events acked in ${acked.toFixed(0)} ms, ${JSON.stringify(statuses)}, ${postRows} rows, ${post.final_state_mismatches} state mismatches`);

    // c2. emit with the daemon stopped: spool appends, then the drain on start
    await stopBoxDaemon(daemon);
    daemon = undefined;
    const perEmit: number[] = [];
    let nonzero = 0;
    const te = performance.now();
    const conc = 8;
    let next = 0;
    await Promise.all(
      Array.from({ length: conc }, async () => {
        for (;;) {
          const i = next++;
          if (i >= EMITS) return;
          const t = performance.now();
          const r = await run([BIN, "emit", `--event=${JSON.stringify(envelope("spool", i))}`], box.env);
          perEmit.push(performance.now() - t);
          if (r.code !== 0) nonzero++;
        }
      }),
    );
    const emitWall = performance.now() - te;
    const spoolBytes = Number((await run(["du", "-sb", join(box.dir, "state", "agtmux", "spool")], box.env)).stdout.split("\t")[0] ?? 0);
    log(`c. ${EMITS} emits in ${emitWall.toFixed(0)} ms (${nonzero} non-zero exits), spool ${spoolBytes} bytes`);
    const ts = performance.now();
    const d2 = await startBoxDaemon(box);
    daemon = d2.proc;
    const drain = await until(async () => (countRows("spool") >= EMITS - nonzero ? performance.now() - ts : null), 60_000, "spool drained", 10).catch(() => Number.NaN);
    const settled = await until(async () => ((await mismatches()) === 0 ? true : null), 60_000, "spool states visible", 50).catch(() => false);
    void settled;
    const spoolRows = countRows("spool");
    const emit = { events: EMITS, emit_exit_nonzero: nonzero, emit_wall_ms: r2(emitWall), emit_per_process_ms: stats(perEmit), spool_bytes: spoolBytes, drain_ms: r2(drain), rows_in_db: spoolRows, lost: EMITS - nonzero - spoolRows, final_state_mismatches: await mismatches() };
    log(`c. spool drain: ${spoolRows} rows ${drain.toFixed(0)} ms after start (incl. daemon start), ${emit.final_state_mismatches} state mismatches`);
    return { scale, burst: { post, emit } };
  } finally {
    await stopBoxDaemon(daemon);
    await new SocketTmux(box, join(box.dir, "tmux", `tmux-${process.getuid?.() ?? 0}`, "default")).kill();
    box.cleanup();
  }
}

// ---- ssh: many ssh targets through one loopback sshd ------------------------------------------

interface SshScaleNumbers extends ScaleNumbers {
  sshd_processes: number;
  add: { mode: string; cli_ms: Stats; relay_up_in_reply: number; all_added_ms: number; relays_up_ms: number; panes_listed_ms: number };
  relays_up: number;
  ssh: { connects: number; reconnects: number; channels_open: number; errors: string[] };
  tcp_to_sshd: { daemon: number; daemon_per_vm_min: number; daemon_per_vm_max: number; all_processes: number };
  idle: {
    seconds: number;
    daemon_cpu_pct: number;
    daemon_rss_mib: Stats;
    daemon_hwm_mib: number;
    scans_per_min_per_target: Stats;
    scan_errors: number;
    relays: number;
    relays_cpu_pct: number;
    relays_rss_mib_sum: number;
    sshd_sessions: number;
    sshd_sessions_cpu_pct: number;
    tmux_servers_cpu_pct: number;
    machine_busy_pct: number;
  };
}

interface SshBurst {
  append: { events: number; rounds: number; send_window_ms: number; drain_ms: number; visible_ms: number; rows_in_db: number; lost: number; quarantined: number; final_state_mismatches: number };
  emit: { events: number; parallel: number; emit_exit_nonzero: number; emit_wall_ms: number; emit_per_process_ms: Stats; drain_after_last_emit_ms: number; rows_in_db: number; lost: number; quarantined: number; final_state_mismatches: number };
}

const freePort = (): number => {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = l.port;
  l.stop(true);
  return port;
};

/** Established TCP connections to 127.0.0.1:<one of ports>: of any process, and of `pid` (by its socket inodes), per port. */
function tcpTo(ports: ReadonlySet<number>, pid: number): { all: number; ofPid: Map<number, number> } {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m?.[1] !== undefined) inodes.add(m[1]);
    } catch {
      // closed meanwhile
    }
  }
  let all = 0;
  const ofPid = new Map<number, number>();
  for (const f of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    if (!existsSync(f)) continue;
    for (const line of readFileSync(f, "utf8").split("\n").slice(1)) {
      const c = line.trim().split(/\s+/);
      if (c.length < 10 || c[3] !== "01") continue;
      const port = Number.parseInt(c[2]?.split(":")[1] ?? "", 16);
      if (!ports.has(port)) continue;
      all++;
      if (inodes.has(c[9] ?? "")) ofPid.set(port, (ofPid.get(port) ?? 0) + 1);
    }
  }
  return { all, ofPid };
}

/** busy and total jiffies of the whole machine (/proc/stat) */
function machineJiffies(): { busy: number; total: number } {
  const f = (readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "").trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - (f[3] ?? 0) - (f[4] ?? 0), total };
}

/** the VM side: relays (`<bin> relay`) and sshd session processes below the sshds, with their CPU seconds */
function vmSide(sshdPids: readonly number[], relayBin: string): Map<number, { kind: "relay" | "sshd"; cpu: number }> {
  const out = new Map<number, { kind: "relay" | "sshd"; cpu: number }>();
  for (const pid of sshdPids.flatMap((p) => descendants(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      const comm = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
      const kind = cmd[0] === relayBin && cmd[1] === "relay" ? "relay" : comm.startsWith("sshd") ? "sshd" : null;
      if (kind !== null) out.set(pid, { kind, cpu: cpuSecondsOf(pid) });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

interface Vm {
  name: string;
  port: number;
  env: Env;
  tmux: SocketTmux;
  serverPid: number;
  spoolDir: string;
}

/** ssh. N ssh targets x M panes through a few sshds with a port per VM. */
async function sshTargets(): Promise<{ scale: SshScaleNumbers; burst: SshBurst | null }> {
  const box = benchBox();
  const vms: Vm[] = [];
  const sshds: Sshd[] = [];
  let daemon: Bun.Subprocess | undefined;
  try {
    // a private copy of the binary for the daemon, the relays and the emits: a rebuild of dist/ meanwhile must not pull it away
    const bin = join(box.dir, "agtmux");
    copyFileSync(BIN, bin);
    chmodSync(bin, 0o755);
    // a port per VM; `Match LocalPort` gives each port its own SetEnv (its HOME, TMUX_TMPDIR, XDG_RUNTIME_DIR).
    // OpenSSH listens on at most 16 sockets (MAX_LISTEN_SOCKS; the harness's own port is one): as few sshds as that allows
    const specs = Array.from({ length: SSH_TARGETS }, (_, i) => {
      const dir = join(box.dir, `vm${i + 1}`);
      for (const d of ["home", "tmux", "run"]) mkdirSync(join(dir, d), { recursive: true, mode: 0o700 });
      return { name: `vm${i + 1}`, port: freePort(), home: join(dir, "home"), tmuxTmpDir: join(dir, "tmux"), runtimeDir: join(dir, "run"), sshd: 0 };
    });
    const nSshd = Math.ceil(specs.length / VMS_PER_SSHD);
    for (const [i, s] of specs.entries()) s.sshd = Math.floor((i * nSshd) / specs.length);
    for (let k = 0; k < nSshd; k++) {
      const mine = specs.filter((s) => s.sshd === k);
      const first = sshds[0];
      sshds.push(
        await startSshd({
          aliases: [],
          trustHostKey: false,
          ...(first !== undefined ? { client: first.client } : {}),
          sshdConfig: [...mine.map((s) => `Port ${s.port}`), ...mine.flatMap((s) => [`Match LocalPort ${s.port}`, `  SetEnv HOME=${s.home} TMUX_TMPDIR=${s.tmuxTmpDir} XDG_RUNTIME_DIR=${s.runtimeDir}`])],
        }),
      );
    }
    const client = (sshds[0] as Sshd).client;
    for (const s of specs) {
      client.addHost(s.name, { hostName: "127.0.0.1", port: s.port });
      (sshds[s.sshd] as Sshd).trustHostKey(s.port);
      const env: Env = { PATH: process.env.PATH, LANG: "C.UTF-8", HOME: s.home, TMUX_TMPDIR: s.tmuxTmpDir, XDG_RUNTIME_DIR: s.runtimeDir, USER: "root" };
      const tmux = new SocketTmux({ ...box, env }, join(s.tmuxTmpDir, "bench.sock"));
      await tmux.fill(s.name, SSH_PER_TARGET);
      const serverPid = Number((await tmux.run("display-message", "-p", "#{pid}")).trim());
      vms.push({ name: s.name, port: s.port, env, tmux, serverPid, spoolDir: resolvePaths(env).spoolDir });
    }
    log(`ssh. ${sshds.length} sshd (pids ${sshds.map((x) => x.pid).join(", ")}) on ${specs.length} VM ports; ${vms.length} tmux servers x ${SSH_PER_TARGET} panes`);
    const d = await startBoxDaemon(box, { HOME: client.home }, bin, join(box.dir, "daemon.stderr"));
    daemon = d.proc;
    const cliEnv: Env = { ...box.env, HOME: client.home };

    // target add: every VM, then wait for the relays and the panes
    const t0 = performance.now();
    let relayUpInReply = 0;
    const addOne = async (vm: Vm): Promise<number> => {
      const t = performance.now();
      const r = await run([bin, "target", "add", vm.name, "--kind", "ssh", "--ssh-target", vm.name, "--tmux-socket", vm.tmux.socketPath, "--agtmux-path", bin, "--json"], cliEnv, 60_000);
      if (r.code !== 0) throw new Error(`agtmux target add ${vm.name}: ${r.code} ${r.stderr}${r.stdout}`);
      const ms = performance.now() - t;
      if ((JSON.parse(r.stdout) as TargetResponse).probe?.status.relay?.up === true) relayUpInReply++;
      return ms;
    };
    const addMs: number[] = [];
    if (SSH_ADD === "parallel") addMs.push(...(await Promise.all(vms.map(addOne))));
    else for (const vm of vms) addMs.push(await addOne(vm));
    const allAdded = performance.now() - t0;
    const sshItems = async (): Promise<TargetItem[]> => (await api<{ items: TargetItem[] }>(box.socket, "GET", "/v1/targets")).json.items.filter((t) => t.kind === "ssh");
    const relaysUp = await until(async () => ((await sshItems()).filter((t) => t.status?.relay?.up === true).length === vms.length ? performance.now() - t0 : null), 120_000, `${vms.length} relays up`, 50);
    const agentsPer = Math.ceil(SSH_PER_TARGET / 10);
    await waitPanes(box, vms.length * SSH_PER_TARGET, vms.length * agentsPer);
    const listed = performance.now() - t0;
    log(`ssh. ${vms.length} targets added (${SSH_ADD}) in ${allAdded.toFixed(0)} ms, relays up at ${relaysUp.toFixed(0)} ms, ${vms.length * SSH_PER_TARGET} panes listed at ${listed.toFixed(0)} ms`);

    const m = await measure(box, d.pid, vms.length);
    log(`ssh. API p50 ${m.api_agents_ms.p50}/${m.api_all_ms.p50} ms, CLI p50 ${m.cli_agents_ms.p50}/${m.cli_all_ms.p50} ms, scan p50 ${m.last_scan_ms_per_target.p50} ms, RSS ${m.rss_mib} MiB`);

    // idle: daemon CPU/RSS, scans, the VM side, the whole machine
    const sshdPids = sshds.map((x) => x.pid ?? 0);
    const scans0 = new Map((await sshItems()).map((t) => [t.target, t.status?.scans ?? 0]));
    const vm0 = vmSide(sshdPids, bin);
    const cpu0 = cpuSecondsOf(d.pid);
    const tmuxCpu = (): number => vms.reduce((a, v) => a + cpuSecondsOf(v.serverPid), 0);
    const tmux0 = tmuxCpu();
    const mach0 = machineJiffies();
    const ti = performance.now();
    const rss: number[] = [];
    while (performance.now() - ti < SSH_IDLE_S * 1000) {
      rss.push(memoryOf(d.pid).rss_mib);
      await Bun.sleep(1_000);
    }
    const wall = (performance.now() - ti) / 1000;
    const cpu = cpuSecondsOf(d.pid) - cpu0;
    const tmux1 = tmuxCpu();
    const mach1 = machineJiffies();
    const vm1 = vmSide(sshdPids, bin);
    const itemsIdle = await sshItems();
    const scanRates = itemsIdle.map((t) => (((t.status?.scans ?? 0) - (scans0.get(t.target) ?? 0)) / wall) * 60);
    let relayCpu = 0;
    let sessCpu = 0;
    let relayRss = 0;
    let relays = 0;
    let sessions = 0;
    for (const [pid, p] of vm1) {
      const before = vm0.get(pid);
      if (p.kind === "relay") {
        relays++;
        relayRss += memoryOf(pid).rss_mib;
        if (before !== undefined) relayCpu += p.cpu - before.cpu;
      } else {
        sessions++;
        if (before !== undefined) sessCpu += p.cpu - before.cpu;
      }
    }
    const pct = (sec: number): number => Math.round((sec / wall) * 1000) / 10;
    const idle = {
      seconds: r2(wall),
      daemon_cpu_pct: pct(cpu),
      daemon_rss_mib: stats(rss),
      daemon_hwm_mib: memoryOf(d.pid).hwm_mib,
      scans_per_min_per_target: stats(scanRates),
      scan_errors: itemsIdle.reduce((a, t) => a + (t.status?.scan_errors ?? 0), 0),
      relays,
      relays_cpu_pct: pct(relayCpu),
      relays_rss_mib_sum: Math.round(relayRss),
      sshd_sessions: sessions,
      sshd_sessions_cpu_pct: pct(sessCpu),
      tmux_servers_cpu_pct: pct(tmux1 - tmux0),
      // % of all cores, everything on the machine (other work on it included)
      machine_busy_pct: Math.round(((mach1.busy - mach0.busy) / Math.max(1, mach1.total - mach0.total)) * 1000) / 10,
    };
    const tcp = tcpTo(new Set(vms.map((v) => v.port)), d.pid);
    const perVm = vms.map((v) => tcp.ofPid.get(v.port) ?? 0);
    const tcpOut = { daemon: perVm.reduce((a, b) => a + b, 0), daemon_per_vm_min: Math.min(...perVm), daemon_per_vm_max: Math.max(...perVm), all_processes: tcp.all };
    const ssh = {
      connects: itemsIdle.reduce((a, t) => a + (t.status?.ssh?.connects ?? 0), 0),
      reconnects: itemsIdle.reduce((a, t) => a + (t.status?.ssh?.reconnects ?? 0), 0),
      channels_open: itemsIdle.reduce((a, t) => a + (t.status?.ssh?.channels_open ?? 0), 0),
      errors: [...new Set(itemsIdle.map((t) => t.status?.ssh?.last_error).filter((e): e is string => typeof e === "string"))],
    };
    log(
      `ssh. idle ${idle.seconds} s: daemon CPU ${idle.daemon_cpu_pct} %, RSS p50 ${idle.daemon_rss_mib.p50} MiB; ${relays} relays ${idle.relays_cpu_pct} % CPU ${idle.relays_rss_mib_sum} MiB; sshd sessions ${idle.sshd_sessions_cpu_pct} %; tmux servers ${idle.tmux_servers_cpu_pct} %; machine ${idle.machine_busy_pct} % busy; TCP to sshd ${tcpOut.daemon} (per VM ${tcpOut.daemon_per_vm_min}-${tcpOut.daemon_per_vm_max}, all ${tcpOut.all_processes})`,
    );
    const scale: SshScaleNumbers = {
      ...m,
      converge_ms: r2(listed),
      sshd_processes: sshds.length,
      add: { mode: SSH_ADD, cli_ms: stats(addMs), relay_up_in_reply: relayUpInReply, all_added_ms: r2(allAdded), relays_up_ms: r2(relaysUp), panes_listed_ms: r2(listed) },
      relays_up: itemsIdle.filter((t) => t.status?.relay?.up === true).length,
      ssh,
      tcp_to_sshd: tcpOut,
      idle,
    };
    if (SKIP.has("ssh-burst")) return { scale, burst: null };
    return { scale, burst: await sshBurst(box, vms, bin) };
  } finally {
    await stopBoxDaemon(daemon);
    for (const vm of vms) await vm.tmux.kill();
    for (const x of sshds) await x.stop();
    box.cleanup();
    removeTempDirs();
  }
}

/** the bursts over ssh: spool appends on the VMs within 1 s, then real `agtmux emit` processes there */
async function sshBurst(box: BenchBox, vms: Vm[], bin: string): Promise<SshBurst> {
  const agents = (await api<Panes>(box.socket, "GET", "/v1/panes")).json.items;
  const byName = new Map(vms.map((v) => [v.name, v]));
  // round robin interleaved by VM: agent i of every VM, then i+1, ...
  const order = agents.toSorted((a, b) => (a.window_index ?? 0) - (b.window_index ?? 0) || a.identity.target.localeCompare(b.identity.target));
  const expected = new Map<string, string>();
  let seq = 0;
  const key = (p: PaneItem): string => `${p.identity.target}/${p.identity.pane_id}`;
  const envelope = (prefix: string, i: number): { vm: Vm; event: Record<string, unknown> } => {
    const p = order[i % order.length] as PaneItem;
    const vm = byName.get(p.identity.target) as Vm;
    const state = STATES[Math.floor(i / order.length) % STATES.length] as string;
    expected.set(key(p), state);
    const id = `${prefix}-${i}`;
    // target_id as the VM's emit writes it (host); the daemon puts a target's spool lines on that target
    return { vm, event: { event_id: id, dedupe_key: id, source: "hook", event_type: `state.${state}`, agent_type: "claude", event_time: new Date().toISOString(), source_seq: ++seq, target_id: "host", pane_id: p.identity.pane_id, tmux_server_pid: vm.serverPid } };
  };
  const countRows = (prefix: string): number => {
    const h = new Database(boxDbPath(box), { readonly: true });
    try {
      return h.query<{ n: number }, [string]>("SELECT count(*) AS n FROM events WHERE event_id LIKE ?").get(`${prefix}-%`)?.n ?? 0;
    } finally {
      h.close();
    }
  };
  const quarantined = (prefix: string): number => {
    const f = join(box.dir, "state", "agtmux", "spool", "rejected.jsonl");
    return existsSync(f) ? readFileSync(f, "utf8").split("\n").filter((l) => l.includes(`"${prefix}-`)).length : 0;
  };
  const mismatches = async (): Promise<number> => {
    const items = (await api<Panes>(box.socket, "GET", "/v1/panes")).json.items;
    let bad = 0;
    for (const p of items) {
      const want = expected.get(key(p));
      if (want !== undefined && p.state !== want) bad++;
    }
    return bad;
  };

  // 1. spool appends: SSH_BURST lines in 10 rounds over 1 s, spread over the VMs' spools
  const rounds = 10;
  const per = Math.ceil(SSH_BURST / rounds);
  const ta = performance.now();
  for (let b = 0; b < rounds; b++) {
    for (let j = 0; j < per && b * per + j < SSH_BURST; j++) {
      const { vm, event } = envelope("sshapp", b * per + j);
      appendToSpool(vm.spoolDir, event, Date.now());
    }
    const due = ta + ((b + 1) * 1000) / rounds;
    if (performance.now() < due) await Bun.sleep(due - performance.now());
  }
  const window = performance.now() - ta;
  const drain = await until(async () => (countRows("sshapp") >= SSH_BURST ? performance.now() - ta : null), 60_000, "ssh spool appends drained", 10).catch(() => Number.NaN);
  const visible = await until(async () => ((await mismatches()) === 0 ? performance.now() - ta : null), 30_000, "ssh burst states visible", 20).catch(() => Number.NaN);
  const appRows = countRows("sshapp");
  const append = { events: SSH_BURST, rounds, send_window_ms: r2(window), drain_ms: r2(drain), visible_ms: r2(visible), rows_in_db: appRows, lost: SSH_BURST - appRows, quarantined: quarantined("sshapp"), final_state_mismatches: await mismatches() };
  log(`ssh. append burst: ${SSH_BURST} lines on ${vms.length} VMs in ${window.toFixed(0)} ms; all in the DB at ${drain.toFixed(0)} ms, states at ${visible.toFixed(0)} ms; lost ${append.lost}, mismatches ${append.final_state_mismatches}`);

  // 2. real `agtmux emit --event=...` on the VMs (their env: relayed home -> spool), 8 at a time
  const conc = 8;
  const perEmit: number[] = [];
  let nonzero = 0;
  let next = 0;
  const te = performance.now();
  await Promise.all(
    Array.from({ length: conc }, async () => {
      for (;;) {
        const i = next++;
        if (i >= SSH_EMITS) return;
        const { vm, event } = envelope("sshemit", i);
        const t = performance.now();
        const r = await run([bin, "emit", `--event=${JSON.stringify(event)}`], vm.env);
        perEmit.push(performance.now() - t);
        if (r.code !== 0) nonzero++;
      }
    }),
  );
  const tEnd = performance.now();
  const drained = await until(async () => (countRows("sshemit") >= SSH_EMITS - nonzero ? performance.now() - tEnd : null), 60_000, "ssh emits drained", 10).catch(() => Number.NaN);
  await until(async () => ((await mismatches()) === 0 ? true : null), 30_000, "ssh emit states visible", 20).catch(() => false);
  const emitRows = countRows("sshemit");
  const emit = {
    events: SSH_EMITS,
    parallel: conc,
    emit_exit_nonzero: nonzero,
    emit_wall_ms: r2(tEnd - te),
    emit_per_process_ms: stats(perEmit),
    drain_after_last_emit_ms: r2(drained),
    rows_in_db: emitRows,
    lost: SSH_EMITS - nonzero - emitRows,
    quarantined: quarantined("sshemit"),
    final_state_mismatches: await mismatches(),
  };
  log(`ssh. emit burst: ${SSH_EMITS} emits in ${emit.emit_wall_ms.toFixed(0)} ms (${nonzero} failed); all in the DB ${drained.toFixed(0)} ms after the last; lost ${emit.lost}, mismatches ${emit.final_state_mismatches}`);
  return { append, emit };
}

async function main(): Promise<number> {
  if (!argv.includes("--no-build")) {
    const b = await run([process.execPath, join(ROOT, "scripts", "build.ts"), "--no-smoke"], process.env, 180_000);
    if (b.code !== 0) throw new Error(`build failed:\n${b.stdout}${b.stderr}`);
    log("built dist/agtmux");
  }
  const machine = await machineInfo(process.env);
  const many = SKIP.has("a") ? null : await manyTargets();
  const one = SKIP.has("b") ? null : await oneTarget();
  const sshOk = sshdAvailable();
  if (!SKIP.has("ssh") && !sshOk) log("ssh. /usr/sbin/sshd or ssh-keygen missing (apt-get install openssh-server openssh-client): skipped");
  const viaSsh = SKIP.has("ssh") || !sshOk ? null : await sshTargets();
  const result = {
    schema: 1,
    benchmark: "scale",
    machine,
    config: {
      targets: TARGETS,
      panes_per_target: PER_TARGET,
      panes: PANES,
      samples: SAMPLES,
      cli_samples: CLI_SAMPLES,
      burst: BURST,
      emits: EMITS,
      ssh_targets: SSH_TARGETS,
      ssh_panes_per_target: SSH_PER_TARGET,
      ssh_idle_seconds: SSH_IDLE_S,
      ssh_burst: SSH_BURST,
      ssh_emits: SSH_EMITS,
      ssh_add: SSH_ADD,
    },
    notes: [
      "a: one tmux server per local target (own -S socket), every tenth pane a fake claude; b: the host target's default socket",
      "api = request until the whole body is read; cli = a whole `agtmux list panes --json` process; last_scan_ms sampled 5x over 5 s from GET /v1/targets (a: the tN targets only)",
      "c.post: batches of 100 sent every 100 ms without waiting for answers; rows counted in the events table read-only; final states compared with the last event sent per pane",
      "c.emit: daemon stopped, `agtmux emit --event=...` x N (8 in parallel) -> spool; drain_ms from spawning the daemon until every row is in the events table",
      "ssh: OpenSSH sshds on loopback (15 VM ports each: sshd listens on at most 16 sockets), a port per VM; `Match LocalPort` + SetEnv gives each VM its own HOME/TMUX_TMPDIR/XDG_RUNTIME_DIR (own agtmux home, spool, relay lock); aliases vmN in the client's ~/.ssh/config (daemon HOME); a tmux server per VM on <TMUX_TMPDIR>/bench.sock passed as --tmux-socket; the VMs share this machine: every VM's `ps` lists all VMs' processes, and sshd, the relays and the daemon compete for the same 2 cores",
      "ssh.add: `agtmux target add vmN --kind ssh --ssh-target vmN --tmux-socket <path> --agtmux-path <copy of dist/agtmux>` (serial: one after the other, as a shell loop; parallel: all at once); relays_up_ms / panes_listed_ms from the first add; relay_up_in_reply: adds whose --json reply (probe) said the relay was up",
      "ssh.idle: daemon CPU = (utime+stime) delta / wall, % of one core; relays = `agtmux relay` processes below the sshds, sshd_sessions = sshd processes below the listeners (per-connection privsep + session), their CPU summed (% of one core), tmux_servers_cpu_pct the VMs' tmux servers; machine_busy_pct = /proc/stat busy share of ALL cores over the window; tcp_to_sshd from /proc/net/tcp (ESTABLISHED to a VM port; daemon = sockets the daemon pid holds)",
      "ssh_burst.append: lines in the spool format `agtmux emit` appends on a relayed target (src/client/spool.ts appendToSpool, the same function), written by the bench into the VMs' spools in 10 rounds over 1 s (1,000 emit processes cannot start within 1 s on 2 cores); drain_ms from the first append until every row is in the events table",
      "ssh_burst.emit: real `agtmux emit --event=...` processes with the VM's env (relayed home -> spool), 8 in parallel, daemon running; drain_after_last_emit_ms from the last emit's exit until every row is in the events table",
    ],
    many_targets: many,
    one_target: one?.scale ?? null,
    burst: one?.burst ?? null,
    ssh_targets: viaSsh?.scale ?? null,
    ssh_burst: viaSsh?.burst ?? null,
    total_s: r2((performance.now() - T0) / 1000),
  };
  mkdirSync(OUT, { recursive: true });
  writeFileSync(join(OUT, "scale.json"), `${JSON.stringify(result, null, 2)}\n`);
  const row = (name: string, s: ScaleNumbers | null): void => {
    if (s === null) return;
    console.log(`${name}: ${s.panes} panes (${s.agent_panes} agents), converge ${s.converge_ms.toFixed(0)} ms`);
    console.log(`  GET /v1/panes p50/p95 ${s.api_agents_ms.p50}/${s.api_agents_ms.p95} ms, ?all=1 ${s.api_all_ms.p50}/${s.api_all_ms.p95} ms`);
    console.log(`  agtmux list panes --json p50/p95 ${s.cli_agents_ms.p50}/${s.cli_agents_ms.p95} ms, --all ${s.cli_all_ms.p50}/${s.cli_all_ms.p95} ms`);
    console.log(`  last_scan_ms per target p50/p95 ${s.last_scan_ms_per_target.p50}/${s.last_scan_ms_per_target.p95} (n ${s.last_scan_ms_per_target.n}); RSS ${s.rss_mib} MiB (peak ${s.hwm_mib})`);
  };
  console.log("");
  row(`a. ${TARGETS} targets x ${PER_TARGET} panes`, many);
  row(`b. 1 target x ${PANES} panes`, one?.scale ?? null);
  const b = one?.burst;
  if (b) {
    console.log(`c. POST burst: ${b.post.events} events in ${b.post.send_window_ms.toFixed(0)} ms, all acked after ${b.post.all_acked_ms.toFixed(0)} ms ${JSON.stringify(b.post.statuses)}; rows ${b.post.rows_in_db}, lost ${b.post.lost}, state mismatches ${b.post.final_state_mismatches}`);
    console.log(`c. emit burst: ${b.emit.events} spool appends (${b.emit.emit_exit_nonzero} failed) in ${b.emit.emit_wall_ms.toFixed(0)} ms; drained ${b.emit.rows_in_db} rows ${b.emit.drain_ms.toFixed(0)} ms after daemon spawn; lost ${b.emit.lost}, state mismatches ${b.emit.final_state_mismatches}`);
  }
  const sv = viaSsh?.scale ?? null;
  if (sv !== null) {
    row(`ssh. ${SSH_TARGETS} ssh targets x ${SSH_PER_TARGET} panes (${sv.sshd_processes} sshd, a port per VM)`, sv);
    console.log(`  target add (${sv.add.mode}) p50/p95 ${sv.add.cli_ms.p50}/${sv.add.cli_ms.p95} ms (relay up in ${sv.add.relay_up_in_reply} replies), all added ${sv.add.all_added_ms.toFixed(0)} ms; relays up ${sv.relays_up}/${SSH_TARGETS} at ${sv.add.relays_up_ms.toFixed(0)} ms; all panes listed at ${sv.add.panes_listed_ms.toFixed(0)} ms`);
    console.log(`  TCP connections to sshd: daemon ${sv.tcp_to_sshd.daemon} (per VM ${sv.tcp_to_sshd.daemon_per_vm_min}-${sv.tcp_to_sshd.daemon_per_vm_max}), all processes ${sv.tcp_to_sshd.all_processes}; ssh connects ${sv.ssh.connects}, reconnects ${sv.ssh.reconnects}, channels open ${sv.ssh.channels_open}`);
    const i = sv.idle;
    console.log(`  idle ${i.seconds} s: daemon CPU ${i.daemon_cpu_pct} %, RSS p50 ${i.daemon_rss_mib.p50} MiB (peak ${i.daemon_hwm_mib}); scans/min per target p50 ${i.scans_per_min_per_target.p50}`);
    console.log(`  VM side: ${i.relays} relays ${i.relays_cpu_pct} % CPU, ${i.relays_rss_mib_sum} MiB RSS in all; ${i.sshd_sessions} sshd processes ${i.sshd_sessions_cpu_pct} % CPU; ${SSH_TARGETS} tmux servers ${i.tmux_servers_cpu_pct} % CPU; machine ${i.machine_busy_pct} % busy (of ${machine.cpus} cores, all processes)`);
  }
  const sb = viaSsh?.burst ?? null;
  if (sb !== null) {
    console.log(`ssh burst (append): ${sb.append.events} spool lines on ${SSH_TARGETS} VMs in ${sb.append.send_window_ms.toFixed(0)} ms; all ${sb.append.rows_in_db} rows in the DB at ${sb.append.drain_ms.toFixed(0)} ms, states at ${sb.append.visible_ms.toFixed(0)} ms; lost ${sb.append.lost}, quarantined ${sb.append.quarantined}, state mismatches ${sb.append.final_state_mismatches}`);
    console.log(`ssh burst (emit): ${sb.emit.events} \`agtmux emit\` on the VMs (${sb.emit.emit_exit_nonzero} failed) in ${sb.emit.emit_wall_ms.toFixed(0)} ms (p50 ${sb.emit.emit_per_process_ms.p50} ms each, ${sb.emit.parallel} at a time); all ${sb.emit.rows_in_db} rows ${sb.emit.drain_after_last_emit_ms.toFixed(0)} ms after the last; lost ${sb.emit.lost}, quarantined ${sb.emit.quarantined}, state mismatches ${sb.emit.final_state_mismatches}`);
  }
  console.log(`\nwrote bench/out/scale.json; total ${result.total_s} s`);
  const ok =
    (b === undefined || b === null || (b.post.lost === 0 && b.emit.lost === 0 && b.post.final_state_mismatches === 0 && b.emit.final_state_mismatches === 0)) &&
    (sv === null || sv.relays_up === SSH_TARGETS) &&
    (sb === null || (sb.append.lost === 0 && sb.emit.lost === 0 && sb.append.final_state_mismatches === 0 && sb.emit.final_state_mismatches === 0));
  return ok ? 0 : 1;
}

process.exit(await main());
