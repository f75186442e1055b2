/**
 * `agtmux watch`: the watch stream (contracts §7, §8) as a live table, as the
 * daemon's JSON lines, or as a tmux status segment / shell prompt word
 * (docs/cli-watch.md).
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { defineCommand } from "citty";
import { connect } from "../../client/autostart.ts";
import { AgtmuxClient, type WatchQuery } from "../../client/client.ts";
import { type WatchStatus, WatchState, watchForever } from "../../client/watch.ts";
import { AgtmuxError, EXIT } from "../../domain/errors.ts";
import { tryLock } from "../../platform/lock.ts";
import type { ListResponse, PaneItem } from "../../wire/list.ts";
import { WATCH_SCOPES, type WatchScope } from "../../wire/watch.ts";
import type { CliContext } from "../context.ts";
import { FrameWriter, needsActionCounts, paint, promptSegment, renderScope, styleFor, tmuxSegment, withFreshAges } from "../render.ts";
import { cli, globalArgs } from "./common.ts";

/** `--format tmux|prompt --once` gives up after this: a prompt never hangs. */
export const SEGMENT_TIMEOUT_MS = 300;
export const DEFAULT_INTERVAL_MS = 2_000;
const MIN_INTERVAL_MS = 100;
const TMUX_CALL_TIMEOUT_MS = 2_000;
/** long-running tmux mode: clear the segment once the daemon has been away this long */
const TMUX_CLEAR_AFTER_MS = 1_000;

export const FORMATS = ["table", "jsonl", "tmux", "prompt"] as const;
export type WatchFormat = (typeof FORMATS)[number];

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/**
 * `500ms`, `2s`, `1.5s`, `1m`, `1h`, compounds like `1m30s`; a bare number is
 * seconds (as coreutils `timeout` and `sleep` read it). null when malformed.
 */
export function parseDuration(s: string): number | null {
  const t = s.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Math.round(Number(t) * 1000);
  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(t)) return null;
  let ms = 0;
  for (const m of t.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) ms += Number(m[1]) * (UNITS[m[2] as string] as number);
  return Number.isFinite(ms) ? Math.round(ms) : null;
}

export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1_000 === 0) return `${ms / 1_000}s`;
  return `${ms}ms`;
}

export type Flags = Record<string, string | boolean | undefined>;

export function usageError(message: string, details: Record<string, unknown> = {}): AgtmuxError {
  return new AgtmuxError("E_USAGE", message, details);
}

/** a duration flag in ms, or a usage error */
export function durationFlag(a: Flags, name: string, fallbackMs: number | null): number | null {
  const raw = a[name];
  if (raw === undefined || raw === false) return fallbackMs;
  const ms = typeof raw === "string" ? parseDuration(raw) : null;
  if (ms === null) throw usageError(`--${name} must be a duration like 500ms, 2s, 1m (got ${JSON.stringify(String(raw))})`, { flag: name });
  return ms;
}

const str = (a: Flags, k: string): string | undefined => (typeof a[k] === "string" ? (a[k] as string) : undefined);

/** The scope filters every live command shares (same flags as `agtmux list`). */
export function scopeQuery(a: Flags): WatchQuery {
  const target = str(a, "target");
  return {
    target: target === undefined ? undefined : target.split(",").map((t) => t.trim()).filter((t) => t !== ""),
    all_targets: a["all-targets"] === true,
    target_session: str(a, "target-session"),
    session: str(a, "session"),
    agent: str(a, "agent"),
  };
}

export const scopeArgs = {
  target: { type: "string", description: "only this target (comma-separated for several)", valueHint: "name" },
  "all-targets": { type: "boolean", description: "every target (the default)" },
  "target-session": { type: "string", description: "one session: <target>/<percent-encoded session name>", valueHint: "target/session-enc" },
  session: { type: "string", description: "sessions with this name on any target", valueHint: "name" },
  agent: { type: "string", description: "only this agent (claude, codex, gemini, copilot, cursor)", valueHint: "type" },
} as const;

