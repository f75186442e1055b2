/** Helpers shared by the e2e tests (not a test file itself). */
import { Database } from "bun:sqlite";
import { afterEach, expect } from "bun:test";
import { existsSync } from "node:fs";
import { isLocked } from "../../src/platform/lock.ts";
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
): Promise<{ status: number; headers: Headers; body: unknown; text: string }> {
  const req: RequestInit & { unix: string } = { ...init, unix: sb.paths.socket, signal: AbortSignal.timeout(10_000) };
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

export function postJson(sb: Sandbox, body: unknown): ReturnType<typeof rawFetch> {
  return rawFetch(sb, "/v1/events", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
}

/**
 * Per-file scope: `box()` makes the test's sandbox, `daemon()` starts a daemon in it;
 * after each test every daemon is stopped, any lock holder killed, the sandbox removed.
 */
export function e2eScope(name: string): { box(): Sandbox; daemon(sb: Sandbox, env?: Record<string, string>): Promise<DaemonProc> } {
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
  };
}
