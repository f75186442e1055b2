/**
 * The passive Codex app-server client (src/adapters/codex/appserver.ts)
 * against a small fake daemon written here: WebSocket (RFC 6455) over a unix
 * socket, raw frames, so framing, fragmentation, ping/pong, close and
 * reconnects are under the test's control.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import {
  acceptKey,
  CodexAppServerClient,
  type CodexAppServerClientOptions,
  CodexAppServerError,
  type CodexAppServerEvent,
  defaultSocketPath,
  encodeFrame,
  FrameDecoder,
  OP,
  PASSIVE_CLIENT_NAME,
  parseThread,
  READ_ONLY_METHODS,
  type ReadOnlyMethod,
  uuidV7TimeMs,
} from "../../src/adapters/codex/appserver.ts";
import { waitFor } from "../helpers/wait.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

interface RpcIn {
  id?: number | string;
  method: string;
  params?: unknown;
}

type Handler = (msg: RpcIn, conn: FakeConn) => unknown;

interface FakeConn {
  socket: Bun.Socket<ConnState>;
  /** every frame the client sent, decoded */
  frames: { opcode: number; fin: boolean; masked: boolean; payload: Uint8Array }[];
  messages: RpcIn[];
  sendRaw(bytes: Uint8Array): void;
  sendFrame(opcode: number, payload: Uint8Array | string, fin?: boolean): void;
  send(obj: unknown): void;
  notify(method: string, params: unknown): void;
  end(): void;
}

interface ConnState {
  conn: FakeConn;
  /** bytes a short write left over (flushed on drain) */
  out: Uint8Array[];
  head: Uint8Array;
  upgraded: boolean;
  decoder: FrameDecoder;
}

/** A fake Codex daemon: WebSocket upgrade + JSON-RPC over a unix socket. */
class FakeDaemon {
  conns: FakeConn[] = [];
  received: RpcIn[] = [];
  private listener: Bun.UnixSocketListener<ConnState> | null = null;
  /** answers requests; return an `RpcErr` for a JSON-RPC error, `NO_REPLY` to stay silent */
  handler: Handler = defaultHandler;
  /** the HTTP answer to the upgrade; default a correct 101 */
  upgradeResponse: ((key: string) => string) | null = null;
  /** stop answering pings */
  mutePongs = false;

  constructor(readonly path: string) {}

  start(): void {
    const me = (): FakeDaemon => this;
    this.listener = Bun.listen<ConnState>({
      unix: this.path,
      socket: {
        open(socket) {
          const write = (b: Uint8Array): void => {
            const st = socket.data;
            st.out.push(b);
            flush(socket);
          };
          const conn: FakeConn = {
            socket,
            frames: [],
            messages: [],
            sendRaw: write,
            sendFrame: (op, payload, fin = true) => write(encodeFrame(op, typeof payload === "string" ? enc.encode(payload) : payload, { fin, mask: null })),
            send: (obj) => conn.sendFrame(OP.text, JSON.stringify(obj)),
            notify: (method, params) => conn.send({ method, params, emittedAtMs: 1_700_000_000_000 }),
            end: () => socket.end(),
          };
          socket.data = { conn, out: [], head: new Uint8Array(0), upgraded: false, decoder: new FrameDecoder(1 << 26) };
          me().conns.push(conn);
        },
        drain(socket) {
          flush(socket);
        },
        data(socket, chunk) {
          const st = socket.data;
          let bytes = new Uint8Array(chunk);
          if (!st.upgraded) {
            const all = new Uint8Array(st.head.length + bytes.length);
            all.set(st.head);
            all.set(bytes, st.head.length);
            const text = dec.decode(all);
            const end = text.indexOf("\r\n\r\n");
            if (end < 0) {
              st.head = all;
              return;
            }
            const key = /sec-websocket-key:\s*(\S+)/i.exec(text)?.[1] ?? "";
            const resp =
              me().upgradeResponse?.(key) ??
              `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(key)}\r\n\r\n`;
            st.conn.sendRaw(enc.encode(resp));
            st.upgraded = true;
            bytes = all.subarray(enc.encode(text.slice(0, end + 4)).length);
            if (bytes.length === 0) return;
          }
          for (const f of st.decoder.push(bytes)) {
            st.conn.frames.push(f);
            if (f.opcode === OP.ping && !me().mutePongs) st.conn.sendFrame(OP.pong, f.payload);
            if (f.opcode === OP.close) {
              socket.end();
              return;
            }
            if (f.opcode !== OP.text) continue;
            const msg = JSON.parse(dec.decode(f.payload)) as RpcIn;
            st.conn.messages.push(msg);
            me().received.push(msg);
            if (msg.id === undefined) continue;
            const result = me().handler(msg, st.conn);
            if (result === NO_REPLY) continue;
            st.conn.send(result instanceof RpcErr ? { id: msg.id, error: { code: result.code, message: result.message } } : { id: msg.id, result });
          }
        },
      },
    });
  }

