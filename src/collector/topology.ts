/**
 * Topology collector for one target: a full `list-panes -a` scan plus one
 * process-table read per pass, turned into an Observation for the ingestor.
 * Event-driven through tmux control-mode clients (one read-only client per
 * session: tmux only tells a control client about the windows of the session
 * it is attached to), healed by a periodic scan that backs off for idle
 * servers, and nudged by pending-bind events (an agent hook fired in a pane we
 * have not identified yet).
 */
import type { Ingestor } from "../daemon/ingest.ts";
import type { Logger } from "../daemon/log.ts";
import { type HealthTracker, newTracker, observe } from "../domain/health.ts";
import type { AgentObservation } from "../domain/runtime.ts";
import type { Clock } from "../domain/time.ts";
import { identifyAll } from "../procs/agents.ts";
import type { ProcessTable } from "../procs/types.ts";
import type { Store } from "../store/store.ts";
import { isAtLeast, parseVersion, type Tmux } from "../tmux/tmux.ts";
import { MIN_TMUX_VERSION, type TopologySnapshot, TmuxError } from "../tmux/types.ts";

export const SCAN_INTERVAL_MS = 2_000;
export const MAX_SCAN_INTERVAL_MS = 10_000;
/** coalesces a burst of control-mode notifications into one scan */
export const DEBOUNCE_MS = 15;
/** scans without any change before backing off (only when no client is attached) */
const IDLE_SCANS_BEFORE_BACKOFF = 5;

export interface ControlLike {
  stop(): void;
  /** true once attached: tmux then counts it in #{session_attached} */
  readonly attached: boolean;
}
/** Starts a control client on one session; calls onEvent per notification and onExit when it ends. */
export type ControlFactory = (sessionId: string, onEvent: (kind: string) => void, onExit: () => void) => ControlLike;

export interface CollectorDeps {
  targetId: string;
  tmux: Tmux;
  readProcs: () => Promise<ProcessTable>;
  ingestor: Ingestor;
  store: Store;
  log: Logger;
  clock: Clock;
  control?: ControlFactory | undefined;
  intervalMs?: number;
  maxIntervalMs?: number;
}

export interface ScanStats {
  scans: number;
  changes: number;
  errors: number;
  lastScanMs: number;
  controlClients: number;
}

export class TopologyCollector {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private debounce: ReturnType<typeof setTimeout> | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = true;
  private resync = true;
  private idleScans = 0;
  private interval: number;
  private health: HealthTracker = newTracker();
  private readonly controls = new Map<string, ControlLike>();
  private checkedBoot: string | null = null;
  readonly stats: ScanStats = { scans: 0, changes: 0, errors: 0, lastScanMs: 0, controlClients: 0 };

  constructor(private readonly d: CollectorDeps) {
    this.interval = d.intervalMs ?? SCAN_INTERVAL_MS;
  }

