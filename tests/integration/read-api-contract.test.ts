/**
 * The read API's contract, in-process (store + ingestor + the daemon's fetch
 * handler): TC-017 schema/grouping/aggregation, TC-023/TC-043 partial failure,
 * TC-018 error envelopes for bad queries and refs, `?ref=` resolution, TC-004
 * through the read model, TC-024 session names with `/`, `%` and spaces.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { resolveRef } from "../../src/daemon/routes/list.ts";
import { AgtmuxError } from "../../src/domain/errors.ts";
import { STATES, type State } from "../../src/domain/model.ts";
import { formatPaneRef, formatTargetSession, parseRef } from "../../src/domain/refs.ts";
import type { AgentObservation } from "../../src/domain/runtime.ts";
import { iso } from "../../src/domain/time.ts";
import type { PaneInfo } from "../../src/tmux/types.ts";
import type { ListResponse, PaneItem, SessionItem, SessionNameItem, TargetsResponse, WindowItem } from "../../src/wire/list.ts";
import { app } from "../helpers/app.ts";
import { type Harness, T0, harness } from "../helpers/harness.ts";

// ---------------------------------------------------------------------------
// topology

interface PaneDef {
  target: string;
  session_id: string;
  session: string;
  window_id: string;
  window_index: number;
  pane_id: string;
  pane_index: number;
  agent?: string;
  state?: State;
}

const OPS = "ops/deploy 100%";
const LAB = "🚀 lab";

/** host: main (2 windows), "ops/deploy 100%", shared; vm1: shared (2 windows), "🚀 lab". */
const DEFS: readonly PaneDef[] = [
  { target: "host", session_id: "$1", session: "main", window_id: "@1", window_index: 0, pane_id: "%1", pane_index: 0, agent: "claude", state: "waiting_approval" },
  { target: "host", session_id: "$1", session: "main", window_id: "@1", window_index: 0, pane_id: "%2", pane_index: 1 },
  { target: "host", session_id: "$1", session: "main", window_id: "@2", window_index: 1, pane_id: "%3", pane_index: 0, agent: "codex", state: "running" },
  { target: "host", session_id: "$1", session: "main", window_id: "@2", window_index: 1, pane_id: "%4", pane_index: 1, agent: "claude", state: "error" },
  { target: "host", session_id: "$2", session: OPS, window_id: "@3", window_index: 0, pane_id: "%5", pane_index: 0, agent: "claude", state: "completed" },
  { target: "host", session_id: "$2", session: OPS, window_id: "@3", window_index: 0, pane_id: "%6", pane_index: 1, agent: "gemini", state: "idle" },
  { target: "host", session_id: "$3", session: "shared", window_id: "@4", window_index: 0, pane_id: "%7", pane_index: 0, agent: "claude", state: "waiting_input" },
  { target: "vm1", session_id: "$1", session: "shared", window_id: "@1", window_index: 0, pane_id: "%1", pane_index: 0, agent: "claude", state: "running" },
  { target: "vm1", session_id: "$1", session: "shared", window_id: "@1", window_index: 0, pane_id: "%2", pane_index: 1, agent: "codex" }, // no signal yet
  { target: "vm1", session_id: "$1", session: "shared", window_id: "@2", window_index: 1, pane_id: "%3", pane_index: 0 },
  { target: "vm1", session_id: "$2", session: LAB, window_id: "@3", window_index: 0, pane_id: "%4", pane_index: 0, agent: "codex", state: "waiting_approval" },
];

function paneInfo(d: PaneDef, created: number): PaneInfo {
  const n = Number(d.pane_id.slice(1));
  return {
    session_id: d.session_id,
    session_name: d.session,
    session_created: created,
    session_attached: d.session === "main" ? 1 : 0,
    window_id: d.window_id,
    window_index: d.window_index,
    window_name: `win${d.window_index}`,
    window_active: d.window_index === 0,
    window_zoomed: false,
    pane_id: d.pane_id,
    pane_index: d.pane_index,
    pane_active: d.pane_index === 0,
    pane_dead: false,
    pane_pid: 1000 + n,
    pane_current_command: d.agent ?? "zsh",
    pane_current_path: `/home/u/${d.session_id.slice(1)}`,
    pane_title: `title ${d.pane_id}`,
    pane_width: 120,
    pane_height: 40,
  };
}

interface World {
  h: Harness;
  api: ReturnType<typeof app>;
  /** target -> pane -> agent pid override */
  pids: Map<string, number>;
  observe(target: string, agents?: Map<string, AgentObservation | null>): void;
  agentsFor(target: string): Map<string, AgentObservation | null>;
  rt(target: string, pane: string): string;
  get<T>(path: string, query?: Record<string, string | string[]>): Promise<{ status: number; body: T }>;
}

let world: World | undefined;
afterEach(() => {
  world?.h.close();
  world = undefined;
});

