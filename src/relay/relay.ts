/**
 * `agtmux relay`, the VM side of an ssh target (docs/relay.md). Started by
 * the daemon over its persistent ssh connection; stdout carries
 * RelayMessage lines, stdin DaemonOp lines (src/relay/protocol.ts).
 *
 * - Spool: `agtmux emit` on the VM appends to `<spoolDir>/events.jsonl` (no
 *   daemon there). The relay renames a non-empty active file aside
 *   (`drain-<ms>-<pid>.jsonl`, as src/daemon/spool-reader.ts does) each time
 *   it wakes, and streams every drain file from the byte offset the daemon
 *   committed (the `start` op) as complete lines. It never deletes a file on
 *   its own: only when the daemon asks (`spool_delete`, sent after it
 *   committed offset == size) and the file is still that size and quiet.
 * - Woken by fs.watch (inotify) on the spool dir; a 1 s re-stat is the
 *   safety net (lost events, torn lines that need the file to go quiet).
 * - tmux control-mode clients, file tails, a Codex app-server client: run
 *   here on request, their output forwarded into the same stream.
 * - One relay per VM user (flock on `<spoolDir>/relay.lock`). It ends when
 *   stdin reaches EOF, on SIGTERM/SIGHUP (the caller's AbortSignal), and when
 *   the daemon has been silent for `idleExitMs` (a blackholed connection
 *   whose channel the VM's sshd has not noticed yet).
 */
import { closeSync, type FSWatcher, fstatSync, mkdirSync, openSync, readdirSync, readSync, renameSync, type Stats, statSync, unlinkSync, watch } from "node:fs";
import { join } from "node:path";
import * as v from "valibot";
import { CodexAppServerClient, CodexAppServerError, type CodexAppServerEvent } from "../adapters/codex/appserver.ts";
import { readLastTurn } from "../adapters/codex/rollout.ts";
import { SPOOL_QUIET_MS } from "../daemon/spool-reader.ts";
import { type HeldLock, tryLock } from "../platform/lock.ts";
import { type Env, resolvePaths } from "../platform/paths.ts";
import { LocalExecutor } from "../targets/executor.ts";
import { ControlClient } from "../tmux/control.ts";
import { Tmux } from "../tmux/tmux.ts";
import type { TmuxSocket } from "../tmux/types.ts";
import { SPOOL_ACTIVE_FILE } from "../wire/types.ts";
import {
  type CodexWireEvent,
  type DaemonOp,
  type DaemonOpOf,
  DRAIN_FILE_RE,
  encodeLine,
  MAX_BATCH_BYTES,
  MAX_BATCH_LINES,
  MAX_TAIL_BYTES,
  parseDaemonOp,
  RELAY_PROTOCOL_VERSION,
  type RelayLogLevel,
  type RelayMessage,
  RpcParamSchemas,
} from "./protocol.ts";

export const RELAY_LOCK_FILE = "relay.lock";
export const DEFAULT_HEARTBEAT_MS = 5_000;
/** a second relay waits this long for the lock, then exits non-zero */
export const LOCK_WAIT_MS = 3_000;
/** the safety re-stat of the spool dir and of followed files */
const SAFETY_RESTAT_MS = 1_000;
/** closing control clients and the Codex client on exit */
const CLOSE_BUDGET_MS = 3_000;
/** exit code when the lock is held by another relay or the daemon went silent */
export const RELAY_EXIT_BUSY = 1;
export const RELAY_EXIT_IDLE = 4;

/** Notifications that cannot mean a topology change (as src/collector/control-factory.ts). */
const IGNORED_CONTROL = new Set(["output", "message", "pause", "continue", "config-error"]);

export interface RelayOptions {
  env: Env;
  /** the daemon's ops, one JSON line each */
  stdin: AsyncIterable<Uint8Array> | ReadableStream<Uint8Array>;
  /** writes one protocol line (newline included); a returned promise is awaited before more spool/tail data is sent */
  write(line: string): void | boolean | Promise<void>;
  /** tmux socket for control clients: a path (contains "/") or a -L name; default tmux's default socket */
  tmuxSocket?: string | undefined;
  heartbeatMs?: number | undefined;
  /** exit when no line arrived from the daemon for this long; 0 (default) never */
  idleExitMs?: number | undefined;
  lockWaitMs?: number | undefined;
  version?: string | undefined;
  /** aborted on SIGTERM / SIGHUP */
  signal?: AbortSignal | undefined;
}

