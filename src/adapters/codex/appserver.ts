/**
 * A passive client of the Codex (≥0.16x) app-server daemon.
 *
 * In daemon mode every Codex TUI is a client of one shared per-user daemon
 * that runs the threads; the daemon listens on a unix socket
 * (`$CODEX_HOME/app-server-control/app-server-control.sock`, a symlink into
 * `/tmp/codex-daemon-<uid>/`) and speaks JSON-RPC 2.0 in WebSocket text
 * frames. Any extra client that completes `initialize` + `initialized`
 * receives the daemon's `thread/status/changed` (and `thread/started`,
 * `thread/closed`, …) broadcasts for every thread without subscribing to it.
 *
 * This module is that extra client. It is read-only by construction: the
 * only requests it can send are the ones in `READ_ONLY_METHODS`; requests the
 * server sends to it are logged and never answered (an answer to an approval
 * request could decide it). The WebSocket layer is a minimal RFC 6455 client
 * over `Bun.connect({ unix })` (text/binary messages, fragmentation, masking,
 * ping/pong, close handshake), so it does not depend on the runtime's own
 * WebSocket support for unix sockets.
 *
 * Observed against codex-cli 0.169.0, see docs/agents/codex.md.
 */
import { createHash, randomBytes } from "node:crypto";
import { join } from "node:path";

// ---------------------------------------------------------------------------
// Errors

export type CodexAppServerErrorKind =
  /** the socket path does not exist (no daemon has ever run, or it was removed) */
  | "socket_missing"
  /** connect(2) failed (daemon not listening: ECONNREFUSED, stale symlink, …) */
  | "connect_failed"
  /** the HTTP upgrade was refused or malformed */
  | "handshake_failed"
  /** a malformed frame or JSON-RPC message; the connection is dropped */
  | "protocol"
  /** the server answered a request with a JSON-RPC error */
  | "rpc_error"
  /** no answer within the request timeout */
  | "timeout"
  /** the connection closed (or was never open) while a request was pending */
  | "closed"
  /** the method is not in READ_ONLY_METHODS */
  | "forbidden_method";

export class CodexAppServerError extends Error {
  override readonly name = "CodexAppServerError";
  constructor(
    readonly kind: CodexAppServerErrorKind,
    message: string,
    /** JSON-RPC error code (rpc_error) or WebSocket close code (closed) */
    readonly code?: number,
  ) {
    super(message);
  }
}

// ---------------------------------------------------------------------------
// Protocol types (the subset this client reads; from `codex app-server generate-json-schema`)

export type CodexActiveFlag = "waitingOnApproval" | "waitingOnUserInput";

export type CodexThreadStatus =
  | { type: "notLoaded" }
  | { type: "idle" }
  | { type: "systemError" }
  | { type: "active"; activeFlags: string[] }
  /** a status type this version does not know; kept verbatim */
  | { type: "other"; raw: unknown };

export interface CodexThreadInfo {
  id: string;
  /** working directory captured for the thread (= the TUI's cwd) */
  cwd: string;
  /** "vscode" for threads of daemon-mode TUIs, "cli" for --no-daemon, "exec", "appServer", "custom:<x>", "subAgent", … */
  source: string;
  /** "codex-tui" for the TUI; null when unknown */
  originator: string | null;
  /** usually the first user message ("" before the first prompt) */
  preview: string;
  /** seconds since the epoch (the daemon's clock) */
  createdAt: number;
  /** ms since the epoch from the UUIDv7 id when it is one, else createdAt * 1000 */
  createdAtMs: number;
  updatedAt: number | null;
  status: CodexThreadStatus;
  /** side threads (the TUI's title generation) are ephemeral: not shown to users */
  ephemeral: boolean;
  /** the rollout JSONL file (unstable field) */
  path: string | null;
  name: string | null;
  sessionId: string | null;
  parentThreadId: string | null;
  cliVersion: string | null;
}

export interface CodexTurnInfo {
  id: string;
  /** "completed" | "interrupted" | "failed" | "inProgress" */
  status: string;
  errorMessage: string | null;
  startedAt: number | null;
  completedAt: number | null;
  durationMs: number | null;
}

interface EventBase {
  /** local clock (ms) when the message arrived */
  receivedAt: number;
  /** the daemon's `emittedAtMs` when present */
  emittedAtMs: number | null;
}

export type CodexAppServerEvent =
  | { type: "connected"; receivedAt: number; userAgent: string; codexHome: string; socketPath: string }
  | { type: "disconnected"; receivedAt: number; error: CodexAppServerError }
  | (EventBase & { type: "thread/status/changed"; threadId: string; status: CodexThreadStatus })
  | (EventBase & { type: "thread/started"; thread: CodexThreadInfo })
  | (EventBase & { type: "thread/closed"; threadId: string })
  | (EventBase & { type: "turn/started"; threadId: string; turn: CodexTurnInfo })
  | (EventBase & { type: "turn/completed"; threadId: string; turn: CodexTurnInfo })
  /** any other notification, only when `allNotifications` is set */
  | (EventBase & { type: "notification"; method: string; params: unknown });

