/**
 * The watch stream's source of truth (contracts §8): after every commit that
 * may have changed what lists show, the hub diffs the current views (panes,
 * windows, sessions) against the last ones and records each scope's changes
 * as one delta with the next sequence number of this stream. Deltas are kept
 * in a retained window (count and age) so a cursor can resume, the older ones
 * compressed in blocks (RetainedDeltas); clients get them filtered to what
 * they asked for. Ingestion never waits on a client:
 * the hub only appends to bounded per-client queues, and a client that falls
 * behind is told to start over (reset + snapshot), never buffered without end.
 */
import { type GroupSort, type PaneFilters, type PaneSort, inScope, matchesPane, sessionItems, sortPanes, summarize, toPaneItem, windowItems } from "../domain/views.ts";
import type { PaneItem, SessionItem, Summary, WindowItem } from "../wire/list.ts";
import { API_SCHEMA_VERSION } from "../wire/types.ts";
import {
  type ResetReason,
  type WatchChange,
  type WatchIdentity,
  type WatchItem,
  type WatchLine,
  type WatchScope,
  WATCH_SCOPES,
  formatCursor,
  identityKey,
} from "../wire/watch.ts";
import { iso } from "../domain/time.ts";
import type { Clock } from "../domain/time.ts";
import type { Store } from "../store/store.ts";
import { DEFAULT_WATCH, type WatchConfig } from "../domain/config.ts";


/** fields that change with the clock alone: not a change worth a delta */
const VOLATILE = new Set(["age_s", "last_seen_at"]);

interface Entry {
  item: WatchItem;
  identity: WatchIdentity;
  fp: string;
}

export interface Delta {
  sequence: number;
  scope: WatchScope;
  at: number;
  changes: WatchChange[];
}

/** retained deltas are sealed (deflated JSON) in blocks of this many */
export const RETAIN_BLOCK = 64;

interface SealedBlock {
  /** sequence of its first delta; the others follow without a gap */
  first: number;
  /** `at` of each delta (age trimming without inflating) */
  ats: Float64Array;
  /** the deltas, JSON, deflated */
  data: Uint8Array<ArrayBuffer>;
}

/**
 * The retained window of a stream: deltas with consecutive sequences, oldest
 * first. The newest stay objects; every full block of RETAIN_BLOCK older ones
 * is sealed as deflated JSON. A retained delta holds whole items (~1 KB of
 * objects each: 10,000 of them were ~9 MiB of JS heap, interleaved with the
 * short-lived garbage of every flush so the GC could not give those pages
 * back); sealed, the same deltas take ~0.5 MiB off the JS heap. Reading them
 * back (a cursor resume) inflates only the blocks after the cursor.
 */
export class RetainedDeltas {
  private blocks: SealedBlock[] = [];
  private tail: Delta[] = [];
  /** sequence of the oldest retained delta, and the newest (size = last - first + 1) */
  private first = 0;
  private last = -1;

  get size(): number {
    return this.last - this.first + 1;
  }

  /** sequence of the oldest retained delta (undefined: none) */
  get oldest(): number | undefined {
    return this.size > 0 ? this.first : undefined;
  }

  /** deltas not sealed yet */
  get unsealed(): number {
    return this.tail.length;
  }

  /** the sealed bytes (stats) */
  get sealedBytes(): number {
    let n = 0;
    for (const b of this.blocks) n += b.data.byteLength + b.ats.byteLength;
    return n;
  }

  /** appends the next delta (its sequence follows the newest one's) */
  push(d: Delta): void {
    if (this.size > 0 && d.sequence !== this.last + 1) throw new Error(`retained deltas: sequence ${d.sequence} after ${this.last}`);
    if (this.size <= 0) this.first = d.sequence;
    this.last = d.sequence;
    this.tail.push(d);
  }

