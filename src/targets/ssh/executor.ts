/**
 * The ssh Executor (contracts §6): one persistent ssh2 connection per target,
 * opened lazily, shared by every exec/stream/SFTP call as separate channels
 * (never a handshake per command), reopened by the next call after it drops.
 *
 * - config: ~/.ssh/config (+ /etc/ssh/ssh_config) via ./config.ts
 * - host keys: known_hosts via ./known-hosts.ts; unknown keys are refused
 *   unless acceptNewHostKey (then recorded, like StrictHostKeyChecking=
 *   accept-new); changed or revoked keys are always refused
 * - auth: ssh-agent, then each IdentityFile (publickey only)
 * - timeouts: connect 3 s per hop, command 5 s (per call), keepalives
 *   5 s x 3; 2 retries (250 ms, 1 s, +-20 % jitter) for transport failures
 * - at most maxChannels channels at once (OpenSSH's MaxSessions is 10)
 *
 * See docs/ssh.md.
 */
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { constants as osConstants } from "node:os";
import { posix } from "node:path";
import type { Duplex } from "node:stream";
import {
  type AnyAuthMethod,
  type AuthenticationType,
  type AuthHandlerMiddleware,
  Client,
  type ClientChannel,
  type ConnectConfig,
  type IdentityCallback,
  OpenSSHAgent,
  type ParsedKey,
  type ServerHostKeyAlgorithm,
  type SFTPWrapper,
  type Stats,
  utils,
} from "ssh2";
import { type ExecErrorKind, type ExecOptions, type ExecResult, type Executor, ExecError, type StreamHandle, type StreamOptions } from "../executor.ts";
import { type Env, type ResolvedHost, resolveChain } from "./config.ts";
import { appendKnownHost, checkHostKey, fingerprintSha256, type KnownHostEntry, keyTypeOf, knownHostName, knownKeyTypes, loadKnownHosts } from "./known-hosts.ts";
import { remoteCommand } from "./quote.ts";

export const CONNECT_TIMEOUT_MS = 3000;
export const COMMAND_TIMEOUT_MS = 5000;
export const KEEPALIVE_INTERVAL_MS = 5000;
export const KEEPALIVE_COUNT_MAX = 3;
export const MAX_CHANNELS = 8;
/** contracts §6: 2 retries, 250 ms then 1 s */
export const RETRY_DELAYS_MS: readonly number[] = [250, 1000];
export const RETRY_JITTER = 0.2;
/** after a stream's close() ends stdin, how long the remote program gets to exit before TERM + channel close */
export const STREAM_CLOSE_GRACE_MS = 1000;
/** how long close() waits for the server to acknowledge the disconnect */
const CLOSE_BUDGET_MS = 1000;
const SFTP_UPLOAD_TIMEOUT_MS = 120_000;
/** backoff when the server refuses a channel open (see openChannel) */
const CHANNEL_RETRY_DELAYS_MS: readonly number[] = [5, 10, 20, 40, 80, 160];

/** Structurally the daemon's Logger (src/daemon/log.ts), which targets/ must not import. */
export interface SshLogger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
}

export interface SshExecutorOptions {
  targetId: string;
  /** the ssh destination as a user types it: a ~/.ssh/config alias, `host`, `user@host` or `ssh://user@host:port` */
  alias: string;
  /** HOME, USER, SSH_AUTH_SOCK...: config, keys and the agent are found through these */
  env: Env;
  /** record an unknown host key instead of refusing it (never a changed one) */
  acceptNewHostKey?: boolean;
  /** per hop; default ConnectTimeout from ssh config, else 3000 */
  connectTimeoutMs?: number;
  /** used when a call's timeoutMs is not positive; default 5000 */
  commandTimeoutMs?: number;
  /** default ServerAliveInterval from ssh config, else 5000 */
  keepaliveIntervalMs?: number;
  /** default ServerAliveCountMax from ssh config, else 3 */
  keepaliveCountMax?: number;
  maxChannels?: number;
  log?: SshLogger;
  /** default `<HOME>/.ssh/config`; null: none */
  configPath?: string | null;
  /** default /etc/ssh/ssh_config; null: none */
  systemConfigPath?: string | null;
  /** retry backoff (tests) */
  retryDelaysMs?: readonly number[];
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

export type SshState = "connected" | "disconnected";

export interface SshStats {
  /** successful connections, the first included */
  connects: number;
  /** successful connections after the first */
  reconnects: number;
  channelsOpened: number;
  channelsOpen: number;
  lastError: { kind: ExecErrorKind; message: string; at: number } | null;
  connected: boolean;
}

export interface SshStreamHandle extends StreamHandle {
  /** why the stream ended without an exit status (connect failure, connection lost), if it did */
  readonly error: ExecError | undefined;
}

export interface RemoteStat {
  size: number;
  mode: number;
  mtimeMs: number;
  isFile: boolean;
  isDirectory: boolean;
}

export class SftpError extends Error {
  constructor(
    message: string,
    /** the SFTP status code (2 = no such file, 3 = permission denied, 4 = failure) */
    readonly code: number | undefined,
  ) {
    super(message);
    this.name = "SftpError";
  }
}

// ---------------------------------------------------------------------------
// retry

export interface RetryOptions {
  delaysMs?: readonly number[];
  /** fraction, default 0.2 (+-20 %) */
  jitter?: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  onRetry?: (err: ExecError, attempt: number, delayMs: number) => void;
}

/** transport failures worth another try; auth, host-key and config errors are not */
export function isRetryable(err: unknown): err is ExecError {
  return err instanceof ExecError && (err.kind === "unreachable" || err.kind === "connect_timeout");
}

/** Runs attempt(); on a retryable failure waits delaysMs[i] (+-jitter) and tries again, once per delay. */
export async function connectWithRetry<T>(attempt: () => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const delays = opts.delaysMs ?? RETRY_DELAYS_MS;
  const jitter = opts.jitter ?? RETRY_JITTER;
  const sleep = opts.sleep ?? ((ms: number) => Bun.sleep(ms));
  const random = opts.random ?? Math.random;
  for (let i = 0; ; i++) {
    try {
      return await attempt();
    } catch (err) {
      const base = delays[i];
      if (base === undefined || !isRetryable(err)) throw err;
      const delay = Math.max(0, Math.round(base * (1 + (random() * 2 - 1) * jitter)));
      opts.onRetry?.(err, i + 1, delay);
      await sleep(delay);
    }
  }
}

// ---------------------------------------------------------------------------
// helpers

class Semaphore {
  private used = 0;
  private readonly waiters: (() => void)[] = [];
  constructor(private readonly max: number) {}
  async acquire(): Promise<() => void> {
    if (this.used >= this.max) await new Promise<void>((r) => this.waiters.push(r));
    else this.used++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      if (next !== undefined) next();
      else this.used--;
    };
  }
}

