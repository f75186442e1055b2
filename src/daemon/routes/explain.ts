/**
 * GET /v1/explain?ref=… — the evidence behind one pane's state: every source's
 * candidate with its age, freshness and TTL, which one won and by which rule,
 * the latest events per source, and events still waiting to bind.
 */
import { explainResolution } from "../../domain/engine.ts";
import { AgtmuxError } from "../../domain/errors.ts";
import { parseRef } from "../../domain/refs.ts";
import { iso, isoOrNull } from "../../domain/time.ts";
import { toPaneItem } from "../../domain/views.ts";
import { EXTERNAL_SOURCES } from "../../domain/model.ts";
import type { ExplainResponse } from "../../wire/explain.ts";
import { API_SCHEMA_VERSION } from "../../wire/types.ts";
import type { DaemonContext } from "../context.ts";
import { json } from "../http.ts";
import { resolveRef } from "./list.ts";

const RECENT_PER_SOURCE = 5;

export function getExplain(ctx: DaemonContext, url: URL): Response {
  const raw = url.searchParams.get("ref");
  if (raw === null || raw === "") throw new AgtmuxError("E_BAD_REQUEST", "ref is required", { issues: [{ path: "ref", message: "required" }] });
  const ref = parseRef(raw);
  const now = ctx.clock();
  if (ref.kind === "runtime") {
    const rt = ctx.store.getRuntime(ref.runtime_id);
    if (rt !== null && rt.ended_at !== null) {
      throw new AgtmuxError("E_RUNTIME_STALE", `runtime ${ref.runtime_id} has ended (${rt.end_reason ?? "ended"})`, { runtime_id: ref.runtime_id });
    }
  }
  const pane = resolveRef(ref, ctx.store.listPaneViews(null).map((r) => toPaneItem(r, now)));
  const target = ctx.store.getTarget(pane.identity.target);
  const health = target?.health ?? "ok";
  const runtimeId = pane.agent?.runtime_id ?? null;
  const cursors = runtimeId === null ? [] : ctx.store.cursors(runtimeId);
  const ex = explainResolution(cursors, health, now, ctx.config.engine);
  const body: ExplainResponse = {
    schema_version: API_SCHEMA_VERSION,
    generated_at: iso(now),
    pane,
    target: { target: pane.identity.target, health, last_error: target?.last_error ?? null },
    rule: runtimeId === null ? "no_agent" : ex.rule,
    resolved: runtimeId === null ? null : { state: ex.resolved.state, reason_code: ex.resolved.reasonCode, confidence: ex.resolved.confidence, source: ex.resolved.source },
    candidates: ex.candidates.map((c) => ({
      source: c.source,
      state: c.state,
      effective_state: c.effective_state,
      confidence: c.confidence,
      reason_code: c.reason_code,
      event_id: c.event_id,
      ingested_at: iso(c.ingested_at),
      age_s: Math.max(0, Math.round((now - c.ingested_at) / 100) / 10),
      last_seen_at: iso(c.last_seen_at),
      ttl_s: c.ttl_ms === null ? null : c.ttl_ms / 1000,
      stale_at: c.ttl_ms === null ? null : iso(c.last_seen_at + c.ttl_ms),
      demotes_at: c.state === "completed" && c.effective_state === "completed" ? iso(c.ingested_at + ctx.config.engine.completedDemotionMs) : null,
      fresh: c.fresh,
      in_tier: c.in_tier,
      won: c.won,
    })),
    recent_events:
      runtimeId === null
        ? []
        : EXTERNAL_SOURCES.flatMap((src) => ctx.store.eventsForRuntime(runtimeId, src, RECENT_PER_SOURCE))
            .toSorted((a, b) => b.ingested_at - a.ingested_at)
            .map((e) => ({
              event_id: e.event_id,
              source: e.source,
              event_type: e.event_type,
              outcome: e.outcome,
              state: e.norm_state,
              confidence: e.norm_confidence,
              event_time: isoOrNull(e.event_time),
              ingested_at: iso(e.ingested_at),
              age_s: Math.max(0, Math.round((now - e.ingested_at) / 100) / 10),
              action_id: e.action_id,
            })),
    unbound_events: ctx.store.inboxForPane(pane.identity.target, pane.identity.pane_id, 10).map((r) => ({
      event_id: r.event_id,
      source: r.source,
      status: r.status,
      reason_code: r.reason_code,
      ingested_at: iso(r.ingested_at),
    })),
  };
  return json(body);
}
