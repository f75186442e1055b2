/**
 * The read model's pure half (src/domain/views.ts): rollups (TC-042) and
 * filter + sort combinations (TC-048). Pane records are built directly, no store.
 */
import { describe, expect, test } from "bun:test";
import { PRECEDENCE, STATES, type State, precedenceRank } from "../../src/domain/model.ts";
import { formatTargetSession } from "../../src/domain/refs.ts";
import {
  GROUP_SORTS,
  type GroupSort,
  PANE_SORTS,
  type PaneFilters,
  type PaneRecord,
  type PaneSort,
  matchesPane,
  sessionItems,
  sessionNameItems,
  sortPanes,
  summarize,
  toPaneItem,
  topState,
  windowItems,
} from "../../src/domain/views.ts";
import type { PaneItem, SessionItem, StateCounts, WindowItem } from "../../src/wire/list.ts";
import { mulberry32, pick, seedFromEnv, shuffle } from "../helpers/rng.ts";

const NOW = Date.parse("2026-11-24T10:00:00Z");

// ---------------------------------------------------------------------------
// builders

interface PaneSpec {
  pane: string;
  index?: number;
  agent?: string;
  /** undefined with an agent: the runtime has no state row yet */
  state?: State;
  updatedAt?: number;
}
interface WindowSpec {
  id: string;
  index: number;
  name?: string;
  active?: boolean;
  zoomed?: boolean;
  panes: PaneSpec[];
}
interface SessionSpec {
  target: string;
  id: string;
  name: string;
  attached?: number;
  windows: WindowSpec[];
}

function records(sessions: readonly SessionSpec[]): PaneRecord[] {
  const out: PaneRecord[] = [];
  for (const s of sessions) {
    for (const w of s.windows) {
      w.panes.forEach((p, i) => {
        const hasAgent = p.agent !== undefined;
        const hasState = hasAgent && p.state !== undefined;
        out.push({
          target_id: s.target,
          pane_id: p.pane,
          session_id: s.id,
          session_name: s.name,
          session_created: NOW - 86_400_000,
          session_attached: s.attached ?? 0,
          window_id: w.id,
          window_index: w.index,
          window_name: w.name ?? `w${w.index}`,
          window_active: w.active === true ? 1 : 0,
          window_zoomed: w.zoomed === true ? 1 : 0,
          pane_index: p.index ?? i,
          pane_pid: 4000 + Number(p.pane.slice(1)),
          current_command: hasAgent ? (p.agent ?? null) : "zsh",
          current_path: "/home/u/src",
          title: "t",
          is_active: i === 0 ? 1 : 0,
          is_dead: 0,
          width: 120,
          height: 40,
          runtime_id: hasAgent ? `rt-${s.target}-${p.pane.slice(1)}-0123456789abcdef` : null,
          agent_type: hasAgent ? (p.agent ?? null) : null,
          agent_pid: hasAgent ? 9000 + Number(p.pane.slice(1)) : null,
          agent_started_at: hasAgent ? NOW - 60_000 : null,
          pane_epoch: hasAgent ? 0 : null,
          state: hasState ? (p.state ?? null) : null,
          reason_code: null,
          confidence: hasState ? "high" : null,
          state_version: hasState ? 1 : null,
          state_updated_at: hasState ? (p.updatedAt ?? NOW - 5_000) : null,
          state_last_seen_at: hasState ? (p.updatedAt ?? NOW - 5_000) : null,
          state_source: hasState ? "hook" : null,
        });
      });
    }
  }
  return out;
}

const items = (rs: readonly PaneRecord[]): PaneItem[] => rs.map((r) => toPaneItem(r, NOW));