  stop(): void {
    for (const c of this.conns) {
      try {
        c.socket.end();
      } catch {
        // closed
      }
    }
    this.listener?.stop(true);
    this.listener = null;
  }

  last(): FakeConn {
    const c = this.conns[this.conns.length - 1];
    if (!c) throw new Error("no connection");
    return c;
  }
}

const NO_REPLY = Symbol("no reply");

class RpcErr {
  constructor(
    readonly code: number,
    readonly message: string,
  ) {}
}

function flush(socket: Bun.Socket<ConnState>): void {
  const q = socket.data.out;
  while (q.length > 0) {
    const b = q[0] as Uint8Array;
    const n = socket.write(b);
    if (n < b.length) {
      q[0] = b.subarray(Math.max(0, n));
      return;
    }
    q.shift();
  }
}

const T1 = "01a20c41-91cb-7a00-8fdd-3d0907edcdd9";
const T2 = "01a20c42-a728-73f1-940c-c88e8ecc6fe6";

function threadJson(id: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id,
    sessionId: id,
    preview: "hello there",
    ephemeral: false,
    modelProvider: "mock",
    createdAt: 1_795_501_953,
    updatedAt: 1_795_501_954,
    status: { type: "active", activeFlags: ["waitingOnApproval"] },
    path: `/home/u/.codex/sessions/2026/11/24/rollout-${id}.jsonl`,
    cwd: "/home/u/proj",
    cliVersion: "0.169.0",
    originator: "codex-tui",
    source: "vscode",
    name: null,
    parentThreadId: null,
    turns: [],
    ...over,
  };
}

const defaultHandler: Handler = (msg) => {
  switch (msg.method) {
    case "initialize":
      return { userAgent: "codex-tui/0.169.0 (fake)", codexHome: "/home/u/.codex", platformFamily: "unix", platformOs: "linux" };
    case "thread/loaded/list": {
      const cursor = (msg.params as { cursor?: string } | undefined)?.cursor;
      return cursor === undefined ? { data: [T1], nextCursor: "page2" } : { data: [T2], nextCursor: null };
    }
    case "thread/turns/list": {
      const id = (msg.params as { threadId: string }).threadId;
      if (id === T2) return new RpcErr(-32600, `thread ${id} is not materialized yet; thread/turns/list is unavailable before first user message`);
      return { data: [{ id: "turn-9", items: [], itemsView: "notLoaded", status: "interrupted", error: null, startedAt: 1, completedAt: 2, durationMs: 1000 }], nextCursor: null };
    }
    case "thread/read": {
      const id = (msg.params as { threadId: string }).threadId;
      if (id !== T1 && id !== T2) return new RpcErr(-32600, `thread not loaded: ${id}`);
      return { thread: threadJson(id), readState: null };
    }
    default:
      return new RpcErr(-32601, `unknown method ${msg.method}`);
  }
};

let dirs: string[] = [];
const clients: CodexAppServerClient[] = [];
const daemons: FakeDaemon[] = [];

