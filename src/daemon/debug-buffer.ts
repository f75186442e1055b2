/**
 * Debug mode only: unredacted payloads kept in memory (never in SQLite), each
 * for at most 24 h and at most MAX_ENTRIES in all.
 */
export const DEBUG_RETENTION_MS = 24 * 3_600_000;
const MAX_ENTRIES = 10_000;

export interface DebugEntry {
  event_id: string;
  received_at: number;
  envelope: unknown;
}

export class DebugBuffer {
  private readonly entries = new Map<string, DebugEntry>();
  put(eventId: string, envelope: unknown, now: number): void {
    this.entries.delete(eventId);
    this.entries.set(eventId, { event_id: eventId, received_at: now, envelope });
    while (this.entries.size > MAX_ENTRIES) {
      const first = this.entries.keys().next();
      if (first.done === true) break;
      this.entries.delete(first.value);
    }
  }
  list(now: number, limit = 100): DebugEntry[] {
    this.expire(now);
    return [...this.entries.values()].slice(-limit).toReversed();
  }
  expire(now: number): void {
    for (const [k, e] of this.entries) {
      if (now - e.received_at < DEBUG_RETENTION_MS) break;
      this.entries.delete(k);
    }
  }
  get size(): number {
    return this.entries.size;
  }
}
