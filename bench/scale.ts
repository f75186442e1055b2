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
 *      (read-only) and the final states compared with the last event per pane.
 * Writes bench/out/scale.json.
 *
 * Flags: --no-build, --targets=20, --panes-per-target=50, --panes=1000,
 *        --samples=30, --cli-samples=10, --burst=1000, --emit=1000, --skip=a,b,c
 */
import { Database } from "bun:sqlite";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ListResponse, PaneItem, TargetItem } from "../src/wire/list.ts";
import { api, type BenchBox, BIN, benchBox, boxDbPath, machineInfo, memoryOf, ROOT, run, SocketTmux, type Stats, startBoxDaemon, stats, stopBoxDaemon, until } from "./lib.ts";

const argv = process.argv.slice(2);
const opt = (name: string, dflt: string): string => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
const TARGETS = Number(opt("targets", "20"));
const PER_TARGET = Number(opt("panes-per-target", "50"));
const PANES = Number(opt("panes", "1000"));
const SAMPLES = Number(opt("samples", "30"));
const CLI_SAMPLES = Number(opt("cli-samples", "10"));
const BURST = Number(opt("burst", "1000"));
const EMITS = Number(opt("emit", "1000"));
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

async function main(): Promise<number> {
  if (!argv.includes("--no-build")) {
    const b = await run([process.execPath, join(ROOT, "scripts", "build.ts"), "--no-smoke"], process.env, 180_000);
    if (b.code !== 0) throw new Error(`build failed:\n${b.stdout}${b.stderr}`);
    log("built dist/agtmux");
  }
  const machine = await machineInfo(process.env);
  const many = SKIP.has("a") ? null : await manyTargets();
  const one = SKIP.has("b") ? null : await oneTarget();
  const result = {
    schema: 1,
    benchmark: "scale",
    machine,
    config: { targets: TARGETS, panes_per_target: PER_TARGET, panes: PANES, samples: SAMPLES, cli_samples: CLI_SAMPLES, burst: BURST, emits: EMITS },
    notes: [
      "a: one tmux server per local target (own -S socket), every tenth pane a fake claude; b: the host target's default socket",
      "api = request until the whole body is read; cli = a whole `agtmux list panes --json` process; last_scan_ms sampled 5x over 5 s from GET /v1/targets (a: the tN targets only)",
      "c.post: batches of 100 sent every 100 ms without waiting for answers; rows counted in the events table read-only; final states compared with the last event sent per pane",
      "c.emit: daemon stopped, `agtmux emit --event=...` x N (8 in parallel) -> spool; drain_ms from spawning the daemon until every row is in the events table",
    ],
    many_targets: many,
    one_target: one?.scale ?? null,
    burst: one?.burst ?? null,
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
  console.log(`\nwrote bench/out/scale.json; total ${result.total_s} s`);
  const ok = b === undefined || b === null || (b.post.lost === 0 && b.emit.lost === 0 && b.post.final_state_mismatches === 0 && b.emit.final_state_mismatches === 0);
  return ok ? 0 : 1;
}

process.exit(await main());
