/**
 * The passive Codex app-server client against the real Codex CLI 0.169.0
 * daemon (tests/agents), driven in an isolated tmux server against the fake
 * OpenAI server. Skipped when the pinned CLI, node or tmux is missing.
 * Budget: ≈15 s for the file (two tests, each with its own lab and daemon).
 */
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import type { CodexAppServerEvent, CodexThreadInfo } from "../../src/adapters/codex/appserver.ts";
import { CODEX_BIN, type CodexLab, codexAvailable, type LabPane, startCodexLab } from "../agents/codex/harness.ts";
import { waitFor } from "../helpers/wait.ts";
import { removeTempDirs } from "../tmux/harness.ts";

const available = codexAvailable();
let lab: CodexLab | null = null;

afterEach(async () => {
  await lab?.stop();
  lab = null;
});
afterAll(() => removeTempDirs());

type StatusEv = Extract<CodexAppServerEvent, { type: "thread/status/changed" }>;

function statusLabel(e: StatusEv): string {
  return e.status.type === "active" ? `active[${e.status.activeFlags.join(",")}]` : e.status.type;
}

/** the status labels one thread went through since `sinceT` (lab ms) */
function statuses(l: CodexLab, threadId: string, sinceT = 0): string[] {
  return l.appEvents
    .filter((r) => r.t >= sinceT)
    .map((r) => r.event)
    .filter((e): e is StatusEv => e.type === "thread/status/changed" && e.threadId === threadId)
    .map(statusLabel);
}

async function waitStatus(l: CodexLab, threadId: string, label: string, sinceT: number, timeoutMs = 15_000): Promise<void> {
  await waitFor(() => statuses(l, threadId, sinceT).includes(label), { timeoutMs, message: `${label} for ${threadId} (saw ${statuses(l, threadId, sinceT).join(" → ")})` });
}

async function loaded(l: CodexLab, client: ReturnType<CodexLab["appServer"]>): Promise<CodexThreadInfo[]> {
  const out: CodexThreadInfo[] = [];
  for (const id of await client.loadedThreads()) {
    const t = await client.readThread(id).catch(() => null);
    if (t && !t.ephemeral) out.push(t);
  }
  void l;
  return out;
}

const now = (l: CodexLab): number => Date.now() - l.t0;

