/**
 * The Codex thread collector (src/collector/codex-threads.ts) against a
 * scripted app-server source and an in-memory store: catch-up on connect and
 * reconnect, rollout-decided turn ends, ended runtimes, `/new`, ambiguity,
 * heartbeats, and a missing daemon.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type CodexAppServerEvent, type CodexAppServerListener, CodexAppServerError, type CodexThreadInfo, type CodexThreadStatus } from "../../src/adapters/codex/appserver.ts";
import { codexAdapter } from "../../src/adapters/codex/index.ts";
import { AdapterRegistry, coreAdapter } from "../../src/adapters/registry.ts";
import { CodexThreadCollector, type CodexThreadCollectorDeps, PENDING_TTL_MS, RUNNING_HEARTBEAT_MS } from "../../src/collector/codex-threads.ts";
import { silentLogger } from "../../src/daemon/log.ts";
import type { State } from "../../src/domain/model.ts";
import type { PaneInfo } from "../../src/tmux/types.ts";
import { type Harness, harness, T0 } from "../helpers/harness.ts";

const tmp = mkdtempSync(join(process.env.AGTMUX_TEST_ROOT ?? tmpdir(), "cxcol-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** a UUIDv7-looking id whose time is `ms` */
function v7(ms: number, n: number): string {
  const hex = ms.toString(16).padStart(12, "0");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7${n.toString(16).padStart(3, "0")}-8000-${n.toString(16).padStart(12, "0")}`;
}

function thread(id: string, createdAtMs: number, over: Partial<CodexThreadInfo> = {}): CodexThreadInfo {
  return {
    id,
    cwd: "/w/proj",
    source: "vscode",
    originator: "codex-tui",
    preview: "",
    createdAt: Math.floor(createdAtMs / 1000),
    createdAtMs,
    updatedAt: Math.floor(createdAtMs / 1000),
    status: { type: "idle" },
    ephemeral: false,
    path: null,
    name: null,
    sessionId: id,
    parentThreadId: null,
    cliVersion: "0.169.0",
    ...over,
  };
}

class FakeSource {
  connected = false;
  readonly threads = new Map<string, CodexThreadInfo>();
  private readonly listeners = new Set<CodexAppServerListener>();
  reads = 0;
  on(l: CodexAppServerListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  start(): void {}
  async close(): Promise<void> {
    this.connected = false;
  }
  async loadedThreads(): Promise<string[]> {
    if (!this.connected) throw new CodexAppServerError("closed", "not connected");
    return [...this.threads.keys()];
  }
  async readThread(id: string): Promise<CodexThreadInfo> {
    this.reads++;
    const t = this.threads.get(id);
    if (!this.connected || t === undefined) throw new CodexAppServerError("rpc_error", "no such thread");
    return t;
  }
  send(ev: CodexAppServerEvent): void {
    for (const l of this.listeners) l(ev);
  }
  connect(now: number): void {
    this.connected = true;
    this.send({ type: "connected", receivedAt: now, userAgent: "codex", codexHome: "/h/.codex", socketPath: "/h/.codex/sock" });
  }
  disconnect(now: number): void {
    this.connected = false;
    this.send({ type: "disconnected", receivedAt: now, error: new CodexAppServerError("closed", "daemon went away") });
  }
  status(id: string, status: CodexThreadStatus, at: number): void {
    const t = this.threads.get(id);
    if (t !== undefined) this.threads.set(id, { ...t, status, updatedAt: Math.floor(at / 1000) });
    this.send({ type: "thread/status/changed", threadId: id, status, receivedAt: at, emittedAtMs: at });
  }
  started(t: CodexThreadInfo, at: number): void {
    this.threads.set(t.id, t);
    this.send({ type: "thread/started", thread: t, receivedAt: at, emittedAtMs: at });
  }
}

function pane(id: string, cwd: string): PaneInfo {
  const n = Number(id.slice(1));
  return {
    session_id: "$0",
    session_name: "s",
    session_created: 0,
    session_attached: 0,
    window_id: `@${n}`,
    window_index: n,
    window_name: "w",
    window_active: false,
    window_zoomed: false,
    pane_id: id,
    pane_index: 0,
    pane_active: true,
    pane_dead: false,
    pane_pid: 10 + n,
    pane_current_command: "node",
    pane_current_path: cwd,
    pane_title: "",
    pane_width: 80,
    pane_height: 24,
  };
}

interface Rig {
  h: Harness;
  src: FakeSource;
  c: CodexThreadCollector;
  state(pane: string): State | undefined;
  /** all envelopes the collector ingested */
  types: string[];
  settle(): Promise<void>;
  scan(): void;
}

function rig(panes: [string, string][], o: Partial<CodexThreadCollectorDeps> & { h?: Harness; src?: FakeSource } = {}): Rig {
  const h = o.h ?? harness({ registry: new AdapterRegistry([coreAdapter, codexAdapter]) });
  if (o.h === undefined) h.store.replacePanes("host", "boot-1", panes.map(([p, cwd]) => pane(p, cwd)), h.clock.nowMs);
  const src = o.src ?? new FakeSource();
  const types: string[] = [];
  const c = new CodexThreadCollector({
    targetId: "host",
    store: h.store,
    ingestor: {
      ingest: (items) => {
        for (const it of items) types.push(it.envelope.event_type);
        return h.ingestor.ingest(items);
      },
    },
    clock: h.clock.now,
    log: silentLogger,
    source: src,
    rolloutWait: { attempts: 1, delayMs: 0 },
    tickMs: 1e9,
    ...o,
  });
  c.start();
  return {
    h,
    src,
    c,
    types,
    state: (p) => h.store.getState("host", p)?.state,
    settle: async () => {
      await c.idle();
      await c.poll();
    },
    scan: () => h.store.setTopologyObserved("host", h.clock.nowMs),
  };
}

const active = (...flags: string[]): CodexThreadStatus => ({ type: "active", activeFlags: flags });
const IDLE: CodexThreadStatus = { type: "idle" };

function rollout(name: string, lines: Record<string, unknown>[]): string {
  const p = join(tmp, name);
  writeFileSync(p, lines.map((l) => JSON.stringify(l)).join("\n") + "\n");
  return p;
}
const ev = (ts: number, payload: Record<string, unknown>): Record<string, unknown> => ({ timestamp: new Date(ts).toISOString(), ordinal: 0, type: "event_msg", payload });

describe("CodexThreadCollector", () => {
  test("a live turn: thread/started → idle, active → running, approval, idle → completed (no rollout: completed)", async () => {
    const r = rig([["%1", "/w/proj"]]);
    r.h.startRuntime("%1", { agent: "codex", startedAt: T0 - 2_000 });
    r.src.connect(T0);
    await r.settle();
    const id = v7(T0 - 800, 1);
    r.h.clock.nowMs = T0 + 100;
    r.scan();
    r.src.started(thread(id, T0 - 800), T0 + 100);
    await r.settle();
    expect(r.state("%1")).toBe("idle");
    r.h.clock.nowMs = T0 + 1_000;
    r.src.status(id, active(), T0 + 1_000);
    await r.settle();
    expect(r.state("%1")).toBe("running");
    r.src.status(id, active("waitingOnApproval"), T0 + 1_500);
    await r.settle();
    expect(r.state("%1")).toBe("waiting_approval");
    r.src.status(id, active(), T0 + 2_500);
    r.src.status(id, IDLE, T0 + 3_000);
    r.h.clock.nowMs = T0 + 3_000;
    await r.settle();
    expect(r.state("%1")).toBe("completed");
    expect(r.types).toEqual(["codex.thread.idle", "codex.thread.running", "codex.thread.waiting_approval", "codex.thread.running", "codex.thread.completed"]);
    // the envelope: notify source, runtime bound, event time = emittedAtMs
    const rows = r.h.store.eventsForRuntime(r.h.store.activeRuntime("host", "%1")?.runtime_id ?? "", "notify", 10);
    expect(rows.length).toBe(5);
    expect(rows.every((e) => e.outcome === "applied")).toBe(true);
    expect(rows.map((e) => e.event_time).toSorted()).toEqual([T0 + 100, T0 + 1_000, T0 + 1_500, T0 + 2_500, T0 + 3_000]);
    expect(r.c.health()).toMatchObject({ status: "ok", connected: true, threads: 1, mapped: 1, pending: 0 });
    await r.c.stop();
    r.h.close();
  });

  test("the rollout decides how a turn ended: error, interrupted → idle; a stale end of the previous turn is not this turn's", async () => {
    const path = rollout("turns.jsonl", []);
    const r = rig([["%1", "/w/proj"]]);
    r.h.startRuntime("%1", { agent: "codex", startedAt: T0 - 2_000 });
    const id = v7(T0 - 800, 2);
    r.src.threads.set(id, thread(id, T0 - 800, { path }));
    r.h.clock.nowMs = T0;
    r.scan();
    r.src.connect(T0);
    await r.settle();
    expect(r.state("%1")).toBe("idle");
    appendFileSync(path, `${JSON.stringify(ev(T0 + 500, { type: "task_started", turn_id: "a" }))}\n${JSON.stringify(ev(T0 + 900, { type: "task_complete", turn_id: "a", error: { message: "HTTP 400" } }))}\n`);
    r.src.status(id, active(), T0 + 400);
    r.src.status(id, IDLE, T0 + 1_000);
    r.h.clock.nowMs = T0 + 1_000;
    await r.settle();
    expect(r.state("%1")).toBe("error");
    // next turn, Esc: turn_aborted
    appendFileSync(path, `${JSON.stringify(ev(T0 + 2_100, { type: "task_started", turn_id: "b" }))}\n${JSON.stringify(ev(T0 + 2_900, { type: "turn_aborted", turn_id: "b", reason: "interrupted" }))}\n`);
    r.src.status(id, active(), T0 + 2_000);
    r.src.status(id, IDLE, T0 + 3_000);
    r.h.clock.nowMs = T0 + 3_000;
    await r.settle();
    expect(r.state("%1")).toBe("idle");
    // a third turn whose end is not written (yet): the newest end in the file is turn b's, older than this turn → completed
    r.src.status(id, active(), T0 + 10_000);
    r.src.status(id, IDLE, T0 + 11_000);
    r.h.clock.nowMs = T0 + 11_000;
    await r.settle();
    expect(r.state("%1")).toBe("completed");
    await r.c.stop();
    r.h.close();
  });

  test("a turn end written to the rollout a moment after the idle broadcast is waited for", async () => {
    const path = rollout("late.jsonl", [ev(T0 + 500, { type: "task_started", turn_id: "a" })]);
    let reads = 0;
    const r = rig([["%1", "/w/proj"]], {
      rolloutWait: { attempts: 5, delayMs: 1 },
      sleep: async () => {
        reads++;
        if (reads === 2) appendFileSync(path, `${JSON.stringify(ev(T0 + 950, { type: "turn_aborted", turn_id: "a", reason: "interrupted" }))}\n`);
      },
    });
    r.h.startRuntime("%1", { agent: "codex", startedAt: T0 - 2_000 });
    const id = v7(T0 - 800, 3);
    r.src.threads.set(id, thread(id, T0 - 800, { path }));
    r.h.clock.nowMs = T0;
    r.scan();
    r.src.connect(T0);
    await r.settle();
    r.src.status(id, active(), T0 + 400);
    r.src.status(id, IDLE, T0 + 1_000);
    r.h.clock.nowMs = T0 + 1_000;
    await r.settle();
    expect(reads).toBe(2);
    expect(r.state("%1")).toBe("idle");
    await r.c.stop();
    r.h.close();
  });

  test("catch-up: a daemon (re)start learns the current statuses; a reconnect sees the turn that ended meanwhile", async () => {
    const h = harness({ registry: new AdapterRegistry([coreAdapter, codexAdapter]) });
    h.store.replacePanes("host", "boot-1", [pane("%1", "/w/proj")], h.clock.nowMs);
    h.startRuntime("%1", { agent: "codex", startedAt: T0 - 60_000 });
    h.store.setTopologyObserved("host", T0);
    const id = v7(T0 - 58_000, 4);
    const src = new FakeSource();
    src.threads.set(id, thread(id, T0 - 58_000, { status: active("waitingOnApproval"), preview: "run ls" }));
    const a = rig([], { h, src });
    a.src.connect(T0);
    await a.settle();
    expect(a.state("%1")).toBe("waiting_approval");
    // the connection drops; the user approves and the turn finishes meanwhile
    a.src.disconnect(T0 + 1_000);
    src.threads.set(id, thread(id, T0 - 58_000, { status: IDLE, preview: "run ls", updatedAt: Math.floor((T0 + 5_000) / 1000) }));
    h.clock.nowMs = T0 + 6_000;
    a.src.connect(T0 + 6_000);
    await a.settle();
    expect(a.state("%1")).toBe("completed");
    expect(a.c.health().last_connected_at).toBe(T0 + 6_000);
    await a.c.stop();
    // a new daemon (fresh collector): idle at first sight — older than the stored completed, so the pane keeps it
    const b = rig([], { h, src: new FakeSource() });
    b.src.threads.set(id, thread(id, T0 - 58_000, { status: IDLE, preview: "run ls", updatedAt: Math.floor((T0 + 5_000) / 1000) }));
    h.clock.nowMs = T0 + 8_000;
    b.src.connect(T0 + 8_000);
    await b.settle();
    expect(b.state("%1")).toBe("completed");
    await b.c.stop();
    h.close();
  });

  test("a daemon started after a turn ended: the idle thread's rollout says how and when (an old completion demotes to idle)", async () => {
    const path = rollout("ended-while-down.jsonl", [ev(T0 + 1_000, { type: "task_started", turn_id: "a" }), ev(T0 + 1_500, { type: "task_complete", turn_id: "a" })]);
    const r = rig([["%1", "/w/proj"]]);
    r.h.startRuntime("%1", { agent: "codex", startedAt: T0 - 2_000 });
    const id = v7(T0 - 800, 14);
    r.src.threads.set(id, thread(id, T0 - 800, { path, preview: "hello", updatedAt: Math.floor((T0 + 1_500) / 1000) }));
    r.h.clock.nowMs = T0 + 5_000;
    r.scan();
    r.src.connect(T0 + 5_000);
    await r.settle();
    expect(r.state("%1")).toBe("completed");
    const rows = r.h.store.eventsForRuntime(r.h.store.activeRuntime("host", "%1")?.runtime_id ?? "", "notify", 5);
    expect(rows.map((e) => [e.event_type, e.event_time])).toEqual([["codex.thread.completed", T0 + 1_500]]);
    r.h.clock.nowMs = T0 + 1_500 + 121_000;
    r.h.ingestor.reconcile();
    expect(r.state("%1")).toBe("idle");
    await r.c.stop();
    r.h.close();
  });

  test("a thread whose TUI has exited maps to nothing: its later statuses are dropped", async () => {
    const r = rig([["%1", "/w/proj"]]);
    r.h.startRuntime("%1", { agent: "codex", startedAt: T0 - 2_000 });
    const id = v7(T0 - 800, 5);
    r.src.threads.set(id, thread(id, T0 - 800));
    r.h.clock.nowMs = T0;
    r.scan();
    r.src.connect(T0);
    await r.settle();
    r.src.status(id, active(), T0 + 100);
    await r.settle();
    expect(r.state("%1")).toBe("running");
    r.h.clock.nowMs = T0 + 1_000;
    r.h.endRuntime("%1");
    r.src.status(id, IDLE, T0 + 30_000);
    r.h.clock.nowMs = T0 + 30_000;
    await r.settle();
    expect(r.types.at(-1)).toBe("codex.thread.running");
    expect(r.c.mappingOf(id)).toBeNull();
    await r.c.stop();
    r.h.close();
  });

  test("a new conversation in the same TUI (/new): the newest thread speaks for the pane", async () => {
    const r = rig([["%1", "/w/proj"]]);
    r.h.startRuntime("%1", { agent: "codex", startedAt: T0 - 60_000 });
    const old = v7(T0 - 59_000, 6);
    r.src.threads.set(old, thread(old, T0 - 59_000));
    r.h.clock.nowMs = T0;
    r.scan();
    r.src.connect(T0);
    await r.settle();
    const fresh = v7(T0 + 1_000, 7);
    r.h.clock.nowMs = T0 + 1_100;
    r.scan();
    r.src.started(thread(fresh, T0 + 1_000), T0 + 1_100);
    r.src.status(fresh, active(), T0 + 2_000);
    r.h.clock.nowMs = T0 + 2_000;
    await r.settle();
    expect(r.state("%1")).toBe("running");
    // the old thread still finishing something in the daemon does not override the pane
    r.src.status(old, active(), T0 + 2_500);
    r.src.status(old, IDLE, T0 + 3_000);
    r.h.clock.nowMs = T0 + 3_000;
    await r.settle();
    expect(r.state("%1")).toBe("running");
    expect(r.c.mappingOf(old)?.runtime_id).toBe(r.c.mappingOf(fresh)?.runtime_id as string);
    await r.c.stop();
    r.h.close();
  });

  test("two TUIs in one cwd started together: nothing until a screen shows a thread's first prompt; then the other thread is settled too", async () => {
    const screens = new Map<string, string>([
      ["%1", "› Ask Codex to do anything"],
      ["%2", "› fix the build\n\n• Working (1s • esc to interrupt)"],
    ]);
    let captures = 0;
    const r = rig(
      [
        ["%1", "/w/proj"],
        ["%2", "/w/proj"],
      ],
      {
        captureScreens: async (ids) => {
          captures++;
          return new Map([...screens].filter(([k]) => ids.includes(k)));
        },
      },
    );
    r.h.startRuntime("%1", { agent: "codex", startedAt: T0 - 3_000 });
    r.h.startRuntime("%2", { agent: "codex", startedAt: T0 - 2_800 });
    const a = v7(T0 - 1_500, 8); // %2's
    const b = v7(T0 - 1_400, 13); // %1's (its daemon start made it slower)
    r.h.clock.nowMs = T0;
    r.scan();
    r.src.connect(T0);
    await r.settle();
    r.src.started(thread(a, T0 - 1_500), T0);
    r.src.started(thread(b, T0 - 1_400), T0);
    await r.settle();
    await r.settle();
    expect(r.state("%1")).toBe("unknown");
    expect(r.state("%2")).toBe("unknown");
    expect(captures).toBe(0); // no preview yet: screens cannot decide
    expect(r.c.health().pending).toBe(2);
    // the first prompt in %2: the thread's preview is now known and %2 shows it
    r.src.threads.set(a, thread(a, T0 - 1_500, { preview: "fix the build", status: active() }));
    r.h.clock.nowMs = T0 + 5_000;
    r.src.status(a, active(), T0 + 5_000);
    await r.settle();
    expect(captures).toBe(1);
    expect(r.state("%2")).toBe("running");
    expect(r.c.mappingOf(a)).toMatchObject({ pane_id: "%2", rule: "screen_preview", confirmed: true });
    // %2's startup thread is known now: the other one can only be %1's
    await r.settle();
    expect(r.c.mappingOf(b)).toMatchObject({ pane_id: "%1", rule: "startup_window" });
    expect(r.state("%1")).toBe("idle");
    expect(r.c.health().pending).toBe(0);
    await r.c.stop();
    r.h.close();
  });

  test("no mapping against a topology older than the thread: a scan is asked for first", async () => {
    let asked = 0;
    const r = rig(
      [
        ["%1", "/w/proj"],
        ["%2", "/w/proj"],
      ],
      { requestScan: () => asked++ },
    );
    r.h.startRuntime("%1", { agent: "codex", startedAt: T0 - 600_000 });
    r.h.clock.nowMs = T0;
    r.scan();
    r.src.connect(T0);
    await r.settle();
    // a TUI starts in %2 and creates its thread before any scan saw it
    const t = v7(T0 + 1_100, 9);
    r.h.clock.nowMs = T0 + 1_200;
    r.src.started(thread(t, T0 + 1_100), T0 + 1_200);
    await r.settle();
    expect(asked).toBeGreaterThan(0);
    expect(r.state("%1")).toBe("unknown"); // the lone old TUI in the cwd did not get it
    r.h.startRuntime("%2", { agent: "codex", startedAt: T0 });
    r.h.clock.nowMs = T0 + 1_300;
    r.scan();
    await r.settle();
    expect(r.c.mappingOf(t)).toMatchObject({ pane_id: "%2", rule: "startup_window" });
    expect(r.state("%2")).toBe("idle");
    expect(r.state("%1")).toBe("unknown");
    await r.c.stop();
    r.h.close();
  });

  test("ephemeral title threads and unreadable threads never reach a pane; a state waits at most PENDING_TTL_MS", async () => {
    const r = rig([["%1", "/w/proj"]]);
    r.h.startRuntime("%1", { agent: "codex", startedAt: T0 - 2_000 });
    r.h.clock.nowMs = T0;
    r.scan();
    r.src.connect(T0);
    await r.settle();
    const eph = v7(T0 - 500, 10);
    r.src.started(thread(eph, T0 - 500, { ephemeral: true }), T0);
    r.src.status(eph, active(), T0 + 10);
    r.src.status(eph, IDLE, T0 + 20);
    r.src.status(v7(T0 - 400, 11), active(), T0 + 30); // unknown to the daemon
    await r.settle();
    expect(r.types).toEqual([]);
    r.h.clock.nowMs = T0 + PENDING_TTL_MS + 1_000;
    await r.settle();
    expect(r.c.health().pending).toBe(0);
    await r.c.stop();
    r.h.close();
  });

  test("a long turn stays fresh: running re-asserted by heartbeats", async () => {
    const r = rig([["%1", "/w/proj"]]);
    r.h.startRuntime("%1", { agent: "codex", startedAt: T0 - 2_000 });
    const id = v7(T0 - 800, 12);
    r.src.threads.set(id, thread(id, T0 - 800));
    r.h.clock.nowMs = T0;
    r.scan();
    r.src.connect(T0);
    await r.settle();
    r.src.status(id, active(), T0 + 100);
    await r.settle();
    r.h.clock.nowMs = T0 + RUNNING_HEARTBEAT_MS + 200;
    await r.settle();
    expect(r.types).toEqual(["codex.thread.idle", "codex.thread.running", "heartbeat"]);
    expect(r.state("%1")).toBe("running");
    await r.c.stop();
    r.h.close();
  });

  test("no Codex daemon: the real client stays idle, retries quietly, reports itself down; stop is clean", async () => {
    const home = join(tmp, "no-daemon-home");
    mkdirSync(home, { recursive: true });
    const h = harness({ registry: new AdapterRegistry([coreAdapter, codexAdapter]) });
    const c = new CodexThreadCollector({ targetId: "host", store: h.store, ingestor: h.ingestor, clock: h.clock.now, log: silentLogger, env: { CODEX_HOME: home } });
    c.start();
    expect(c.socketPath).toBe(join(home, "app-server-control", "app-server-control.sock"));
    await Bun.sleep(300); // a connect attempt or two
    expect(c.health()).toMatchObject({ status: "down", connected: false, threads: 0, detail: "no Codex app-server socket (no Codex TUI has started its daemon)" });
    await c.stop();
    h.close();
  });
});