  /** First scan (awaited), then event-driven + periodic. */
  async start(): Promise<void> {
    this.stopped = false;
    await this.scanNow();
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.debounce !== undefined) clearTimeout(this.debounce);
    for (const c of this.controls.values()) c.stop();
    this.controls.clear();
    this.stats.controlClients = 0;
  }

  /** Something changed (or may have): scan soon, and go back to the base interval. */
  requestScan(_reason: string): void {
    if (this.stopped) return;
    this.idleScans = 0;
    this.interval = this.d.intervalMs ?? SCAN_INTERVAL_MS;
    if (this.debounce !== undefined) return;
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      void this.scanNow();
    }, DEBOUNCE_MS);
  }

  /** One scan; concurrent callers share it, and a request during a scan runs one more. */
  scanNow(): Promise<void> {
    if (this.running !== undefined) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.scanOnce();
        } while (this.again && !this.stopped);
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  private schedule(): void {
    if (this.stopped) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      void this.scanNow().finally(() => this.schedule());
    }, this.interval);
  }

  private async scanOnce(): Promise<void> {
    const { targetId, store, log, clock } = this.d;
    const t0 = performance.now();
    this.stats.scans++;
    try {
      const snap = this.withoutOwnClients(await this.snapshot());
      const agents = new Map<string, AgentObservation | null>();
      if (snap.panes.length > 0) {
        const table = await this.d.readProcs();
        const found = identifyAll(
          table,
          snap.panes.flatMap((p) => (p.pane_pid === null || p.pane_dead ? [] : [p.pane_pid])),
        );
        for (const p of snap.panes) {
          const m = p.pane_pid === null || p.pane_dead ? null : (found.get(p.pane_pid) ?? null);
          agents.set(p.pane_id, m === null ? null : { agent_type: m.agent_type, pid: m.pid, started_at: m.started_at });
        }
      }
      const server = snap.server.pid > 0 ? { boot_id: snap.server.boot_id, pid: snap.server.pid, version: snap.server.version } : null;
      const r = this.d.ingestor.applyObservation(targetId, { server, panes: snap.panes, agents, resync: this.resync });
      this.resync = false;
      store.setTargetError(targetId, null, clock());
      this.noteHealth(true);
      const changed = r.panes.added.length + r.panes.removed.length + r.panes.changed.length + r.runtimes.started.length + r.runtimes.ended.length > 0;
      if (changed) {
        this.stats.changes++;
        this.idleScans = 0;
        this.interval = this.d.intervalMs ?? SCAN_INTERVAL_MS;
      } else if (++this.idleScans >= IDLE_SCANS_BEFORE_BACKOFF && !snap.panes.some((p) => p.session_attached > 0)) {
        this.interval = Math.min(this.interval * 2, this.d.maxIntervalMs ?? MAX_SCAN_INTERVAL_MS);
      }
      this.syncControls(new Set(snap.panes.map((p) => p.session_id)));
    } catch (err) {
      this.stats.errors++;
      const message = err instanceof Error ? err.message : String(err);
      log.warn("topology scan failed", { target: targetId, message });
      store.setTargetError(targetId, { code: "E_TARGET_UNREACHABLE", message }, clock());
      this.noteHealth(false);
      this.resync = true;
      this.syncControls(new Set());
    } finally {
      this.stats.lastScanMs = performance.now() - t0;
    }
  }

  /** Our own control clients are not users: they must not make a session look attached. */
  private withoutOwnClients(snap: TopologySnapshot): TopologySnapshot {
    if (this.controls.size === 0) return snap;
    return {
      ...snap,
      panes: snap.panes.map((p) => (this.controls.get(p.session_id)?.attached === true ? { ...p, session_attached: Math.max(0, p.session_attached - 1) } : p)),
    };
  }

  /** The snapshot, with "no server running" as an empty topology and an old tmux refused. */
  private async snapshot(): Promise<TopologySnapshot> {
    try {
      const snap = await this.d.tmux.snapshot();
      if (snap.server.boot_id !== this.checkedBoot) {
        const v = parseVersion(`tmux ${snap.server.version}`);
        if (!isAtLeast(v, MIN_TMUX_VERSION)) {
          throw new TmuxError("too_old", `tmux ${snap.server.version} is too old: agtmux needs tmux >= ${MIN_TMUX_VERSION.major}.${MIN_TMUX_VERSION.minor}`);
        }
        this.checkedBoot = snap.server.boot_id;
      }
      return snap;
    } catch (err) {
      if (err instanceof TmuxError && err.kind === "no_server") {
        return { server: { pid: 0, started_at: 0, boot_id: "none", version: "" }, panes: [] };
      }
      throw err;
    }
  }

  private noteHealth(ok: boolean): void {
    const before = this.health.health;
    this.health = observe(this.health, ok, this.d.clock());
    if (this.health.health !== before) {
      this.d.log.info("target health changed", { target: this.d.targetId, from: before, to: this.health.health });
      this.d.ingestor.ingestSynthetic([{ type: "target_health_changed", target_id: this.d.targetId, health: this.health.health }]);
    }
  }

  /** One control client per live session; gone sessions lose theirs. */
  private syncControls(sessions: Set<string>): void {
    const factory = this.d.control;
    if (factory === undefined || this.stopped) return;
    for (const [id, c] of this.controls) {
      if (sessions.has(id)) continue;
      c.stop();
      this.controls.delete(id);
    }
    for (const id of sessions) {
      if (this.controls.has(id)) continue;
      try {
        let c: ControlLike | undefined;
        c = factory(
          id,
          (kind) => this.requestScan(kind),
          () => {
            if (c !== undefined && this.controls.get(id) === c) this.controls.delete(id);
            this.stats.controlClients = this.controls.size;
            this.requestScan("control-exit");
          },
        );
        this.controls.set(id, c);
      } catch (err) {
        this.d.log.warn("control client failed to start", { target: this.d.targetId, session: id, message: err instanceof Error ? err.message : String(err) });
      }
    }
    this.stats.controlClients = this.controls.size;
  }
}
