/**
 * The adapter contract (contracts §12): a test adapter registered from the
 * test package goes end to end with no engine change (TC-046); adapters of an
 * older or newer minor contract version keep working (TC-047); explain shows
 * the evidence behind a state.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { ADAPTER_CONTRACT_VERSION, type Adapter, AdapterRegistry, coreAdapter } from "../../src/adapters/registry.ts";
import { claudeAdapter } from "../../src/adapters/claude/index.ts";
import type { Envelope } from "../../src/domain/event.ts";
import type { State } from "../../src/domain/model.ts";
import type { ExplainResponse } from "../../src/wire/explain.ts";
import { app } from "../helpers/app.ts";
import { type Harness, harness } from "../helpers/harness.ts";

let h: Harness | undefined;
afterEach(() => {
  h?.close();
  h = undefined;
});

/** A made-up agent with its own vocabulary: "toy.busy", "toy.ask", "toy.done". */
function toyAdapter(version: string): Adapter {
  const map: Record<string, State> = { "toy.busy": "running", "toy.ask": "waiting_approval", "toy.done": "completed" };
  return {
    id: `toy-${version}`,
    agent_type: "toy",
    contract_version: version,
    capabilities: { event_driven: true, polling_required: false, supports_waiting_approval: true, supports_waiting_input: false, supports_completed: true },
    eventPrefixes: ["toy."],
    normalize(ev: Envelope) {
      const s = map[ev.event_type];
      return s === undefined ? null : { kind: "state", state: s, confidence: "high" };
    },
  };
}

/** the same store and engine as everywhere; only the registry differs */
const withRegistry = (registry: AdapterRegistry): Harness => harness({ registry });

describe("adapter registry", () => {
  test("TC-046 an adapter registered from the test package works end to end with no engine change", () => {
    h = withRegistry(new AdapterRegistry([coreAdapter, toyAdapter(ADAPTER_CONTRACT_VERSION)]));
    const rt = h.startRuntime("%1", { agent: "toy" });
    for (const [type, want] of [
      ["toy.busy", "running"],
      ["toy.ask", "waiting_approval"],
      ["toy.done", "completed"],
    ] as const) {
      h.clock.advance(10);
      h.ingestor.ingest([{ envelope: h.ev({ event_type: type, runtime_id: rt }) }]);
      expect(h.store.getState("host", "%1")?.state).toBe(want);
    }
    // a signal it does not understand degrades to unknown, never an invented state
    h.clock.advance(10);
    h.ingestor.ingest([{ envelope: h.ev({ event_type: "toy.mystery", runtime_id: rt }) }]);
    expect(h.store.getState("host", "%1")).toMatchObject({ state: "unknown", reason_code: "unsupported_signal" });
  });

  test("TC-047 a minor contract bump stays compatible both ways; a major one is refused", () => {
    const older = toyAdapter("1.0"); // no poll/subscribe/health/hints: the 1.0 shape
    const newer = { ...toyAdapter("1.9"), id: "toy-newer", futureMember: () => 42 };
    const reg = new AdapterRegistry([coreAdapter, older]);
    reg.register(newer);
    const ev = { event_id: "e", event_type: "toy.busy", source: "hook", dedupe_key: "k", event_time: "2026-11-24T10:00:00Z", target_id: "host", pane_id: "%1" } as Envelope;
    expect(reg.normalize(ev)).toEqual({ kind: "state", state: "running", confidence: "high" });
    expect(reg.hints(ev)).toEqual({});
    expect(() => reg.register({ ...toyAdapter("2.0"), id: "toy-2" })).toThrow(/incompatible/);
    expect(() => reg.register({ ...toyAdapter("1.x"), id: "toy-x" })).toThrow(/incompatible/);
    expect(() => reg.register(toyAdapter("1.0"))).toThrow(/already registered/);
  });

  test("a faulty adapter degrades its own signal to unknown and never breaks ingestion", () => {
    const broken: Adapter = { ...toyAdapter("1.1"), normalize: () => { throw new Error("boom"); } };
    h = withRegistry(new AdapterRegistry([coreAdapter, broken]));
    const rt = h.startRuntime("%1", { agent: "toy" });
    const [r] = h.ingestor.ingest([{ envelope: h.ev({ event_type: "toy.busy", runtime_id: rt }) }]);
    expect(r?.status).toBe("applied");
    expect(h.store.getState("host", "%1")).toMatchObject({ state: "unknown", reason_code: "unsupported_signal" });
  });
});