export const watchArgs = {
  ...globalArgs,
  ...scopeArgs,
  scope: { type: "string", description: "panes (default), windows or sessions", valueHint: "scope" },
  format: { type: "string", description: "table (default), jsonl (the API's lines as is), tmux (status segment), prompt (shell prompt word)", valueHint: "format" },
  interval: { type: "string", description: "table: redraw ages this often (default 2s)", valueHint: "dur" },
  cursor: { type: "string", description: "jsonl: resume after this cursor", valueHint: "stream_id:sequence" },
  once: { type: "boolean", description: "print one frame (or the snapshot line) and exit" },
  "tmux-option": { type: "string", description: "tmux: the global user option to set on each change (default @agtmux)", valueHint: "@name" },
  state: { type: "string", description: "only this state", valueHint: "state" },
  "needs-action": { type: "boolean", description: "only panes waiting for you (approval, input) or in error" },
  all: { type: "boolean", description: "include panes without an agent" },
  sort: { type: "string", description: "sort order (as for agtmux list)", valueHint: "key" },
} as const;

interface WatchPlan {
  scope: WatchScope;
  format: WatchFormat;
  intervalMs: number;
  cursor: string | undefined;
  once: boolean;
  tmuxOption: string;
  query: WatchQuery;
}

/** Flags -> what to do, or a usage error (exit 2) before anything is contacted. */
export function planWatch(a: Flags, json: boolean): WatchPlan {
  const fmt = str(a, "format");
  if (fmt !== undefined && !(FORMATS as readonly string[]).includes(fmt)) throw usageError(`--format must be one of ${FORMATS.join("|")}`, { flag: "format" });
  if (json && fmt !== undefined && fmt !== "jsonl") throw usageError("--json is --format jsonl; drop one of them", { flag: "json" });
  const format: WatchFormat = (fmt as WatchFormat | undefined) ?? (json ? "jsonl" : "table");
  const sc = str(a, "scope") ?? "panes";
  if (!(WATCH_SCOPES as readonly string[]).includes(sc)) throw usageError(`--scope must be one of ${WATCH_SCOPES.join("|")}`, { flag: "scope" });
  const scope = sc as WatchScope;
  const intervalMs = durationFlag(a, "interval", DEFAULT_INTERVAL_MS) as number;
  if (intervalMs < MIN_INTERVAL_MS) throw usageError(`--interval must be at least ${MIN_INTERVAL_MS}ms`, { flag: "interval" });
  const cursor = str(a, "cursor");
  if (cursor !== undefined && format !== "jsonl") throw usageError("--cursor resumes a line stream: use it with --format jsonl", { flag: "cursor" });
  const tmuxOption = str(a, "tmux-option") ?? "@agtmux";
  if (!/^@[A-Za-z0-9_-]{1,64}$/.test(tmuxOption)) throw usageError("--tmux-option must be a tmux user option like @agtmux", { flag: "tmux-option" });
  if (a["tmux-option"] !== undefined && format !== "tmux") throw usageError("--tmux-option goes with --format tmux", { flag: "tmux-option" });
  if ((format === "tmux" || format === "prompt") && scope !== "panes") throw usageError(`--format ${format} counts panes: drop --scope`, { flag: "scope" });
  const query: WatchQuery = {
    scope,
    ...scopeQuery(a),
    state: str(a, "state"),
    needs_action: a["needs-action"] === true,
    all: a.all === true,
    sort: str(a, "sort"),
  };
  // the segment counts only what needs you: let the daemon send only that
  if (format === "tmux" || format === "prompt") query.needs_action = true;
  return { scope, format, intervalMs, cursor, once: a.once === true, tmuxOption, query };
}

/**
 * Ends a live command on a signal: SIGINT with 130, SIGTERM and SIGHUP (a
 * tmux server or terminal going away) with 0 unless `codes` says otherwise;
 * a second signal exits at once.
 */
export function interruptible(
  opts: { codes?: Partial<Record<"SIGINT" | "SIGTERM" | "SIGHUP", number>>; onForce?: () => void } = {},
): { signal: AbortSignal; code: () => number; stop: (code: number) => void; dispose: () => void } {
  const ac = new AbortController();
  const codes = { SIGINT: EXIT.interrupted, SIGTERM: EXIT.ok, SIGHUP: EXIT.ok, ...opts.codes };
  let code: number = EXIT.ok;
  const handler = (sig: "SIGINT" | "SIGTERM" | "SIGHUP"): void => {
    if (ac.signal.aborted) {
      opts.onForce?.();
      process.exit(codes[sig]);
    }
    code = codes[sig];
    ac.abort();
  };
  const sigs = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
  for (const s of sigs) process.on(s, handler);
  const stop = (c: number): void => {
    if (ac.signal.aborted) return;
    code = c;
    ac.abort();
  };
  return { signal: ac.signal, code: () => code, stop, dispose: () => sigs.forEach((s) => process.off(s, handler)) };
}

