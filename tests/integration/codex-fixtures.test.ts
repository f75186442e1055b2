/**
 * TC-016: Codex signal normalization on streams recorded from the real CLI
 * (tests/fixtures/codex/0.169.0/<scenario>): each scenario's app-server
 * stream (appserver.jsonl) is replayed through the real collector
 * (src/collector/codex-threads.ts: state machine, rollout, pane mapping) into
 * the real ingestion path, against runtimes placed as the topology observer
 * would see them (cwd, process start). The daemon-mode hooks are replayed too,
 * as `agtmux emit --hook codex` would send them (the stale TMUX_PANE and the
 * daemon as their agent ancestor): they must never bind. `no-daemon` has no
 * app-server: its hooks (correct TMUX_PANE) and notify are replayed instead.
 * Checked: in order, the distinct states each pane shows; then the captured
 * envelopes shuffled with duplicates end in the same state. Seed: TC016_SEED
 * or AGTMUX_SEED.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type CodexAppServerEvent, type CodexAppServerListener, CodexAppServerError, type CodexThreadInfo, type CodexThreadStatus, uuidV7TimeMs } from "../../src/adapters/codex/appserver.ts";
import { codexAdapter } from "../../src/adapters/codex/index.ts";
import { lastTurnOf, type LastTurn } from "../../src/adapters/codex/rollout.ts";
import { AdapterRegistry, coreAdapter } from "../../src/adapters/registry.ts";
import { CodexThreadCollector, type CodexThreadSource } from "../../src/collector/codex-threads.ts";
import type { IngestItem } from "../../src/daemon/ingest.ts";
import { silentLogger } from "../../src/daemon/log.ts";
import type { Envelope } from "../../src/domain/event.ts";
import type { State } from "../../src/domain/model.ts";
import { identifyAgent, matchAgent } from "../../src/procs/agents.ts";
import type { ProcInfo } from "../../src/procs/types.ts";
import type { PaneInfo } from "../../src/tmux/types.ts";
import { type Harness, harness } from "../helpers/harness.ts";
import { mulberry32, seedFromEnv, shuffle } from "../helpers/rng.ts";

const VERSION = "0.169.0";
const DIR = join(import.meta.dir, "..", "fixtures", "codex", VERSION);

/** per pane: the distinct states in order (the last one is the final state) */
const EXPECTED: Record<string, Record<string, State[]>> = {
  plain: { "%0": ["idle", "running", "completed"] },
  "approval-approve": { "%0": ["idle", "running", "waiting_approval", "running", "completed"] },
  "approval-reject": { "%0": ["idle", "running", "waiting_approval", "running", "idle"] },
  interrupt: { "%0": ["idle", "running", "idle"] },
  "model-error": { "%0": ["idle", "running", "error", "running", "completed"] },
  question: { "%0": ["idle", "running", "waiting_input", "running", "completed"] },
  // first TUI: a turn, /quit (runtime ends); a second TUI: a slow turn, killed mid-turn (runtime ends; the thread finishes in the daemon, on no pane)
  "quit-kill": { "%0": ["idle", "running", "completed", "unknown", "idle", "running", "unknown"] },
  "two-panes": {
    "%0": ["idle", "running", "completed"],
    "%1": ["idle", "running", "completed"],
    "%2": ["idle", "running", "waiting_approval", "running", "completed"],
  },
  // hooks + notify under the pane's own TUI; SessionEnd's idle is outranked by notify's completed (precedence)
  "no-daemon": { "%0": ["idle", "running", "completed", "running", "waiting_approval", "running", "completed"] },
};

const PROJECT = "$PROJECT";
const TIMEOUT = 20_000;

// ---------------------------------------------------------------------------
// Reading a scenario

interface AppRec {
  t: number;
  event: CodexAppServerEvent;
}

interface HookRec {
  t: number;
  kind: "hook" | "notify";
  event: string;
  time: string;
  timeMs: number;
  ppid: number;
  parents: (ProcInfo & { comm: string })[];
  env: Record<string, string>;
  stdin?: Record<string, unknown>;
  payload?: Record<string, unknown>;
  argv: string[];
}

interface RuntimePlan {
  pane: string;
  cwd: string;
  pid: number;
  startedAt: number;
  endedAt: number | null;
}

