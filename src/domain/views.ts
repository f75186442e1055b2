/**
 * The read model's pure half: pane records -> API items, filters, sorting,
 * rollups (contracts §7, §9). The daemon feeds it rows from the store; the CLI
 * only prints what the API returns.
 */
import type { PaneItem, SessionItem, SessionNameItem, StateCounts, Summary, WindowItem } from "../wire/list.ts";
import { STATES, type Confidence, type State, precedenceRank } from "./model.ts";
import { formatPaneRef, formatRuntimeRef, formatTargetSession } from "./refs.ts";
import { isoOrNull } from "./time.ts";

/** One pane joined with its active runtime and state (the store's PaneView satisfies this). */
export interface PaneRecord {
  target_id: string;
  pane_id: string;
  session_id: string | null;
  session_name: string | null;
  session_created: number | null;
  session_attached: number;
  window_id: string | null;
  window_index: number | null;
  window_name: string | null;
  window_active: number;
  window_zoomed: number;
  pane_index: number | null;
  pane_pid: number | null;
  current_command: string | null;
  current_path: string | null;
  title: string | null;
  is_active: number;
  is_dead: number;
  width: number | null;
  height: number | null;
  runtime_id: string | null;
  agent_type: string | null;
  agent_pid: number | null;
  agent_started_at: number | null;
  pane_epoch: number | null;
  state: State | null;
  reason_code: string | null;
  confidence: Confidence | null;
  state_version: number | null;
  state_updated_at: number | null;
  state_last_seen_at: number | null;
  state_source: string | null;
}

export const NEEDS_ACTION_STATES: readonly State[] = ["waiting_approval", "waiting_input", "error"];
export const PANE_SORTS = ["target", "state", "updated", "agent", "session"] as const;
export type PaneSort = (typeof PANE_SORTS)[number];
export const GROUP_SORTS = ["target", "state", "session"] as const;
export type GroupSort = (typeof GROUP_SORTS)[number];

export interface Scope {
  /** null: every target */
  targets: readonly string[] | null;
  target_session: { target: string; session_name: string } | null;
  session: string | null;
}

export interface PaneFilters extends Scope {
  state: State | null;
  agent: string | null;
  needs_action: boolean;
  /** include panes without an agent */
  all: boolean;
}

export function emptyCounts(): StateCounts {
  return Object.fromEntries(STATES.map((s) => [s, 0])) as StateCounts;
}

export function toPaneItem(r: PaneRecord, now: number): PaneItem {
  const session_name = r.session_name ?? "";
  const window_id = r.window_id ?? "@?";
  const hasAgent = r.runtime_id !== null;
  const state = hasAgent ? (r.state ?? "unknown") : null;
  return {
    identity: { target: r.target_id, session_name, window_id, pane_id: r.pane_id },
    ref: formatPaneRef({ target: r.target_id, session_name, window_id, pane_id: r.pane_id }),
    runtime_ref: r.runtime_id === null ? null : formatRuntimeRef(r.runtime_id),
    session_id: r.session_id,
    session_created_at: isoOrNull(r.session_created),
    session_attached: r.session_attached,
    window_index: r.window_index,
    window_name: r.window_name,
    pane_index: r.pane_index,
    active: r.is_active === 1,
    window_active: r.window_active === 1,
    zoomed: r.window_zoomed === 1,
    dead: r.is_dead === 1,
    size: { width: r.width, height: r.height },
    cwd: r.current_path,
    pane_pid: r.pane_pid,
    current_command: r.current_command,
    title: r.title,
    agent:
      r.runtime_id === null
        ? null
        : { type: r.agent_type ?? "unknown", pid: r.agent_pid, started_at: isoOrNull(r.agent_started_at), runtime_id: r.runtime_id, pane_epoch: r.pane_epoch },
    state,
    reason_code: hasAgent ? (r.state === null ? "no_signal" : r.reason_code) : null,
    confidence: hasAgent ? (r.confidence ?? "low") : null,
    state_version: hasAgent ? r.state_version : null,
    state_source: hasAgent ? r.state_source : null,
    updated_at: hasAgent ? isoOrNull(r.state_updated_at) : null,
    age_s: hasAgent && r.state_updated_at !== null ? Math.max(0, Math.floor((now - r.state_updated_at) / 1000)) : null,
    last_seen_at: hasAgent ? isoOrNull(r.state_last_seen_at) : null,
    needs_action: state !== null && NEEDS_ACTION_STATES.includes(state),
  };
}

