/**
 * `agtmux emit` against the compiled binary: the spool fallback when the
 * daemon is down (drained on start, redacted, then removed), hook mode's
 * silence, flag mode's output, usage errors, and quarantine of bad spool lines.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isLocked } from "../../src/platform/lock.ts";
import { runCli } from "../helpers/binary.ts";
import { type Sandbox } from "../helpers/sandbox.ts";
import { waitFor } from "../helpers/wait.ts";
import { envelope, fakeAnthropicKey, inboxRow, stopProc, storedIds, waitStored, withDb, e2eScope } from "./lib.ts";

const SPOOL_FILE = "events.jsonl";
const REJECTED_FILE = "rejected.jsonl";
/** the drained file goes once it is fully read and 2 s quiet; the daemon looks every 1 s */
const SPOOL_GONE_TIMEOUT_MS = 8_000;

const { box, daemon } = e2eScope("emit");

function claudePayload(hookEventName: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    session_id: "5f0c7a9e-1b2c-4d3e-8f90-a1b2c3d4e5f6",
    transcript_path: "/home/dev/.claude/projects/-home-dev-proj/5f0c7a9e-1b2c-4d3e-8f90-a1b2c3d4e5f6.jsonl",
    cwd: "/home/dev/proj",
    hook_event_name: hookEventName,
    ...extra,
  });
}

function spoolFiles(sb: Sandbox): string[] {
  if (!existsSync(sb.paths.spoolDir)) return [];
  return readdirSync(sb.paths.spoolDir).filter((f) => f === SPOOL_FILE || /^drain-.*\.jsonl$/.test(f));
}

function lines(path: string): string[] {
  return readFileSync(path, "utf8").split("\n").filter((l) => l !== "");
}

/** Every byte of the daemon's SQLite files (main, WAL, shared memory) as latin1 text. */
function dbBytes(sb: Sandbox): string {
  return readdirSync(sb.paths.home)
    .filter((f) => f.startsWith("agtmux.db"))
    .map((f) => readFileSync(join(sb.paths.home, f)).toString("latin1"))
    .join("\n");
}

function spoolLine(event: unknown): string {
  return JSON.stringify({ v: 1, queued_at: Date.now(), event });
}