function build(): World {
  const h = harness();
  h.store.ensureTarget({ target_id: "vm1", kind: "ssh", connection_ref: "vm1" }, h.clock.nowMs);
  const api = app(h);
  const created = h.clock.nowMs - 3_600_000;
  const startedAt = h.clock.nowMs - 60_000;
  const pids = new Map<string, number>();
  const agentsFor = (target: string): Map<string, AgentObservation | null> =>
    new Map(
      DEFS.filter((d) => d.target === target && d.agent !== undefined).map((d) => [
        d.pane_id,
        { agent_type: d.agent ?? "claude", pid: pids.get(`${target}${d.pane_id}`) ?? 5000 + Number(d.pane_id.slice(1)), started_at: startedAt },
      ]),
    );
  const observe = (target: string, agents = agentsFor(target)): void => {
    h.ingestor.applyObservation(target, {
      server: { boot_id: `boot-${target}`, pid: 1, version: "3.3a" },
      panes: DEFS.filter((d) => d.target === target).map((d) => paneInfo(d, created)),
      agents,
      resync: false,
    });
  };
  const rt = (target: string, pane: string): string => {
    const r = h.store.activeRuntime(target, pane);
    if (r === null) throw new Error(`no active runtime in ${target} ${pane}`);
    return r.runtime_id;
  };
  const w: World = {
    h,
    api,
    pids,
    observe,
    agentsFor,
    rt,
    async get<T>(path: string, query: Record<string, string | string[]> = {}) {
      const qs = new URLSearchParams();
      for (const [k, v] of Object.entries(query)) for (const x of Array.isArray(v) ? v : [v]) qs.append(k, x);
      const s = qs.toString();
      const res = await api.call("GET", s === "" ? path : `${path}?${s}`);
      expect(res.headers.get("content-type") ?? "").toMatch(/^application\/json/);
      return { status: res.status, body: (await res.json()) as T };
    },
  };
  observe("host");
  observe("vm1");
  // states, oldest first, so updated_at differs
  for (const d of DEFS) {
    if (d.state === undefined) continue;
    h.clock.advance(1_000);
    const [r] = h.ingestor.ingest([{ envelope: h.ev({ event_type: `state.${d.state}`, runtime_id: rt(d.target, d.pane_id) }) }]);
    expect(r?.status).toBe("applied");
  }
  h.clock.advance(5_000);
  world = w;
  return w;
}

const find = (items: readonly PaneItem[], target: string, pane: string): PaneItem => {
  const p = items.find((x) => x.identity.target === target && x.identity.pane_id === pane);
  if (p === undefined) throw new Error(`no item ${target} ${pane}`);
  return p;
};

interface ErrBody {
  schema_version: number;
  error: { code: string; message: string; details: Record<string, unknown> };
}

const ENVELOPE_KEYS = ["filters", "generated_at", "items", "partial", "requested_targets", "responded_targets", "schema_version", "summary", "target_errors"];
const PANE_KEYS = [
  "active", "age_s", "agent", "confidence", "current_command", "cwd", "dead", "identity", "last_seen_at", "needs_action", "pane_index", "pane_pid",
  "reason_code", "ref", "runtime_ref", "session_attached", "session_created_at", "session_id", "size", "state", "state_source", "state_version",
  "title", "updated_at", "window_active", "window_index", "window_name", "zoomed",
];
const WINDOW_KEYS = ["active", "agent_panes", "identity", "needs_action", "panes", "running", "session_id", "top_state", "waiting", "window_index", "window_name", "zoomed"];
const SESSION_KEYS = ["agent_panes", "attached", "created_at", "identity", "needs_action", "panes", "running", "session_id", "target_session", "top_state", "waiting", "windows"];
const SUMMARY_KEYS = ["agent_panes", "by_agent", "by_state", "by_target", "needs_action", "panes", "sessions", "windows"];
const keys = (o: object): string[] => Object.keys(o).toSorted();

// ===========================================================================