/** A realistic two-target topology; `shared` exists on both targets. */
const FIXED: SessionSpec[] = [
  {
    target: "host",
    id: "$1",
    name: "main",
    attached: 1,
    windows: [
      { id: "@1", index: 0, active: true, panes: [{ pane: "%1", agent: "claude", state: "waiting_approval", updatedAt: NOW - 1_000 }, { pane: "%2" }] },
      { id: "@2", index: 1, panes: [{ pane: "%3", agent: "codex", state: "running", updatedAt: NOW - 3_000 }, { pane: "%4", agent: "claude", state: "error", updatedAt: NOW - 2_000 }] },
    ],
  },
  {
    target: "host",
    id: "$2",
    name: "ops/deploy 100%",
    windows: [{ id: "@3", index: 0, panes: [{ pane: "%5", agent: "claude", state: "completed", updatedAt: NOW - 3_000 }, { pane: "%6", agent: "gemini", state: "idle", updatedAt: NOW - 9_000 }] }],
  },
  {
    target: "host",
    id: "$3",
    name: "shared",
    windows: [{ id: "@4", index: 0, panes: [{ pane: "%7", agent: "claude", state: "waiting_input", updatedAt: NOW - 1_000 }] }],
  },
  {
    target: "vm1",
    id: "$1",
    name: "shared",
    windows: [
      { id: "@1", index: 0, panes: [{ pane: "%1", agent: "claude", state: "running", updatedAt: NOW - 4_000 }, { pane: "%2", agent: "codex" }] },
      { id: "@2", index: 1, panes: [{ pane: "%3" }] },
    ],
  },
  {
    target: "vm1",
    id: "$2",
    name: "lab",
    windows: [{ id: "@3", index: 0, panes: [{ pane: "%4", agent: "codex", state: "waiting_approval", updatedAt: NOW - 1_000 }] }],
  },
];

function counts(partial: Partial<StateCounts>): StateCounts {
  const c = Object.fromEntries(STATES.map((s) => [s, 0])) as StateCounts;
  return { ...c, ...partial };
}

function sumCounts(cs: readonly StateCounts[]): StateCounts {
  const out = counts({});
  for (const c of cs) for (const s of STATES) out[s] += c[s];
  return out;
}

function sumAgents(cs: ReadonlyArray<Record<string, number>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of cs) for (const [k, n] of Object.entries(c)) out[k] = (out[k] ?? 0) + n;
  return out;
}

// ---------------------------------------------------------------------------
// random topologies

const SESSION_NAMES = ["main", "dev", "ops/deploy", "100%", "🚀 lab", "a b", "", "-x", "shared"];
const AGENTS = ["claude", "codex", "gemini"];
const UPDATED = [NOW - 1_000, NOW - 2_000, NOW - 3_000]; // few values: lots of ties

function randomTopology(rnd: () => number): PaneRecord[] {
  const targets = shuffle(["host", "vm1", "vm2"], rnd).slice(0, 1 + Math.floor(rnd() * 3));
  const specs: SessionSpec[] = [];
  for (const target of targets) {
    const names = shuffle(SESSION_NAMES, rnd).slice(0, 1 + Math.floor(rnd() * 4));
    // pane/window ids are per target; hand them out in shuffled order so id order != index order
    const nWindows = names.length * 3;
    const windowIds = shuffle(Array.from({ length: nWindows }, (_, i) => i + 1), rnd);
    const paneIds = shuffle(Array.from({ length: nWindows * 4 }, (_, i) => i), rnd);
    let wi = 0;
    let pi = 0;
    names.forEach((name, si) => {
      const windows: WindowSpec[] = [];
      const nw = 1 + Math.floor(rnd() * 3);
      for (let w = 0; w < nw; w++) {
        const panes: PaneSpec[] = [];
        const np = 1 + Math.floor(rnd() * 4);
        for (let p = 0; p < np; p++) {
          const pane = `%${paneIds[pi++] ?? 0}`;
          if (rnd() < 0.25) panes.push({ pane });
          else if (rnd() < 0.15) panes.push({ pane, agent: pick(AGENTS, rnd) });
          else panes.push({ pane, agent: pick(AGENTS, rnd), state: pick(STATES, rnd), updatedAt: pick(UPDATED, rnd) });
        }
        windows.push({ id: `@${windowIds[wi++] ?? 0}`, index: w, active: w === 0, panes });
      }
      specs.push({ target, id: `$${si}`, name, windows });
    });
  }
  return records(specs);
}

// ---------------------------------------------------------------------------
// oracles

const lt = (a: string, b: string): number => (a === b ? 0 : a < b ? -1 : 1);
const nullsLast = (a: number | null, b: number | null): number => (a === b ? 0 : a === null ? 1 : b === null ? -1 : a - b);
const num = (id: string): number => Number(id.slice(1));

function position(a: PaneItem, b: PaneItem): number {
  return (
    lt(a.identity.target, b.identity.target) ||
    lt(a.identity.session_name, b.identity.session_name) ||
    nullsLast(a.window_index, b.window_index) ||
    num(a.identity.window_id) - num(b.identity.window_id) ||
    nullsLast(a.pane_index, b.pane_index) ||
    num(a.identity.pane_id) - num(b.identity.pane_id)
  );
}