/** The reader of stdout went away (`| head -1`): end the command quietly. Returns the undo. */
function endOnClosedStdout(run: { stop: (code: number) => void }): () => void {
  const onError = (): void => run.stop(EXIT.ok);
  process.stdout.on("error", onError);
  return () => process.stdout.off("error", onError);
}

function emptySummary(): ListResponse<unknown>["summary"] {
  return {
    sessions: 0,
    windows: 0,
    panes: 0,
    agent_panes: 0,
    needs_action: 0,
    by_state: { running: 0, waiting_input: 0, waiting_approval: 0, completed: 0, idle: 0, error: 0, unknown: 0 },
    by_agent: {},
    by_target: {},
  };
}

/** The state as the list endpoints' response, for the same renderers; pane ages as of nowMs. */
export function asList(state: WatchState, nowMs: number): ListResponse<unknown> {
  const items = state.items();
  return {
    schema_version: 1,
    generated_at: state.generatedAt ?? new Date(nowMs).toISOString(),
    filters: state.filters,
    summary: state.summary ?? emptySummary(),
    items: state.scope === "panes" ? withFreshAges(items as PaneItem[], nowMs) : items,
    partial: false,
    requested_targets: [],
    responded_targets: [],
    target_errors: [],
  };
}

function statusText(s: WatchStatus): string {
  if (s.kind === "connected") return "";
  const cause = typeof s.error.details.cause === "string" ? ` (${s.error.details.cause})` : "";
  if (s.error.message === "the watch stream ended") return "the daemon ended the stream — reconnecting…";
  if (s.error.code === "E_DAEMON_UNREACHABLE") return `daemon unreachable${cause} — reconnecting…`;
  return `${s.error.message} — reconnecting…`;
}

/**
 * The daemon, started once if needed (as every command does; never again
 * while the stream reconnects); E_DAEMON_UNREACHABLE (exit 3) when none
 * answers, also with AGTMUX_NO_AUTOSTART=1.
 */
export async function connectOnce(ctx: CliContext): Promise<AgtmuxClient> {
  const client = await connect(ctx.paths, ctx.env);
  await client.health({ timeoutMs: 2_000 });
  return client;
}

/** `--once --format tmux|prompt`: never starts the daemon, never waits long, prints nothing when it cannot tell. */
async function segmentOnce(ctx: CliContext, plan: WatchPlan): Promise<number> {
  const client = new AgtmuxClient({ socket: ctx.paths.socket, timeoutMs: SEGMENT_TIMEOUT_MS });
  let items: PaneItem[];
  try {
    // the watch hub's in-memory snapshot: faster than /v1/panes, which reads the store
    const r = await client.watchOnce(plan.query);
    const snap = r.lines.find((l) => l.type === "snapshot");
    items = snap?.type === "snapshot" ? (snap.items as PaneItem[]) : [];
  } catch (err) {
    // a prompt must not complain (or hang) because the daemon is down, busy or too old for /v1/watch
    if (err instanceof AgtmuxError && (err.code === "E_DAEMON_UNREACHABLE" || err.code === "E_NOT_FOUND" || err.code === "E_SHUTTING_DOWN")) return EXIT.ok;
    throw err;
  }
  const c = needsActionCounts(items);
  const seg = plan.format === "tmux" ? tmuxSegment(c) : promptSegment(c);
  if (seg !== "") process.stdout.write(`${seg}\n`);
  return EXIT.ok;
}

async function onceFrame(ctx: CliContext, plan: WatchPlan): Promise<number> {
  const client = await connectOnce(ctx);
  const r = await client.watchOnce(plan.query, { cursor: plan.cursor });
  if (plan.format === "jsonl") {
    for (const line of r.lines) process.stdout.write(`${JSON.stringify(line)}\n`);
    return EXIT.ok;
  }
  const state = new WatchState(plan.scope);
  for (const line of r.lines) state.apply(line);
  ctx.out(renderScope(styleFor(process.stdout, ctx.env), plan.scope, asList(state, Date.now())));
  return EXIT.ok;
}

