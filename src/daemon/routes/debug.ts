import { AgtmuxError } from "../../domain/errors.ts";
import { iso } from "../../domain/time.ts";
import { API_SCHEMA_VERSION } from "../../wire/types.ts";
import type { DaemonContext } from "../context.ts";
import { json } from "../http.ts";

/** GET /v1/debug/events: debug mode only; unredacted payloads from memory (never SQLite). */
export function getDebugEvents(ctx: DaemonContext, url: URL): Response {
  if (!ctx.config.debug) throw new AgtmuxError("E_NOT_FOUND", "debug mode is off (set AGTMUX_DEBUG=1 or debug = true)", {});
  const limit = Math.min(1000, Math.max(1, Number(url.searchParams.get("limit") ?? "100") || 100));
  const now = ctx.clock();
  return json({ schema_version: API_SCHEMA_VERSION, generated_at: iso(now), items: ctx.debug.list(now, limit) });
}
