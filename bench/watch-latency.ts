/**
 * Watch latency (issue 6): an event is ingested -> the delta line carrying the
 * pane's new state arrives on a watch client (`GET /v1/watch?scope=panes`,
 * NDJSON over the daemon's Unix socket, read with fetch and timestamped as each
 * chunk arrives). A real tmux server with 10 fake-claude panes watched by the
 * compiled daemon; transitions are driven one at a time by POSTing Claude hook
 * envelopes (bound by target + pane + tmux server pid, as `agtmux emit --hook`
 * sends them) straight to `POST /v1/events`, and timed per client from the POST
 * being sent and from its response (the ack) having been read. Runs with 1 and
 * with 10 clients connected; splits the time with the daemon's own timestamps
 * (ms resolution: the POST response's generated_at = ingest committed, the
 * line's emitted_at = the hub's flush built it). Then 1,000 concurrent
 * watchers: time to connect and get each snapshot, daemon RSS before/after,
 * and one event reaching all of them. Goal: p95 < 20 ms with 10 clients.
 * Writes bench/out/watch-latency.json.
 *
 * Bun's fetch runs at most 256 requests at once unless BUN_CONFIG_MAX_HTTP_REQUESTS
 * says otherwise (read at start-up), and a watch stream is a request that never
 * ends: without it, watcher 257 would wait forever. So the script re-runs itself
 * with the variable set when it is missing or too low.
 *
 * Flags: --transitions=500 --panes=10 --clients=10 --watchers=1000 --no-build
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AgtmuxClient } from "../src/client/client.ts";
import type { PaneItem } from "../src/wire/list.ts";
import type { WatchLine } from "../src/wire/watch.ts";
import { BenchTmux, BIN, benchBox, cpuSecondsOf, machineInfo, memoryOf, ROOT, run, type Stats, stats, until, CLAUDE_HOOK_CYCLE } from "./lib.ts";

const argv = process.argv.slice(2);
const opt = (name: string, dflt: string): string => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
const TRANSITIONS = Number(opt("transitions", "500"));
const PANES = Number(opt("panes", "10"));
const CLIENTS = Number(opt("clients", "10"));
const WATCHERS = Number(opt("watchers", "1000"));
const WARMUP = 20;
const OUT = join(import.meta.dir, "out");
const GOAL_P95_MS = 20;


/** wall-clock ms of a performance.now() reading (to compare with the daemon's RFC 3339 stamps; timeOrigin is sub-ms, Date.now() is not) */
const wall = (t: number): number => performance.timeOrigin + t;
/** a daemon stamp (RFC 3339, floored to the ms) as the middle of its ms */
const stamp = (iso: string): number => Date.parse(iso) + 0.5;

interface Expectation {
  pane: string;
  want: string;
  after: number;
  resolve(hit: { t: number; emittedAt: number }): void;
}

/** One NDJSON watch stream, read as chunks arrive; lines are handled on arrival. */
class Watcher {
  /** time this process spent decoding and parsing lines (all watchers): it delays the arrival stamps of the ones read after */
  static busyMs = 0;
  readonly opened = performance.now();
  snapshotAt: number | null = null;
  /** connects refused with EAGAIN and retried */
  retries = 0;
  lines = 0;
  error: unknown = null;
  private readonly ac = new AbortController();
  private closed = false;
  /** last state_version seen per pane */
  private readonly version = new Map<string, number>();
  private waiting: Expectation[] = [];
  private snapshotWaiter: (() => void) | null = null;
  private anyDelta: ((t: number) => void) | null = null;

  constructor(
    private readonly socket: string,
    private readonly query: string,
  ) {}

  /** connects and resolves once the snapshot line has arrived */
  async open(): Promise<this> {
    let res: Response;
    for (;;) {
      try {
        res = await fetch(`http://agtmux/v1/watch?${this.query}`, { unix: this.socket, signal: this.ac.signal } as RequestInit & { unix: string });
        break;
      } catch (e) {
        // the listen backlog (Bun.serve: 512) is full while the daemon accepts a burst: connect(2) says EAGAIN
        if ((e as { code?: string }).code !== "EAGAIN" || this.retries >= 200) throw e;
        this.retries++;
        await Bun.sleep(5 + Math.random() * 10);
      }
    }
    if (res.status !== 200 || res.body === null) throw new Error(`watch: ${res.status} ${await res.text()}`);
    const got = new Promise<void>((resolve) => (this.snapshotWaiter = resolve));
    void this.pump(res.body);
    await got;
    return this;
  }