async function streamJsonl(ctx: CliContext, plan: WatchPlan): Promise<number> {
  await connectOnce(ctx);
  const run = interruptible();
  let down = false;
  const undoPipe = endOnClosedStdout(run);
  try {
    const lines = watchForever(ctx.paths.socket, plan.query, {
      cursor: plan.cursor,
      signal: run.signal,
      onStatus: (s) => {
        if (s.kind === "disconnected" && !down) ctx.err(`agtmux: ${statusText(s)}`);
        if (s.kind === "connected" && down) ctx.err("agtmux: reconnected");
        down = s.kind === "disconnected";
      },
    });
    for await (const r of lines) process.stdout.write(`${r.raw}\n`);
  } finally {
    undoPipe();
    run.dispose();
  }
  return run.code();
}

function clock(ms: number): string {
  return new Date(ms).toTimeString().slice(0, 8);
}

async function streamTable(ctx: CliContext, plan: WatchPlan): Promise<number> {
  await connectOnce(ctx);
  const tty = process.stdout.isTTY === true;
  const st = styleFor(process.stdout, ctx.env);
  const writer = new FrameWriter({
    write: (s) => process.stdout.write(s),
    tty,
    size: () => ({ columns: process.stdout.columns, rows: process.stdout.rows }),
  });
  const run = interruptible({ onForce: () => writer.close() });
  const undoPipe = endOnClosedStdout(run);
  const state = new WatchState(plan.scope);
  let status = "connecting…";
  const draw = (): void => {
    // a pipe or file gets frames of items only, no "connecting" placeholders
    if (!tty && !state.ready) return;
    const now = Date.now();
    const head = `agtmux watch · ${plan.scope} · ${clock(now)}`;
    const header = [paint(st, "2", head) + (status === "" || !tty ? "" : ` ${paint(st, "33", status)}`), ""];
    const body = state.ready ? renderScope(st, plan.scope, asList(state, now)).split("\n") : [status === "" ? "waiting for the daemon's snapshot…" : status];
    writer.frame(header, body);
  };
  const onResize = (): void => {
    writer.invalidate();
    draw();
  };
  const timer = tty ? setInterval(draw, plan.intervalMs) : undefined;
  if (tty) process.stdout.on("resize", onResize);
  draw();
  try {
    const lines = watchForever(ctx.paths.socket, plan.query, {
      signal: run.signal,
      onStatus: (s) => {
        const next = statusText(s);
        if (!tty && next !== "" && status === "") ctx.err(`agtmux: ${next}`);
        status = next;
        draw();
      },
    });
    for await (const r of lines) if (state.apply(r.line)) draw();
  } finally {
    clearInterval(timer);
    if (tty) process.stdout.off("resize", onResize);
    writer.close();
    undoPipe();
    run.dispose();
  }
  return run.code();
}

/** `--format prompt` without --once: one line per change, for status bars that read lines (i3bar, waybar, polybar). */
async function streamPrompt(ctx: CliContext, plan: WatchPlan): Promise<number> {
  await connectOnce(ctx);
  const run = interruptible();
  const undoPipe = endOnClosedStdout(run);
  const state = new WatchState<PaneItem>("panes");
  let last: string | null = null;
  const emit = (seg: string): void => {
    if (seg === last) return;
    last = seg;
    process.stdout.write(`${seg}\n`);
  };
  try {
    const lines = watchForever(ctx.paths.socket, plan.query, {
      signal: run.signal,
      onStatus: (s) => {
        if (s.kind === "disconnected" && s.downForMs >= TMUX_CLEAR_AFTER_MS) emit("");
      },
    });
    for await (const r of lines) if (state.apply(r.line) && state.ready) emit(promptSegment(needsActionCounts(state.items())));
  } finally {
    undoPipe();
    run.dispose();
  }
  return run.code();
}

interface TmuxResult {
  ok: boolean;
  stderr: string;
}

async function tmux(args: string[], env: Record<string, string | undefined>): Promise<TmuxResult> {
  try {
    const p = Bun.spawn(["tmux", ...args], { env: env as Record<string, string>, stdin: "ignore", stdout: "ignore", stderr: "pipe" });
    const t = setTimeout(() => p.kill("SIGKILL"), TMUX_CALL_TIMEOUT_MS);
    const [stderr, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
    clearTimeout(t);
    return { ok: code === 0, stderr: stderr.trim() };
  } catch (err) {
    return { ok: false, stderr: err instanceof Error ? err.message : String(err) };
  }
}

const NO_TMUX_SERVER = /no server running|error connecting to|server exited|lost server/i;

/** The tmux server `$TMUX` names ("<socket>,<pid>,<session>"): its socket and pid. */
export function tmuxServerOf(env: Record<string, string | undefined>): { socket: string; pid: number | null } {
  const t = env.TMUX ?? "";
  const [socket, pid] = t.split(",");
  const n = Number(pid);
  return { socket: socket === undefined || socket === "" ? "default" : socket, pid: Number.isInteger(n) && n > 0 ? n : null };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as { code?: string }).code === "EPERM";
  }
  // a dead server stays a zombie until its parent (init) reaps it; in containers that can take seconds
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return true; // no /proc (macOS): kill(0) is the answer
  }
}