  /** seals every full block of the unsealed deltas */
  seal(): void {
    while (this.tail.length >= RETAIN_BLOCK) {
      const ds = this.tail.splice(0, RETAIN_BLOCK);
      this.blocks.push({
        first: (ds[0] as Delta).sequence,
        ats: Float64Array.from(ds, (d) => d.at),
        data: Bun.deflateSync(JSON.stringify(ds)),
      });
    }
  }

  /** drops the oldest deltas while there are more than maxCount or the oldest is older than cutoff */
  trim(maxCount: number, cutoff: number): void {
    if (this.size > maxCount) this.first = this.last - Math.max(0, maxCount) + 1;
    for (;;) {
      this.dropBlocks();
      if (this.size <= 0 || this.atOf(this.first) >= cutoff) break;
      this.first++;
    }
    let drop = 0;
    while (drop < this.tail.length && (this.tail[drop] as Delta).sequence < this.first) drop++;
    if (drop > 0) this.tail.splice(0, drop);
  }

  /** drops the sealed blocks wholly before the oldest retained delta */
  private dropBlocks(): void {
    while (this.blocks.length > 0 && (this.blocks[0] as SealedBlock).first + RETAIN_BLOCK <= this.first) this.blocks.shift();
  }

  /** the retained deltas after `sequence`, oldest first */
  after(sequence: number): Delta[] {
    const out: Delta[] = [];
    const from = Math.max(sequence + 1, this.first);
    for (const b of this.blocks) {
      if (b.first + RETAIN_BLOCK <= from) continue;
      const ds = JSON.parse(new TextDecoder().decode(Bun.inflateSync(b.data))) as Delta[];
      for (const d of ds) if (d.sequence >= from) out.push(d);
    }
    for (const d of this.tail) if (d.sequence >= from) out.push(d);
    return out;
  }

  /** `at` of a retained delta in the first block (after dropBlocks) or the tail */
  private atOf(sequence: number): number {
    const b0 = this.blocks[0];
    if (b0 !== undefined && sequence < b0.first + RETAIN_BLOCK) return b0.ats[sequence - b0.first] as number;
    const t0 = this.tail[0];
    return t0 === undefined ? Number.POSITIVE_INFINITY : ((this.tail[sequence - t0.sequence] as Delta | undefined)?.at ?? Number.POSITIVE_INFINITY);
  }
}

/** What one client asked for. */
export interface ClientSpec {
  scope: WatchScope;
  /** panes: every row filter; windows/sessions: the scope part (targets, session) */
  filters: PaneFilters;
  sort: string;
  /** echoed in every line */
  echo: Record<string, unknown>;
}

export interface WatchClient {
  /** receives the serialized lines; false = could not take them (closed) */
  push(lines: WatchLine[]): void;
  /** too far behind: the hub will call resync when it can */
  readonly queued: number;
  close(line: WatchLine | null): void;
}

function fingerprint(item: WatchItem): string {
  // a shallow copy without the volatile (top-level) fields: JSON.stringify with a
  // replacer function calls it for every key and was ~13 % of the daemon's CPU under load
  const copy: Record<string, unknown> = { ...item };
  for (const k of VOLATILE) copy[k] = undefined; // JSON.stringify leaves undefined out
  return JSON.stringify(copy);
}

/** identities are flat records of strings: equal when every field is */
function sameIdentity(a: WatchIdentity, b: WatchIdentity): boolean {
  const ra = a as unknown as Record<string, unknown>;
  const rb = b as unknown as Record<string, unknown>;
  const ka = Object.keys(ra);
  if (ka.length !== Object.keys(rb).length) return false;
  for (const k of ka) if (ra[k] !== rb[k]) return false;
  return true;
}

function identityOf(item: WatchItem): WatchIdentity {
  return (item as { identity: WatchIdentity }).identity;
}

