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
  };
  return json(body);
}
