/**
 * The non-spool sources the relay runs on the VM: tmux control-mode clients
 * (a real tmux server), file tails, the Codex app-server client (a small fake
 * daemon on $CODEX_HOME's socket) and rpc, all through RelayClient.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { appendFileSync, mkdirSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { acceptKey, type CodexAppServerEvent, encodeFrame, FrameDecoder, OP } from "../../src/adapters/codex/appserver.ts";
import { readLastTurn } from "../../src/adapters/codex/rollout.ts";
import type { RelayTailError } from "../../src/relay/client.ts";
import { startTmuxServer, type TmuxServer } from "../tmux/harness.ts";
import { waitFor } from "../helpers/wait.ts";
import { FakeDaemon, type Vm, vm, waitGone } from "./harness.ts";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).toReversed()) await c();
});

function newVm(env: Record<string, string> = {}): Vm {
  const v = vm(env);
  cleanups.push(() => v.cleanup());
  return v;
}

function daemon(v: Vm, opts: ConstructorParameters<typeof FakeDaemon>[1] = {}): FakeDaemon {
  const d = new FakeDaemon(v, opts);
  cleanups.push(() => d.client.stop());
  return d;
}

async function killRelay(d: FakeDaemon, upCount: number): Promise<void> {
  const pid = d.client.hello?.pid as number;
  process.kill(pid, "SIGKILL");
  await waitGone(pid);
  await d.up(upCount);
}

/** a directory name no shell would survive unquoted */
const WEIRD = `a b;$(touch pwned)'q"\`x\`&|*`;