describe.skipIf(!available)("codex 0.169.0 lab (real daemon)", () => {
  test("daemon mode: thread/status/changed tracks running, approval, completion and a model error; hooks carry the stale TMUX_PANE", async () => {
    const l = await startCodexLab({ projects: ["proj", "proj2"] });
    lab = l;
    const client = l.appServer();
    const a = l.panes[0] as LabPane;
    await l.startCodex(a);
    await waitFor(() => client.connected, { timeoutMs: 10_000, message: "client connected to the daemon" });

    // right after creation a loaded thread can still read as notLoaded for a moment
    const [thread] = await waitFor(async () => {
      const ts = await loaded(l, client);
      return ts.length === 1 && ts[0]?.status.type !== "notLoaded" ? ts : undefined;
    });
    if (!thread) throw new Error("no thread");
    // the thread exists from TUI start; its UUIDv7 time is right after the native TUI process started
    // (started_at comes from /proc with a whole-second btime: it can only read early, so delta ≥ 0)
    const tui = l.tuiProcess(a);
    const delta = thread.createdAtMs - (tui?.started_at ?? 0);
    const context = JSON.stringify({ thread, tui, delta, processes: l.paneProcesses(a) });
    expect(context).toContain('"originator":"codex-tui"');
    expect(thread).toMatchObject({ cwd: a.project, source: "vscode", originator: "codex-tui", preview: "", ephemeral: false, status: { type: "idle" } });
    expect(tui === null ? context : "tui found").toBe("tui found");
    expect(delta >= 0 && delta < 10_000 ? "in window" : context).toBe("in window");

    // plain turn: active[] → idle; hooks and notify
    let since = now(l);
    await l.prompt(a, "hello there");
    await waitStatus(l, thread.id, "idle", since);
    expect(statuses(l, thread.id, since)).toEqual(["active[]", "idle"]);
    await waitFor(() => l.hooks().some((h) => h.event === "Stop"), { message: "Stop hook" });
    expect(l.hooks().map((h) => h.event)).toEqual(["SessionStart", "UserPromptSubmit", "PreModelRequest", "PostModelRequest", "Stop"]);
    expect(new Set(l.hooks().map((h) => h.stdin.session_id))).toEqual(new Set([thread.id]));
    await waitFor(() => l.notifies().some((n) => n.payload["thread-id"] === thread.id), { message: "notify for the thread" });
    expect((await client.readThread(thread.id)).preview).toBe("hello there");
    expect((await client.lastTurn(thread.id))?.status).toBe("completed");
    // the title-generation side thread is ephemeral
    const ephemeral = l.appEvents.map((r) => r.event).find((e) => e.type === "thread/started" && e.thread.ephemeral);
    expect(ephemeral).toBeDefined();

    // approval: active[waitingOnApproval], then approve with `y`
    since = now(l);
    await l.prompt(a, "run ls -la /tmp");
    await waitStatus(l, thread.id, "active[waitingOnApproval]", since);
    expect((await client.readThread(thread.id)).status).toEqual({ type: "active", activeFlags: ["waitingOnApproval"] });
    await l.waitScreen(a, /Would you like to run the following command\?/);
    await waitFor(async () => (await l.title(a)).includes("Action Required"), { message: "Action Required title" });
    const approveAt = now(l);
    await l.keys(a, "y");
    await waitStatus(l, thread.id, "idle", approveAt);
    expect(statuses(l, thread.id, since)).toEqual(["active[]", "active[waitingOnApproval]", "active[]", "idle"]);
    const approvalHooks = l.hooks().filter((h) => h.timeMs - l.t0 >= since).map((h) => h.event);
    expect(approvalHooks).toEqual(["UserPromptSubmit", "PreModelRequest", "PostModelRequest", "PreToolUse", "PermissionRequest", "PostToolUse", "PreModelRequest", "PostModelRequest", "Stop"]);

    expect((await client.lastTurn(thread.id))?.status).toBe("completed");

    // rejected approval (Escape): active[] → idle like a completion; the last turn says `interrupted`
    since = now(l);
    await l.prompt(a, "run rm -rf ./build");
    await waitStatus(l, thread.id, "active[waitingOnApproval]", since);
    await l.waitScreen(a, /Would you like to run the following command\?/);
    const rejectAt = now(l);
    await l.keys(a, "Escape");
    await waitStatus(l, thread.id, "idle", rejectAt);
    expect((await client.lastTurn(thread.id))?.status).toBe("interrupted");
    expect(l.hooks().filter((h) => h.timeMs - l.t0 >= rejectAt).map((h) => h.event)).toContain("Interrupt");

    // model error (HTTP 400): systemError, no Stop hook
    since = now(l);
    await l.prompt(a, "fail400 please");
    await waitStatus(l, thread.id, "systemError", since);
    await l.waitScreen(a, /mock failure requested/);
    expect(l.hooks().filter((h) => h.timeMs - l.t0 >= since && h.event === "Stop")).toEqual([]);
    expect(await client.lastTurn(thread.id)).toMatchObject({ status: "failed", errorMessage: expect.stringContaining("mock failure requested") });

    // a second TUI in another pane and cwd: its hooks still say TMUX_PANE = the first pane (the daemon's env)
    const b = await l.openPane(1);
    await l.startCodex(b);
    const second = await waitFor(async () => (await loaded(l, client)).find((t) => t.cwd === b.project), { message: "second thread" });
    since = now(l);
    await l.prompt(b, "hello from pane two");
    await waitStatus(l, second.id, "idle", since);
    await waitFor(() => l.hooks().some((h) => h.event === "Stop" && h.stdin.session_id === second.id), { message: "Stop of the second thread" });
    const fromB = l.hooks().filter((h) => h.stdin.session_id === second.id);
    expect(fromB.length).toBeGreaterThan(0);
    for (const h of fromB) {
      expect(h.env.TMUX_PANE).toBe(a.id); // typed in b, reported as a: never trust TMUX_PANE in daemon mode
      expect(h.stdin.cwd).toBe(b.project);
      expect(h.ppid).toBe(l.daemonPid() ?? -1);
    }
    // what does identify the pane: the thread's cwd and creation time vs the TUI processes
    const tuiB = l.tuiProcess(b);
    expect(tuiB).not.toBeNull();
    expect(second.createdAtMs - (tuiB?.started_at ?? 0)).toBeGreaterThanOrEqual(0);
    expect(second.createdAtMs - (tuiB?.started_at ?? 0)).toBeLessThan(10_000);
  }, 60_000);

  test("the passive client changes nothing: connecting first keeps the TUI's originator and User-Agent; reconnects after a daemon restart", async () => {
    const l = await startCodexLab();
    lab = l;
    // a daemon nobody has talked to yet: our initialize is the first one it sees
    const started = Bun.spawnSync([CODEX_BIN, "app-server", "daemon", "start"], { env: l.env, stdout: "pipe", stderr: "pipe" });
    expect(started.exitCode).toBe(0);
    const client = l.appServer();
    await waitFor(() => client.connected, { timeoutMs: 10_000, message: "connected" });
    expect(client.serverInfo?.userAgent).not.toContain("codex_app_server_daemon;");
    const a = l.panes[0] as LabPane;
    await l.startCodex(a);
    const thread = await waitFor(async () => (await loaded(l, client))[0]);
    const since = now(l);
    await l.prompt(a, "hello there");
    await waitStatus(l, thread.id, "idle", since);
    expect((await client.readThread(thread.id)).originator).toBe("codex-tui");
    const turnRequests = l.fake.requests.filter((r) => r.kind === "responses");
    expect(turnRequests.length).toBeGreaterThan(0);
    for (const r of turnRequests) {
      expect(r.headers.originator).toBe("codex-tui");
      expect(r.headers["user-agent"]).toStartWith("codex-tui/0.169.0");
      expect(r.headers["user-agent"]).not.toContain("codex_app_server_daemon");
    }

    // daemon killed: `disconnected`; started again: `connected` and a working client
    const pid = l.daemonPid();
    expect(pid).not.toBeNull();
    process.kill(pid as number, "SIGTERM");
    await waitFor(() => l.appEvents.some((r) => r.event.type === "disconnected"), { timeoutMs: 10_000, message: "disconnected" });
    expect(client.connected).toBe(false);
    // right after the kill `daemon start` can refuse (the old process is still exiting): retry
    let lastErr = "";
    await waitFor(
      () => {
        const r = Bun.spawnSync([CODEX_BIN, "app-server", "daemon", "start"], { env: l.env, stdout: "pipe", stderr: "pipe" });
        lastErr = `${r.stdout.toString()} ${r.stderr.toString()}`.slice(-400);
        return r.exitCode === 0;
      },
      { timeoutMs: 15_000, intervalMs: 500, message: `daemon start after a kill (${lastErr})` },
    );
    await waitFor(() => l.appEvents.filter((r) => r.event.type === "connected").length === 2, { timeoutMs: 15_000, message: "reconnected" });
    expect(l.daemonPid()).not.toBe(pid);
    expect(Array.isArray(await client.loadedThreads())).toBe(true);
  }, 60_000);
});