  private async pump(body: ReadableStream<Uint8Array>): Promise<void> {
    const reader = body.getReader();
    const dec = new TextDecoder();
    let buf = "";
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
        Watcher.busyMs += performance.now() - t;
      }
    } catch (e) {
      if (!this.closed) this.error = e;
    }
  }

  private handle(line: WatchLine<PaneItem>, t: number): void {
    this.lines++;
    if (line.type === "snapshot") {
      for (const i of line.items) this.version.set(i.identity.pane_id, i.state_version ?? 0);
      if (this.snapshotAt === null) this.snapshotAt = t;
      this.snapshotWaiter?.();
      this.snapshotWaiter = null;
      return;
    }
    if (line.type !== "delta") return;
    const d = this.anyDelta;
    this.anyDelta = null;
    d?.(t);
    for (const c of line.changes) {
      const item = c.item;
      if (c.op !== "upsert" || item === undefined) continue;
      const pane = item.identity.pane_id;
      const v = item.state_version ?? 0;
      this.version.set(pane, Math.max(v, this.version.get(pane) ?? 0));
      const hit = this.waiting.find((w) => w.pane === pane && w.want === item.state && v > w.after);
      if (hit !== undefined) {
        this.waiting = this.waiting.filter((w) => w !== hit);
        hit.resolve({ t, emittedAt: stamp(line.emitted_at) });
      }
    }
  }

  /** resolves when a delta upserts `pane` in state `want` with a newer state_version than now */
  expect(pane: string, want: string): Promise<{ t: number; emittedAt: number }> {
    return new Promise((resolve) => this.waiting.push({ pane, want, after: this.version.get(pane) ?? 0, resolve }));
  }

  /** resolves on the next delta line of any content */
  nextDelta(): Promise<number> {
    return new Promise((resolve) => (this.anyDelta = resolve));
  }

  close(): void {
    this.closed = true;
    this.ac.abort();
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([p, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)))]).finally(() => clearTimeout(timer));
}

interface Run {
  clients: number;
  transitions: number;
  /** per client per transition */
  from_sent: number[];
  from_ack: number[];
  /** per transition: POST round trip (sent -> response read) */
  post_rtt: number[];
  /** per transition, last client: sent -> the line on every client */
  all_clients_from_sent: number[];
  /** the daemon's split (ms resolution), per client per transition */
  sent_to_ingested: number[];
  ingested_to_line_built: number[];
  line_built_to_arrival: number[];
  /** how often the line reached the client before the POST's ack did */
  line_before_ack: number;
}

