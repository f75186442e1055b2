import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { runRetention } from "../../src/daemon/retention.ts";
import { type Harness, harness, T0 } from "../helpers/harness.ts";

let h: Harness | undefined;
afterEach(() => {
  h?.close();
  h = undefined;
});
const stateOf = (hh: Harness, pane: string) => hh.store.getState("host", pane);

describe("ingestion path", () => {
  test("a new runtime with no signal yet is unknown/no_signal; a hook makes it running", () => {
    h = harness();
    const rt = h.startRuntime("%1");
    expect(stateOf(h, "%1")).toMatchObject({ state: "unknown", reason_code: "no_signal", runtime_id: rt, state_version: 1 });
    const [r] = h.ingestor.ingest([{ envelope: h.ev({ event_type: "state.running", runtime_id: rt }) }]);
    expect(r).toMatchObject({ status: "applied", runtime_id: rt });
    expect(stateOf(h, "%1")).toMatchObject({ state: "running", confidence: "high", state_source: "hook", state_version: 2 });
  });

  test("TC-007 a duplicate submission applies once (same batch, later batch, retry with a new event_id)", () => {
    h = harness();
    const rt = h.startRuntime("%1");
    const e = h.ev({ event_type: "state.waiting_approval", runtime_id: rt });
    const res = h.ingestor.ingest([{ envelope: e }, { envelope: e }]);
    expect(res.map((r) => r.status)).toEqual(["applied", "duplicate"]);
    const v1 = stateOf(h, "%1")?.state_version;
    expect(h.ingestor.ingest([{ envelope: e }])[0]?.status).toBe("duplicate");
    expect(h.ingestor.ingest([{ envelope: { ...e, event_id: "retry-1" } }])[0]?.status).toBe("duplicate");
    // the same event again but unbound (target+pane) is still recognised
    const { runtime_id: _r, ...unbound } = e;
    expect(h.ingestor.ingest([{ envelope: { ...unbound, event_id: "retry-2", target_id: "host", pane_id: "%1" } }])[0]?.status).toBe("duplicate");
    expect(h.store.countEvents()).toBe(1);
    expect(stateOf(h, "%1")?.state_version).toBe(v1 as number);
  });

  test("TC-004 events naming an ended or unknown runtime are refused with E_RUNTIME_STALE", () => {
    h = harness();
    const old = h.startRuntime("%1", { pid: 10 });
    const fresh = h.startRuntime("%1", { pid: 11 }); // pid change: rollover
    expect(fresh).not.toBe(old);
    expect(h.store.getRuntime(old)?.ended_at).not.toBeNull();
    expect(h.store.getRuntime(fresh)?.pane_epoch).toBe(1);
    const [r] = h.ingestor.ingest([{ envelope: h.ev({ event_type: "state.running", runtime_id: old }) }]);
    expect(r).toMatchObject({ status: "rejected", error: { code: "E_RUNTIME_STALE" } });
    const [u] = h.ingestor.ingest([{ envelope: h.ev({ event_type: "state.running", runtime_id: "rt-does-not-exist-0000" }) }]);
    expect(u?.error?.code).toBe("E_RUNTIME_STALE");
    // the new runtime's state is untouched by the refused events
    expect(stateOf(h, "%1")).toMatchObject({ runtime_id: fresh, state: "unknown", reason_code: "no_signal" });
    // a runtime_id that belongs to another pane is refused too
    const [m] = h.ingestor.ingest([{ envelope: h.ev({ event_type: "state.running", runtime_id: fresh, target_id: "host", pane_id: "%2" }) }]);
    expect(m?.error?.code).toBe("E_PRECONDITION_FAILED");
  });

  test("TC-008 a pending event binds when its runtime appears, and only then changes state", () => {
    h = harness();
    const e = h.ev({ event_type: "state.waiting_input", target_id: "host", pane_id: "%5", pid: 4242 });
    expect(h.ingestor.ingest([{ envelope: e }])[0]?.status).toBe("pending_bind");
    expect(h.store.getInbox(e.event_id)?.status).toBe("pending_bind");
    expect(stateOf(h, "%5")).toBeNull();
    h.clock.advance(300);
    const rt = h.startRuntime("%5", { pid: 4242, startedAt: T0 - 5_000 });
    expect(h.store.getInbox(e.event_id)).toMatchObject({ status: "bound", runtime_id: rt });
    expect(stateOf(h, "%5")).toMatchObject({ state: "waiting_input", runtime_id: rt });
    // and binds at once when the runtime already exists
    const e2 = h.ev({ event_type: "state.running", target_id: "host", pane_id: "%5", pid: 4242 });
    expect(h.ingestor.ingest([{ envelope: e2 }])[0]).toMatchObject({ status: "applied", runtime_id: rt });
  });

  test("TC-009 unbindable events end dropped_unbound with the reason", () => {
    h = harness();
    // no candidate: a conclusive topology scan after the event shows no matching pid
    h.startRuntime("%1", { pid: 100 });
    const wrongPid = h.ev({ event_type: "state.running", target_id: "host", pane_id: "%1", pid: 999 });
    expect(h.ingestor.ingest([{ envelope: wrongPid }])[0]?.status).toBe("pending_bind");
    h.clock.advance(1_500);
    h.store.setTopologyObserved("host", h.clock.nowMs);
    h.ingestor.reconcile();
    expect(h.store.getInbox(wrongPid.event_id)).toMatchObject({ status: "dropped_unbound", reason_code: "bind_no_candidate" });

    // ambiguous: the agent in %2 was replaced just now and the event has no pid to tell them apart
    h.startRuntime("%2", { pid: 200, startedAt: h.clock.nowMs - 60_000 });
    h.clock.advance(1_000);
    h.startRuntime("%2", { pid: 201, startedAt: h.clock.nowMs - 200 });
    const noHint = h.ev({ event_type: "state.running", target_id: "host", pane_id: "%2" });
    expect(h.ingestor.ingest([{ envelope: noHint }])[0]).toMatchObject({ status: "dropped_unbound", reason_code: "bind_ambiguous" });

    // ttl: nothing ever shows up in %9
    const lonely = h.ev({ event_type: "state.running", target_id: "host", pane_id: "%9" });
    expect(h.ingestor.ingest([{ envelope: lonely }])[0]?.status).toBe("pending_bind");
    h.clock.advance(29_000);
    h.ingestor.reconcile();
    expect(h.store.getInbox(lonely.event_id)?.status).toBe("pending_bind");
    h.clock.advance(1_000);
    expect(h.ingestor.reconcile().dropped).toBe(1);
    expect(h.store.getInbox(lonely.event_id)).toMatchObject({ status: "dropped_unbound", reason_code: "bind_ttl_expired" });
    // dropped events never changed any state
    expect(stateOf(h, "%9")).toBeNull();
    expect(stateOf(h, "%1")).toMatchObject({ state: "unknown", reason_code: "no_signal" });
  });

  test("TC-010 target down short-circuits to unknown/target_unreachable, and recovers", () => {
    h = harness();
    const rt = h.startRuntime("%1");
    h.ingestor.ingest([{ envelope: h.ev({ event_type: "state.waiting_approval", runtime_id: rt }) }]);
    h.ingestor.ingestSynthetic([{ type: "target_health_changed", target_id: "host", health: "down" }]);
    expect(stateOf(h, "%1")).toMatchObject({ state: "unknown", reason_code: "target_unreachable", confidence: "low" });
    // a repeated report is a no-op (guarded), recorded as ignored
    expect(h.ingestor.ingestSynthetic([{ type: "target_health_changed", target_id: "host", health: "down" }])[0]?.status).toBe("ignored");
    h.ingestor.ingestSynthetic([{ type: "target_health_changed", target_id: "host", health: "ok" }]);
    expect(stateOf(h, "%1")).toMatchObject({ state: "waiting_approval", confidence: "high" });
  });

  test("TC-010 stale signals become unknown/stale_signal through the reconciler's synthetic event", () => {
    h = harness();
    const rt = h.startRuntime("%1");
    h.ingestor.ingest([{ envelope: h.ev({ event_type: "state.running", runtime_id: rt, source: "poller" }) }]);
    expect(stateOf(h, "%1")).toMatchObject({ state: "running", confidence: "low", next_check_at: T0 + 15_001 });
    h.clock.advance(15_000);
    expect(h.ingestor.reconcile().synthetic).toBe(0);
    h.clock.advance(1);
    expect(h.ingestor.reconcile().synthetic).toBe(1);
    expect(stateOf(h, "%1")).toMatchObject({ state: "unknown", reason_code: "stale_signal", next_check_at: null });
    const syn = h.store.db.query<{ event_type: string; outcome: string }, []>("SELECT event_type, outcome FROM events WHERE source = 'daemon'").all();
    expect(syn).toEqual([{ event_type: "stale_detected", outcome: "applied" }]);
    // a fresh signal brings it back
    h.ingestor.ingest([{ envelope: h.ev({ event_type: "state.waiting_input", runtime_id: rt, source: "poller" }) }]);
    expect(stateOf(h, "%1")?.state).toBe("waiting_input");
  });

  test("completed demotes to idle after 120 s via demotion_due, guarded by runtime and version", () => {
    h = harness();
    const rt = h.startRuntime("%1");
    h.ingestor.ingest([{ envelope: h.ev({ event_type: "state.completed", runtime_id: rt }) }]);
    const s = stateOf(h, "%1");
    expect(s).toMatchObject({ state: "completed", next_check_at: T0 + 120_000 });
    // a demotion for a version that is no longer current is ignored
    expect(
      h.ingestor.ingestSynthetic([{ type: "demotion_due", target_id: "host", pane_id: "%1", runtime_id: rt, expect_state_version: (s?.state_version ?? 0) - 1 }])[0]
        ?.status,
    ).toBe("ignored");
    h.clock.advance(119_999);
    h.ingestor.reconcile();
    expect(stateOf(h, "%1")?.state).toBe("completed");
    h.clock.advance(1);
    h.ingestor.reconcile();
    expect(stateOf(h, "%1")).toMatchObject({ state: "idle", confidence: "high", next_check_at: null });
    const syn = h.store.db.query<{ event_type: string }, []>("SELECT event_type FROM events WHERE source = 'daemon'").all();
    expect(syn.map((x) => x.event_type)).toEqual(["demotion_due", "demotion_due"]);
  });

  test("a runtime that ends takes its pane's agent state with it", () => {
    h = harness();
    const rt = h.startRuntime("%1");
    h.ingestor.ingest([{ envelope: h.ev({ event_type: "state.running", runtime_id: rt }) }]);
    const changes: Array<{ pane_id: string; after: unknown }> = [];
    h.ingestor.onCommit((c) => changes.push(...c));
    h.endRuntime("%1");
    expect(stateOf(h, "%1")).toBeNull();
    expect(changes).toEqual([expect.objectContaining({ pane_id: "%1", after: null })]);
  });
});

