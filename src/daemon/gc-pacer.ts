/**
 * When the daemon runs a full garbage collection (budget: RSS <= 80 MB,
 * bench/profile.ts). JavaScriptCore collects when the heap has grown by a
 * budget of tens of MiB, so under a steady trickle of events the daemon's RSS
 * climbed by 20-40 MiB of garbage between collections. The pacer, ticked every
 * `checkMs`, collects after work (requests, watch flushes; none while idle):
 * - every `paceMs` at most, and
 * - sooner when the RSS has grown `growthBytes` over its low point since the
 *   last collection (a burst of garbage: the bench saw +5 MiB within a second);
 * and never more than `maxShare` of the wall time (a collection that took
 * d ms holds the next one off for d / maxShare ms).
 * Pure over its inputs (clock, RSS reading, work counter): tests drive it.
 */
export interface GcPacerConfig {
  paceMs: number;
  growthBytes: number;
  maxShare: number;
}

export interface GcPacerDeps {
  now(): number;
  rss(): number;
  /** a counter that moves with every unit of work */
  work(): number;
  gc(): void;
}

export const DEFAULT_GC_PACER: GcPacerConfig & { checkMs: number } = { paceMs: 1_000, checkMs: 250, growthBytes: 3 * 1024 * 1024, maxShare: 0.01 };

export class GcPacer {
  private seen = -1;
  private lastGc = Number.NEGATIVE_INFINITY;
  private notBefore = Number.NEGATIVE_INFINITY;
  /** lowest RSS seen since the last collection */
  private low = Number.POSITIVE_INFINITY;
  /** collections run, and how many of them the growth rule started */
  readonly stats = { collections: 0, onGrowth: 0 };

  constructor(
    private readonly cfg: GcPacerConfig,
    private readonly d: GcPacerDeps,
  ) {}

  /** Collects if due; true when it did. */
  tick(): boolean {
    const now = this.d.now();
    const rss = this.d.rss();
    this.low = Math.min(this.low, rss);
    const work = this.d.work();
    if (work === this.seen || now < this.notBefore) return false;
    const paced = now - this.lastGc >= this.cfg.paceMs;
    const grown = rss - this.low >= this.cfg.growthBytes;
    if (!paced && !grown) return false;
    this.seen = work;
    this.d.gc();
    const after = this.d.now();
    this.stats.collections++;
    if (!paced) this.stats.onGrowth++;
    this.lastGc = now;
    this.notBefore = now + (after - now) / this.cfg.maxShare;
    this.low = this.d.rss();
    return true;
  }
}
