/**
 * GET /v1/panes | /v1/windows | /v1/sessions | /v1/targets — the read API.
 * The CLI prints exactly what these return (contracts §7, §9).
 */
import * as v from "valibot";
import { AgtmuxError } from "../../domain/errors.ts";
import { summarizeIssues } from "../../domain/event.ts";
import { STATES } from "../../domain/model.ts";
import { type Ref, parseRef, parseTargetSession } from "../../domain/refs.ts";
import { iso, isoOrNull } from "../../domain/time.ts";
import {
  GROUP_SORTS,
  PANE_SORTS,
  type PaneFilters,
  type Scope,
  inScope,
  matchesPane,
  sessionItems,
  sessionNameItems,
  sortPanes,
  summarize,
  toPaneItem,
  windowItems,
} from "../../domain/views.ts";
import type { TargetRow } from "../../store/store.ts";
import type { ListResponse, PaneItem, TargetError, TargetItem, TargetsResponse } from "../../wire/list.ts";
import { API_SCHEMA_VERSION } from "../../wire/types.ts";
import type { DaemonContext } from "../context.ts";
import { json } from "../http.ts";

const bool = v.optional(
  v.pipe(
    v.picklist(["", "1", "0", "true", "false"], "must be true or false"),
    v.transform((s) => s === "" || s === "1" || s === "true"),
  ),
);
const str = v.optional(v.pipe(v.string(), v.maxLength(512)));

export const QUERY_ENTRIES = {
  target: v.optional(v.array(v.pipe(v.string(), v.regex(/^[A-Za-z0-9._-]{1,64}$/, "must be a target name")))),
  all_targets: bool,
  target_session: str,
  session: str,
  state: v.optional(v.picklist(STATES, `must be one of ${STATES.join("|")}`)),
  agent: v.optional(v.pipe(v.string(), v.regex(/^[a-z0-9_-]{1,32}$/, "must be an agent type"))),
  needs_action: bool,
  all: bool,
  sort: str,
  with_agent_status: bool,
  agent_summary: bool,
  group_by: v.optional(v.picklist(["target-session", "session-name"], "must be target-session or session-name")),
  ref: str,
};
const QuerySchema = v.strictObject(QUERY_ENTRIES);
export type Query = v.InferOutput<typeof QuerySchema>;

/** Query params as an object (repeatable `target` as an array), for a strict schema. */
export function rawQuery(url: URL): Record<string, unknown> {
  const raw: Record<string, unknown> = {};
  for (const [k, val] of url.searchParams) {
    if (k === "target") raw.target = [...((raw.target as string[] | undefined) ?? []), val];
    else raw[k] = val;
  }
  return raw;
}

function parseQuery(url: URL): Query {
  const r = v.safeParse(QuerySchema, rawQuery(url));
  if (!r.success) {
    const issues = summarizeIssues(r.issues);
    throw new AgtmuxError("E_BAD_REQUEST", `invalid query: ${issues[0]?.path ?? ""} ${issues[0]?.message ?? ""}`.trim(), { issues });
  }
  return r.output;
}

interface Collected {
  all: PaneItem[];
  scope: Scope;
  requested: string[];
  responded: string[];
  errors: TargetError[];
  filters: Record<string, unknown>;
  ref: Ref | null;
}

export type ScopeOf = Omit<Collected, "all">;

/** What a query asks for (targets, session scope, ref) and which targets fail right now; reads no panes. */
export function scopeOf(ctx: DaemonContext, q: Query): ScopeOf {
  const targets = ctx.store.listTargets();
  const known = new Set(targets.map((t) => t.target_id));
  for (const t of q.target ?? []) {
    if (!known.has(t)) throw new AgtmuxError("E_REF_NOT_FOUND", `unknown target: ${t}`, { target: t, known: [...known] });
  }
  const ts = q.target_session !== undefined ? parseTargetSession(q.target_session) : null;
  if (ts !== null && !known.has(ts.target)) throw new AgtmuxError("E_REF_NOT_FOUND", `unknown target: ${ts.target}`, { target: ts.target });
  const ref = q.ref !== undefined ? parseRef(q.ref) : null;
  const requested =
    ts !== null ? [ts.target] : q.target !== undefined && q.all_targets !== true ? [...new Set(q.target)].toSorted() : targets.map((t) => t.target_id);
  const errors: TargetError[] = [];
  for (const t of targets) {
    if (!requested.includes(t.target_id)) continue;
    if (t.health === "down" || t.last_error_code !== null) {
      errors.push({
        target: t.target_id,
        code: "E_TARGET_UNREACHABLE",
        message: t.last_error ?? `target ${t.target_id} is ${t.health}`,
        health: t.health,
        since: isoOrNull(t.last_error_at ?? t.health_changed_at),
      });
    }
  }
  const scope: Scope = { targets: requested, target_session: ts, session: q.session ?? null };
  const filters: Record<string, unknown> = {
    targets: requested,
    target_session: q.target_session ?? null,
    session: q.session ?? null,
  };
  return { scope, requested, responded: requested.filter((t) => !errors.some((e) => e.target === t)), errors, filters, ref };
}

function collect(ctx: DaemonContext, q: Query): Collected {
  const now = ctx.clock();
  const s = scopeOf(ctx, q);
  const all = ctx.store
    .listPaneViews(s.requested.length === 1 ? (s.requested[0] as string) : null)
    .map((r) => toPaneItem(r, now))
    .filter((p) => inScope(p, s.scope));
  return { ...s, all };
}