export function inScope(p: PaneItem, s: Scope): boolean {
  if (s.targets !== null && !s.targets.includes(p.identity.target)) return false;
  if (s.target_session !== null && (p.identity.target !== s.target_session.target || p.identity.session_name !== s.target_session.session_name)) return false;
  if (s.session !== null && p.identity.session_name !== s.session) return false;
  return true;
}

export function matchesPane(p: PaneItem, f: PaneFilters): boolean {
  if (!inScope(p, f)) return false;
  if (!f.all && p.agent === null) return false;
  if (f.state !== null && p.state !== f.state) return false;
  if (f.agent !== null && p.agent?.type !== f.agent) return false;
  if (f.needs_action && !p.needs_action) return false;
  return true;
}

const cmp = (a: string | number | null | undefined, b: string | number | null | undefined): number => {
  if (a === b) return 0;
  if (a === null || a === undefined) return 1;
  if (b === null || b === undefined) return -1;
  if (typeof a === "number" && typeof b === "number") return a - b;
  return String(a) < String(b) ? -1 : 1;
};
const idNum = (id: string | null | undefined): number => (id == null ? Number.MAX_SAFE_INTEGER : Number(id.slice(1)));

/** The default, total order: target, session, window index, pane index, ids. */
function byPosition(a: PaneItem, b: PaneItem): number {
  return (
    cmp(a.identity.target, b.identity.target) ||
    cmp(a.identity.session_name, b.identity.session_name) ||
    cmp(a.window_index, b.window_index) ||
    cmp(idNum(a.identity.window_id), idNum(b.identity.window_id)) ||
    cmp(a.pane_index, b.pane_index) ||
    cmp(idNum(a.identity.pane_id), idNum(b.identity.pane_id))
  );
}

const stateRank = (s: State | null): number => (s === null ? -1 : precedenceRank(s));

export function sortPanes(items: PaneItem[], sort: PaneSort): PaneItem[] {
  const key: Record<PaneSort, (a: PaneItem, b: PaneItem) => number> = {
    target: () => 0,
    session: (a, b) => cmp(a.identity.session_name, b.identity.session_name),
    state: (a, b) => stateRank(b.state) - stateRank(a.state),
    // most recent first; never-updated last
    updated: (a, b) => (a.updated_at === b.updated_at ? 0 : a.updated_at === null ? 1 : b.updated_at === null ? -1 : cmp(b.updated_at, a.updated_at)),
    agent: (a, b) => cmp(a.agent?.type, b.agent?.type),
  };
  const k = key[sort];
  return items.toSorted((a, b) => k(a, b) || byPosition(a, b));
}

export function topState(states: Iterable<State | null>): State | null {
  let best: State | null = null;
  for (const s of states) if (s !== null && (best === null || precedenceRank(s) > precedenceRank(best))) best = s;
  return best;
}

interface Agg {
  panes: number;
  agent_panes: number;
  waiting: number;
  running: number;
  needs_action: number;
  top_state: State | null;
  state_counts: StateCounts;
  agent_counts: Record<string, number>;
}

function aggregate(items: readonly PaneItem[]): Agg {
  const a: Agg = { panes: 0, agent_panes: 0, waiting: 0, running: 0, needs_action: 0, top_state: null, state_counts: emptyCounts(), agent_counts: {} };
  for (const p of items) {
    a.panes++;
    if (p.agent === null || p.state === null) continue;
    a.agent_panes++;
    a.state_counts[p.state]++;
    a.agent_counts[p.agent.type] = (a.agent_counts[p.agent.type] ?? 0) + 1;
    if (p.state === "waiting_input" || p.state === "waiting_approval") a.waiting++;
    if (p.state === "running") a.running++;
    if (p.needs_action) a.needs_action++;
    a.top_state = topState([a.top_state, p.state]);
  }
  a.agent_counts = sortedKeys(a.agent_counts);
  return a;
}