/** Runs the relay until stdin EOF, the signal, or idle exit; resolves with the exit code. */
export async function runRelay(o: RelayOptions): Promise<number> {
  return await new Relay(o).run();
}

export function tmuxSocketFromFlag(flag: string | undefined): TmuxSocket {
  if (flag === undefined || flag === "") return {};
  return flag.includes("/") ? { path: flag } : { name: flag };
}

/** CodexAppServerEvent as JSON (the error of `disconnected` as {kind, message, code}). */
export function encodeCodexEvent(ev: CodexAppServerEvent): CodexWireEvent {
  if (ev.type !== "disconnected") return ev;
  const error: { kind: string; message: string; code?: number } = { kind: ev.error.kind, message: ev.error.message };
  if (ev.error.code !== undefined) error.code = ev.error.code;
  return { type: "disconnected", receivedAt: ev.receivedAt, error };
}

interface FileState {
  /** bytes sent (everything before it went out in spool batches) */
  offset: number;
  /** inode when last read: a different one means the file was replaced */
  ino: number | null;
}

type EndReason = "eof" | "signal" | "idle" | "stdin_error";

class Relay {
  private readonly dir: string;
  private readonly heartbeatMs: number;
  private started = false;
  private closed = false;
  private startOffsets: Record<string, number> = {};
  /** names the daemon may hold an offset for: never reused for a new drain file */
  private readonly reserved = new Set<string>();
  private readonly files = new Map<string, FileState>();
  private lastDrainMs = 0;
  private watcher: FSWatcher | null = null;
  private dirIno = -1;
  private timers: ReturnType<typeof setInterval>[] = [];
  private heartbeatSeq = 0;
  private lastInputAt = Date.now();
  private finish: (why: EndReason) => void = () => {};
  // pump state
  private pumping = false;
  private full = false;
  private dirty = new Set<string>();
  // on request
  private readonly tmux: Tmux;
  private readonly controls = new Map<string, ControlClient>();
  private readonly tails = new Map<string, Tail>();
  private codex: CodexAppServerClient | null = null;

  constructor(private readonly o: RelayOptions) {
    this.dir = resolvePaths(o.env).spoolDir;
    this.heartbeatMs = o.heartbeatMs !== undefined && o.heartbeatMs > 0 ? o.heartbeatMs : DEFAULT_HEARTBEAT_MS;
    this.tmux = new Tmux(new LocalExecutor("relay", o.env), tmuxSocketFromFlag(o.tmuxSocket));
  }

  async run(): Promise<number> {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const lockPath = join(this.dir, RELAY_LOCK_FILE);
    const lock = await acquireLock(lockPath, this.o.lockWaitMs ?? LOCK_WAIT_MS, this.o.signal);
    if (!lock.ok) {
      this.log("warn", "another relay is running for this user; exiting", { holder_pid: lock.holderPid, lock: lockPath });
      return RELAY_EXIT_BUSY;
    }
    let why: EndReason = "eof";
    try {
      const ended = new Promise<EndReason>((resolve) => {
        this.finish = resolve;
      });
      const signal = this.o.signal;
      if (signal !== undefined) {
        if (signal.aborted) this.finish("signal");
        else signal.addEventListener("abort", () => this.finish("signal"), { once: true });
      }
      this.readStdin().then(
        () => this.finish("eof"),
        () => this.finish("stdin_error"),
      );
      const idleMs = this.o.idleExitMs ?? 0;
      if (idleMs > 0) {
        this.timers.push(
          setInterval(
            () => {
              if (Date.now() - this.lastInputAt > idleMs) this.finish("idle");
            },
            Math.max(50, Math.min(1_000, Math.floor(idleMs / 4))),
          ),
        );
      }
      why = await ended;
      if (why === "idle") this.log("warn", `no line from the daemon for ${idleMs} ms; exiting`, {});
    } finally {
      await this.close();
      lock.lock.release();
    }
    return why === "idle" ? RELAY_EXIT_IDLE : 0;
  }