describe("data protection", () => {
  const SECRET = "sk-ant-api03-Zq8vN3xLp0Rt7YwK2mHc9JdF4sGb6AeUo1iTnVzQyXr5PlMkWj8hCuEgDa0BfS-3KqLpAA";
  const AWS = "AKIAIOSFODNN7EXAMPLE";
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  function fileHarness(debug: boolean): { hh: Harness; dir: string } {
    const dir = mkdtempSync(join(process.env.AGTMUX_TEST_ROOT ?? "/tmp", "dp-"));
    dirs.push(dir);
    return { hh: harness({ path: join(dir, "agtmux.db"), debug }), dir };
  }
  const allBytes = (dir: string): string =>
    readdirSync(dir)
      .map((f) => readFileSync(join(dir, f)).toString("latin1"))
      .join("\n");
  const secretPayload = {
    hook_event_name: "PreToolUse",
    tool_input: { command: `curl -H 'Authorization: Bearer ${SECRET}' https://user:hunter2pass@example.com/x`, env: { AWS_ACCESS_KEY_ID: AWS } },
    api_key: SECRET,
  };

  test("TC-011 a secret-like payload is stored redacted (bound events and the pending-bind inbox)", () => {
    const { hh, dir } = fileHarness(false);
    h = hh;
    const rt = hh.startRuntime("%1");
    hh.ingestor.ingest([
      { envelope: hh.ev({ event_type: "claude.PreToolUse", runtime_id: rt, raw_payload: secretPayload }) },
      { envelope: hh.ev({ event_type: "claude.PreToolUse", target_id: "host", pane_id: "%7", raw_payload: secretPayload }) },
    ]);
    const stored = hh.store.db.query<{ raw_payload: string }, []>("SELECT raw_payload FROM events WHERE raw_payload IS NOT NULL").all();
    expect(stored).toHaveLength(1);
    const row = JSON.parse(stored[0]?.raw_payload ?? "{}") as { tool_input: { command: string }; hook_event_name: string };
    expect(row.hook_event_name).toBe("PreToolUse"); // useful fields are kept
    expect(row.tool_input.command).toContain("curl");
    expect(row.tool_input.command).toContain("example.com");
    hh.store.db.run("PRAGMA wal_checkpoint(TRUNCATE)");
    const bytes = allBytes(dir);
    for (const s of [SECRET, AWS, "hunter2pass"]) expect(bytes.includes(s)).toBe(false);
  });

  test("TC-050 debug mode keeps the unredacted payload in memory only, never in SQLite", () => {
    const { hh, dir } = fileHarness(true);
    h = hh;
    const rt = hh.startRuntime("%1");
    const e = hh.ev({ event_type: "claude.PreToolUse", runtime_id: rt, raw_payload: secretPayload });
    hh.ingestor.ingest([{ envelope: e }]);
    const mem = hh.debug.list(hh.clock.nowMs);
    expect(JSON.stringify(mem)).toContain(SECRET); // debug really holds the raw payload...
    const bytes = allBytes(dir); // ...while the DB and its WAL never do
    expect(bytes.length).toBeGreaterThan(0);
    for (const s of [SECRET, AWS, "hunter2pass"]) expect(bytes.includes(s)).toBe(false);
    // at most 24 h
    expect(hh.debug.list(hh.clock.nowMs + 24 * 3_600_000)).toEqual([]);
  });

  test("TC-012 retention clears payloads after 7 days and deletes event rows after 14, the rest intact", () => {
    h = harness();
    const rt = h.startRuntime("%1");
    const DAY = 86_400_000;
    const at = (daysAgo: number) => ({ queuedAt: T0 + 20 * DAY - daysAgo * DAY });
    h.clock.nowMs = T0 + 20 * DAY;
    const mk = (id: string) => h?.ev({ event_id: id, event_type: "heartbeat", runtime_id: rt, raw_payload: { id } }) as never;
    h.ingestor.ingest([
      { envelope: mk("old-15d"), ...at(15) },
      { envelope: mk("mid-10d"), ...at(10) },
      { envelope: mk("new-1d"), ...at(1) },
      { envelope: mk("new-now"), ...at(0) },
    ]);
    const counts = runRetention(h.store, h.config.retention, h.clock.nowMs);
    expect(counts).toMatchObject({ events_deleted: 1, payloads_cleared: 1 });
    const rows = h.store.db
      .query<{ event_id: string; raw_payload: string | null }, []>("SELECT event_id, raw_payload FROM events WHERE source <> 'daemon' ORDER BY ingested_at")
      .all();
    expect(rows).toEqual([
      { event_id: "mid-10d", raw_payload: null },
      { event_id: "new-1d", raw_payload: '{"id":"new-1d"}' },
      { event_id: "new-now", raw_payload: '{"id":"new-now"}' },
    ]);
    // idempotent
    expect(runRetention(h.store, h.config.retention, h.clock.nowMs)).toEqual({ events_deleted: 0, payloads_cleared: 0, inbox_deleted: 0 });
  });
});