export class WatchHub {
  private seq = 0;
  private readonly current: Record<WatchScope, Map<string, Entry>> = { panes: new Map(), windows: new Map(), sessions: new Map() };
  private panesNow: PaneItem[] = [];
  private readonly retained = new RetainedDeltas();
  private readonly subs = new Set<Subscription>();
  private dirty = false;
  private flushTimer: ReturnType<typeof setImmediate> | undefined;
  private sealTimer: ReturnType<typeof setImmediate> | undefined;
  /** summaries per client scope, valid until the next rebuild (1,000 watchers share a few) */
  private readonly summaries = new Map<string, Summary>();
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private closed = false;
  readonly stats = { flushes: 0, deltas: 0, resets: 0, clients: 0 };

  constructor(
    readonly streamId: string,
    private readonly store: Store,
    private readonly clock: Clock,
    readonly config: WatchConfig = DEFAULT_WATCH,
  ) {
    this.rebuild(false);
  }

  get sequence(): number {
    return this.seq;
  }

  /** the oldest sequence a cursor may name and still resume (cursor >= this) */
  get oldestResumable(): number {
    const first = this.retained.oldest;
    return first === undefined ? this.seq : first - 1;
  }

  /** the retained window: deltas in it, how many are still objects, the sealed ones' bytes */
  get retainedStats(): { deltas: number; unsealed: number; sealed_bytes: number } {
    return { deltas: Math.max(0, this.retained.size), unsealed: this.retained.unsealed, sealed_bytes: this.retained.sealedBytes };
  }

  start(): void {
    this.heartbeat = setInterval(() => this.beat(), Math.max(50, this.config.heartbeatMs));
  }

  /** Something may have changed: diff soon (coalesces a burst of commits into one pass). */
  markDirty(): void {
    if (this.closed) return;
    this.dirty = true;
    if (this.flushTimer !== undefined) return;
    // setImmediate, not setTimeout(0): Bun clamps the latter to ~1 ms, a third of the event → line time
    this.flushTimer = setImmediate(() => {
      this.flushTimer = undefined;
      this.flush();
    });
  }

  /** Diffs now; returns the deltas recorded. */
  flush(): Delta[] {
    if (!this.dirty || this.closed) return [];
    this.dirty = false;
    this.stats.flushes++;
    const out = this.rebuild(true);
    this.trim();
    if (out.length > 0) for (const s of this.subs) s.deliver(out);
    this.sealSoon();
    return out;
  }

  /** Seals full blocks of retained deltas after this turn (the lines just queued are written first). */
  private sealSoon(): void {
    // flushes with no turn in between (tests, a burst) must not leave thousands unsealed
    if (this.retained.unsealed >= 8 * RETAIN_BLOCK) this.retained.seal();
    if (this.retained.unsealed < RETAIN_BLOCK || this.sealTimer !== undefined) return;
    this.sealTimer = setImmediate(() => {
      this.sealTimer = undefined;
      this.retained.seal();
    });
  }

  private rebuild(record: boolean): Delta[] {
    const now = this.clock();
    const panes = this.store.listPaneViews(null).map((r) => toPaneItem(r, now));
    this.panesNow = panes;
    this.summaries.clear();
    const views: Record<WatchScope, WatchItem[]> = {
      panes,
      windows: windowItems(panes, true, "target"),
      sessions: sessionItems(panes, true, "target"),
    };
    const out: Delta[] = [];
    for (const scope of WATCH_SCOPES) {
      const prev = this.current[scope];
      const next = new Map<string, Entry>();
      const changes: WatchChange[] = [];
      for (const item of views[scope]) {
        const identity = identityOf(item);
        const key = identityKey(scope, identity);
        const e: Entry = { item, identity, fp: fingerprint(item) };
        next.set(key, e);
        const old = prev.get(key);
        if (old !== undefined && !sameIdentity(old.identity, identity)) {
          // moved (another window or session name): the old identity is gone
          changes.push({ op: "delete", identity: old.identity });
        }
        if (old === undefined || old.fp !== e.fp) changes.push({ op: "upsert", identity, item });
      }
      for (const [key, old] of prev) if (!next.has(key)) changes.push({ op: "delete", identity: old.identity });
      this.current[scope] = next;
      if (record && changes.length > 0) {
        const d: Delta = { sequence: ++this.seq, scope, at: now, changes };
        this.retained.push(d);
        this.stats.deltas++;
        out.push(d);
      }
    }
    return out;
  }

