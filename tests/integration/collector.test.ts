/**
 * The topology collector against real tmux servers and real processes named
 * like the agents: runtime identity (TC-003/TC-004), pane churn and server
 * restarts (TC-041), failures (tmux missing/dead), one list-panes per scan.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { controlFactory } from "../../src/collector/control-factory.ts";
import { TopologyCollector } from "../../src/collector/topology.ts";
import { silentLogger } from "../../src/daemon/log.ts";
import { snapshotProcesses } from "../../src/procs/table.ts";
import { LocalExecutor } from "../../src/targets/executor.ts";
import { Tmux } from "../../src/tmux/tmux.ts";
import { type Harness, harness } from "../helpers/harness.ts";
import { waitFor } from "../helpers/wait.ts";
import { RecordingExecutor, removeTempDirs, startTmuxServer, tempDir, type TmuxServer } from "../tmux/harness.ts";

let h: Harness | undefined;
let server: TmuxServer | undefined;
let collector: TopologyCollector | undefined;
afterEach(async () => {
  collector?.stop();
  collector = undefined;
  await server?.kill().catch(() => {});
  server = undefined;
  h?.close();
  h = undefined;
  removeTempDirs();
});

/** executables named like the agents (copies of sleep) and a node-wrapped codex */
function fakeAgents(): { bin: string; codexJs: string } {
  const dir = tempDir("agents-");
  const bin = join(dir, "bin");
  mkdirSync(bin);
  for (const name of ["claude", "codex", "gemini", "cursor-agent"]) copyFileSync("/bin/sleep", join(bin, name));
  const pkg = join(dir, "node_modules", "@openai", "codex", "bin");
  mkdirSync(pkg, { recursive: true });
  writeFileSync(join(pkg, "codex.js"), "setInterval(() => {}, 1e9);\n");
  return { bin, codexJs: join(pkg, "codex.js") };
}

async function setup(o: { session?: string; command?: string[]; control?: boolean; intervalMs?: number } = {}): Promise<{ h: Harness; server: TmuxServer; c: TopologyCollector; exec: RecordingExecutor }> {
  h = harness({ now: Date.now() });
  h.clock.nowMs = Date.now();
  server = await startTmuxServer({ session: o.session ?? "main", ...(o.command !== undefined ? { command: o.command } : {}) });
  const exec = new RecordingExecutor(new LocalExecutor("host"));
  const tmux = new Tmux(exec, server.socket);
  collector = new TopologyCollector({
    targetId: "host",
    tmux,
    readProcs: () => snapshotProcesses(exec),
    ingestor: h.ingestor,
    store: h.store,
    log: silentLogger,
    clock: () => Date.now(),
    control: o.control === true ? controlFactory(tmux, silentLogger) : undefined,
    ...(o.intervalMs !== undefined ? { intervalMs: o.intervalMs } : {}),
  });
  return { h, server, c: collector, exec };
}

const panesOf = (hh: Harness) => hh.store.listPaneViews("host");
const paneOf = (hh: Harness, id: string) => panesOf(hh).find((p) => p.pane_id === id);