  // -------------------------------------------------------------------------
  // output

  /** Sends one message; the promise (if any) resolves when the writer can take more. */
  private send(msg: RelayMessage): Promise<void> | undefined {
    if (this.closed && msg.k !== "log") return undefined;
    try {
      const r = this.o.write(encodeLine(msg));
      return r instanceof Promise ? r.catch(() => {}) : undefined;
    } catch {
      // stdout is gone: stdin EOF / the signal end us
      return undefined;
    }
  }

  private log(level: RelayLogLevel, message: string, data: Record<string, unknown>): void {
    void this.send({ k: "log", level, message, data });
  }

  // -------------------------------------------------------------------------
  // input

  private async readStdin(): Promise<void> {
    const decoder = new TextDecoder();
    let buf = "";
    for await (const chunk of chunksOf(this.o.stdin)) {
      if (this.closed) return;
      this.lastInputAt = Date.now();
      buf += decoder.decode(chunk, { stream: true });
      let nl = buf.indexOf("\n");
      while (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        this.onLine(line);
        nl = buf.indexOf("\n");
      }
    }
    buf += decoder.decode();
    if (buf.trim() !== "") this.onLine(buf);
  }

  private onLine(raw: string): void {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (line.trim() === "") return;
    const p = parseDaemonOp(line);
    if (!p.ok) {
      this.log("warn", "ignored an invalid line from the daemon", { error: p.error });
      return;
    }
    const op = p.value;
    if (op.op === "heartbeat") return;
    if (!this.started && op.op !== "start") {
      this.log("warn", `ignored ${op.op} before start`, {});
      return;
    }
    try {
      this.dispatch(op);
    } catch (err) {
      this.log("warn", `${op.op} failed`, { message: errorMessage(err) });
    }
  }

  private dispatch(op: DaemonOp): void {
    switch (op.op) {
      case "start":
        this.onStart(op);
        return;
      case "spool_delete":
        this.onSpoolDelete(op);
        return;
      case "control_start":
        this.startControl(op.session);
        return;
      case "control_stop":
        this.stopControl(op.session);
        return;
      case "tail_start":
        this.startTail(op);
        return;
      case "tail_stop":
        this.tails.get(op.id)?.stop();
        this.tails.delete(op.id);
        return;
      case "rpc":
        void this.onRpc(op);
        return;
      case "codex_start":
        this.startCodex();
        return;
      case "codex_stop":
        void this.stopCodex();
        return;
      case "heartbeat":
        return;
    }
  }

  // -------------------------------------------------------------------------
  // spool

  private onStart(op: DaemonOpOf<"start">): void {
    if (this.started) {
      this.log("warn", "ignored a second start", {});
      return;
    }
    this.started = true;
    this.startOffsets = op.spool;
    for (const f of Object.keys(op.spool)) this.reserved.add(f);
    this.rotateActive();
    const files: { file: string; size: number }[] = [];
    for (const f of this.listDrainFiles()) {
      try {
        files.push({ file: f, size: statSync(join(this.dir, f)).size });
        this.files.set(f, { offset: this.startOffsets[f] ?? 0, ino: null });
      } catch {
        // gone between readdir and stat
      }
    }
    void this.send({
      k: "hello",
      v: RELAY_PROTOCOL_VERSION,
      version: this.o.version ?? "unknown",
      pid: process.pid,
      os: process.platform,
      arch: process.arch,
      spool_dir: this.dir,
      files,
      tmux_socket: this.o.tmuxSocket ?? null,
      heartbeat_ms: this.heartbeatMs,
    });
    this.watchDir();
    this.timers.push(setInterval(() => void this.send({ k: "heartbeat", t: Date.now(), seq: ++this.heartbeatSeq }), this.heartbeatMs));
    this.timers.push(
      setInterval(() => {
        if (this.watcher === null || this.dirReplaced()) this.watchDir();
        this.wake(null);
        for (const t of this.tails.values()) t.wake();
      }, SAFETY_RESTAT_MS),
    );
    this.wake(null);
  }

  /** the spool dir was removed (and maybe made again): the watch is on the old one */
  private dirReplaced(): boolean {
    try {
      return statSync(this.dir).ino !== this.dirIno;
    } catch {
      return true;
    }
  }