interface Conn {
  id: number;
  client: Client;
  /** jump clients, nearest first */
  jumps: Client[];
  alive: boolean;
  /** resolves when any hop's connection closes, with the error that closed it if any */
  closed: Promise<string | undefined>;
}

interface Hop {
  client: Client;
  closed: Promise<string | undefined>;
}

type Ssh2Error = Error & { level?: string; code?: string | number; description?: string };

/** `user@host:port (alias)` for messages */
function describe(h: ResolvedHost): string {
  const where = `${h.user}@${h.hostName}${h.port === 22 ? "" : `:${h.port}`}`;
  return h.alias === h.hostName ? where : `${where} (${h.alias})`;
}

const SOCKET_ERRORS: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ENOTFOUND: "could not resolve hostname",
  EAI_AGAIN: "could not resolve hostname (temporary DNS failure)",
  EHOSTUNREACH: "no route to host",
  ENETUNREACH: "network is unreachable",
  ETIMEDOUT: "connection timed out",
  ECONNRESET: "connection reset by peer",
  EPIPE: "connection closed by peer",
};

const HOST_KEY_ALGOS: Record<string, ServerHostKeyAlgorithm[]> = {
  "ssh-ed25519": ["ssh-ed25519"],
  "ecdsa-sha2-nistp256": ["ecdsa-sha2-nistp256"],
  "ecdsa-sha2-nistp384": ["ecdsa-sha2-nistp384"],
  "ecdsa-sha2-nistp521": ["ecdsa-sha2-nistp521"],
  "ssh-rsa": ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
};

/**
 * Sends a signal request even after stdin was ended: ssh2 1.17.0's
 * Channel.signal() refuses once the channel is no longer writable, which it
 * is not after end() (every exec ends stdin at once).
 */
function sendSignal(ch: ClientChannel, name: string): void {
  const c = ch as unknown as { outgoing?: { state?: string; id?: number }; _client?: { _protocol?: { signal?(id: number, sig: string): void } } };
  const state = c.outgoing?.state;
  const id = c.outgoing?.id;
  if ((state !== "open" && state !== "eof") || id === undefined) return;
  try {
    // oxlint-disable-next-line no-underscore-dangle -- ssh2's own fields, see above
    c._client?._protocol?.signal?.(id, name);
  } catch {
    // the connection is going away; closing the channel is all that is left
  }
}

/** 128 + the signal's number (ssh2 reports "SIGTERM"; the wire has "TERM"); -1 when unknown */
function signalCode(name: string | undefined): number {
  if (name === undefined) return -1;
  const n = (osConstants.signals as Record<string, number | undefined>)[name.startsWith("SIG") ? name : `SIG${name}`];
  return n === undefined ? -1 : 128 + n;
}

/** The agent restricted to the public keys of the configured IdentityFiles (IdentitiesOnly yes), as ssh does. */
class FilteredAgent extends OpenSSHAgent {
  constructor(
    socketPath: string,
    private readonly allowed: readonly Buffer[],
  ) {
    super(socketPath);
  }
  override getIdentities(cb: IdentityCallback<ParsedKey>): void {
    super.getIdentities((err, keys) => {
      if (err || keys === undefined) return cb(err, keys);
      cb(
        null,
        keys.filter((k) => {
          const blob = publicBlob(k);
          return blob !== undefined && this.allowed.some((a) => a.equals(blob));
        }),
      );
    });
  }
}

/** the wire-format public key of an agent identity (ssh2 hands out several shapes) */
function publicBlob(k: unknown): Buffer | undefined {
  if (isParsedKey(k)) return k.getPublicSSH();
  if (typeof k === "string" || Buffer.isBuffer(k)) {
    const p = utils.parseKey(k);
    return p instanceof Error ? undefined : p.getPublicSSH();
  }
  if (typeof k === "object" && k !== null && "pubKey" in k) return publicBlob(k.pubKey);
  return undefined;
}