describe("TC-017 schema of the read API", () => {
  test("TC-017 /v1/panes: envelope, filters, summary and item key sets; identity per §7; ref round-trips", async () => {
    const w = build();
    const { status, body } = await w.get<ListResponse<PaneItem>>("/v1/panes");
    expect(status).toBe(200);
    expect(keys(body)).toEqual(ENVELOPE_KEYS);
    expect(body.schema_version).toBe(1);
    expect(body.generated_at).toBe(iso(w.h.clock.nowMs));
    expect(body.filters).toEqual({ targets: ["host", "vm1"], target_session: null, session: null, state: null, agent: null, needs_action: false, all: false, sort: "target", ref: null });
    expect(keys(body.summary)).toEqual(SUMMARY_KEYS);
    expect(body).toMatchObject({ partial: false, requested_targets: ["host", "vm1"], responded_targets: ["host", "vm1"], target_errors: [] });
    // default: agent panes only, in position order ("🚀 lab" sorts after "shared")
    expect(body.items.map((p) => `${p.identity.target}${p.identity.pane_id}`)).toEqual(["host%1", "host%3", "host%4", "host%5", "host%6", "host%7", "vm1%1", "vm1%2", "vm1%4"]);
    for (const p of body.items) {
      expect(keys(p)).toEqual(PANE_KEYS);
      expect(Object.keys(p.identity)).toEqual(["target", "session_name", "window_id", "pane_id"]);
      expect(p.ref).toBe(formatPaneRef(p.identity));
      expect(parseRef(p.ref)).toEqual({ kind: "pane", ...p.identity });
      expect(p.agent).not.toBeNull();
      expect(keys(p.agent ?? {})).toEqual(["pane_epoch", "pid", "runtime_id", "started_at", "type"]);
      expect(p.runtime_ref).toBe(`runtime:${p.agent?.runtime_id}`);
      expect(p.runtime_ref).toBe(`runtime:${w.rt(p.identity.target, p.identity.pane_id)}`);
      expect(keys(p.size)).toEqual(["height", "width"]);
    }
    expect(find(body.items, "host", "%1")).toEqual({
      identity: { target: "host", session_name: "main", window_id: "@1", pane_id: "%1" },
      ref: "pane:host/main/@1/%1",
      runtime_ref: `runtime:${w.rt("host", "%1")}`,
      session_id: "$1",
      session_created_at: iso(T0 - 3_600_000),
      session_attached: 1,
      window_index: 0,
      window_name: "win0",
      pane_index: 0,
      active: true,
      window_active: true,
      zoomed: false,
      dead: false,
      size: { width: 120, height: 40 },
      cwd: "/home/u/1",
      pane_pid: 1001,
      current_command: "claude",
      title: "title %1",
      agent: { type: "claude", pid: 5001, started_at: iso(T0 - 60_000), runtime_id: w.rt("host", "%1"), pane_epoch: 0 },
      state: "waiting_approval",
      reason_code: null,
      confidence: "high",
      state_version: expect.any(Number),
      state_source: "hook",
      updated_at: iso(T0 + 1_000),
      age_s: 12,
      last_seen_at: iso(T0 + 1_000),
      needs_action: true,
    });
    // an agent that never signalled
    expect(find(body.items, "vm1", "%2")).toMatchObject({ state: "unknown", reason_code: "no_signal", confidence: "low", needs_action: false });
    // TC-024: the session name with '/', '%' and a space is encoded in the ref
    expect(find(body.items, "host", "%5").ref).toBe("pane:host/ops%2Fdeploy%20100%25/@3/%5");
    expect(find(body.items, "vm1", "%4").ref).toBe("pane:vm1/%F0%9F%9A%80%20lab/@3/%4");
    // all=1 adds the agent-less panes with the same key set
    const all = await w.get<ListResponse<PaneItem>>("/v1/panes", { all: "1" });
    expect(all.body.items).toHaveLength(11);
    const shell = find(all.body.items, "host", "%2");
    expect(keys(shell)).toEqual(PANE_KEYS);
    expect(shell).toMatchObject({ agent: null, runtime_ref: null, state: null, reason_code: null, confidence: null, state_version: null, updated_at: null, age_s: null, needs_action: false });
  });

  test("TC-017 /v1/windows: item key sets, with_agent_status adds state_counts/agent_counts", async () => {
    const w = build();
    const { status, body } = await w.get<ListResponse<WindowItem>>("/v1/windows");
    expect(status).toBe(200);
    expect(keys(body)).toEqual(ENVELOPE_KEYS);
    expect(body.filters).toEqual({ targets: ["host", "vm1"], target_session: null, session: null, with_agent_status: false, sort: "target" });
    for (const x of body.items) {
      expect(keys(x)).toEqual(WINDOW_KEYS);
      expect(Object.keys(x.identity)).toEqual(["target", "session_name", "window_id"]);
    }
    expect(body.items.map((x) => [x.identity.target, x.identity.session_name, x.identity.window_id, x.top_state, x.panes, x.agent_panes, x.waiting, x.running, x.needs_action])).toEqual([
      ["host", "main", "@1", "waiting_approval", 2, 1, 1, 0, 1],
      ["host", "main", "@2", "error", 2, 2, 0, 1, 1],
      ["host", OPS, "@3", "completed", 2, 2, 0, 0, 0],
      ["host", "shared", "@4", "waiting_input", 1, 1, 1, 0, 1],
      ["vm1", "shared", "@1", "running", 2, 2, 0, 1, 0],
      ["vm1", "shared", "@2", null, 1, 0, 0, 0, 0],
      ["vm1", LAB, "@3", "waiting_approval", 1, 1, 1, 0, 1],
    ]);
    expect(body.items[0]).toMatchObject({ session_id: "$1", window_index: 0, window_name: "win0", active: true, zoomed: false });
    const st = await w.get<ListResponse<WindowItem>>("/v1/windows", { with_agent_status: "true" });
    expect(st.body.filters).toMatchObject({ with_agent_status: true });
    for (const x of st.body.items) expect(keys(x)).toEqual([...WINDOW_KEYS, "agent_counts", "state_counts"].toSorted());
    expect(st.body.items[1]).toMatchObject({ state_counts: { running: 1, error: 1, idle: 0 }, agent_counts: { codex: 1, claude: 1 } });
    expect(keys(st.body.items[1]?.state_counts ?? {})).toEqual([...STATES].toSorted());
  });

  test("TC-017 /v1/sessions: target-session by default; session-name merges with a per-target breakdown and totals", async () => {
    const w = build();
    const { status, body } = await w.get<ListResponse<SessionItem>>("/v1/sessions");
    expect(status).toBe(200);
    expect(keys(body)).toEqual(ENVELOPE_KEYS);
    expect(body.filters).toEqual({ targets: ["host", "vm1"], target_session: null, session: null, agent_summary: false, group_by: "target-session", sort: "target" });
    for (const s of body.items) {
      expect(keys(s)).toEqual(SESSION_KEYS);
      expect(Object.keys(s.identity)).toEqual(["target", "session_name"]);
      expect(s.target_session).toBe(formatTargetSession(s.identity.target, s.identity.session_name));
    }
    expect(body.items.map((s) => [s.target_session, s.windows, s.panes, s.agent_panes, s.top_state, s.waiting, s.running, s.needs_action])).toEqual([
      ["host/main", 2, 4, 3, "error", 1, 1, 2],
      ["host/ops%2Fdeploy%20100%25", 1, 2, 2, "completed", 0, 0, 0],
      ["host/shared", 1, 1, 1, "waiting_input", 1, 0, 1],
      ["vm1/shared", 2, 3, 2, "running", 0, 1, 0],
      ["vm1/%F0%9F%9A%80%20lab", 1, 1, 1, "waiting_approval", 1, 0, 1],
    ]);
    expect(body.items[0]).toMatchObject({ session_id: "$1", attached: 1, created_at: iso(T0 - 3_600_000) });

    const sum = await w.get<ListResponse<SessionItem>>("/v1/sessions", { agent_summary: "1" });
    for (const s of sum.body.items) expect(keys(s)).toEqual([...SESSION_KEYS, "agent_counts", "state_counts"].toSorted());

    const byName = await w.get<ListResponse<SessionNameItem>>("/v1/sessions", { group_by: "session-name" });
    expect(byName.status).toBe(200);
    expect(byName.body.filters).toMatchObject({ group_by: "session-name" });
    expect(byName.body.items.map((r) => [r.identity.session_name, r.targets])).toEqual([
      ["main", ["host"]],
      [OPS, ["host"]],
      ["shared", ["host", "vm1"]],
      [LAB, ["vm1"]],
    ]);
    for (const r of byName.body.items) {
      expect(keys(r)).toEqual(["by_target", "identity", "targets", "totals"]);
      expect(keys(r.totals)).toEqual(["agent_counts", "agent_panes", "needs_action", "panes", "running", "state_counts", "top_state", "waiting", "windows"]);
      for (const b of r.by_target) expect(keys(b)).toEqual([...SESSION_KEYS, "agent_counts", "state_counts"].toSorted());
      for (const k of ["windows", "panes", "agent_panes", "waiting", "running", "needs_action"] as const) {
        expect(r.by_target.reduce((n, b) => n + b[k], 0)).toBe(r.totals[k]);
      }
    }
    const shared = byName.body.items[2];
    expect(shared?.totals).toEqual({
      windows: 3,
      panes: 4,
      agent_panes: 3,
      top_state: "waiting_input",
      waiting: 1,
      running: 1,
      needs_action: 1,
      state_counts: { running: 1, waiting_input: 1, waiting_approval: 0, completed: 0, idle: 0, error: 0, unknown: 1 },
      agent_counts: { claude: 2, codex: 1 },
    });
    expect(shared?.by_target.map((b) => [b.target_session, b.panes, b.top_state])).toEqual([
      ["host/shared", 1, "waiting_input"],
      ["vm1/shared", 3, "running"],
    ]);
    expect(byName.body.items.reduce((n, r) => n + r.totals.panes, 0)).toBe(byName.body.summary.panes);
  });

  test("TC-017 /v1/targets: envelope and item key sets", async () => {
    const w = build();
    const { status, body } = await w.get<TargetsResponse>("/v1/targets");
    expect(status).toBe(200);
    expect(keys(body)).toEqual(["generated_at", "items", "schema_version"]);
    const ITEM = ["agtmux_path", "connection_ref", "health", "health_changed_at", "kind", "last_error", "last_topology_at", "status", "target", "tmux_server_pid", "tmux_socket", "tmux_version"];
    for (const t of body.items) expect(keys(t)).toEqual(ITEM);
    expect(body.items.map((t) => [t.target, t.kind, t.connection_ref, t.health, t.tmux_version, t.tmux_server_pid, t.last_error])).toEqual([
      ["host", "local", null, "ok", "3.3a", 1, null],
      ["vm1", "ssh", "vm1", "ok", "3.3a", 1, null],
    ]);
    expect(body.items[0]?.last_topology_at).toBe(iso(T0));
  });

  test("TC-017 aggregation: one summary per scope, identical across panes/windows/sessions, with exact counts", async () => {
    const w = build();
    const panes = await w.get<ListResponse<PaneItem>>("/v1/panes");
    const windows = await w.get<ListResponse<WindowItem>>("/v1/windows");
    const sessions = await w.get<ListResponse<SessionItem>>("/v1/sessions");
    expect(windows.body.summary).toEqual(panes.body.summary);
    expect(sessions.body.summary).toEqual(panes.body.summary);
    const z = { running: 0, waiting_input: 0, waiting_approval: 0, completed: 0, idle: 0, error: 0, unknown: 0 };
    expect(panes.body.summary).toEqual({
      sessions: 5,
      windows: 7,
      panes: 11,
      agent_panes: 9,
      needs_action: 4,
      by_state: { ...z, waiting_approval: 2, running: 2, error: 1, completed: 1, idle: 1, waiting_input: 1, unknown: 1 },
      by_agent: { claude: 5, codex: 3, gemini: 1 },
      by_target: {
        host: { sessions: 3, windows: 4, panes: 7, agent_panes: 6, needs_action: 3, by_state: { ...z, waiting_approval: 1, running: 1, error: 1, completed: 1, idle: 1, waiting_input: 1 } },
        vm1: { sessions: 2, windows: 3, panes: 4, agent_panes: 3, needs_action: 1, by_state: { ...z, waiting_approval: 1, running: 1, unknown: 1 } },
      },
    });
    expect(windows.body.items.reduce((n, x) => n + x.panes, 0)).toBe(11);
    expect(sessions.body.items.reduce((n, x) => n + x.windows, 0)).toBe(7);
    // a target scope narrows the summary too
    const vm = await w.get<ListResponse<PaneItem>>("/v1/panes", { target: "vm1" });
    expect(vm.body).toMatchObject({ requested_targets: ["vm1"], responded_targets: ["vm1"], partial: false, filters: { targets: ["vm1"] } });
    expect(Object.keys(vm.body.summary.by_target)).toEqual(["vm1"]);
    expect(vm.body.summary.panes).toBe(4);
    expect(vm.body.items.every((p) => p.identity.target === "vm1")).toBe(true);
  });

  test("TC-017 / TC-024 filters: state, agent, needs_action, session, target_session (encoded names), repeated target, sort", async () => {
    const w = build();
    const ids = (b: ListResponse<PaneItem>): string[] => b.items.map((p) => `${p.identity.target}${p.identity.pane_id}`);
    expect(ids((await w.get<ListResponse<PaneItem>>("/v1/panes", { state: "running" })).body)).toEqual(["host%3", "vm1%1"]);
    expect(ids((await w.get<ListResponse<PaneItem>>("/v1/panes", { agent: "codex" })).body)).toEqual(["host%3", "vm1%2", "vm1%4"]);
    expect(ids((await w.get<ListResponse<PaneItem>>("/v1/panes", { needs_action: "" })).body)).toEqual(["host%1", "host%4", "host%7", "vm1%4"]);
    expect(ids((await w.get<ListResponse<PaneItem>>("/v1/panes", { session: "shared", all: "1" })).body)).toEqual(["host%7", "vm1%1", "vm1%2", "vm1%3"]);
    expect(ids((await w.get<ListResponse<PaneItem>>("/v1/panes", { session: OPS })).body)).toEqual(["host%5", "host%6"]);
    const ts = await w.get<ListResponse<PaneItem>>("/v1/panes", { target_session: formatTargetSession("host", OPS) });
    expect(ts.status).toBe(200);
    expect(ids(ts.body)).toEqual(["host%5", "host%6"]);
    expect(ts.body.filters).toMatchObject({ target_session: "host/ops%2Fdeploy%20100%25" });
    expect(ids((await w.get<ListResponse<PaneItem>>("/v1/panes", { target_session: formatTargetSession("vm1", LAB) })).body)).toEqual(["vm1%4"]);
    expect(ids((await w.get<ListResponse<PaneItem>>("/v1/panes", { target_session: "vm1/shared", all: "1" })).body)).toEqual(["vm1%1", "vm1%2", "vm1%3"]);
    const wts = await w.get<ListResponse<WindowItem>>("/v1/windows", { target_session: "vm1/shared" });
    expect(wts.body.items.map((x) => x.identity.window_id)).toEqual(["@1", "@2"]);
    // target list: deduplicated and sorted; all_targets wins
    const two = await w.get<ListResponse<PaneItem>>("/v1/panes", { target: ["vm1", "host", "vm1"] });
    expect(two.body).toMatchObject({ requested_targets: ["host", "vm1"], responded_targets: ["host", "vm1"] });
    const allT = await w.get<ListResponse<PaneItem>>("/v1/panes", { target: "vm1", all_targets: "1" });
    expect(allT.body.requested_targets).toEqual(["host", "vm1"]);
    // sort by state precedence, ties by position
    const byState = await w.get<ListResponse<PaneItem>>("/v1/panes", { sort: "state" });
    expect(ids(byState.body)).toEqual(["host%4", "host%1", "vm1%4", "host%7", "host%3", "vm1%1", "host%5", "host%6", "vm1%2"]);
    expect(byState.body.filters).toMatchObject({ sort: "state" });
    const wState = await w.get<ListResponse<WindowItem>>("/v1/windows", { sort: "state" });
    expect(wState.body.items.map((x) => x.top_state)).toEqual(["error", "waiting_approval", "waiting_approval", "waiting_input", "running", "completed", null]);
  });
});