describe("emit with the daemon down", () => {
  test("TC-011 emit --hook claude spools silently; the daemon drains it redacted and removes the spool file", async () => {
    const sb = box();
    const secret = fakeAnthropicKey();
    expect(secret.length).toBe("sk-ant-api03-".length + 90);
    const stdin = claudePayload("UserPromptSubmit", { prompt: `call the API with ${secret} please`, env: { ANTHROPIC_API_KEY: secret } });
    const env = { AGTMUX_NO_AUTOSTART: "1", TMUX_PANE: "%7" };

    const t0 = Date.now();
    const r = await runCli(sb, ["emit", "--hook", "claude"], { stdin, env });
    const elapsed = Date.now() - t0;
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr).not.toContain(secret);
    expect(elapsed).toBeLessThan(3_000);

    // queued, nothing started
    const active = join(sb.paths.spoolDir, SPOOL_FILE);
    expect(existsSync(active)).toBe(true);
    expect(lstatSync(active).mode & 0o077).toBe(0);
    const queued = lines(active);
    expect(queued.length).toBe(1);
    const line = JSON.parse(queued[0] ?? "{}") as { v: number; queued_at: number; event: Record<string, unknown> };
    expect(line.v).toBe(1);
    expect(line.event).toMatchObject({ source: "hook", event_type: "claude.UserPromptSubmit", agent_type: "claude", target_id: "host", pane_id: "%7" });
    const eventId = String(line.event.event_id);
    expect(existsSync(sb.paths.socket)).toBe(false);
    expect(existsSync(sb.paths.lock) && isLocked(sb.paths.lock).locked).toBe(false);

    const d = await daemon(sb);
    await waitStored(sb.paths.db, eventId);
    const row = inboxRow(sb.paths.db, eventId);
    expect(row?.status).toBe("pending_bind");
    expect(row?.pane_id).toBe("%7");
    expect(row?.envelope).toContain("[REDACTED:anthropic_key]");
    expect(row?.envelope).not.toContain(secret);
    // the original queue time is kept as the ingest time
    const ingestedAt = withDb(sb.paths.db, (db) =>
      db.query<{ ingested_at: number }, [string]>("SELECT ingested_at FROM event_inbox WHERE event_id = ?").get(eventId),
    );
    expect(ingestedAt?.ingested_at).toBe(line.queued_at);

    await waitFor(() => spoolFiles(sb).length === 0, { timeoutMs: SPOOL_GONE_TIMEOUT_MS, message: "spool file removed after the quiet period" });

    await stopProc(d);
    expect(d.proc.exitCode).toBe(0);
    const bytes = dbBytes(sb);
    expect(bytes.length).toBeGreaterThan(0);
    expect(bytes.includes(secret)).toBe(false);
    // not even a recognisable piece of it
    expect(bytes.includes(secret.slice(20, 60))).toBe(false);
    expect(await d.stderr()).not.toContain(secret.slice(20, 60));
  });

  test("emit --hook with autostart on returns at once and the daemon it starts drains the event", async () => {
    const sb = box();
    const r = await runCli(sb, ["emit", "--hook", "claude"], { stdin: claudePayload("Stop"), env: { TMUX_PANE: "%2" } });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("");
    // the background daemon comes up on its own and ingests the spooled event
    const pid = await waitFor(() => isLocked(sb.paths.lock).holderPid, { timeoutMs: 10_000, message: "autostarted daemon holds the lock" });
    expect(pid).toBeGreaterThan(0);
    const id = await waitFor(
      () =>
        existsSync(sb.paths.db) &&
        withDb(sb.paths.db, (db) =>
          db.query<{ event_id: string }, []>("SELECT event_id FROM event_inbox WHERE pane_id = '%2' AND envelope LIKE '%claude.Stop%'").get(),
        )?.event_id,
      { timeoutMs: 10_000, message: "spooled hook event ingested by the autostarted daemon" },
    );
    expect(typeof id).toBe("string");
    const stop = await runCli(sb, ["daemon", "stop"]);
    expect(stop.code).toBe(0);
  });

  test("a malformed spool line ends up in rejected.jsonl (redacted) and valid lines around it are ingested", async () => {
    const sb = box();
    const secret = fakeAnthropicKey(11);
    const a = envelope({ pane_id: "%1" });
    const b = envelope({ pane_id: "%2" });
    const c = envelope({ pane_id: "%3" });
    const invalidEvent = envelope({ pane_id: "%4", dedupe_key: "  " });
    const bad = [
      `this is not json { ${secret}`,
      spoolLine(invalidEvent),
      JSON.stringify({ v: 2, queued_at: Date.now(), event: envelope() }),
    ];
    const torn = '{"v":1,"queued_at":1,"event":{"event_id":"torn';
    mkdirSync(sb.paths.spoolDir, { recursive: true, mode: 0o700 });
    writeFileSync(join(sb.paths.spoolDir, SPOOL_FILE), [spoolLine(a), bad[0], spoolLine(b), bad[1], bad[2], spoolLine(c), ""].join("\n") + torn, {
      mode: 0o600,
    });

    await daemon(sb);
    for (const ev of [a, b, c]) await waitStored(sb.paths.db, String(ev.event_id));
    expect(storedIds(sb.paths.db, [String(invalidEvent.event_id)]).size).toBe(0);

    const rejectedPath = join(sb.paths.spoolDir, REJECTED_FILE);
    // the torn last line is given up on (quarantined) only once the file is quiet
    const rejected = await waitFor(() => existsSync(rejectedPath) && lines(rejectedPath).length >= 4 && lines(rejectedPath), {
      timeoutMs: SPOOL_GONE_TIMEOUT_MS,
      message: "four lines quarantined",
    });
    expect(rejected.length).toBe(4);
    expect(lstatSync(rejectedPath).mode & 0o077).toBe(0);
    expect(rejected[0]).toContain("this is not json {");
    expect(rejected[0]).toContain("[REDACTED:anthropic_key]");
    expect(readFileSync(rejectedPath, "utf8")).not.toContain(secret);
    expect(rejected[1]).toContain(String(invalidEvent.event_id));
    expect(rejected[2]).toContain('"v":2');
    expect(rejected[3]).toBe(torn);

    await waitFor(() => spoolFiles(sb).length === 0, { timeoutMs: SPOOL_GONE_TIMEOUT_MS, message: "drained spool file removed" });
    // rejected.jsonl stays for the user to look at
    expect(existsSync(rejectedPath)).toBe(true);
  });

  test("a spooled event the ingestor rejects (unknown target) is quarantined, not silently dropped", async () => {
    const sb = box();
    const ok = envelope({ pane_id: "%1" });
    const orphan = envelope({ target_id: "nosuchtarget", pane_id: "%2" });
    mkdirSync(sb.paths.spoolDir, { recursive: true, mode: 0o700 });
    writeFileSync(join(sb.paths.spoolDir, SPOOL_FILE), `${spoolLine(ok)}\n${spoolLine(orphan)}\n`, { mode: 0o600 });
    await daemon(sb);
    await waitStored(sb.paths.db, String(ok.event_id));
    const rejectedPath = join(sb.paths.spoolDir, REJECTED_FILE);
    await waitFor(() => existsSync(rejectedPath) && readFileSync(rejectedPath, "utf8").includes(String(orphan.event_id)), {
      timeoutMs: 3_000,
      message: "the refused spooled event is quarantined in rejected.jsonl",
    });
  });
});

