import { describe, expect, test } from "bun:test";
import { type BindRuntime, resolveBind } from "../../src/domain/bind.ts";
import { DEFAULT_ENGINE } from "../../src/domain/config.ts";
import { type ActiveRuntime, type PaneObservation, computeRuntimeId, decideRuntime } from "../../src/domain/runtime.ts";

const T0 = Date.parse("2026-11-24T10:00:00Z");
const rt = (id: string, pid: number | null, started: number, ended: number | null = null): BindRuntime => ({
  runtime_id: id,
  pid,
  started_at: started,
  ended_at: ended,
});
const pending = (p: Partial<{ pid: number | null; start_hint: number | null; ingested_at: number; effective_time: number }> = {}) => ({
  pid: null,
  start_hint: null,
  ingested_at: T0,
  effective_time: T0,
  ...p,
});

describe("pending bind (contracts §3)", () => {
  test("TC-008 binds when exactly one active runtime matches every hint", () => {
    const rts = [rt("rt-aaaaaaaaaaaaaaaaaa", 100, T0 - 60_000)];
    expect(resolveBind(pending({ pid: 100 }), rts, null, T0, DEFAULT_ENGINE)).toEqual({ kind: "bind", runtime_id: "rt-aaaaaaaaaaaaaaaaaa" });
    expect(resolveBind(pending({ start_hint: T0 - 57_000 }), rts, null, T0, DEFAULT_ENGINE)).toEqual({ kind: "bind", runtime_id: "rt-aaaaaaaaaaaaaaaaaa" });
    expect(resolveBind(pending(), rts, null, T0, DEFAULT_ENGINE).kind).toBe("bind");
  });

  test("TC-009 bind_no_candidate: hints match nothing and a later scan confirms it", () => {
    const rts = [rt("rt-aaaaaaaaaaaaaaaaaa", 100, T0 - 60_000)];
    // before any conclusive scan: wait
    expect(resolveBind(pending({ pid: 999 }), rts, null, T0 + 1_000, DEFAULT_ENGINE)).toEqual({ kind: "wait" });
    expect(resolveBind(pending({ pid: 999 }), rts, T0 + 500, T0 + 1_000, DEFAULT_ENGINE)).toEqual({ kind: "wait" });
    expect(resolveBind(pending({ pid: 999 }), rts, T0 + 1_000, T0 + 1_000, DEFAULT_ENGINE)).toEqual({ kind: "drop", reason: "bind_no_candidate" });
    // start_hint more than 5 s off
    expect(resolveBind(pending({ start_hint: T0 - 50_000 }), rts, T0 + 2_000, T0 + 2_000, DEFAULT_ENGINE)).toEqual({
      kind: "drop",
      reason: "bind_no_candidate",
    });
    // the only match has ended: no *active* runtime matches
    const ended = [rt("rt-bbbbbbbbbbbbbbbbbb", 100, T0 - 60_000, T0 + 1_000)];
    expect(resolveBind(pending({ pid: 100 }), ended, null, T0 + 2_000, DEFAULT_ENGINE)).toEqual({ kind: "drop", reason: "bind_no_candidate" });
  });

  test("TC-009 bind_ambiguous: a runtime switch inside the tolerance and no pid to tell them apart", () => {
    const rts = [rt("rt-old0000000000000000", 100, T0 - 60_000, T0 - 1_000), rt("rt-new0000000000000000", 200, T0 - 500)];
    expect(resolveBind(pending(), rts, null, T0, DEFAULT_ENGINE)).toEqual({ kind: "drop", reason: "bind_ambiguous" });
    // a pid hint resolves it
    expect(resolveBind(pending({ pid: 200 }), rts, null, T0, DEFAULT_ENGINE)).toEqual({ kind: "bind", runtime_id: "rt-new0000000000000000" });
  });

  test("TC-009 bind_ttl_expired: nothing shows up within the bind TTL", () => {
    expect(resolveBind(pending(), [], null, T0 + 29_999, DEFAULT_ENGINE)).toEqual({ kind: "wait" });
    expect(resolveBind(pending(), [], null, T0 + 30_000, DEFAULT_ENGINE)).toEqual({ kind: "drop", reason: "bind_ttl_expired" });
  });

  test("a runtime observed after the event binds it (its process started before the event)", () => {
    const later = [rt("rt-cccccccccccccccccc", 300, T0 - 2_000)];
    expect(resolveBind(pending({ pid: 300 }), later, null, T0 + 800, DEFAULT_ENGINE).kind).toBe("bind");
  });
});