describe("collector (real tmux)", () => {
  test("sessions, windows and panes land in the store with one list-panes per scan; agents identified, shells are not", async () => {
    const { bin, codexJs } = fakeAgents();
    const { h, server, c, exec } = await setup({ session: "dev" });
    await server.run("split-window", "-t", "dev", `${bin}/claude`, "1000");
    await server.run("new-window", "-t", "dev", "-n", "cx", "node", codexJs);
    await server.run("new-session", "-d", "-s", "other", "-n", "cursor-agent", `${bin}/cursor-agent`, "1000"); // named: automatic-rename may still say "tmux" while it execs
    await waitFor(async () => (await server.run("list-panes", "-a", "-F", "#{pane_current_command}")).includes("node"), { message: "node started" });
    const before = exec.execs.length;
    await c.scanNow();
    const tmuxCalls = exec.execs.slice(before).filter((a) => a[0] === "tmux");
    expect(tmuxCalls.map((a) => a.slice(4, 6))).toEqual([["list-panes", "-a"]]);
    // processes that were still exec'ing at that scan are identified by a later one
    const identified = (): boolean => panesOf(h).filter((p) => p.agent_type !== null).length === 3;
    await waitFor(async () => identified() || (await c.scanNow(), identified()), { message: "three agents identified" });
    const panes = panesOf(h);
    expect(panes).toHaveLength(4);
    const agents = Object.fromEntries(panes.map((p) => [`${p.session_name}:${p.window_name}:${p.pane_index}`, p.agent_type]));
    expect(agents).toMatchObject({ "dev:cx:0": "codex", "other:cursor-agent:0": "cursor" });
    expect(Object.values(agents).filter((a) => a === "claude")).toHaveLength(1);
    expect(Object.values(agents).filter((a) => a === null)).toHaveLength(1); // the first pane's shell
    for (const p of panes.filter((x) => x.agent_type !== null)) expect(p).toMatchObject({ state: "unknown", reason_code: "no_signal" });
    const t = h.store.getTarget("host");
    expect(t?.tmux_boot_id).toMatch(/^\d+-\d+$/);
    expect(t?.last_topology_at).not.toBeNull();
  });

  test("TC-004 restarting the agent in the same pane rolls the runtime over; the old one is stale", async () => {
    const { bin } = fakeAgents();
    const { h, server, c } = await setup({ command: [`${bin}/claude`, "1000"] });
    await server.run("set-option", "-g", "remain-on-exit", "off");
    await c.scanNow();
    const first = paneOf(h, "%0");
    expect(first?.agent_type).toBe("claude");
    const oldRuntime = first?.runtime_id as string;
    // the agent exits and a new one starts in the very same pane (%0 stays)
    await server.run("respawn-pane", "-k", "-t", "%0", `${bin}/claude`, "2000");
    await waitFor(async () => {
      await c.scanNow();
      return paneOf(h as Harness, "%0")?.runtime_id !== oldRuntime;
    });
    const second = paneOf(h, "%0");
    expect(second?.pane_epoch).toBe(1);
    expect(h.store.getRuntime(oldRuntime)?.ended_at).not.toBeNull();
    expect(["pid_changed", "pane_recreated"]).toContain(h.store.getRuntime(oldRuntime)?.end_reason as string);
    const [r] = h.ingestor.ingest([{ envelope: h.ev({ event_type: "state.running", runtime_id: oldRuntime }) }]);
    expect(r?.error?.code).toBe("E_RUNTIME_STALE");
    // the agent goes away, the shell stays: runtime ended, the pane is no agent pane
    await server.run("respawn-pane", "-k", "-t", "%0", "sleep", "1000");
    await waitFor(async () => {
      await c.scanNow();
      return paneOf(h as Harness, "%0")?.runtime_id === null;
    });
    expect(h.store.getState("host", "%0")).toBeNull();
  });

  test("TC-003 TC-004 a killed server's pane ids come back on a new server: new boot id, new runtimes, never two active", async () => {
    const { bin } = fakeAgents();
    const { h, server, c } = await setup({ command: [`${bin}/claude`, "1000"] });
    await c.scanNow();
    const boot1 = h.store.getTarget("host")?.tmux_boot_id;
    const rt1 = paneOf(h, "%0")?.runtime_id as string;
    expect(rt1).toBeTruthy();
    await server.run("kill-server").catch(() => {});
    await c.scanNow(); // no server: no panes, runtimes ended
    expect(panesOf(h)).toEqual([]);
    expect(h.store.getRuntime(rt1)?.ended_at).not.toBeNull();
    // a new server on the same socket reuses %0
    await server.run("new-session", "-d", "-s", "main", "-x", "200", "-y", "50", `${bin}/claude`, "1000");
    await c.scanNow();
    const p = paneOf(h, "%0");
    expect(p?.runtime_id).not.toBe(rt1);
    expect(p?.agent_type).toBe("claude");
    expect(h.store.getTarget("host")?.tmux_boot_id).not.toBe(boot1);
    const active = h.store.db.query<{ n: number }, []>("SELECT count(*) AS n FROM runtimes WHERE pane_id = '%0' AND ended_at IS NULL").get();
    expect(active?.n).toBe(1);
    expect(h.store.getRuntime(p?.runtime_id as string)?.pane_epoch).toBe(1);
  });

  test("TC-041 a pane churn storm converges to exactly tmux's panes with no stale state", async () => {
    const { bin } = fakeAgents();
    const { h, server, c } = await setup();
    c.start().catch(() => {});
    const created: string[] = [];
    for (let i = 0; i < 30; i++) {
      const id = (await server.run("new-window", "-d", "-P", "-F", "#{pane_id}", "-t", "main", `${bin}/claude`, "1000")).trim();
      created.push(id);
      if (i % 3 === 0) void c.scanNow();
      if (i % 2 === 1) await server.run("kill-pane", "-t", created[i - 1] as string);
    }
    const truth = async () => (await server.run("list-panes", "-a", "-F", "#{pane_id}")).trim().split("\n").toSorted();
    await c.scanNow();
    const want = await truth();
    expect(panesOf(h).map((p) => p.pane_id).toSorted()).toEqual(want);
    // every active runtime is in a live pane; every state row belongs to a live agent pane
    const live = new Set(want);
    const activeRts = h.store.db.query<{ pane_id: string }, []>("SELECT pane_id FROM runtimes WHERE ended_at IS NULL").all();
    for (const r of activeRts) expect(live.has(r.pane_id)).toBe(true);
    for (const s of h.store.listStates()) expect(live.has(s.pane_id)).toBe(true);
    expect(activeRts.length).toBe(want.length - 1); // every pane but the first shell runs claude
  });

  test("a server that dies between scans empties the topology; the collector keeps going", async () => {
    const { bin } = fakeAgents();
    const { h, server, c } = await setup({ command: [`${bin}/claude`, "1000"] });
    await c.scanNow();
    expect(panesOf(h)).toHaveLength(1);
    await server.run("kill-server").catch(() => {});
    await c.scanNow();
    expect(panesOf(h)).toHaveLength(0);
    expect(h.store.listStates()).toHaveLength(0);
    expect(h.store.getTarget("host")?.last_error).toBeNull(); // no server is not an error
    await server.run("new-session", "-d", "-s", "again");
    await c.scanNow();
    expect(panesOf(h)).toHaveLength(1);
  });

  test("TC-041 event-driven: sessions, windows and panes created, renamed and closed show up without waiting for the periodic scan", async () => {
    const { bin } = fakeAgents();
    // the periodic scan is pushed out of the way: only control-mode notifications can explain a quick update
    const { h, server, c } = await setup({ control: true, intervalMs: 60_000 });
    await c.start();
    await waitFor(() => c.stats.controlClients === 1, { message: "one control client" });
    const seen = (pred: () => boolean, message: string) => waitFor(pred, { timeoutMs: 3_000, intervalMs: 5, message });
    await server.run("new-session", "-d", "-s", "second");
    await seen(() => panesOf(h).some((p) => p.session_name === "second"), "new session");
    await waitFor(() => c.stats.controlClients === 2, { message: "a control client per session" });
    const w = (await server.run("new-window", "-d", "-P", "-F", "#{window_id}", "-t", "second", "-n", "w2")).trim();
    await seen(() => panesOf(h).some((p) => p.window_id === w), "new window in another session");
    const p = (await server.run("split-window", "-d", "-P", "-F", "#{pane_id}", "-t", w, `${bin}/claude`, "1000")).trim();
    await seen(() => paneOf(h, p)?.agent_type === "claude", "split with an agent, in a background window");
    await server.run("rename-session", "-t", "second", "renamed");
    await seen(() => paneOf(h, p)?.session_name === "renamed", "renamed session");
    await server.run("rename-window", "-t", w, "w2b");
    await seen(() => paneOf(h, p)?.window_name === "w2b", "renamed window");
    await server.run("kill-pane", "-t", p);
    await seen(() => paneOf(h, p) === undefined, "closed pane");
    await server.run("kill-session", "-t", "renamed");
    await seen(() => !panesOf(h).some((x) => x.session_name === "renamed"), "closed session");
    await waitFor(() => c.stats.controlClients === 1, { message: "the closed session's client is gone" });
    expect(c.stats.scans).toBeGreaterThan(1);
  });

  test("an agent's first hook triggers a scan, so the event binds without waiting for the periodic one", async () => {
    const { bin } = fakeAgents();
    const { h, server, c } = await setup({ intervalMs: 60_000 });
    h.ingestor.onNudge((_t, why) => c.requestScan(why));
    await c.start();
    const pane = (await server.run("new-window", "-d", "-P", "-F", "#{pane_id}", "-t", "main", `${bin}/claude`, "1000")).trim();
    const pid = Number((await server.run("display-message", "-p", "-t", pane, "#{pane_pid}")).trim());
    expect(paneOf(h, pane)).toBeUndefined(); // not scanned yet
    h.clock.nowMs = Date.now();
    const e = h.ev({ event_type: "state.running", target_id: "host", pane_id: pane, pid });
    expect(h.ingestor.ingest([{ envelope: e }])[0]?.status).toBe("pending_bind");
    await waitFor(() => h.store.getInbox(e.event_id)?.status === "bound", { timeoutMs: 3_000, message: "bound after the nudged scan" });
    expect(h.store.getState("host", pane)?.state).toBe("running");
  });

  test("tmux missing: a target error (E_TARGET_UNREACHABLE), health ok -> degraded -> down", async () => {
    h = harness({ now: Date.now() });
    const exec = new LocalExecutor("host");
    collector = new TopologyCollector({
      targetId: "host",
      tmux: new Tmux(exec, { name: "nope" }, { bin: "/nonexistent/tmux" }),
      readProcs: () => snapshotProcesses(exec),
      ingestor: h.ingestor,
      store: h.store,
      log: silentLogger,
      clock: () => Date.now(),
    });
    await collector.scanNow();
    expect(h.store.getTarget("host")).toMatchObject({ last_error_code: "E_TARGET_UNREACHABLE", health: "degraded" });
    expect(h.store.getTarget("host")?.last_error).toContain("not found");
    await collector.scanNow();
    await collector.scanNow();
    expect(h.store.getTarget("host")?.health).toBe("down");
  });
});