function envelope<T>(ctx: DaemonContext, c: Collected, filters: Record<string, unknown>, items: T[]): ListResponse<T> {
  return {
    schema_version: API_SCHEMA_VERSION,
    generated_at: iso(ctx.clock()),
    filters: { ...c.filters, ...filters },
    summary: summarize(c.all),
    items,
    partial: c.errors.length > 0,
    requested_targets: c.requested,
    responded_targets: c.responded,
    target_errors: c.errors,
  };
}

function pick<T extends string>(value: string | undefined, options: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if ((options as readonly string[]).includes(value)) return value as T;
  throw new AgtmuxError("E_BAD_REQUEST", `sort must be one of ${options.join("|")}`, { issues: [{ path: "sort", message: `must be one of ${options.join("|")}` }] });
}

/** Resolves a ref against the current panes (contracts §7): none -> E_REF_NOT_FOUND, several -> E_REF_AMBIGUOUS. */
export function resolveRef(ref: Ref, panes: readonly PaneItem[]): PaneItem {
  const matches =
    ref.kind === "runtime"
      ? panes.filter((p) => p.agent !== null && p.agent.runtime_id === ref.runtime_id)
      : panes.filter(
          (p) =>
            p.identity.target === ref.target &&
            p.identity.session_name === ref.session_name &&
            p.identity.window_id === ref.window_id &&
            p.identity.pane_id === ref.pane_id,
        );
  if (matches.length === 0) throw new AgtmuxError("E_REF_NOT_FOUND", "no pane matches that reference (it may have closed, or its agent changed)", { ref });
  if (matches.length > 1) throw new AgtmuxError("E_REF_AMBIGUOUS", `${matches.length} panes match that reference; refusing to pick one`, { ref, matches: matches.map((m) => m.ref) });
  return matches[0] as PaneItem;
}

export function getPanes(ctx: DaemonContext, url: URL): Response {
  const q = parseQuery(url);
  const c = collect(ctx, q);
  const sort = pick(q.sort, PANE_SORTS, "target");
  const f: PaneFilters = { ...c.scope, state: q.state ?? null, agent: q.agent ?? null, needs_action: q.needs_action === true, all: q.all === true };
  let items = sortPanes(c.all.filter((p) => matchesPane(p, f)), sort);
  if (c.ref !== null) {
    const ref = c.ref;
    if (ref.kind === "runtime") {
      const rt = ctx.store.getRuntime(ref.runtime_id);
      if (rt !== null && rt.ended_at !== null) {
        throw new AgtmuxError("E_RUNTIME_STALE", `runtime ${ref.runtime_id} has ended (${rt.end_reason ?? "ended"}); the pane now runs something else`, {
          runtime_id: ref.runtime_id,
          ended_at: isoOrNull(rt.ended_at),
          target: rt.target_id,
          pane_id: rt.pane_id,
        });
      }
    }
    // resolved within the scope asked for (targets, session)
    items = [resolveRef(ref, c.all)];
  }
  return json(
    envelope(ctx, c, { state: f.state, agent: f.agent, needs_action: f.needs_action, all: f.all, sort, ref: q.ref ?? null }, items),
  );
}

function noRef(q: Query): void {
  if (q.ref !== undefined) throw new AgtmuxError("E_BAD_REQUEST", "ref applies to /v1/panes only", { issues: [{ path: "ref", message: "not supported here" }] });
}

export function getWindows(ctx: DaemonContext, url: URL): Response {
  const q = parseQuery(url);
  noRef(q);
  const c = collect(ctx, q);
  const sort = pick(q.sort, GROUP_SORTS, "target");
  const withStatus = q.with_agent_status === true;
  return json(envelope(ctx, c, { with_agent_status: withStatus, sort }, windowItems(c.all, withStatus, sort)));
}

export function getSessions(ctx: DaemonContext, url: URL): Response {
  const q = parseQuery(url);
  noRef(q);
  const c = collect(ctx, q);
  const sort = pick(q.sort, GROUP_SORTS, "target");
  const groupBy = q.group_by ?? "target-session";
  const agentSummary = q.agent_summary === true;
  const items = groupBy === "session-name" ? sessionNameItems(c.all, sort) : sessionItems(c.all, agentSummary, sort);
  return json(envelope<unknown>(ctx, c, { agent_summary: agentSummary, group_by: groupBy, sort }, items));
}

export function targetItem(ctx: DaemonContext, t: TargetRow): TargetItem {
  return {
    target: t.target_id,
    kind: t.kind,
    connection_ref: t.connection_ref,
    tmux_socket: t.tmux_socket,
    agtmux_path: t.agtmux_path,
    health: t.health,
    health_changed_at: isoOrNull(t.health_changed_at),
    last_topology_at: isoOrNull(t.last_topology_at),
    tmux_version: t.tmux_version,
    tmux_server_pid: t.tmux_server_pid,
    last_error: t.last_error === null ? null : { code: t.last_error_code ?? "E_TARGET_UNREACHABLE", message: t.last_error, since: isoOrNull(t.last_error_at) },
    status: ctx.targets?.get(t.target_id)?.status() ?? null,
  };
}

export function getTargets(ctx: DaemonContext): Response {
  const body: TargetsResponse = {
    schema_version: API_SCHEMA_VERSION,
    generated_at: iso(ctx.clock()),
    items: ctx.store.listTargets().map((t) => targetItem(ctx, t)),
  };
  return json(body);
}