  private watchDir(): void {
    if (this.closed) return;
    this.watcher?.close();
    this.watcher = null;
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      this.dirIno = statSync(this.dir).ino;
      const w = watch(this.dir, { persistent: true }, (_event, filename) => {
        const name = typeof filename === "string" ? filename : null;
        if (name === RELAY_LOCK_FILE) return;
        this.wake(name);
      });
      w.on("error", () => {
        w.close();
        if (this.watcher === w) this.watcher = null;
      });
      this.watcher = w;
    } catch (err) {
      this.watcher = null;
      this.log("debug", "cannot watch the spool dir; re-statting every second", { message: errorMessage(err) });
    }
  }

  /** Something in the spool dir changed (`name`), or anything may have (null). */
  private wake(name: string | null): void {
    if (!this.started || this.closed) return;
    if (name === null) this.full = true;
    else if (name === SPOOL_ACTIVE_FILE || DRAIN_FILE_RE.test(name)) this.dirty.add(name);
    else return;
    if (this.pumping) return;
    this.pumping = true;
    setImmediate(() => void this.pumpLoop());
  }

  private async pumpLoop(): Promise<void> {
    try {
      while (!this.closed && (this.full || this.dirty.size > 0)) {
        const full = this.full;
        const dirty = this.dirty;
        this.full = false;
        this.dirty = new Set();
        await this.pumpOnce(full, dirty);
      }
    } catch (err) {
      this.log("warn", "spool read failed", { message: errorMessage(err) });
    } finally {
      this.pumping = false;
    }
  }

  private async pumpOnce(full: boolean, dirty: Set<string>): Promise<void> {
    let names: string[];
    if (full || dirty.has(SPOOL_ACTIVE_FILE)) {
      const moved = this.rotateActive();
      if (moved !== null) dirty.add(moved);
    }
    if (full) {
      const present = this.listDrainFiles();
      const set = new Set(present);
      for (const f of Array.from(this.files.keys())) {
        if (set.has(f)) continue;
        // removed behind our back: the daemon can drop its offset
        this.files.delete(f);
        await this.send({ k: "spool_deleted", file: f });
      }
      names = present;
    } else {
      names = [...dirty].filter((n) => DRAIN_FILE_RE.test(n)).toSorted();
    }
    for (const f of names) {
      if (this.closed) return;
      await this.readDrain(f);
    }
  }

  /** Moves a non-empty events.jsonl aside; returns the new name. */
  private rotateActive(): string | null {
    const active = join(this.dir, SPOOL_ACTIVE_FILE);
    try {
      if (statSync(active).size === 0) return null;
    } catch {
      return null;
    }
    const name = this.nextDrainName();
    try {
      renameSync(active, join(this.dir, name));
    } catch {
      return null;
    }
    this.files.set(name, { offset: 0, ino: null });
    return name;
  }

  /** A fresh `drain-<ms>-<pid>.jsonl`: strictly increasing ms, never an existing or reserved name. */
  private nextDrainName(): string {
    let ms = Math.max(Date.now(), this.lastDrainMs + 1);
    for (;;) {
      const name = `drain-${ms}-${process.pid}.jsonl`;
      if (!this.reserved.has(name) && !this.files.has(name) && !exists(join(this.dir, name))) {
        this.lastDrainMs = ms; // names only grow: our own deleted names never come back
        return name;
      }
      ms++;
    }
  }

  private listDrainFiles(): string[] {
    try {
      return readdirSync(this.dir)
        .filter((f) => DRAIN_FILE_RE.test(f))
        .toSorted();
    } catch {
      return [];
    }
  }

  /** Sends what is new in one drain file (complete lines; a torn last line once the file is quiet). */
  private async readDrain(name: string): Promise<void> {
    let fd: number;
    try {
      fd = openSync(join(this.dir, name), "r");
    } catch {
      if (this.files.delete(name)) await this.send({ k: "spool_deleted", file: name });
      return;
    }
    let s = this.files.get(name);
    if (s === undefined) {
      s = { offset: this.startOffsets[name] ?? 0, ino: null };
      this.files.set(name, s);
    }
    try {
      const st = fstatSync(fd);
      if ((s.ino !== null && st.ino !== s.ino) || st.size < s.offset) {
        // truncated or replaced: start over (the daemon's dedupe makes re-reads harmless)
        const had = s.offset;
        s.offset = 0;
        await this.send({ k: "spool_reset", file: name, size: st.size, had });
      }
      s.ino = st.ino;
      while (s.offset < st.size && !this.closed) {
        const len = Math.min(st.size - s.offset, MAX_BATCH_BYTES);
        const buf = readAt(fd, len, s.offset);
        if (buf.length === 0) break;
        let end = buf.lastIndexOf(0x0a) + 1;
        if (end === 0) {
          if (buf.length === MAX_BATCH_BYTES) {
            if (!(await this.skipLongLine(fd, name, s, st))) break;
            continue;
          }
          // a torn last line (an emitter died mid-write) is given up on only once the file is quiet
          if (!(quiet(st) && s.offset + buf.length === st.size)) break;
          end = buf.length;
        }
        await this.sendLines(name, s, buf, end);
      }
    } finally {
      closeSync(fd);
    }
  }

  private async sendLines(file: string, s: FileState, buf: Buffer, end: number): Promise<void> {
    const base = s.offset;
    let batchStart = base;
    let lines: string[] = [];
    let pos = 0;
    while (pos < end) {
      const nl = buf.indexOf(0x0a, pos);
      const stop = nl === -1 || nl >= end ? end : nl;
      const line = buf.toString("utf8", pos, stop);
      pos = Math.min(end, stop + 1);
      if (line.trim() !== "") lines.push(line);
      if (lines.length >= MAX_BATCH_LINES) {
        await this.send({ k: "spool", file, start: batchStart, end: base + pos, lines });
        s.offset = base + pos;
        batchStart = s.offset;
        lines = [];
      }
    }
    if (base + pos > batchStart) {
      // also when every line was empty: the daemon commits the offset and can delete the file
      await this.send({ k: "spool", file, start: batchStart, end: base + pos, lines });
    }
    s.offset = base + pos;
  }

  /** A line longer than a batch can carry is dropped (no event is that big); returns false to wait for more. */
  private async skipLongLine(fd: number, file: string, s: FileState, st: Stats): Promise<boolean> {
    let pos = s.offset + MAX_BATCH_BYTES;
    while (pos < st.size) {
      const chunk = readAt(fd, Math.min(64 * 1024, st.size - pos), pos);
      if (chunk.length === 0) break;
      const nl = chunk.indexOf(0x0a);
      if (nl >= 0) {
        const end = pos + nl + 1;
        this.log("warn", "dropped a spool line longer than a batch", { file, start: s.offset, bytes: end - s.offset });
        await this.send({ k: "spool", file, start: s.offset, end, lines: [] });
        s.offset = end;
        return true;
      }
      pos += chunk.length;
    }
    if (!quiet(st)) return false;
    this.log("warn", "dropped a torn spool line longer than a batch", { file, start: s.offset, bytes: st.size - s.offset });
    await this.send({ k: "spool", file, start: s.offset, end: st.size, lines: [] });
    s.offset = st.size;
    return true;
  }

  private onSpoolDelete(op: DaemonOpOf<"spool_delete">): void {
    const path = join(this.dir, op.file);
    let st: Stats;
    try {
      st = statSync(path);
    } catch {
      this.files.delete(op.file);
      void this.send({ k: "spool_deleted", file: op.file });
      return;
    }
    const s = this.files.get(op.file);
    // still that size, nothing unsent, and quiet (a late appender holding the old fd)
    if (st.size !== op.size || (s !== undefined && s.offset < st.size) || !quiet(st)) return;
    unlinkSync(path);
    this.files.delete(op.file);
    void this.send({ k: "spool_deleted", file: op.file });
  }

  // -------------------------------------------------------------------------
  // tmux control clients

  private startControl(session: string): void {
    const running = this.controls.get(session);
    if (running !== undefined && running.running) return;
    let reported = false;
    const exit = (reason: string, message: string): void => {
      if (reported || this.controls.get(session) !== c) return;
      reported = true;
      this.controls.delete(session);
      void this.send({ k: "control_exit", session, reason, message });
    };
    const c: ControlClient = new ControlClient(this.tmux, session, {
      onNotification: (n) => {
        if (!IGNORED_CONTROL.has(n.kind) && this.controls.get(session) === c) void this.send({ k: "control", session, kind: `%${n.kind}` });
      },
      onExit: (e) => exit(e.reason, e.message),
    });
    this.controls.set(session, c);
    let p: Promise<void>;
    try {
      p = c.start();
    } catch (err) {
      p = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    p.then(
      () => {
        if (this.controls.get(session) === c) void this.send({ k: "control_ready", session });
      },
      (err: unknown) => {
        this.log("debug", "control client did not attach", { session, message: errorMessage(err) });
        if (!c.running) exit("attach_failed", errorMessage(err));
      },
    );
  }

  private stopControl(session: string): void {
    const c = this.controls.get(session);
    if (c === undefined) return;
    this.controls.delete(session);
    void c.stop();
  }

  // -------------------------------------------------------------------------
  // tails

  private startTail(op: DaemonOpOf<"tail_start">): void {
    this.tails.get(op.id)?.stop();
    const t = new Tail(op.id, op.path, op.offset, (m) => this.send(m), () => {
      if (this.tails.get(op.id) === t) this.tails.delete(op.id);
    });
    this.tails.set(op.id, t);
    t.start();
  }

  // -------------------------------------------------------------------------
  // codex

  private startCodex(): void {
    if (this.codex !== null) return;
    const c = new CodexAppServerClient({
      env: this.o.env,
      reconnect: { initialDelayMs: 500, maxDelayMs: 5_000 },
      log: (m) => this.log("debug", m, {}),
    });
    c.on((ev) => {
      if (this.codex === c) void this.send({ k: "codex", ev: encodeCodexEvent(ev) });
    });
    this.codex = c;
    c.start();
  }

  private async stopCodex(): Promise<void> {
    const c = this.codex;
    this.codex = null;
    await c?.close().catch(() => {});
  }

  private async onRpc(op: DaemonOpOf<"rpc">): Promise<void> {
    const params = op.params ?? {};
    try {
      const result = await this.rpcResult(op.method, params);
      void this.send({ k: "rpc_result", id: op.id, ok: true, result });
    } catch (err) {
      const code = err instanceof RpcFailure ? err.code : err instanceof CodexAppServerError ? err.kind : "failed";
      void this.send({ k: "rpc_result", id: op.id, ok: false, error: { code, message: errorMessage(err) } });
    }
  }

  private async rpcResult(method: DaemonOpOf<"rpc">["method"], params: Record<string, unknown>): Promise<unknown> {
    switch (method) {
      case "ping":
        return { t: Date.now(), pid: process.pid };
      case "codex.loadedThreads":
        return await this.codexClient().loadedThreads();
      case "codex.readThread": {
        const p = v.safeParse(RpcParamSchemas[method], params);
        if (!p.success) throw new RpcFailure("bad_params", "threadId is required");
        return await this.codexClient().readThread(p.output.threadId);
      }
      case "codex.readLastTurn": {
        const p = v.safeParse(RpcParamSchemas[method], params);
        if (!p.success) throw new RpcFailure("bad_params", "path is required");
        return readLastTurn(p.output.path);
      }
    }
  }

  private codexClient(): CodexAppServerClient {
    if (this.codex === null) throw new RpcFailure("not_started", "the Codex app-server client is not started (codex_start)");
    return this.codex;
  }

  // -------------------------------------------------------------------------

  private async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.watcher?.close();
    this.watcher = null;
    for (const t of this.tails.values()) t.stop();
    this.tails.clear();
    const controls = [...this.controls.values()];
    this.controls.clear();
    const codex = this.codex;
    this.codex = null;
    const all = Promise.all([...controls.map((c) => c.stop().catch(() => {})), codex?.close().catch(() => {})]);
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([all, new Promise<void>((r) => (timer = setTimeout(r, CLOSE_BUDGET_MS)))]);
    clearTimeout(timer);
  }
}

class RpcFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Follows one file: fs.watch wakes it, the relay's 1 s tick re-stats it. */
class Tail {
  private offset = 0;
  private ino: number | null = null;
  private watcher: FSWatcher | null = null;
  private stopped = false;
  private pumping = false;
  private again = false;

  constructor(
    private readonly id: string,
    private readonly path: string,
    private readonly requested: number,
    private readonly send: (m: RelayMessage) => Promise<void> | undefined,
    private readonly onEnd: () => void,
  ) {}

  start(): void {
    let st: Stats;
    try {
      st = statSync(this.path);
    } catch (err) {
      this.fail(err);
      return;
    }
    if (this.requested < 0) this.offset = Math.max(0, st.size + this.requested);
    else if (this.requested > st.size) {
      // shrank since the daemon last read it
      void this.send({ k: "tail_reset", id: this.id, size: st.size });
      this.offset = 0;
    } else this.offset = this.requested;
    this.ino = st.ino;
    this.watchFile();
    this.wake();
  }

  stop(): void {
    this.stopped = true;
    this.watcher?.close();
    this.watcher = null;
  }

  wake(): void {
    if (this.stopped) return;
    if (this.watcher === null) this.watchFile();
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    void this.pumpLoop();
  }

  private watchFile(): void {
    this.watcher?.close();
    try {
      const w = watch(this.path, { persistent: true }, () => this.wake());
      w.on("error", () => {
        w.close();
        if (this.watcher === w) this.watcher = null;
      });
      this.watcher = w;
    } catch {
      this.watcher = null; // the 1 s tick still re-stats
    }
  }