function sockPath(): string {
  const root = process.env.AGTMUX_TEST_ROOT ?? "/tmp";
  const d = mkdtempSync(join(root, "cas-"));
  dirs.push(d);
  return join(d, "d.sock");
}

function daemon(path = sockPath()): FakeDaemon {
  const d = new FakeDaemon(path);
  d.start();
  daemons.push(d);
  return d;
}

function client(path: string, opts: Partial<CodexAppServerClientOptions> = {}): { c: CodexAppServerClient; events: CodexAppServerEvent[] } {
  const c = new CodexAppServerClient({ socketPath: path, requestTimeoutMs: 1_000, reconnect: { initialDelayMs: 20, maxDelayMs: 100 }, ...opts });
  const events: CodexAppServerEvent[] = [];
  c.on((e) => events.push(e));
  clients.push(c);
  return { c, events };
}

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  for (const d of daemons.splice(0)) d.stop();
  dirs = [];
});

describe("codex app-server client: handshake and JSON-RPC", () => {
  test("connects, initializes, sends `initialized`, masks every frame", async () => {
    const d = daemon();
    const { c, events } = client(d.path, { clientName: "agtmux-test", clientVersion: "9.9.9" });
    await c.connect();
    expect(c.connected).toBe(true);
    expect(c.serverInfo).toEqual({ userAgent: "codex-tui/0.169.0 (fake)", codexHome: "/home/u/.codex" });
    await waitFor(() => d.received.some((m) => m.method === "initialized"));
    const [init, initialized] = d.received;
    expect(init?.method).toBe("initialize");
    expect(init?.params).toMatchObject({ clientInfo: { name: "agtmux-test", version: "9.9.9" } });
    expect(initialized).toEqual({ jsonrpc: "2.0", method: "initialized" } as unknown as RpcIn);
    expect(d.last().frames.every((f) => f.masked)).toBe(true);
    expect(events.map((e) => e.type)).toEqual(["connected"]);
  });

  test("loadedThreads follows nextCursor; readThread parses the metadata", async () => {
    const d = daemon();
    const { c } = client(d.path);
    await c.connect();
    // by default it initializes under the one name the daemon treats as non-originating
    expect(d.received[0]?.params).toMatchObject({ clientInfo: { name: PASSIVE_CLIENT_NAME } });
    expect(await c.loadedThreads()).toEqual([T1, T2]);
    const t = await c.readThread(T1);
    expect(t).toEqual({
      id: T1,
      cwd: "/home/u/proj",
      source: "vscode",
      originator: "codex-tui",
      preview: "hello there",
      createdAt: 1_795_501_953,
      createdAtMs: 1_795_501_953_483, // from the UUIDv7 id
      updatedAt: 1_795_501_954,
      status: { type: "active", activeFlags: ["waitingOnApproval"] },
      ephemeral: false,
      path: `/home/u/.codex/sessions/2026/11/24/rollout-${T1}.jsonl`,
      name: null,
      sessionId: T1,
      parentThreadId: null,
      cliVersion: "0.169.0",
    });
    const read = d.received.find((m) => m.method === "thread/read");
    expect(read?.params).toEqual({ threadId: T1, includeTurns: false });
  });

  test("lastTurn: the newest turn's outcome; null before the first prompt", async () => {
    const d = daemon();
    const { c } = client(d.path);
    await c.connect();
    expect(await c.lastTurn(T1)).toEqual({ id: "turn-9", status: "interrupted", errorMessage: null, startedAt: 1, completedAt: 2, durationMs: 1000 });
    expect(d.received.find((m) => m.method === "thread/turns/list")?.params).toEqual({ threadId: T1, limit: 1, sortDirection: "desc", itemsView: "notLoaded" });
    expect(await c.lastTurn(T2)).toBeNull();
  });

  test("JSON-RPC errors reject with kind rpc_error and the code", async () => {
    const d = daemon();
    const { c } = client(d.path);
    await c.connect();
    const err = await c.readThread("01a20c3c-188c-7bd3-83e5-000000000000").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CodexAppServerError);
    expect(err).toMatchObject({ kind: "rpc_error", code: -32600 });
  });

  test("a request without an answer times out (kind timeout)", async () => {
    const d = daemon();
    d.handler = (m, conn) => (m.method === "thread/loaded/list" ? NO_REPLY : defaultHandler(m, conn));
    const { c } = client(d.path, { requestTimeoutMs: 150 });
    await c.connect();
    await expect(c.loadedThreads()).rejects.toMatchObject({ kind: "timeout" });
    // the connection stays usable
    expect((await c.readThread(T2)).id).toBe(T2);
  });

  test("passive: only read-only methods can be sent, and server requests are never answered", async () => {
    const d = daemon();
    const { c, events } = client(d.path, { allNotifications: true });
    await c.connect();
    await expect(c.request("turn/interrupt" as ReadOnlyMethod, { threadId: T1 })).rejects.toMatchObject({ kind: "forbidden_method" });
    // an approval request addressed to us: must stay unanswered (an answer could decide it)
    d.last().send({ id: 77, method: "item/commandExecution/requestApproval", params: { threadId: T1 } });
    d.last().notify("thread/closed", { threadId: T1 });
    await waitFor(() => events.some((e) => e.type === "thread/closed"));
    await c.loadedThreads();
    await c.readThread(T1);
    const sent = d.received.map((m) => m.method);
    for (const m of sent) expect([...READ_ONLY_METHODS, "initialized"]).toContain(m);
    expect(d.received.some((m) => m.id === 77)).toBe(false);
    expect(events.some((e) => e.type === "notification" && e.method === "item/commandExecution/requestApproval")).toBe(false);
  });
});

