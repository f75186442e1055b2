/**
 * `npm run soak` (issue 8 part 4): resilience runs against the compiled daemon (dist/agtmux).
 *   1. kill -9 under load: events POSTed in batches while the daemon is SIGKILLed at random
 *      points and restarted; every acknowledged event (applied/duplicate/stale_order/heartbeat)
 *      must be in the events table after restart, and once the in-flight batches are resent
 *      the final state of each pane must equal the last event sent for it (a replay).
 *   2. TC-052 SQLite lock contention: this process holds `BEGIN IMMEDIATE` on the daemon's DB
 *      for 100-2,000 ms, repeatedly, while events are posted; acknowledged events must all be
 *      stored, E_STORE answers (not acknowledged) are counted.
 *   3. TC-012 retention over a large DB: N expiring event rows inserted directly (copies of a
 *      real row), the daemon started with a short retention; the pass is timed and
 *      GET /v1/health polled meanwhile; the fresh rows must survive.
 *   4. TC-013: EXPLAIN QUERY PLAN of every HOT_QUERIES entry on that large DB is index-backed.
 *   5. TC-034 repeated target flaps: an ssh target (a real sshd on loopback, tests/ssh/sshd.ts)
 *      reached through the TCP proxy of tests/ssh/proxy.ts, 4 fake-claude panes on it and 4 on
 *      the host. --flaps=N flaps from a schedule seeded by --seed (connection reset, blackhole,
 *      blackhole then reset, sshd stopped and started, a reset of the reconnect's own
 *      connection, and one blackhole per 50 flaps that outlasts the keepalives); 85 % of them
 *      follow the previous one while the daemon is still reconnecting. Meanwhile GET /v1/panes,
 *      /v1/health, /v1/targets in a loop (max < 1 s: never waiting on the target), events
 *      POSTed for the host panes and `agtmux emit --hook claude` run with the VM's env (it
 *      spools there for the relay). After every burst: time until the target is ok with no
 *      error, connected, its relay up, exactly one TCP connection, and an event emitted on the
 *      VM after the flap stored (SLO 15 s). At the end: every acked event stored (the VM's
 *      exactly once), pane states = the last event, one connection, <= 3 channels, one relay
 *      process and one sshd session on the VM, its spool files deleted, daemon fds back to the
 *      baseline, RSS before/after. The daemon's log is copied to bench/out/soak-flaps-daemon.log.
 *
 * Flags: --no-build, --seed=N, --kills=8, --kill-events=4000, --lock-s=20, --rows=1000000,
 *        --flaps=100, --verbose (one line per flap), --skip=kill,lock,retention,flaps.
 *        Writes bench/out/soak.json; exit 1 on any failure.
 */
import { Database } from "bun:sqlite";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { HOT_QUERIES } from "../src/store/store.ts";
import type { ListResponse, PaneItem, TargetItem, TargetsResponse } from "../src/wire/list.ts";
import { TcpProxy } from "../tests/ssh/proxy.ts";
import { type Sshd, sshdAvailable, startSshd } from "../tests/ssh/sshd.ts";
import { mulberry32 } from "../tests/helpers/rng.ts";
import { removeTempDirs } from "../tests/tmux/harness.ts";
import { api, type BenchBox, BIN, benchBox, boxDbPath, fdCount, machineInfo, memoryOf, ROOT, run, SocketTmux, type Stats, startBoxDaemon, stats, stopBoxDaemon, until, CLAUDE_HOOK_CYCLE } from "./lib.ts";

const argv = process.argv.slice(2);
const opt = (name: string, dflt: string): string => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
const SEED = Number(opt("seed", String(Date.now() % 1_000_000)));
const KILLS = Number(opt("kills", "8"));
const KILL_EVENTS = Number(opt("kill-events", "4000"));
const LOCK_S = Number(opt("lock-s", "20"));
const ROWS = Number(opt("rows", "1000000"));
const FLAPS = Number(opt("flaps", "100"));
const VERBOSE = argv.includes("--verbose");
const SKIP = new Set(opt("skip", "").split(",").filter(Boolean));
const OUT = join(import.meta.dir, "out");
const T0 = performance.now();
const log = (s: string): void => console.error(`[soak ${((performance.now() - T0) / 1000).toFixed(1)}s] ${s}`);
const r2 = (x: number): number => Math.round(x * 100) / 100;
const ACKED = new Set(["applied", "duplicate", "stale_order", "heartbeat"]);
const STATES = ["running", "waiting_input", "waiting_approval", "completed", "idle", "running"] as const;

// mulberry32 (the tests' seeded generator), so a failing run can be repeated with --seed
const rand = mulberry32(SEED);

type Panes = ListResponse<PaneItem>;
interface Env {
  box: BenchBox;
  host: SocketTmux;
  serverPid: number;
  daemon: Bun.Subprocess | undefined;
  pid: number;
  panes: string[];
}

async function setup(agentPanes: number, config = ""): Promise<Env> {
  const box = benchBox();
  const uid = process.getuid?.() ?? 0;
  mkdirSync(join(box.dir, "tmux", `tmux-${uid}`), { recursive: true, mode: 0o700 });
  const host = new SocketTmux(box, join(box.dir, "tmux", `tmux-${uid}`, "default"));
  // fill() makes every tenth pane an agent: 10 windows per agent pane
  await host.fill("soak", agentPanes * 10 - 9);
  const serverPid = Number((await host.run("display-message", "-p", "#{pid}")).trim());
  if (config !== "") {
    mkdirSync(join(box.dir, "config", "agtmux"), { recursive: true });
    writeFileSync(join(box.dir, "config", "agtmux", "config.toml"), config);
  }
  const d = await startBoxDaemon(box);
  const items = await until(
    async () => {
      const r = await api<Panes>(box.socket, "GET", "/v1/panes");
      return r.json.items.length === agentPanes && r.json.items.every((p) => p.agent !== null) ? r.json.items : null;
    },
    20_000,
    `daemon lists ${agentPanes} agent panes`,
  );
  return { box, host, serverPid, daemon: d.proc, pid: d.pid, panes: items.map((p) => p.identity.pane_id) };
}

async function teardown(e: Env | undefined): Promise<void> {
  if (e === undefined) return;
  await stopBoxDaemon(e.daemon);
  await e.host.kill();
  e.box.cleanup();
}

function envelope(e: Pick<Env, "serverPid">, id: string, pane: string, state: string, seq: number): Record<string, unknown> {
  return { event_id: id, dedupe_key: id, source: "hook", event_type: `state.${state}`, agent_type: "claude", event_time: new Date().toISOString(), source_seq: seq, target_id: "host", pane_id: pane, tmux_server_pid: e.serverPid };
}

function storedIds(e: Env, prefix: string): Set<string> {
  const db = new Database(boxDbPath(e.box), { readonly: true });
  try {
    return new Set(db.query<{ event_id: string }, [string]>("SELECT event_id FROM events WHERE event_id LIKE ?").all(`${prefix}-%`).map((r) => r.event_id));
  } finally {
    db.close();
  }
}