function isParsedKey(k: unknown): k is ParsedKey {
  return typeof k === "object" && k !== null && !Buffer.isBuffer(k) && typeof (k as { getPublicSSH?: unknown }).getPublicSSH === "function";
}

interface AuthPlan {
  methods: { label: string; method: AnyAuthMethod }[];
  /** labels of the methods handed to ssh2 so far */
  tried: string[];
  /** keys and agents not offered, with the reason */
  skipped: string[];
}

// ---------------------------------------------------------------------------

export class SshExecutor implements Executor {
  readonly kind = "ssh" as const;
  readonly targetId: string;
  readonly alias: string;
  private readonly env: Env;
  private readonly acceptNewHostKey: boolean;
  private readonly slots: Semaphore;
  private readonly listeners = new Set<(state: SshState, info: { error?: ExecError }) => void>();
  private conn: Conn | undefined;
  private connecting: Promise<Conn> | undefined;
  /** bumped by close(): a connect that finishes after it is discarded */
  private epoch = 0;
  private nextConnId = 1;
  private readonly counters = { connects: 0, channelsOpened: 0, channelsOpen: 0 };
  private lastError: SshStats["lastError"] = null;

  constructor(private readonly opts: SshExecutorOptions) {
    this.targetId = opts.targetId;
    this.alias = opts.alias;
    this.env = opts.env;
    this.acceptNewHostKey = opts.acceptNewHostKey ?? false;
    this.slots = new Semaphore(Math.max(1, opts.maxChannels ?? MAX_CHANNELS));
  }

  get stats(): SshStats {
    return {
      connects: this.counters.connects,
      reconnects: Math.max(0, this.counters.connects - 1),
      channelsOpened: this.counters.channelsOpened,
      channelsOpen: this.counters.channelsOpen,
      lastError: this.lastError,
      connected: this.conn?.alive === true,
    };
  }

  /** connected/disconnected transitions; returns the unsubscribe function */
  onState(listener: (state: SshState, info: { error?: ExecError }) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Connects now if not connected (with retries). `acceptNewHostKey` applies
   * to this connect only (`agtmux target connect --accept-new-host-key`).
   */
  async connect(opts: { acceptNewHostKey?: boolean } = {}): Promise<void> {
    await this.connection(opts.acceptNewHostKey ?? this.acceptNewHostKey);
  }

  /** Ends the connection and its jump hosts. Idempotent; a later call connects again. */
  async close(): Promise<void> {
    this.epoch++;
    this.connecting = undefined;
    const c = this.conn;
    this.conn = undefined;
    if (c === undefined) return;
    this.markLost(c, undefined);
    for (const cl of [c.client, ...c.jumps]) cl.end();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const budget = new Promise<undefined>((r) => {
      timer = setTimeout(() => r(undefined), CLOSE_BUDGET_MS);
    });
    await Promise.race([c.closed, budget]);
    clearTimeout(timer);
    for (const cl of [c.client, ...c.jumps]) cl.destroy();
  }

  async exec(argv: readonly string[], opts: ExecOptions): Promise<ExecResult> {
    const cmd = remoteCommand(argv, opts.env);
    const argv0 = argv[0] ?? "";
    const timeoutMs = opts.timeoutMs > 0 ? opts.timeoutMs : (this.opts.commandTimeoutMs ?? COMMAND_TIMEOUT_MS);
    const release = await this.slots.acquire();
    let conn: Conn;
    try {
      conn = await this.connection();
    } catch (err) {
      release();
      throw err;
    }
    return new Promise<ExecResult>((resolve, reject) => {
      let settled = false;
      let channel: ClientChannel | undefined;
      const settle = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        fn();
      };
      const timer = setTimeout(() => {
        settle(() => reject(new ExecError("timeout", `${argv0} timed out after ${timeoutMs} ms on ${this.alias}`, argv0)));
        if (channel !== undefined) {
          sendSignal(channel, "KILL");
          channel.close();
        }
      }, timeoutMs);
      this.openExec(conn, cmd, (err, ch) => {
        if (err !== undefined || ch === undefined) {
          release();
          settle(() => reject(err ?? new ExecError("unreachable", `${this.alias}: no channel`, argv0)));
          return;
        }
        channel = ch;
        const out: Buffer[] = [];
        const errOut: Buffer[] = [];
        let exit: { code: number | null; signal?: string } | undefined;
        ch.on("data", (d: Buffer) => out.push(d));
        ch.stderr.on("data", (d: Buffer) => errOut.push(d));
        ch.on("exit", (code: number | null, signal?: string) => {
          exit = signal === undefined ? { code } : { code, signal };
        });
        ch.on("close", () => {
          this.counters.channelsOpen--;
          release();
          settle(() => {
            const stdout = Buffer.concat(out).toString("utf8");
            const stderr = Buffer.concat(errOut).toString("utf8");
            if (exit === undefined) {
              reject(new ExecError("unreachable", `${this.alias}: connection lost while running ${argv0}`, argv0));
              return;
            }
            const code = exit.code ?? signalCode(exit.signal);
            if (code === 127) {
              reject(new ExecError("not_found", `${argv0}: command not found on ${this.alias}${stderr.trim() === "" ? "" : ` (${stderr.trim().split("\n").at(-1)})`}`, argv0));
              return;
            }
            resolve({ code, stdout, stderr });
          });
        });
        if (settled) {
          // timed out while the channel was opening
          sendSignal(ch, "KILL");
          ch.close();
          return;
        }
        if (opts.stdin !== undefined) ch.write(opts.stdin);
        ch.end();
      });
    });
  }