interface Scenario {
  name: string;
  dir: string;
  /** epoch ms of the recording's t = 0 */
  t0: number;
  app: AppRec[];
  hooks: HookRec[];
  notifies: HookRec[];
  threads: Map<string, CodexThreadInfo>;
  runtimes: RuntimePlan[];
  notes: Record<string, unknown>;
  daemonMode: boolean;
}

function readJsonl<T>(path: string): T[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as T);
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** every thread object anywhere in a JSON value (notes, mapping.json) */
function threadObjects(v: unknown, out: CodexThreadInfo[] = []): CodexThreadInfo[] {
  if (Array.isArray(v)) for (const x of v) threadObjects(x, out);
  else if (isObj(v)) {
    if (typeof v.id === "string" && typeof v.cwd === "string" && typeof v.createdAtMs === "number" && isObj(v.status)) out.push(v as unknown as CodexThreadInfo);
    else for (const x of Object.values(v)) threadObjects(x, out);
  }
  return out;
}

function synthThread(id: string, cwd: string, preview: string): CodexThreadInfo {
  const ms = uuidV7TimeMs(id) ?? 0;
  return {
    id,
    cwd,
    source: "vscode",
    originator: "codex-tui",
    preview,
    createdAt: Math.floor(ms / 1000),
    createdAtMs: ms,
    updatedAt: Math.floor(ms / 1000),
    status: { type: "idle" },
    ephemeral: false,
    path: `$HOME/.codex/sessions/rollout-${id}.jsonl`,
    name: null,
    sessionId: id,
    parentThreadId: null,
    cliVersion: VERSION,
  };
}

/** the pane's agent as the topology observer identifies it (closest to the pane: the npm launcher) */
function agentOf(procs: ProcInfo[], panePid: number): { pid: number; started_at: number } {
  const byPid = new Map<number, ProcInfo>();
  const children = new Map<number, number[]>();
  for (const p of procs) {
    byPid.set(p.pid, p);
    children.set(p.ppid, [...(children.get(p.ppid) ?? []), p.pid]);
  }
  const a = identifyAgent({ taken_at: 0, byPid, children }, panePid);
  if (a === null) throw new Error("no agent in the recorded processes");
  return { pid: a.pid, started_at: a.started_at };
}

