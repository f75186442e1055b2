/**
 * The daemon side of the relay (docs/relay.md): keeps one `agtmux relay`
 * running on a target over its Executor (the persistent ssh connection),
 * restarts it with backoff when the stream ends or its heartbeats stop, and
 * turns its messages into calls on the daemon.
 *
 * Spool: every (re)start sends `start` with the daemon's committed offsets
 * (offsets()), so the relay streams exactly what was not committed. A batch
 * is handed to onSpool, which ingests it and commits its end offset in one
 * transaction; only then is the next batch looked at. A batch that does not
 * start where the previous one (or the committed offset) ended, or an
 * onSpool that throws, restarts the relay: it resumes from the committed
 * offsets, so nothing is lost and nothing is applied twice. A drain file is
 * deleted (spool_delete) once its committed offset equals its size and it
 * has been quiet.
 */
import * as v from "valibot";
import { CodexAppServerError, type CodexAppServerErrorKind, type CodexAppServerEvent, type CodexAppServerListener, type CodexThreadInfo } from "../adapters/codex/appserver.ts";
import type { LastTurn } from "../adapters/codex/rollout.ts";
import type { CodexThreadSource } from "../collector/codex-threads.ts";
import type { ControlFactory, ControlLike } from "../collector/topology.ts";
import { SPOOL_QUIET_MS } from "../daemon/spool-reader.ts";
import type { Clock } from "../domain/time.ts";
import { ExecError, type Executor, type StreamHandle } from "../targets/executor.ts";
import {
  type CodexWireEvent,
  type DaemonOp,
  encodeLine,
  type Hello,
  parseRelayMessage,
  RELAY_PROTOCOL_VERSION,
  type RelayLogLevel,
  type RelayMessage,
  type RelayMessageOf,
  type RpcMethod,
  type RpcResult,
  RpcResultSchemas,
} from "./protocol.ts";

export const DEFAULT_BACKOFF_MS: readonly number[] = [250, 1_000, 2_000, 5_000];
/** the relay's default heartbeat period (until its hello says otherwise) */
const DEFAULT_RELAY_HEARTBEAT_MS = 5_000;
/** a relay that does not say hello within this long is restarted (lock wait 3 s + ssh exec + startup) */
export const HELLO_TIMEOUT_MS = 15_000;
/** the daemon's keepalive to the relay (it exits after --idle-exit ms of silence) */
export const KEEPALIVE_MS = 5_000;
/** a relay up at least this long counts as healthy: the backoff starts over */
const STABLE_MS = 10_000;
/** spool_delete is asked again at most this often per file (the relay ignores it while the file is not quiet) */
const DELETE_RETRY_MS = 2_000;
/** after the process ended, lines still in the pipe are read for this long */
const EXIT_DRAIN_MS = 50;
const STOP_WAIT_MS = 3_000;
export const DEFAULT_RPC_TIMEOUT_MS = 10_000;

export interface SpoolBatch {
  file: string;
  /** byte offset of the batch in the file */
  start: number;
  /** byte offset after its last line: commit this */
  end: number;
  /** raw spool lines (SpoolLine JSON, unparsed); empty lines are left out */
  lines: string[];
}

export interface RelayStats {
  starts: number;
  restarts: number;
  lines: number;
  batches: number;
  bytes: number;
  lastHeartbeatAt: number | null;
  /** lines from the relay that failed validation */
  invalid: number;
}

export interface RelayClientOptions {
  targetId: string;
  exec: Executor;
  /** the remote argv, e.g. [".local/bin/agtmux", "relay", "--tmux-socket", "/x"] */
  argv: readonly string[];
  /** the committed spool offsets of this target (file -> byte offset), read at each (re)start */
  offsets(): Record<string, number>;
  /** ingest the lines and commit `end` for `file`, synchronously; a throw restarts the relay from the committed offsets */
  onSpool(batch: SpoolBatch): void;
  /** the drain file is gone on the target: forget its offset */
  onSpoolGone(file: string): void;
  /** a control-mode notification (kind without "%", e.g. "window-add") */
  onControl?(session: string, kind: string): void;
  onControlExit?(session: string): void;
  onLog?(level: RelayLogLevel, message: string, data: Record<string, unknown>): void;
  clock?: Clock;
  /** default 3 × the relay's heartbeat period */
  heartbeatTimeoutMs?: number;
  helloTimeoutMs?: number;
  keepaliveMs?: number;
  backoffMs?: readonly number[];
  random?: () => number;
}