const rank = (s: State | null): number => (s === null ? -1 : precedenceRank(s));

/** Documented semantics of each pane sort key (views.ts). `updated`: nulls are compared separately. */
function paneKey(sort: PaneSort, a: PaneItem, b: PaneItem): number {
  switch (sort) {
    case "target":
      return 0;
    case "session":
      return lt(a.identity.session_name, b.identity.session_name);
    case "state":
      return rank(b.state) - rank(a.state);
    case "agent": {
      const x = a.agent?.type ?? null;
      const y = b.agent?.type ?? null;
      return x === y ? 0 : x === null ? 1 : y === null ? -1 : lt(x, y);
    }
    case "updated":
      return a.updated_at === null || b.updated_at === null ? 0 : lt(b.updated_at, a.updated_at);
  }
}

/** Every adjacent pair is strictly ordered: by the key, ties by position (a total order). */
function assertPaneOrder(out: readonly PaneItem[], sort: PaneSort, ctx: string): void {
  const seqs = sort === "updated" ? [out.filter((p) => p.updated_at !== null), out.filter((p) => p.updated_at === null)] : [out];
  for (const seq of seqs) {
    for (let i = 1; i < seq.length; i++) {
      const a = seq[i - 1] as PaneItem;
      const b = seq[i] as PaneItem;
      const k = paneKey(sort, a, b);
      if (k > 0 || (k === 0 && position(a, b) >= 0)) throw new Error(`sort=${sort}: ${a.ref} before ${b.ref} is out of order (${ctx})`);
    }
  }
}

function windowPos(a: WindowItem, b: WindowItem): number {
  return (
    lt(a.identity.target, b.identity.target) ||
    lt(a.identity.session_name, b.identity.session_name) ||
    nullsLast(a.window_index, b.window_index) ||
    num(a.identity.window_id) - num(b.identity.window_id)
  );
}

function groupKey(sort: GroupSort, sa: State | null, sb: State | null, na: string, nb: string): number {
  if (sort === "state") return rank(sb) - rank(sa);
  if (sort === "session") return lt(na, nb);
  return 0;
}

function assertStrict<T>(xs: readonly T[], cmp: (a: T, b: T) => number, what: string): void {
  for (let i = 1; i < xs.length; i++) {
    if (cmp(xs[i - 1] as T, xs[i] as T) >= 0) throw new Error(`${what}: items ${i - 1} and ${i} are not strictly ordered`);
  }
}

// ---------------------------------------------------------------------------
// filter combinations

const BASE: PaneFilters = { targets: null, target_session: null, session: null, state: null, agent: null, needs_action: false, all: false };

function* filterGrid(): Generator<PaneFilters> {
  for (const state of [null, ...STATES])
    for (const agent of [null, "claude", "codex"])
      for (const needs_action of [false, true])
        for (const all of [false, true])
          for (const session of [null, "shared"])
            for (const target_session of [null, { target: "host", session_name: "shared" }, { target: "host", session_name: "ops/deploy 100%" }])
              for (const targets of [null, ["host"], ["vm1"], ["host", "vm1"]]) yield { state, agent, needs_action, all, session, target_session, targets };
}

function randomFilters(rnd: () => number): PaneFilters {
  return {
    state: rnd() < 0.5 ? null : pick(STATES, rnd),
    agent: rnd() < 0.6 ? null : pick([...AGENTS, "nope"], rnd),
    needs_action: rnd() < 0.3,
    all: rnd() < 0.5,
    session: rnd() < 0.7 ? null : pick(SESSION_NAMES, rnd),
    target_session: rnd() < 0.8 ? null : { target: pick(["host", "vm1", "vm2"], rnd), session_name: pick(SESSION_NAMES, rnd) },
    targets: rnd() < 0.5 ? null : shuffle(["host", "vm1", "vm2"], rnd).slice(0, Math.floor(rnd() * 3)),
  };
}

