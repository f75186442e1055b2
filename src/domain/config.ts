/**
 * Configuration: defaults, the valibot schema for `config.toml`, and the
 * engine's view of it. Pure: reading the file is the daemon's job.
 */
import * as v from "valibot";
import { type ExternalSource, type State } from "./model.ts";

export interface EngineConfig {
  /** |event_time - ingested_at| within this uses event_time for ordering (contracts §3). */
  skewBudgetMs: number;
  /** completed -> idle after this long, timed by ingested_at (contracts §2). */
  completedDemotionMs: number;
  /** Freshness TTL per source; null = never stale on its own. */
  ttlMs: Record<ExternalSource, number | null>;
  /**
   * States that event-driven sources (hook/notify/wrapper) hold without going
   * stale: an agent waiting for a human emits nothing until the human acts.
   * Polled sources (poller) always expire after their TTL.
   */
  stickyStates: readonly State[];
  /** How long a pending_bind event may wait for its runtime (contracts §3). */
  bindTtlMs: number;
  /** |started_at - start_hint| tolerance when binding (contracts §3). */
  bindStartToleranceMs: number;
}

export interface RetentionConfig {
  payloadMs: number;
  eventMs: number;
  intervalMs: number;
}

/** The watch stream (contracts §8). */
export interface WatchConfig {
  /** deltas kept for cursor resume: at most this many ... */
  retainEvents: number;
  /** ... and none older than this */
  retainMs: number;
  /** a heartbeat line on an idle stream this often */
  heartbeatMs: number;
  /** lines queued for one slow client before it gets a reset + snapshot instead */
  clientQueueMax: number;
}

export interface DaemonConfig {
  watch: WatchConfig;
  engine: EngineConfig;
  retention: RetentionConfig;
  /** Keep unredacted payloads in memory only (never SQLite), at most 24 h. */
  debug: boolean;
  /** Max request body (bytes). Larger -> 413. */
  maxBodyBytes: number;
  /** Reconciler tick. */
  reconcileIntervalMs: number;
}

const DAY = 86_400_000;

export const DEFAULT_ENGINE: EngineConfig = {
  skewBudgetMs: 10_000,
  completedDemotionMs: 120_000,
  ttlMs: { hook: 30 * 60_000, notify: 30 * 60_000, wrapper: 30 * 60_000, poller: 15_000 },
  stickyStates: ["waiting_input", "waiting_approval", "completed", "idle", "error"],
  bindTtlMs: 30_000,
  bindStartToleranceMs: 5_000,
};

export const DEFAULT_WATCH: WatchConfig = { retainEvents: 10_000, retainMs: 10 * 60_000, heartbeatMs: 5_000, clientQueueMax: 2_000 };

export const DEFAULT_CONFIG: DaemonConfig = {
  watch: DEFAULT_WATCH,
  engine: DEFAULT_ENGINE,
  retention: { payloadMs: 7 * DAY, eventMs: 14 * DAY, intervalMs: 3_600_000 },
  debug: false,
  maxBodyBytes: 1024 * 1024,
  reconcileIntervalMs: 1_000,
};

const seconds = v.pipe(v.number(), v.minValue(0), v.maxValue(10 * 365 * 86_400));
const posSeconds = v.pipe(v.number(), v.minValue(0.001), v.maxValue(10 * 365 * 86_400));

