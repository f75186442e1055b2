/** Helpers shared by the e2e tests (not a test file itself). */
import { Database } from "bun:sqlite";
import { afterEach, expect } from "bun:test";
import { existsSync } from "node:fs";
import { isLocked } from "../../src/platform/lock.ts";
import type { ActionResponse } from "../../src/wire/actions.ts";
import { type DaemonProc, startDaemonProc } from "../helpers/binary.ts";
import { type Sandbox, sandbox } from "../helpers/sandbox.ts";
import { waitFor } from "../helpers/wait.ts";

let counter = 0;

/** A unique, low-entropy id (random-looking strings could trip the redactor's entropy detector). */
export function uid(prefix: string): string {
  counter++;
  return `${prefix}-${process.pid}-${Date.now()}-${counter}`;
}

/** A minimal valid unbound envelope (goes to the pending-bind inbox). */
export function envelope(over: Record<string, unknown> = {}): Record<string, unknown> {
  const id = uid("evt");
  return {
    event_id: id,
    event_type: "state.running",
    source: "hook",
    dedupe_key: `dk-${id}`,
    event_time: new Date().toISOString(),
    target_id: "host",
    pane_id: "%1",
    ...over,
  };
}

/**
 * A fake Anthropic API key, assembled at runtime (no literal for secret
 * scanners to flag): the prefix plus 90 characters from a fixed PRNG.
 */
export function fakeAnthropicKey(seed = 7): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
  let a = seed >>> 0;
  let body = "";
  for (let i = 0; i < 90; i++) {
    a = (Math.imul(a, 1_103_515_245) + 12_345) >>> 0;
    body += alphabet[(a >>> 16) % alphabet.length];
  }
  return `${["sk", "ant", "api03"].join("-")}-${body}`;
}

