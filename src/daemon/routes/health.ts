import { isoOrNull, iso } from "../../domain/time.ts";
import { currentSchemaVersion } from "../../store/migrate.ts";
import { API_SCHEMA_VERSION, type HealthResponse } from "../../wire/types.ts";
import type { DaemonContext } from "../context.ts";
import { json } from "../http.ts";

export function getHealth(ctx: DaemonContext): Response {
  const now = ctx.clock();
  const targets = ctx.store.listTargets().map((t) => ({
    target_id: t.target_id,
    kind: t.kind,
    health: t.health,
    health_changed_at: isoOrNull(t.health_changed_at),
    last_topology_at: isoOrNull(t.last_topology_at),
  }));
  const body: HealthResponse = {
    schema_version: API_SCHEMA_VERSION,
    generated_at: iso(now),
    status: ctx.isShuttingDown() ? "shutting_down" : targets.some((t) => t.health !== "ok") ? "degraded" : "ok",
    version: ctx.build.version,
    commit: ctx.build.commit,
    pid: process.pid,
    started_at: iso(ctx.startedAt),
    uptime_s: Math.max(0, Math.round((now - ctx.startedAt) / 100) / 10),
    stream_id: ctx.streamId,
    socket: ctx.paths.socket,
    db: { path: ctx.paths.db, schema_version: currentSchemaVersion(ctx.store.db) },
    debug: ctx.config.debug,
    targets,
    adapters: ctx.registry.list().map((a) => {
      const source = ctx.sourceHealth.get(a.id);
      let health: { status: "ok" | "degraded" | "down"; detail?: string } = { status: "ok" };
      try {
        health = source?.() ?? a.health?.() ?? health;
      } catch (err) {
        health = { status: "degraded", detail: err instanceof Error ? err.message : String(err) };
      }
      return {
        id: a.id,
        agent_type: a.agent_type,
        contract_version: a.contract_version,
        capabilities: { ...a.capabilities },
        health: health.detail === undefined ? { status: health.status } : { status: health.status, detail: health.detail },
      };
    }),
  };
  return json(body);
}