/** `config.toml` (all keys optional; units in the key names). */
export const ConfigFileSchema = v.strictObject({
  debug: v.optional(v.boolean()),
  max_body_bytes: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1024), v.maxValue(64 * 1024 * 1024))),
  engine: v.optional(
    v.strictObject({
      skew_budget_s: v.optional(seconds),
      completed_demotion_s: v.optional(posSeconds),
      bind_ttl_s: v.optional(posSeconds),
      bind_start_tolerance_s: v.optional(seconds),
      reconcile_interval_s: v.optional(posSeconds),
      ttl_s: v.optional(
        v.strictObject({
          hook: v.optional(v.nullable(posSeconds)),
          notify: v.optional(v.nullable(posSeconds)),
          wrapper: v.optional(v.nullable(posSeconds)),
          poller: v.optional(v.nullable(posSeconds)),
        }),
      ),
    }),
  ),
  watch: v.optional(
    v.strictObject({
      retain_events: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(1_000_000))),
      retain_s: v.optional(posSeconds),
      // above ~9 s, Bun's 10 s idle timeout can cut a quiet stream
      heartbeat_s: v.optional(v.pipe(v.number(), v.minValue(0.1), v.maxValue(9))),
      client_queue_max: v.optional(v.pipe(v.number(), v.integer(), v.minValue(10), v.maxValue(1_000_000))),
    }),
  ),
  retention: v.optional(
    v.strictObject({
      payload_days: v.optional(posSeconds),
      event_days: v.optional(posSeconds),
      interval_s: v.optional(posSeconds),
    }),
  ),
});
export type ConfigFile = v.InferOutput<typeof ConfigFileSchema>;

const s2ms = (s: number): number => Math.round(s * 1000);

export function resolveConfig(file: ConfigFile | undefined, env: { debug?: boolean } = {}): DaemonConfig {
  const f = file ?? {};
  const e = f.engine ?? {};
  const r = f.retention ?? {};
  const ttl = e.ttl_s ?? {};
  const pick = (k: ExternalSource): number | null => {
    const val = ttl[k];
    if (val === undefined) return DEFAULT_ENGINE.ttlMs[k];
    return val === null ? null : s2ms(val);
  };
  const w = f.watch ?? {};
  return {
    watch: {
      retainEvents: w.retain_events ?? DEFAULT_WATCH.retainEvents,
      retainMs: w.retain_s !== undefined ? s2ms(w.retain_s) : DEFAULT_WATCH.retainMs,
      heartbeatMs: w.heartbeat_s !== undefined ? s2ms(w.heartbeat_s) : DEFAULT_WATCH.heartbeatMs,
      clientQueueMax: w.client_queue_max ?? DEFAULT_WATCH.clientQueueMax,
    },
    engine: {
      ...DEFAULT_ENGINE,
      skewBudgetMs: e.skew_budget_s !== undefined ? s2ms(e.skew_budget_s) : DEFAULT_ENGINE.skewBudgetMs,
      completedDemotionMs:
        e.completed_demotion_s !== undefined ? s2ms(e.completed_demotion_s) : DEFAULT_ENGINE.completedDemotionMs,
      bindTtlMs: e.bind_ttl_s !== undefined ? s2ms(e.bind_ttl_s) : DEFAULT_ENGINE.bindTtlMs,
      bindStartToleranceMs:
        e.bind_start_tolerance_s !== undefined ? s2ms(e.bind_start_tolerance_s) : DEFAULT_ENGINE.bindStartToleranceMs,
      ttlMs: { hook: pick("hook"), notify: pick("notify"), wrapper: pick("wrapper"), poller: pick("poller") },
    },
    retention: {
      payloadMs: r.payload_days !== undefined ? r.payload_days * DAY : DEFAULT_CONFIG.retention.payloadMs,
      eventMs: r.event_days !== undefined ? r.event_days * DAY : DEFAULT_CONFIG.retention.eventMs,
      intervalMs: r.interval_s !== undefined ? s2ms(r.interval_s) : DEFAULT_CONFIG.retention.intervalMs,
    },
    debug: env.debug ?? f.debug ?? false,
    maxBodyBytes: f.max_body_bytes ?? DEFAULT_CONFIG.maxBodyBytes,
    reconcileIntervalMs:
      e.reconcile_interval_s !== undefined ? s2ms(e.reconcile_interval_s) : DEFAULT_CONFIG.reconcileIntervalMs,
  };
}
