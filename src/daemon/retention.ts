/** Retention job: payloads cleared after `payloadMs`, event rows deleted after `eventMs` (contracts §5). */
import type { RetentionConfig } from "../domain/config.ts";
import type { RetentionCounts, Store } from "../store/store.ts";

export function runRetention(store: Store, cfg: RetentionConfig, now: number): RetentionCounts {
  return store.purge(now - cfg.payloadMs, now - cfg.eventMs);
}

/** rows per retention transaction: a few ms each, so API requests and ingestion interleave */
export const RETENTION_CHUNK = 2_000;

/**
 * The daemon's retention pass: small transactions with a yield to the event
 * loop between them, so purging a million rows never stalls the daemon.
 */
export async function runRetentionChunked(store: Store, cfg: RetentionConfig, now: number, stopped: () => boolean): Promise<RetentionCounts> {
  const total: RetentionCounts = { payloads_cleared: 0, events_deleted: 0, inbox_deleted: 0 };
  for (;;) {
    if (stopped()) return total;
    const c = store.purgeChunk(now - cfg.payloadMs, now - cfg.eventMs, RETENTION_CHUNK);
    total.payloads_cleared += c.payloads_cleared;
    total.events_deleted += c.events_deleted;
    total.inbox_deleted += c.inbox_deleted;
    if (!c.more) return total;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}