  stream(argv: readonly string[], opts: StreamOptions): SshStreamHandle {
    const cmd = remoteCommand(argv, opts.env);
    const argv0 = argv[0] ?? "";
    let resolveExited!: (code: number | null) => void;
    const exited = new Promise<number | null>((r) => (resolveExited = r));
    const pending: string[] = [];
    let channel: ClientChannel | undefined;
    let closeRequested = false;
    let finished = false;
    let error: ExecError | undefined;
    let graceTimer: ReturnType<typeof setTimeout> | undefined;
    const finish = (code: number | null, err?: ExecError): void => {
      if (finished) return;
      finished = true;
      clearTimeout(graceTimer);
      if (err !== undefined) {
        error = err;
        this.opts.log?.warn("ssh stream ended", { target: this.targetId, argv0, error: err.message });
      }
      resolveExited(code);
    };
    const closeChannel = (ch: ClientChannel): void => {
      ch.end();
      graceTimer = setTimeout(() => {
        sendSignal(ch, "TERM");
        ch.close();
      }, STREAM_CLOSE_GRACE_MS);
    };

    void (async () => {
      const release = await this.slots.acquire();
      if (closeRequested) {
        release();
        return finish(null);
      }
      let conn: Conn;
      try {
        conn = await this.connection();
      } catch (err) {
        release();
        return finish(null, err instanceof ExecError ? err : new ExecError("unreachable", String(err), argv0));
      }
      if (closeRequested) {
        release();
        return finish(null);
      }
      this.openExec(conn, cmd, (err, ch) => {
        if (err !== undefined || ch === undefined) {
          release();
          return finish(null, err);
        }
        channel = ch;
        let exit: number | null | undefined;
        const decoder = new TextDecoder();
        let buf = "";
        const deliver = (): void => {
          let nl = buf.indexOf("\n");
          while (nl >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            opts.onLine(line);
            nl = buf.indexOf("\n");
          }
        };
        ch.on("data", (d: Buffer) => {
          buf += decoder.decode(d, { stream: true });
          deliver();
        });
        // stderr is not delivered, but it must be read or the channel window stalls
        ch.stderr.resume();
        ch.on("exit", (code: number | null) => {
          exit = code;
        });
        ch.on("close", () => {
          this.counters.channelsOpen--;
          release();
          buf += decoder.decode();
          deliver();
          if (buf !== "") opts.onLine(buf);
          buf = "";
          if (exit === undefined && !closeRequested) finish(null, new ExecError("unreachable", `${this.alias}: connection lost while running ${argv0}`, argv0));
          else finish(exit ?? null);
        });
        for (const w of pending.splice(0)) ch.write(w);
        if (closeRequested) closeChannel(ch);
      });
    })();

    return {
      pid: undefined,
      exited,
      get error() {
        return error;
      },
      write(data) {
        if (finished || closeRequested) return;
        if (channel === undefined) pending.push(data);
        else if (channel.writable) channel.write(data);
      },
      close() {
        if (closeRequested) return;
        closeRequested = true;
        if (channel !== undefined && !finished) closeChannel(channel);
      },
    };
  }

  /**
   * Uploads to remotePath + ".tmp-<rand>", sets mode, renames into place
   * (mkdir -p of the parent first), so a cut upload never leaves a partial
   * file at remotePath. Relative (or `~/`) paths are under the login directory.
   */
  async sftpUpload(localPath: string, remotePath_: string, mode: number, opts: { timeoutMs?: number } = {}): Promise<void> {
    const remotePath = sftpPath(remotePath_);
    const tmp = `${remotePath}.tmp-${randomBytes(6).toString("hex")}`;
    await this.withSftp(opts.timeoutMs ?? SFTP_UPLOAD_TIMEOUT_MS, async (sftp) => {
      await sftpMkdirP(sftp, posix.dirname(remotePath));
      try {
        await sftpCall<void>((cb) => sftp.fastPut(localPath, tmp, { mode }, cb), `upload ${localPath} -> ${tmp}`);
        await sftpCall<void>((cb) => sftp.chmod(tmp, mode, cb), `chmod ${tmp}`);
        try {
          await sftpCall<void>((cb) => sftp.ext_openssh_rename(tmp, remotePath, cb), `rename ${tmp} -> ${remotePath}`);
        } catch {
          // no posix-rename extension: plain rename does not replace an existing file
          await sftpCall<void>((cb) => sftp.unlink(remotePath, cb), `unlink ${remotePath}`).catch(() => {});
          await sftpCall<void>((cb) => sftp.rename(tmp, remotePath, cb), `rename ${tmp} -> ${remotePath}`);
        }
      } catch (err) {
        await sftpCall<void>((cb) => sftp.unlink(tmp, cb), `unlink ${tmp}`).catch(() => {});
        throw err;
      }
    });
  }

  /** stat over SFTP; null when the path does not exist */
  async sftpStat(remotePath_: string, opts: { timeoutMs?: number } = {}): Promise<RemoteStat | null> {
    const remotePath = sftpPath(remotePath_);
    return this.withSftp(opts.timeoutMs ?? this.opts.commandTimeoutMs ?? COMMAND_TIMEOUT_MS, async (sftp) => {
      try {
        const st = await sftpCall<Stats>((cb) => sftp.stat(remotePath, cb), `stat ${remotePath}`);
        return { size: st.size, mode: st.mode, mtimeMs: st.mtime * 1000, isFile: st.isFile(), isDirectory: st.isDirectory() };
      } catch (err) {
        if (err instanceof SftpError && err.code === 2) return null;
        throw err;
      }
    });
  }

