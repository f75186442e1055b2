/**
 * The typed tmux boundary: one method per tmux command, every call through an
 * Executor (argv only, never a shell), with the explicit socket (`-L`/`-S`),
 * a timeout, and a TmuxError on failure.
 *
 * Formats. Every `-F` format built here separates fields with
 * `\x1e<nonce>\x1f` and ends each record with `\x1d<nonce>\n`, where <nonce>
 * is 12 random hex characters generated per call. Output is split on the
 * record terminator (never on "\n"), every record must have exactly the
 * expected field count and well-formed ids, or the call fails with
 * TmuxError "parse".
 *
 * What tmux 3.3a prints for names (verified against the real binary, see
 * tests/tmux/tmux.test.ts):
 * - session and window names are *stored* escaped (utf8_stravis with
 *   VIS_OCTAL|VIS_CSTYLE|VIS_TAB|VIS_NL when the name is set): a tab becomes
 *   the two characters `\t`, a newline `\n`, a backslash `\\`, other control
 *   bytes and invalid UTF-8 become octal `\033`, `\377`. Valid UTF-8 (emoji)
 *   is kept. Session names additionally get `:` and `.` replaced by `_`.
 *   Formats print the stored form, so we return it unchanged: the name we
 *   return equals `tmux display -p '#{session_name}'` and works as a `-t`
 *   target. We do not decode it (decoding would break that round trip).
 * - pane_title: tmux refuses titles with control characters (select-pane -T)
 *   or strips them (OSC 2), so titles are printable; backslashes are raw.
 * - pane_current_path and pane_current_command are printed RAW: they can
 *   contain tabs, newlines and backslashes (hence the nonce separators).
 *   Invalid UTF-8 in them is decoded by the executor as U+FFFD (lossy).
 */
import { ExecError, type ExecResult, type Executor } from "../targets/executor.ts";
import { MIN_TMUX_VERSION, type PaneInfo, type ServerInfo, TmuxError, type TmuxSocket, type TopologySnapshot } from "./types.ts";

export interface TmuxOptions {
  /** per-call timeout, default 5000 ms */
  timeoutMs?: number;
  /** tmux binary, default "tmux" */
  bin?: string;
}

export interface TmuxVersion {
  /** as printed by `tmux -V`, e.g. "tmux 3.3a" */
  raw: string;
  major: number;
  minor: number;
}

export interface SessionRef {
  session_id: string;
  session_name: string;
}

export interface CaptureOptions {
  /** how many lines to return, counted from the bottom (trailing empty lines are dropped first) */
  lines: number;
  /** keep escape sequences for colours and attributes (`-e`) */
  ansi: boolean;
  /** join wrapped lines (`-J`) */
  join?: boolean;
}

export const SESSION_ID_RE = /^\$\d+$/;
export const WINDOW_ID_RE = /^@\d+$/;
export const PANE_ID_RE = /^%\d+$/;

const DEFAULT_TIMEOUT_MS = 5000;
/** Env removed from every tmux call: a daemon started inside tmux must not target "the current" pane/server implicitly. */
const CLEAN_ENV: Record<string, string | undefined> = { TMUX: undefined, TMUX_PANE: undefined };

/** Server variables (available in any format) followed by the PaneInfo fields, in this order. */
const SERVER_FIELDS = ["pid", "start_time", "version"] as const;
const PANE_FIELDS = [
  "session_id",
  "session_name",
  "session_created",
  "session_attached",
  "window_id",
  "window_index",
  "window_name",
  "window_active",
  "window_zoomed_flag",
  "pane_id",
  "pane_index",
  "pane_active",
  "pane_dead",
  "pane_pid",
  "pane_current_command",
  "pane_current_path",
  "pane_title",
  "pane_width",
  "pane_height",
] as const;

/** Per-call random separators (see the file comment). */
export interface FormatSpec {
  nonce: string;
  fieldSep: string;
  recordEnd: string;
  /** the `-F` argument for these variable names */
  format: string;
}

export function makeFormat(vars: readonly string[], nonce = randomNonce()): FormatSpec {
  const fieldSep = `\u001e${nonce}\u001f`;
  const recordEnd = `\u001d${nonce}\n`;
  // the newline of recordEnd is added by tmux at the end of each line
  return { nonce, fieldSep, recordEnd, format: vars.map((v) => `#{${v}}`).join(fieldSep) + `\u001d${nonce}` };
}