describe("codex app-server client: notifications", () => {
  test("thread and turn notifications become typed events; others only with allNotifications", async () => {
    const d = daemon();
    const { c, events } = client(d.path);
    await c.connect();
    const conn = d.last();
    conn.notify("configWarning", { summary: "no bubblewrap" });
    conn.notify("thread/started", { thread: threadJson(T2, { ephemeral: true, preview: "", status: { type: "idle" }, source: { custom: "x" } }) });
    conn.notify("thread/status/changed", { threadId: T1, status: { type: "active", activeFlags: [] } });
    conn.notify("thread/status/changed", { threadId: T1, status: { type: "active", activeFlags: ["waitingOnApproval"] } });
    conn.notify("thread/status/changed", { threadId: T1, status: { type: "systemError" } });
    conn.notify("thread/status/changed", { threadId: T1, status: { type: "somethingNew", x: 1 } });
    conn.notify("turn/started", { threadId: T1, turn: { id: "turn-1", items: [], status: "inProgress", startedAt: 5 } });
    conn.notify("turn/completed", { threadId: T1, turn: { id: "turn-1", items: [], status: "failed", error: { message: "boom" }, durationMs: 12 } });
    conn.notify("thread/closed", { threadId: T1 });
    await waitFor(() => events.some((e) => e.type === "thread/closed"));
    const got = events.filter((e) => e.type !== "connected");
    expect(got.map((e) => e.type)).toEqual([
      "thread/started",
      "thread/status/changed",
      "thread/status/changed",
      "thread/status/changed",
      "thread/status/changed",
      "turn/started",
      "turn/completed",
      "thread/closed",
    ]);
    const started = got[0];
    if (started?.type !== "thread/started") throw new Error("expected thread/started");
    expect(started.thread).toMatchObject({ id: T2, ephemeral: true, source: "custom:x", status: { type: "idle" } });
    expect(started.emittedAtMs).toBe(1_700_000_000_000);
    expect(got.slice(1, 5).map((e) => (e.type === "thread/status/changed" ? e.status : null))).toEqual([
      { type: "active", activeFlags: [] },
      { type: "active", activeFlags: ["waitingOnApproval"] },
      { type: "systemError" },
      { type: "other", raw: { type: "somethingNew", x: 1 } },
    ]);
    const done = got[6];
    if (done?.type !== "turn/completed") throw new Error("expected turn/completed");
    expect(done.turn).toEqual({ id: "turn-1", status: "failed", errorMessage: "boom", startedAt: null, completedAt: null, durationMs: 12 });

    const all = client(d.path, { allNotifications: true });
    await all.c.connect();
    d.last().notify("configWarning", { summary: "no bubblewrap" });
    await waitFor(() => all.events.some((e) => e.type === "notification"));
    expect(all.events.find((e) => e.type === "notification")).toMatchObject({ method: "configWarning", params: { summary: "no bubblewrap" } });
  });

  test("events() iterates in order and ends at close()", async () => {
    const d = daemon();
    const { c } = client(d.path);
    const it = c.events();
    await c.connect();
    d.last().notify("thread/status/changed", { threadId: T1, status: { type: "idle" } });
    const types: string[] = [];
    for await (const e of it) {
      types.push(e.type);
      if (e.type === "thread/status/changed") void c.close();
    }
    expect(types).toEqual(["connected", "thread/status/changed"]);
  });

  test("a malformed notification is dropped without dropping the connection", async () => {
    const d = daemon();
    const logs: string[] = [];
    const { c, events } = client(d.path, { log: (m) => logs.push(m) });
    await c.connect();
    d.last().notify("thread/started", { thread: { noId: true } });
    d.last().sendFrame(OP.text, "not json");
    d.last().notify("thread/closed", { threadId: T1 });
    await waitFor(() => events.some((e) => e.type === "thread/closed"));
    expect(c.connected).toBe(true);
    expect(logs.join("\n")).toContain("bad thread/started");
    expect(logs.join("\n")).toContain("not JSON");
  });
});