describe("relay sources", () => {
  test("tmux control notifications after control_start; exits and re-syncs across a relay restart; no client left behind", async () => {
    const s: TmuxServer = await startTmuxServer({ session: `s ${WEIRD}`, command: ["sleep", "1000"] });
    cleanups.push(() => s.kill());
    const socketPath = join(process.env.TMUX_TMPDIR as string, `tmux-${process.getuid?.() ?? 0}`, s.socket.name as string);
    const sessionId = (await s.run("list-sessions", "-F", "#{session_id}")).trim();
    const v = newVm();
    const d = daemon(v, { flags: ["--tmux-socket", socketPath] });
    const d2 = d.client;
    d2.start();
    await d.up(1);
    expect(d2.hello?.tmux_socket).toBe(socketPath);
    const factory = d2.controlFactory();
    const events: string[] = [];
    let exits = 0;
    const watchSession = (): { attached: boolean; stop(): void } =>
      factory(
        sessionId,
        (k) => events.push(k),
        () => exits++,
      );
    let c = watchSession();
    await waitFor(() => c.attached, { message: "control client attached" });
    expect((await s.run("list-sessions", "-F", "#{session_attached}")).trim()).toBe("1");
    await s.run("new-window", "-d", "-t", sessionId, "sleep", "1000");
    await waitFor(() => events.includes("window-add"), { message: "%window-add" });
    // the relay goes away: the collector is told (onExit) and asks again, as TopologyCollector does
    await killRelay(d, 2);
    expect(exits).toBe(1);
    expect(c.attached).toBe(false);
    c = watchSession();
    await waitFor(() => c.attached, { message: "attached again" });
    const n = events.length;
    await s.run("rename-window", "-t", `${sessionId}:1`, `w ${WEIRD}`);
    await waitFor(() => events.slice(n).includes("window-renamed"), { message: "%window-renamed" });
    // stop: the relay ends its tmux client; nothing stays attached
    c.stop();
    await waitFor(async () => (await s.run("list-clients", "-F", "#{client_pid}")).trim() === "", { message: "no control client left" });
    c = watchSession();
    await waitFor(() => c.attached, { message: "attached a third time" });
    await d2.stop();
    await waitFor(async () => (await s.run("list-clients", "-F", "#{client_pid}")).trim() === "", { message: "relay exit ends its clients" });
  }, 30_000);

  test("tail of a growing file (negative start, shrink, relay restart, ENOENT), path with shell metacharacters", async () => {
    const v = newVm();
    const dir = join(v.sb.dir, WEIRD);
    mkdirSync(dir);
    const path = join(dir, `t ${WEIRD}.jsonl`);
    writeFileSync(path, "0123456789\n");
    const d = daemon(v);
    d.client.start();
    await d.up(1);
    const got: { at: number; text: string }[] = [];
    const resets: number[] = [];
    const errors: RelayTailError[] = [];
    const text = (): string => got.map((g) => g.text).join("");
    const h = d.client.tail(
      path,
      -3,
      (chunk, at) => got.push({ at, text: new TextDecoder().decode(chunk) }),
      (e) => errors.push(e),
      { onReset: (size) => resets.push(size) },
    );
    await waitFor(() => text() === "89\n", { message: "last 3 bytes" });
    expect(got[0]?.at).toBe(8);
    appendFileSync(path, "more\n");
    await waitFor(() => text() === "89\nmore\n", { message: "appended" });
    // the relay restarts: the tail resumes where it was, nothing repeated
    await killRelay(d, 2);
    appendFileSync(path, "after restart\n");
    await waitFor(() => text() === "89\nmore\nafter restart\n", { message: "resumed" });
    // shrink: told, then read again from 0
    truncateSync(path, 0);
    appendFileSync(path, "new\n");
    await waitFor(() => resets.length > 0 && text().endsWith("new\n"), { message: "reset + new content" });
    expect(got[got.length - 1]?.at).toBe(0);
    h.stop();
    const missing: RelayTailError[] = [];
    d.client.tail(join(dir, "missing"), 0, () => {}, (e) => missing.push(e));
    await waitFor(() => missing.length === 1, { message: "ENOENT" });
    expect(missing[0]?.code).toBe("ENOENT");
    expect(errors).toEqual([]);
  }, 20_000);

  test("rpc ping, readLastTurn on the target, and the Codex app-server through codexSource()", async () => {
    const codexHome = join(process.env.AGTMUX_TEST_ROOT as string, `cx-${process.pid}`);
    mkdirSync(join(codexHome, "app-server-control"), { recursive: true });
    const fake = fakeCodexDaemon(join(codexHome, "app-server-control", "app-server-control.sock"));
    cleanups.push(() => fake.stop());
    const v = newVm({ CODEX_HOME: codexHome });
    const d = daemon(v);
    d.client.start();
    await d.up(1);
    const pong = await d.client.rpc("ping");
    expect(pong.pid).toBe(d.client.hello?.pid as number);

    const fixture = join(import.meta.dir, "..", "fixtures", "codex", "0.169.0", "interrupt", "rollout.jsonl");
    expect(await d.client.readLastTurnRemote(fixture)).toEqual(readLastTurn(fixture));
    expect(await d.client.readLastTurnRemote(join(v.sb.dir, "none.jsonl"))).toBeNull();

    const src = d.client.codexSource();
    const events: CodexAppServerEvent[] = [];
    src.on((e) => events.push(e));
    await expect(src.loadedThreads()).rejects.toThrow(/not started/);
    src.start();
    await waitFor(() => src.connected, { message: "codex connected" });
    expect(events[0]).toMatchObject({ type: "connected", userAgent: "codex-fake" });
    expect(await src.loadedThreads()).toEqual([THREAD]);
    const info = await src.readThread(THREAD);
    expect(info).toMatchObject({ id: THREAD, cwd: "/p", source: "vscode", status: { type: "idle" } });
    await expect(src.readThread("nope")).rejects.toMatchObject({ kind: "rpc_error" });
    fake.notify("thread/status/changed", { threadId: THREAD, status: { type: "active", activeFlags: ["waitingOnApproval"] } });
    await waitFor(() => events.some((e) => e.type === "thread/status/changed"), { message: "status broadcast" });
    expect(events.find((e) => e.type === "thread/status/changed")).toMatchObject({ threadId: THREAD, status: { type: "active", activeFlags: ["waitingOnApproval"] } });
    // relay restart: disconnected at once, connected again (the collector then catches up)
    const before = events.length;
    await killRelay(d, 2);
    expect(events.slice(before).map((e) => e.type)).toContain("disconnected");
    await waitFor(() => src.connected && events.slice(before).some((e) => e.type === "connected"), { message: "codex reconnected" });
    // the daemon-side Codex goes away: told as disconnected with the client's error kind
    fake.dropAll();
    await waitFor(() => events.slice(before).some((e) => e.type === "disconnected" && e.error.kind === "closed"), { message: "disconnected" });
    await src.close();
    expect(src.connected).toBe(false);
    const pid = d.client.hello?.pid as number;
    await d.client.stop();
    await waitGone(pid);
  }, 20_000);
});