/** Same keys, sorted: JSON output must not depend on the order rows arrived in. */
function sortedKeys<V>(o: Record<string, V>): Record<string, V> {
  return Object.fromEntries(Object.entries(o).toSorted(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** The per-group numbers windows, sessions and session-name rows all carry. */
function rollup(a: Agg): Pick<Agg, "panes" | "agent_panes" | "top_state" | "waiting" | "running" | "needs_action"> {
  return { panes: a.panes, agent_panes: a.agent_panes, top_state: a.top_state, waiting: a.waiting, running: a.running, needs_action: a.needs_action };
}

function counts(a: Agg): Pick<Agg, "state_counts" | "agent_counts"> {
  return { state_counts: a.state_counts, agent_counts: a.agent_counts };
}

function groupBy<K>(items: readonly PaneItem[], key: (p: PaneItem) => K): Map<K, PaneItem[]> {
  const m = new Map<K, PaneItem[]>();
  for (const p of items) {
    const k = key(p);
    const list = m.get(k);
    if (list === undefined) m.set(k, [p]);
    else list.push(p);
  }
  return m;
}

const sessionKey = (p: PaneItem): string => `${p.identity.target}\u0000${p.identity.session_name}`;
const windowKey = (p: PaneItem): string => `${sessionKey(p)}\u0000${p.identity.window_id}`;

export function summarize(items: readonly PaneItem[]): Summary {
  const all = aggregate(items);
  const by_target: Summary["by_target"] = {};
  for (const [target, list] of groupBy(items, (p) => p.identity.target)) {
    const a = aggregate(list);
    by_target[target] = {
      sessions: groupBy(list, sessionKey).size,
      windows: groupBy(list, windowKey).size,
      panes: a.panes,
      agent_panes: a.agent_panes,
      needs_action: a.needs_action,
      by_state: a.state_counts,
    };
  }
  return {
    sessions: groupBy(items, sessionKey).size,
    windows: groupBy(items, windowKey).size,
    panes: all.panes,
    agent_panes: all.agent_panes,
    needs_action: all.needs_action,
    by_state: all.state_counts,
    by_agent: all.agent_counts,
    by_target: sortedKeys(by_target),
  };
}

export function windowItems(items: readonly PaneItem[], withAgentStatus: boolean, sort: GroupSort): WindowItem[] {
  const out: WindowItem[] = [];
  for (const list of groupBy(items, windowKey).values()) {
    const first = list[0] as PaneItem;
    const a = aggregate(list);
    const w: WindowItem = {
      identity: { target: first.identity.target, session_name: first.identity.session_name, window_id: first.identity.window_id },
      session_id: first.session_id,
      window_index: first.window_index,
      window_name: first.window_name,
      active: first.window_active,
      zoomed: first.zoomed,
      ...rollup(a),
    };
    if (withAgentStatus) Object.assign(w, counts(a));
    out.push(w);
  }
  const pos = (a: WindowItem, b: WindowItem): number =>
    cmp(a.identity.target, b.identity.target) ||
    cmp(a.identity.session_name, b.identity.session_name) ||
    cmp(a.window_index, b.window_index) ||
    cmp(idNum(a.identity.window_id), idNum(b.identity.window_id));
  return out.toSorted((a, b) => groupOrder(sort, a.top_state, b.top_state, a.identity.session_name, b.identity.session_name) || pos(a, b));
}

function groupOrder(sort: GroupSort, sa: State | null, sb: State | null, na: string, nb: string): number {
  if (sort === "state") return stateRank(sb) - stateRank(sa);
  if (sort === "session") return cmp(na, nb);
  return 0;
}

export function sessionItems(items: readonly PaneItem[], agentSummary: boolean, sort: GroupSort): SessionItem[] {
  const out: SessionItem[] = [];
  for (const list of groupBy(items, sessionKey).values()) {
    const first = list[0] as PaneItem;
    const a = aggregate(list);
    const s: SessionItem = {
      identity: { target: first.identity.target, session_name: first.identity.session_name },
      target_session: formatTargetSession(first.identity.target, first.identity.session_name),
      session_id: first.session_id,
      created_at: first.session_created_at,
      attached: first.session_attached,
      windows: groupBy(list, windowKey).size,
      ...rollup(a),
    };
    if (agentSummary) Object.assign(s, counts(a));
    out.push(s);
  }
  return out.toSorted(
    (a, b) =>
      groupOrder(sort, a.top_state, b.top_state, a.identity.session_name, b.identity.session_name) ||
      cmp(a.identity.target, b.identity.target) ||
      cmp(a.identity.session_name, b.identity.session_name),
  );
}

/** --group-by session-name: merges same-named sessions across targets explicitly. */
export function sessionNameItems(items: readonly PaneItem[], sort: GroupSort): SessionNameItem[] {
  const out: SessionNameItem[] = [];
  for (const [name, list] of groupBy(items, (p) => p.identity.session_name)) {
    const by_target = sessionItems(list, true, "target").map((s) => ({
      ...s,
      state_counts: s.state_counts ?? emptyCounts(),
      agent_counts: s.agent_counts ?? {},
    }));
    const a = aggregate(list);
    out.push({
      identity: { session_name: name },
      targets: by_target.map((b) => b.identity.target),
      by_target,
      totals: { windows: by_target.reduce((n, b) => n + b.windows, 0), ...rollup(a), ...counts(a) },
    });
  }
  return out.toSorted((a, b) => groupOrder(sort, a.totals.top_state, b.totals.top_state, "", "") || cmp(a.identity.session_name, b.identity.session_name));
}

