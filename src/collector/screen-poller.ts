/**
 * The pane-text fallback (low confidence). For agent panes whose adapter can
 * read a screen and that have no fresh high-confidence native signal, the
 * visible screens are captured in ONE tmux call per cycle, matched against the
 * adapter's patterns, and a `poller` event is emitted when the reading changes
 * (and every HEARTBEAT_MS while it holds, so it stays within its TTL). It
 * never outranks a fresh native signal: the engine's confidence tiers see to
 * that, and panes with one are not even captured.
 */
import type { AdapterRegistry } from "../adapters/registry.ts";
import type { Ingestor } from "../daemon/ingest.ts";
import type { Logger } from "../daemon/log.ts";
import type { EngineConfig } from "../domain/config.ts";
import { isFresh } from "../domain/engine.ts";
import { newEventId } from "../domain/ids.ts";
import type { State } from "../domain/model.ts";
import type { Clock } from "../domain/time.ts";
import type { Store } from "../store/store.ts";
import type { Tmux } from "../tmux/tmux.ts";

/** 1 s: the pane-text lag is this interval plus a capture; at 1.5 s its p95 over ssh sat on the 1.5 s goal (bench/profile.ts) */
export const POLL_INTERVAL_MS = 1_000;
export const HEARTBEAT_MS = 5_000;
/** a native `running` at least this old is re-checked against the screen */
export const RUNNING_RECHECK_MS = 3_000;
/** consecutive idle readings needed before a native `running` is called stopped */
export const STOPPED_READINGS = 2;

interface Last {
  state: State;
  at: number;
}

export interface PollStats {
  cycles: number;
  captured: number;
  emitted: number;
}

export class ScreenPoller {
  private timer: ReturnType<typeof setInterval> | undefined;
  private busy = false;
  private readonly last = new Map<string, Last>();
  /** runtime -> consecutive "idle" readings while a native signal says running */
  private readonly idleWhileRunning = new Map<string, number>();
  readonly stats: PollStats = { cycles: 0, captured: 0, emitted: 0 };

  constructor(
    private readonly d: {
      targetId: string;
      tmux: Tmux;
      store: Store;
      registry: AdapterRegistry;
      ingestor: Ingestor;
      engine: EngineConfig;
      clock: Clock;
      log: Logger;
      intervalMs?: number;
    },
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.pollOnce(), this.d.intervalMs ?? POLL_INTERVAL_MS);
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One cycle; returns how many events it emitted. */
  async pollOnce(): Promise<number> {
    if (this.busy) return 0;
    this.busy = true;
    try {
      this.stats.cycles++;
      const { store, registry, clock } = this.d;
      const now = clock();
      // runtimes whose fresh native signal says `running` for a while: a turn can stop with no
      // signal at all (Escape before the first token), so the screen is asked to confirm
      const recheck = new Set<string>();
      const due = store.listPaneViews(this.d.targetId).filter((p) => {
        if (p.runtime_id === null || p.agent_type === null || p.is_dead === 1) return false;
        if (registry.byAgent(p.agent_type)?.poll === undefined) return false;
        const native = store.cursors(p.runtime_id).filter((c) => c.source !== "poller" && c.cand?.confidence === "high" && isFresh(c, now, this.d.engine));
        if (native.length === 0) return true;
        const running = native.every((c) => c.cand?.state === "running" && now - c.cand.ingestedAt >= RUNNING_RECHECK_MS);
        if (running && registry.byAgent(p.agent_type)?.screenEndsRunning === true) {
          recheck.add(p.runtime_id);
          return true;
        }
        this.idleWhileRunning.delete(p.runtime_id);
        return false;
      });
      const live = new Set(due.map((p) => p.runtime_id as string));
      for (const k of this.last.keys()) if (!live.has(k)) this.last.delete(k);
      if (due.length === 0) return 0;
      const screens = await this.d.tmux.captureMany(
        due.map((p) => p.pane_id),
        { join: true },
      );
      this.stats.captured += screens.size;
      const envelopes = [];
      const at = clock();
      for (const p of due) {
        const text = screens.get(p.pane_id);
        const adapter = registry.byAgent(p.agent_type as string);
        if (text === undefined || adapter?.poll === undefined) continue;
        let reading;
        try {
          reading = adapter.poll({ text, title: p.title ?? "", current_command: p.current_command ?? "" });
        } catch {
          reading = null;
        }
        if (reading === null) continue; // no pattern: the poller has no opinion
        const rt = p.runtime_id as string;
        if (recheck.has(rt)) {
          const n = reading.state === "idle" ? (this.idleWhileRunning.get(rt) ?? 0) + 1 : 0;
          this.idleWhileRunning.set(rt, n);
          if (n < STOPPED_READINGS) continue;
          this.idleWhileRunning.delete(rt);
          // on the native stream, time-ordered: the next real signal supersedes it
          const event_id = newEventId();
          envelopes.push({
            event_id,
            event_type: `${p.agent_type as string}.screen.stopped`,
            source: "hook" as const,
            dedupe_key: `screen-stopped:${event_id}`,
            event_time: new Date(at).toISOString(),
            runtime_id: rt,
            agent_type: p.agent_type as string,
            raw_payload: { pattern: reading.pattern, readings: n },
          });
          continue;
        }
        const prev = this.last.get(rt);
        if (prev !== undefined && prev.state === reading.state && at - prev.at < HEARTBEAT_MS) continue;
        const event_id = newEventId();
        envelopes.push({
          event_id,
          event_type: `state.${reading.state}`,
          source: "poller" as const,
          dedupe_key: `screen:${event_id}`,
          event_time: new Date(at).toISOString(),
          runtime_id: rt,
          agent_type: p.agent_type as string,
          raw_payload: { pattern: reading.pattern },
        });
        this.last.set(rt, { state: reading.state, at });
      }
      if (envelopes.length > 0) {
        this.d.ingestor.ingest(envelopes.map((envelope) => ({ envelope })));
        this.stats.emitted += envelopes.length;
      }
      return envelopes.length;
    } catch (err) {
      this.d.log.debug("screen poll failed", { target: this.d.targetId, message: err instanceof Error ? err.message : String(err) });
      return 0;
    } finally {
      this.busy = false;
    }
  }
}