  private trim(): void {
    this.retained.trim(this.config.retainEvents, this.clock() - this.config.retainMs);
  }

  /** deltas after `sequence` (null: that far back is no longer retained) */
  since(sequence: number): Delta[] | null {
    if (sequence < this.oldestResumable) return null;
    return this.retained.after(sequence);
  }

  /** the current items of a scope for a client, filtered and sorted like the list endpoints */
  itemsFor(spec: ClientSpec): WatchItem[] {
    if (spec.scope === "panes") return sortPanes(this.panesNow.filter((p) => matchesPane(p, spec.filters)), spec.sort as PaneSort);
    // windows and sessions lie wholly inside a target/session scope: built from the panes in scope, as the list endpoints do
    const panes = this.panesNow.filter((p) => inScope(p, spec.filters));
    return spec.scope === "windows" ? windowItems(panes, true, spec.sort as GroupSort) : sessionItems(panes, true, spec.sort as GroupSort);
  }

  summaryFor(spec: ClientSpec): Summary {
    const f = spec.filters;
    const key = JSON.stringify([f.targets, f.target_session, f.session]);
    let s = this.summaries.get(key);
    if (s === undefined) {
      s = summarize(this.panesNow.filter((p) => inScope(p, f)));
      this.summaries.set(key, s);
    }
    return s;
  }

  matches(spec: ClientSpec, item: WatchItem): boolean {
    return spec.scope === "panes" ? matchesPane(item as PaneItem, spec.filters) : inScopeGroup(item as WindowItem | SessionItem, spec.filters);
  }

  subscribe(sub: Subscription): () => void {
    this.subs.add(sub);
    this.stats.clients = this.subs.size;
    return () => {
      this.subs.delete(sub);
      this.stats.clients = this.subs.size;
    };
  }

  /** Graceful shutdown: every stream ends with a terminal reset. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    if (this.flushTimer !== undefined) clearImmediate(this.flushTimer);
    if (this.sealTimer !== undefined) clearImmediate(this.sealTimer);
    if (this.heartbeat !== undefined) clearInterval(this.heartbeat);
    for (const s of this.subs) s.end("shutdown");
    this.subs.clear();
  }

  private beat(): void {
    for (const s of this.subs) s.heartbeat();
  }

  /** a line of any type for a client, at the given sequence */
  line(spec: ClientSpec, type: WatchLine["type"], sequence: number, extra: Record<string, unknown>): WatchLine {
    const now = iso(this.clock());
    return {
      schema_version: API_SCHEMA_VERSION,
      generated_at: now,
      emitted_at: now,
      stream_id: this.streamId,
      cursor: formatCursor(this.streamId, sequence),
      scope: spec.scope,
      type,
      sequence,
      filters: spec.echo,
      summary: this.summaryFor(spec),
      ...extra,
    } as WatchLine;
  }

  snapshotLine(spec: ClientSpec): WatchLine {
    return this.line(spec, "snapshot", this.seq, { items: this.itemsFor(spec) });
  }

  resetLine(spec: ClientSpec, reason: ResetReason, terminal: boolean): WatchLine {
    this.stats.resets++;
    return this.line(spec, "reset", this.seq, { reason, terminal });
  }
}

function inScopeGroup(i: WindowItem | SessionItem, f: PaneFilters): boolean {
  const id = i.identity;
  if (f.targets !== null && !f.targets.includes(id.target)) return false;
  if (f.target_session !== null && (id.target !== f.target_session.target || id.session_name !== f.target_session.session_name)) return false;
  if (f.session !== null && id.session_name !== f.session) return false;
  return true;
}

/**
 * One client's view of the stream: filters the hub's deltas to what it asked
 * for, keeps a bounded queue, and turns falling behind into a reset.
 */