/** Opens the daemon's SQLite DB read-only (works while the daemon runs: WAL). */
export function withDb<T>(path: string, fn: (db: Database) => T): T {
  const db = new Database(path, { readonly: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

/** The subset of `ids` stored in event_inbox or events. */
export function storedIds(dbPath: string, ids: Iterable<string>): Set<string> {
  return withDb(dbPath, (db) => {
    const found = new Set<string>();
    const inbox = db.query<{ event_id: string }, [string]>("SELECT event_id FROM event_inbox WHERE event_id = ?");
    const events = db.query<{ event_id: string }, [string]>("SELECT event_id FROM events WHERE event_id = ?");
    for (const id of ids) {
      if (inbox.get(id) !== null || events.get(id) !== null) found.add(id);
    }
    return found;
  });
}

export interface InboxRow {
  event_id: string;
  status: string;
  target_id: string;
  pane_id: string;
  envelope: string;
}

export function inboxRow(dbPath: string, eventId: string): InboxRow | null {
  return withDb(dbPath, (db) => db.query<InboxRow, [string]>("SELECT event_id, status, target_id, pane_id, envelope FROM event_inbox WHERE event_id = ?").get(eventId));
}

/** Polls until the event is in event_inbox or events. */
export async function waitStored(dbPath: string, eventId: string, timeoutMs = 8_000): Promise<void> {
  await waitFor(() => existsSync(dbPath) && storedIds(dbPath, [eventId]).has(eventId), { timeoutMs, message: `event ${eventId} stored` });
}

/** TC-018: every error response is exactly {schema_version, error:{code,message,details}}. */
export function expectErrorEnvelope(body: unknown, code: string): { code: string; message: string; details: Record<string, unknown> } {
  expect(body).toBeObject();
  const b = body as Record<string, unknown>;
  expect(Object.keys(b).toSorted()).toEqual(["error", "schema_version"]);
  expect(b.schema_version).toBe(1);
  const e = b.error as Record<string, unknown>;
  expect(e).toBeObject();
  expect(Object.keys(e).toSorted()).toEqual(["code", "details", "message"]);
  expect(e.code).toBe(code);
  expect(typeof e.message).toBe("string");
  expect((e.message as string).length).toBeGreaterThan(0);
  expect(e.details).toBeObject();
  expect(Array.isArray(e.details)).toBe(false);
  return e as { code: string; message: string; details: Record<string, unknown> };
}

/** Stops a daemon we started as a child: SIGTERM, then SIGKILL if it lingers. */
export async function stopProc(d: DaemonProc | undefined): Promise<void> {
  if (d === undefined || d.proc.exitCode !== null || d.proc.signalCode !== null) return;
  d.proc.kill("SIGTERM");
  const t = setTimeout(() => d.proc.kill("SIGKILL"), 6_000);
  await d.proc.exited;
  clearTimeout(t);
}

/**
 * Kills any daemon still holding the sandbox's lock (one started in the
 * background by `daemon start` or autostart), by the pid it wrote there.
 */
export async function killLockHolder(sb: Sandbox): Promise<void> {
  if (!existsSync(sb.paths.lock)) return;
  const l = isLocked(sb.paths.lock);
  if (!l.locked || l.holderPid === null) return;
  const pid = l.holderPid;
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    return;
  }
  await waitFor(() => !isLocked(sb.paths.lock).locked, { timeoutMs: 5_000, message: `daemon pid ${pid} released the lock` });
}

/** Raw request over the daemon socket; returns status, headers and the parsed JSON body. */
export async function rawFetch(
  sb: Sandbox,
  path: string,
  init: RequestInit = {},
  timeoutMs = 10_000,
): Promise<{ status: number; headers: Headers; body: unknown; text: string }> {
  const req: RequestInit & { unix: string } = { ...init, unix: sb.paths.socket, signal: AbortSignal.timeout(timeoutMs) };
  const res = await fetch(`http://agtmux${path}`, req);
  const text = await res.text();
  let body: unknown = undefined;
  try {
    body = JSON.parse(text);
  } catch {
    // left undefined: the caller's assertions name the problem
  }
  return { status: res.status, headers: res.headers, body, text };
}

/** a file's text ("" while it does not exist) */
export function readText(path: string): string {
  return existsSync(path) ? readFileSync(path, "utf8") : "";
}

/** polls a file until its text satisfies pred; the error says what it held */
export async function waitFile(path: string, pred: (s: string) => boolean, message: string, timeoutMs = 15_000): Promise<string> {
  let last = "";
  try {
    return await waitFor(
      () => {
        last = readText(path);
        return pred(last) ? last : null;
      },
      { timeoutMs, intervalMs: 20, message },
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; ${path} holds ${JSON.stringify(last.slice(-300))} (${last.length} chars)`, { cause: err });
  }
}

/** POST /v1/actions/<type> */
export function postAction(sb: Sandbox, type: string, body: unknown, timeoutMs = 20_000): ReturnType<typeof rawFetch> {
  return rawFetch(sb, `/v1/actions/${type}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) }, timeoutMs);
}

/** POST /v1/actions/<type> that must succeed: its response */
export async function okAction<R>(sb: Sandbox, type: string, body: Record<string, unknown>): Promise<ActionResponse<R>> {
  const r = await postAction(sb, type, body);
  if (r.status !== 200) throw new Error(`${type} ${JSON.stringify(body).slice(0, 300)} -> ${r.status} ${r.text.slice(0, 600)}`);
  return r.body as ActionResponse<R>;
}

export function postJson(sb: Sandbox, body: unknown): ReturnType<typeof rawFetch> {
  return rawFetch(sb, "/v1/events", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
}

/**
 * Per-file scope: `box()` makes the test's sandbox, `daemon()` starts a daemon in it;
 * after each test every daemon is stopped, any lock holder killed, the sandbox removed.
 */
export function e2eScope(name: string): { box(): Sandbox; daemon(sb: Sandbox, env?: Record<string, string>): Promise<DaemonProc>; stopAll(): Promise<void> } {
  let current: Sandbox | undefined;
  const procs: DaemonProc[] = [];
  afterEach(async () => {
    for (const d of procs.splice(0)) await stopProc(d);
    if (current !== undefined) {
      await killLockHolder(current);
      current.cleanup();
      current = undefined;
    }
  });
  return {
    box() {
      const sb = sandbox(name);
      current = sb;
      return sb;
    },
    async daemon(sb, env = {}) {
      const d = await startDaemonProc(sb, env);
      procs.push(d);
      return d;
    },
    async stopAll() {
      for (const d of procs.splice(0)) await stopProc(d);
    },
  };
}

// (imports for the helpers below; kept here so this block is append-only)
import { copyFileSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";

/**
 * A tmux server on the DEFAULT socket of a sandbox's TMUX_TMPDIR (the one the
 * daemon watches when $TMUX is unset), plus fake agents: copies of /bin/sleep
 * named like the agents in `<sandbox>/bin`.
 */
export interface SandboxTmux {
  /** directory holding the fake agents (claude, codex, gemini, cursor-agent) */
  bin: string;
  /** argv of a fake agent that runs for a long time */
  agent(name?: string): string[];
  /** runs tmux with these arguments; resolves with stdout, throws on a non-zero exit */
  run(...args: string[]): Promise<string>;
  /** `new-session -d` (starting the server if needed); remembers the server pid for kill() */
  newSession(name: string, command?: string[], size?: { x: number; y: number }): Promise<string>;
  /** pids of every server started through newSession */
  serverPids(): number[];
  /** kill-server, then SIGKILL any server pid still alive; removes the socket file */
  kill(): Promise<void>;
}

/** A zombie counts as gone: a daemonized tmux server is reaped by init, which may take its time. */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return true; // no /proc (macOS): signal 0 is all we have
  }
}

export function sandboxTmux(sb: Sandbox): SandboxTmux {
  const tmpdir = sb.env.TMUX_TMPDIR;
  if (tmpdir === undefined) throw new Error("sandbox has no TMUX_TMPDIR");
  const bin = join(sb.dir, "bin");
  mkdirSync(bin, { recursive: true });
  for (const name of ["claude", "codex", "gemini", "cursor-agent"]) copyFileSync("/bin/sleep", join(bin, name));
  const env: Record<string, string | undefined> = { ...sb.env, TMUX: undefined, TMUX_PANE: undefined };
  const pids = new Set<number>();
  const run = async (...args: string[]): Promise<string> => {
    const p = Bun.spawn(["tmux", "-f", "/dev/null", ...args], { env: env as Record<string, string>, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    const timer = setTimeout(() => p.kill("SIGKILL"), 15_000);
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    clearTimeout(timer);
    if (code !== 0) throw new Error(`tmux ${args.join(" ")} failed (${code}): ${err.trim()}`);
    return out;
  };
  return {
    bin,
    agent: (name = "claude") => [join(bin, name), "100000"],
    run,
    async newSession(name, command = [], size = { x: 200, y: 50 }) {
      const id = (await run("new-session", "-d", "-P", "-F", "#{session_id}", "-s", name, "-x", String(size.x), "-y", String(size.y), ...command)).trim();
      pids.add(Number((await run("display-message", "-p", "-t", id, "#{pid}")).trim()));
      return id;
    },
    serverPids: () => [...pids],
    async kill() {
      await run("kill-server").catch(() => {});
      for (const pid of pids) {
        if (pidAlive(pid)) {
          try {
            process.kill(pid, "SIGKILL");
          } catch {
            // gone meanwhile
          }
        }
      }
      await waitFor(() => [...pids].every((p) => !pidAlive(p)), { timeoutMs: 5_000, message: "tmux servers exited" });
      pids.clear();
      rmSync(join(tmpdir, `tmux-${process.getuid?.() ?? 0}`, "default"), { force: true });
    },
  };
}

/** Per-file: every sandboxTmux made through `tmux(sb)` is killed after each test. */
export function tmuxScope(): { tmux(sb: Sandbox): SandboxTmux } {
  const servers: SandboxTmux[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.kill();
  });
  return {
    tmux(sb) {
      const s = sandboxTmux(sb);
      servers.push(s);
      return s;
    },
  };
}

/** Removes the fields that differ between two reads of the same state (generated_at, age_s), recursively. */
export function stripVolatile(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripVolatile);
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (k !== "generated_at" && k !== "age_s") out[k] = stripVolatile(x);
    return out;
  }
  return v;
}

/** True when the text holds an ANSI escape sequence (ESC). */
export function hasAnsi(s: string): boolean {
  return s.includes("\u001b");
}