  private async pumpLoop(): Promise<void> {
    try {
      do {
        this.again = false;
        await this.pumpOnce();
      } while (this.again && !this.stopped);
    } catch (err) {
      this.fail(err);
    } finally {
      this.pumping = false;
    }
  }

  private async pumpOnce(): Promise<void> {
    let st: Stats;
    try {
      st = statSync(this.path);
    } catch (err) {
      this.fail(err);
      return;
    }
    if (st.ino !== this.ino || st.size < this.offset) {
      if (st.ino !== this.ino) {
        this.ino = st.ino;
        this.watchFile(); // the watch followed the old inode
      }
      this.offset = 0;
      await this.send({ k: "tail_reset", id: this.id, size: st.size });
    }
    if (st.size <= this.offset) return;
    const fd = openSync(this.path, "r");
    try {
      while (this.offset < st.size && !this.stopped) {
        const buf = readAt(fd, Math.min(MAX_TAIL_BYTES, st.size - this.offset), this.offset);
        if (buf.length === 0) break;
        const at = this.offset;
        this.offset += buf.length;
        await this.send({ k: "tail", id: this.id, offset: at, data: buf.toString("base64"), size: st.size });
      }
    } finally {
      closeSync(fd);
    }
  }

  private fail(err: unknown): void {
    if (this.stopped) return;
    const code = (err as { code?: unknown } | null)?.code;
    void this.send({ k: "tail_error", id: this.id, message: errorMessage(err), code: typeof code === "string" ? code : "EIO" });
    this.stop();
    this.onEnd();
  }
}

