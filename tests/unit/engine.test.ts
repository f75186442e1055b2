import { describe, expect, test } from "bun:test";
import { DEFAULT_ENGINE, type EngineConfig } from "../../src/domain/config.ts";
import {
  type OrderKey,
  type SourceCursor,
  applyToCursor,
  compareKeys,
  effectiveEventTime,
  nextDeadline,
  nextStateRow,
  orderKey,
  resolve,
} from "../../src/domain/engine.ts";
import type { ExternalSource, State, Transition } from "../../src/domain/model.ts";

const cfg: EngineConfig = DEFAULT_ENGINE;
const T0 = Date.parse("2026-11-24T10:00:00Z");

function st(state: State, confidence: "high" | "medium" | "low" = "high"): Transition {
  return { kind: "state", state, confidence };
}
function key(p: Partial<OrderKey> & { eventId: string }): OrderKey {
  return { seq: null, eff: T0, ingestedAt: T0, ...p };
}
function cursorWith(source: ExternalSource, state: State, at: number, confidence: "high" | "medium" | "low" = "high"): SourceCursor {
  return applyToCursor(undefined, { source, key: key({ eventId: `${source}-${at}`, eff: at, ingestedAt: at }), transition: st(state, confidence) }).cursor;
}

describe("ordering (contracts §3)", () => {
  test("effective_event_time uses event_time within the skew budget, else ingested_at", () => {
    expect(effectiveEventTime(T0 - 9_000, T0, 10_000)).toBe(T0 - 9_000);
    expect(effectiveEventTime(T0 - 10_001, T0, 10_000)).toBe(T0);
    expect(effectiveEventTime(T0 + 60_000, T0, 10_000)).toBe(T0);
    expect(effectiveEventTime(null, T0, 10_000)).toBe(T0);
  });

  test("source_seq dominates time; missing seq sorts first; ties break on ingested_at then event_id", () => {
    const a = key({ eventId: "a", seq: 2, eff: T0 });
    const b = key({ eventId: "b", seq: 3, eff: T0 - 5_000 });
    expect(compareKeys(a, b)).toBeLessThan(0);
    expect(compareKeys(key({ eventId: "z" }), key({ eventId: "a", seq: 0 }))).toBeLessThan(0);
    expect(compareKeys(key({ eventId: "a", ingestedAt: T0 + 1 }), key({ eventId: "b", ingestedAt: T0 }))).toBeGreaterThan(0);
    expect(compareKeys(key({ eventId: "a" }), key({ eventId: "b" }))).toBeLessThan(0);
    expect(compareKeys(key({ eventId: "a" }), key({ eventId: "a" }))).toBe(0);
  });

  test("orderKey applies the skew budget", () => {
    const k = orderKey({ eventTimeMs: T0 - 60_000, ingestedAt: T0, eventId: "x" }, cfg);
    expect(k.eff).toBe(T0);
  });
});

describe("cursor apply", () => {
  test("TC-007 an older or equal key never overwrites the candidate", () => {
    const first = applyToCursor(undefined, { source: "hook", key: key({ eventId: "b", eff: T0 + 10 }), transition: st("running") });
    expect(first.status).toBe("applied");
    const older = applyToCursor(first.cursor, { source: "hook", key: key({ eventId: "a", eff: T0 }), transition: st("error") });
    expect(older.status).toBe("stale_order");
    expect(older.cursor.cand?.state).toBe("running");
    const same = applyToCursor(first.cursor, { source: "hook", key: key({ eventId: "b", eff: T0 + 10 }), transition: st("error") });
    expect(same.status).toBe("stale_order");
    expect(same.cursor.cand?.state).toBe("running");
  });

  test("heartbeats refresh freshness only and never block an older state event", () => {
    const hb = applyToCursor(undefined, { source: "poller", key: key({ eventId: "h", eff: T0 + 100, ingestedAt: T0 + 100 }), transition: { kind: "heartbeat" } });
    expect(hb.status).toBe("heartbeat");
    expect(hb.cursor.cand).toBeNull();
    const s = applyToCursor(hb.cursor, { source: "poller", key: key({ eventId: "s", eff: T0 }), transition: st("running", "low") });
    expect(s.status).toBe("applied");
    expect(s.cursor.lastSeenAt).toBe(T0 + 100);
  });
});