/** The only JSON-RPC requests this client ever sends: none of them changes Codex state. */
export const READ_ONLY_METHODS = ["initialize", "thread/loaded/list", "thread/read", "thread/list", "thread/turns/list"] as const;
export type ReadOnlyMethod = (typeof READ_ONLY_METHODS)[number];

// ---------------------------------------------------------------------------
// Parsing helpers

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown): string | null => (typeof v === "string" ? v : null);
const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

/** The millisecond timestamp of a UUIDv7 (the first 48 bits), or null. */
export function uuidV7TimeMs(id: string): number | null {
  const m = /^([0-9a-f]{8})-([0-9a-f]{4})-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i.exec(id);
  if (!m) return null;
  return Number.parseInt(`${m[1]}${m[2]}`, 16);
}

export function parseThreadStatus(v: unknown): CodexThreadStatus {
  if (!isObj(v)) return { type: "other", raw: v };
  switch (v.type) {
    case "notLoaded":
    case "idle":
    case "systemError":
      return { type: v.type };
    case "active":
      return { type: "active", activeFlags: Array.isArray(v.activeFlags) ? v.activeFlags.filter((f): f is string => typeof f === "string") : [] };
    default:
      return { type: "other", raw: v };
  }
}

function sourceString(v: unknown): string {
  if (typeof v === "string") return v;
  if (isObj(v)) {
    if (typeof v.custom === "string") return `custom:${v.custom}`;
    if ("subAgent" in v) return "subAgent";
    const k = Object.keys(v)[0];
    if (k !== undefined) return k;
  }
  return "unknown";
}

export function parseThread(v: unknown): CodexThreadInfo {
  if (!isObj(v) || typeof v.id !== "string") throw new CodexAppServerError("protocol", "thread object without an id");
  const createdAt = num(v.createdAt) ?? 0;
  return {
    id: v.id,
    cwd: str(v.cwd) ?? "",
    source: sourceString(v.source),
    originator: str(v.originator),
    preview: str(v.preview) ?? "",
    createdAt,
    createdAtMs: uuidV7TimeMs(v.id) ?? createdAt * 1000,
    updatedAt: num(v.updatedAt),
    status: parseThreadStatus(v.status),
    ephemeral: v.ephemeral === true,
    path: str(v.path),
    name: str(v.name),
    sessionId: str(v.sessionId),
    parentThreadId: str(v.parentThreadId),
    cliVersion: str(v.cliVersion),
  };
}

export function parseTurn(v: unknown): CodexTurnInfo {
  if (!isObj(v) || typeof v.id !== "string") throw new CodexAppServerError("protocol", "turn object without an id");
  const err = isObj(v.error) ? str(v.error.message) : null;
  return {
    id: v.id,
    status: str(v.status) ?? "unknown",
    errorMessage: err,
    startedAt: num(v.startedAt),
    completedAt: num(v.completedAt),
    durationMs: num(v.durationMs),
  };
}

/** Turns one server notification into an event (null: not one this client reports). */
export function parseNotification(method: string, params: unknown, receivedAt: number, emittedAtMs: number | null, all = false): CodexAppServerEvent | null {
  const p = isObj(params) ? params : {};
  const base = { receivedAt, emittedAtMs };
  switch (method) {
    case "thread/status/changed": {
      const threadId = str(p.threadId);
      return threadId === null ? null : { ...base, type: method, threadId, status: parseThreadStatus(p.status) };
    }
    case "thread/started":
      return { ...base, type: method, thread: parseThread(p.thread) };
    case "thread/closed": {
      const threadId = str(p.threadId);
      return threadId === null ? null : { ...base, type: method, threadId };
    }
    case "turn/started":
    case "turn/completed": {
      const threadId = str(p.threadId);
      return threadId === null ? null : { ...base, type: method, threadId, turn: parseTurn(p.turn) };
    }
    default:
      return all ? { ...base, type: "notification", method, params } : null;
  }
}

// ---------------------------------------------------------------------------
// Socket path

/** `$CODEX_HOME` or `~/.codex`. */
export function codexHome(env: Record<string, string | undefined> = process.env): string {
  const h = env.CODEX_HOME;
  if (h !== undefined && h !== "") return h;
  return join(env.HOME ?? "/", ".codex");
}

/** `$CODEX_HOME/app-server-control/app-server-control.sock` (a symlink to the daemon's socket). */
export function defaultSocketPath(env: Record<string, string | undefined> = process.env): string {
  return join(codexHome(env), "app-server-control", "app-server-control.sock");
}