function load(name: string): Scenario {
  const dir = join(DIR, name);
  const app = readJsonl<AppRec>(join(dir, "appserver.jsonl"));
  const hooks = readJsonl<HookRec>(join(dir, "hooks.jsonl"));
  const notifies = readJsonl<HookRec>(join(dir, "notify.jsonl"));
  const notes = existsSync(join(dir, "notes.json")) ? (JSON.parse(readFileSync(join(dir, "notes.json"), "utf8")) as Record<string, unknown>) : {};
  const mapping = existsSync(join(dir, "mapping.json")) ? (JSON.parse(readFileSync(join(dir, "mapping.json"), "utf8")) as Record<string, unknown>) : {};
  const withRecv = app.find((r) => "receivedAt" in r.event);
  const t0 = withRecv !== undefined ? withRecv.event.receivedAt - withRecv.t : ((hooks[0]?.timeMs ?? 0) - (hooks[0]?.t ?? 0));

  // what the fake daemon knows about each thread: thread/started, notes, mapping.json, the legend of sequence.txt
  const threads = new Map<string, CodexThreadInfo>();
  for (const r of app) if (r.event.type === "thread/started") threads.set(r.event.thread.id, r.event.thread);
  for (const t of [...threadObjects(notes), ...threadObjects(mapping)]) {
    const prev = threads.get(t.id);
    threads.set(t.id, { ...(prev ?? t), ...t, ephemeral: prev?.ephemeral ?? t.ephemeral, preview: t.preview !== "" ? t.preview : (prev?.preview ?? "") });
  }
  const seq = existsSync(join(dir, "sequence.txt")) ? readFileSync(join(dir, "sequence.txt"), "utf8") : "";
  for (const m of seq.matchAll(/^# \S+ = ([0-9a-f-]{36})(.*)$/gm)) {
    const id = m[1] as string;
    const rest = m[2] ?? "";
    if (/ephemeral/.test(rest)) {
      if (!threads.has(id)) threads.set(id, { ...synthThread(id, PROJECT, ""), ephemeral: true, path: null });
      continue;
    }
    const cwd = /cwd=(\S+)/.exec(rest)?.[1] ?? PROJECT;
    const preview = /preview="([^"]*)"/.exec(rest)?.[1] ?? "";
    if (!threads.has(id)) threads.set(id, synthThread(id, cwd, preview));
    else if (preview !== "" && threads.get(id)?.preview === "") threads.set(id, { ...(threads.get(id) as CodexThreadInfo), preview });
  }
  // ids that only appear in the stream
  for (const r of app) {
    if (r.event.type === "thread/status/changed" && !threads.has(r.event.threadId)) threads.set(r.event.threadId, synthThread(r.event.threadId, PROJECT, ""));
  }

  const users = [...threads.values()].filter((t) => !t.ephemeral).toSorted((a, b) => a.createdAtMs - b.createdAtMs);
  const runtimes: RuntimePlan[] = [];
  const plan = (pane: string, cwd: string, pid: number, startedAt: number, endedAt: number | null): void => {
    runtimes.push({ pane, cwd, pid, startedAt, endedAt });
  };
  if (Array.isArray(mapping.panes)) {
    for (const p of mapping.panes as { pane: string; pane_pid: number; cwd: string; processes: ProcInfo[] }[]) {
      const a = agentOf(p.processes, p.pane_pid);
      plan(p.pane, p.cwd, a.pid, a.started_at, null);
    }
  } else if (Array.isArray(notes.processes) && typeof notes.panePid === "number") {
    const a = agentOf(notes.processes as ProcInfo[], notes.panePid);
    // kept alive to the end: every hook, SessionEnd included, is the pane's (the runtime's end is quit-kill's subject)
    plan("%0", PROJECT, a.pid, a.started_at, null);
  } else if (Array.isArray(notes.processesBeforeKill)) {
    // quit-kill: the first TUI (its processes were not recorded) until /quit, then the second until the kill
    const first = users[0];
    if (first === undefined) throw new Error(`${name}: no thread`);
    plan("%0", PROJECT, 4001, first.createdAtMs - 1_500, t0 + Number(notes.quitAt) + 300);
    const procs = notes.processesBeforeKill as ProcInfo[];
    const shell = procs.find((p) => p.argv[0] === "bash");
    const a = agentOf(procs, shell?.pid ?? 0);
    plan("%0", PROJECT, a.pid, a.started_at, t0 + Number(notes.killAt) + 100);
  } else {
    const first = users[0];
    if (first === undefined) throw new Error(`${name}: no thread`);
    plan("%0", first.cwd, 4001, first.createdAtMs - 1_500, null);
  }
  return { name, dir, t0, app, hooks, notifies, threads, runtimes, notes, daemonMode: app.length > 0 };
}

// ---------------------------------------------------------------------------
// The fake Codex daemon the collector talks to (replays the recorded stream)