describe("resolve (contracts §2)", () => {
  test("precedence among fresh candidates: error > waiting_approval > waiting_input > running > completed > idle", () => {
    const order: State[] = ["idle", "completed", "running", "waiting_input", "waiting_approval", "error"];
    const sources: ExternalSource[] = ["hook", "notify", "wrapper"];
    for (let i = 0; i < order.length; i++) {
      for (let j = 0; j < order.length; j++) {
        const curs = [cursorWith(sources[0] as ExternalSource, order[i] as State, T0), cursorWith(sources[1] as ExternalSource, order[j] as State, T0)];
        const r = resolve(curs, "ok", T0 + 1, cfg);
        expect(r.state).toBe(order[Math.max(i, j)] as State);
      }
    }
  });

  test("no candidates -> unknown/no_signal; target down -> unknown/target_unreachable", () => {
    expect(resolve([], "ok", T0, cfg)).toMatchObject({ state: "unknown", reasonCode: "no_signal" });
    expect(resolve([cursorWith("hook", "waiting_approval", T0)], "down", T0, cfg)).toMatchObject({
      state: "unknown",
      reasonCode: "target_unreachable",
      confidence: "low",
    });
    expect(resolve([cursorWith("hook", "running", T0)], "degraded", T0, cfg).state).toBe("running");
  });

  test("TC-010 stale signals never show as a confident active state", () => {
    const poll = cursorWith("poller", "running", T0, "low");
    expect(resolve([poll], "ok", T0 + 15_000, cfg).state).toBe("running");
    expect(resolve([poll], "ok", T0 + 15_001, cfg)).toMatchObject({ state: "unknown", reasonCode: "stale_signal" });
    const hook = cursorWith("hook", "running", T0);
    expect(resolve([hook], "ok", T0 + 30 * 60_000 + 1, cfg)).toMatchObject({ state: "unknown", reasonCode: "stale_signal" });
    // a human-wait state from a native event source holds: nothing is emitted until the human acts
    expect(resolve([cursorWith("hook", "waiting_approval", T0)], "ok", T0 + 6 * 3_600_000, cfg).state).toBe("waiting_approval");
    // but the pane-text fallback never holds on its own
    expect(resolve([cursorWith("poller", "waiting_approval", T0, "low")], "ok", T0 + 16_000, cfg).state).toBe("unknown");
  });

  test("completed demotes to idle after 120 s timed by ingested_at", () => {
    const c = cursorWith("hook", "completed", T0);
    expect(resolve([c], "ok", T0 + 119_999, cfg).state).toBe("completed");
    expect(resolve([c], "ok", T0 + 120_000, cfg)).toMatchObject({ state: "idle", confidence: "high" });
    expect(nextDeadline([c], T0 + 1, cfg)).toBe(T0 + 120_000);
    expect(nextDeadline([c], T0 + 120_000, cfg)).toBeNull();
  });

  test("a fresh high-confidence signal outranks a low-confidence pane-text guess", () => {
    const hook = cursorWith("hook", "completed", T0);
    const poll = cursorWith("poller", "waiting_approval", T0, "low");
    expect(resolve([hook, poll], "ok", T0 + 1, cfg)).toMatchObject({ state: "completed", source: "hook" });
    // once the native signal is stale, the fallback is used (with its low confidence)
    const staleHook = cursorWith("hook", "running", T0 - 31 * 60_000);
    expect(resolve([staleHook, poll], "ok", T0 + 1, cfg)).toMatchObject({ state: "waiting_approval", confidence: "low" });
  });

  test("unsupported signals degrade to unknown, never an invented state", () => {
    const c = applyToCursor(undefined, {
      source: "hook",
      key: key({ eventId: "u" }),
      transition: { kind: "state", state: "unknown", confidence: "high", reason_code: "unsupported_signal" },
    }).cursor;
    expect(resolve([c], "ok", T0, cfg)).toMatchObject({ state: "unknown", reasonCode: "unsupported_signal" });
  });

  test("state_version moves only when what an operator sees changes", () => {
    const at = { target_id: "host", pane_id: "%1", runtime_id: "rt-xxxxxxxxxxxxxxxxxxxx" };
    const a = nextStateRow(undefined, at, { state: "running", reasonCode: null, confidence: "high", source: "hook" }, T0, T0);
    expect(a.row.state_version).toBe(1);
    const b = nextStateRow(a.row, at, { state: "running", reasonCode: null, confidence: "high", source: "hook" }, T0 + 5, T0 + 5);
    expect(b.changed).toBe(false);
    expect(b.row.state_version).toBe(1);
    expect(b.row.last_seen_at).toBe(T0 + 5);
    const c = nextStateRow(b.row, at, { state: "waiting_input", reasonCode: null, confidence: "high", source: "hook" }, T0 + 6, T0 + 6);
    expect(c.row.state_version).toBe(2);
    expect(c.row.updated_at).toBe(T0 + 6);
  });
});