describe("emit with the daemon up", () => {
  test("emit --type state.running --pane %3 prints the event id and status", async () => {
    const sb = box();
    await daemon(sb);
    const r = await runCli(sb, ["emit", "--type", "state.running", "--pane", "%3"]);
    expect(r.code).toBe(0);
    const m = /^(\S+) pending_bind\n$/.exec(r.stdout);
    expect(m).not.toBeNull();
    const id = m?.[1] ?? "";
    expect(storedIds(sb.paths.db, [id]).has(id)).toBe(true);
    const row = inboxRow(sb.paths.db, id);
    expect(row?.pane_id).toBe("%3");
    expect(JSON.parse(row?.envelope ?? "{}")).toMatchObject({ event_type: "state.running", source: "wrapper", target_id: "host" });
    expect(spoolFiles(sb)).toEqual([]);

    const j = await runCli(sb, ["emit", "--type", "state.waiting_input", "--pane", "%3", "--json"]);
    expect(j.code).toBe(0);
    const body = JSON.parse(j.stdout) as { schema_version: number; results: Array<{ event_id: string; status: string }> };
    expect(body.schema_version).toBe(1);
    expect(body.results.length).toBe(1);
    expect(body.results[0]?.status).toBe("pending_bind");
  });

  test("emit --hook claude exits 0 with empty stdout and the event is stored", async () => {
    const sb = box();
    await daemon(sb);
    const r = await runCli(sb, ["emit", "--hook", "claude"], { stdin: claudePayload("Notification", { message: "Claude needs your permission" }), env: { TMUX_PANE: "%4" } });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("");
    const row = withDb(sb.paths.db, (db) =>
      db.query<{ envelope: string }, []>("SELECT envelope FROM event_inbox WHERE pane_id = '%4'").get(),
    );
    expect(JSON.parse(row?.envelope ?? "{}")).toMatchObject({ event_type: "claude.Notification", agent_type: "claude", source: "hook" });
    expect(spoolFiles(sb)).toEqual([]);
  });

  test("emit --hook against a hung daemon gives up within the emit timeout and spools; the daemon drains it once it runs again", async () => {
    const sb = box();
    const d = await daemon(sb);
    d.proc.kill("SIGSTOP");
    let elapsed: number;
    let r: Awaited<ReturnType<typeof runCli>>;
    try {
      const t0 = Date.now();
      r = await runCli(sb, ["emit", "--hook", "claude"], { stdin: claudePayload("PreToolUse"), env: { AGTMUX_NO_AUTOSTART: "1", TMUX_PANE: "%6" } });
      elapsed = Date.now() - t0;
      // still stopped: the event can only be in the spool
      expect(lines(join(sb.paths.spoolDir, SPOOL_FILE)).length).toBe(1);
    } finally {
      d.proc.kill("SIGCONT");
    }
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("");
    // EMIT_TIMEOUT_MS is 1.5 s; allow process start-up on a busy machine
    expect(elapsed).toBeLessThan(4_000);
    // queued, then drained by the running daemon's spool timer (possibly after the
    // timed-out request itself was processed: the event is stored exactly once)
    const find = () =>
      withDb(sb.paths.db, (db) => db.query<{ n: number }, []>("SELECT count(*) AS n FROM event_inbox WHERE pane_id = '%6' AND envelope LIKE '%claude.PreToolUse%'").get())?.n;
    await waitFor(() => find() === 1, { timeoutMs: 5_000, message: "spooled event ingested after SIGCONT" });
    await waitFor(() => spoolFiles(sb).length === 0, { timeoutMs: SPOOL_GONE_TIMEOUT_MS, message: "spool file removed" });
    expect(find()).toBe(1);
  });

  test("TC-032 an unknown flag exits 2 with a suggestion", async () => {
    const sb = box();
    const r = await runCli(sb, ["emit", "--nope"], { env: { AGTMUX_NO_AUTOSTART: "1" } });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("unknown flag --nope");
    expect(r.stderr).toMatch(/did you mean --[a-z-]+\?/);
    expect(r.stderr).toContain("E_USAGE");
    const typo = await runCli(sb, ["emit", "--tpye", "state.running"], { env: { AGTMUX_NO_AUTOSTART: "1" } });
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain("did you mean --type?");
    // nothing was queued
    expect(spoolFiles(sb)).toEqual([]);
  });
});
