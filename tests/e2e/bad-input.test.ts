/**
 * Bad input against a running daemon, over its Unix socket with raw fetch:
 * every failure is the error envelope with the right status, nothing is half
 * written; and a corrupt or unusable database stops the daemon with a message
 * that names the file.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { isLocked } from "../../src/platform/lock.ts";
import { type DaemonProc, runCli, startDaemonProc } from "../helpers/binary.ts";
import { type Sandbox, sandbox } from "../helpers/sandbox.ts";
import { envelope, expectErrorEnvelope, inboxRow, killLockHolder, postJson, rawFetch, stopProc, storedIds, uid } from "./lib.ts";

const MAX_BODY_BYTES = 1024 * 1024;
const JSON_HEADERS = { "content-type": "application/json" };

interface Issue {
  index?: number;
  path: string;
  message: string;
}

function issuesOf(details: Record<string, unknown>): Issue[] {
  expect(Array.isArray(details.issues)).toBe(true);
  return details.issues as Issue[];
}

describe("API bad input", () => {
  let sb: Sandbox;
  let d: DaemonProc | undefined;

  beforeEach(async () => {
    sb = sandbox("bad");
    d = await startDaemonProc(sb);
  });

  afterEach(async () => {
    await stopProc(d);
    d = undefined;
    await killLockHolder(sb);
    sb.cleanup();
  });

  test("TC-018 malformed JSON, an empty body and non-object bodies are 400 E_BAD_REQUEST", async () => {
    const bad = await rawFetch(sb, "/v1/events", { method: "POST", headers: JSON_HEADERS, body: '{"events": [{"event_id": ' });
    expect(bad.status).toBe(400);
    const e = expectErrorEnvelope(bad.body, "E_BAD_REQUEST");
    expect(typeof e.details.parse_error).toBe("string");

    const empty = await rawFetch(sb, "/v1/events", { method: "POST", headers: JSON_HEADERS, body: "  \n" });
    expect(empty.status).toBe(400);
    expectErrorEnvelope(empty.body, "E_BAD_REQUEST");

    for (const body of ["42", "null", '"text"', "[]", '{"events": []}', '{"events": "nope"}']) {
      const r = await rawFetch(sb, "/v1/events", { method: "POST", headers: JSON_HEADERS, body });
      expect({ body, status: r.status }).toEqual({ body, status: 400 });
      expectErrorEnvelope(r.body, "E_BAD_REQUEST");
    }
    // the daemon is unharmed
    expect((await d?.client.health())?.status).toBe("ok");
  });

  test("TC-018 an unknown source is 400 with details.issues naming the source path, without echoing the value", async () => {
    for (const source of ["telepathy", "daemon", ""]) {
      const r = await postJson(sb, { events: [envelope({ source })] });
      expect(r.status).toBe(400);
      const e = expectErrorEnvelope(r.body, "E_BAD_REQUEST");
      const issues = issuesOf(e.details);
      expect(issues.some((i) => i.path === "source" && i.index === 0)).toBe(true);
      if (source !== "") expect(r.text).not.toContain(source === "daemon" ? '"daemon"' : source);
    }
  });

  test("TC-018 an empty or whitespace dedupe_key is 400", async () => {
    for (const dedupe_key of ["", " ", "   ", "\t\n "]) {
      const ev = envelope({ dedupe_key });
      const r = await postJson(sb, { events: [ev] });
      expect({ dedupe_key, status: r.status }).toEqual({ dedupe_key, status: 400 });
      const e = expectErrorEnvelope(r.body, "E_BAD_REQUEST");
      expect(issuesOf(e.details).some((i) => i.path === "dedupe_key")).toBe(true);
      expect(storedIds(sb.paths.db, [String(ev.event_id)]).size).toBe(0);
    }
  });

  test("TC-018 a body over 1 MiB is 413 E_PAYLOAD_TOO_LARGE, with or without a content-length", async () => {
    const big = { events: [envelope({ raw_payload: { text: "x".repeat(MAX_BODY_BYTES) } })] };
    const bigText = JSON.stringify(big);
    expect(bigText.length).toBeGreaterThan(MAX_BODY_BYTES);

    const declared = await rawFetch(sb, "/v1/events", { method: "POST", headers: JSON_HEADERS, body: bigText });
    expect(declared.status).toBe(413);
    expect(expectErrorEnvelope(declared.body, "E_PAYLOAD_TOO_LARGE").details.max_bytes).toBe(MAX_BODY_BYTES);

    // chunked (no content-length): the limit is enforced while reading
    const bytes = new TextEncoder().encode(bigText);
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < bytes.length; i += 64 * 1024) c.enqueue(bytes.subarray(i, i + 64 * 1024));
        c.close();
      },
    });
    const chunked = await rawFetch(sb, "/v1/events", { method: "POST", headers: JSON_HEADERS, body: stream });
    expect(chunked.status).toBe(413);
    expectErrorEnvelope(chunked.body, "E_PAYLOAD_TOO_LARGE");

    const id = String(big.events[0]?.event_id);
    expect(storedIds(sb.paths.db, [id]).size).toBe(0);
    // just under the limit is fine
    const ok = envelope({ raw_payload: { text: "y".repeat(MAX_BODY_BYTES - 2_000) } });
    const r = await postJson(sb, { events: [ok] });
    expect(r.status).toBe(200);
    expect(storedIds(sb.paths.db, [String(ok.event_id)]).size).toBe(1);
  });

  test("TC-018 a wrong or missing content type is 415 E_UNSUPPORTED_MEDIA_TYPE", async () => {
    const body = JSON.stringify({ events: [envelope()] });
    for (const headers of [{ "content-type": "text/plain" }, { "content-type": "application/x-www-form-urlencoded" }, { "content-type": "application/jsonp" }]) {
      const r = await rawFetch(sb, "/v1/events", { method: "POST", headers, body });
      expect({ ct: headers["content-type"], status: r.status }).toEqual({ ct: headers["content-type"], status: 415 });
      expectErrorEnvelope(r.body, "E_UNSUPPORTED_MEDIA_TYPE");
    }
    const none = await rawFetch(sb, "/v1/events", { method: "POST", body: new Blob([body]) });
    expect(none.status).toBe(415);
    expectErrorEnvelope(none.body, "E_UNSUPPORTED_MEDIA_TYPE");
    // with parameters it is still JSON
    const withCharset = await rawFetch(sb, "/v1/events", { method: "POST", headers: { "content-type": "application/json; charset=utf-8" }, body });
    expect(withCharset.status).toBe(200);
  });

  test("TC-018 an unknown route is 404 E_NOT_FOUND", async () => {
    for (const [method, path] of [
      ["GET", "/v1/nope"],
      ["GET", "/"],
      ["POST", "/v2/events"],
      ["GET", "/v1/health/extra"],
      ["GET", "/v1/debug/events"], // debug mode is off
    ] as const) {
      const r = await rawFetch(sb, path, method === "POST" ? { method, headers: JSON_HEADERS, body: "{}" } : { method });
      expect({ method, path, status: r.status }).toEqual({ method, path, status: 404 });
      expectErrorEnvelope(r.body, "E_NOT_FOUND");
    }
  });

  test("TC-018 a wrong method is 405 E_METHOD_NOT_ALLOWED with an Allow header", async () => {
    for (const [method, path, allow] of [
      ["GET", "/v1/events", "POST"],
      ["PUT", "/v1/events", "POST"],
      ["POST", "/v1/health", "GET"],
      ["DELETE", "/v1/health", "GET"],
    ] as const) {
      const r = await rawFetch(sb, path, method === "GET" ? { method } : { method, headers: JSON_HEADERS, body: "{}" });
      expect({ method, path, status: r.status }).toEqual({ method, path, status: 405 });
      expect(r.headers.get("allow")).toBe(allow);
      expect(expectErrorEnvelope(r.body, "E_METHOD_NOT_ALLOWED").details.allow).toEqual([allow]);
    }
  });

  test("TC-018 an {events} batch over 1000 events is 400 and nothing is written", async () => {
    const many = Array.from({ length: 1001 }, () => envelope());
    const r = await postJson(sb, { events: many });
    expect(r.status).toBe(400);
    const e = expectErrorEnvelope(r.body, "E_BAD_REQUEST");
    expect(issuesOf(e.details).some((i) => i.path === "events")).toBe(true);
    expect(storedIds(sb.paths.db, many.map((ev) => String(ev.event_id))).size).toBe(0);
  });

  test("TC-018 a bare-array batch over 1000 events is 400 as well (batch cap applies to both forms)", async () => {
    const many = Array.from({ length: 1001 }, () => envelope());
    const r = await postJson(sb, many);
    expect(r.status).toBe(400);
    expectErrorEnvelope(r.body, "E_BAD_REQUEST");
    expect(storedIds(sb.paths.db, many.map((ev) => String(ev.event_id))).size).toBe(0);
  });

  test("TC-018 one invalid event in a batch rejects the whole batch: 400 and nothing written", async () => {
    const valid = [envelope({ pane_id: "%2" }), envelope({ pane_id: "%3" }), envelope({ pane_id: "%4" }), envelope({ pane_id: "%5" })];
    const invalid = envelope({ pane_id: "not-a-pane" });
    const batch = [valid[0], valid[1], invalid, valid[2], valid[3]];
    const r = await postJson(sb, { events: batch });
    expect(r.status).toBe(400);
    const e = expectErrorEnvelope(r.body, "E_BAD_REQUEST");
    const issues = issuesOf(e.details);
    expect(issues.length).toBeGreaterThan(0);
    expect(issues.every((i) => i.index === 2)).toBe(true);
    expect(issues.some((i) => i.path === "pane_id")).toBe(true);
    const ids = batch.map((ev) => String(ev?.event_id));
    expect([...storedIds(sb.paths.db, ids)]).toEqual([]);

    // the same as a bare array
    const bare = await postJson(sb, batch);
    expect(bare.status).toBe(400);
    expectErrorEnvelope(bare.body, "E_BAD_REQUEST");
    expect([...storedIds(sb.paths.db, ids)]).toEqual([]);

    // control: without the bad one, all of them are stored
    const ok = await postJson(sb, { events: valid });
    expect(ok.status).toBe(200);
    expect((ok.body as { results: Array<{ status: string }> }).results.map((x) => x.status)).toEqual(Array(4).fill("pending_bind"));
    expect(storedIds(sb.paths.db, ids).size).toBe(4);
  });

  test("TC-024 odd strings (unicode, /, %, spaces) in event fields and payload are accepted and round-trip", async () => {
    const odd = "sess/ü name %41 with spaces 🚀 日本語";
    const ev = envelope({
      event_id: `ev/ü %2F 🚀 ${uid("odd")}`,
      event_type: "claude.Pre Tool/Use %41 ünï 🚀",
      dedupe_key: `dk / % ü ${uid("dk")}`,
      source_event_id: "src id/%/ü",
      raw_payload: { session_name: odd, window: "win/%1 ü", text: "50% done / ok", nested: [odd, { "k/ %": "v/ %" }] },
    });
    const r = await postJson(sb, { events: [ev] });
    expect(r.status).toBe(200);
    const res = r.body as { results: Array<{ event_id: string; status: string }> };
    expect(res.results).toEqual([{ event_id: String(ev.event_id), status: "pending_bind" }]);

    const row = inboxRow(sb.paths.db, String(ev.event_id));
    expect(row).not.toBeNull();
    const stored = JSON.parse(row?.envelope ?? "{}") as Record<string, unknown>;
    for (const k of ["event_id", "event_type", "dedupe_key", "source_event_id", "pane_id", "target_id"]) {
      expect({ k, v: stored[k] }).toEqual({ k, v: ev[k] });
    }
    expect(stored.raw_payload).toEqual(ev.raw_payload);

    // the stored dedupe key matches exactly: a retry is a duplicate, not a new row
    const again = await postJson(sb, { events: [{ ...ev, event_id: uid("retry") }] });
    expect((again.body as { results: Array<{ status: string }> }).results[0]?.status).toBe("duplicate");
  });
});

describe("unusable database", () => {
  let sb: Sandbox;
  afterEach(async () => {
    await killLockHolder(sb);
    sb.cleanup();
  });

  test("a corrupt DB file: agtmux daemon exits non-zero, names the file, says to move it aside, and leaves it untouched", async () => {
    sb = sandbox("corrupt");
    mkdirSync(sb.paths.home, { recursive: true, mode: 0o700 });
    const garbage = Buffer.alloc(16 * 1024);
    for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 131 + 17) & 0xff;
    writeFileSync(sb.paths.db, garbage);

    const r = await runCli(sb, ["daemon"], { timeoutMs: 10_000 });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(sb.paths.db);
    expect(r.stderr).toMatch(/move it aside/i);
    expect(r.stderr).toContain("E_STORE");
    expect(Buffer.compare(readFileSync(sb.paths.db), garbage)).toBe(0);
    expect(existsSync(sb.paths.socket)).toBe(false);
    expect(isLocked(sb.paths.lock).locked).toBe(false);

    // following the advice works: a fresh database is created
    renameSync(sb.paths.db, `${sb.paths.db}.corrupt`);
    const d = await startDaemonProc(sb);
    try {
      expect(d.health.db.path).toBe(sb.paths.db);
    } finally {
      await stopProc(d);
    }
  });

  test("daemon start with a corrupt DB exits 3 and surfaces the reason from the daemon's log", async () => {
    sb = sandbox("corrupt2");
    mkdirSync(sb.paths.home, { recursive: true, mode: 0o700 });
    writeFileSync(sb.paths.db, "definitely not an SQLite database\n".repeat(200));
    const r = await runCli(sb, ["daemon", "start"]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("the daemon did not start");
    expect(r.stderr).toContain(sb.paths.db);
    expect(r.stderr).toMatch(/move it aside/i);
    expect(isLocked(sb.paths.lock).locked).toBe(false);
  });

  test("a DB path that is a directory: agtmux daemon exits non-zero naming the path", async () => {
    sb = sandbox("dbdir");
    mkdirSync(sb.paths.db, { recursive: true, mode: 0o700 });
    const r = await runCli(sb, ["daemon"], { timeoutMs: 10_000 });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(sb.paths.db);
    expect(r.stderr).toContain("E_STORE");
    expect(existsSync(sb.paths.socket)).toBe(false);
    expect(isLocked(sb.paths.lock).locked).toBe(false);
  });
});