function randomNonce(): string {
  const b = new Uint8Array(6);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** Splits format output into records of exactly `fieldCount` fields; TmuxError "parse" otherwise. */
export function parseRecords(out: string, spec: FormatSpec, fieldCount: number): string[][] {
  if (out === "") return [];
  if (!out.endsWith(spec.recordEnd)) throw new TmuxError("parse", `tmux output does not end with the record terminator (${out.length} bytes)`);
  const chunks = out.slice(0, -spec.recordEnd.length).split(spec.recordEnd);
  return chunks.map((chunk, i) => {
    const fields = chunk.split(spec.fieldSep);
    if (fields.length !== fieldCount) throw new TmuxError("parse", `record ${i}: expected ${fieldCount} fields, got ${fields.length}`);
    return fields;
  });
}

/** Parses `tmux -V` output: "tmux 3.3a", "tmux next-3.4", "tmux 3.5-rc", "tmux 3.4". */
export function parseVersion(raw: string): TmuxVersion {
  const text = raw.trim();
  const m = /^tmux (?:next-)?(\d+)\.(\d+)[a-z]?(?:-rc\d*)?$/.exec(text);
  if (m === null) throw new TmuxError("parse", `unrecognised tmux version: ${JSON.stringify(text)}`);
  return { raw: text, major: Number(m[1]), minor: Number(m[2]) };
}

export function isAtLeast(v: { major: number; minor: number }, min: { major: number; minor: number } = MIN_TMUX_VERSION): boolean {
  return v.major > min.major || (v.major === min.major && v.minor >= min.minor);
}

/** stderr of a tmux client that could not reach a server */
const NO_SERVER_RE = [/no server running on /, /error connecting to .*\(No such file or directory\)/, /error connecting to .*\(Connection refused\)/, /server exited unexpectedly/, /^lost server/m];

export function isNoServerMessage(stderr: string): boolean {
  return NO_SERVER_RE.some((re) => re.test(stderr));
}

/** A "failed" TmuxError whose target (session/window/pane) does not exist (any more). */
export function isMissingTarget(err: unknown): boolean {
  return err instanceof TmuxError && err.kind === "failed" && /can't find (session|window|pane)|no such (session|window|pane)/.test(err.stderr);
}

function num(v: string, field: string): number {
  if (!/^\d+$/.test(v)) throw new TmuxError("parse", `${field}: not a number: ${JSON.stringify(v)}`);
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new TmuxError("parse", `${field}: out of range: ${v}`);
  return n;
}

function flag(v: string, field: string): boolean {
  if (v === "1") return true;
  if (v === "0") return false;
  throw new TmuxError("parse", `${field}: not a flag: ${JSON.stringify(v)}`);
}

function id(v: string, re: RegExp, field: string): string {
  if (!re.test(v)) throw new TmuxError("parse", `${field}: malformed id: ${JSON.stringify(v)}`);
  return v;
}

function idNum(v: string): number {
  return Number(v.slice(1));
}

function parseServer(f: readonly string[]): ServerInfo {
  const pid = num(f[0] ?? "", "pid");
  const start = num(f[1] ?? "", "start_time");
  const version = f[2] ?? "";
  if (version === "") throw new TmuxError("parse", "version: empty");
  return { pid, started_at: start * 1000, boot_id: `${pid}-${start}`, version };
}

function parsePane(f: readonly string[]): PaneInfo {
  const g = (i: number): string => f[SERVER_FIELDS.length + i] ?? "";
  const dead = flag(g(12), "pane_dead");
  const pid = g(13);
  return {
    session_id: id(g(0), SESSION_ID_RE, "session_id"),
    session_name: g(1),
    session_created: num(g(2), "session_created") * 1000,
    session_attached: num(g(3), "session_attached"),
    window_id: id(g(4), WINDOW_ID_RE, "window_id"),
    window_index: num(g(5), "window_index"),
    window_name: g(6),
    window_active: flag(g(7), "window_active"),
    window_zoomed: flag(g(8), "window_zoomed_flag"),
    pane_id: id(g(9), PANE_ID_RE, "pane_id"),
    pane_index: num(g(10), "pane_index"),
    pane_active: flag(g(11), "pane_active"),
    pane_dead: dead,
    // a dead pane keeps the pid of its exited process: report none (the pid may be reused)
    pane_pid: dead || pid === "" || pid === "0" ? null : num(pid, "pane_pid"),
    pane_current_command: g(14),
    pane_current_path: g(15),
    pane_title: g(16),
    pane_width: num(g(17), "pane_width"),
    pane_height: num(g(18), "pane_height"),
  };
}

/**
 * A way to run read-only tmux commands without spawning a process: an
 * attached control-mode client of the same server (ControlClient.command).
 * Rejects with TmuxError "failed" when tmux answered %error (stderr = its
 * message); with ChannelError when the channel could not deliver an answer
 * (then the command is run the usual way).
 */
export interface CommandChannel {
  readonly attached: boolean;
  command(args: readonly string[], timeoutMs: number): Promise<string>;
}

export class ChannelError extends Error {
  override name = "ChannelError";
}

/** Subcommands that may go through a command channel: they only read. */
const CHANNEL_COMMANDS = new Set(["list-panes", "list-sessions", "list-windows", "display-message", "capture-pane"]);

/**
 * Whether an argv command chain may use a command channel: only read-only
 * subcommands (display-message only with -p: printed, never shown on a
 * client), and no argument that would not survive one control-mode line.
 */
export function channelSafe(args: readonly string[]): boolean {
  let cmd: string | null = null;
  // whether the current command has -p (display-message needs its own, not another command's)
  let printed = false;
  for (const a of [...args, ";"]) {
    if (a === ";") {
      if (cmd === null) return false; // empty command
      if (cmd === "display-message" && !printed) return false;
      cmd = null;
      printed = false;
      continue;
    }
    if (/[\n\r\0]/.test(a)) return false;
    if (cmd === null) {
      if (!CHANNEL_COMMANDS.has(a)) return false;
      cmd = a;
    } else if (a === "-p") printed = true;
  }
  return true;
}

export class Tmux {
  readonly bin: string;
  readonly timeoutMs: number;
  private readonly socketArgs: readonly string[];
  private channel: CommandChannel | null = null;
  /** how read-only queries were run: through the channel or a spawned tmux (fallbacks included) */
  readonly calls = { channel: 0, spawned: 0, fallbacks: 0 };

  constructor(
    readonly exec: Executor,
    readonly socket: TmuxSocket,
    opts: TmuxOptions = {},
  ) {
    this.bin = opts.bin ?? "tmux";
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (socket.name !== undefined && socket.path !== undefined) throw new TypeError("TmuxSocket: give name or path, not both");
    if (socket.path !== undefined) {
      if (socket.path === "") throw new TypeError("TmuxSocket: empty path");
      this.socketArgs = ["-S", socket.path];
    } else {
      if (socket.name === "") throw new TypeError("TmuxSocket: empty name");
      // tmux's own default socket is `-L default`: say so explicitly
      this.socketArgs = ["-L", socket.name ?? "default"];
    }
  }

  /**
   * The full argv for a tmux command on this socket. `-u`: without a UTF-8
   * locale (an ssh session usually has none) tmux prints our control-character
   * separators, and non-ASCII names, as `_`; with it, output is the same
   * whatever LANG the caller has.
   */
  argv(...args: string[]): string[] {
    return [this.bin, "-u", ...this.socketArgs, ...args];
  }

  /**
   * Read-only queries (channelSafe) go through this channel while it is
   * attached; null: always spawn.
   */
  setChannel(c: CommandChannel | null): void {
    this.channel = c;
  }

  get hasChannel(): boolean {
    return this.channel?.attached === true;
  }

  /** Runs a tmux command; resolves with stdout, throws TmuxError. */
  async run(args: readonly string[], opts: { timeoutMs?: number } = {}): Promise<string> {
    const ch = this.channel;
    if (ch !== null && ch.attached && channelSafe(args)) {
      try {
        const out = await ch.command(args, opts.timeoutMs ?? this.timeoutMs);
        this.calls.channel++;
        return out;
      } catch (err) {
        if (!(err instanceof ChannelError)) throw err;
        this.calls.fallbacks++; // the channel went away mid-command: run it the usual way
      }
    }
    this.calls.spawned++;
    const argv = this.argv(...args);
    let r: ExecResult;
    try {
      r = await this.exec.exec(argv, { timeoutMs: opts.timeoutMs ?? this.timeoutMs, env: CLEAN_ENV });
    } catch (err) {
      throw toTmuxError(err, this.bin);
    }
    if (r.code !== 0) {
      const stderr = r.stderr.trim();
      if (isNoServerMessage(stderr)) throw new TmuxError("no_server", `tmux server not running (${this.describeSocket()})`, stderr);
      throw new TmuxError("failed", `tmux ${args[0] ?? ""} failed (exit ${r.code}): ${stderr.split("\n")[0] ?? ""}`, stderr);
    }
    return r.stdout;
  }

  /** `tmux -V` (no server needed); throws "too_old" below MIN_TMUX_VERSION. */
  async version(): Promise<TmuxVersion> {
    let r: ExecResult;
    try {
      r = await this.exec.exec([this.bin, "-V"], { timeoutMs: this.timeoutMs, env: CLEAN_ENV });
    } catch (err) {
      throw toTmuxError(err, this.bin);
    }
    if (r.code !== 0) throw new TmuxError("failed", `${this.bin} -V failed (exit ${r.code})`, r.stderr.trim());
    const v = parseVersion(r.stdout);
    if (!isAtLeast(v)) throw new TmuxError("too_old", `${v.raw} is too old: need tmux >= ${MIN_TMUX_VERSION.major}.${MIN_TMUX_VERSION.minor}`);
    return v;
  }

  /**
   * The whole topology in ONE `list-panes -a` call; ServerInfo comes from the
   * server variables of the same call. A window linked into several sessions
   * is reported once, under its lowest session id. Rows are sorted by
   * session id, window index, pane index.
   */
  async snapshot(): Promise<TopologySnapshot> {
    const spec = makeFormat([...SERVER_FIELDS, ...PANE_FIELDS]);
    let out: string;
    try {
      out = await this.run(["list-panes", "-a", "-F", spec.format]);
    } catch (err) {
      // a server without sessions (exit-empty off): list-panes -a has no target
      if (err instanceof TmuxError && err.kind === "failed" && /no current target/.test(err.stderr)) return { server: await this.serverInfo(), panes: [] };
      throw err;
    }
    let records: string[][];
    try {
      records = parseRecords(out, spec, SERVER_FIELDS.length + PANE_FIELDS.length);
    } catch (err) {
      // a server that exits while printing can leave truncated output with exit code 0
      if (err instanceof TmuxError && !(await this.hasServer().catch(() => true))) throw new TmuxError("no_server", `tmux server exited during list-panes (${this.describeSocket()})`);
      throw err;
    }
    if (records.length === 0) return { server: await this.serverInfo(), panes: [] };
    let server: ServerInfo | undefined;
    const byPane = new Map<string, PaneInfo>();
    for (const rec of records) {
      const s = parseServer(rec);
      if (server === undefined) server = s;
      else if (s.boot_id !== server.boot_id) throw new TmuxError("parse", `server identity changed within one list-panes output (${server.boot_id} → ${s.boot_id})`);
      const p = parsePane(rec);
      const prev = byPane.get(p.pane_id);
      if (prev === undefined || idNum(p.session_id) < idNum(prev.session_id)) byPane.set(p.pane_id, p);
    }
    const panes = [...byPane.values()].toSorted(
      (a, b) => idNum(a.session_id) - idNum(b.session_id) || a.window_index - b.window_index || a.pane_index - b.pane_index,
    );
    return { server: server as ServerInfo, panes };
  }

  /** Server identity alone (`display -p`, works without sessions). */
  async serverInfo(): Promise<ServerInfo> {
    const spec = makeFormat(SERVER_FIELDS);
    const records = parseRecords(await this.run(["display-message", "-p", spec.format]), spec, SERVER_FIELDS.length);
    const [rec] = records;
    if (rec === undefined || records.length !== 1) throw new TmuxError("parse", `display-message: expected 1 record, got ${records.length}`);
    return parseServer(rec);
  }

  async listSessions(): Promise<SessionRef[]> {
    const spec = makeFormat(["session_id", "session_name"]);
    const out = await this.run(["list-sessions", "-F", spec.format]);
    return parseRecords(out, spec, 2)
      .map(([sid = "", name = ""]) => ({ session_id: id(sid, SESSION_ID_RE, "session_id"), session_name: name }))
      .toSorted((a, b) => idNum(a.session_id) - idNum(b.session_id));
  }

  /**
   * The bottom `lines` lines of a pane (history included), trailing empty
   * lines dropped first, joined with "\n" (no final newline). `ansi` keeps
   * colour/attribute escapes.
   */
  async capturePane(paneId: string, opts: CaptureOptions): Promise<string> {
    checkId(paneId, PANE_ID_RE, "pane id");
    if (!Number.isSafeInteger(opts.lines) || opts.lines < 1) throw new TypeError(`capturePane: lines must be a positive integer, got ${opts.lines}`);
    const args = ["capture-pane", "-p", "-t", paneId, "-S", `-${opts.lines}`];
    if (opts.ansi) args.push("-e");
    if (opts.join === true) args.push("-J");
    const out = await this.run(args);
    const rows = out.split("\n");
    // the output ends with "\n": drop the empty string after it and any blank trailing rows
    while (rows.length > 0 && isBlankRow(rows[rows.length - 1] ?? "")) rows.pop();
    return rows.slice(-opts.lines).join("\n");
  }

  /**
   * The visible screens of many panes in ONE tmux process: `capture-pane`
   * commands chained with `;`, each preceded by a nonce marker line (printed
   * by `display-message -p`) that no pane content can forge. A pane that is
   * gone by then is simply absent from the result.
   */
  async captureMany(paneIds: readonly string[], opts: { join?: boolean } = {}): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    if (paneIds.length === 0) return out;
    const nonce = randomNonce();
    const marker = (id: string): string => `\u001e${nonce}:${id}`;
    const args: string[] = [];
    for (const id of paneIds) {
      checkId(id, PANE_ID_RE, "pane id");
      if (args.length > 0) args.push(";");
      args.push("display-message", "-p", marker(id), ";", "capture-pane", "-p", ...(opts.join === true ? ["-J"] : []), "-t", id);
    }
    let text: string;
    try {
      text = await this.run(args);
    } catch (err) {
      // one dead pane fails the chain from there on: fall back to one call per pane
      if (err instanceof TmuxError && err.kind === "failed") {
        for (const id of paneIds) {
          try {
            out.set(id, await this.capturePane(id, { lines: 200, ansi: false, ...(opts.join === true ? { join: true } : {}) }));
          } catch {
            // gone
          }
        }
        return out;
      }
      throw err;
    }
    let current: string | null = null;
    let rows: string[] = [];
    const flush = (): void => {
      if (current === null) return;
      while (rows.length > 0 && isBlankRow(rows[rows.length - 1] ?? "")) rows.pop();
      out.set(current, rows.join("\n"));
    };
    for (const line of text.split("\n")) {
      if (line.startsWith(`\u001e${nonce}:`)) {
        flush();
        current = line.slice(nonce.length + 2);
        rows = [];
      } else if (current !== null) rows.push(line);
    }
    flush();
    return out;
  }

  /**
   * Input for a pane, delivered only while the pane still runs process
   * `panePid`: tmux itself checks `#{pane_pid}` and runs the delivery in the
   * same command (`if-shell -F`), so a pane respawned a moment ago (a new
   * agent process) never receives it. Text goes through a named buffer (data,
   * never parsed as a command: a trailing `;` or `\;` survives), pasted raw
   * or bracketed; keys are tmux key names, single characters as hex.
   * Returns false when the pane runs another process now, or is gone (nothing
   * was sent).
   */
  async guardedInput(paneId: string, panePid: number, input: { text: string; bracketed: boolean; bufferName: string } | { keys: readonly string[] }): Promise<boolean> {
    checkId(paneId, PANE_ID_RE, "pane id");
    if (!Number.isSafeInteger(panePid) || panePid <= 0) throw new TypeError(`guardedInput: bad pane pid ${panePid}`);
    let command: string;
    if ("text" in input) {
      if (!/^[A-Za-z0-9._-]{1,64}$/.test(input.bufferName)) throw new TypeError(`guardedInput: bad buffer name ${input.bufferName}`);
      let r: ExecResult;
      try {
        r = await this.exec.exec(this.argv("load-buffer", "-b", input.bufferName, "-"), { timeoutMs: Math.max(this.timeoutMs, 15_000), env: CLEAN_ENV, stdin: input.text });
      } catch (err) {
        throw toTmuxError(err, this.bin);
      }
      if (r.code !== 0) throw new TmuxError("failed", `tmux load-buffer failed: ${r.stderr.trim()}`, r.stderr);
      command = `paste-buffer -d ${input.bracketed ? "-p " : ""}-b ${input.bufferName} -t ${paneId}`;
    } else {
      if (input.keys.length === 0) return true;
      command = input.keys.map((k) => `send-keys -t ${paneId} ${keyArg(k)}`).join(" ; ");
    }
    const marker = `agtmux-stale-${randomNonce()}`;
    let out: string;
    try {
      out = await this.run(["if-shell", "-F", "-t", paneId, `#{==:#{pane_pid},${panePid}}`, command, `display-message -p ${marker}`]);
    } finally {
      if ("text" in input) await this.run(["delete-buffer", "-b", input.bufferName]).catch(() => {}); // gone after -d, or never pasted
    }
    return !out.includes(marker);
  }

  /** Makes the pane the active one of its window and the window the current one of its session. */
  async selectPane(windowId: string, paneId: string): Promise<void> {
    checkId(paneId, PANE_ID_RE, "pane id");
    await this.run(["select-window", "-t", windowId, ";", "select-pane", "-t", paneId]);
  }

  /** Kills the server; a server that is already gone is not an error. */
  async killServer(): Promise<void> {
    try {
      await this.run(["kill-server"]);
    } catch (err) {
      if (err instanceof TmuxError && err.kind === "no_server") return;
      throw err;
    }
  }

  /** true when a server answers on this socket; other errors (not_found, timeout…) are thrown. */
  async hasServer(): Promise<boolean> {
    try {
      await this.run(["list-sessions", "-F", "#{session_id}"]);
      return true;
    } catch (err) {
      if (err instanceof TmuxError && err.kind === "no_server") return false;
      throw err;
    }
  }

  /**
   * argv of a read-only control-mode client on one session (for
   * ControlClient). Verified on tmux 3.3a: `attach-session -r -f
   * read-only,ignore-size,no-output` is accepted and list-clients shows the
   * flags; the client does not change window sizes and gets no %output.
   * NB: read-only does NOT stop commands written to a control client's stdin
   * (3.3a runs send-keys, kill-session… from a read-only control client):
   * the safety is that ControlClient never writes to stdin.
   */
  controlArgv(sessionId: string): string[] {
    checkId(sessionId, SESSION_ID_RE, "session id");
    // -N: never start a server (attach-session would start one, with the user's config)
    return this.argv("-N", "-C", "attach-session", "-r", "-f", "read-only,ignore-size,no-output", "-t", sessionId);
  }

  /** the env every tmux call runs with (on top of the executor's) */
  get env(): Record<string, string | undefined> {
    return { ...CLEAN_ENV };
  }

  private describeSocket(): string {
    return this.socket.path !== undefined ? `-S ${this.socket.path}` : `-L ${this.socket.name ?? "default"}`;
  }
}

