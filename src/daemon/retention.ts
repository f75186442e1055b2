/** Retention job: payloads cleared after `payloadMs`, event rows deleted after `eventMs` (contracts §5). */
import type { RetentionConfig } from "../domain/config.ts";
import type { RetentionCounts, Store } from "../store/store.ts";

export function runRetention(store: Store, cfg: RetentionConfig, now: number): RetentionCounts {
  return store.purge(now - cfg.payloadMs, now - cfg.eventMs);
}