class ReplaySource implements CodexThreadSource {
  connected = false;
  private readonly listeners = new Set<CodexAppServerListener>();
  private readonly status = new Map<string, CodexThreadStatus>();
  private readonly closed = new Set<string>();
  private readonly active = new Set<string>();
  constructor(
    private readonly threads: Map<string, CodexThreadInfo>,
    private readonly now: () => number,
  ) {}
  on(l: CodexAppServerListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  start(): void {}
  async close(): Promise<void> {
    this.connected = false;
  }
  async loadedThreads(): Promise<string[]> {
    return [...this.threads.values()].filter((t) => t.createdAtMs <= this.now() && !this.closed.has(t.id)).map((t) => t.id);
  }
  async readThread(id: string): Promise<CodexThreadInfo> {
    const t = this.threads.get(id);
    if (t === undefined || t.createdAtMs > this.now()) throw new CodexAppServerError("rpc_error", `thread/read: unknown thread ${id}`);
    // the preview (first prompt) exists once a turn has started
    return { ...t, preview: this.active.has(id) ? t.preview : "", status: this.status.get(id) ?? { type: "idle" } };
  }
  deliver(ev: CodexAppServerEvent): void {
    if (ev.type === "connected") this.connected = true;
    if (ev.type === "disconnected") this.connected = false;
    if (ev.type === "thread/status/changed") {
      this.status.set(ev.threadId, ev.status);
      if (ev.status.type === "active") this.active.add(ev.threadId);
    }
    if (ev.type === "thread/closed") this.closed.add(ev.threadId);
    for (const l of this.listeners) l(ev);
  }
}

/** The rollout of a thread as it was at `now`: its lines up to then. */
function rolloutReader(dir: string, now: () => number): (path: string) => LastTurn | null {
  const files = readdirSync(dir).filter((f) => /^rollout(-\d+)?\.jsonl$/.test(f));
  const byThread = new Map<string, string[]>();
  for (const f of files) {
    const lines = readFileSync(join(dir, f), "utf8").split("\n");
    const meta = lines[0] === undefined || lines[0] === "" ? null : (JSON.parse(lines[0]) as { payload?: { id?: string } });
    if (typeof meta?.payload?.id === "string") byThread.set(meta.payload.id, lines);
  }
  return (path) => {
    const id = /([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.jsonl$/.exec(path)?.[1];
    const lines = id === undefined ? undefined : byThread.get(id);
    if (lines === undefined) return null;
    const upTo = lines.filter((l) => {
      const m = /"timestamp":"([^"]+)"/.exec(l);
      return m !== null && Date.parse(m[1] as string) <= now();
    });
    return lastTurnOf(upTo.join("\n"));
  };
}

function screensOf(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const sdir = join(dir, "screens");
  if (!existsSync(sdir)) return out;
  for (const f of readdirSync(sdir).toSorted()) {
    const m = /^\d+-pane(\d)-/.exec(f);
    if (m !== null) out.set(`%${Number(m[1]) - 1}`, readFileSync(join(sdir, f), "utf8")); // the latest shot of each pane
  }
  return out;
}

// ---------------------------------------------------------------------------
// Replay

function paneInfo(pane: string, cwd: string): PaneInfo {
  const n = Number(pane.slice(1));
  return {
    session_id: "$0",
    session_name: "lab",
    session_created: 0,
    session_attached: 0,
    window_id: `@${n}`,
    window_index: n,
    window_name: "codex",
    window_active: n === 0,
    window_zoomed: false,
    pane_id: pane,
    pane_index: 0,
    pane_active: true,
    pane_dead: false,
    pane_pid: 100 + n,
    pane_current_command: "node",
    pane_current_path: cwd,
    pane_title: "",
    pane_width: 200,
    pane_height: 50,
  };
}

function hookEnvelope(s: Scenario, h: HookRec, i: number): Envelope {
  const agent = h.parents.find((p) => matchAgent(p) === "codex");
  const payload = h.kind === "hook" ? (h.stdin ?? {}) : (h.payload ?? {});
  const name = h.kind === "hook" ? String(payload.hook_event_name ?? h.event) : String(payload.type ?? h.event);
  return {
    event_id: `${s.name}-${h.kind}-${i}`,
    event_type: `codex.${name}`,
    source: h.kind === "hook" ? "hook" : "notify",
    dedupe_key: `${s.name}-${h.kind}-${i}`,
    event_time: h.time,
    target_id: "host",
    pane_id: h.env.TMUX_PANE ?? "%0",
    agent_type: "codex",
    raw_payload: payload,
    // daemon mode: as `agtmux emit --hook codex` would send it, its agent ancestor is the app-server daemon
    ...(s.daemonMode && agent !== undefined ? { pid: agent.pid } : {}),
  };
}

type Step = { at: number } & ({ kind: "app"; rec: AppRec } | { kind: "env"; envelope: Envelope } | { kind: "scan" });

interface Replayed {
  states: Map<string, State[]>;
  final: Map<string, State>;
  items: { item: IngestItem; pane: string; runtime: number }[];
  hookResults: string[];
}

/** How the topology observer sees the panes: periodic scans, and (nudged) a scan at once when asked. */
interface Topology {
  intervalMs: number;
  nudged: boolean;
}

const NORMAL: Topology = { intervalMs: 2_000, nudged: true };
const SLOW: Topology = { intervalMs: 10_000, nudged: false };

function paneState(h: Harness, pane: string): State {
  return h.store.getState("host", pane)?.state ?? "unknown";
}

function setup(s: Scenario): Harness {
  const h = harness({ registry: new AdapterRegistry([coreAdapter, codexAdapter]), now: s.t0 - 60_000 });
  const panes = [...new Map(s.runtimes.map((r) => [r.pane, paneInfo(r.pane, r.cwd)])).values()];
  h.store.replacePanes("host", "boot-1", panes, h.clock.nowMs);
  return h;
}

async function replayInOrder(s: Scenario, topo: Topology = NORMAL): Promise<Replayed> {
  const h = setup(s);
  const source = new ReplaySource(s.threads, h.clock.now);
  const items: Replayed["items"] = [];
  const runtimeIds: (string | null)[] = s.runtimes.map(() => null);
  let scanWanted = false;
  const collector = new CodexThreadCollector({
    targetId: "host",
    store: h.store,
    ingestor: {
      ingest: (batch) => {
        for (const item of batch) {
          const rt = h.store.getRuntime(item.envelope.runtime_id ?? "");
          items.push({ item, pane: rt?.pane_id ?? "?", runtime: runtimeIds.indexOf(item.envelope.runtime_id ?? "") });
        }
        return h.ingestor.ingest(batch);
      },
    },
    clock: h.clock.now,
    log: silentLogger,
    source,
    requestScan: () => {
      if (topo.nudged) scanWanted = true;
    },
    captureScreens: async (ids) => {
      const all = screensOf(s.dir);
      return new Map([...all].filter(([k]) => ids.includes(k)));
    },
    readLastTurn: rolloutReader(s.dir, h.clock.now),
    rolloutWait: { attempts: 1, delayMs: 0 },
    tickMs: 1e9,
  });
  collector.start();

  /** one topology scan at the current clock: runtimes started by now appear, ended ones end */
  const scan = (): void => {
    const now = h.clock.nowMs;
    s.runtimes.forEach((p, i) => {
      const id = runtimeIds[i];
      if (id === null && p.startedAt <= now && (p.endedAt === null || p.endedAt > now)) {
        runtimeIds[i] = h.startRuntime(p.pane, { agent: "codex", pid: p.pid, startedAt: p.startedAt });
      } else if (id !== null && id !== undefined && p.endedAt !== null && p.endedAt <= now && h.store.getRuntime(id)?.ended_at === null) {
        h.endRuntime(p.pane);
      }
    });
    h.store.setTopologyObserved("host", now);
  };

  const steps: Step[] = [];
  for (const r of s.app) steps.push({ at: s.t0 + r.t, kind: "app", rec: r });
  const sigs = s.daemonMode ? s.hooks : [...s.hooks, ...s.notifies];
  sigs.forEach((x, i) => steps.push({ at: x.timeMs, kind: "env", envelope: hookEnvelope(s, x, i) }));
  const last = Math.max(...steps.map((x) => x.at), ...s.runtimes.map((r) => r.endedAt ?? 0));
  for (let at = Math.min(...s.runtimes.map((r) => r.startedAt)) - 500; at <= last + topo.intervalMs; at += topo.intervalMs) steps.push({ at, kind: "scan" });
  // a scan ends its step after an event at the same ms
  steps.sort((a, b) => a.at - b.at || (a.kind === "scan" ? 1 : 0) - (b.kind === "scan" ? 1 : 0));

  const states = new Map<string, State[]>();
  const panes = [...new Set(s.runtimes.map((r) => r.pane))];
  const record = (): void => {
    for (const p of panes) {
      const st = paneState(h, p);
      const seq = states.get(p) ?? [];
      if (seq.length === 0 ? st !== "unknown" : seq[seq.length - 1] !== st) seq.push(st);
      states.set(p, seq);
    }
  };
  const hookIds: string[] = [];
  for (const st of steps) {
    h.clock.nowMs = Math.max(h.clock.nowMs, st.at);
    if (st.kind === "app") source.deliver(st.rec.event);
    else if (st.kind === "env") {
      hookIds.push(st.envelope.event_id);
      const item: IngestItem = { envelope: st.envelope, queuedAt: st.at };
      h.ingestor.ingest([item]);
      const active = h.store.activeRuntime("host", st.envelope.pane_id ?? "");
      if (!s.daemonMode && active !== null) items.push({ item, pane: active.pane_id, runtime: runtimeIds.indexOf(active.runtime_id) });
    } else scan();
    await collector.idle();
    if (st.kind === "scan") await collector.poll();
    record();
    while (scanWanted) {
      // the topology observer's debounced scan, then the collector's next tick
      scanWanted = false;
      h.clock.nowMs += 15;
      scan();
      await collector.poll();
      record();
    }
  }
  await collector.stop();
  h.clock.nowMs += 1_000; // before the 120 s completed -> idle demotion
  h.ingestor.refreshAll();
  record();
  const final = new Map(panes.map((p) => [p, paneState(h, p)]));
  const hookResults = hookIds.map((id) => h.store.getInbox(id)?.status ?? (h.store.eventIdSeen(id) ? "applied" : "none"));
  h.close();
  return { states, final, items, hookResults };
}

/** The same envelopes, shuffled with duplicates, runtime by runtime (a runtime's events only exist while it lives). */
function replayShuffled(s: Scenario, rec: Replayed, rnd: () => number): Map<string, State> {
  const h = setup(s);
  const sorted = s.runtimes.toSorted((a, b) => a.startedAt - b.startedAt);
  const end = Math.max(...rec.items.map((x) => x.item.queuedAt ?? 0), h.clock.nowMs);
  sorted.forEach((plan) => {
    const i = s.runtimes.indexOf(plan);
    h.clock.nowMs = Math.max(h.clock.nowMs, plan.startedAt);
    h.startRuntime(plan.pane, { agent: "codex", pid: plan.pid, startedAt: plan.startedAt });
    const mine = rec.items.filter((x) => x.runtime === i).map((x) => x.item);
    const batch = shuffle([...mine, ...mine.filter(() => rnd() < 0.3)], rnd);
    for (const it of batch) {
      h.clock.nowMs = Math.max(h.clock.nowMs, it.queuedAt ?? 0);
      h.ingestor.ingest([it]);
    }
    if (plan.endedAt !== null) {
      h.clock.nowMs = Math.max(h.clock.nowMs, plan.endedAt);
      h.endRuntime(plan.pane);
    }
  });
  h.clock.nowMs = Math.max(h.clock.nowMs, end) + 1_000;
  h.ingestor.refreshAll();
  const out = new Map([...new Set(s.runtimes.map((r) => r.pane))].map((p) => [p, paneState(h, p)]));
  h.close();
  return out;
}

function isSubsequence(xs: readonly State[], of: readonly State[]): boolean {
  let j = 0;
  for (const x of xs) {
    while (j < of.length && of[j] !== x) j++;
    if (j === of.length) return false;
    j++;
  }
  return true;
}

describe(`Codex ${VERSION} fixtures (TC-016)`, () => {
  const scenarios = existsSync(DIR) ? readdirSync(DIR).filter((d) => existsSync(join(DIR, d, "appserver.jsonl"))) : [];

  test("every recorded scenario has an expectation", () => {
    expect(scenarios.filter((s) => EXPECTED[s] === undefined)).toEqual([]);
  });

  for (const name of Object.keys(EXPECTED)) {
    test(
      `TC-016 ${name}: in order, the states each pane shows; shuffled with duplicates, the same end`,
      async () => {
        if (!existsSync(join(DIR, name, "appserver.jsonl"))) throw new Error(`fixture missing: ${name}`);
        const s = load(name);
        const expected = EXPECTED[name] as Record<string, State[]>;
        const rec = await replayInOrder(s);
        expect(Object.fromEntries(rec.states)).toEqual(expected);
        for (const [pane, seq] of Object.entries(expected)) expect([pane, rec.final.get(pane)]).toEqual([pane, seq[seq.length - 1] as State]);
        // daemon mode: every hook carries the pane that started the daemon; none of them may land on a pane
        if (s.daemonMode) {
          expect(rec.hookResults.length).toBe(s.hooks.length);
          expect(rec.hookResults.filter((r) => r !== "pending_bind" && r !== "dropped_unbound")).toEqual([]);
        } else {
          expect(rec.hookResults.every((r) => r === "bound")).toBe(true);
        }
        const seed = seedFromEnv("TC016_SEED", Date.now());
        const rnd = mulberry32(seed);
        const inOrderFinal = Object.fromEntries(rec.final);
        expect(rec.items.length).toBeGreaterThan(0);
        for (let k = 0; k < 20; k++) {
          const final = Object.fromEntries(replayShuffled(s, rec, rnd));
          if (JSON.stringify(final) !== JSON.stringify(inOrderFinal)) {
            throw new Error(`${name}: shuffle ${k} (seed ${seed}) ended ${JSON.stringify(final)}, in order ${JSON.stringify(inOrderFinal)}`);
          }
        }
        // a slow topology observer (10 s scans, no nudges): states wait for their pane, some are skipped, none lands on a wrong pane
        if (s.daemonMode) {
          const slow = await replayInOrder(s, SLOW);
          for (const [pane, seq] of Object.entries(expected)) {
            const got = slow.states.get(pane) ?? [];
            expect([pane, isSubsequence(got, seq)]).toEqual([pane, true]);
            expect([pane, slow.final.get(pane)]).toEqual([pane, seq[seq.length - 1] as State]);
          }
        }
      },
      TIMEOUT,
    );
  }
});
