import { afterEach, describe, expect, test } from "bun:test";
import { LocalExecutor } from "../../src/targets/executor.ts";
import { type ControlExit, type ControlNotification, ControlClient, parseNotification } from "../../src/tmux/control.ts";
import { Tmux } from "../../src/tmux/tmux.ts";
import { TmuxError } from "../../src/tmux/types.ts";
import { waitFor } from "../helpers/wait.ts";
import { RecordingExecutor, startTmuxServer, type TmuxServer, uniqueSocketName } from "./harness.ts";

const servers: TmuxServer[] = [];
const clients: ControlClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.stop()));
  await Promise.all(servers.splice(0).map((s) => s.kill()));
});

/** Notifications within this long count as "prompt" (the contract for the topology observer). */
const PROMPT_MS = 500;

interface Watched {
  client: ControlClient;
  events: ControlNotification[];
  exits: ControlExit[];
  /** waits (at most PROMPT_MS) for a notification matching pred that arrived after index `from` */
  next(pred: (n: ControlNotification) => boolean, from: number, timeoutMs?: number): Promise<ControlNotification>;
}

async function watch(s: TmuxServer, sessionId: string, tmux: Tmux = s.tmux): Promise<Watched> {
  const events: ControlNotification[] = [];
  const exits: ControlExit[] = [];
  const client = new ControlClient(tmux, sessionId, { onNotification: (n) => events.push(n), onExit: (e) => exits.push(e) });
  clients.push(client);
  await client.start();
  return {
    client,
    events,
    exits,
    next: (pred, from, timeoutMs = PROMPT_MS) => waitFor(() => events.slice(from).find(pred), { timeoutMs, intervalMs: 5, message: "notification" }),
  };
}

async function server(opts: Parameters<typeof startTmuxServer>[0] = {}): Promise<TmuxServer> {
  const s = await startTmuxServer({ session: "A", command: ["sleep", "1000"], ...opts });
  servers.push(s);
  return s;
}

const is =
  (kind: string, ...args: string[]) =>
  (n: ControlNotification): boolean =>
    n.kind === kind && args.every((a, i) => n.args[i] === a);

describe("notification parsing", () => {
  test("names with spaces stay one argument; layout flags are the 4th", () => {
    expect(parseNotification("%sessions-changed")).toEqual({ kind: "sessions-changed", args: [] });
    expect(parseNotification("%session-renamed $1 my  session name")).toEqual({ kind: "session-renamed", args: ["$1", "my  session name"] });
    expect(parseNotification("%window-renamed @3 a b")).toEqual({ kind: "window-renamed", args: ["@3", "a b"] });
    expect(parseNotification("%unlinked-window-renamed @3 -x")).toEqual({ kind: "unlinked-window-renamed", args: ["@3", "-x"] });
    expect(parseNotification("%client-session-changed /dev/pts/3 $0 A B")).toEqual({ kind: "client-session-changed", args: ["/dev/pts/3", "$0", "A B"] });
    expect(parseNotification("%layout-change @0 ac9d,200x50,0,0,0 ac9d,200x50,0,0,0 *Z")).toEqual({
      kind: "layout-change",
      args: ["@0", "ac9d,200x50,0,0,0", "ac9d,200x50,0,0,0", "*Z"],
    });
    expect(parseNotification("%window-pane-changed @0 %2")).toEqual({ kind: "window-pane-changed", args: ["@0", "%2"] });
    expect(parseNotification("%exit")).toEqual({ kind: "exit", args: [] });
    expect(parseNotification("%exit server exited")).toEqual({ kind: "exit", args: ["server exited"] });
    expect(parseNotification("%some-new-thing a b c")).toEqual({ kind: "some-new-thing", args: ["a", "b", "c"] });
    expect(parseNotification("plain output")).toBeNull();
    expect(parseNotification("%")).toBeNull();
  });
});