describe("explain", () => {
  test("shows each source's candidate, freshness, and which one won by which rule", async () => {
    h = withRegistry(new AdapterRegistry([coreAdapter, claudeAdapter]));
    const a = app(h);
    const rt = h.startRuntime("%1", { agent: "claude" });
    h.store.replacePanes("host", "boot-1", [
      {
        session_id: "$0", session_name: "dev", session_created: 0, session_attached: 0, window_id: "@0", window_index: 0, window_name: "w",
        window_active: true, window_zoomed: false, pane_id: "%1", pane_index: 0, pane_active: true, pane_dead: false, pane_pid: 1,
        pane_current_command: "claude", pane_current_path: "/p", pane_title: "", pane_width: 80, pane_height: 24,
      },
    ], h.clock.nowMs);
    h.ingestor.ingest([{ envelope: h.ev({ event_type: "claude.PermissionRequest", runtime_id: rt, raw_payload: { hook_event_name: "PermissionRequest" } }) }]);
    h.clock.advance(1_000);
    h.ingestor.ingest([{ envelope: h.ev({ event_type: "state.running", runtime_id: rt, source: "poller" }) }]);
    h.clock.advance(1_000);
    const res = await a.call("GET", `/v1/explain?ref=${encodeURIComponent(`runtime:${rt}`)}`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as ExplainResponse;
    expect(body.rule).toBe("precedence");
    expect(body.resolved).toMatchObject({ state: "waiting_approval", confidence: "high", source: "hook" });
    const hook = body.candidates.find((c) => c.source === "hook");
    const poll = body.candidates.find((c) => c.source === "poller");
    expect(hook).toMatchObject({ state: "waiting_approval", won: true, fresh: true, ttl_s: null, in_tier: true });
    expect(poll).toMatchObject({ state: "running", won: false, fresh: true, ttl_s: 15, in_tier: false });
    expect(body.recent_events.map((e) => e.event_type)).toEqual(["state.running", "claude.PermissionRequest"]);
    // after the poller's TTL and with the hook gone stale nothing confident is left
    h.clock.advance(31 * 60_000);
    h.ingestor.ingest([{ envelope: h.ev({ event_type: "claude.UserPromptSubmit", runtime_id: rt }) }]);
    h.clock.advance(31 * 60_000);
    const later = (await (await a.call("GET", `/v1/explain?ref=${encodeURIComponent(`runtime:${rt}`)}`)).json()) as ExplainResponse;
    expect(later.rule).toBe("all_stale");
    expect(later.resolved).toMatchObject({ state: "unknown", reason_code: "stale_signal" });
    // bad refs use the contract codes
    expect(((await (await a.call("GET", "/v1/explain?ref=nope")).json()) as { error: { code: string } }).error.code).toBe("E_REF_INVALID");
    expect((await a.call("GET", "/v1/explain?ref=pane:host/dev/@0/%25999")).status).toBe(404);
  });
});

describe("adapter health", () => {
  test("GET /v1/health lists every registered adapter with its contract version, capabilities and health", async () => {
    h = withRegistry(new AdapterRegistry([coreAdapter, claudeAdapter]));
    const a = app(h);
    a.ctx.sourceHealth.set("claude", () => ({ status: "degraded", detail: "transcripts unreadable" }));
    const body = (await (await a.call("GET", "/v1/health")).json()) as { adapters: Array<{ id: string; contract_version: string; capabilities: Record<string, boolean>; health: { status: string; detail?: string } }> };
    expect(body.adapters.map((x) => x.id)).toEqual(["core", "claude"]);
    expect(body.adapters[1]).toMatchObject({ contract_version: ADAPTER_CONTRACT_VERSION, capabilities: { event_driven: true }, health: { status: "degraded", detail: "transcripts unreadable" } });
    expect(body.adapters[0]?.health).toEqual({ status: "ok" });
  });
});