/** a send-keys argument inside a tmux command string: key names as they are, one character as hex */
function keyArg(k: string): string {
  if (/^[A-Za-z0-9]$/.test(k) || /^(?:(?:C|M|S)-)*(?:[A-Za-z0-9]{2,}|[A-Za-z0-9])$/.test(k)) return k;
  if (k.length === 1) return `-H ${k.charCodeAt(0).toString(16).padStart(2, "0")}`;
  const m = /^((?:(?:C|M|S)-)+)(.)$/.exec(k);
  if (m !== null && m[2] !== "'" && m[2] !== "\\") return `'${m[1]}${m[2]}'`;
  throw new TypeError(`key ${JSON.stringify(k)} cannot be sent safely`);
}

function isBlankRow(row: string): boolean {
  // with -e a blank row may still carry a reset sequence
  // oxlint-disable-next-line no-control-regex -- ESC is what we look for
  return row.replace(/\u001b\[[0-9;]*m/g, "").trim() === "";
}

function checkId(v: string, re: RegExp, what: string): void {
  if (!re.test(v)) throw new TypeError(`invalid tmux ${what}: ${JSON.stringify(v)}`);
}

function toTmuxError(err: unknown, bin: string): TmuxError {
  if (err instanceof TmuxError) return err;
  if (err instanceof ExecError) {
    if (err.kind === "not_found") return new TmuxError("not_found", `tmux binary not found: ${bin}`);
    if (err.kind === "timeout") return new TmuxError("timeout", err.message);
    return new TmuxError("failed", err.message);
  }
  return new TmuxError("failed", err instanceof Error ? err.message : String(err));
}