describe("control client (real tmux)", () => {
  test("split-window in the attached session is notified within 500 ms; a -d split in another session is not", async () => {
    const s = await server();
    await s.run("new-session", "-d", "-s", "B", "sleep", "1000");
    const w = await watch(s, "$0");
    expect(w.events[0]).toEqual({ kind: "session-changed", args: ["$0", "A"] });

    let from = w.events.length;
    const t0 = performance.now();
    const pane = (await s.run("split-window", "-d", "-P", "-F", "#{pane_id}", "-t", "$0:0", "sleep", "1000")).trim();
    const n = await w.next(is("layout-change", "@0"), from);
    expect(performance.now() - t0).toBeLessThan(PROMPT_MS);
    expect(n.args[1]).toContain(`,${pane.slice(1)}]`);

    // per session: a split (-d: the active pane does not change) in B's window @1 is not reported ...
    from = w.events.length;
    await s.run("split-window", "-d", "-t", "$1:0", "sleep", "1000");
    // ... notifications arrive in order: once a later marker (from A) is seen, nothing for @1 came before it
    await s.run("rename-window", "-t", "$0:0", "marker");
    await w.next(is("window-renamed", "@0", "marker"), from);
    expect(w.events.slice(from).filter((e) => e.args[0] === "@1")).toEqual([]);

    // kill-pane in the attached session: layout-change too
    from = w.events.length;
    await s.run("kill-pane", "-t", pane);
    await w.next(is("layout-change", "@0"), from);
  });

  test("global notifications: sessions, windows (linked/unlinked), renames, active pane, modes", async () => {
    const s = await server();
    const w = await watch(s, "$0");
    const step = async (args: string[], ...preds: Array<(n: ControlNotification) => boolean>) => {
      const from = w.events.length;
      const t0 = performance.now();
      await s.run(...args);
      for (const p of preds) await w.next(p, from);
      expect(performance.now() - t0).toBeLessThan(PROMPT_MS);
    };
    await step(["new-session", "-d", "-s", "B", "sleep", "1000"], is("sessions-changed"), is("unlinked-window-add", "@1"));
    await step(["new-window", "-d", "-t", "$0:", "sleep", "1000"], is("window-add", "@2"));
    await step(["new-window", "-t", "$1:", "sleep", "1000"], is("unlinked-window-add", "@3"), is("session-window-changed", "$1", "@3"));
    await step(["rename-session", "-t", "$1", "B with spaces"], is("session-renamed", "$1", "B with spaces"));
    await step(["rename-session", "-t", "$0", "A/🎉"], is("session-renamed", "$0", "A/🎉"));
    await step(["rename-window", "-t", "@2", "my window"], is("window-renamed", "@2", "my window"));
    await step(["rename-window", "-t", "@3", "other window"], is("unlinked-window-renamed", "@3", "other window"));
    // the active pane of any window, and pane modes of any pane, are global
    await step(["split-window", "-t", "@3", "sleep", "1000"], is("window-pane-changed", "@3"));
    await step(["copy-mode", "-t", "$1:1.0"], is("pane-mode-changed"));
    await step(["select-window", "-t", "$0:1"], is("session-window-changed", "$0", "@2"));
    // tmux 3.3a quirk: a window of the attached session that is killed is reported as
    // %unlinked-window-close (it is already unlinked when the notification is written)
    const closed = (wid: string) => (n: ControlNotification) => (n.kind === "window-close" || n.kind === "unlinked-window-close") && n.args[0] === wid;
    await step(["kill-window", "-t", "@2"], closed("@2"), is("session-window-changed", "$0", "@0"));
    await step(["kill-window", "-t", "@3"], is("unlinked-window-close", "@3"));
    await step(["kill-session", "-t", "$1"], is("sessions-changed"));
    expect(w.exits).toEqual([]);
    expect(w.client.running).toBe(true);
  }, 10_000);

  test("read-only, ignore-size, no-output; the client never writes to tmux; the session's sizes do not change", async () => {
    const rec = new RecordingExecutor();
    const s = await server({ exec: rec, command: ["cat"] });
    await s.run("new-window", "-d", "-t", "$0:", "sleep", "1000");
    const sizes = () => s.run("list-windows", "-a", "-F", "#{window_id} #{window_width}x#{window_height}");
    const before = await sizes();
    expect(before).toBe("@0 200x50\n@1 200x50\n");
    const w = await watch(s, "$0", new Tmux(rec, s.socket));
    const clientsNow = (await s.run("list-clients", "-F", "#{client_readonly} #{client_control_mode} #{client_flags}")).trim();
    expect(clientsNow).toMatch(/^1 1 /);
    for (const f of ["read-only", "ignore-size", "no-output", "control-mode"]) expect(clientsNow).toContain(f);
    expect(await sizes()).toBe(before);
    // activity in a pane is not delivered (no %output)
    const from = w.events.length;
    await s.run("send-keys", "-t", "%0", "-l", "typed by the test");
    await s.run("send-keys", "-t", "%0", "Enter");
    await waitFor(async () => (await s.run("capture-pane", "-p", "-t", "%0")).includes("typed by the test\ntyped by the test"));
    await s.run("rename-window", "-t", "@0", "marker");
    await w.next(is("window-renamed", "@0", "marker"), from);
    expect(w.events.slice(from).filter((e) => e.kind === "output" || e.kind === "extended-output")).toEqual([]);
    await w.client.stop();
    expect(await sizes()).toBe(before);
    // nothing was ever written to the control client's stdin (3.3a would run commands even for a read-only client)
    expect(rec.streams).toHaveLength(1);
    expect(rec.writes).toEqual([]);
    expect(rec.streams[0]).toEqual(["tmux", "-u", "-L", s.socket.name as string, "-N", "-C", "attach-session", "-r", "-f", "read-only,ignore-size,no-output", "-t", "$0"]);
  });

  test("stop(): clean exit, no zombie, the session is unaffected", async () => {
    const s = await server();
    const w = await watch(s, "$0");
    const pid = w.client.pid as number;
    expect(pid).toBeGreaterThan(1);
    expect((await s.run("list-clients", "-F", "#{client_pid}")).trim()).toBe(String(pid));
    await w.client.stop();
    expect(w.exits).toEqual([{ reason: "stopped", message: "", code: 0 }]);
    expect(w.client.running).toBe(false);
    // reaped: the pid no longer exists (not even as a zombie)
    expect(() => process.kill(pid, 0)).toThrow();
    expect(await s.run("list-clients")).toBe("");
    expect((await s.run("list-sessions", "-F", "#{session_id} #{session_name} #{session_attached}")).trim()).toBe("$0 A 0");
    await w.client.stop();
    expect(w.exits).toHaveLength(1);
  });

  test("stop() right after start(): start settles, onExit(stopped) once, process reaped", async () => {
    const s = await server();
    for (let i = 0; i < 5; i++) {
      const exits: ControlExit[] = [];
      const c = new ControlClient(s.tmux, "$0", { onNotification: () => {}, onExit: (e) => exits.push(e) });
      const started = c.start().then(
        () => "attached",
        (e: unknown) => (e instanceof TmuxError ? e.kind : "other"),
      );
      const pid = c.pid as number;
      await c.stop();
      expect(["attached", "failed"]).toContain(await started);
      expect(exits).toHaveLength(1);
      expect(exits[0]?.reason).toBe("stopped");
      expect(() => process.kill(pid, 0)).toThrow();
    }
    await waitFor(async () => (await s.run("list-clients")) === "");
    expect((await s.run("list-sessions", "-F", "#{session_id}")).trim()).toBe("$0");
  }, 20_000);

  test("the attached session is killed: %exit, onExit(exit)", async () => {
    const s = await server();
    await s.run("new-session", "-d", "-s", "B", "sleep", "1000");
    const w = await watch(s, "$1");
    await s.run("kill-session", "-t", "$1");
    await waitFor(() => w.exits.length > 0, { timeoutMs: PROMPT_MS + 1000 });
    expect(w.exits[0]).toMatchObject({ reason: "exit", code: 0 });
    expect(w.events.at(-1)).toEqual({ kind: "exit", args: [] });
    expect(await s.tmux.hasServer()).toBe(true);
  });

  test("server exit: onExit(exit)", async () => {
    const s = await server();
    const w = await watch(s, "$0");
    await s.run("kill-server");
    await waitFor(() => w.exits.length > 0, { timeoutMs: PROMPT_MS + 1000 });
    expect(w.exits[0]).toMatchObject({ reason: "exit" });
    expect(w.client.running).toBe(false);
  });

  test("server killed hard (SIGKILL): onExit, no crash", async () => {
    const s = await server();
    const w = await watch(s, "$0");
    const pid = Number((await s.run("display-message", "-p", "#{pid}")).trim());
    process.kill(pid, "SIGKILL");
    await waitFor(() => w.exits.length > 0, { timeoutMs: 2000 });
    expect(["exit", "lost"]).toContain(w.exits[0]?.reason as string);
  });

  test("start() errors: no such session (failed), no server (no_server, and none is started), missing binary (not_found)", async () => {
    const s = await server();
    const exits: ControlExit[] = [];
    const c = new ControlClient(s.tmux, "$99", { onNotification: () => {}, onExit: (e) => exits.push(e) });
    clients.push(c);
    const err = await c.start().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TmuxError);
    expect((err as TmuxError).kind).toBe("failed");
    expect((err as TmuxError).stderr).toContain("can't find session");
    await waitFor(() => exits.length > 0);
    expect(exits[0]?.reason).toBe("attach_failed");

    const none = new Tmux(new LocalExecutor("test"), { name: uniqueSocketName() });
    const c2 = new ControlClient(none, "$0", { onNotification: () => {} });
    clients.push(c2);
    const err2 = await c2.start().then(
      () => null,
      (e: unknown) => e,
    );
    expect((err2 as TmuxError).kind).toBe("no_server");
    // -N: the attempt did not start a server
    expect(await none.hasServer()).toBe(false);

    const c3 = new ControlClient(new Tmux(new LocalExecutor("test"), { name: "x" }, { bin: "/nonexistent/tmux" }), "$0", { onNotification: () => {} });
    const err3 = await c3.start().then(
      () => null,
      (e: unknown) => e,
    );
    expect((err3 as TmuxError).kind).toBe("not_found");
  });

  test("one client per session: each sees its own session's layout changes", async () => {
    const s = await server();
    await s.run("new-session", "-d", "-s", "B", "sleep", "1000");
    const a = await watch(s, "$0");
    const b = await watch(s, "$1");
    const fa = a.events.length;
    const fb = b.events.length;
    await s.run("split-window", "-d", "-t", "$1:0", "sleep", "1000");
    await b.next(is("layout-change", "@1"), fb);
    await s.run("split-window", "-d", "-t", "$0:0", "sleep", "1000");
    await a.next(is("layout-change", "@0"), fa);
    expect(a.events.slice(fa).some(is("layout-change", "@1"))).toBe(false);
    expect(b.events.slice(fb).some(is("layout-change", "@0"))).toBe(false);
  });
});