describe("codex app-server client: WebSocket framing", () => {
  test("a message fragmented over three frames with a ping in between; the ping is answered with its payload", async () => {
    const d = daemon();
    const { c, events } = client(d.path);
    await c.connect();
    const conn = d.last();
    const text = JSON.stringify({ method: "thread/status/changed", params: { threadId: T1, status: { type: "idle" } } });
    conn.sendFrame(OP.text, text.slice(0, 10), false);
    conn.sendFrame(OP.ping, "are-you-there");
    conn.sendFrame(OP.continuation, text.slice(10, 30), false);
    conn.sendFrame(OP.continuation, text.slice(30), true);
    await waitFor(() => events.some((e) => e.type === "thread/status/changed"));
    await waitFor(() => conn.frames.some((f) => f.opcode === OP.pong));
    const pong = conn.frames.find((f) => f.opcode === OP.pong);
    expect(pong?.masked).toBe(true);
    expect(dec.decode(pong?.payload)).toBe("are-you-there");
  });

  test("frames split across writes byte by byte, and 16-/64-bit payload lengths", async () => {
    const d = daemon();
    const { c, events } = client(d.path, { allNotifications: true });
    await c.connect();
    const conn = d.last();
    const small = enc.encode(JSON.stringify({ method: "thread/closed", params: { threadId: T1 } }));
    const frame = encodeFrame(OP.text, small, { mask: null });
    for (let i = 0; i < frame.length; i++) {
      conn.sendRaw(frame.subarray(i, i + 1));
      await Bun.sleep(0);
    }
    await waitFor(() => events.some((e) => e.type === "thread/closed"));
    for (const size of [300, 70_000, 300_000]) {
      const payload = "x".repeat(size);
      conn.notify("big/one", { payload });
      await waitFor(() => events.some((e) => e.type === "notification" && (e.params as { payload: string }).payload.length === size), { message: `${size}-byte message` });
    }
  });

  test("FrameDecoder: partial input, masked frames, limits and protocol errors", () => {
    const payload = enc.encode("hello");
    const masked = encodeFrame(OP.text, payload, { mask: new Uint8Array([1, 2, 3, 4]) });
    const dd = new FrameDecoder(1024);
    expect(dd.push(masked.subarray(0, 3))).toEqual([]);
    const [f] = dd.push(masked.subarray(3));
    expect(f?.masked).toBe(true);
    expect(dec.decode(f?.payload)).toBe("hello");
    // two frames in one chunk
    const two = new Uint8Array([...encodeFrame(OP.text, enc.encode("a"), { mask: null }), ...encodeFrame(OP.text, enc.encode("b"), { mask: null })]);
    expect(new FrameDecoder(1024).push(two).map((x) => dec.decode(x.payload))).toEqual(["a", "b"]);
    expect(() => new FrameDecoder(10).push(encodeFrame(OP.text, new Uint8Array(11), { mask: null }))).toThrow(CodexAppServerError);
    expect(() => new FrameDecoder(1024).push(new Uint8Array([0xc1, 0x00]))).toThrow(/reserved bits/);
    expect(() => new FrameDecoder(1024).push(encodeFrame(OP.ping, new Uint8Array(0), { fin: false, mask: null }))).toThrow(/control frame/);
  });

  test("invalid UTF-8 or an unknown opcode drops the connection (kind protocol), then it reconnects", async () => {
    const d = daemon();
    const { c, events } = client(d.path);
    c.start();
    await waitFor(() => c.connected);
    d.last().sendFrame(OP.text, new Uint8Array([0xff, 0xfe]));
    await waitFor(() => events.some((e) => e.type === "disconnected"));
    const dis = events.find((e) => e.type === "disconnected");
    expect(dis?.type === "disconnected" && dis.error.kind).toBe("protocol");
    await waitFor(() => events.filter((e) => e.type === "connected").length === 2);
    d.last().sendFrame(0x3, "reserved opcode");
    await waitFor(() => events.filter((e) => e.type === "disconnected").length === 2);
  });
});

