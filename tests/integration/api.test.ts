import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { app } from "../helpers/app.ts";
import { type Harness, harness } from "../helpers/harness.ts";

let h: Harness | undefined;
const dirs: string[] = [];
afterEach(() => {
  h?.close();
  h = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function body(res: Response): Promise<Record<string, unknown>> {
  return (await res.json()) as Record<string, unknown>;
}

describe("API v1 (in-process)", () => {
  test("POST /v1/events answers per event and a summary", async () => {
    h = harness();
    const a = app(h);
    const rt = h.startRuntime("%1");
    const e = h.ev({ event_type: "state.running", runtime_id: rt });
    const res = await a.call("POST", "/v1/events", { events: [e, e] });
    expect(res.status).toBe(200);
    const b = await body(res);
    expect(b).toMatchObject({ schema_version: 1, summary: { applied: 1, duplicate: 1 } });
    expect(typeof b.generated_at).toBe("string");
  });

  test("the internal `daemon` source cannot be injected from outside", async () => {
    h = harness();
    const a = app(h);
    const res = await a.call("POST", "/v1/events", { events: [{ ...h.ev({ event_type: "demotion_due", target_id: "host", pane_id: "%1" }), source: "daemon" }] });
    expect(res.status).toBe(400);
    expect(await body(res)).toMatchObject({ error: { code: "E_BAD_REQUEST", details: { issues: [{ index: 0, path: "source" }] } } });
  });

  test("pathological payloads and impossible times are 400s, not internal errors", async () => {
    h = harness();
    const a = app(h);
    let deep: unknown = "leaf";
    for (let i = 0; i < 20_000; i++) deep = { d: deep };
    const r1 = await a.call("POST", "/v1/events", { events: [h.ev({ event_type: "state.running", target_id: "host", pane_id: "%1", raw_payload: deep })] });
    expect(r1.status).toBe(400);
    expect(await body(r1)).toMatchObject({ error: { code: "E_BAD_REQUEST", details: { issues: [{ path: "raw_payload" }] } } });
    const r2 = await a.call("POST", "/v1/events", [h.ev({ event_type: "state.running", target_id: "host", pane_id: "%1", event_time: "2024-02-30T10:00:00Z" })]);
    expect(await body(r2)).toMatchObject({ error: { code: "E_BAD_REQUEST", details: { issues: [{ path: "event_time" }] } } });
    const ok = await a.call("POST", "/v1/events", [h.ev({ event_type: "state.running", target_id: "host", pane_id: "%1", event_time: "2024-02-29T23:59:59.123+09:00" })]);
    expect(ok.status).toBe(200);
    expect((await a.call("HEAD", "/v1/health")).status).toBe(200);
  });

  test("a full disk fails the whole batch with E_STORE and writes nothing", async () => {
    const dir = mkdtempSync(join(process.env.AGTMUX_TEST_ROOT ?? "/tmp", "full-"));
    dirs.push(dir);
    h = harness({ path: join(dir, "agtmux.db") });
    const a = app(h);
    const rt = h.startRuntime("%1");
    const pages = h.store.db.query<{ page_count: number }, []>("PRAGMA page_count").get()?.page_count ?? 0;
    // SQLite reports SQLITE_FULL once the file may not grow: the same path a full disk takes
    h.store.db.run(`PRAGMA max_page_count = ${pages + 2}`);
    const big = "x".repeat(20_000);
    const events = Array.from({ length: 20 }, (_, i) => h?.ev({ event_type: "state.running", runtime_id: rt, raw_payload: { i, big } }));
    const before = h.store.countEvents();
    const res = await a.call("POST", "/v1/events", { events });
    expect(res.status).toBe(500);
    expect(await body(res)).toMatchObject({ error: { code: "E_STORE", details: { sqlite_code: "SQLITE_FULL" } } });
    expect(h.store.countEvents()).toBe(before);
    expect(h.store.getState("host", "%1")).toMatchObject({ state: "unknown", reason_code: "no_signal" });
    // once space is back, the same batch goes through
    h.store.db.run("PRAGMA max_page_count = 1073741823");
    expect((await a.call("POST", "/v1/events", { events })).status).toBe(200);
    expect(h.store.countEvents()).toBe(before + 20);
  });

  test("GET /v1/debug/events is off unless debug mode is on", async () => {
    h = harness();
    expect((await app(h).call("GET", "/v1/debug/events")).status).toBe(404);
    h.close();
    h = harness({ debug: true });
    const a = app(h);
    await a.call("POST", "/v1/events", { events: [h.ev({ event_type: "state.running", target_id: "host", pane_id: "%2", raw_payload: { k: "v" } })] });
    const b = await body(await a.call("GET", "/v1/debug/events"));
    expect((b.items as unknown[]).length).toBe(1);
    // and what the daemon's memory holds (no watch hub in this app: null)
    expect(b.memory).toMatchObject({ rss_mib: expect.any(Number), js_heap_live_mib: expect.any(Number), js_heap_total_mib: expect.any(Number), external_mib: expect.any(Number), watch_retained: null, debug_buffer_entries: 1 });
  });
});