async function stateMismatches(e: Env, expected: Map<string, string>): Promise<Array<{ pane: string; want: string; got: string | null }>> {
  const items = (await api<Panes>(e.box.socket, "GET", "/v1/panes")).json.items;
  const out: Array<{ pane: string; want: string; got: string | null }> = [];
  for (const p of items) {
    const want = expected.get(p.identity.pane_id);
    if (want !== undefined && p.state !== want) out.push({ pane: p.identity.pane_id, want, got: p.state });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
interface KillResult {
  kills: number;
  events_sent: number;
  acked: number;
  not_acked_at_kill: number;
  acked_missing_after_restart: number;
  restart_ms: Stats;
  final_state_mismatches: Array<{ pane: string; want: string; got: string | null }>;
  pass: boolean;
}

async function killUnderLoad(): Promise<KillResult> {
  let e: Env | undefined;
  try {
    e = await setup(10);
    const env = e;
    const expected = new Map<string, string>();
    const acked = new Set<string>();
    const unacked: Array<Record<string, unknown>[]> = [];
    const restartMs: number[] = [];
    let seq = 0;
    let sent = 0;
    let notAckedAtKill = 0;
    const batchSize = 50;
    const batchesTotal = Math.ceil(KILL_EVENTS / batchSize);
    const killAt = new Set<number>();
    while (killAt.size < Math.min(KILLS, batchesTotal - 1)) killAt.add(1 + Math.floor(rand() * (batchesTotal - 1)));
    for (let b = 0; b < batchesTotal; b++) {
      const events = Array.from({ length: batchSize }, () => {
        const pane = env.panes[Math.floor(rand() * env.panes.length)] as string;
        const state = STATES[Math.floor(rand() * STATES.length)] as string;
        const id = `kill-${++seq}`;
        expected.set(pane, state);
        return envelope(env, id, pane, state, seq);
      });
      sent += events.length;
      const p = api<{ results: Array<{ event_id?: string; status: string }> }>(env.box.socket, "POST", "/v1/events", { events }, 10_000).then(
        (r) => {
          if (r.status !== 200) return false;
          r.json.results.forEach((x, i) => {
            if (ACKED.has(x.status)) acked.add(events[i]?.event_id as string);
          });
          return true;
        },
        () => false,
      );
      if (killAt.has(b)) {
        // kill at a random point while this batch is in flight
        await Bun.sleep(rand() * 5);
        env.daemon?.kill("SIGKILL");
        await env.daemon?.exited;
        const ok = await p;
        if (!ok) {
          notAckedAtKill += events.length;
          unacked.push(events);
        }
        const t = performance.now();
        const d = await startBoxDaemon(env.box);
        restartMs.push(performance.now() - t);
        env.daemon = d.proc;
        env.pid = d.pid;
      } else if (!(await p)) unacked.push(events);
    }
    // every acknowledged event survived
    const stored = storedIds(env, "kill");
    const missing = [...acked].filter((id) => !stored.has(id)).length;
    // resend what was never acknowledged (a client retry), then the states must equal the replay
    for (const events of unacked) await api(env.box.socket, "POST", "/v1/events", { events });
    await until(async () => ((await stateMismatches(env, expected)).length === 0 ? true : null), 5_000, "replayed states", 50).catch(() => null);
    const mism = await stateMismatches(env, expected);
    log(`kill -9: ${KILLS} kills, ${sent} sent, ${acked.size} acked, ${missing} acked missing, ${notAckedAtKill} in flight at a kill, ${mism.length} state mismatches`);
    return { kills: restartMs.length, events_sent: sent, acked: acked.size, not_acked_at_kill: notAckedAtKill, acked_missing_after_restart: missing, restart_ms: stats(restartMs), final_state_mismatches: mism, pass: missing === 0 && mism.length === 0 };
  } finally {
    await teardown(e);
  }
}

// ---------------------------------------------------------------------------------------------
interface LockResult {
  lock_holds: number;
  lock_hold_ms: Stats;
  posts: number;
  events_sent: number;
  acked: number;
  e_store_answers: number;
  other_failures: number;
  post_ms: Stats;
  acked_missing: number;
  final_state_mismatches: number;
  pass: boolean;
}

async function lockContention(): Promise<LockResult> {
  let e: Env | undefined;
  try {
    e = await setup(10);
    const env = e;
    const holds: number[] = [];
    const ctl = { stop: false };
    const locker = (async () => {
      const db = new Database(boxDbPath(env.box));
      db.run("PRAGMA busy_timeout = 10000");
      try {
        while (!ctl.stop) {
          const ms = 100 + rand() * 1900;
          db.run("BEGIN IMMEDIATE");
          await Bun.sleep(ms);
          db.run("COMMIT");
          holds.push(ms);
          await Bun.sleep(rand() * 300);
        }
      } finally {
        db.close();
      }
    })();
    const expected = new Map<string, string>();
    const newest = new Map<string, number>();
    const acked = new Set<string>();
    const postMs: number[] = [];
    let eStore = 0;
    let other = 0;
    let posts = 0;
    let sent = 0;
    let seq = 0;
    const end = performance.now() + LOCK_S * 1000;
    // 4 posters, 10 events each per request: the daemon sees writes during most holds
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (performance.now() < end) {
          const events = Array.from({ length: 10 }, () => {
            const pane = env.panes[Math.floor(rand() * env.panes.length)] as string;
            const state = STATES[Math.floor(rand() * STATES.length)] as string;
            return { pane, state, ev: envelope(env, `lock-${++seq}`, pane, state, seq) };
          });
          posts++;
          sent += events.length;
          const r = await api<{ error?: { code: string }; results?: Array<{ status: string }> }>(env.box.socket, "POST", "/v1/events", { events: events.map((x) => x.ev) }, 30_000).catch(() => null);
          if (r === null) other++;
          else {
            postMs.push(r.ms);
            if (r.status === 200 && r.json.results !== undefined) {
              r.json.results.forEach((x, i) => {
                if (ACKED.has(x.status)) acked.add(events[i]?.ev.event_id as string);
              });
            } else if (r.json.error?.code === "E_STORE") eStore++;
            else other++;
          }
          // the last event sent per pane decides its state only if acknowledged; resend unacked below
          if (r === null || r.status !== 200) {
            const again = await until(async () => {
              const x = await api(env.box.socket, "POST", "/v1/events", { events: events.map((y) => y.ev) }, 30_000);
              return x.status === 200 ? x : null;
            }, 60_000, "resend after E_STORE", 100);
            void again;
          }
          // the newest event per pane (event_time and source_seq both follow seq) decides its state: not the
          // poster that finished last (4 run at once; a batch resent after E_STORE finishes after newer ones)
          for (const x of events) {
            const seqOf = x.ev.source_seq as number;
            if (seqOf > (newest.get(x.pane) ?? -1)) {
              newest.set(x.pane, seqOf);
              expected.set(x.pane, x.state);
            }
          }
        }
      }),
    );
    ctl.stop = true;
    await locker;
    const stored = storedIds(env, "lock");
    const missing = [...acked].filter((id) => !stored.has(id)).length;
    await until(async () => ((await stateMismatches(env, expected)).length === 0 ? true : null), 5_000, "states after contention", 50).catch(() => null);
    const mism = (await stateMismatches(env, expected)).length;
    log(`lock: ${holds.length} holds, ${posts} posts, ${acked.size}/${sent} acked, ${eStore} E_STORE, ${other} other failures, ${missing} acked missing, ${mism} state mismatches, post p95 ${stats(postMs).p95} ms`);
    return { lock_holds: holds.length, lock_hold_ms: stats(holds), posts, events_sent: sent, acked: acked.size, e_store_answers: eStore, other_failures: other, post_ms: stats(postMs), acked_missing: missing, final_state_mismatches: mism, pass: missing === 0 && mism === 0 && other === 0 };
  } finally {
    await teardown(e);
  }
}