  // -------------------------------------------------------------------------
  // channels

  private openExec(conn: Conn, cmd: string, cb: (err: ExecError | undefined, ch?: ClientChannel) => void): void {
    this.openChannel(conn, (done) => conn.client.exec(cmd, done), cb);
  }

  /**
   * Opens a session channel; a refusal by the server is retried a few times
   * with a short backoff: sshd frees a session slot (MaxSessions) only after
   * it has processed our close of the previous channel, so an open sent right
   * behind that close can find every slot still taken ("no more sessions").
   */
  private openChannel<C>(conn: Conn, open: (done: (err: Error | undefined, ch: C) => void) => void, cb: (err: ExecError | undefined, ch?: C) => void, attempt = 0): void {
    if (!conn.alive) {
      cb(new ExecError("unreachable", `${this.alias}: connection lost`, "ssh"));
      return;
    }
    try {
      open((err, ch) => {
        if (err) {
          const refused = typeof (err as { reason?: unknown }).reason === "number";
          const delay = CHANNEL_RETRY_DELAYS_MS[attempt];
          if (refused && delay !== undefined && conn.alive) {
            setTimeout(() => this.openChannel(conn, open, cb, attempt + 1), delay);
            return;
          }
          cb(new ExecError("unreachable", `${this.alias}: cannot open a channel: ${err.message}`, "ssh"));
          return;
        }
        this.counters.channelsOpened++;
        this.counters.channelsOpen++;
        cb(undefined, ch);
      });
    } catch (err) {
      cb(new ExecError("unreachable", `${this.alias}: ${err instanceof Error ? err.message : String(err)}`, "ssh"));
    }
  }