describe("codex app-server client: close, failures and reconnect", () => {
  test("the daemon's close frame is echoed; pending requests fail with kind closed and the close code", async () => {
    const d = daemon();
    d.handler = (m, conn) => (m.method === "thread/loaded/list" ? NO_REPLY : defaultHandler(m, conn));
    const { c, events } = client(d.path, { reconnect: false });
    await c.connect();
    const conn = d.last();
    const pending = c.loadedThreads().catch((e: unknown) => e);
    await waitFor(() => conn.messages.some((m) => m.method === "thread/loaded/list"));
    conn.sendFrame(OP.close, new Uint8Array([0x03, 0xe9, ...enc.encode("going away")]));
    const err = await pending;
    expect(err).toMatchObject({ kind: "closed", code: 1001 });
    await waitFor(() => conn.frames.some((f) => f.opcode === OP.close));
    const echoed = conn.frames.find((f) => f.opcode === OP.close);
    expect([...(echoed?.payload ?? [])]).toEqual([0x03, 0xe9]);
    const dis = events.find((e) => e.type === "disconnected");
    expect(dis?.type === "disconnected" && dis.error).toMatchObject({ kind: "closed", code: 1001 });
    expect(c.connected).toBe(false);
    await expect(c.loadedThreads()).rejects.toMatchObject({ kind: "closed" });
  });

  test("close() from the client sends a close frame 1000", async () => {
    const d = daemon();
    const { c } = client(d.path);
    await c.connect();
    const conn = d.last();
    await c.close();
    await waitFor(() => conn.frames.some((f) => f.opcode === OP.close));
    expect([...(conn.frames.find((f) => f.opcode === OP.close)?.payload ?? [])]).toEqual([0x03, 0xe8]);
    await expect(c.connect()).rejects.toMatchObject({ kind: "closed" });
  });

  test("typed connect errors: missing socket, nothing listening, refused upgrade, bad accept key", async () => {
    const missing = client(join(sockPath(), "nope.sock"), { reconnect: false });
    await expect(missing.c.connect()).rejects.toMatchObject({ kind: "socket_missing" });

    const stalePath = sockPath();
    const stale = daemon(stalePath);
    stale.stop(); // nobody listens any more (the socket file may or may not be left behind)
    const refused = client(stalePath, { reconnect: false });
    const err = await refused.c.connect().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CodexAppServerError);
    expect(["connect_failed", "socket_missing"]).toContain((err as CodexAppServerError).kind);

    const d400 = daemon();
    d400.upgradeResponse = () => "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
    await expect(client(d400.path, { reconnect: false }).c.connect()).rejects.toMatchObject({ kind: "handshake_failed" });

    const dbad = daemon();
    dbad.upgradeResponse = () => "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: AAAA\r\n\r\n";
    await expect(client(dbad.path, { reconnect: false }).c.connect()).rejects.toMatchObject({ kind: "handshake_failed", message: expect.stringContaining("Accept") });
  });

  test("start() waits for a daemon that is not there yet, and reconnects after it restarts", async () => {
    const path = sockPath();
    const { c, events } = client(path);
    c.start();
    await Bun.sleep(150);
    expect(c.connected).toBe(false);
    let d = daemon(path);
    await waitFor(() => c.connected, { message: "first connect" });
    // daemon goes away (connection reset, no close frame) and comes back on the same path
    d.stop();
    await waitFor(() => events.some((e) => e.type === "disconnected"), { message: "disconnected" });
    expect(c.connected).toBe(false);
    await Bun.sleep(100);
    d = daemon(path);
    await waitFor(() => events.filter((e) => e.type === "connected").length === 2, { message: "reconnected" });
    expect(await c.loadedThreads()).toEqual([T1, T2]);
    expect(d.received.filter((m) => m.method === "initialize")).toHaveLength(1);
    expect(events.map((e) => e.type)).toEqual(["connected", "disconnected", "connected"]);
  });

  test("pingIntervalMs: pings the daemon; a daemon that stops answering pongs is dropped (kind timeout)", async () => {
    const d = daemon();
    const { c, events } = client(d.path, { pingIntervalMs: 40, reconnect: false });
    await c.connect();
    const conn = d.last();
    await waitFor(() => conn.frames.filter((f) => f.opcode === OP.ping).length >= 2, { message: "pings" });
    expect(c.connected).toBe(true);
    // from now on the fake swallows pings instead of answering them
    d.mutePongs = true;
    await waitFor(() => events.some((e) => e.type === "disconnected"), { timeoutMs: 2_000, message: "dropped" });
    const dis = events.find((e) => e.type === "disconnected");
    expect(dis?.type === "disconnected" && dis.error.kind).toBe("timeout");
  });

  test("reconnect=false stays down after a drop", async () => {
    const d = daemon();
    const { c, events } = client(d.path, { reconnect: false });
    c.start();
    await waitFor(() => c.connected);
    d.last().end();
    await waitFor(() => events.some((e) => e.type === "disconnected"));
    await Bun.sleep(150);
    expect(d.conns).toHaveLength(1);
  });
});

describe("codex app-server helpers", () => {
  test("uuidV7TimeMs, parseThread fallbacks, defaultSocketPath", () => {
    expect(uuidV7TimeMs(T1)).toBe(0x01a20c4191cb);
    expect(uuidV7TimeMs("not-a-uuid")).toBeNull();
    expect(uuidV7TimeMs("01a20c41-91cb-4a00-8fdd-3d0907edcdd9")).toBeNull(); // v4
    const t = parseThread({ id: "custom-id", createdAt: 10, source: { subAgent: { thread_spawn: {} } }, status: null });
    expect(t).toMatchObject({ createdAtMs: 10_000, source: "subAgent", status: { type: "other", raw: null }, cwd: "", preview: "", path: null });
    expect(() => parseThread({})).toThrow(CodexAppServerError);
    expect(defaultSocketPath({ CODEX_HOME: "/x/ch" })).toBe("/x/ch/app-server-control/app-server-control.sock");
    expect(defaultSocketPath({ HOME: "/home/u" })).toBe("/home/u/.codex/app-server-control/app-server-control.sock");
  });
});