describe("runtime identity (contracts §4)", () => {
  const obs = (p: Partial<PaneObservation> = {}): PaneObservation => ({
    target_id: "host",
    boot_id: "boot-1",
    pane_id: "%3",
    pane_pid: 50,
    agent: { agent_type: "claude", pid: 100, started_at: T0 },
    resync: false,
    ...p,
  });
  const active = (p: Partial<ActiveRuntime> = {}): ActiveRuntime => ({
    runtime_id: "rt-current000000000000",
    boot_id: "boot-1",
    agent_type: "claude",
    pid: 100,
    pane_pid: 50,
    ...p,
  });

  test("runtime_id is reproducible and unique per part", () => {
    const parts = { target_id: "host", boot_id: "b", pane_id: "%1", pane_epoch: 0, agent_type: "claude", started_at_ns: 1n };
    expect(computeRuntimeId(parts)).toBe(computeRuntimeId({ ...parts }));
    expect(computeRuntimeId(parts)).toMatch(/^[A-Za-z0-9._:-]{16,128}$/);
    for (const change of [{ target_id: "vm1" }, { boot_id: "c" }, { pane_id: "%2" }, { pane_epoch: 1 }, { agent_type: "codex" }, { started_at_ns: 2n }]) {
      expect(computeRuntimeId({ ...parts, ...change })).not.toBe(computeRuntimeId(parts));
    }
  });

  test("TC-004 epoch increments on pane recreation, pid change and resync mismatch", () => {
    expect(decideRuntime(undefined, obs(), null)).toMatchObject({ kind: "start", runtime: { pane_epoch: 0 } });
    expect(decideRuntime(active(), obs(), 0)).toEqual({ kind: "keep" });
    expect(decideRuntime(active(), obs({ pane_pid: 51 }), 0)).toMatchObject({
      kind: "start",
      runtime: { pane_epoch: 1 },
      end: { runtime_id: "rt-current000000000000", reason: "pane_recreated" },
    });
    expect(decideRuntime(active(), obs({ agent: { agent_type: "claude", pid: 101, started_at: T0 + 5 } }), 4)).toMatchObject({
      kind: "start",
      runtime: { pane_epoch: 5, pid: 101 },
      end: { reason: "pid_changed" },
    });
    expect(decideRuntime(active(), obs({ resync: true, agent: { agent_type: "claude", pid: 102, started_at: T0 + 9 } }), 1)).toMatchObject({
      end: { reason: "resync_mismatch" },
    });
    expect(decideRuntime(active(), obs({ boot_id: "boot-2" }), 1)).toMatchObject({ end: { reason: "server_restarted" } });
    expect(decideRuntime(active(), obs({ agent: null }), 0)).toEqual({ kind: "end", runtime_id: "rt-current000000000000", reason: "agent_exited" });
    expect(decideRuntime(active(), obs({ agent: null, resync: true }), 0)).toMatchObject({ kind: "end", reason: "resync_mismatch" });
    expect(decideRuntime(undefined, obs({ agent: null }), 3)).toEqual({ kind: "none" });
  });

  test("TC-004 a rolled-over runtime gets a new id", () => {
    const first = decideRuntime(undefined, obs(), null);
    const second = decideRuntime(active(), obs({ agent: { agent_type: "claude", pid: 101, started_at: T0 + 5 } }), 0);
    if (first.kind !== "start" || second.kind !== "start") throw new Error("expected starts");
    expect(second.runtime.runtime_id).not.toBe(first.runtime.runtime_id);
  });
});
