/**
 * A long-lived, read-only tmux control-mode client on one session
 * (`tmux -N [-L|-S] -C attach-session -r -f read-only,ignore-size,no-output
 * -t $N`, see Tmux.controlArgv), run through Executor.stream. It only
 * listens: command replies (%begin … %end/%error blocks) are skipped, the
 * notifications are handed to onNotification, and onExit is called once
 * when the client process has ended.
 *
 * Command channel (command()): the periodic read-only queries (list-panes,
 * capture-pane, display-message -p) are written to the client's stdin
 * instead of spawning a tmux process each time. Safety: on tmux 3.3a the
 * read-only flag does not stop commands written to a control client
 * (send-keys, kill-session … would be executed; read-only only blocks key
 * input), so what is written is only ever built here: subcommands from
 * Tmux's read-only allow-list (channelSafe), every argument single-quoted
 * for tmux's parser, no newline in any argument, and nothing read from tmux
 * is ever written back. Each request is followed by its own sentinel line
 * (`display-message -p 'agtmux-end:<nonce>'`); every reply block of this
 * client (flags & 1) up to the sentinel's belongs to that request, so a
 * request that timed out cannot shift the answers of the next ones, and a
 * failing command (%error, the rest of its line skipped by tmux) still ends
 * at its sentinel. Pane text is printed raw inside a block; only a line equal
 * to the block's own "%end <time> <number> <flags>" closes it.
 * `-N` stops tmux from starting a server (attach-session would otherwise
 * start one, with the user's config, when none runs).
 * ignore-size: the client never affects window sizes; no-output: no %output.
 *
 * Which notifications a client gets (tmux 3.3a, verified in
 * tests/tmux/control.test.ts):
 * - GLOBAL (every control client, whatever session it is attached to):
 *   %sessions-changed (a session was created or closed), %session-renamed,
 *   %session-window-changed (any session's current window), %window-add /
 *   %window-close / %window-renamed for windows linked to the attached
 *   session and the %unlinked-window-add / -close / -renamed counterparts for
 *   all other windows, %window-pane-changed (any window's active pane),
 *   %pane-mode-changed (any pane), %client-session-changed and
 *   %client-detached (other clients).
 * - PER SESSION (only windows linked to the attached session):
 *   %layout-change (split, kill-pane, a pane's process exiting, zoom,
 *   resize) — so a split-window, kill-pane or pane exit in another session
 *   is NOT reported unless it also changes that window's active pane
 *   (%window-pane-changed); a `split-window -d` elsewhere is invisible.
 *   %output (disabled here by no-output).
 *   Quirk: a window of the attached session that closes (kill-window, last
 *   pane exited) is reported as %unlinked-window-close, not %window-close (it
 *   is already unlinked when the line is written): treat both alike.
 * - THIS client only: %session-changed (sent once after attaching), %exit.
 * A client attached to a session ends (%exit) when that session is killed
 * (detach-on-destroy) or the server exits; a new client is needed per
 * session to see every layout change.
 */
import { ExecError, type StreamHandle } from "../targets/executor.ts";
import { ChannelError, channelSafe, type Tmux } from "./tmux.ts";
import { TmuxError } from "./types.ts";

export interface ControlNotification {
  /** the notification name without the leading "%", e.g. "window-add" */
  kind: string;
  args: string[];
}

export interface ControlExit {
  /**
   * stopped: stop() was called; exit: tmux sent %exit (attached session
   * closed, server exited, client detached); lost: the process ended without
   * %exit (killed, crashed); attach_failed: the client never got attached.
   */
  reason: "stopped" | "exit" | "lost" | "attach_failed";
  /** %exit's reason text or the attach error, "" if none */
  message: string;
  /** exit code of the client process (null: killed by a signal) */
  code: number | null;
}

export interface ControlHandlers {
  onNotification(n: ControlNotification): void;
  onExit?(e: ControlExit): void;
}

export interface ControlOptions {
  /** how long start() waits for the attach to be confirmed, default: the Tmux call timeout */
  readyTimeoutMs?: number;
}