/** The filter semantics, independently. */
function expectedMatch(p: PaneItem, f: PaneFilters): boolean {
  if (f.targets !== null && !f.targets.includes(p.identity.target)) return false;
  if (f.target_session !== null && (f.target_session.target !== p.identity.target || f.target_session.session_name !== p.identity.session_name)) return false;
  if (f.session !== null && f.session !== p.identity.session_name) return false;
  if (!f.all && p.agent === null) return false;
  if (f.state !== null && p.state !== f.state) return false;
  if (f.agent !== null && p.agent?.type !== f.agent) return false;
  if (f.needs_action && !["waiting_approval", "waiting_input", "error"].includes(p.state ?? "")) return false;
  return true;
}

const refs = (xs: readonly PaneItem[]): string[] => xs.map((p) => p.ref);

/** filter + sort over `input` and two shuffles of it: identical, correct and strictly ordered. */
function checkCombination(input: readonly PaneItem[], f: PaneFilters, sort: PaneSort, rnd: () => number, ctx: string): PaneItem[] {
  const run = (xs: readonly PaneItem[]): PaneItem[] => sortPanes(xs.filter((p) => matchesPane(p, f)), sort);
  const out = run(input);
  const want = refs(out);
  for (let k = 0; k < 2; k++) {
    const again = refs(run(shuffle(input, rnd)));
    if (again.join("\n") !== want.join("\n")) throw new Error(`sort=${sort} filters=${JSON.stringify(f)}: shuffled input changed the order (${ctx})`);
  }
  const expected = input.filter((p) => expectedMatch(p, f)).map((p) => p.ref);
  if (expected.length !== out.length || !expected.every((r) => want.includes(r))) {
    throw new Error(`filters=${JSON.stringify(f)}: got ${JSON.stringify(want)}, expected the set ${JSON.stringify(expected)} (${ctx})`);
  }
  assertPaneOrder(out, sort, `filters=${JSON.stringify(f)} ${ctx}`);
  return out;
}

// ===========================================================================