// ---------------------------------------------------------------------------------------------
interface RetentionResult {
  rows_inserted: number;
  insert_s: number;
  db_mib: number;
  kept_rows: number;
  retention_pass_ms: number;
  rows_after: number;
  kept_rows_after: number;
  health_during_ms: Stats;
  health_failures: number;
  rss_mib: number;
  plans: Array<{ name: string; plan: string[]; problems: string[] }>;
  plan_problems: number;
  responsive_max_health_ms_goal: number;
  pass: boolean;
}

function planProblems(db: Database, sql: string): { plan: string[]; problems: string[] } {
  const params = Object.fromEntries([...sql.matchAll(/\$(\w+)/g)].map((m) => [m[1] as string, m[1] === "limit" ? 10 : "x"]));
  const plan = db.query<{ detail: string }, [Record<string, string | number>]>(`EXPLAIN QUERY PLAN ${sql}`).all(params).map((p) => p.detail);
  return { plan, problems: plan.filter((d) => (d.startsWith("SCAN ") && !/USING (COVERING )?INDEX|USING INTEGER PRIMARY KEY/.test(d)) || /TEMP B-TREE/.test(d)) };
}

async function retentionLargeDb(): Promise<RetentionResult> {
  let e: Env | undefined;
  const DAY_S = 86_400;
  try {
    // event_days = 1: the bulk rows are made to expire ~20 s after the daemon restarts
    e = await setup(10, "[retention]\nevent_days = 1\npayload_days = 1\ninterval_s = 2\n");
    const env = e;
    const template = Array.from({ length: 20 }, (_, i) => envelope(env, `keep-${i}`, env.panes[i % env.panes.length] as string, "running", i + 1));
    const r = await api(env.box.socket, "POST", "/v1/events", { events: template });
    if (r.status !== 200) throw new Error(`POST keep events: ${r.status}`);
    await stopBoxDaemon(env.daemon);
    env.daemon = undefined;
    // bulk insert: copies of one stored row with new ids and an ingested_at that expires soon
    const db = new Database(boxDbPath(env.box));
    const cols = db.query<{ name: string }, []>("PRAGMA table_info(events)").all().map((c) => c.name);
    const hasSeq = cols.includes("seq");
    const expireAt = Date.now() - DAY_S * 1000 + 20_000;
    const pick = (c: string): string => {
      if (c === "event_id" || c === "dedupe_key" || c === "source_event_id") return `'bulk-' || n`;
      if (c === "ingested_at") return `${expireAt} + (n % 1000)`;
      if (c === "raw_payload") return `'{"bulk":true}'`;
      return c;
    };
    const insertCols = cols.filter((c) => !(hasSeq && c === "seq"));
    const ti = performance.now();
    const chunk = 100_000;
    for (let off = 0; off < ROWS; off += chunk) {
      db.run(
        `WITH RECURSIVE cnt(n) AS (SELECT ${off} UNION ALL SELECT n + 1 FROM cnt WHERE n < ${Math.min(ROWS, off + chunk) - 1})
         INSERT INTO events (${insertCols.join(", ")}) SELECT ${insertCols.map(pick).join(", ")} FROM cnt, (SELECT * FROM events WHERE event_id = 'keep-0')`,
      );
    }
    const insertS = (performance.now() - ti) / 1000;
    const plans = Object.entries(HOT_QUERIES).map(([name, sql]) => ({ name, ...planProblems(db, sql) }));
    db.close();
    const dbMib = Bun.file(boxDbPath(env.box)).size / 1024 / 1024;
    log(`retention: ${ROWS} rows inserted in ${insertS.toFixed(1)} s (DB ${dbMib.toFixed(0)} MiB); plan problems: ${plans.reduce((a, p) => a + p.problems.length, 0)}`);
    const count = (): { all: number; keep: number } => {
      const h = new Database(boxDbPath(env.box), { readonly: true });
      try {
        return {
          all: h.query<{ n: number }, []>("SELECT count(*) AS n FROM events").get()?.n ?? 0,
          keep: h.query<{ n: number }, []>("SELECT count(*) AS n FROM events WHERE event_id LIKE 'keep-%'").get()?.n ?? 0,
        };
      } finally {
        h.close();
      }
    };
    const d = await startBoxDaemon(env.box);
    env.daemon = d.proc;
    env.pid = d.pid;
    // poll health every 20 ms until the bulk rows are gone (the pass runs ~20 s after the insert)
    const health: number[] = [];
    let failures = 0;
    let passStart = Number.NaN;
    let passEnd = Number.NaN;
    const deadline = performance.now() + 120_000;
    let rowsAfter = count();
    while (performance.now() < deadline) {
      const h = await api(env.box.socket, "GET", "/v1/health", undefined, 10_000).catch(() => null);
      if (h === null || h.status !== 200) failures++;
      else health.push(h.ms);
      if (Date.now() > expireAt + DAY_S * 1000 && Number.isNaN(passStart)) passStart = performance.now();
      if (!Number.isNaN(passStart) && health.length % 10 === 0) {
        rowsAfter = count();
        if (rowsAfter.all <= template.length) {
          passEnd = performance.now();
          break;
        }
      }
      await Bun.sleep(20);
    }
    const mem = memoryOf(env.pid);
    const problems = plans.reduce((a, p) => a + p.problems.length, 0);
    // the pass itself: the daemon's interval is 2 s, so the window from expiry to empty bounds it (+2 s)
    const passMs = passEnd - passStart;
    log(`retention: bulk gone ${passMs.toFixed(0)} ms after expiry (2 s interval), ${rowsAfter.all} rows left (${rowsAfter.keep} kept), health p50/p95/max ${stats(health).p50}/${stats(health).p95}/${stats(health).max} ms, ${failures} failures`);
    return {
      rows_inserted: ROWS,
      insert_s: r2(insertS),
      db_mib: r2(dbMib),
      kept_rows: template.length,
      retention_pass_ms: r2(passMs),
      rows_after: rowsAfter.all,
      kept_rows_after: rowsAfter.keep,
      health_during_ms: stats(health),
      health_failures: failures,
      rss_mib: mem.rss_mib,
      plans,
      plan_problems: problems,
      responsive_max_health_ms_goal: 1000,
      pass: rowsAfter.keep === template.length && rowsAfter.all === template.length && failures === 0 && problems === 0 && stats(health).max < 1000,
    };
  } finally {
    await teardown(e);
  }
}