/**
 * Argument count per notification; the last argument takes the rest of the
 * line (names may contain spaces). Unknown kinds are split on every space.
 */
const ARITY: Record<string, number> = {
  "sessions-changed": 0,
  "session-changed": 2,
  "session-renamed": 2,
  "session-window-changed": 2,
  "client-session-changed": 3,
  "client-detached": 1,
  "window-add": 1,
  "window-close": 1,
  "window-renamed": 2,
  "unlinked-window-add": 1,
  "unlinked-window-close": 1,
  "unlinked-window-renamed": 2,
  "window-pane-changed": 2,
  "pane-mode-changed": 1,
  "layout-change": 4,
  output: 2,
  exit: 1,
  message: 1,
  "config-error": 1,
  pause: 1,
  continue: 1,
};

/** Parses one notification line ("%kind args…"); null if it is not one. */
export function parseNotification(line: string): ControlNotification | null {
  if (!line.startsWith("%")) return null;
  const sp = line.indexOf(" ");
  const kind = sp < 0 ? line.slice(1) : line.slice(1, sp);
  if (kind === "") return null;
  const rest = sp < 0 ? "" : line.slice(sp + 1);
  const arity = ARITY[kind];
  if (rest === "" && (arity === undefined || arity <= 1)) return { kind, args: [] };
  if (arity === 0) return { kind, args: [] };
  const parts = rest.split(" ");
  if (arity === undefined || parts.length <= arity) return { kind, args: parts };
  return { kind, args: [...parts.slice(0, arity - 1), parts.slice(arity - 1).join(" ")] };
}

/** One argument for tmux's command parser: single-quoted, a quote as '\'' (tmux joins adjacent quoted parts). */
export function tmuxQuote(arg: string): string {
  return `'${arg.replaceAll("'", "'\\''")}'`;
}

const SENTINEL = "agtmux-end:";