describe("TC-042 rollups", () => {
  const fixed = items(records(FIXED));

  test("TC-042 summary: counts by state, by agent, by target; non-agent panes count as panes only", () => {
    const s = summarize(fixed);
    expect(s).toEqual({
      sessions: 5,
      windows: 7,
      panes: 11,
      agent_panes: 9,
      needs_action: 4,
      by_state: counts({ waiting_approval: 2, running: 2, error: 1, completed: 1, idle: 1, waiting_input: 1, unknown: 1 }),
      by_agent: { claude: 5, codex: 3, gemini: 1 },
      by_target: {
        host: { sessions: 3, windows: 4, panes: 7, agent_panes: 6, needs_action: 3, by_state: counts({ waiting_approval: 1, running: 1, error: 1, completed: 1, idle: 1, waiting_input: 1 }) },
        vm1: { sessions: 2, windows: 3, panes: 4, agent_panes: 3, needs_action: 1, by_state: counts({ waiting_approval: 1, running: 1, unknown: 1 }) },
      },
    });
    // every state key is always present
    expect(Object.keys(s.by_state).toSorted()).toEqual([...STATES].toSorted());
    expect(summarize([])).toEqual({ sessions: 0, windows: 0, panes: 0, agent_panes: 0, needs_action: 0, by_state: counts({}), by_agent: {}, by_target: {} });
  });

  test("TC-042 an agent without a state row is `unknown/no_signal` with low confidence and counts as unknown", () => {
    const p = fixed.find((x) => x.identity.target === "vm1" && x.identity.pane_id === "%2");
    expect(p).toMatchObject({ state: "unknown", reason_code: "no_signal", confidence: "low", needs_action: false, updated_at: null, age_s: null });
    const none = fixed.find((x) => x.identity.target === "host" && x.identity.pane_id === "%2");
    expect(none).toMatchObject({ agent: null, runtime_ref: null, state: null, reason_code: null, confidence: null, needs_action: false });
  });

  test("TC-042 topState follows precedence error > waiting_approval > waiting_input > running > completed > idle > unknown", () => {
    expect(PRECEDENCE).toEqual(["error", "waiting_approval", "waiting_input", "running", "completed", "idle", "unknown"]);
    expect(topState([])).toBeNull();
    expect(topState([null, null])).toBeNull();
    for (const a of STATES) {
      for (const b of STATES) {
        const want = PRECEDENCE.indexOf(a) <= PRECEDENCE.indexOf(b) ? a : b;
        expect(`${a},${b} -> ${topState([a, null, b])}`).toBe(`${a},${b} -> ${want}`);
      }
    }
  });

  test("TC-042 windows: top state for every subset of states (all 128), waiting/running/needs_action counts", () => {
    for (let mask = 0; mask < 1 << STATES.length; mask++) {
      const present = STATES.filter((_, i) => (mask & (1 << i)) !== 0);
      const panes: PaneSpec[] = [{ pane: "%0" }, ...present.map((state, i) => ({ pane: `%${i + 1}`, agent: i % 2 === 0 ? "claude" : "codex", state }))];
      const [w, ...rest] = windowItems(items(records([{ target: "host", id: "$1", name: "s", windows: [{ id: "@1", index: 0, panes }] }])), true, "target");
      expect(rest).toEqual([]);
      const want = PRECEDENCE.find((s) => present.includes(s)) ?? null;
      const has = (s: State): number => (present.includes(s) ? 1 : 0);
      expect(w).toMatchObject({
        panes: present.length + 1,
        agent_panes: present.length,
        top_state: want,
        waiting: has("waiting_input") + has("waiting_approval"),
        running: has("running"),
        needs_action: has("waiting_input") + has("waiting_approval") + has("error"),
        state_counts: counts(Object.fromEntries(present.map((s) => [s, 1]))),
      });
    }
  });

  test("TC-042 windows of the fixed topology", () => {
    const ws = windowItems(fixed, false, "target");
    expect(ws.map((w) => [w.identity.target, w.identity.session_name, w.identity.window_id, w.top_state, w.panes, w.agent_panes, w.waiting, w.running, w.needs_action])).toEqual([
      ["host", "main", "@1", "waiting_approval", 2, 1, 1, 0, 1],
      ["host", "main", "@2", "error", 2, 2, 0, 1, 1],
      ["host", "ops/deploy 100%", "@3", "completed", 2, 2, 0, 0, 0],
      ["host", "shared", "@4", "waiting_input", 1, 1, 1, 0, 1],
      ["vm1", "lab", "@3", "waiting_approval", 1, 1, 1, 0, 1],
      ["vm1", "shared", "@1", "running", 2, 2, 0, 1, 0],
      ["vm1", "shared", "@2", null, 1, 0, 0, 0, 0],
    ]);
    // without --with-agent-status the optional keys are absent, not null
    for (const w of ws) {
      expect("state_counts" in w).toBe(false);
      expect("agent_counts" in w).toBe(false);
    }
    const withStatus = windowItems(fixed, true, "target");
    expect(withStatus[1]).toMatchObject({ state_counts: counts({ running: 1, error: 1 }), agent_counts: { codex: 1, claude: 1 } });
    expect(withStatus[6]).toMatchObject({ state_counts: counts({}), agent_counts: {} });
  });

  test("TC-042 sessions group by target-session by default: no cross-target merge", () => {
    const ss = sessionItems(fixed, false, "target");
    expect(ss.map((s) => [s.target_session, s.windows, s.panes, s.agent_panes, s.top_state, s.waiting, s.running, s.needs_action])).toEqual([
      ["host/main", 2, 4, 3, "error", 1, 1, 2],
      [formatTargetSession("host", "ops/deploy 100%"), 1, 2, 2, "completed", 0, 0, 0],
      ["host/shared", 1, 1, 1, "waiting_input", 1, 0, 1],
      ["vm1/lab", 1, 1, 1, "waiting_approval", 1, 0, 1],
      ["vm1/shared", 2, 3, 2, "running", 0, 1, 0],
    ]);
    expect(ss[1]?.target_session).toBe("host/ops%2Fdeploy%20100%25");
    expect(ss[0]).toMatchObject({ identity: { target: "host", session_name: "main" }, session_id: "$1", attached: 1 });
    for (const s of ss) expect("state_counts" in s || "agent_counts" in s).toBe(false);
    const withSummary = sessionItems(fixed, true, "target");
    expect(withSummary[0]).toMatchObject({ state_counts: counts({ waiting_approval: 1, running: 1, error: 1 }), agent_counts: { claude: 2, codex: 1 } });
  });

  test("TC-042 --group-by session-name merges the same name across targets, with a per-target breakdown and totals that add up", () => {
    const rows = sessionNameItems(fixed, "target");
    expect(rows.map((r) => [r.identity.session_name, r.targets])).toEqual([
      ["lab", ["vm1"]],
      ["main", ["host"]],
      ["ops/deploy 100%", ["host"]],
      ["shared", ["host", "vm1"]],
    ]);
    const shared = rows[3];
    if (shared === undefined) throw new Error("no shared row");
    expect(shared.by_target.map((b) => b.target_session)).toEqual(["host/shared", "vm1/shared"]);
    expect(shared.totals).toEqual({
      windows: 3,
      panes: 4,
      agent_panes: 3,
      top_state: "waiting_input",
      waiting: 1,
      running: 1,
      needs_action: 1,
      state_counts: counts({ waiting_input: 1, running: 1, unknown: 1 }),
      agent_counts: { claude: 2, codex: 1 },
    });
    expect(shared.by_target[0]).toMatchObject({ windows: 1, panes: 1, top_state: "waiting_input", state_counts: counts({ waiting_input: 1 }), agent_counts: { claude: 1 } });
    expect(shared.by_target[1]).toMatchObject({ windows: 2, panes: 3, top_state: "running", state_counts: counts({ running: 1, unknown: 1 }), agent_counts: { claude: 1, codex: 1 } });
    // state_counts/agent_counts are always present in the breakdown
    for (const r of rows) for (const b of r.by_target) expect(Object.keys(b.state_counts).length).toBe(STATES.length);
  });

  test("TC-042 property: rollups add up across panes, windows, sessions, session-names and the summary", () => {
    const seed = seedFromEnv("AGTMUX_SEED_ROLLUPS", 0x42_0042);
    console.log(`views-rollups property seed=${seed}`);
    const rnd = mulberry32(seed);
    for (let round = 0; round < 150; round++) {
      const ps = items(randomTopology(rnd));
      const ctx = `seed=${seed} round=${round}`;
      const s = summarize(ps);
      const ws = windowItems(ps, true, "target");
      const ss = sessionItems(ps, true, "target");
      const ns = sessionNameItems(ps, "target");
      try {
        expect(ws.length).toBe(s.windows);
        expect(ss.length).toBe(s.sessions);
        expect(ss.reduce((n, x) => n + x.windows, 0)).toBe(s.windows);
        for (const group of [ws, ss] as ReadonlyArray<ReadonlyArray<WindowItem | SessionItem>>) {
          expect(group.reduce((n, x) => n + x.panes, 0)).toBe(s.panes);
          expect(group.reduce((n, x) => n + x.agent_panes, 0)).toBe(s.agent_panes);
          expect(group.reduce((n, x) => n + x.needs_action, 0)).toBe(s.needs_action);
          expect(sumCounts(group.map((x) => x.state_counts ?? counts({})))).toEqual(s.by_state);
          expect(sumAgents(group.map((x) => x.agent_counts ?? {}))).toEqual(s.by_agent);
          expect(topState(group.map((x) => x.top_state))).toBe(topState(ps.map((p) => p.state)));
        }
        expect(s.by_state.waiting_input + s.by_state.waiting_approval).toBe(ws.reduce((n, w) => n + w.waiting, 0));
        expect(s.by_state.running).toBe(ws.reduce((n, w) => n + w.running, 0));
        expect(Object.values(s.by_state).reduce((a, b) => a + b, 0)).toBe(s.agent_panes);
        expect(Object.values(s.by_agent).reduce((a, b) => a + b, 0)).toBe(s.agent_panes);
        const bt = Object.values(s.by_target);
        expect(bt.reduce((n, t) => n + t.panes, 0)).toBe(s.panes);
        expect(bt.reduce((n, t) => n + t.sessions, 0)).toBe(s.sessions);
        expect(bt.reduce((n, t) => n + t.windows, 0)).toBe(s.windows);
        expect(bt.reduce((n, t) => n + t.agent_panes, 0)).toBe(s.agent_panes);
        expect(bt.reduce((n, t) => n + t.needs_action, 0)).toBe(s.needs_action);
        expect(sumCounts(bt.map((t) => t.by_state))).toEqual(s.by_state);
        // session-name rows: breakdown adds up to totals, totals add up to the summary
        expect(ns.reduce((n, r) => n + r.by_target.length, 0)).toBe(s.sessions);
        expect(new Set(ns.map((r) => r.identity.session_name)).size).toBe(ns.length);
        for (const r of ns) {
          expect(r.targets).toEqual(r.by_target.map((b) => b.identity.target));
          expect(r.targets).toEqual([...new Set(r.targets)].toSorted());
          for (const k of ["windows", "panes", "agent_panes", "waiting", "running", "needs_action"] as const) {
            expect(r.by_target.reduce((n, b) => n + b[k], 0)).toBe(r.totals[k]);
          }
          expect(sumCounts(r.by_target.map((b) => b.state_counts))).toEqual(r.totals.state_counts);
          expect(sumAgents(r.by_target.map((b) => b.agent_counts))).toEqual(r.totals.agent_counts);
          expect(r.totals.top_state).toBe(topState(r.by_target.map((b) => b.top_state)));
          for (const b of r.by_target) expect(b.identity.session_name).toBe(r.identity.session_name);
        }
        expect(ns.reduce((n, r) => n + r.totals.panes, 0)).toBe(s.panes);
        expect(sumCounts(ns.map((r) => r.totals.state_counts))).toEqual(s.by_state);
      } catch (err) {
        throw new Error(`${ctx}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      }
    }
  });
});

describe("TC-048 filter + sort combinations", () => {
  test("TC-048 full grid on a realistic topology: every filter combination x every sort is correct, deterministic and total", () => {
    const seed = seedFromEnv("AGTMUX_SEED_SORTS_GRID", 0x48_0001);
    console.log(`views-rollups grid seed=${seed}`);
    const rnd = mulberry32(seed);
    const input = items(records(FIXED));
    let combos = 0;
    let nonEmpty = 0;
    for (const f of filterGrid()) {
      for (const sort of PANE_SORTS) {
        combos++;
        if (checkCombination(input, f, sort, rnd, `seed=${seed}`).length > 0) nonEmpty++;
      }
    }
    expect(combos).toBe(8 * 3 * 2 * 2 * 2 * 3 * 4 * PANE_SORTS.length);
    expect(nonEmpty).toBeGreaterThan(combos / 10);
  });

  test("TC-048 property: random topologies x random filters x every sort", () => {
    const seed = seedFromEnv("AGTMUX_SEED_SORTS", 0x48_0048);
    console.log(`views-rollups sort property seed=${seed}`);
    const rnd = mulberry32(seed);
    for (let round = 0; round < 120; round++) {
      const input = items(randomTopology(rnd));
      for (let k = 0; k < 12; k++) {
        const f = k === 0 ? BASE : k === 1 ? { ...BASE, all: true } : randomFilters(rnd);
        for (const sort of PANE_SORTS) checkCombination(input, f, sort, rnd, `seed=${seed} round=${round}`);
      }
    }
  });

  test("TC-048 sort keys: state by precedence, agent/session ascending, target = position, ties by position", () => {
    const input = items(records(FIXED));
    const show = (sort: PaneSort, all = false): string[] =>
      sortPanes(input.filter((p) => matchesPane(p, { ...BASE, all })), sort).map((p) => `${p.identity.target}${p.identity.pane_id}`);
    expect(show("target", true)).toEqual(["host%1", "host%2", "host%3", "host%4", "host%5", "host%6", "host%7", "vm1%4", "vm1%1", "vm1%2", "vm1%3"]);
    expect(show("state")).toEqual(["host%4", "host%1", "vm1%4", "host%7", "host%3", "vm1%1", "host%5", "host%6", "vm1%2"]);
    expect(show("state", true)).toEqual(["host%4", "host%1", "vm1%4", "host%7", "host%3", "vm1%1", "host%5", "host%6", "vm1%2", "host%2", "vm1%3"]);
    expect(show("agent")).toEqual(["host%1", "host%4", "host%5", "host%7", "vm1%1", "host%3", "vm1%4", "vm1%2", "host%6"]);
    expect(show("session")).toEqual(["vm1%4", "host%1", "host%3", "host%4", "host%5", "host%6", "host%7", "vm1%1", "vm1%2"]);
    // updated: most recent first, ties by position (never-updated panes: see the next test)
    expect(show("updated").filter((x) => x !== "vm1%2")).toEqual(["host%1", "host%7", "vm1%4", "host%4", "host%3", "host%5", "vm1%1", "host%6"]);
  });

  test("TC-048 sort=updated puts never-updated panes last", () => {
    // regression: nulls used to sort first when the comparison was reversed
    const input = items(records(FIXED));
    const out = sortPanes(input.filter((p) => matchesPane(p, { ...BASE, all: true })), "updated").map((p) => `${p.identity.target}${p.identity.pane_id}`);
    expect(out).toEqual(["host%1", "host%7", "vm1%4", "host%4", "host%3", "host%5", "vm1%1", "host%6", "host%2", "vm1%2", "vm1%3"]);
  });

  test("TC-048 groups: windows, sessions and session-name rows are deterministic and totally ordered for every sort", () => {
    const seed = seedFromEnv("AGTMUX_SEED_GROUPS", 0x48_0002);
    console.log(`views-rollups groups seed=${seed}`);
    const rnd = mulberry32(seed);
    for (let round = 0; round < 150; round++) {
      const input = items(randomTopology(rnd));
      const ctx = `seed=${seed} round=${round}`;
      for (const sort of GROUP_SORTS) {
        for (const flag of [false, true]) {
          const ws = windowItems(input, flag, sort);
          const ss = sessionItems(input, flag, sort);
          const ns = sessionNameItems(input, sort);
          const again = shuffle(input, rnd);
          expect({ ctx, sort, v: windowItems(again, flag, sort) }).toEqual({ ctx, sort, v: ws });
          expect({ ctx, sort, v: sessionItems(again, flag, sort) }).toEqual({ ctx, sort, v: ss });
          expect({ ctx, sort, v: sessionNameItems(again, sort) }).toEqual({ ctx, sort, v: ns });
          assertStrict(ws, (a, b) => groupKey(sort, a.top_state, b.top_state, a.identity.session_name, b.identity.session_name) || windowPos(a, b), `windows ${sort} ${ctx}`);
          assertStrict(
            ss,
            (a, b) =>
              groupKey(sort, a.top_state, b.top_state, a.identity.session_name, b.identity.session_name) ||
              lt(a.identity.target, b.identity.target) ||
              lt(a.identity.session_name, b.identity.session_name),
            `sessions ${sort} ${ctx}`,
          );
          assertStrict(ns, (a, b) => (sort === "state" ? rank(b.totals.top_state) - rank(a.totals.top_state) : 0) || lt(a.identity.session_name, b.identity.session_name), `session-name ${sort} ${ctx}`);
        }
      }
    }
  });

  test("TC-048 stable schema: every pane item has the same keys whatever the filter, sort or agent presence", () => {
    const seed = seedFromEnv("AGTMUX_SEED_SCHEMA", 0x48_0003);
    console.log(`views-rollups schema seed=${seed}`);
    const rnd = mulberry32(seed);
    const want = [
      "identity", "ref", "runtime_ref", "session_id", "session_created_at", "session_attached", "window_index", "window_name", "pane_index",
      "active", "window_active", "zoomed", "dead", "size", "cwd", "pane_pid", "current_command", "title", "agent", "state", "reason_code",
      "confidence", "state_version", "state_source", "updated_at", "age_s", "last_seen_at", "needs_action",
    ].toSorted();
    for (let round = 0; round < 30; round++) {
      for (const p of items(randomTopology(rnd))) {
        expect(Object.keys(p).toSorted()).toEqual(want);
        expect(Object.keys(p.identity)).toEqual(["target", "session_name", "window_id", "pane_id"]);
        if (p.agent !== null) expect(Object.keys(p.agent).toSorted()).toEqual(["pane_epoch", "pid", "runtime_id", "started_at", "type"]);
      }
    }
  });

  test("TC-048 shuffled input gives byte-identical JSON (summary and group objects included)", () => {
    // regression: count objects used to list keys in arrival order
    const seed = seedFromEnv("AGTMUX_SEED_JSON", 0x48_0004);
    console.log(`views-rollups json seed=${seed}`);
    const rnd = mulberry32(seed);
    for (let round = 0; round < 40; round++) {
      const input = items(randomTopology(rnd));
      const render = (xs: readonly PaneItem[]): Record<string, string> => ({
        summary: JSON.stringify(summarize(xs)),
        windows: JSON.stringify(windowItems(xs, true, "state")),
        sessions: JSON.stringify(sessionItems(xs, true, "session")),
        session_names: JSON.stringify(sessionNameItems(xs, "state")),
      });
      const want = render(input);
      const got = render(shuffle(input, rnd));
      const differ = Object.keys(want).filter((k) => want[k] !== got[k]);
      if (differ.length > 0) throw new Error(`seed=${seed} round=${round}: JSON of ${differ.join(", ")} differs after shuffling the input`);
    }
  });
});