describe("TC-023 / TC-043 partial failure in aggregated reads", () => {
  function agree(b: ListResponse<unknown>): void {
    const errs = b.target_errors.map((e) => e.target);
    expect(b.partial).toBe(errs.length > 0);
    expect([...b.responded_targets, ...errs].toSorted()).toEqual([...b.requested_targets].toSorted());
    expect(b.responded_targets.filter((t) => errs.includes(t))).toEqual([]);
    expect(new Set(errs).size).toBe(errs.length);
    for (const e of b.target_errors) expect(keys(e)).toEqual(["code", "health", "message", "since", "target"]);
  }

  test("TC-023 a target with an error: partial, requested/responded/target_errors agree on every list endpoint", async () => {
    const w = build();
    w.h.store.setTargetError("vm1", { code: "E_TARGET_UNREACHABLE", message: "ssh: connect to host vm1 port 22: Connection timed out" }, w.h.clock.nowMs);
    for (const path of ["/v1/panes", "/v1/windows", "/v1/sessions"]) {
      const { status, body } = await w.get<ListResponse<unknown>>(path);
      expect(status).toBe(200);
      expect(keys(body)).toEqual(ENVELOPE_KEYS);
      expect(body).toMatchObject({
        partial: true,
        requested_targets: ["host", "vm1"],
        responded_targets: ["host"],
        target_errors: [{ target: "vm1", code: "E_TARGET_UNREACHABLE", message: "ssh: connect to host vm1 port 22: Connection timed out" }],
      });
      agree(body);
      expect(body.items.length).toBeGreaterThan(0);
    }
    const grouped = await w.get<ListResponse<unknown>>("/v1/sessions", { group_by: "session-name" });
    agree(grouped.body);
    expect(grouped.body.partial).toBe(true);
    // scoped to the healthy target: complete
    const hostOnly = await w.get<ListResponse<PaneItem>>("/v1/panes", { target: "host" });
    expect(hostOnly.body).toMatchObject({ partial: false, requested_targets: ["host"], responded_targets: ["host"], target_errors: [] });
    agree(hostOnly.body);
    // scoped to the failing target: nothing responded
    const vmOnly = await w.get<ListResponse<PaneItem>>("/v1/panes", { target: "vm1" });
    expect(vmOnly.body).toMatchObject({ partial: true, requested_targets: ["vm1"], responded_targets: [] });
    agree(vmOnly.body);
    // the target list shows the error
    const targets = await w.get<TargetsResponse>("/v1/targets");
    expect(targets.body.items.find((t) => t.target === "vm1")?.last_error).toEqual({ code: "E_TARGET_UNREACHABLE", message: "ssh: connect to host vm1 port 22: Connection timed out", since: expect.any(String) });
    // recovery: complete again
    w.h.store.setTargetError("vm1", null, w.h.clock.nowMs);
    const again = await w.get<ListResponse<PaneItem>>("/v1/panes");
    expect(again.body).toMatchObject({ partial: false, responded_targets: ["host", "vm1"], target_errors: [] });
    agree(again.body);
  });

  test("TC-043 a target going down (health event): partial, its panes degrade to unknown/target_unreachable, the other target is untouched", async () => {
    const w = build();
    const before = await w.get<ListResponse<PaneItem>>("/v1/panes");
    w.h.ingestor.ingestSynthetic([{ type: "target_health_changed", target_id: "vm1", health: "down" }]);
    const { body } = await w.get<ListResponse<PaneItem>>("/v1/panes");
    expect(body).toMatchObject({ partial: true, requested_targets: ["host", "vm1"], responded_targets: ["host"] });
    expect(body.target_errors).toEqual([{ target: "vm1", code: "E_TARGET_UNREACHABLE", message: "target vm1 is down", health: "down", since: expect.any(String) }]);
    agree(body);
    for (const p of body.items) {
      if (p.identity.target === "vm1") expect(p).toMatchObject({ state: "unknown", reason_code: "target_unreachable" });
      else {
        const prev = before.body.items.find((x) => x.ref === p.ref);
        expect(prev).toBeDefined();
        expect({ ...p, age_s: 0 }).toEqual({ ...(prev as PaneItem), age_s: 0 });
      }
    }
    const windows = await w.get<ListResponse<WindowItem>>("/v1/windows");
    agree(windows.body);
    expect(windows.body.items.filter((x) => x.identity.target === "vm1" && x.agent_panes > 0).every((x) => x.top_state === "unknown")).toBe(true);
    expect((await w.get<TargetsResponse>("/v1/targets")).body.items.find((t) => t.target === "vm1")?.health).toBe("down");
    w.h.ingestor.ingestSynthetic([{ type: "target_health_changed", target_id: "vm1", health: "ok" }]);
    const ok = await w.get<ListResponse<PaneItem>>("/v1/panes");
    expect(ok.body.partial).toBe(false);
    agree(ok.body);
  });
});

