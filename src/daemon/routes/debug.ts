import { heapSize } from "bun:jsc";
import { AgtmuxError } from "../../domain/errors.ts";
import { iso } from "../../domain/time.ts";
import { API_SCHEMA_VERSION } from "../../wire/types.ts";
import type { DaemonContext } from "../context.ts";
import { json } from "../http.ts";

const MIB = 1024 * 1024;
const mib = (bytes: number): number => Math.round((bytes / MIB) * 10) / 10;

/** What the daemon's memory is made of (MiB; `rss` includes the mapped Bun runtime), for finding where it goes. */
export function memorySnapshot(ctx: DaemonContext): Record<string, unknown> {
  const m = process.memoryUsage();
  return {
    rss_mib: mib(m.rss),
    /** live JS heap after the last collection, and the heap's size with the garbage since */
    js_heap_live_mib: mib(heapSize()),
    js_heap_total_mib: mib(m.heapTotal),
    /** off-heap memory the JS heap accounts for (ArrayBuffers, external strings) */
    external_mib: mib(m.external),
    watch_retained: ctx.watch?.retainedStats ?? null,
    debug_buffer_entries: ctx.debug.size,
  };
}

/** GET /v1/debug/events: debug mode only; unredacted payloads from memory (never SQLite), and what the daemon's memory holds. */
export function getDebugEvents(ctx: DaemonContext, url: URL): Response {
  if (!ctx.config.debug) throw new AgtmuxError("E_NOT_FOUND", "debug mode is off (set AGTMUX_DEBUG=1 or debug = true)", {});
  const limit = Math.min(1000, Math.max(1, Number(url.searchParams.get("limit") ?? "100") || 100));
  const now = ctx.clock();
  return json({ schema_version: API_SCHEMA_VERSION, generated_at: iso(now), items: ctx.debug.list(now, limit), memory: memorySnapshot(ctx) });
}