// ---------------------------------------------------------------------------------------------
// TC-034: repeated target flaps

type FlapKind = "reset" | "blackhole" | "blackhole_reset" | "sshd_restart" | "reset_mid_reconnect" | "long_blackhole";
interface Flap {
  i: number;
  kind: FlapKind;
  /** blackhole / sshd down for this long; reset_mid_reconnect: delay after the reconnect's TCP accept */
  hold_ms: number;
  /** the next flap follows gap_ms after this one ends, without waiting for recovery (it lands mid-reconnect) */
  chained: boolean;
  gap_ms: number;
}

/** kind weights (long_blackhole is placed apart: one per 50 flaps, so the run time does not vary with the seed) */
const FLAP_KINDS: ReadonlyArray<[FlapKind, number]> = [
  ["reset", 0.3],
  ["blackhole", 0.22],
  ["blackhole_reset", 0.12],
  ["sshd_restart", 0.18],
  ["reset_mid_reconnect", 0.18],
];
/** a long blackhole outlasts the ssh keepalive (5 s x 3) and the target's down threshold: the daemon has to give up on the connection itself */
const LONG_BLACKHOLE_EVERY = 50;
/** most flaps come in bursts: the next one lands while the daemon reconnects */
const FLAP_CHAIN_P = 0.85;
const FLAP_SLO_MS = 15_000;
const FLAP_RECOVERY_TIMEOUT_MS = 60_000;

/** The flap schedule, from its own generator: the same seed gives the same kinds, holds and gaps whatever the timing. */
function flapPlan(n: number, r: () => number): Flap[] {
  const long = new Set<number>();
  while (long.size < Math.min(n, Math.round(n / LONG_BLACKHOLE_EVERY))) long.add(Math.floor(r() * n));
  const plan: Flap[] = [];
  for (let i = 0; i < n; i++) {
    let x = r();
    let kind: FlapKind = "reset";
    for (const [k, w] of FLAP_KINDS) {
      kind = k;
      if (x < w) break;
      x -= w;
    }
    if (long.has(i)) kind = "long_blackhole";
    const hold =
      kind === "blackhole" ? 150 + r() * 1_100 : kind === "blackhole_reset" ? 150 + r() * 850 : kind === "sshd_restart" ? 100 + r() * 700 : kind === "long_blackhole" ? 16_000 + r() * 3_000 : kind === "reset_mid_reconnect" ? r() * 300 : 0;
    // a long blackhole's recovery (the target went degraded or down) is always measured
    const chained = i < n - 1 && r() < FLAP_CHAIN_P && kind !== "long_blackhole";
    plan.push({ i, kind, hold_ms: Math.round(hold), chained, gap_ms: Math.round(chained ? 30 + r() * 370 : r() * 500) });
  }
  return plan;
}

interface FlapsResult {
  seed: number;
  flaps: number;
  kinds: Record<string, number>;
  chained_mid_reconnect: number;
  recoveries: number;
  recovery_ms: Stats;
  /** until the ssh connection is up and health ok (the rest of recovery_ms: the relay's restart and a VM event through it) */
  transport_recovery_ms: Stats;
  recovery_ms_by_kind: Record<string, Stats>;
  recovery_slo_ms: number;
  recoveries_over_slo: Array<{ flap: number; kind: FlapKind; ms: number; transport_ms: number }>;
  read_ms: Record<string, Stats>;
  read_failures: number;
  slowest_read: { path: string; ms: number; flap: number; kind: string } | null;
  read_max_goal_ms: number;
  host_posts: number;
  host_events_sent: number;
  host_events_acked: number;
  host_post_ms: Stats;
  /** POSTs answered with anything but every event acknowledged (resent) */
  host_posts_not_acked: number;
  host_acked_missing: number;
  vm_emits: number;
  vm_emit_failures: number;
  vm_events_acked: number;
  vm_drain_after_recovery_ms: number;
  vm_events_stored: number;
  vm_events_missing: number;
  vm_events_stored_twice: number;
  rejected_spool_lines: number;
  final_state_mismatches: Array<{ target: string; pane: string; want: string; got: string | null }>;
  proxy_connections_accepted: number;
  proxy_live_connections_end: number;
  ssh_end: { connects: number; reconnects: number; channels_open: number } | null;
  relay_end: { up: boolean; restarts: number } | null;
  relay_processes_end: number;
  /** drain files (or a non-empty events.jsonl) left in the VM's spool after the final drain */
  vm_spool_files_end: string[];
  /** sshd's per-connection processes at the end (sessions of dead connections would stay here) */
  sshd_connection_processes_end: number;
  /** from the daemon's log: vm1's health transitions, by the state it went to */
  health_changes_to: Record<string, number>;
  daemon_fds: { before: number; after: number; slack: number };
  daemon_rss_mib: { before: number; after: number; hwm_after: number };
  daemon_health_end_ms: number;
  phase_s: number;
  /** every flap with wall-clock times (to match the daemon's log) */
  timeline: Array<Flap & { started_at: string; ended_at: string; recovery_ms: number | null }>;
  problems: string[];
  pass: boolean;
}

/** processes whose argv is `<bin> relay …` (the relays the daemon started on the "VM") */
function relayProcesses(bin: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, "utf8").split("\0");
      if (cmd[0] === bin && cmd[1] === "relay") out.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** direct children of a process (sshd forks one per connection) */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid) out.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