export type RelayRpcErrorCode = "relay_down" | "timeout" | "bad_result" | "stopped" | (string & {});

export class RelayRpcError extends Error {
  override readonly name = "RelayRpcError";
  constructor(
    readonly code: RelayRpcErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export class RelayTailError extends Error {
  override readonly name = "RelayTailError";
  constructor(
    /** errno code from the target ("ENOENT", "EACCES", …) */
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface TailHandle {
  readonly id: string;
  stop(): void;
}

export interface TailOptions {
  /** the file shrank or was replaced: data starts again at offset 0 */
  onReset?(size: number): void;
}

interface FileTrack {
  /** committed by onSpool (or by the daemon before this start) */
  committed: number;
  /** where the next batch must start (0 after a spool_reset) */
  expected: number;
  /** size as far as we know (hello, or the end of the last batch) */
  known: number | null;
  activityAt: number;
  deleteAskedAt: number;
}

interface Run {
  gen: number;
  handle: StreamHandle;
  startedAt: number;
  hello: Hello | null;
  upAt: number | null;
  lastHeartbeatAt: number;
  lastKeepaliveAt: number;
  snapshot: Record<string, number>;
  files: Map<string, FileTrack>;
  ended: boolean;
}

interface ControlEntry {
  session: string;
  onEvent(kind: string): void;
  onExit(): void;
  attached: boolean;
}

interface TailEntry {
  id: string;
  path: string;
  /** next byte offset expected; negative until the first chunk ("last |n| bytes") */
  next: number;
  onData(chunk: Uint8Array, at: number): void;
  onError(err: RelayTailError): void;
  opts: TailOptions;
}

interface PendingRpc {
  resolve(v: unknown): void;
  reject(e: RelayRpcError): void;
  timer: ReturnType<typeof setTimeout>;
}

export class RelayClient {
  readonly targetId: string;
  readonly stats: RelayStats = { starts: 0, restarts: 0, lines: 0, batches: 0, bytes: 0, lastHeartbeatAt: null, invalid: 0 };
  private readonly clock: Clock;
  private run: Run | null = null;
  private gen = 0;
  private started = false;
  private stopped = false;
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private watchdog: ReturnType<typeof setInterval> | undefined;
  private lastHello: Hello | null = null;
  private error: string | null = null;
  private readonly stateListeners = new Set<(up: boolean, reason: string) => void>();
  private readonly controls = new Map<string, ControlEntry>();
  private readonly tails = new Map<string, TailEntry>();
  private tailSeq = 0;
  private readonly pending = new Map<number, PendingRpc>();
  private rpcSeq = 0;
  // codex
  private codexWanted = false;
  private codexUp = false;
  private readonly codexListeners = new Set<CodexAppServerListener>();
  private codex: CodexThreadSource | null = null;

  constructor(private readonly o: RelayClientOptions) {
    this.targetId = o.targetId;
    this.clock = o.clock ?? Date.now;
  }

  // -------------------------------------------------------------------------
  // lifecycle

  /** Starts the relay (and keeps it running until stop()). */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    const tick = Math.max(50, Math.min(1_000, Math.floor(this.timeoutMs(DEFAULT_RELAY_HEARTBEAT_MS) / 4)));
    this.watchdog = setInterval(() => this.onTick(), tick);
    this.launch();
  }

  /** Ends the relay (stdin EOF + terminate) and waits (bounded) for it to exit. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.watchdog);
    const run = this.run;
    this.run = null;
    this.failPending("stopped", "relay client stopped");
    if (run === null) return;
    const wasUp = run.upAt !== null;
    run.ended = true;
    run.handle.close();
    if (wasUp) this.emitState(false, "stopped");
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([run.handle.exited.catch(() => null), new Promise<void>((r) => (timer = setTimeout(r, STOP_WAIT_MS)))]);
    clearTimeout(timer);
  }

  /** Drops the current relay and starts a new one (after the backoff). */
  restart(reason = "restart requested"): void {
    if (this.run !== null) this.down(this.run, reason);
  }

  /**
   * The connection under the relay is back: a restart waiting out its
   * backoff runs now, from the first step. The backoff grew while the
   * connection was down, which says nothing about the relay; a relay that
   * keeps failing on a live connection still backs off.
   */
  transportUp(): void {
    if (!this.started || this.stopped || this.run !== null || this.retryTimer === undefined) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.attempt = 0;
    this.launch();
  }

  /** start() was called (and not stop()) */
  get running(): boolean {
    return this.started && !this.stopped;
  }

  /** a relay process was launched and has not said hello yet */
  get launching(): boolean {
    const r = this.run;
    return r !== null && !r.ended && r.hello === null;
  }

  /** hello received and heartbeats fresh */
  get connected(): boolean {
    const r = this.run;
    if (r === null || r.ended || r.hello === null) return false;
    return this.clock() - r.lastHeartbeatAt <= this.timeoutMs(r.hello.heartbeat_ms);
  }

  /** the last hello (kept after the relay went down) */
  get hello(): Hello | null {
    return this.lastHello;
  }

  get lastError(): string | null {
    return this.error;
  }

  /** up = hello received; down = the relay ended, stalled or was dropped. Returns the remover. */
  onState(fn: (up: boolean, reason: string) => void): () => void {
    this.stateListeners.add(fn);
    return () => this.stateListeners.delete(fn);
  }

  private timeoutMs(heartbeatMs: number | undefined): number {
    return this.o.heartbeatTimeoutMs ?? 3 * (heartbeatMs ?? DEFAULT_RELAY_HEARTBEAT_MS);
  }

  private launch(): void {
    this.retryTimer = undefined;
    if (this.stopped) return;
    const gen = ++this.gen;
    this.stats.starts++;
    if (gen > 1) this.stats.restarts++;
    let snapshot: Record<string, number>;
    try {
      snapshot = { ...this.o.offsets() };
    } catch (err) {
      this.error = `reading the committed offsets failed: ${errorMessage(err)}`;
      this.scheduleRestart();
      return;
    }
    let handle: StreamHandle;
    try {
      handle = this.o.exec.stream(this.o.argv, { onLine: (line) => this.onLine(gen, line) });
    } catch (err) {
      this.error = err instanceof ExecError ? `${err.kind}: ${err.message}` : errorMessage(err);
      this.log("warn", "relay did not start", { message: this.error });
      this.scheduleRestart();
      return;
    }
    const now = this.clock();
    const files = new Map<string, FileTrack>();
    for (const [f, off] of Object.entries(snapshot)) files.set(f, { committed: off, expected: off, known: null, activityAt: now, deleteAskedAt: 0 });
    const run: Run = { gen, handle, startedAt: now, hello: null, upAt: null, lastHeartbeatAt: now, lastKeepaliveAt: now, snapshot, files, ended: false };
    this.run = run;
    this.write(run, { op: "start", spool: snapshot });
    handle.exited.then(
      (code) => setTimeout(() => this.down(run, `relay exited (${code === null ? "signal" : `code ${code}`})`), EXIT_DRAIN_MS),
      (err: unknown) => this.down(run, `relay stream failed: ${errorMessage(err)}`),
    );
  }

  /** The run is over (exited, stalled, misbehaved): close it, tell everyone, restart after the backoff. */
  private down(run: Run, reason: string): void {
    if (run.ended) return;
    run.ended = true;
    if (this.run === run) this.run = null;
    try {
      run.handle.close();
    } catch {
      // already gone
    }
    this.error = reason;
    this.failPending("relay_down", `relay down: ${reason}`);
    const now = this.clock();
    if (run.upAt !== null) {
      if (now - run.upAt >= STABLE_MS) this.attempt = 0;
      // the collector re-syncs: it asks again for the sessions still alive
      const entries = [...this.controls.values()];
      this.controls.clear();
      for (const e of entries) {
        e.attached = false;
        safe(() => e.onExit());
      }
      if (this.codexUp) {
        this.codexUp = false;
        this.emitCodex({ type: "disconnected", receivedAt: now, error: new CodexAppServerError("closed", `relay down: ${reason}`) });
      }
      this.log("info", "relay down", { reason });
      this.emitState(false, reason);
    }
    this.scheduleRestart();
  }

  private scheduleRestart(): void {
    if (this.stopped || this.retryTimer !== undefined) return;
    const steps = this.o.backoffMs ?? DEFAULT_BACKOFF_MS;
    const base = steps[Math.min(this.attempt, steps.length - 1)] ?? 1_000;
    this.attempt++;
    const delay = Math.round(base * (0.8 + (this.o.random ?? Math.random)() * 0.4));
    this.retryTimer = setTimeout(() => this.launch(), delay);
  }

  private onTick(): void {
    const run = this.run;
    if (run === null || run.ended) return;
    const now = this.clock();
    if (run.hello === null) {
      if (now - run.startedAt > (this.o.helloTimeoutMs ?? HELLO_TIMEOUT_MS)) this.down(run, "no hello from the relay");
      return;
    }
    const timeout = this.timeoutMs(run.hello.heartbeat_ms);
    if (now - run.lastHeartbeatAt > timeout) {
      this.down(run, `no heartbeat for ${now - run.lastHeartbeatAt} ms (timeout ${timeout} ms)`);
      return;
    }
    if (now - run.lastKeepaliveAt >= (this.o.keepaliveMs ?? KEEPALIVE_MS)) {
      run.lastKeepaliveAt = now;
      this.write(run, { op: "heartbeat", t: now });
    }
    this.askDeletes(run, now);
  }

  private write(run: Run, op: DaemonOp): boolean {
    if (run.ended) return false;
    try {
      run.handle.write(encodeLine(op));
      return true;
    } catch {
      return false;
    }
  }

  /** Sends an op to a relay that said hello; false when none is up (the op is re-sent after the next hello where that matters). */
  private sendUp(op: DaemonOp): boolean {
    const run = this.run;
    if (run === null || run.hello === null) return false;
    return this.write(run, op);
  }

  // -------------------------------------------------------------------------
  // input

  private onLine(gen: number, raw: string): void {
    const run = this.run;
    if (run === null || run.gen !== gen || run.ended) return; // a stale relay
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (line.trim() === "") return;
    const p = parseRelayMessage(line);
    if (!p.ok) {
      this.stats.invalid++;
      this.log("warn", "ignored an invalid line from the relay", { error: p.error });
      return;
    }
    const msg = p.value;
    run.lastHeartbeatAt = this.clock(); // any line shows the stream is alive
    if (msg.k === "log") {
      this.log(msg.level, `relay: ${msg.message}`, msg.data ?? {});
      return;
    }
    if (msg.k === "hello") {
      this.onHello(run, msg);
      return;
    }
    if (run.hello === null) {
      this.log("warn", `ignored ${msg.k} before hello`, {});
      return;
    }
    this.dispatch(run, msg);
  }

  private onHello(run: Run, hello: Hello): void {
    if (run.hello !== null) {
      this.log("warn", "ignored a second hello", {});
      return;
    }
    if (hello.v !== RELAY_PROTOCOL_VERSION) {
      this.down(run, `relay speaks protocol v${hello.v}, this daemon v${RELAY_PROTOCOL_VERSION}`);
      return;
    }
    const now = this.clock();
    run.hello = hello;
    run.upAt = now;
    run.lastHeartbeatAt = now;
    this.lastHello = hello;
    this.error = null;
    this.stats.lastHeartbeatAt = now;
    const listed = new Set<string>();
    for (const { file, size } of hello.files) {
      listed.add(file);
      const t = run.files.get(file);
      if (t === undefined) run.files.set(file, { committed: 0, expected: 0, known: size, activityAt: 0, deleteAskedAt: 0 });
      else {
        t.known = size;
        t.activityAt = 0;
      }
    }
    // committed offsets of files the relay no longer has (deleted before spool_deleted reached us)
    for (const f of Object.keys(run.snapshot)) {
      if (listed.has(f)) continue;
      run.files.delete(f);
      this.gone(run, f);
      if (run.ended) return;
    }
    for (const e of this.controls.values()) this.write(run, { op: "control_start", session: e.session });
    for (const t of this.tails.values()) this.write(run, { op: "tail_start", id: t.id, path: t.path, offset: t.next });
    if (this.codexWanted) this.write(run, { op: "codex_start" });
    this.emitState(true, "hello");
    this.askDeletes(run, now);
  }

  private dispatch(run: Run, msg: Exclude<RelayMessage, { k: "hello" | "log" }>): void {
    switch (msg.k) {
      case "heartbeat":
        this.stats.lastHeartbeatAt = run.lastHeartbeatAt;
        return;
      case "spool":
        this.onBatch(run, msg);
        return;
      case "spool_reset":
        this.onReset(run, msg);
        return;
      case "spool_deleted":
        run.files.delete(msg.file);
        this.gone(run, msg.file);
        return;
      case "control": {
        const kind = msg.kind.startsWith("%") ? msg.kind.slice(1) : msg.kind;
        const e = this.controls.get(msg.session);
        if (e !== undefined) safe(() => e.onEvent(kind));
        safe(() => this.o.onControl?.(msg.session, kind));
        return;
      }
      case "control_ready": {
        const e = this.controls.get(msg.session);
        if (e !== undefined) e.attached = true;
        return;
      }
      case "control_exit": {
        const e = this.controls.get(msg.session);
        if (e !== undefined) {
          this.controls.delete(msg.session);
          e.attached = false;
          safe(() => e.onExit());
        }
        safe(() => this.o.onControlExit?.(msg.session));
        return;
      }
      case "tail":
        this.onTail(run, msg);
        return;
      case "tail_reset": {
        const t = this.tails.get(msg.id);
        if (t === undefined) return;
        t.next = 0;
        safe(() => t.opts.onReset?.(msg.size));
        return;
      }
      case "tail_error": {
        const t = this.tails.get(msg.id);
        if (t === undefined) return;
        this.tails.delete(msg.id);
        safe(() => t.onError(new RelayTailError(msg.code, msg.message)));
        return;
      }
      case "codex":
        this.onCodex(msg.ev);
        return;
      case "rpc_result": {
        const p = this.pending.get(msg.id);
        if (p === undefined) return;
        this.pending.delete(msg.id);
        clearTimeout(p.timer);
        if (msg.ok) p.resolve(msg.result);
        else p.reject(new RelayRpcError(msg.error.code, msg.error.message));
        return;
      }
    }
  }

  // -------------------------------------------------------------------------
  // spool

  private track(run: Run, file: string): FileTrack {
    let t = run.files.get(file);
    if (t === undefined) {
      t = { committed: 0, expected: 0, known: null, activityAt: this.clock(), deleteAskedAt: 0 };
      run.files.set(file, t);
    }
    return t;
  }

  private onBatch(run: Run, b: RelayMessageOf<"spool">): void {
    const t = this.track(run, b.file);
    if (b.start !== t.expected || b.end < b.start) {
      // a gap would lose lines, an overlap apply them twice: start over from the committed offsets
      this.down(run, `spool batch for ${b.file} starts at ${b.start}, expected ${t.expected}`);
      return;
    }
    try {
      this.o.onSpool({ file: b.file, start: b.start, end: b.end, lines: b.lines });
    } catch (err) {
      this.down(run, `ingesting a spool batch failed: ${errorMessage(err)}`);
      return;
    }
    t.committed = b.end;
    t.expected = b.end;
    t.known = b.end;
    t.activityAt = this.clock();
    this.stats.batches++;
    this.stats.lines += b.lines.length;
    this.stats.bytes += b.end - b.start;
  }

  /**
   * The file shrank or was replaced: the relay reads it again from 0. Offset 0
   * is committed at once (an empty batch), so a relay restarted before the
   * first new batch cannot resume at the old offset inside new content.
   */
  private onReset(run: Run, msg: RelayMessageOf<"spool_reset">): void {
    this.log("info", "relay: a spool file shrank or was replaced; reading it again from 0", { file: msg.file, size: msg.size, had: msg.had });
    const t = this.track(run, msg.file);
    try {
      this.o.onSpool({ file: msg.file, start: 0, end: 0, lines: [] });
    } catch (err) {
      this.down(run, `committing a spool reset failed: ${errorMessage(err)}`);
      return;
    }
    t.committed = 0;
    t.expected = 0;
    t.known = msg.size === 0 ? 0 : null;
    t.activityAt = this.clock();
  }

  private gone(run: Run, file: string): void {
    try {
      this.o.onSpoolGone(file);
    } catch (err) {
      this.down(run, `forgetting spool file ${file} failed: ${errorMessage(err)}`);
    }
  }

  /** spool_delete for files fully committed and quiet (the relay checks size and quiet again). */
  private askDeletes(run: Run, now: number): void {
    for (const [file, t] of run.files) {
      if (t.known === null || t.committed !== t.known || t.expected !== t.committed) continue;
      if (now - t.activityAt < SPOOL_QUIET_MS || now - t.deleteAskedAt < DELETE_RETRY_MS) continue;
      t.deleteAskedAt = now;
      this.write(run, { op: "spool_delete", file, size: t.committed });
    }
  }

  // -------------------------------------------------------------------------
  // tmux control clients

  /** For TopologyCollector: one read-only control client per session, run on the target by the relay. */
  controlFactory(): ControlFactory {
    return (sessionId, onEvent, onExit): ControlLike => {
      const entry: ControlEntry = { session: sessionId, onEvent, onExit, attached: false };
      this.controls.set(sessionId, entry);
      this.sendUp({ op: "control_start", session: sessionId });
      return {
        stop: () => {
          if (this.controls.get(sessionId) !== entry) return;
          this.controls.delete(sessionId);
          entry.attached = false;
          this.sendUp({ op: "control_stop", session: sessionId });
        },
        get attached() {
          return entry.attached;
        },
      };
    };
  }

  // -------------------------------------------------------------------------
  // tails

  /**
   * Follows a file on the target from `offset` (negative: the last |offset|
   * bytes). onData gets each new chunk and its offset; after a relay restart
   * the tail resumes where the last chunk ended. onError ends the tail.
   */
  tail(path: string, offset: number, onData: (chunk: Uint8Array, at: number) => void, onError: (err: RelayTailError) => void, opts: TailOptions = {}): TailHandle {
    const id = `t${++this.tailSeq}`;
    const entry: TailEntry = { id, path, next: Math.trunc(offset), onData, onError, opts };
    this.tails.set(id, entry);
    this.sendUp({ op: "tail_start", id, path, offset: entry.next });
    return {
      id,
      stop: () => {
        if (this.tails.get(id) !== entry) return;
        this.tails.delete(id);
        this.sendUp({ op: "tail_stop", id });
      },
    };
  }

  private onTail(run: Run, msg: RelayMessageOf<"tail">): void {
    const t = this.tails.get(msg.id);
    if (t === undefined) return;
    let at = msg.offset;
    let chunk: Uint8Array = new Uint8Array(Buffer.from(msg.data, "base64"));
    if (t.next >= 0 && at !== t.next) {
      if (at > t.next) {
        // a gap (a message lost or an old tail's data): ask again from where we are
        this.log("debug", "tail: gap, restarting the tail", { id: t.id, at, next: t.next });
        this.write(run, { op: "tail_start", id: t.id, path: t.path, offset: t.next });
        return;
      }
      if (at + chunk.length <= t.next) return; // already had it
      chunk = chunk.subarray(t.next - at);
      at = t.next;
    }
    t.next = at + chunk.length;
    safe(() => t.onData(chunk, at));
  }

  // -------------------------------------------------------------------------
  // rpc and codex

  /** One request to the relay; rejects with RelayRpcError (relay_down, timeout, bad_result, or the relay's code). */
  rpc<M extends RpcMethod>(method: M, params: Record<string, unknown> = {}, timeoutMs = DEFAULT_RPC_TIMEOUT_MS): Promise<RpcResult<M>> {
    const run = this.run;
    if (run === null || run.hello === null || run.ended) return Promise.reject(new RelayRpcError("relay_down", `relay not connected (${this.error ?? "starting"})`));
    const id = ++this.rpcSeq;
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RelayRpcError("timeout", `${method} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      if (!this.write(run, { op: "rpc", id, method, params })) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(new RelayRpcError("relay_down", "writing to the relay failed"));
      }
    }).then((result) => {
      const r = v.safeParse(RpcResultSchemas[method], result);
      if (!r.success) throw new RelayRpcError("bad_result", `${method}: unexpected result`);
      return r.output as RpcResult<M>;
    });
  }

  private failPending(code: RelayRpcErrorCode, message: string): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new RelayRpcError(code, message));
      this.pending.delete(id);
    }
  }

  /** codex rollout.ts readLastTurn run on the target; null when unreadable or the relay is down. */
  async readLastTurnRemote(path: string): Promise<LastTurn | null> {
    try {
      return await this.rpc("codex.readLastTurn", { path });
    } catch (err) {
      this.log("debug", "readLastTurn on the target failed", { path, message: errorMessage(err) });
      return null;
    }
  }

  /** The Codex app-server of the target, through the relay (for CodexThreadCollector). */
  codexSource(): CodexThreadSource {
    if (this.codex !== null) return this.codex;
    const toCodexError = (err: unknown): CodexAppServerError => {
      if (err instanceof RelayRpcError) return new CodexAppServerError(codexKind(err.code), err.message);
      return new CodexAppServerError("closed", errorMessage(err));
    };
    this.codex = new RelayCodexSource({
      connected: () => this.codexUp && this.connected,
      on: (listener) => {
        this.codexListeners.add(listener);
        return () => this.codexListeners.delete(listener);
      },
      start: () => {
        if (this.codexWanted) return;
        this.codexWanted = true;
        this.sendUp({ op: "codex_start" });
      },
      close: () => {
        this.codexWanted = false;
        this.codexUp = false; // a deliberate close is not reported as disconnected
        this.sendUp({ op: "codex_stop" });
      },
      loadedThreads: () =>
        this.rpc("codex.loadedThreads").catch((err: unknown) => {
          throw toCodexError(err);
        }),
      readThread: (threadId) =>
        this.rpc("codex.readThread", { threadId }).catch((err: unknown) => {
          throw toCodexError(err);
        }),
    });
    return this.codex;
  }

  private onCodex(ev: CodexWireEvent): void {
    if (!this.codexWanted) return;
    let out: CodexAppServerEvent;
    if (ev.type === "disconnected") {
      out = { type: "disconnected", receivedAt: ev.receivedAt, error: new CodexAppServerError(codexKind(ev.error.kind), ev.error.message, ev.error.code) };
    } else out = ev;
    if (out.type === "connected") this.codexUp = true;
    if (out.type === "disconnected") this.codexUp = false;
    this.emitCodex(out);
  }

  private emitCodex(ev: CodexAppServerEvent): void {
    for (const l of Array.from(this.codexListeners)) safe(() => l(ev));
  }

  // -------------------------------------------------------------------------

  private emitState(up: boolean, reason: string): void {
    for (const fn of Array.from(this.stateListeners)) safe(() => fn(up, reason));
  }

  private log(level: RelayLogLevel, message: string, data: Record<string, unknown>): void {
    safe(() => this.o.onLog?.(level, message, { target: this.targetId, ...data }));
  }
}

interface CodexPort {
  connected(): boolean;
  on(listener: CodexAppServerListener): () => void;
  start(): void;
  close(): void;
  loadedThreads(): Promise<string[]>;
  readThread(threadId: string): Promise<CodexThreadInfo>;
}

/** CodexThreadSource over the relay: codex_start/codex_stop, events from `codex` lines, reads as rpc. */
class RelayCodexSource implements CodexThreadSource {
  constructor(private readonly port: CodexPort) {}
  get connected(): boolean {
    return this.port.connected();
  }
  on(listener: CodexAppServerListener): () => void {
    return this.port.on(listener);
  }
  start(): void {
    this.port.start();
  }
  async close(): Promise<void> {
    this.port.close();
  }
  loadedThreads(): Promise<string[]> {
    return this.port.loadedThreads();
  }
  readThread(threadId: string): Promise<CodexThreadInfo> {
    return this.port.readThread(threadId);
  }
}

const CODEX_KINDS: ReadonlySet<string> = new Set<CodexAppServerErrorKind>([
  "socket_missing",
  "connect_failed",
  "handshake_failed",
  "protocol",
  "rpc_error",
  "timeout",
  "closed",
  "forbidden_method",
]);

function codexKind(code: string): CodexAppServerErrorKind {
  if (CODEX_KINDS.has(code)) return code as CodexAppServerErrorKind;
  return code === "not_started" || code === "relay_down" || code === "stopped" ? "closed" : "protocol";
}

function safe(fn: () => void): void {
  try {
    fn();
  } catch {
    // a failing callback must not break the stream
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