describe("TC-018 error envelopes for bad queries and refs", () => {
  const CASES: ReadonlyArray<[label: string, path: string, query: Record<string, string | string[]>, status: number, code: string]> = [
    ["unknown param", "/v1/panes", { bogus: "1" }, 400, "E_BAD_REQUEST"],
    ["unknown param on windows", "/v1/windows", { cursor: "x" }, 400, "E_BAD_REQUEST"],
    ["bad state", "/v1/panes", { state: "sleeping" }, 400, "E_BAD_REQUEST"],
    ["empty state", "/v1/panes", { state: "" }, 400, "E_BAD_REQUEST"],
    ["bad agent", "/v1/panes", { agent: "Claude!" }, 400, "E_BAD_REQUEST"],
    ["bad boolean", "/v1/panes", { needs_action: "maybe" }, 400, "E_BAD_REQUEST"],
    ["bad sort", "/v1/panes", { sort: "bogus" }, 400, "E_BAD_REQUEST"],
    ["pane-only sort on windows", "/v1/windows", { sort: "updated" }, 400, "E_BAD_REQUEST"],
    ["pane-only sort on sessions", "/v1/sessions", { sort: "agent" }, 400, "E_BAD_REQUEST"],
    ["bad group_by", "/v1/sessions", { group_by: "target" }, 400, "E_BAD_REQUEST"],
    ["malformed target name", "/v1/panes", { target: "bad/name" }, 400, "E_BAD_REQUEST"],
    ["over-long session", "/v1/panes", { session: "x".repeat(600) }, 400, "E_BAD_REQUEST"],
    ["unknown target", "/v1/panes", { target: "nope" }, 404, "E_REF_NOT_FOUND"],
    ["unknown target among known", "/v1/windows", { target: ["host", "nope"] }, 404, "E_REF_NOT_FOUND"],
    ["target_session of an unknown target", "/v1/panes", { target_session: "nope/main" }, 404, "E_REF_NOT_FOUND"],
    ["target_session without a session", "/v1/sessions", { target_session: "host" }, 400, "E_REF_INVALID"],
    ["target_session bad escape", "/v1/panes", { target_session: "host/%G1" }, 400, "E_REF_INVALID_ENCODING"],
    ["target_session raw space", "/v1/panes", { target_session: "host/my session" }, 400, "E_REF_INVALID_ENCODING"],
    ["ref garbage", "/v1/panes", { ref: "bogus" }, 400, "E_REF_INVALID"],
    ["ref bad window id", "/v1/panes", { ref: "pane:host/main/@x/%1" }, 400, "E_REF_INVALID"],
    ["ref bad pane id", "/v1/panes", { ref: "pane:host/main/@1/%" }, 400, "E_REF_INVALID"],
    ["ref missing parts", "/v1/panes", { ref: "pane:host/main" }, 400, "E_REF_INVALID"],
    ["ref unknown scheme", "/v1/panes", { ref: "window:host/main/@1" }, 400, "E_REF_INVALID"],
    ["runtime ref too short", "/v1/panes", { ref: "runtime:abc" }, 400, "E_REF_INVALID"],
    ["ref bad escape", "/v1/panes", { ref: "pane:host/%G1/@1/%1" }, 400, "E_REF_INVALID_ENCODING"],
    ["ref truncated escape", "/v1/panes", { ref: "pane:host/%4/@1/%1" }, 400, "E_REF_INVALID_ENCODING"],
    ["ref raw space", "/v1/panes", { ref: "pane:host/my session/@1/%1" }, 400, "E_REF_INVALID_ENCODING"],
    ["ref invalid UTF-8", "/v1/panes", { ref: "pane:host/%C3%28/@1/%1" }, 400, "E_REF_INVALID_ENCODING"],
    ["ref to a missing pane", "/v1/panes", { ref: "pane:host/main/@1/%99" }, 404, "E_REF_NOT_FOUND"],
    ["ref with the wrong session", "/v1/panes", { ref: "pane:host/other/@1/%1" }, 404, "E_REF_NOT_FOUND"],
    ["ref with the wrong window", "/v1/panes", { ref: "pane:host/main/@2/%1" }, 404, "E_REF_NOT_FOUND"],
    ["ref on an unknown target", "/v1/panes", { ref: "pane:vm9/main/@1/%1" }, 404, "E_REF_NOT_FOUND"],
    ["unknown runtime ref", "/v1/panes", { ref: "runtime:rt-0000000000000000000000000000000000000000" }, 404, "E_REF_NOT_FOUND"],
  ];

  test.each(CASES)("TC-018 %s -> %d %s", async (_label, path, query, status, code) => {
    const w = build();
    const r = await w.get<ErrBody>(path, query);
    expect(r.status).toBe(status);
    expect(keys(r.body)).toEqual(["error", "schema_version"]);
    expect(r.body.schema_version).toBe(1);
    expect(keys(r.body.error)).toEqual(["code", "details", "message"]);
    expect(r.body.error.code).toBe(code);
    expect(typeof r.body.error.message).toBe("string");
    expect(r.body.error.message.length).toBeGreaterThan(0);
    expect(typeof r.body.error.details).toBe("object");
    if (code === "E_BAD_REQUEST") {
      const issues = r.body.error.details.issues as Array<{ path: string; message: string }>;
      expect(issues.length).toBeGreaterThan(0);
      const param = Object.keys(query)[0] ?? "";
      expect(`${issues[0]?.path} ${r.body.error.message}`).toContain(param);
    }
  });

  test("TC-018 unknown target: details name it and list the known targets", async () => {
    const w = build();
    const r = await w.get<ErrBody>("/v1/panes", { target: "nope" });
    expect(r.body.error.details).toEqual({ target: "nope", known: ["host", "vm1"] });
  });

  test("TC-018 a runtime ref of an ended runtime -> 409 E_RUNTIME_STALE with its details", async () => {
    const w = build();
    const old = w.rt("host", "%3");
    const a = w.agentsFor("host");
    a.delete("%3"); // the agent exits
    w.h.clock.advance(1_000);
    w.observe("host", a);
    const r = await w.get<ErrBody>("/v1/panes", { ref: `runtime:${old}` });
    expect(r.status).toBe(409);
    expect(r.body.error.code).toBe("E_RUNTIME_STALE");
    expect(r.body.error.details).toEqual({ runtime_id: old, ended_at: iso(w.h.clock.nowMs), target: "host", pane_id: "%3" });
    // the pane itself is still there, without an agent
    const p = await w.get<ListResponse<PaneItem>>("/v1/panes", { ref: "pane:host/main/@2/%3" });
    expect(p.body.items).toHaveLength(1);
    expect(p.body.items[0]).toMatchObject({ agent: null, runtime_ref: null, state: null });
  });
});

