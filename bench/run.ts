/**
 * `npm run bench`: local visibility benchmark against the compiled binary.
 *
 * Starts an isolated daemon (dist/agtmux, rebuilt first) and an isolated tmux
 * server on the default socket of a private TMUX_TMPDIR, then for 10, 100 and
 * 1,000 panes (windows running `sleep`, a tenth of them fake agents: copies of
 * /bin/sleep named `claude`; 50 windows per session, so one daemon control
 * client per 50 panes) measures:
 *   a. new pane -> listed: from just before `tmux split-window` (a fake agent)
 *      until GET /v1/panes (polled over the socket every 5 ms) lists the pane,
 *      and until it lists it as an agent;
 *   b. `list panes` latency: the API round trip (request -> whole body) and a
 *      full CLI process (`agtmux list panes --json`), agent panes and --all;
 *   c. the scan cost (the daemon's TopologyCollector, in this process on an
 *      in-memory store: one `tmux list-panes -a` + one /proc read + identify +
 *      apply), a bare `tmux list-panes -a` process, and the daemon's RSS and
 *      idle CPU.
 * Prints a summary table and writes bench/out/local-visibility.json (+ .svg).
 *
 * Flags: --no-build (use dist/agtmux as is), --no-plot, --sizes=10,100,1000,
 *        --samples=50 (latency), --vis-samples=30, --idle-s=4.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { TopologyCollector } from "../src/collector/topology.ts";
import { AgtmuxClient } from "../src/client/client.ts";
import { silentLogger } from "../src/daemon/log.ts";
import { identifyAll } from "../src/procs/agents.ts";
import { snapshotProcesses } from "../src/procs/table.ts";
import { type Executor, LocalExecutor } from "../src/targets/executor.ts";
import { Tmux } from "../src/tmux/tmux.ts";
import type { ListResponse, PaneItem } from "../src/wire/list.ts";
import { harness } from "../tests/helpers/harness.ts";
import { BenchTmux, BIN, benchBox, cpuSecondsOf, machineInfo, memoryOf, ROOT, run, type Stats, stats, until, stopBoxDaemon } from "./lib.ts";
import { renderSvg } from "./plot.ts";

const argv = process.argv.slice(2);
const flag = (name: string): boolean => argv.includes(`--${name}`);
const opt = (name: string, dflt: string): string => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
const SIZES = opt("sizes", "10,100,1000").split(",").map(Number);
const SAMPLES = Number(opt("samples", "50"));
const VIS_SAMPLES = Number(opt("vis-samples", "30"));
const IDLE_S = Number(opt("idle-s", "4"));
const POLL_MS = 5;
const PANES_PER_SESSION = 50;
const OUT = join(import.meta.dir, "out");

const T_START = performance.now();
const log = (s: string): void => console.error(`[bench ${((performance.now() - T_START) / 1000).toFixed(1)}s] ${s}`);

interface VisibilityResult {
  panes: number;
  listed_ms: Stats;
  agent_ms: Stats;
  split_cmd_ms: Stats;
  samples_listed_ms: number[];
  samples_agent_ms: number[];
}
interface LatencyResult {
  panes: number;
  agent_panes: number;
  api_agents_ms: Stats;
  api_all_ms: Stats;
  cli_agents_ms: Stats;
  cli_all_ms: Stats;
  body_bytes_agents: number;
  body_bytes_all: number;
}
interface ScanResult {
  panes: number;
  tmux_list_panes_process_ms: Stats;
  tmux_list_panes_full_format_process_ms: Stats;
  list_panes_output_bytes: number;
  snapshot_ms: Stats;
  proc_table_ms: Stats;
  identify_ms: Stats;
  collector_scan_ms: Stats;
  collector_first_scan_ms: number;
}
interface DaemonResult {
  panes: number;
  converge_ms: number;
  rss_mib: number;
  hwm_mib: number;
  idle_cpu_pct: number;
  idle_window_s: number;
  control_clients: number;
}

async function main(): Promise<number> {
  if (!flag("no-build")) {
    const b = await run([process.execPath, join(ROOT, "scripts", "build.ts"), "--no-smoke"], process.env, 120_000);
    if (b.code !== 0) throw new Error(`build failed:\n${b.stdout}${b.stderr}`);
    log("built dist/agtmux");
  }
  const box = benchBox();
  const tmux = new BenchTmux(box);
  let daemon: Bun.Subprocess<"ignore", "ignore", "ignore"> | undefined;
  const onSignal = (): void => {
    daemon?.kill("SIGKILL");
    void tmux.kill().finally(() => {
      box.cleanup();
      process.exit(130);
    });
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    const machine = await machineInfo(box.env);
    await tmux.newSession("probe", tmux.agent("claude"));
    daemon = Bun.spawn([BIN, "daemon"], { env: box.env as Record<string, string>, stdin: "ignore", stdout: "ignore", stderr: "ignore" });
    const client = new AgtmuxClient({ socket: box.socket });
    const health = await until(() => client.health({ timeoutMs: 500 }), 15_000, "daemon answers /v1/health");
    const daemonPid = health.pid;
    log(`daemon pid ${daemonPid} (${health.version} ${health.commit}), tmux server up`);

    const get = async (path: string): Promise<{ body: string; ms: number }> => {
      const t0 = performance.now();
      const res = await fetch(`http://agtmux${path}`, { unix: box.socket });
      const body = await res.text();
      const ms = performance.now() - t0;
      if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${body.slice(0, 200)}`);
      return { body, ms };
    };
    const panes = async (query: string): Promise<ListResponse<PaneItem>> => JSON.parse((await get(`/v1/panes${query}`)).body) as ListResponse<PaneItem>;

    // the in-process collector for scan costs: the daemon's own code on the same server
    const exec = new LocalExecutor("host", box.env);
    const tmuxApi = new Tmux(exec, {});
    // the collector's exact list-panes argv (its format has ~30 fields), to time tmux alone
    const recorded: string[][] = [];
    const recording: Executor = {
      targetId: exec.targetId,
      kind: exec.kind,
      exec: (a, o) => {
        recorded.push([...a]);
        return exec.exec(a, o);
      },
      stream: (a, o) => exec.stream(a, o),
      close: () => exec.close(),
    };
    await new Tmux(recording, {}).snapshot();
    const listPanesArgv = recorded.find((a) => a.includes("list-panes"));
    if (listPanesArgv === undefined) throw new Error("the collector's snapshot ran no list-panes");

    const visibility: VisibilityResult[] = [];
    const latency: LatencyResult[] = [];
    const scans: ScanResult[] = [];
    const daemonStats: DaemonResult[] = [];

    let total = 1; // the probe pane
    let agents = 1;
    let sessionSeq = 0;
    let inSession = PANES_PER_SESSION; // force a new session first
    for (const size of SIZES) {
      // grow to `size` panes: windows running sleep, every tenth a fake agent, in sessions of 50
      const cmds: string[][] = [];
      let wantAgents = agents;
      for (let i = total; i < size; i++) {
        const cmd = i % 10 === 0 ? tmux.agent("claude") : ["sleep", "100000"];
        if (i % 10 === 0) wantAgents++;
        if (inSession >= PANES_PER_SESSION) {
          cmds.push(["new-session", "-d", "-s", `fill-${++sessionSeq}`, "-x", "400", "-y", "200", ...cmd]);
          inSession = 0;
        } else cmds.push(["new-window", "-d", "-t", `fill-${sessionSeq}`, ...cmd]);
        inSession++;
      }
      const tg = performance.now();
      await tmux.batch(cmds);
      const tBatch = performance.now();
      total = Math.max(total, size);
      agents = wantAgents;
      await until(
        async () => {
          const r = await panes("?all=1");
          return r.summary.panes === total && r.summary.agent_panes === agents;
        },
        60_000,
        `daemon lists ${total} panes (${agents} agents)`,
        25,
      );
      const convergeMs = performance.now() - tBatch;
      log(`${total} panes (${agents} agents): tmux setup ${(tBatch - tg).toFixed(0)} ms, daemon converged ${convergeMs.toFixed(0)} ms later`);

      // a. new pane -> listed
      const listed: number[] = [];
      const asAgent: number[] = [];
      const splitCmd: number[] = [];
      for (let s = 0; s < VIS_SAMPLES; s++) {
        const before = new Set((await panes("?all=1&session=probe")).items.map((p) => p.identity.pane_id));
        const t0 = performance.now();
        let splitDone = 0;
        const split = tmux.run("split-window", "-d", "-P", "-F", "#{pane_id}", "-t", "probe:0", ...tmux.agent("claude")).then((out) => {
          splitDone = performance.now() - t0;
          return out.trim();
        });
        let tListed: number | undefined;
        let tAgent: number | undefined;
        const deadline = t0 + 10_000;
        while (tAgent === undefined) {
          const r = await panes("?all=1&session=probe");
          const at = performance.now() - t0;
          const p = r.items.find((x) => !before.has(x.identity.pane_id));
          if (p !== undefined && tListed === undefined) tListed = at;
          if (p?.agent?.type === "claude") tAgent = at;
          else if (performance.now() > deadline) throw new Error("new pane not listed as an agent within 10 s");
          else await Bun.sleep(POLL_MS);
        }
        const id = await split;
        listed.push(tListed as number);
        asAgent.push(tAgent);
        splitCmd.push(splitDone);
        await tmux.run("kill-pane", "-t", id);
        await until(async () => !(await panes("?all=1&session=probe")).items.some((p) => p.identity.pane_id === id), 10_000, "split pane gone", 10);
      }
      visibility.push({ panes: total, listed_ms: stats(listed), agent_ms: stats(asAgent), split_cmd_ms: stats(splitCmd), samples_listed_ms: listed.map(round2), samples_agent_ms: asAgent.map(round2) });
      log(`a. new pane listed p50 ${stats(listed).p50} ms, as agent p50 ${stats(asAgent).p50} ms`);

      // b. list latency
      const apiAgents: number[] = [];
      const apiAll: number[] = [];
      const cliAgents: number[] = [];
      const cliAll: number[] = [];
      for (let w = 0; w < 3; w++) {
        await get("/v1/panes");
        await get("/v1/panes?all=1");
      }
      for (let s = 0; s < SAMPLES; s++) {
        apiAgents.push((await get("/v1/panes")).ms);
        apiAll.push((await get("/v1/panes?all=1")).ms);
      }
      const cliRun = async (extra: string[]): Promise<number> => {
        const t0 = performance.now();
        const r = await run([BIN, "list", "panes", "--json", ...extra], box.env);
        const ms = performance.now() - t0;
        if (r.code !== 0 || !r.stdout.startsWith("{")) throw new Error(`agtmux list panes --json ${extra.join(" ")} failed: ${r.stderr}`);
        return ms;
      };
      await cliRun([]);
      for (let s = 0; s < SAMPLES; s++) {
        cliAgents.push(await cliRun([]));
        cliAll.push(await cliRun(["--all"]));
      }
      latency.push({
        panes: total,
        agent_panes: agents,
        api_agents_ms: stats(apiAgents),
        api_all_ms: stats(apiAll),
        cli_agents_ms: stats(cliAgents),
        cli_all_ms: stats(cliAll),
        body_bytes_agents: (await get("/v1/panes")).body.length,
        body_bytes_all: (await get("/v1/panes?all=1")).body.length,
      });
      log(`b. list latency p50: API ${stats(apiAgents).p50}/${stats(apiAll).p50} ms, CLI ${stats(cliAgents).p50}/${stats(cliAll).p50} ms (agents/--all)`);

      // c. scan cost: the collector on an in-memory store, steady state (nothing changes between scans)
      const h = harness({ now: Date.now() });
      try {
        const collector = new TopologyCollector({ targetId: "host", tmux: tmuxApi, readProcs: () => snapshotProcesses(exec), ingestor: h.ingestor, store: h.store, log: silentLogger, clock: () => Date.now() });
        const tf = performance.now();
        await collector.scanNow();
        const first = performance.now() - tf;
        if (h.store.listPaneViews("host").length !== total) throw new Error(`in-process collector saw ${h.store.listPaneViews("host").length} panes, expected ${total}`);
        const scanMs: number[] = [];
        const snapMs: number[] = [];
        const procMs: number[] = [];
        const identMs: number[] = [];
        const rawMs: number[] = [];
        const fullMs: number[] = [];
        let outBytes = 0;
        for (let s = 0; s < 20; s++) {
          let t = performance.now();
          await collector.scanNow();
          scanMs.push(performance.now() - t);
          t = performance.now();
          const snap = await tmuxApi.snapshot();
          snapMs.push(performance.now() - t);
          t = performance.now();
          const table = await snapshotProcesses(exec);
          procMs.push(performance.now() - t);
          t = performance.now();
          identifyAll(table, snap.panes.flatMap((p) => (p.pane_pid === null ? [] : [p.pane_pid])));
          identMs.push(performance.now() - t);
          t = performance.now();
          await tmux.run("list-panes", "-a", "-F", "#{pane_id}");
          rawMs.push(performance.now() - t);
          t = performance.now();
          const full = await run(listPanesArgv, { ...box.env, TMUX: undefined, TMUX_PANE: undefined });
          fullMs.push(performance.now() - t);
          if (full.code !== 0) throw new Error(`collector list-panes failed: ${full.stderr}`);
          outBytes = Buffer.byteLength(full.stdout);
        }
        scans.push({
          panes: total,
          tmux_list_panes_process_ms: stats(rawMs),
          tmux_list_panes_full_format_process_ms: stats(fullMs),
          list_panes_output_bytes: outBytes,
          snapshot_ms: stats(snapMs),
          proc_table_ms: stats(procMs),
          identify_ms: stats(identMs),
          collector_scan_ms: stats(scanMs),
          collector_first_scan_ms: round2(first),
        });
        log(`c. scan p50 ${stats(scanMs).p50} ms (list-panes+parse ${stats(snapMs).p50} of which tmux ${stats(fullMs).p50}, /proc ${stats(procMs).p50}, identify ${stats(identMs).p50})`);
      } finally {
        h.close();
      }

      // daemon footprint: RSS, and CPU while nobody asks anything
      const cpu0 = cpuSecondsOf(daemonPid);
      await Bun.sleep(IDLE_S * 1000);
      const cpu1 = cpuSecondsOf(daemonPid);
      const clients = (await tmux.run("list-clients", "-F", "#{client_control_mode}")).split("\n").filter((l) => l === "1").length;
      daemonStats.push({ panes: total, converge_ms: round2(convergeMs), ...memoryOf(daemonPid), idle_cpu_pct: Math.round(((cpu1 - cpu0) / IDLE_S) * 1000) / 10, idle_window_s: IDLE_S, control_clients: clients });
      log(`daemon RSS ${memoryOf(daemonPid).rss_mib} MiB, idle CPU ${(((cpu1 - cpu0) / IDLE_S) * 100).toFixed(1)} %, ${clients} control clients`);
    }

    const result = {
      schema: 1,
      benchmark: "local-visibility",
      machine,
      daemon: { version: health.version, commit: health.commit, binary: BIN },
      config: { sizes: SIZES, latency_samples: SAMPLES, visibility_samples: VIS_SAMPLES, poll_interval_ms: POLL_MS, panes_per_session: PANES_PER_SESSION, agent_share: 0.1, scan_samples: 20 },
      notes: [
        "panes = total panes in the tmux server (windows running sleep; every tenth a fake claude, plus the probe pane)",
        "new_pane_visibility: from just before `tmux split-window` until GET /v1/panes?all=1&session=probe lists the pane (listed) / lists it with agent claude (agent); polled every 5 ms",
        "list_latency: api = request until the whole body is read over the Unix socket; cli = a whole `agtmux list panes --json` process; agents = default query, all = --all",
        "scan: the daemon's TopologyCollector code run in the benchmark process on an in-memory store against the same server (steady state: nothing changes); snapshot = list-panes -a + parse; tmux_list_panes_*_process = a bare tmux process with the collector's format / with #{pane_id} only",
      ],
      new_pane_visibility: visibility,
      list_latency: latency,
      scan: scans,
      daemon_footprint: daemonStats,
      total_s: 0,
      plot: "",
    };

    mkdirSync(OUT, { recursive: true });
    const plot = flag("no-plot") ? { skipped: "--no-plot" } : await renderSvg(chartSpec(visibility, latency), { install: true });
    if ("svg" in plot) {
      writeFileSync(join(OUT, "local-visibility.svg"), plot.svg);
      result.plot = "bench/out/local-visibility.svg";
    } else result.plot = `skipped: ${plot.skipped}`;
    result.total_s = Math.round((performance.now() - T_START) / 100) / 10;
    writeFileSync(join(OUT, "local-visibility.json"), `${JSON.stringify(result, null, 2)}\n`);
    printSummary(machine, visibility, latency, scans, daemonStats);
    console.log(`\nwrote bench/out/local-visibility.json; plot: ${result.plot}; total ${result.total_s} s`);
    return 0;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await stopBoxDaemon(daemon);
    await tmux.kill();
    box.cleanup();
  }
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

function printSummary(machine: Awaited<ReturnType<typeof machineInfo>>, vis: VisibilityResult[], lat: LatencyResult[], scans: ScanResult[], d: DaemonResult[]): void {
  const rows: string[][] = [["metric", "panes", "n", "p50 ms", "p95 ms", "max ms"]];
  const add = (metric: string, panes: number, s: Stats): void => void rows.push([metric, String(panes), String(s.n), s.p50.toFixed(1), s.p95.toFixed(1), s.max.toFixed(1)]);
  for (const v of vis) {
    add("a. new pane -> listed (API poll 5 ms)", v.panes, v.listed_ms);
    add("a. new pane -> listed as agent", v.panes, v.agent_ms);
  }
  for (const l of lat) {
    add("b. API GET /v1/panes (agents)", l.panes, l.api_agents_ms);
    add("b. API GET /v1/panes?all=1", l.panes, l.api_all_ms);
    add("b. CLI agtmux list panes --json", l.panes, l.cli_agents_ms);
    add("b. CLI agtmux list panes --all --json", l.panes, l.cli_all_ms);
  }
  for (const s of scans) {
    add("c. collector scan (steady)", s.panes, s.collector_scan_ms);
    add("c.   list-panes -a + parse", s.panes, s.snapshot_ms);
    add("c.   /proc table read", s.panes, s.proc_table_ms);
    add("c.   tmux list-panes -a, collector format", s.panes, s.tmux_list_panes_full_format_process_ms);
    add("c.   tmux list-panes -a -F #{pane_id}", s.panes, s.tmux_list_panes_process_ms);
  }
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  console.log(`\nagtmux local visibility — ${machine.cpus} cpus (${machine.cpu_model}), ${machine.mem_gib} GiB, ${machine.os}, bun ${machine.bun}, ${machine.tmux}, ${machine.git_commit.slice(0, 12)}${machine.git_dirty ? "+dirty" : ""}\n`);
  for (const r of rows) console.log(r.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join("  "));
  console.log("\ndaemon: panes  converge ms  RSS MiB  peak MiB  idle CPU %  control clients");
  for (const x of d) console.log(`        ${String(x.panes).padStart(5)}  ${x.converge_ms.toFixed(0).padStart(11)}  ${x.rss_mib.toFixed(1).padStart(7)}  ${x.hwm_mib.toFixed(1).padStart(8)}  ${x.idle_cpu_pct.toFixed(1).padStart(10)}  ${String(x.control_clients).padStart(15)}`);
}

function chartSpec(vis: VisibilityResult[], lat: LatencyResult[]): Record<string, unknown> {
  const latRows = lat.flatMap((l) =>
    (
      [
        ["API /v1/panes", l.api_agents_ms],
        ["API /v1/panes?all=1", l.api_all_ms],
        ["CLI list panes --json", l.cli_agents_ms],
        ["CLI list panes --all --json", l.cli_all_ms],
      ] as Array<[string, Stats]>
    ).flatMap(([series, s]) => [
      { panes: l.panes, series, stat: "p50", ms: s.p50 },
      { panes: l.panes, series, stat: "p95", ms: s.p95 },
    ]),
  );
  const visRows = vis.flatMap((v) => [
    ...v.samples_listed_ms.map((ms) => ({ panes: v.panes, what: "listed", ms })),
    ...v.samples_agent_ms.map((ms) => ({ panes: v.panes, what: "listed as agent", ms })),
  ]);
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    config: { font: "sans-serif", legend: { labelLimit: 260 } },
    resolve: { scale: { color: "independent" }, legend: { color: "independent" } },
    hconcat: [
      {
        title: "list panes latency (p50 solid, p95 dashed)",
        width: 320,
        height: 240,
        data: { values: latRows },
        mark: { type: "line", point: true },
        encoding: {
          x: { field: "panes", type: "ordinal", title: "panes in the tmux server" },
          y: { field: "ms", type: "quantitative", scale: { type: "log" }, title: "ms (log)" },
          color: { field: "series", type: "nominal", title: null, legend: { orient: "bottom", columns: 2 } },
          strokeDash: { field: "stat", type: "nominal", title: null },
        },
      },
      {
        title: "new pane -> listed (split-window to API)",
        width: 320,
        height: 240,
        data: { values: visRows },
        mark: { type: "boxplot", extent: "min-max" },
        encoding: {
          x: { field: "panes", type: "ordinal", title: "panes in the tmux server" },
          xOffset: { field: "what", type: "nominal" },
          y: { field: "ms", type: "quantitative", title: "ms" },
          color: { field: "what", type: "nominal", title: null, legend: { orient: "bottom" } },
        },
      },
    ],
  };
}

process.exit(await main());