export class Subscription {
  /** sequence of the last line this client has been given (its cursor) */
  private at: number;
  /** keys the client currently holds (null: unknown — resumed from a cursor) */
  private visible: Set<string> | null = null;
  private pending: WatchLine[] = [];
  private behind = false;
  private ended = false;
  private wake: (() => void) | null = null;

  constructor(
    private readonly hub: WatchHub,
    readonly spec: ClientSpec,
    start: { kind: "snapshot" } | { kind: "resume"; deltas: Delta[]; from: number } | { kind: "reset"; reason: ResetReason },
  ) {
    this.at = hub.sequence;
    if (start.kind === "resume") {
      this.visible = null;
      this.at = start.from;
      this.deliver(start.deltas);
      this.at = Math.max(this.at, hub.sequence);
    } else {
      if (start.kind === "reset") this.pending.push(hub.resetLine(spec, start.reason, false));
      this.pending.push(this.snapshot());
    }
  }

  private snapshot(): WatchLine {
    const line = this.hub.snapshotLine(this.spec);
    this.visible = new Set(((line as { items: WatchItem[] }).items ?? []).map((i) => identityKey(this.spec.scope, (i as { identity: WatchIdentity }).identity)));
    this.at = this.hub.sequence;
    return line;
  }

  get queued(): number {
    return this.pending.length;
  }

  get done(): boolean {
    return this.ended && this.pending.length === 0;
  }

  deliver(deltas: readonly Delta[]): void {
    if (this.ended) return;
    for (const d of deltas) {
      if (d.sequence <= this.at) continue;
      if (d.scope !== this.spec.scope) continue;
      const changes: WatchChange[] = [];
      for (const c of d.changes) {
        const key = identityKey(this.spec.scope, c.identity);
        const known = this.visible === null || this.visible.has(key);
        if (c.op === "upsert" && c.item !== undefined && this.hub.matches(this.spec, c.item)) {
          changes.push(c);
          this.visible?.add(key);
        } else if (known) {
          changes.push({ op: "delete", identity: c.identity });
          this.visible?.delete(key);
        }
      }
      if (changes.length === 0) continue;
      if (this.behind) continue;
      if (this.pending.length >= this.hub.config.clientQueueMax) {
        // fell behind: drop what is queued; it gets a reset + snapshot when it reads again
        this.pending = [];
        this.behind = true;
        continue;
      }
      this.pending.push(this.hub.line(this.spec, "delta", d.sequence, { changes }));
    }
    const last = deltas.at(-1);
    if (last !== undefined && !this.behind) this.at = Math.max(this.at, last.sequence);
    this.kick();
  }

  heartbeat(): void {
    if (this.ended || this.behind || this.pending.length > 0) return;
    this.at = Math.max(this.at, this.hub.sequence);
    this.pending.push(this.hub.line(this.spec, "heartbeat", this.at, {}));
    this.kick();
  }

  end(reason: ResetReason): void {
    if (this.ended) return;
    this.pending.push(this.hub.resetLine(this.spec, reason, true));
    this.ended = true;
    this.kick();
  }

  /** what is ready now, without waiting (response mode) */
  takeNow(): WatchLine[] {
    if (this.behind) {
      this.behind = false;
      this.pending = [this.hub.resetLine(this.spec, "slow_consumer", false), this.snapshot()];
    }
    const out = this.pending;
    this.pending = [];
    return out;
  }

  /** the next lines to write (waits until there are some); [] once ended and drained */
  async next(): Promise<WatchLine[]> {
    for (;;) {
      if (this.behind) {
        this.behind = false;
        this.pending = [this.hub.resetLine(this.spec, "slow_consumer", false), this.snapshot()];
      }
      if (this.pending.length > 0) {
        const out = this.pending;
        this.pending = [];
        return out;
      }
      if (this.ended) return [];
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  private kick(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  cancel(): void {
    this.ended = true;
    this.pending = [];
    this.kick();
  }
}