describe("?ref= resolution", () => {
  test("TC-017 pane: and runtime: refs return exactly that pane (incl. encoded session names)", async () => {
    const w = build();
    const list = await w.get<ListResponse<PaneItem>>("/v1/panes", { all: "1" });
    for (const p of list.body.items) {
      const byPane = await w.get<ListResponse<PaneItem>>("/v1/panes", { ref: p.ref });
      expect(byPane.status).toBe(200);
      expect(keys(byPane.body)).toEqual(ENVELOPE_KEYS);
      expect(byPane.body.items).toEqual([p]);
      expect(byPane.body.filters).toMatchObject({ ref: p.ref });
      if (p.runtime_ref !== null) {
        const byRt = await w.get<ListResponse<PaneItem>>("/v1/panes", { ref: p.runtime_ref });
        expect(byRt.status).toBe(200);
        expect(byRt.body.items).toEqual([p]);
      }
    }
    // a non-canonical (lowercase hex) encoding of the same name resolves to the same pane
    const lower = await w.get<ListResponse<PaneItem>>("/v1/panes", { ref: "pane:host/ops%2fdeploy%20100%25/@3/%5" });
    expect(lower.body.items.map((p) => p.ref)).toEqual(["pane:host/ops%2Fdeploy%20100%25/@3/%5"]);
  });

  test("TC-018 resolveRef: none -> E_REF_NOT_FOUND, several -> E_REF_AMBIGUOUS (never picks one)", async () => {
    const w = build();
    const { body } = await w.get<ListResponse<PaneItem>>("/v1/panes");
    const p = find(body.items, "host", "%1");
    const ref = parseRef(p.ref);
    expect(resolveRef(ref, body.items)).toEqual(p);
    const rtRef = parseRef(p.runtime_ref ?? "");
    expect(resolveRef(rtRef, body.items)).toEqual(p);
    const codeOf = (fn: () => unknown): AgtmuxError => {
      try {
        fn();
      } catch (err) {
        if (err instanceof AgtmuxError) return err;
        throw err;
      }
      throw new Error("expected an AgtmuxError");
    };
    expect(codeOf(() => resolveRef(ref, [])).code).toBe("E_REF_NOT_FOUND");
    expect(codeOf(() => resolveRef(ref, body.items.filter((x) => x !== p))).code).toBe("E_REF_NOT_FOUND");
    // two items with the same identity
    const twin: PaneItem = { ...p, pane_pid: 4242 };
    const amb = codeOf(() => resolveRef(ref, [...body.items, twin]));
    expect(amb.code).toBe("E_REF_AMBIGUOUS");
    expect(amb.details.matches).toEqual([p.ref, p.ref]);
    // two panes claiming one runtime
    const other = find(body.items, "host", "%4");
    const clash: PaneItem = { ...other, agent: other.agent === null ? null : { ...other.agent, runtime_id: p.agent?.runtime_id ?? "" } };
    const amb2 = codeOf(() => resolveRef(rtRef, [p, clash]));
    expect(amb2.code).toBe("E_REF_AMBIGUOUS");
    expect(amb2.details.matches).toEqual([p.ref, other.ref]);
    // a runtime ref never matches an agent-less pane
    const shell: PaneItem = { ...p, agent: null, runtime_ref: null };
    expect(codeOf(() => resolveRef(rtRef, [shell])).code).toBe("E_REF_NOT_FOUND");
  });
});