// ---------------------------------------------------------------------------

async function acquireLock(path: string, waitMs: number, signal: AbortSignal | undefined): Promise<{ ok: true; lock: HeldLock } | { ok: false; holderPid: number | null }> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const r = tryLock(path);
    if (r.ok) return r;
    if (Date.now() >= deadline || signal?.aborted === true) return r;
    await Bun.sleep(50);
  }
}

async function* chunksOf(src: AsyncIterable<Uint8Array> | ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  if (!("getReader" in src)) {
    yield* src;
    return;
  }
  const reader = src.getReader();
  try {
    for (;;) {
      const r = await reader.read();
      if (r.done) return;
      yield r.value;
    }
  } finally {
    reader.releaseLock();
  }
}

function readAt(fd: number, len: number, pos: number): Buffer {
  const buf = Buffer.alloc(len);
  let got = 0;
  while (got < len) {
    const n = readSync(fd, buf, got, len - got, pos + got);
    if (n <= 0) break;
    got += n;
  }
  return got === len ? buf : buf.subarray(0, got);
}

/** untouched (content and metadata: a rename updates ctime) for SPOOL_QUIET_MS */
function quiet(st: Stats): boolean {
  return Date.now() - Math.max(st.mtimeMs, st.ctimeMs) >= SPOOL_QUIET_MS;
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