  private async withSftp<T>(timeoutMs: number, fn: (sftp: SFTPWrapper) => Promise<T>): Promise<T> {
    const release = await this.slots.acquire();
    let sftp: SFTPWrapper | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const conn = await this.connection();
      sftp = await new Promise<SFTPWrapper>((resolve, reject) => {
        this.openChannel<SFTPWrapper>(
          conn,
          (done) => conn.client.sftp(done),
          (err, s) => (err !== undefined || s === undefined ? reject(err ?? new ExecError("unreachable", `${this.alias}: cannot start sftp`, "sftp")) : resolve(s)),
        );
      });
      const s = sftp;
      const lost = new Promise<never>((_, reject) => {
        s.once("close", () => reject(new ExecError("unreachable", `${this.alias}: sftp session closed`, "sftp")));
      });
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new ExecError("timeout", `sftp on ${this.alias} timed out after ${timeoutMs} ms`, "sftp")), timeoutMs);
      });
      const work = fn(s);
      // the losers of the race settle later (the session is ended below): never unhandled
      for (const q of [work, lost, timeout]) q.catch(() => {});
      return await Promise.race([work, lost, timeout]);
    } finally {
      clearTimeout(timer);
      if (sftp !== undefined) {
        this.counters.channelsOpen--;
        sftp.end();
      }
      release();
    }
  }

  // -------------------------------------------------------------------------
  // connection

  private emit(state: SshState, error?: ExecError): void {
    for (const l of this.listeners) {
      try {
        l(state, error === undefined ? {} : { error });
      } catch (err) {
        this.opts.log?.warn("ssh state listener threw", { target: this.targetId, error: err instanceof Error ? err.message : String(err) });
      }
    }
  }

  private recordError(err: ExecError): void {
    this.lastError = { kind: err.kind, message: err.message, at: Date.now() };
  }

  private connection(acceptNew = this.acceptNewHostKey): Promise<Conn> {
    const live = this.conn;
    if (live?.alive === true) return Promise.resolve(live);
    if (this.connecting !== undefined) return this.connecting;
    const epoch = this.epoch;
    const p = (async () => {
      const t0 = performance.now();
      let conn: Conn;
      try {
        conn = await connectWithRetry(() => this.connectOnce(acceptNew), {
          ...(this.opts.retryDelaysMs === undefined ? {} : { delaysMs: this.opts.retryDelaysMs }),
          ...(this.opts.sleep === undefined ? {} : { sleep: this.opts.sleep }),
          ...(this.opts.random === undefined ? {} : { random: this.opts.random }),
          onRetry: (err, attempt, delayMs) => this.opts.log?.debug("ssh connect retry", { target: this.targetId, attempt, delay_ms: delayMs, error: err.message }),
        });
      } catch (err) {
        const e = err instanceof ExecError ? err : new ExecError("unreachable", `${this.alias}: ${err instanceof Error ? err.message : String(err)}`, "ssh");
        this.recordError(e);
        this.opts.log?.warn("ssh connect failed", { target: this.targetId, kind: e.kind, error: e.message });
        throw e;
      }
      if (epoch !== this.epoch) {
        for (const c of [conn.client, ...conn.jumps]) c.end();
        throw new ExecError("unreachable", `${this.alias}: connection closed`, "ssh");
      }
      this.conn = conn;
      this.counters.connects++;
      this.opts.log?.info("ssh connected", { target: this.targetId, alias: this.alias, ms: Math.round(performance.now() - t0), hops: conn.jumps.length + 1 });
      void conn.closed.then((why) => {
        const err = new ExecError("unreachable", `${this.alias}: connection lost${why === undefined ? "" : ` (${why})`}`, "ssh");
        if (conn.alive) this.recordError(err);
        this.markLost(conn, err);
      });
      this.emit("connected");
      return conn;
    })();
    this.connecting = p;
    const clear = (): void => {
      if (this.connecting === p) this.connecting = undefined;
    };
    p.then(clear, clear);
    return p;
  }

  private markLost(conn: Conn, err: ExecError | undefined): void {
    if (!conn.alive) return;
    conn.alive = false;
    if (this.conn === conn) this.conn = undefined;
    for (const c of [conn.client, ...conn.jumps]) c.end();
    if (err !== undefined) this.opts.log?.warn("ssh disconnected", { target: this.targetId, error: err.message });
    this.emit("disconnected", err);
  }

  /** One attempt: resolve the chain, connect hop by hop (each through the previous one's forwardOut). */
  private async connectOnce(acceptNew: boolean): Promise<Conn> {
    const hops = resolveChain(this.alias, {
      env: this.env,
      ...(this.opts.configPath === undefined ? {} : { configPath: this.opts.configPath }),
      ...(this.opts.systemConfigPath === undefined ? {} : { systemConfigPath: this.opts.systemConfigPath }),
    });
    const connected: Hop[] = [];
    try {
      for (let i = 0; i < hops.length; i++) {
        const hop = hops[i] as ResolvedHost;
        const prev = connected[i - 1];
        const prevHost = hops[i - 1];
        const timeoutMs = this.opts.connectTimeoutMs ?? hop.connectTimeoutMs ?? CONNECT_TIMEOUT_MS;
        const sock = prev === undefined || prevHost === undefined ? undefined : await this.forward(prev.client, prevHost, hop, timeoutMs);
        connected.push(await this.connectHop(hop, sock, acceptNew, timeoutMs));
      }
    } catch (err) {
      for (const h of connected) h.client.end();
      throw err;
    }
    const target = connected[connected.length - 1] as Hop;
    return {
      id: this.nextConnId++,
      client: target.client,
      jumps: connected.slice(0, -1).map((h) => h.client),
      alive: true,
      closed: Promise.race(connected.map((h) => h.closed)),
    };
  }

  private forward(via: Client, viaHost: ResolvedHost, to: ResolvedHost, timeoutMs: number): Promise<Duplex> {
    return new Promise<Duplex>((resolve, reject) => {
      let done = false;
      const timer = setTimeout(() => {
        done = true;
        reject(new ExecError("connect_timeout", `${describe(to)}: the jump host ${describe(viaHost)} did not connect to it within ${timeoutMs} ms`, "ssh"));
      }, timeoutMs);
      try {
        via.forwardOut("127.0.0.1", 0, to.hostName, to.port, (err, ch) => {
          clearTimeout(timer);
          if (done) {
            if (!err) ch.close();
            return;
          }
          done = true;
          if (err) reject(new ExecError("unreachable", `${describe(to)}: the jump host ${describe(viaHost)} could not connect to it: ${err.message}`, "ssh"));
          else resolve(ch);
        });
      } catch (err) {
        clearTimeout(timer);
        reject(new ExecError("unreachable", `${describe(viaHost)}: ${err instanceof Error ? err.message : String(err)}`, "ssh"));
      }
    });
  }

  private connectHop(hop: ResolvedHost, sock: Duplex | undefined, acceptNew: boolean, timeoutMs: number): Promise<Hop> {
    const who = describe(hop);
    const plan = this.authPlan(hop);
    const knownName = hop.hostKeyAlias ?? knownHostName(hop.hostName, hop.port);
    const knownFiles = [...hop.userKnownHostsFiles, ...hop.globalKnownHostsFiles];
    const entries = loadKnownHosts(knownFiles);
    const known = knownKeyTypes(entries, knownName).flatMap((t) => HOST_KEY_ALGOS[t] ?? []);

    return new Promise<Hop>((resolve, reject) => {
      const client = new Client();
      let settled = false;
      let phase: "connect" | "auth" = "connect";
      let hostKeyError: ExecError | undefined;
      let resolveClosed!: (why: string | undefined) => void;
      const closed = new Promise<string | undefined>((r) => (resolveClosed = r));
      let lastError: string | undefined;

      const fail = (err: ExecError): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        client.destroy();
        reject(err);
      };
      const timer = setTimeout(() => fail(new ExecError("connect_timeout", `${who}: no ssh session within ${timeoutMs} ms (connect timeout)`, "ssh")), timeoutMs);
      const authFailed = (detail?: string): ExecError => {
        const tried = plan.tried.length === 0 ? "no identity to offer" : `tried ${plan.tried.join(", ")}`;
        const skipped = plan.skipped.length === 0 ? "" : `; not offered: ${plan.skipped.join("; ")}`;
        return new ExecError("auth_failed", `${who}: permission denied (publickey${detail === undefined ? "" : `: ${detail}`}); ${tried}${skipped}`, "ssh");
      };

      client.on("handshake", () => {
        phase = "auth";
      });
      client.on("ready", () => {
        if (settled) {
          client.end();
          return;
        }
        settled = true;
        clearTimeout(timer);
        resolve({ client, closed });
      });
      client.on("error", (e: Ssh2Error) => {
        if (settled) {
          lastError = e.message;
          this.opts.log?.debug("ssh connection error", { target: this.targetId, host: who, level: e.level, error: e.message });
          return;
        }
        if (e.level === "agent") {
          // ssh2 goes on with the next method after an agent failure
          plan.skipped.push(`ssh-agent: ${e.message}`);
          return;
        }
        if (hostKeyError !== undefined) return fail(hostKeyError);
        if (e.level === "client-authentication") return fail(authFailed());
        if (e.level === "client-timeout") return fail(new ExecError("connect_timeout", `${who}: ${e.message} (connect timeout)`, "ssh"));
        if (e.level === "client-socket" || e.level === "client-dns") {
          const why = typeof e.code === "string" ? SOCKET_ERRORS[e.code] : undefined;
          return fail(new ExecError("unreachable", `${who}: ${why ?? e.message}`, "ssh"));
        }
        if (phase === "auth" && typeof e.code === "number") return fail(authFailed(e.message));
        fail(new ExecError("unreachable", `${who}: ${e.message}`, "ssh"));
      });
      client.on("close", () => {
        resolveClosed(lastError);
        fail(hostKeyError ?? new ExecError("unreachable", `${who}: connection closed before login completed`, "ssh"));
      });

      const authHandler = (authsLeft: AuthenticationType[] | null): AnyAuthMethod | false => {
        if (authsLeft !== null && !authsLeft.includes("publickey")) return false;
        const next = plan.methods.shift();
        if (next === undefined) return false;
        plan.tried.push(next.label);
        return next.method;
      };
      const keepaliveInterval = this.opts.keepaliveIntervalMs ?? hop.serverAliveIntervalMs ?? KEEPALIVE_INTERVAL_MS;
      const config: ConnectConfig = {
        host: hop.hostName,
        port: hop.port,
        username: hop.user,
        readyTimeout: timeoutMs,
        keepaliveInterval,
        keepaliveCountMax: this.opts.keepaliveCountMax ?? hop.serverAliveCountMax ?? KEEPALIVE_COUNT_MAX,
        // ssh2 calls the handler as (methodsLeft, partialSuccess, next) and uses a returned method or false
        authHandler: authHandler as unknown as AuthHandlerMiddleware,
        hostVerifier: (key: Buffer): boolean => {
          const r = this.verifyHostKey(hop, entries, knownName, key, acceptNew);
          if (r === true) return true;
          hostKeyError = r;
          return false;
        },
        ...(sock === undefined ? {} : { sock }),
        // offer the key types already known for this host first, as ssh does, so a host with several keys shows a known one
        ...(known.length === 0 ? {} : { algorithms: { serverHostKey: { remove: known, prepend: known, append: [] } } }),
      };
      try {
        client.connect(config);
      } catch (err) {
        fail(new ExecError("config", `${who}: ${err instanceof Error ? err.message : String(err)}`, "ssh"));
      }
    });
  }

  private verifyHostKey(hop: ResolvedHost, entries: readonly KnownHostEntry[], name: string, key: Buffer, acceptNew: boolean): true | ExecError {
    let type: string;
    try {
      type = keyTypeOf(key);
    } catch {
      return new ExecError("host_key_mismatch", `${describe(hop)}: unparsable host key`, "ssh");
    }
    const fp = fingerprintSha256(key);
    const r = checkHostKey(entries, name, key);
    switch (r.status) {
      case "match":
        return true;
      case "revoked":
        return new ExecError("host_key_mismatch", `${describe(hop)}: its ${type} host key ${fp} is marked @revoked in ${r.file}:${r.line}; refusing to connect`, "ssh");
      case "mismatch": {
        const k = r.known[0];
        const where = k === undefined ? "known_hosts" : `${k.file}:${k.line}`;
        return new ExecError(
          "host_key_mismatch",
          `WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED for ${name} (${describe(hop)}): it now offers ${type} key ${fp}, but ${where} has ${k?.fingerprint ?? "another key"}. ` +
            "Someone could be eavesdropping on you right now (man-in-the-middle attack), or the host key has just been changed. Refusing to connect. " +
            `If the change is expected, remove the old key (ssh-keygen -R '${name}'${k === undefined ? "" : ` -f ${k.file}`}) and reconnect with --accept-new-host-key.`,
          "ssh",
        );
      }
      case "unknown": {
        const other = r.otherTypes[0];
        if (other !== undefined) {
          return new ExecError(
            "host_key_mismatch",
            `${name} (${describe(hop)}) is known with a ${other.keyType} key (${other.file}:${other.line}) but now offers only ${type} key ${fp}. ` +
              `Refusing to connect, as for a changed key. If the change is expected, remove the old key (ssh-keygen -R '${name}' -f ${other.file}) and reconnect with --accept-new-host-key.`,
            "ssh",
          );
        }
        if (acceptNew) {
          const file = hop.userKnownHostsFiles[0];
          if (file === undefined) {
            this.opts.log?.warn("ssh host key accepted but not recorded (UserKnownHostsFile none)", { target: this.targetId, host: name, fingerprint: fp });
            return true;
          }
          try {
            appendKnownHost(file, name, key, { hash: hop.hashKnownHosts });
            this.opts.log?.info("ssh host key recorded", { target: this.targetId, host: name, key_type: type, fingerprint: fp, file });
          } catch (err) {
            this.opts.log?.warn("ssh host key accepted but not recorded", { target: this.targetId, host: name, fingerprint: fp, file, error: err instanceof Error ? err.message : String(err) });
          }
          return true;
        }
        return new ExecError(
          "host_key_unknown",
          `The authenticity of host '${name}' (${describe(hop)}) can't be established: its ${type} key fingerprint is ${fp} and it is not in ${hop.userKnownHostsFiles.join(" or ") || "any known_hosts file"}. ` +
            `If that is the right key, rerun \`agtmux target add ... --accept-new-host-key\` or \`agtmux target connect ${this.targetId} --accept-new-host-key\`.`,
          "ssh",
        );
      }
    }
  }

  /** agent first (IdentityAgent / SSH_AUTH_SOCK), then each IdentityFile that exists and is not encrypted */
  private authPlan(hop: ResolvedHost): AuthPlan {
    const plan: AuthPlan = { methods: [], tried: [], skipped: [] };
    const username = hop.user;
    const fileKeys: { file: string; key: ParsedKey | undefined; pub: Buffer | undefined }[] = [];
    for (const file of hop.identityFiles) {
      const pubFile = readPublicKey(`${file}.pub`);
      let data: Buffer;
      try {
        data = readFileSync(file);
      } catch (err) {
        const code = (err as { code?: string } | null)?.code;
        // a .pub alone still selects the agent's key (the agent holds the private half), as with ssh
        if (pubFile !== undefined) fileKeys.push({ file, key: undefined, pub: pubFile });
        else if (code !== "ENOENT" || hop.identityFilesConfigured) plan.skipped.push(`${file}: ${code === "ENOENT" ? "not found" : err instanceof Error ? err.message : String(err)}`);
        continue;
      }
      const parsed = utils.parseKey(data);
      if (parsed instanceof Error) {
        const encrypted = /passphrase/i.test(parsed.message);
        plan.skipped.push(`${file}: ${encrypted ? "encrypted (agtmux cannot ask for a passphrase; add the key to ssh-agent)" : parsed.message}`);
        fileKeys.push({ file, key: undefined, pub: pubFile });
        continue;
      }
      if (!parsed.isPrivateKey()) {
        // a public key file: selects the agent's key only
        fileKeys.push({ file, key: undefined, pub: parsed.getPublicSSH() });
        continue;
      }
      fileKeys.push({ file, key: parsed, pub: pubFile ?? parsed.getPublicSSH() });
    }

    const sock = hop.agentSocket;
    if (sock === undefined) {
      plan.skipped.push("ssh-agent: SSH_AUTH_SOCK not set");
    } else if (!existsSync(sock)) {
      plan.skipped.push(`ssh-agent: ${sock} does not exist`);
    } else if (hop.identitiesOnly && hop.identityFilesConfigured) {
      const allowed = fileKeys.flatMap((k) => (k.pub === undefined ? [] : [k.pub]));
      if (allowed.length > 0) plan.methods.push({ label: `ssh-agent (${sock}, IdentitiesOnly)`, method: { type: "agent", username, agent: new FilteredAgent(sock, allowed) } });
      else plan.skipped.push("ssh-agent: IdentitiesOnly yes and no IdentityFile public key to pick an agent key with");
    } else {
      plan.methods.push({ label: `ssh-agent (${sock})`, method: { type: "agent", username, agent: sock } });
    }
    for (const k of fileKeys) if (k.key !== undefined) plan.methods.push({ label: k.file, method: { type: "publickey", username, key: k.key } });
    if (plan.methods.length === 0 && !hop.identityFilesConfigured) plan.skipped.push(`no key at ${hop.identityFiles.join(", ")}`);
    return plan;
  }
}