describe("TC-004 runtime rollover through the read model", () => {
  test("TC-004 a pid change rolls the runtime: new runtime_ref, pane_epoch + 1, the old runtime ref is stale", async () => {
    const w = build();
    const paneRef = "pane:host/main/@1/%1";
    const first = (await w.get<ListResponse<PaneItem>>("/v1/panes", { ref: paneRef })).body.items[0];
    const r0 = first?.agent?.runtime_id ?? "";
    expect(first).toMatchObject({ runtime_ref: `runtime:${r0}`, agent: { pid: 5001, pane_epoch: 0 }, state: "waiting_approval" });

    // the same observation again: nothing changes
    w.h.clock.advance(1_000);
    w.observe("host");
    const same = (await w.get<ListResponse<PaneItem>>("/v1/panes", { ref: paneRef })).body.items[0];
    expect(same?.runtime_ref).toBe(`runtime:${r0}`);
    expect(same?.agent?.pane_epoch).toBe(0);

    // another agent process in the same pane
    w.h.clock.advance(1_000);
    w.pids.set("host%1", 7777);
    w.observe("host");
    const second = (await w.get<ListResponse<PaneItem>>("/v1/panes", { ref: paneRef })).body.items[0];
    const r1 = second?.agent?.runtime_id ?? "";
    expect(r1).not.toBe(r0);
    expect(second).toMatchObject({ runtime_ref: `runtime:${r1}`, agent: { pid: 7777, pane_epoch: 1 }, state: "unknown", reason_code: "no_signal" });
    expect(w.h.store.getRuntime(r0)).toMatchObject({ end_reason: "pid_changed", ended_at: w.h.clock.nowMs });

    const stale = await w.get<ErrBody>("/v1/panes", { ref: `runtime:${r0}` });
    expect(stale.status).toBe(409);
    expect(stale.body.error).toMatchObject({ code: "E_RUNTIME_STALE", details: { runtime_id: r0, target: "host", pane_id: "%1" } });
    const fresh = await w.get<ListResponse<PaneItem>>("/v1/panes", { ref: `runtime:${r1}` });
    expect(fresh.body.items.map((p) => p.ref)).toEqual([paneRef]);
    // events for the old runtime are refused
    const [rej] = w.h.ingestor.ingest([{ envelope: w.h.ev({ event_type: "state.running", runtime_id: r0 }) }]);
    expect(rej).toMatchObject({ status: "rejected", error: { code: "E_RUNTIME_STALE" } });
    // the other panes kept their runtimes
    const list = (await w.get<ListResponse<PaneItem>>("/v1/panes")).body.items;
    expect(list.filter((p) => p.identity.target === "host" && p.identity.pane_id !== "%1").every((p) => p.agent?.pane_epoch === 0)).toBe(true);

    // the agent exits, then a new one starts: epoch 2, both older refs stale
    w.h.clock.advance(1_000);
    const a = w.agentsFor("host");
    a.delete("%1");
    w.observe("host", a);
    const gone = (await w.get<ListResponse<PaneItem>>("/v1/panes", { ref: paneRef, all: "1" })).body.items[0];
    expect(gone).toMatchObject({ agent: null, runtime_ref: null });
    w.h.clock.advance(1_000);
    w.pids.set("host%1", 8888);
    w.observe("host");
    const third = (await w.get<ListResponse<PaneItem>>("/v1/panes", { ref: paneRef })).body.items[0];
    expect(third?.agent).toMatchObject({ pid: 8888, pane_epoch: 2 });
    for (const old of [r0, r1]) expect((await w.get<ErrBody>("/v1/panes", { ref: `runtime:${old}` })).body.error.code).toBe("E_RUNTIME_STALE");
  });
});