interface Request {
  resolve(out: string): void;
  reject(err: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

/** upper bound for the wait for a trailing "%exit" line after the process ended */
const EXIT_DRAIN_MS = 250;
/** how long stop() waits after SIGTERM before SIGKILL */
const STOP_GRACE_MS = 2000;

type State = "idle" | "starting" | "ready" | "ended";

export class ControlClient {
  private handle: StreamHandle | undefined;
  private state: State = "idle";
  /** "%begin <time> <num> <flags>" args of the open reply block */
  private block: string | null = null;
  private blockLines: string[] = [];
  private attachSettled = false;
  private sawOutput = false;
  private exitMessage: string | null = null;
  private attachError: string | null = null;
  private stopping = false;
  private exitedP: Promise<void> | undefined;
  private ready: { resolve(): void; reject(e: TmuxError): void } | undefined;
  private exitLine: { seen: boolean; wake: (() => void) | undefined } = { seen: false, wake: undefined };
  /** command() requests by sentinel nonce, and this client's reply blocks since the last sentinel */
  private readonly requests = new Map<string, Request>();
  private replies: Array<{ failed: boolean; lines: string[] }> = [];
  private nonceN = 0;

  constructor(
    private readonly tmux: Tmux,
    readonly sessionId: string,
    private readonly handlers: ControlHandlers,
    private readonly opts: ControlOptions = {},
  ) {}

  /** pid of the tmux client process while it runs */
  get pid(): number | undefined {
    return this.state === "ended" ? undefined : this.handle?.pid;
  }

  /** attached and confirmed by tmux (it then counts in #{session_attached}) */
  get attached(): boolean {
    return this.state === "ready";
  }

  get running(): boolean {
    return this.state === "starting" || this.state === "ready";
  }

  /**
   * Starts the client and resolves once tmux confirms the attach (the
   * attach-session reply block ended with %end): from then on every
   * notification is delivered. Rejects with TmuxError: not_found (no tmux
   * binary), no_server, failed (e.g. no such session, stderr = tmux's
   * message), timeout.
   */
  start(): Promise<void> {
    if (this.state !== "idle") return Promise.reject(new Error("ControlClient: start() called twice"));
    this.state = "starting";
    const argv = this.tmux.controlArgv(this.sessionId);
    const readyP = new Promise<void>((resolve, reject) => {
      this.ready = { resolve, reject };
    });
    try {
      this.handle = this.tmux.exec.stream(argv, { onLine: (l) => this.onLine(l), env: this.tmux.env });
    } catch (err) {
      this.state = "ended";
      if (err instanceof ExecError && err.kind === "not_found") return Promise.reject(new TmuxError("not_found", `tmux binary not found: ${this.tmux.bin}`));
      return Promise.reject(new TmuxError("failed", err instanceof Error ? err.message : String(err)));
    }
    const handle = this.handle;
    this.exitedP = handle.exited.then(
      (code) => this.onProcessExit(code),
      () => this.onProcessExit(null),
    );
    const timeoutMs = this.opts.readyTimeoutMs ?? this.tmux.timeoutMs;
    const timer = setTimeout(() => {
      if (this.attachSettled) return;
      this.settleAttach(new TmuxError("timeout", `control client on ${this.sessionId} not attached after ${timeoutMs} ms`));
      this.terminate();
    }, timeoutMs);
    return readyP.finally(() => clearTimeout(timer));
  }

  /**
   * Runs a read-only command chain (argv form, ";" separates commands) on
   * this client and resolves with what `tmux <args>` would print on stdout.
   * Rejects with TmuxError "failed" (stderr = tmux's message) when a command
   * failed, ChannelError when the client is not attached, went away, or did
   * not answer within timeoutMs.
   */
  command(args: readonly string[], timeoutMs: number): Promise<string> {
    if (this.state !== "ready" || this.handle === undefined) return Promise.reject(new ChannelError(`control client on ${this.sessionId} not attached`));
    if (!channelSafe(args)) return Promise.reject(new ChannelError(`not a read-only command for the channel: ${args[0] ?? ""}`));
    const nonce = `${++this.nonceN}-${crypto.randomUUID()}`;
    const line = args.map((a) => (a === ";" ? ";" : tmuxQuote(a))).join(" ");
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.requests.delete(nonce)) reject(new ChannelError(`control client on ${this.sessionId}: no answer after ${timeoutMs} ms`));
      }, timeoutMs);
      this.requests.set(nonce, { resolve, reject, timer });
      try {
        this.handle?.write(`${line}\ndisplay-message -p ${tmuxQuote(SENTINEL + nonce)}\n`);
      } catch (err) {
        clearTimeout(timer);
        this.requests.delete(nonce);
        reject(new ChannelError(`control client on ${this.sessionId}: write failed: ${err instanceof Error ? err.message : String(err)}`));
      }
    });
  }

  /** a reply block of this client ended */
  private onReply(failed: boolean, lines: string[]): void {
    const only = lines.length === 1 ? (lines[0] ?? "") : "";
    if (!failed && only.startsWith(SENTINEL)) {
      const req = this.requests.get(only.slice(SENTINEL.length));
      const replies = this.replies;
      this.replies = [];
      if (req === undefined) return; // timed out: its answer is dropped
      this.requests.delete(only.slice(SENTINEL.length));
      clearTimeout(req.timer);
      const bad = replies.find((r) => r.failed);
      if (bad !== undefined) {
        const msg = bad.lines.join("\n");
        req.reject(new TmuxError("failed", `tmux command failed: ${bad.lines[0] ?? ""}`, msg));
      } else req.resolve(replies.map((r) => (r.lines.length === 0 ? "" : `${r.lines.join("\n")}\n`)).join(""));
      return;
    }
    this.replies.push({ failed, lines });
  }

  private failRequests(why: string): void {
    for (const [nonce, req] of this.requests) {
      clearTimeout(req.timer);
      this.requests.delete(nonce);
      req.reject(new ChannelError(`control client on ${this.sessionId}: ${why}`));
    }
    this.replies = [];
  }

  /**
   * Ends the client (stdin closed: tmux detaches it; then SIGTERM) and
   * resolves when the process is gone (reaped: no zombie). The attached
   * session is not affected. Idempotent.
   */
  async stop(): Promise<void> {
    if (this.handle === undefined || this.exitedP === undefined) {
      this.state = "ended";
      return;
    }
    if (this.state !== "ended") {
      this.stopping = true;
      this.terminate();
    }
    await this.exitedP;
  }

  /**
   * close(): stdin EOF (tmux detaches the client) + SIGTERM. A tmux client
   * signalled very early can wait forever for its server's reply, so after
   * STOP_GRACE_MS it is killed (by its own pid).
   */
  private terminate(): void {
    const handle = this.handle;
    if (handle === undefined) return;
    handle.close();
    const pid = handle.pid;
    const timer = setTimeout(() => {
      if (this.state === "ended" || pid === undefined) return;
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }, STOP_GRACE_MS);
    const clear = (): void => clearTimeout(timer);
    handle.exited.then(clear, clear);
  }

  private onLine(raw: string): void {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    this.sawOutput = true;
    if (this.block !== null) {
      // inside a command reply: only its own %end/%error closes it
      const m = /^%(end|error) (.*)$/.exec(line);
      if (m !== null && m[2] === this.block) {
        const failed = m[1] === "error";
        const lines = this.blockLines;
        const flags = Number(this.block.split(" ")[2] ?? "0");
        this.block = null;
        this.blockLines = [];
        if (this.attachSettled) {
          // flag 1: the reply to a command this client wrote
          if ((flags & 1) === 1) this.onReply(failed, lines);
        } else {
          if (failed) {
            this.attachError = lines.join("\n");
            this.settleAttach(new TmuxError("failed", `control client: attach to ${this.sessionId} failed: ${this.attachError}`, this.attachError));
          } else {
            this.state = "ready";
            this.settleAttach(null);
          }
        }
      } else {
        this.blockLines.push(line);
      }
      return;
    }
    if (line.startsWith("%begin ")) {
      this.block = line.slice("%begin ".length);
      this.blockLines = [];
      return;
    }
    const n = parseNotification(line);
    if (n === null) return;
    if (n.kind === "exit") {
      this.exitMessage = n.args[0] ?? "";
      this.exitLine.seen = true;
      this.exitLine.wake?.();
    }
    try {
      this.handlers.onNotification(n);
    } catch {
      // a failing handler must not kill the reader
    }
  }

  private settleAttach(err: TmuxError | null): void {
    if (this.attachSettled) return;
    this.attachSettled = true;
    const r = this.ready;
    this.ready = undefined;
    if (err === null) r?.resolve();
    else r?.reject(err);
  }

  private async onProcessExit(code: number | null): Promise<void> {
    // The process can be reaped before its last stdout lines are read: tmux
    // ends every session with "%exit", so give the reader a bounded moment to
    // deliver it (resolved early as soon as it arrives).
    if (!this.exitLine.seen && !this.stopping) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, EXIT_DRAIN_MS);
        this.exitLine.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    const wasReady = this.state === "ready";
    this.state = "ended";
    this.failRequests("the client ended");
    if (!this.attachSettled) {
      // nothing on stdout: tmux could not connect (its message went to stderr)
      let err: TmuxError;
      if (this.stopping) err = new TmuxError("failed", `control client on ${this.sessionId} stopped before it was attached`);
      else if (!this.sawOutput && !(await this.tmux.hasServer().catch(() => true))) err = new TmuxError("no_server", `control client: no tmux server (${this.sessionId})`);
      else err = new TmuxError("failed", `control client on ${this.sessionId} exited before attaching (code ${code})`, this.attachError ?? "");
      this.settleAttach(err);
    }
    let exit: ControlExit;
    if (this.stopping) exit = { reason: "stopped", message: "", code };
    else if (!wasReady) exit = { reason: "attach_failed", message: this.attachError ?? "", code };
    else if (this.exitMessage !== null) exit = { reason: "exit", message: this.exitMessage, code };
    else exit = { reason: "lost", message: "", code };
    try {
      this.handlers.onExit?.(exit);
    } catch {
      // ignore handler failures
    }
  }
}