const THREAD = "01a20c41-91cb-7a00-8fdd-3d0907edcdd9";

/** The smallest Codex app-server daemon: WebSocket upgrade + JSON-RPC over a unix socket. */
function fakeCodexDaemon(path: string): { notify(method: string, params: unknown): void; dropAll(): void; stop(): void } {
  const enc = new TextEncoder();
  const dec = new TextDecoder();
  interface St {
    up: boolean;
    head: string;
    frames: FrameDecoder;
  }
  const socks = new Set<Bun.Socket<St>>();
  const send = (s: Bun.Socket<St>, obj: unknown): void => {
    s.write(encodeFrame(OP.text, enc.encode(JSON.stringify(obj)), { mask: null }));
  };
  const answer = (method: string, params: Record<string, unknown>): { result: unknown } | { error: { code: number; message: string } } => {
    switch (method) {
      case "initialize":
        return { result: { userAgent: "codex-fake", codexHome: "/h" } };
      case "thread/loaded/list":
        return { result: { data: [THREAD], nextCursor: null } };
      case "thread/read":
        if (params.threadId !== THREAD) return { error: { code: -32600, message: "thread not loaded" } };
        return { result: { thread: { id: THREAD, cwd: "/p", source: "vscode", preview: "hi", createdAt: 1, status: { type: "idle" }, ephemeral: false, path: null } } };
      default:
        return { error: { code: -32601, message: "unknown" } };
    }
  };
  const listener = Bun.listen<St>({
    unix: path,
    socket: {
      open(s) {
        s.data = { up: false, head: "", frames: new FrameDecoder(1 << 20) };
        socks.add(s);
      },
      close(s) {
        socks.delete(s);
      },
      data(s, chunk) {
        let bytes = new Uint8Array(chunk);
        if (!s.data.up) {
          s.data.head += dec.decode(bytes);
          const end = s.data.head.indexOf("\r\n\r\n");
          if (end < 0) return;
          const key = /sec-websocket-key:\s*(\S+)/i.exec(s.data.head)?.[1] ?? "";
          s.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(key)}\r\n\r\n`);
          s.data.up = true;
          bytes = enc.encode(s.data.head.slice(end + 4));
        }
        for (const f of s.data.frames.push(bytes)) {
          if (f.opcode === OP.close) {
            s.end();
            return;
          }
          if (f.opcode !== OP.text) continue;
          const msg = JSON.parse(dec.decode(f.payload)) as { id?: number; method: string; params?: Record<string, unknown> };
          if (msg.id !== undefined) send(s, { id: msg.id, ...answer(msg.method, msg.params ?? {}) });
        }
      },
    },
  });
  return {
    notify: (method, params) => {
      for (const s of socks) if (s.data.up) send(s, { method, params, emittedAtMs: Date.now() });
    },
    dropAll: () => {
      for (const s of socks) s.end();
    },
    stop: () => listener.stop(true),
  };
}