async function targetFlaps(): Promise<FlapsResult | null> {
  if (!sshdAvailable()) {
    log("flaps: /usr/sbin/sshd or ssh-keygen missing (apt-get install openssh-server openssh-client); skipped");
    return null;
  }
  const plan = flapPlan(FLAPS, mulberry32(SEED ^ 0x0034_f1a9));
  const box = benchBox();
  // a private copy of the binary (daemon, relay on the VM, emit): a rebuild of dist/ during the run must not pull it away
  const bin = join(box.dir, "agtmux");
  copyFileSync(BIN, bin);
  chmodSync(bin, 0o755);
  const uid = process.getuid?.() ?? 0;
  mkdirSync(join(box.dir, "tmux", `tmux-${uid}`), { recursive: true, mode: 0o700 });
  const host = new SocketTmux(box, join(box.dir, "tmux", `tmux-${uid}`, "default"));
  let sshd: Sshd | undefined;
  let proxy: TcpProxy | undefined;
  let daemon: Bun.Subprocess | undefined;
  let vmTmux: ((...args: string[]) => Promise<string>) | undefined;
  const daemonLog = join(box.dir, "daemon.log");
  const ctl = { stop: false };
  const loops: Array<Promise<void>> = [];
  const dbs: Database[] = [];
  const t0Phase = performance.now();
  try {
    // ---- host: 31 panes, 4 of them fake claudes (fill(): every tenth)
    await host.fill("soak", 4 * 10 - 9);
    const hostServerPid = Number((await host.run("display-message", "-p", "#{pid}")).trim());
    // ---- the VM: a real sshd reached through the TCP proxy, its own tmux server with 4 fake-claude panes
    sshd = await startSshd({ aliases: [], trustHostKey: false });
    proxy = new TcpProxy(sshd.host, sshd.port);
    sshd.client.addHost("vm1", { hostName: sshd.host, port: proxy.port });
    sshd.trustHostKey(proxy.port);
    const vmBin = join(sshd.dir, "bin");
    mkdirSync(vmBin, { recursive: true });
    copyFileSync("/bin/sleep", join(vmBin, "claude"));
    const vmEnv: Record<string, string | undefined> = { PATH: process.env.PATH, LANG: "C.UTF-8", HOME: sshd.vmHome, TMUX_TMPDIR: sshd.tmuxTmpDir, XDG_RUNTIME_DIR: sshd.runtimeDir, USER: "root", AGTMUX_NO_AUTOSTART: "1" };
    const vt = async (...args: string[]): Promise<string> => {
      const r = await run(["tmux", "-f", "/dev/null", ...args], vmEnv);
      if (r.code !== 0) throw new Error(`vm1: tmux ${args.slice(0, 6).join(" ")}… failed (${r.code}): ${r.stderr.trim()}`);
      return r.stdout;
    };
    vmTmux = vt;
    const agent = [join(vmBin, "claude"), "100000"];
    await vt("new-session", "-d", "-s", "vm", "-x", "160", "-y", "40", ...agent, ";", "new-window", "-d", "-t", "vm", ...agent, ";", "new-window", "-d", "-t", "vm", ...agent, ";", "new-window", "-d", "-t", "vm", ...agent);
    const vmPanes = (await vt("list-panes", "-a", "-F", "#{pane_id} #{socket_path},#{pid},0 #{pane_pid}"))
      .trim()
      .split("\n")
      .map((l) => {
        const [pane, tmuxVar, panePid] = l.split(" ") as [string, string, string];
        return { pane, tmuxVar, panePid };
      });

    // ---- the daemon (HOME = the ssh client home: ~/.ssh/config has vm1 -> the proxy)
    const daemonEnv = { ...box.env, HOME: sshd.client.home } as Record<string, string>;
    daemon = Bun.spawn([bin, "daemon"], { env: daemonEnv, stdin: "ignore", stdout: "ignore", stderr: Bun.file(daemonLog) });
    const pid = (
      await until(
        async () => {
          const r = await api<{ pid: number }>(box.socket, "GET", "/v1/health", undefined, 1_000);
          return r.status === 200 ? r.json : null;
        },
        20_000,
        "daemon answers /v1/health",
      )
    ).pid;
    const add = await run([bin, "target", "add", "vm1", "--kind", "ssh", "--ssh-target", "vm1", "--agtmux-path", bin, "--json"], daemonEnv, 60_000);
    if (add.code !== 0) throw new Error(`agtmux target add vm1: ${add.code} ${add.stdout}${add.stderr}`);
    const px = proxy;
    const vm1 = async (): Promise<TargetItem | undefined> => (await api<TargetsResponse>(box.socket, "GET", "/v1/targets", undefined, 5_000)).json.items.find((t) => t.target === "vm1");
    /** recovered: health ok, no error, the ssh connection up, the relay up, and exactly one TCP connection to the VM */
    const isSteady = (t: TargetItem | undefined): boolean => t?.health === "ok" && t.last_error === null && t.status?.connected === true && t.status.relay?.up === true && px.liveConnections === 1;
    const steady = async (): Promise<boolean> => isSteady(await vm1());
    await until(async () => (await steady()) || null, 30_000, "vm1 ok, relay up, one connection");
    const panes = await until(
      async () => {
        const r = await api<Panes>(box.socket, "GET", "/v1/panes");
        const items = r.json.items.filter((p) => p.agent !== null);
        return items.filter((p) => p.identity.target === "host").length === 4 && items.filter((p) => p.identity.target === "vm1").length === vmPanes.length ? items : null;
      },
      30_000,
      "daemon lists 4 host + 4 vm1 claude panes",
    );
    const hostPanes = panes.filter((p) => p.identity.target === "host").map((p) => p.identity.pane_id);
    await Bun.sleep(1_000);
    const fdsBefore = fdCount(pid);
    const memBefore = memoryOf(pid);
    const kinds: Record<string, number> = {};
    for (const f of plan) kinds[f.kind] = (kinds[f.kind] ?? 0) + 1;
    log(`flaps: daemon pid ${pid}, vm1 via proxy :${px.port} -> sshd :${sshd.port}; ${FLAPS} flaps (${JSON.stringify(kinds)}, ${plan.filter((f) => f.chained).length} chained), seed ${SEED}; fds ${fdsBefore}, RSS ${memBefore.rss_mib} MiB`);

    // ---- load while flapping: reads, host events (POST), VM events (emit -> spool -> relay)
    const current = { flap: -1, kind: "steady" };
    const reads: Record<string, number[]> = { "/v1/panes": [], "/v1/health": [], "/v1/targets": [] };
    let readFailures = 0;
    let slowest: FlapsResult["slowest_read"] = null;
    loops.push(
      (async () => {
        const paths = Object.keys(reads);
        for (let k = 0; !ctl.stop; k++) {
          const path = paths[k % paths.length] as string;
          const r = await api(box.socket, "GET", path, undefined, 10_000).catch(() => null);
          if (r === null || r.status !== 200) readFailures++;
          else {
            reads[path]?.push(r.ms);
            if (slowest === null || r.ms > slowest.ms) slowest = { path, ms: r2(r.ms), flap: current.flap, kind: current.kind };
          }
          await Bun.sleep(20);
        }
      })(),
    );
    const hostRand = mulberry32(SEED ^ 0x0034_0001);
    const hostAcked = new Set<string>();
    const hostExpected = new Map<string, { state: string; at: number }>();
    const postMs: number[] = [];
    let hostSeq = 0;
    let hostPosts = 0;
    let hostNotAcked = 0;
    loops.push(
      (async () => {
        while (!ctl.stop) {
          const batch = Array.from({ length: 1 + Math.floor(hostRand() * 3) }, () => {
            const pane = hostPanes[Math.floor(hostRand() * hostPanes.length)] as string;
            const state = STATES[Math.floor(hostRand() * STATES.length)] as string;
            return { pane, state, ev: envelope({ serverPid: hostServerPid }, `flaph-${++hostSeq}`, pane, state, hostSeq) };
          });
          // resent until acknowledged (a client retry): then it is the pane's latest
          let acked = false;
          while (!acked) {
            hostPosts++;
            const r = await api<{ results?: Array<{ status: string }> }>(box.socket, "POST", "/v1/events", { events: batch.map((x) => x.ev) }, 10_000).catch(() => null);
            if (r !== null) postMs.push(r.ms);
            acked = r !== null && r.status === 200 && r.json.results?.every((x) => ACKED.has(x.status)) === true;
            if (acked) break;
            hostNotAcked++;
            if (ctl.stop) break;
            await Bun.sleep(100);
          }
          if (!acked) break;
          for (const x of batch) {
            hostAcked.add(x.ev.event_id as string);
            hostExpected.set(x.pane, { state: x.state, at: Date.now() });
          }
          await Bun.sleep(100 + hostRand() * 200);
        }
      })(),
    );
    const vmRand = mulberry32(SEED ^ 0x0034_0002);
    const vmAcked: string[] = [];
    /** acknowledged VM events and when their emit started: recovery waits for one emitted after the flap to be stored */
    const vmEmitted: Array<{ id: string; at: number }> = [];
    const probeDb = new Database(boxDbPath(box), { readonly: true });
    dbs.push(probeDb);
    const stored = (id: string): boolean => probeDb.query<{ one: number }, [string]>("SELECT 1 AS one FROM events WHERE event_id = ?").get(id) !== null;
    const vmExpected = new Map<string, { state: string; at: number }>();
    const vmStep = new Map<string, number>();
    let vmEmits = 0;
    let vmEmitFailures = 0;
    loops.push(
      (async () => {
        while (!ctl.stop) {
          const p = vmPanes[Math.floor(vmRand() * vmPanes.length)] as (typeof vmPanes)[number];
          const step = vmStep.get(p.pane) ?? 0;
          vmStep.set(p.pane, step + 1);
          const [hook, want, extra] = CLAUDE_HOOK_CYCLE[step % CLAUDE_HOOK_CYCLE.length] as [string, string, Record<string, unknown>];
          const payload = JSON.stringify({ session_id: `flap-${p.pane}`, transcript_path: "/nonexistent/t.jsonl", cwd: "/tmp", hook_event_name: hook, ...extra });
          vmEmits++;
          const emittedAt = performance.now();
          // a hook on the VM: the pane's env, the payload on stdin; no daemon there, so it spools for the relay
          const r = await runWithStdin([bin, "emit", "--hook", "claude", "--pid", p.panePid, "--json"], { ...vmEnv, TMUX: p.tmuxVar, TMUX_PANE: p.pane }, payload).catch(() => null);
          let id: string | undefined;
          try {
            const j = JSON.parse(r?.stdout ?? "") as { queued?: boolean; event_id?: string };
            if (r?.code === 0 && j.queued === true) id = j.event_id;
          } catch {
            // not JSON: a failure
          }
          if (id === undefined) vmEmitFailures++;
          else {
            vmAcked.push(id);
            vmEmitted.push({ id, at: emittedAt });
            vmExpected.set(p.pane, { state: want, at: Date.now() });
          }
          await Bun.sleep(150 + vmRand() * 250);
        }
      })(),
    );

    // ---- the flaps
    const recoveries: Array<{ flap: number; kind: FlapKind; ms: number; transport_ms: number }> = [];
    let timeouts = 0;
    const problems: string[] = [];
    const waitRecovered = async (f: Flap, since: number): Promise<void> => {
      let transport = Number.NaN;
      const ok = await until(
        async () => {
          const t = await vm1();
          if (Number.isNaN(transport) && t?.health === "ok" && t.status?.connected === true) transport = performance.now() - since;
          // and the hook path works again: an event emitted on the VM after the flap ended is stored
          const probe = vmEmitted.find((x) => x.at > since);
          return (isSteady(t) && probe !== undefined && stored(probe.id)) || null;
        },
        FLAP_RECOVERY_TIMEOUT_MS,
        "recovery",
        25,
      ).catch(() => null);
      const ms = performance.now() - since;
      recoveries.push({ flap: f.i, kind: f.kind, ms: r2(ms), transport_ms: r2(transport) });
      if (ok === null) {
        timeouts++;
        const t = await vm1().catch(() => undefined);
        problems.push(`flap ${f.i} (${f.kind}): not recovered after ${FLAP_RECOVERY_TIMEOUT_MS} ms: health ${t?.health}, connected ${t?.status?.connected}, relay ${JSON.stringify(t?.status?.relay)}, last_error ${JSON.stringify(t?.last_error)}, proxy connections ${px.liveConnections}`);
        log(problems.at(-1) as string);
      }
    };
    const vmSshd = sshd;
    const timeline: FlapsResult["timeline"] = [];
    for (const f of plan) {
      if (timeouts >= 3) {
        problems.push(`stopped after flap ${f.i - 1}: 3 recoveries timed out`);
        break;
      }
      current.flap = f.i;
      current.kind = f.kind;
      const startedAt = new Date().toISOString();
      switch (f.kind) {
        case "reset":
          px.reset();
          break;
        case "blackhole":
        case "long_blackhole":
          px.blackhole();
          await Bun.sleep(f.hold_ms);
          px.resume();
          break;
        case "blackhole_reset":
          px.blackhole();
          await Bun.sleep(f.hold_ms);
          px.reset();
          px.resume();
          break;
        case "sshd_restart":
          await vmSshd.stop();
          await Bun.sleep(f.hold_ms);
          await vmSshd.start();
          break;
        case "reset_mid_reconnect": {
          // reset, then reset again once the daemon's reconnect has its TCP connection (mid ssh handshake / relay start)
          const n = px.accepted;
          px.reset();
          await until(async () => px.accepted > n || null, 10_000, "the daemon reconnects", 5).catch(() => null);
          await Bun.sleep(f.hold_ms);
          px.reset();
          break;
        }
      }
      const ended = performance.now();
      const endedAt = new Date().toISOString();
      if (f.chained) await Bun.sleep(f.gap_ms);
      else {
        await waitRecovered(f, ended);
        current.kind = "steady";
        await Bun.sleep(f.gap_ms);
      }
      timeline.push({ ...f, started_at: startedAt, ended_at: endedAt, recovery_ms: f.chained ? null : (recoveries.at(-1)?.ms ?? null) });
      if (VERBOSE) log(`flap ${f.i} ${f.kind} hold ${f.hold_ms} ms${f.chained ? ` chained +${f.gap_ms} ms` : `: recovered in ${recoveries.at(-1)?.ms} ms`}; ${px.liveConnections} connection(s), ${px.accepted} accepted`);
      if ((f.i + 1) % 10 === 0) log(`flaps: ${f.i + 1}/${plan.length}, recoveries p50/max ${stats(recoveries.map((x) => x.ms)).p50}/${stats(recoveries.map((x) => x.ms)).max} ms, slowest read ${(slowest as FlapsResult["slowest_read"])?.ms ?? 0} ms`);
    }
    current.flap = -1;
    current.kind = "steady";
    const tDone = performance.now();
    // events keep flowing a little after the last recovery, then stop
    await Bun.sleep(1_000);
    ctl.stop = true;
    await Promise.all(loops);

    // ---- every acknowledged event is stored, the VM's exactly once
    const db = new Database(boxDbPath(box), { readonly: true });
    const count = (ids: readonly string[]): { rows: number; uniq: number } =>
      db.query<{ rows: number; uniq: number }, [string]>("SELECT count(*) AS rows, count(DISTINCT event_id) AS uniq FROM events WHERE event_id IN (SELECT value FROM json_each(?))").get(JSON.stringify(ids)) ?? { rows: 0, uniq: 0 };
    const tDrain = performance.now();
    let vmStored = { rows: 0, uniq: 0 };
    try {
      await until(
        async () => {
          vmStored = count(vmAcked);
          return vmStored.uniq === vmAcked.length || null;
        },
        30_000,
        "every spooled VM event stored",
        50,
      ).catch(() => null);
      const drainMs = performance.now() - tDrain;
      const hostIds = [...hostAcked];
      const hostStored = count(hostIds);
      const vmRowsByTarget = db.query<{ n: number }, [string]>("SELECT count(*) AS n FROM events WHERE target_id = 'vm1' AND event_id IN (SELECT value FROM json_each(?))").get(JSON.stringify(vmAcked))?.n ?? 0;
      if (vmRowsByTarget !== vmStored.rows) problems.push(`${vmStored.rows - vmRowsByTarget} VM events stored under another target`);
      const rejectedPath = join(box.dir, "state", "agtmux", "spool", "rejected.jsonl");
      const rejected = existsSync(rejectedPath) ? readFileSync(rejectedPath, "utf8").split("\n").filter((l) => l !== "").length : 0;

      // ---- states converge to the last acknowledged event per pane (completed demotes to idle after 120 s)
      const want = (x: { state: string; at: number }): string[] => (x.state === "completed" && Date.now() - x.at > 100_000 ? ["completed", "idle"] : [x.state]);
      const mismatches = async (): Promise<FlapsResult["final_state_mismatches"]> => {
        const items = (await api<Panes>(box.socket, "GET", "/v1/panes")).json.items;
        const out: FlapsResult["final_state_mismatches"] = [];
        for (const p of items) {
          const exp = (p.identity.target === "host" ? hostExpected : p.identity.target === "vm1" ? vmExpected : undefined)?.get(p.identity.pane_id);
          if (exp !== undefined && !want(exp).includes(p.state ?? "")) out.push({ target: p.identity.target, pane: p.identity.pane_id, want: exp.state, got: p.state });
        }
        return out;
      };
      await until(async () => (await mismatches()).length === 0 || null, 10_000, "states converge", 100).catch(() => null);
      const mism = await mismatches();

      // ---- the end state: one connection, few channels, one relay, descriptors back, the daemon answers
      const end = await vm1();
      await until(async () => relayProcesses(bin).length <= 1 || null, 20_000, "one relay process on the VM", 200).catch(() => null);
      const relays = relayProcesses(bin).length;
      // the VM's spool is drained and cleaned up: drain files deleted once committed and quiet for 2 s
      const vmSpool = join(vmSshd.vmHome, ".local", "state", "agtmux", "spool");
      const spoolLeft = (): string[] => (existsSync(vmSpool) ? readdirSync(vmSpool).filter((f) => f.startsWith("drain-") || (f === "events.jsonl" && Bun.file(join(vmSpool, f)).size > 0)) : [`(no ${vmSpool})`]);
      await until(async () => spoolLeft().length === 0 || null, 20_000, "the VM's spool files deleted", 200).catch(() => null);
      const spoolFiles = spoolLeft();
      const sshdPid = vmSshd.pid ?? 0;
      await until(async () => childrenOf(sshdPid).length <= 1 || null, 20_000, "one connection process under sshd", 200).catch(() => null);
      const sshdConns = childrenOf(sshdPid).length;
      const fdSlack = 3;
      await until(async () => fdCount(pid) <= fdsBefore + fdSlack || null, 15_000, "daemon fds back to the baseline", 200).catch(() => null);
      const fdsAfter = fdCount(pid);
      const memAfter = memoryOf(pid);
      const h = await api(box.socket, "GET", "/v1/health", undefined, 5_000).catch(() => null);
      const healthTo: Record<string, number> = {};
      for (const l of readFileSync(daemonLog, "utf8").split("\n")) {
        if (!l.includes('"target health changed"')) continue;
        const j = JSON.parse(l) as { target?: string; to?: string };
        if (j.target === "vm1" && j.to !== undefined) healthTo[j.to] = (healthTo[j.to] ?? 0) + 1;
      }
      const readStats = Object.fromEntries(Object.entries(reads).map(([k, v]) => [k, stats(v)]));
      const readMax = Math.max(...Object.values(readStats).map((x) => x.max));
      const recMs = recoveries.map((x) => x.ms);
      const byKind: Record<string, Stats> = {};
      for (const k of new Set(recoveries.map((x) => x.kind))) byKind[k] = stats(recoveries.filter((x) => x.kind === k).map((x) => x.ms));
      const overSlo = recoveries.filter((x) => x.ms > FLAP_SLO_MS);
      const hostMissing = hostIds.length - hostStored.uniq;
      const vmMissing = vmAcked.length - vmStored.uniq;
      const result: FlapsResult = {
        seed: SEED,
        flaps: plan.length,
        kinds,
        chained_mid_reconnect: plan.filter((f) => f.chained).length,
        recoveries: recoveries.length,
        recovery_ms: stats(recMs),
        transport_recovery_ms: stats(recoveries.map((x) => x.transport_ms).filter((x) => !Number.isNaN(x))),
        recovery_ms_by_kind: byKind,
        recovery_slo_ms: FLAP_SLO_MS,
        recoveries_over_slo: overSlo,
        read_ms: readStats,
        read_failures: readFailures,
        slowest_read: slowest,
        read_max_goal_ms: 1_000,
        host_posts: hostPosts,
        host_events_sent: hostSeq,
        host_events_acked: hostAcked.size,
        host_post_ms: stats(postMs),
        host_posts_not_acked: hostNotAcked,
        host_acked_missing: hostMissing,
        vm_emits: vmEmits,
        vm_emit_failures: vmEmitFailures,
        vm_events_acked: vmAcked.length,
        vm_drain_after_recovery_ms: r2(drainMs),
        vm_events_stored: vmStored.uniq,
        vm_events_missing: vmMissing,
        vm_events_stored_twice: vmStored.rows - vmStored.uniq,
        rejected_spool_lines: rejected,
        final_state_mismatches: mism,
        proxy_connections_accepted: px.accepted,
        proxy_live_connections_end: px.liveConnections,
        ssh_end: end?.status?.ssh !== undefined ? { connects: end.status.ssh.connects, reconnects: end.status.ssh.reconnects, channels_open: end.status.ssh.channels_open } : null,
        relay_end: end?.status?.relay != null ? { up: end.status.relay.up, restarts: end.status.relay.restarts } : null,
        relay_processes_end: relays,
        sshd_connection_processes_end: sshdConns,
        vm_spool_files_end: spoolFiles,
        health_changes_to: healthTo,
        daemon_fds: { before: fdsBefore, after: fdsAfter, slack: fdSlack },
        daemon_rss_mib: { before: memBefore.rss_mib, after: memAfter.rss_mib, hwm_after: memAfter.hwm_mib },
        daemon_health_end_ms: h !== null && h.status === 200 ? r2(h.ms) : Number.NaN,
        phase_s: r2((performance.now() - t0Phase) / 1000),
        timeline,
        problems,
        pass: false,
      };
      void tDone;
      const check = (ok: boolean, what: string): void => {
        if (!ok) problems.push(what);
      };
      check(h !== null && h.status === 200, "the daemon does not answer /v1/health at the end");
      check(timeouts === 0 && overSlo.length === 0, `${overSlo.length} recoveries over the ${FLAP_SLO_MS} ms SLO`);
      check(readFailures === 0, `${readFailures} reads failed`);
      check(readMax < 1_000, `a read took ${readMax} ms (goal < 1,000)`);
      check(hostNotAcked === 0, `${hostNotAcked} host POSTs not acknowledged`);
      check(hostMissing === 0, `${hostMissing} acknowledged host events missing`);
      check(vmEmitFailures === 0, `${vmEmitFailures} VM emits failed`);
      check(vmMissing === 0, `${vmMissing} spooled VM events never stored`);
      check(vmStored.rows === vmStored.uniq, "VM events stored twice");
      check(rejected === 0, `${rejected} spool lines rejected`);
      check(mism.length === 0, `${mism.length} panes not in the state of their last event`);
      check(px.liveConnections === 1, `${px.liveConnections} connections to the VM at the end (want 1)`);
      check((result.ssh_end?.channels_open ?? 0) <= 3, `${result.ssh_end?.channels_open} ssh channels open at the end (want <= 3)`);
      check(relays === 1, `${relays} relay processes on the VM at the end (want 1)`);
      check(spoolFiles.length === 0, `${spoolFiles.length} spool files left on the VM: ${spoolFiles.join(", ")}`);
      check(sshdConns === 1, `${sshdConns} connection processes under sshd at the end (want 1)`);
      check(fdsAfter <= fdsBefore + fdSlack, `daemon fds ${fdsBefore} -> ${fdsAfter}`);
      result.pass = problems.length === 0;
      const rs = result.recovery_ms;
      const rd = result.read_ms;
      log(
        `flaps: ${plan.length} flaps (${result.chained_mid_reconnect} mid-reconnect) in ${result.phase_s} s; recovery p50/p95/max ${rs.p50}/${rs.p95}/${rs.max} ms (n ${rs.n}, SLO ${FLAP_SLO_MS}; ssh+health alone ${result.transport_recovery_ms.p50}/${result.transport_recovery_ms.p95}/${result.transport_recovery_ms.max}); ` +
          `reads p50/p95/max panes ${rd["/v1/panes"]?.p50}/${rd["/v1/panes"]?.p95}/${rd["/v1/panes"]?.max}, health ${rd["/v1/health"]?.p50}/${rd["/v1/health"]?.p95}/${rd["/v1/health"]?.max}, targets ${rd["/v1/targets"]?.p50}/${rd["/v1/targets"]?.p95}/${rd["/v1/targets"]?.max} ms, ${readFailures} failed; ` +
          `host ${hostAcked.size} acked / ${hostMissing} missing; VM ${vmAcked.length} spooled / ${vmMissing} missing / ${result.vm_events_stored_twice} twice (drained ${result.vm_drain_after_recovery_ms} ms after); ` +
          `${px.liveConnections} connection(s) (${px.accepted} accepted), ${result.ssh_end?.channels_open} channels, ${relays} relay(s), ${sshdConns} sshd session(s); fds ${fdsBefore} -> ${fdsAfter}; RSS ${memBefore.rss_mib} -> ${memAfter.rss_mib} MiB; ${mism.length} state mismatches`,
      );
      for (const p of problems) log(`flaps problem: ${p}`);
      return result;
    } finally {
      db.close();
    }
  } finally {
    ctl.stop = true;
    proxy?.resume();
    await Promise.allSettled(loops);
    for (const d of dbs) d.close();
    await stopBoxDaemon(daemon);
    if (existsSync(daemonLog)) {
      mkdirSync(OUT, { recursive: true });
      copyFileSync(daemonLog, join(OUT, "soak-flaps-daemon.log"));
    }
    await vmTmux?.("kill-server").catch(() => {});
    proxy?.close();
    await sshd?.stop();
    await host.kill();
    box.cleanup();
    removeTempDirs();
  }
}