// ---------------------------------------------------------------------------
// Minimal RFC 6455 client over a unix socket

const WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const MAX_HEADER_BYTES = 16 * 1024;

export const OP = { continuation: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;

/** Encodes one frame. Client frames are masked (RFC 6455 §5.3); `mask` is for tests. */
export function encodeFrame(opcode: number, payload: Uint8Array, opts: { fin?: boolean; mask?: Uint8Array | null } = {}): Uint8Array {
  const fin = opts.fin ?? true;
  const mask = opts.mask === undefined ? new Uint8Array(randomBytes(4)) : opts.mask;
  const len = payload.length;
  const extra = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const head = 2 + extra + (mask ? 4 : 0);
  const out = new Uint8Array(head + len);
  out[0] = (fin ? 0x80 : 0) | (opcode & 0x0f);
  const maskBit = mask ? 0x80 : 0;
  if (extra === 0) out[1] = maskBit | len;
  else if (extra === 2) {
    out[1] = maskBit | 126;
    out[2] = len >>> 8;
    out[3] = len & 0xff;
  } else {
    out[1] = maskBit | 127;
    new DataView(out.buffer).setBigUint64(2, BigInt(len));
  }
  if (mask) {
    out.set(mask, 2 + extra);
    for (let i = 0; i < len; i++) out[head + i] = (payload[i] as number) ^ (mask[i & 3] as number);
  } else out.set(payload, head);
  return out;
}

export interface Frame {
  fin: boolean;
  opcode: number;
  /** the frame was masked (client frames must be, server frames must not be) */
  masked: boolean;
  payload: Uint8Array;
}

/** Incremental frame decoder: push bytes, get whole frames. Throws CodexAppServerError("protocol"). */
export class FrameDecoder {
  private buf: Uint8Array = new Uint8Array(0);
  constructor(private readonly maxFrameBytes: number) {}

  push(chunk: Uint8Array): Frame[] {
    this.buf = this.buf.length === 0 ? chunk.slice() : concat([this.buf, chunk]);
    const frames: Frame[] = [];
    for (;;) {
      const b = this.buf;
      if (b.length < 2) break;
      const b0 = b[0] as number;
      const b1 = b[1] as number;
      if ((b0 & 0x70) !== 0) throw new CodexAppServerError("protocol", "reserved bits set in a frame (no extension was negotiated)");
      const fin = (b0 & 0x80) !== 0;
      const opcode = b0 & 0x0f;
      const masked = (b1 & 0x80) !== 0;
      let len = b1 & 0x7f;
      let off = 2;
      if (len === 126) {
        if (b.length < 4) break;
        len = ((b[2] as number) << 8) | (b[3] as number);
        off = 4;
      } else if (len === 127) {
        if (b.length < 10) break;
        const big = new DataView(b.buffer, b.byteOffset + 2, 8).getBigUint64(0);
        if (big > BigInt(this.maxFrameBytes)) throw new CodexAppServerError("protocol", `frame of ${big} bytes exceeds the limit`);
        len = Number(big);
        off = 10;
      }
      if (len > this.maxFrameBytes) throw new CodexAppServerError("protocol", `frame of ${len} bytes exceeds the limit`);
      if (opcode >= 8 && (!fin || len > 125)) throw new CodexAppServerError("protocol", "fragmented or oversized control frame");
      const maskOff = off;
      if (masked) off += 4;
      if (b.length < off + len) break;
      const payload = b.slice(off, off + len);
      if (masked) {
        // servers must not mask (RFC 6455 §5.1); tolerate it rather than drop a daemon we only read from
        for (let i = 0; i < len; i++) payload[i] = (payload[i] as number) ^ (b[maskOff + (i & 3)] as number);
      }
      frames.push({ fin, opcode, masked, payload });
      this.buf = b.subarray(off + len);
      if (this.buf.length === 0) this.buf = new Uint8Array(0);
    }
    return frames;
  }
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function acceptKey(key: string): string {
  return createHash("sha1").update(key + WS_GUID).digest("base64");
}

interface WsHandlers {
  onMessage(text: string): void;
  onClose(ws: UnixWebSocket, err: CodexAppServerError): void;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });
const utf8enc = new TextEncoder();

/** One WebSocket connection over a unix socket. */
class UnixWebSocket {
  private socket: Bun.Socket<undefined> | null = null;
  private readonly pendingWrites: Uint8Array[] = [];
  private decoder: FrameDecoder;
  private fragments: Uint8Array[] = [];
  private fragmentBytes = 0;
  private fragmentOpcode = 0;
  private closed = false;
  private closeSent = false;
  private handshakeDone = false;
  private headerBuf: Uint8Array = new Uint8Array(0);
  lastPongAt = 0;

  get isClosed(): boolean {
    return this.closed;
  }

  private constructor(
    private readonly handlers: WsHandlers,
    private readonly maxMessageBytes: number,
  ) {
    this.decoder = new FrameDecoder(maxMessageBytes);
  }

  static open(path: string, handlers: WsHandlers, opts: { timeoutMs: number; maxMessageBytes: number }): Promise<UnixWebSocket> {
    const ws = new UnixWebSocket(handlers, opts.maxMessageBytes);
    const key = Buffer.from(randomBytes(16)).toString("base64");
    return new Promise<UnixWebSocket>((resolve, reject) => {
      let settled = false;
      const fail = (err: CodexAppServerError): void => {
        if (settled) {
          ws.terminate(err);
          return;
        }
        settled = true;
        clearTimeout(timer);
        ws.closed = true;
        try {
          ws.socket?.end();
        } catch {
          // already gone
        }
        reject(err);
      };
      const timer = setTimeout(() => fail(new CodexAppServerError("timeout", `WebSocket handshake on ${path} timed out after ${opts.timeoutMs} ms`)), opts.timeoutMs);
      const onHandshake = (): void => {
        settled = true;
        clearTimeout(timer);
        resolve(ws);
      };
      Bun.connect<undefined>({
        unix: path,
        socket: {
          open(s) {
            ws.socket = s;
            const req =
              "GET / HTTP/1.1\r\n" +
              "Host: localhost\r\n" +
              "Upgrade: websocket\r\n" +
              "Connection: Upgrade\r\n" +
              `Sec-WebSocket-Key: ${key}\r\n` +
              "Sec-WebSocket-Version: 13\r\n" +
              "User-Agent: agtmux\r\n\r\n";
            ws.write(utf8enc.encode(req));
          },
          data(_s, chunk) {
            try {
              if (!ws.handshakeDone) {
                const rest = ws.readHandshake(new Uint8Array(chunk), key);
                if (rest === null) return;
                ws.handshakeDone = true;
                onHandshake();
                if (rest.length > 0) ws.onBytes(rest);
                return;
              }
              ws.onBytes(new Uint8Array(chunk));
            } catch (err) {
              const e = err instanceof CodexAppServerError ? err : new CodexAppServerError("protocol", String(err));
              if (!ws.handshakeDone) fail(e);
              else ws.terminate(e);
            }
          },
          drain() {
            ws.flush();
          },
          close() {
            if (!settled) fail(new CodexAppServerError("handshake_failed", "the daemon closed the connection during the WebSocket handshake"));
            else ws.terminate(new CodexAppServerError("closed", "the daemon closed the connection"));
          },
          error(_s, err) {
            const e = new CodexAppServerError("closed", `socket error: ${err.message}`);
            if (!settled) fail(e);
            else ws.terminate(e);
          },
        },
      }).catch((err: unknown) => {
        const code = (err as { code?: string } | null)?.code;
        const msg = err instanceof Error ? err.message : String(err);
        fail(new CodexAppServerError(code === "ENOENT" ? "socket_missing" : "connect_failed", `cannot connect to ${path}: ${code ?? msg}`));
      });
    });
  }

  /** Returns the bytes after the response headers once they are complete, null while incomplete. */
  private readHandshake(chunk: Uint8Array, key: string): Uint8Array | null {
    this.headerBuf = concat([this.headerBuf, chunk]);
    const b = this.headerBuf;
    let end = -1;
    for (let i = 3; i < b.length; i++) {
      if (b[i] === 10 && b[i - 1] === 13 && b[i - 2] === 10 && b[i - 3] === 13) {
        end = i + 1;
        break;
      }
    }
    if (end < 0) {
      if (b.length > MAX_HEADER_BYTES) throw new CodexAppServerError("handshake_failed", "HTTP upgrade response headers too large");
      return null;
    }
    const head = new TextDecoder().decode(b.subarray(0, end));
    const lines = head.split("\r\n");
    const status = /^HTTP\/1\.1 (\d{3})/.exec(lines[0] ?? "");
    if (!status || status[1] !== "101") throw new CodexAppServerError("handshake_failed", `WebSocket upgrade refused: ${lines[0] ?? "(no status line)"}`);
    const headers = new Map<string, string>();
    for (const l of lines.slice(1)) {
      const i = l.indexOf(":");
      if (i > 0) headers.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
    }
    if ((headers.get("upgrade") ?? "").toLowerCase() !== "websocket") throw new CodexAppServerError("handshake_failed", "upgrade response without `Upgrade: websocket`");
    if (headers.get("sec-websocket-accept") !== acceptKey(key)) throw new CodexAppServerError("handshake_failed", "bad Sec-WebSocket-Accept");
    const rest = b.slice(end);
    this.headerBuf = new Uint8Array(0);
    return rest;
  }

  private onBytes(chunk: Uint8Array): void {
    for (const f of this.decoder.push(chunk)) {
      if (this.closed) return;
      this.onFrame(f);
    }
  }

  private onFrame(f: Frame): void {
    switch (f.opcode) {
      case OP.ping:
        this.write(encodeFrame(OP.pong, f.payload));
        return;
      case OP.pong:
        this.lastPongAt = Date.now();
        return;
      case OP.close: {
        const code = f.payload.length >= 2 ? ((f.payload[0] as number) << 8) | (f.payload[1] as number) : 1005;
        let reason = "";
        try {
          reason = utf8.decode(f.payload.subarray(2));
        } catch {
          // ignore a bad reason
        }
        if (!this.closeSent) {
          this.closeSent = true;
          this.write(encodeFrame(OP.close, f.payload.subarray(0, 2)));
        }
        this.terminate(new CodexAppServerError("closed", `the daemon closed the WebSocket (${code}${reason ? ` ${reason}` : ""})`, code));
        return;
      }
      case OP.text:
      case OP.binary:
        if (this.fragments.length > 0) throw new CodexAppServerError("protocol", "a new message started inside a fragmented one");
        if (f.fin) {
          this.deliver(f.opcode, f.payload);
          return;
        }
        this.fragmentOpcode = f.opcode;
        this.fragments = [f.payload];
        this.fragmentBytes = f.payload.length;
        return;
      case OP.continuation:
        if (this.fragments.length === 0) throw new CodexAppServerError("protocol", "a continuation frame without a message to continue");
        this.fragments.push(f.payload);
        this.fragmentBytes += f.payload.length;
        if (this.fragmentBytes > this.maxMessageBytes) throw new CodexAppServerError("protocol", `message exceeds ${this.maxMessageBytes} bytes`);
        if (f.fin) {
          const all = concat(this.fragments);
          this.fragments = [];
          this.fragmentBytes = 0;
          this.deliver(this.fragmentOpcode, all);
        }
        return;
      default:
        throw new CodexAppServerError("protocol", `unknown opcode ${f.opcode}`);
    }
  }

  private deliver(_opcode: number, payload: Uint8Array): void {
    let text: string;
    try {
      text = utf8.decode(payload);
    } catch {
      throw new CodexAppServerError("protocol", "a message that is not valid UTF-8");
    }
    this.handlers.onMessage(text);
  }

  sendText(text: string): void {
    if (this.closed) throw new CodexAppServerError("closed", "the connection is closed");
    this.write(encodeFrame(OP.text, utf8enc.encode(text)));
  }

  ping(): void {
    if (!this.closed) this.write(encodeFrame(OP.ping, new Uint8Array(0)));
  }

  private write(bytes: Uint8Array): void {
    if (this.socket === null) {
      this.pendingWrites.push(bytes);
      return;
    }
    if (this.pendingWrites.length > 0) {
      this.pendingWrites.push(bytes);
      this.flush();
      return;
    }
    const n = this.socket.write(bytes);
    if (n < bytes.length) this.pendingWrites.push(bytes.subarray(Math.max(0, n)));
  }

  private flush(): void {
    const s = this.socket;
    if (s === null) return;
    while (this.pendingWrites.length > 0) {
      const b = this.pendingWrites[0] as Uint8Array;
      const n = s.write(b);
      if (n < b.length) {
        this.pendingWrites[0] = b.subarray(Math.max(0, n));
        return;
      }
      this.pendingWrites.shift();
    }
  }

  /** Close handshake from our side, then drop the socket. */
  close(code = 1000): void {
    if (this.closed) return;
    if (!this.closeSent) {
      this.closeSent = true;
      try {
        this.write(encodeFrame(OP.close, new Uint8Array([code >>> 8, code & 0xff])));
      } catch {
        // socket already gone
      }
    }
    this.terminate(new CodexAppServerError("closed", "closed by the client", code));
  }

  terminate(err: CodexAppServerError): void {
    if (this.closed) return;
    this.closed = true;
    const s = this.socket;
    if (s !== null) {
      try {
        this.flush();
        s.end();
      } catch {
        // already closed
      }
    }
    this.handlers.onClose(this, err);
  }
}

// ---------------------------------------------------------------------------
// The client

export interface ReconnectOptions {
  /** first delay after a failure, default 250 ms */
  initialDelayMs?: number;
  /** cap, default 5,000 ms */
  maxDelayMs?: number;
  /** growth per failed attempt, default 2 */
  factor?: number;
}

/**
 * The `clientInfo.name` this client initializes with. In 0.169.0 every
 * `initialize` rewrites process-global identity in the daemon unless the name
 * is one of its NON_ORIGINATING_CLIENT_NAMES (`codex_app_server_daemon`,
 * `codex-backend`): the first client of a fresh daemon fixes the `originator`
 * recorded on every later thread and sent as the `originator` header, and each
 * client replaces the `(<name>; <version>)` suffix of the User-Agent sent to
 * the model provider for all threads. Observed: an "agtmux" client that
 * connected first made the TUI's threads `originator: "agtmux"`. Initializing
 * as `codex_app_server_daemon` (the name Codex's own `codex app-server daemon`
 * commands use for their probes) leaves both untouched, so it is the only
 * passive choice; `clientInfo.title` carries our real name (the server ignores it).
 */
export const PASSIVE_CLIENT_NAME = "codex_app_server_daemon";

export interface CodexAppServerClientOptions {
  /** default: defaultSocketPath(env) */
  socketPath?: string;
  env?: Record<string, string | undefined>;
  /** default PASSIVE_CLIENT_NAME; anything else changes the daemon's originator / User-Agent (see there) */
  clientName?: string;
  clientVersion?: string;
  /** per request and for the handshake, default 5,000 ms */
  requestTimeoutMs?: number;
  /** reconnect after the daemon goes away (default on); false: stay down after a disconnect */
  reconnect?: ReconnectOptions | false;
  /** report every notification (as `type: "notification"`) besides the thread/turn ones */
  allNotifications?: boolean;
  /** WebSocket ping interval; no pong for two intervals drops the connection. Default 0 (off) */
  pingIntervalMs?: number;
  /** largest message accepted, default 64 MiB */
  maxMessageBytes?: number;
  /** diagnostics (server requests ignored, unparsable messages) */
  log?: (msg: string) => void;
}

interface Pending {
  method: string;
  resolve(v: unknown): void;
  reject(e: CodexAppServerError): void;
  timer: ReturnType<typeof setTimeout>;
}

export type CodexAppServerListener = (ev: CodexAppServerEvent) => void;

/**
 * A passive, reconnecting client. `start()` keeps a connection up (backoff on
 * failures); `connect()` makes one attempt. Listeners get `connected` after
 * each successful `initialize` (re-read `loadedThreads()` then: notifications
 * sent while disconnected are lost) and `disconnected` when it drops.
 */
export class CodexAppServerClient {
  readonly socketPath: string;
  private ws: UnixWebSocket | null = null;
  private connecting: Promise<void> | null = null;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners = new Set<CodexAppServerListener>();
  private nextId = 1;
  private running = false;
  private stopped = false;
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private readonly opts: Required<Omit<CodexAppServerClientOptions, "socketPath" | "env" | "reconnect" | "log">> & {
    reconnect: Required<ReconnectOptions> | false;
    log: (msg: string) => void;
  };
  /** what `initialize` returned on the current connection */
  serverInfo: { userAgent: string; codexHome: string } | null = null;

  constructor(options: CodexAppServerClientOptions = {}) {
    this.socketPath = options.socketPath ?? defaultSocketPath(options.env ?? process.env);
    this.opts = {
      clientName: options.clientName ?? PASSIVE_CLIENT_NAME,
      clientVersion: options.clientVersion ?? "0.1.0",
      requestTimeoutMs: options.requestTimeoutMs ?? 5_000,
      reconnect:
        options.reconnect === false
          ? false
          : { initialDelayMs: options.reconnect?.initialDelayMs ?? 250, maxDelayMs: options.reconnect?.maxDelayMs ?? 5_000, factor: options.reconnect?.factor ?? 2 },
      allNotifications: options.allNotifications ?? false,
      pingIntervalMs: options.pingIntervalMs ?? 0,
      maxMessageBytes: options.maxMessageBytes ?? 64 * 1024 * 1024,
      log: options.log ?? (() => {}),
    };
  }

  get connected(): boolean {
    return this.ws !== null && this.serverInfo !== null;
  }

  /** Adds a listener; returns its remover. */
  on(listener: CodexAppServerListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The events as an async iterable (buffers up to `maxQueued`, dropping the oldest); ends at close(). */
  events(maxQueued = 10_000): AsyncIterableIterator<CodexAppServerEvent> {
    const queue: CodexAppServerEvent[] = [];
    let wake: (() => void) | null = null;
    let done = false;
    const off = this.on((ev) => {
      queue.push(ev);
      if (queue.length > maxQueued) queue.shift();
      wake?.();
    });
    const finish = (): void => {
      done = true;
      off();
      wake?.();
    };
    this.onStop.add(finish);
    const it: AsyncIterableIterator<CodexAppServerEvent> = {
      next: async () => {
        for (;;) {
          const ev = queue.shift();
          if (ev !== undefined) return { value: ev, done: false };
          if (done) return { value: undefined, done: true };
          await new Promise<void>((r) => (wake = r));
          wake = null;
        }
      },
      return: async () => {
        finish();
        this.onStop.delete(finish);
        return { value: undefined, done: true };
      },
      [Symbol.asyncIterator]: () => it,
    };
    return it;
  }

  private readonly onStop = new Set<() => void>();

  /** Keeps a connection up until close(): connects now and after every drop, with backoff. */
  start(): void {
    if (this.running || this.stopped) return;
    this.running = true;
    void this.loopConnect();
  }

  private async loopConnect(): Promise<void> {
    if (!this.running || this.stopped || this.connected) return;
    try {
      await this.connect();
      this.attempt = 0;
    } catch (err) {
      const e = err instanceof CodexAppServerError ? err : new CodexAppServerError("connect_failed", String(err));
      this.opts.log(`codex app-server: connect failed (${e.kind}): ${e.message}`);
      this.scheduleRetry();
    }
  }

  private scheduleRetry(): void {
    if (!this.running || this.stopped || this.retryTimer !== null) return;
    const r = this.opts.reconnect;
    if (r === false) return;
    const delay = Math.min(r.maxDelayMs, r.initialDelayMs * r.factor ** this.attempt);
    this.attempt++;
    const jittered = Math.round(delay * (0.8 + Math.random() * 0.4));
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.loopConnect();
    }, jittered);
  }

  /** One connection attempt: socket, WebSocket handshake, initialize + initialized. */
  connect(): Promise<void> {
    if (this.stopped) return Promise.reject(new CodexAppServerError("closed", "the client is closed"));
    if (this.connected) return Promise.resolve();
    if (this.connecting) return this.connecting;
    this.connecting = this.doConnect().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  private async doConnect(): Promise<void> {
    const ws = await UnixWebSocket.open(
      this.socketPath,
      {
        onMessage: (text) => this.onMessage(text),
        onClose: (closedWs, err) => this.onClosed(closedWs, err),
      },
      { timeoutMs: this.opts.requestTimeoutMs, maxMessageBytes: this.opts.maxMessageBytes },
    ).catch((err: unknown) => {
      throw err instanceof CodexAppServerError ? err : new CodexAppServerError("connect_failed", String(err));
    });
    if (this.stopped) {
      ws.close();
      throw new CodexAppServerError("closed", "the client is closed");
    }
    if (ws.isClosed) throw new CodexAppServerError("closed", "the daemon closed the connection right after the handshake");
    this.ws = ws;
    let init: unknown;
    try {
      init = await this.request("initialize", {
        clientInfo: { name: this.opts.clientName, title: "agtmux (read-only observer)", version: this.opts.clientVersion },
        capabilities: { experimentalApi: false },
      });
      this.notify("initialized");
    } catch (err) {
      ws.close();
      throw err;
    }
    const r = isObj(init) ? init : {};
    this.serverInfo = { userAgent: str(r.userAgent) ?? "", codexHome: str(r.codexHome) ?? "" };
    if (this.opts.pingIntervalMs > 0) {
      const every = this.opts.pingIntervalMs;
      ws.lastPongAt = Date.now();
      this.pingTimer = setInterval(() => {
        // no pong for two intervals: the daemon is hung; drop the connection (and reconnect)
        if (Date.now() - ws.lastPongAt > 2 * every) ws.terminate(new CodexAppServerError("timeout", `no pong within ${2 * every} ms`));
        else ws.ping();
      }, every);
    }
    this.emit({ type: "connected", receivedAt: Date.now(), userAgent: this.serverInfo.userAgent, codexHome: this.serverInfo.codexHome, socketPath: this.socketPath });
  }

  private onClosed(ws: UnixWebSocket, err: CodexAppServerError): void {
    if (this.ws !== ws) return;
    const wasUp = this.serverInfo !== null;
    this.ws = null;
    this.serverInfo = null;
    if (this.pingTimer !== null) clearInterval(this.pingTimer);
    this.pingTimer = null;
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new CodexAppServerError("closed", `connection lost while waiting for ${p.method}: ${err.message}`, err.code));
      this.pending.delete(id);
    }
    if (wasUp) this.emit({ type: "disconnected", receivedAt: Date.now(), error: err });
    if (!this.stopped) this.scheduleRetry();
  }

  private emit(ev: CodexAppServerEvent): void {
    for (const l of Array.from(this.listeners)) {
      try {
        l(ev);
      } catch (err) {
        this.opts.log(`codex app-server: listener threw: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }

  private onMessage(text: string): void {
    const receivedAt = Date.now();
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      this.opts.log(`codex app-server: ignoring a message that is not JSON (${text.slice(0, 80)})`);
      return;
    }
    if (!isObj(msg)) return;
    const hasId = typeof msg.id === "number" || typeof msg.id === "string";
    if (hasId && typeof msg.method === "string") {
      // a server -> client request (approvals, elicitations, …): never answered, an answer could decide it
      this.opts.log(`codex app-server: ignoring server request ${msg.method}`);
      return;
    }
    if (hasId) {
      const p = typeof msg.id === "number" ? this.pending.get(msg.id) : undefined;
      if (p === undefined) return;
      this.pending.delete(msg.id as number);
      clearTimeout(p.timer);
      if (isObj(msg.error)) {
        p.reject(new CodexAppServerError("rpc_error", `${p.method}: ${str(msg.error.message) ?? "error"}`, num(msg.error.code) ?? undefined));
      } else p.resolve(msg.result);
      return;
    }
    if (typeof msg.method !== "string") return;
    let ev: CodexAppServerEvent | null;
    try {
      ev = parseNotification(msg.method, msg.params, receivedAt, num(msg.emittedAtMs), this.opts.allNotifications);
    } catch (err) {
      this.opts.log(`codex app-server: bad ${msg.method} notification: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    if (ev !== null) this.emit(ev);
  }

  private notify(method: "initialized"): void {
    this.ws?.sendText(JSON.stringify({ jsonrpc: "2.0", method }));
  }

  /** Sends one read-only request and waits for its result. */
  request(method: ReadOnlyMethod, params: Record<string, unknown>): Promise<unknown> {
    if (!(READ_ONLY_METHODS as readonly string[]).includes(method)) {
      return Promise.reject(new CodexAppServerError("forbidden_method", `${String(method)} is not a read-only method`));
    }
    const ws = this.ws;
    if (ws === null) return Promise.reject(new CodexAppServerError("closed", `not connected (${method})`));
    const id = this.nextId++;
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new CodexAppServerError("timeout", `${method} timed out after ${this.opts.requestTimeoutMs} ms`));
      }, this.opts.requestTimeoutMs);
      this.pending.set(id, { method, resolve, reject, timer });
      try {
        ws.sendText(JSON.stringify({ jsonrpc: "2.0", id, method, params }));
      } catch (err) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(err instanceof CodexAppServerError ? err : new CodexAppServerError("closed", String(err)));
      }
    });
  }

  /** Ids of the threads the daemon has loaded (all pages). */
  async loadedThreads(): Promise<string[]> {
    const out: string[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 1000; page++) {
      const params: Record<string, unknown> = cursor === null ? {} : { cursor };
      const r = await this.request("thread/loaded/list", params);
      if (!isObj(r) || !Array.isArray(r.data)) throw new CodexAppServerError("protocol", "thread/loaded/list: unexpected result");
      for (const id of r.data) if (typeof id === "string") out.push(id);
      cursor = str(r.nextCursor);
      if (cursor === null) break;
    }
    return out;
  }

  /** Metadata of one thread (no turns). Unknown ids reject with kind "rpc_error". */
  async readThread(threadId: string): Promise<CodexThreadInfo> {
    const r = await this.request("thread/read", { threadId, includeTurns: false });
    if (!isObj(r)) throw new CodexAppServerError("protocol", "thread/read: unexpected result");
    return parseThread(r.thread);
  }

  /**
   * The newest turn of a thread (items not loaded), or null before the first
   * prompt. After a thread goes active → idle this tells a completed turn
   * from an interrupted/rejected one (`interrupted`) or a failed one: the
   * status broadcast alone cannot, and turn/* notifications are not sent to
   * clients that have not subscribed to the thread.
   */
  async lastTurn(threadId: string): Promise<CodexTurnInfo | null> {
    let r: unknown;
    try {
      r = await this.request("thread/turns/list", { threadId, limit: 1, sortDirection: "desc", itemsView: "notLoaded" });
    } catch (err) {
      // 0.169.0: "thread … is not materialized yet; thread/turns/list is unavailable before first user message"
      if (err instanceof CodexAppServerError && err.kind === "rpc_error" && /not materialized/.test(err.message)) return null;
      throw err;
    }
    if (!isObj(r) || !Array.isArray(r.data)) throw new CodexAppServerError("protocol", "thread/turns/list: unexpected result");
    return r.data.length === 0 ? null : parseTurn(r.data[0]);
  }

  /** Stops reconnecting, fails pending requests, closes the connection, ends events() iterators. */
  async close(): Promise<void> {
    this.stopped = true;
    this.running = false;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const c = this.connecting;
    if (c) await c.catch(() => {});
    // detach first: a deliberate close is not reported as `disconnected`
    const ws = this.ws;
    this.ws = null;
    this.serverInfo = null;
    if (this.pingTimer !== null) clearInterval(this.pingTimer);
    this.pingTimer = null;
    ws?.close();
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new CodexAppServerError("closed", `client closed while waiting for ${p.method}`));
      this.pending.delete(id);
    }
    for (const f of this.onStop) f();
    this.onStop.clear();
  }
}
