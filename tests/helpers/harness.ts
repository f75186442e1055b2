/** In-process store + ingestor on an in-memory (or file) SQLite DB with a fake clock. */
import { AdapterRegistry } from "../../src/adapters/registry.ts";
import { type DaemonConfig, DEFAULT_CONFIG, type EngineConfig } from "../../src/domain/config.ts";
import type { Envelope } from "../../src/domain/event.ts";
import { newEventId } from "../../src/domain/ids.ts";
import { decideRuntime } from "../../src/domain/runtime.ts";
import { FakeClock } from "../../src/domain/time.ts";
import { DebugBuffer } from "../../src/daemon/debug-buffer.ts";
import { Ingestor } from "../../src/daemon/ingest.ts";
import { openDatabase } from "../../src/store/db.ts";
import { asActiveRuntime, Store } from "../../src/store/store.ts";

export const T0 = Date.parse("2026-11-24T10:00:00Z");

export interface Harness {
  clock: FakeClock;
  store: Store;
  ingestor: Ingestor;
  config: DaemonConfig;
  debug: DebugBuffer;
  registry: AdapterRegistry;
  /** starts (or rolls over to) a runtime in a pane; returns its id */
  startRuntime(pane: string, o?: { pid?: number; agent?: string; startedAt?: number; target?: string; boot?: string }): string;
  endRuntime(pane: string, target?: string): void;
  ev(p: Partial<Envelope> & { event_type: string }): Envelope;
  close(): void;
}

export function harness(o: { path?: string; engine?: Partial<EngineConfig>; debug?: boolean; now?: number; registry?: AdapterRegistry } = {}): Harness {
  const clock = new FakeClock(o.now ?? T0);
  const db = openDatabase(o.path ?? ":memory:", { now: clock.nowMs });
  const store = new Store(db);
  store.ensureTarget({ target_id: "host", kind: "local" }, clock.nowMs);
  const config: DaemonConfig = { ...DEFAULT_CONFIG, engine: { ...DEFAULT_CONFIG.engine, ...o.engine }, debug: o.debug ?? false };
  const debug = new DebugBuffer();
  const registry = o.registry ?? new AdapterRegistry();
  const ingestor = new Ingestor({ store, registry, config, clock: clock.now, debug });
  let pidSeq = 1000;
  const startRuntime: Harness["startRuntime"] = (pane, r = {}) => {
    const target = r.target ?? "host";
    const active = store.activeRuntime(target, pane);
    const decision = decideRuntime(
      active === null ? undefined : asActiveRuntime(active),
      {
        target_id: target,
        boot_id: r.boot ?? "boot-1",
        pane_id: pane,
        pane_pid: 1,
        agent: { agent_type: r.agent ?? "claude", pid: r.pid ?? ++pidSeq, started_at: r.startedAt ?? clock.nowMs - 1_000 },
        resync: false,
      },
      store.lastEpoch(target, pane),
    );
    if (decision.kind !== "start") throw new Error(`expected a new runtime, got ${decision.kind}`);
    ingestor.applyRuntimeDecision(decision, target, pane);
    return decision.runtime.runtime_id;
  };
  return {
    clock,
    store,
    ingestor,
    config,
    debug,
    registry,
    startRuntime,
    endRuntime(pane, target = "host") {
      const a = store.activeRuntime(target, pane);
      if (a === null) throw new Error("no active runtime");
      ingestor.applyRuntimeDecision({ kind: "end", runtime_id: a.runtime_id, reason: "agent_exited" }, target, pane);
    },
    ev(p) {
      const id = p.event_id ?? newEventId();
      return {
        event_id: id,
        source: "hook",
        dedupe_key: `dk-${id}`,
        event_time: new Date(clock.nowMs).toISOString(),
        ...p,
      } as Envelope;
    },
    close: () => db.close(),
  };
}