/** run() with a payload on stdin */
async function runWithStdin(cmd: string[], env: Record<string, string | undefined>, input: string, timeoutMs = 10_000): Promise<{ code: number; stdout: string; stderr: string }> {
  const p = Bun.spawn(cmd, { env: env as Record<string, string>, stdin: new Blob([input]), stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(timer);
  return { code, stdout, stderr };
}

async function main(): Promise<number> {
  if (!argv.includes("--no-build")) {
    const b = await run([process.execPath, join(ROOT, "scripts", "build.ts"), "--no-smoke"], process.env, 180_000);
    if (b.code !== 0) throw new Error(`build failed:\n${b.stdout}${b.stderr}`);
    log("built dist/agtmux");
  }
  console.log(`soak seed ${SEED} (repeat with --seed=${SEED})`);
  const machine = await machineInfo(process.env);
  const kill = SKIP.has("kill") ? null : await killUnderLoad();
  const lock = SKIP.has("lock") ? null : await lockContention();
  const retention = SKIP.has("retention") ? null : await retentionLargeDb();
  const flaps = SKIP.has("flaps") ? null : await targetFlaps();
  const result = {
    schema: 1,
    benchmark: "soak",
    seed: SEED,
    machine,
    config: { kills: KILLS, kill_events: KILL_EVENTS, lock_s: LOCK_S, rows: ROWS, flaps: FLAPS, skip: [...SKIP] },
    kill_under_load: kill,
    tc052_lock_contention: lock,
    tc012_tc013_retention_large_db: retention,
    tc034_target_flaps: flaps,
    fd_note: `bench process fds at the end: ${fdCount(process.pid)}`,
    total_s: r2((performance.now() - T0) / 1000),
  };
  mkdirSync(OUT, { recursive: true });
  writeFileSync(join(OUT, "soak.json"), `${JSON.stringify(result, null, 2)}\n`);
  const line = (name: string, x: { pass: boolean } | null): void => console.log(`${x === null ? "SKIP" : x.pass ? "PASS" : "FAIL"}  ${name}`);
  console.log("");
  line("kill -9 under load: acked events kept, states = replay", kill);
  line("TC-052 lock contention: acked events kept, states consistent", lock);
  line("TC-012/TC-013 retention on a large DB, health responsive, index-backed plans", retention);
  line("TC-034 repeated target flaps: no deadlock, recovers within 15 s, reads never wait, no event lost, nothing leaked", flaps);
  console.log(`\nwrote bench/out/soak.json; seed ${SEED}; total ${result.total_s} s`);
  return [kill, lock, retention, flaps].every((x) => x === null || x.pass) ? 0 : 1;
}

process.exit(await main());