/**
 * `--format tmux` without --once: sets a global user option on each change and
 * asks tmux to redraw its status lines, so the status follows the agents
 * instead of a timer. One such watcher per tmux server and option (a lock):
 * re-sourcing ~/.tmux.conf does not pile them up. Ends when the tmux server does.
 */
async function streamTmux(ctx: CliContext, plan: WatchPlan): Promise<number> {
  const server = tmuxServerOf(ctx.env);
  mkdirSync(ctx.paths.home, { recursive: true, mode: 0o700 });
  const key = createHash("sha256").update(`${server.socket}\u0000${plan.tmuxOption}`).digest("hex").slice(0, 16);
  const lock = tryLock(join(ctx.paths.home, `watch-tmux-${key}.lock`));
  if (!lock.ok) {
    // quiet under `run-shell` (tmux would show the output): re-sourcing ~/.tmux.conf is normal
    if (process.stderr.isTTY === true) ctx.err(`agtmux: another watcher (pid ${lock.holderPid ?? "?"}) already feeds ${plan.tmuxOption} on this tmux server`);
    return EXIT.ok;
  }
  const run = interruptible();
  let gone = false;
  let last: string | null = null;
  let pending: string | null = null;
  let busy: Promise<void> | null = null;
  const apply = async (seg: string): Promise<void> => {
    const r = await tmux(["set-option", "-g", plan.tmuxOption, seg], ctx.env);
    if (!r.ok) {
      if (NO_TMUX_SERVER.test(r.stderr)) {
        gone = true;
        run.stop(EXIT.ok);
        return;
      }
      ctx.err(`agtmux: tmux set-option ${plan.tmuxOption}: ${r.stderr}`);
      return;
    }
    last = seg;
    // every attached client redraws its status line now (no client attached: nothing to do)
    await tmux(["refresh-client", "-S"], ctx.env);
  };
  // latest wins; one tmux call at a time
  const push = (seg: string): void => {
    pending = seg;
    busy ??= (async () => {
      for (;;) {
        if (pending === null || gone) break;
        const next: string = pending;
        pending = null;
        if (next !== last) await apply(next);
      }
      busy = null;
    })();
  };
  const timer = setInterval(() => {
    if (server.pid !== null && !alive(server.pid)) {
      gone = true;
      run.stop(EXIT.ok);
    }
  }, plan.intervalMs);
  try {
    await connectOnce(ctx);
    const state = new WatchState<PaneItem>("panes");
    const lines = watchForever(ctx.paths.socket, plan.query, {
      signal: run.signal,
      onStatus: (s) => {
        // stale counts are worse than none: clear while the daemon is away
        if (s.kind === "disconnected" && s.downForMs >= TMUX_CLEAR_AFTER_MS) push("");
      },
    });
    for await (const r of lines) {
      if (state.apply(r.line) && state.ready) push(tmuxSegment(needsActionCounts(state.items())));
      else if (r.line.type === "reset" && r.line.terminal) push("");
    }
  } finally {
    clearInterval(timer);
    run.dispose();
    await busy;
    if (!gone) await tmux(["set-option", "-gu", plan.tmuxOption], ctx.env);
    lock.lock.release();
  }
  return run.code();
}

export const watchCommand = defineCommand({
  meta: { name: "watch", description: "Follow panes, windows or sessions live (table, JSON lines, tmux status, shell prompt)" },
  args: watchArgs,
  async run(c) {
    const ctx = cli(c);
    const plan = planWatch(c.args as Flags, ctx.json);
    if (plan.once && (plan.format === "tmux" || plan.format === "prompt")) return segmentOnce(ctx, plan);
    if (plan.once) return onceFrame(ctx, plan);
    if (plan.format === "jsonl") return streamJsonl(ctx, plan);
    if (plan.format === "tmux") return streamTmux(ctx, plan);
    if (plan.format === "prompt") return streamPrompt(ctx, plan);
    return streamTable(ctx, plan);
  },
});