function readPublicKey(path: string): Buffer | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
  const k = utils.parseKey(text);
  return k instanceof Error ? undefined : k.getPublicSSH();
}

/** SFTP starts in the login directory: `~/x` and `x` both name a path under it (SFTP itself expands no `~`) */
function sftpPath(p: string): string {
  if (p === "~") return ".";
  return p.startsWith("~/") ? p.slice(2) : p;
}

function sftpCall<T>(fn: (cb: (err: Error | null | undefined, v: T) => void) => void, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    fn((err, v) => {
      if (err) {
        const code = (err as { code?: unknown }).code;
        reject(new SftpError(`sftp ${what}: ${err.message}`, typeof code === "number" ? code : undefined));
      } else resolve(v);
    });
  });
}

/** mkdir -p over SFTP (relative paths are relative to the login directory) */
async function sftpMkdirP(sftp: SFTPWrapper, dir: string): Promise<void> {
  if (dir === "." || dir === "/" || dir === "") return;
  const parts = dir.split("/");
  let cur = dir.startsWith("/") ? "" : ".";
  for (const p of parts) {
    if (p === "" || p === ".") continue;
    cur = cur === "" ? `/${p}` : `${cur}/${p}`;
    const path = cur.startsWith("./") ? cur.slice(2) : cur;
    const st = await sftpCall<Stats>((cb) => sftp.stat(path, cb), `stat ${path}`).catch((err: unknown) => {
      if (err instanceof SftpError && err.code === 2) return undefined;
      throw err;
    });
    if (st !== undefined) {
      if (!st.isDirectory()) throw new SftpError(`sftp mkdir ${path}: exists and is not a directory`, 4);
      continue;
    }
    await sftpCall<void>((cb) => sftp.mkdir(path, cb), `mkdir ${path}`).catch(async (err: unknown) => {
      // created meanwhile by someone else?
      const again = await sftpCall<Stats>((cb) => sftp.stat(path, cb), `stat ${path}`).catch(() => undefined);
      if (again?.isDirectory() !== true) throw err;
    });
  }
}