async function main(): Promise<number> {
  const need = WATCHERS + 64;
  if (Number(process.env.BUN_CONFIG_MAX_HTTP_REQUESTS ?? 0) < need) {
    const child = Bun.spawn([process.execPath, ...process.argv.slice(1)], {
      env: { ...process.env, BUN_CONFIG_MAX_HTTP_REQUESTS: String(need) },
      stdio: ["inherit", "inherit", "inherit"],
    });
    return await child.exited;
  }
  if (!argv.includes("--no-build")) {
    const b = await run([process.execPath, join(ROOT, "scripts", "build.ts"), "--no-smoke"], process.env);
    if (b.code !== 0) throw new Error(`build failed: ${b.stderr}`);
  }
  const started = performance.now();
  const box = benchBox();
  const tmux = new BenchTmux(box);
  let daemon: Bun.Subprocess | undefined;
  const open: Watcher[] = [];
  try {
    await tmux.newSession("bench", tmux.agent("claude"));
    for (let i = 1; i < PANES; i++) await tmux.run("new-window", "-d", "-t", "bench", ...tmux.agent("claude"));
    const serverPid = Number((await tmux.run("display-message", "-p", "#{pid}")).trim());
    daemon = Bun.spawn([BIN, "daemon"], { env: box.env as Record<string, string>, stdout: "ignore", stderr: "ignore" });
    const daemonPid = daemon.pid;
    const client = new AgtmuxClient({ socket: box.socket });
    const panes = await until(
      async () => {
        const r = await client.panes().catch(() => null);
        return r !== null && r.items.length === PANES && r.items.every((p) => p.agent !== null) ? r.items : null;
      },
      15_000,
      "daemon lists every agent pane with its runtime",
    );
    const version = (await run([BIN, "--version"], box.env)).stdout.trim();

    let n = 0;
    const step = new Map<string, number>();
    const post = async (pane: PaneItem): Promise<{ want: string; send: () => Promise<{ tSent: number; tAck: number; ingestedAt: number }> }> => {
      const k = step.get(pane.identity.pane_id) ?? 0;
      step.set(pane.identity.pane_id, k + 1);
      const [hook, want, extra] = CLAUDE_HOOK_CYCLE[k % CLAUDE_HOOK_CYCLE.length] as [string, string, Record<string, unknown>];
      const id = `wbench-${process.pid}-${++n}`;
      const envelope = {
        event_id: id,
        source_event_id: id,
        dedupe_key: `dk-${id}`,
        source: "hook",
        event_type: `claude.${hook}`,
        agent_type: "claude",
        event_time: new Date().toISOString(),
        target_id: "host",
        pane_id: pane.identity.pane_id,
        tmux_server_pid: serverPid,
        raw_payload: { session_id: "bench", hook_event_name: hook, cwd: "/tmp", ...extra },
      };
      const body = JSON.stringify(envelope);
      return {
        want,
        send: async () => {
          const tSent = performance.now();
          const res = await fetch("http://agtmux/v1/events", { method: "POST", unix: box.socket, headers: { "content-type": "application/json" }, body } as RequestInit & { unix: string });
          const out = (await res.json()) as { generated_at: string; results: Array<{ status: string }> };
          const tAck = performance.now();
          if (res.status !== 200 || out.results[0]?.status !== "applied") throw new Error(`POST /v1/events: ${res.status} ${JSON.stringify(out)}`);
          return { tSent, tAck, ingestedAt: stamp(out.generated_at) };
        },
      };
    };

    const measure = async (clients: number, transitions: number, record: boolean): Promise<Run> => {
      const ws = await Promise.all(Array.from({ length: clients }, () => new Watcher(box.socket, "scope=panes").open()));
      open.push(...ws);
      const r: Run = {
        clients,
        transitions,
        from_sent: [],
        from_ack: [],
        post_rtt: [],
        all_clients_from_sent: [],
        sent_to_ingested: [],
        ingested_to_line_built: [],
        line_built_to_arrival: [],
        line_before_ack: 0,
      };
      for (let i = 0; i < transitions; i++) {
        const pane = panes[i % panes.length] as PaneItem;
        const p = await post(pane);
        const arrivals = ws.map((w) => w.expect(pane.identity.pane_id, p.want));
        const ack = await p.send();
        const hits = await withTimeout(Promise.all(arrivals), 5_000, `pane ${pane.identity.pane_id} -> ${p.want} on ${clients} clients`);
        if (!record) continue;
        r.post_rtt.push(ack.tAck - ack.tSent);
        r.all_clients_from_sent.push(Math.max(...hits.map((h) => h.t)) - ack.tSent);
        for (const h of hits) {
          r.from_sent.push(h.t - ack.tSent);
          r.from_ack.push(h.t - ack.tAck);
          if (h.t < ack.tAck) r.line_before_ack++;
          r.sent_to_ingested.push(ack.ingestedAt - wall(ack.tSent));
          r.ingested_to_line_built.push(h.emittedAt - ack.ingestedAt);
          r.line_built_to_arrival.push(wall(h.t) - h.emittedAt);
        }
      }
      for (const w of ws) {
        if (w.error !== null) throw new Error(`watch client failed: ${String(w.error)}`);
        w.close();
      }
      open.length = 0;
      return r;
    };

    await measure(1, WARMUP, false);
    const one = await measure(1, TRANSITIONS, true);
    const ten = await measure(CLIENTS, TRANSITIONS, true);

    // 1,000 concurrent watchers
    await Bun.sleep(300);
    const memBefore = memoryOf(daemonPid);
    const cpuBefore = cpuSecondsOf(daemonPid);
    const t0 = performance.now();
    const many = await withTimeout(
      Promise.all(Array.from({ length: WATCHERS }, () => new Watcher(box.socket, "scope=panes").open())),
      30_000,
      `${WATCHERS} watchers get their snapshot`,
    );
    const connectAll = performance.now() - t0;
    open.push(...many);
    const connectEach = many.map((w) => (w.snapshotAt as number) - t0);
    const retried = many.filter((w) => w.retries > 0).length;
    const retries = many.reduce((a, w) => a + w.retries, 0);
    const memAfter = memoryOf(daemonPid);
    const cpuConnect = cpuSecondsOf(daemonPid) - cpuBefore;
    const pane = panes[0] as PaneItem;
    const p = await post(pane);
    const arrivals = many.map((w) => w.expect(pane.identity.pane_id, p.want));
    const busy0 = Watcher.busyMs;
    const ack = await p.send();
    const hits = await withTimeout(Promise.all(arrivals), 10_000, `one event reaches ${WATCHERS} watchers`);
    const fanoutParseMs = Watcher.busyMs - busy0;
    const fanout = hits.map((h) => h.t - ack.tSent);
    const fanoutBuilt = hits.map((h) => h.emittedAt - wall(ack.tSent));
    const memAfterEvent = memoryOf(daemonPid);
    const failed = many.filter((w) => w.error !== null).length;
    for (const w of many) w.close();
    open.length = 0;
    await Bun.sleep(500);
    const memClosed = memoryOf(daemonPid);

    const machine = await machineInfo(box.env);
    const result = {
      name: "watch-latency",
      generated_at: new Date().toISOString(),
      machine,
      versions: { agtmux: version, bun: machine.bun, tmux: machine.tmux },
      panes: PANES,
      goal: { p95_ms: GOAL_P95_MS, clients: CLIENTS, metric: "event POSTed (sent) -> delta line on a watch client" },
      one_client: summarize(one),
      clients: summarize(ten),
      watchers: {
        count: WATCHERS,
        connect_all_ms: Math.round(connectAll * 100) / 100,
        connect_to_snapshot_ms: stats(connectEach),
        /** watchers whose connect was refused with EAGAIN (listen backlog full) at least once, and the retries */
        connect_eagain_watchers: retried,
        connect_eagain_retries: retries,
        daemon_cpu_s_connecting: Math.round(cpuConnect * 100) / 100,
        daemon_memory_before: memBefore,
        daemon_memory_connected: memAfter,
        daemon_memory_after_event: memAfterEvent,
        daemon_memory_closed: memClosed,
        one_event_served: hits.length,
        one_event_from_sent_ms: stats(fanout),
        /** the daemon's emitted_at of each watcher's line (1 ms res.): the hub builds them all in one flush */
        one_event_line_built_from_sent_ms: stats(fanoutBuilt),
        one_event_ack_ms: Math.round((ack.tAck - ack.tSent) * 100) / 100,
        /** this process's own time decoding + parsing the 1,000 lines (serial: part of the later arrivals) */
        one_event_bench_parse_ms: r2(fanoutParseMs),
        failed,
      },
      wall_s: Math.round((performance.now() - started) / 100) / 10,
      samples_ms: { clients_from_sent: ten.from_sent.map(r2), one_client_from_sent: one.from_sent.map(r2) },
    };
    mkdirSync(OUT, { recursive: true });
    writeFileSync(join(OUT, "watch-latency.json"), `${JSON.stringify(result, null, 2)}\n`);

    const f = (s: Stats): string => `${fmt(s.p50)} ${fmt(s.p95)} ${fmt(s.p99)} ${fmt(s.max)}`;
    const rows: Array<[string, Stats, Stats]> = [
      ["event sent -> line on client", result.one_client.from_sent, result.clients.from_sent],
      ["POST acked -> line on client", result.one_client.from_ack, result.clients.from_ack],
      ["sent -> line on every client", result.one_client.all_clients_from_sent, result.clients.all_clients_from_sent],
      ["POST round trip (sent -> ack read)", result.one_client.post_rtt, result.clients.post_rtt],
      ["  sent -> ingest committed (1 ms res.)", result.one_client.parts.sent_to_ingested, result.clients.parts.sent_to_ingested],
      ["  committed -> hub built the line", result.one_client.parts.ingested_to_line_built, result.clients.parts.ingested_to_line_built],
      ["  line built -> arrived on the client", result.one_client.parts.line_built_to_arrival, result.clients.parts.line_built_to_arrival],
    ];
    console.log(`watch latency, ${TRANSITIONS} transitions over ${PANES} panes (ms: p50 p95 p99 max)`);
    console.log(`${"".padEnd(40)} ${"1 client".padEnd(27)} ${CLIENTS} clients`);
    for (const [label, a, b] of rows) console.log(`${label.padEnd(40)} ${f(a).padEnd(27)} ${f(b)}`);
    console.log(`  line before the POST's ack: ${result.one_client.line_before_ack_pct} % (1 client), ${result.clients.line_before_ack_pct} % (${CLIENTS} clients)`);
    const w = result.watchers;
    console.log(
      `${WATCHERS} watchers: all connected with a snapshot in ${w.connect_all_ms.toFixed(0)} ms (each: p50 ${fmt(w.connect_to_snapshot_ms.p50)} p95 ${fmt(w.connect_to_snapshot_ms.p95)} max ${fmt(w.connect_to_snapshot_ms.max)}), daemon CPU ${w.daemon_cpu_s_connecting} s; ${w.connect_eagain_watchers} connects refused (EAGAIN) and retried (${w.connect_eagain_retries} retries)`,
    );
    console.log(
      `  daemon RSS ${w.daemon_memory_before.rss_mib} -> ${w.daemon_memory_connected.rss_mib} MiB connected, ${w.daemon_memory_after_event.rss_mib} after the event, ${w.daemon_memory_closed.rss_mib} closed (peak ${w.daemon_memory_closed.hwm_mib})`,
    );
    console.log(`  one event served to ${w.one_event_served}/${WATCHERS}: sent -> line p50 ${fmt(w.one_event_from_sent_ms.p50)} p95 ${fmt(w.one_event_from_sent_ms.p95)} max ${fmt(w.one_event_from_sent_ms.max)} ms`);
    const b = w.one_event_line_built_from_sent_ms;
    console.log(`    of which sent -> the daemon built the line (emitted_at): min ${fmt(b.min)} p50 ${fmt(b.p50)} max ${fmt(b.max)} ms; POST ack after ${fmt(w.one_event_ack_ms)} ms; this process parsing the ${WATCHERS} lines ${fmt(w.one_event_bench_parse_ms)} ms`);
    const met = result.clients.from_sent.p95 < GOAL_P95_MS;
    console.log(`  goal p95 < ${GOAL_P95_MS} ms with ${CLIENTS} clients (from sent): ${met ? "met" : "NOT met"}   (run ${result.wall_s} s)`);
    console.log(`wrote ${join(OUT, "watch-latency.json")}`);
    return 0;
  } finally {
    for (const w of open) w.close();
    daemon?.kill("SIGTERM");
    await daemon?.exited;
    await tmux.kill();
    box.cleanup();
  }
}

function r2(x: number): number {
  return Math.round(x * 100) / 100;
}

function fmt(x: number): string {
  return x.toFixed(1).padStart(6);
}

function summarize(r: Run) {
  return {
    clients: r.clients,
    transitions: r.transitions,
    from_sent: stats(r.from_sent),
    from_ack: stats(r.from_ack),
    all_clients_from_sent: stats(r.all_clients_from_sent),
    post_rtt: stats(r.post_rtt),
    parts: {
      sent_to_ingested: stats(r.sent_to_ingested),
      ingested_to_line_built: stats(r.ingested_to_line_built),
      line_built_to_arrival: stats(r.line_built_to_arrival),
    },
    line_before_ack_pct: Math.round((1000 * r.line_before_ack) / Math.max(1, r.from_sent.length)) / 10,
  };
}

process.exit(await main());
