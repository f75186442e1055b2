/**
 * The daemon side of the Codex app-server signal (Codex ≥ 0.16x, daemon mode).
 *
 * One passive client (src/adapters/codex/appserver.ts) of the user's Codex
 * daemon (`$CODEX_HOME/app-server-control/app-server-control.sock`), kept up
 * with backoff while no daemon runs. Every `thread/status/changed` broadcast
 * goes through the per-thread state machine (../adapters/codex/threads.ts);
 * a turn that ends (idle after active) is told apart by the thread's rollout
 * (../adapters/codex/rollout.ts); the thread is mapped to a pane's Codex
 * runtime (../adapters/codex/mapping.ts, from the store's panes and runtimes
 * of the target, and the panes' screens when only the first prompt can
 * decide); the result enters the one ingestion path as a
 * `codex.thread.<state>` event on the `notify` source with the runtime_id set.
 *
 * - event_time and queuedAt = the broadcast's `emittedAtMs` (same host clock);
 *   dedupe_key unique per status event, so re-deliveries are harmless.
 * - On every (re)connect: `thread/loaded/list` + `thread/read` learn the
 *   current statuses (broadcasts sent while disconnected are lost), so a
 *   daemon restart gets the states right again.
 * - A state whose thread cannot be mapped yet (its runtime is not in the
 *   store yet, or the mapping is ambiguous) waits and is retried every tick
 *   (up to PENDING_TTL_MS); an ambiguous thread never lands on a guessed pane,
 *   and becomes mappable when another thread's mapping or a new status
 *   (its first prompt on screen) settles it.
 * - Nothing here throws into the daemon: failures are logged and retried.
 */
import { existsSync } from "node:fs";
import {
  CodexAppServerClient,
  type CodexAppServerEvent,
  type CodexAppServerListener,
  type CodexThreadInfo,
  type CodexThreadStatus,
  codexHome as defaultCodexHome,
  defaultSocketPath,
} from "../adapters/codex/appserver.ts";
import {
  type MappingOptions,
  type MappingResult,
  type MappingRule,
  mapThread,
  newestThreadByRuntime,
  type RuntimeCandidate,
  type ThreadClaim,
} from "../adapters/codex/mapping.ts";
import { findRolloutPath, type LastTurn, readLastTurn, turnEndState, type TurnEndKind } from "../adapters/codex/rollout.ts";
import { statusLabel, ThreadMachine } from "../adapters/codex/threads.ts";
import type { IngestItem } from "../daemon/ingest.ts";
import type { Logger } from "../daemon/log.ts";
import type { Envelope, IngestResult } from "../domain/event.ts";
import { sha256Hex } from "../domain/ids.ts";
import type { State } from "../domain/model.ts";
import type { Clock } from "../domain/time.ts";
import type { Store } from "../store/store.ts";

export const TICK_MS = 1_000;
/** how long a state waits for its thread's pane to become known (the notify source's TTL) */
export const PENDING_TTL_MS = 30 * 60_000;
/** a running thread re-asserts itself this often (the notify source's TTL is 30 min) */
export const RUNNING_HEARTBEAT_MS = 5 * 60_000;
/** a waiting thread is probed again (thread/read, screens) at most this often, unless something changed */
const PROBE_RETRY_MS = 30_000;
/** a turn end in the rollout counts for the current turn if not older than its start minus this */
const TURN_START_SLACK_MS = 250;

/** What the collector needs of the app-server client (CodexAppServerClient has it all). */
export interface CodexThreadSource {
  readonly connected: boolean;
  on(listener: CodexAppServerListener): () => void;
  start(): void;
  close(): Promise<void>;
  loadedThreads(): Promise<string[]>;
  readThread(threadId: string): Promise<CodexThreadInfo>;
}

export interface CodexThreadCollectorDeps {
  targetId: string;
  store: Store;
  ingestor: { ingest(items: readonly IngestItem[]): IngestResult[] };
  clock: Clock;
  log: Logger;
  /** for $CODEX_HOME / HOME (default process.env) */
  env?: Record<string, string | undefined>;
  /** default: a reconnecting CodexAppServerClient on $CODEX_HOME's socket */
  source?: CodexThreadSource;
  /**
   * asks the topology observer for a scan now (TopologyCollector.requestScan): a
   * thread is mapped only against a topology observed after it was created, so
   * the TUI that created it is among the candidates
   */
  requestScan?: (reason: string) => void;
  /** the visible text of panes (tmux.captureMany(ids, { join: true })); without it, screens never decide */
  captureScreens?: (paneIds: readonly string[]) => Promise<Map<string, string>>;
  /** default: readLastTurn (a tail read of the rollout file); async for a target's files (RelayClient.readLastTurnRemote) */
  readLastTurn?: (path: string) => LastTurn | null | Promise<LastTurn | null>;
  /** how long to wait for a turn's end to reach the rollout file, default 8 × 100 ms */
  rolloutWait?: { attempts: number; delayMs: number };
  mapping?: Partial<MappingOptions>;
  tickMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

export interface CodexThreadsHealth {
  status: "ok" | "down";
  connected: boolean;
  socket: string;
  detail: string;
  /** threads followed (not ignored) / mapped to a runtime / waiting for a mapping */
  threads: number;
  mapped: number;
  pending: number;
  last_connected_at: number | null;
  last_error: string | null;
}

interface ThreadMeta {
  id: string;
  cwd: string;
  createdAtMs: number;
  preview: string;
  path: string | null;
  updatedAtMs: number | null;
}

interface Mapping {
  runtime_id: string;
  pane_id: string;
  rule: MappingRule;
  /** a startup-window mapping is provisional until the screens were checked with the thread's first prompt */
  confirmed: boolean;
}

interface Pending {
  state: State;
  /** when it happened (emittedAtMs, or the best estimate on a catch-up) */
  at: number;
  dedupeKey: string;
  label: string;
  /** clock when it was queued (PENDING_TTL_MS) */
  queued: number;
  turnEnd?: { kind: TurnEndKind | "unknown"; turn_id: string | null };
}

type SeqEvent = { ev: CodexAppServerEvent; seq: number };

export class CodexThreadCollector {
  readonly socketPath: string;
  private readonly codexHome: string;
  private readonly source: CodexThreadSource;
  private readonly machine = new ThreadMachine();
  private readonly metas = new Map<string, ThreadMeta>();
  private readonly mappings = new Map<string, Mapping>();
  private readonly pending = new Map<string, Pending>();
  /** thread → when its current turn started (the status that made it active) */
  private readonly turnStart = new Map<string, number>();
  /** thread → the event seq before which a catch-up read already reflects its broadcasts */
  private readonly readSeq = new Map<string, number>();
  /** thread → last probe (thread/read for the first prompt, screen capture) and what the candidates were then */
  private readonly probed = new Map<string, { at: number; sig: string }>();
  /** runtime → last emitted state and when (running heartbeats) */
  private readonly lastEmitted = new Map<string, { thread: string; state: State; at: number }>();
  private chain: Promise<void> = Promise.resolve();
  private seq = 0;
  private off: (() => void) | null = null;
  private timer: ReturnType<typeof setInterval> | undefined;
  private stopped = false;
  private lastConnectedAt: number | null = null;
  private lastError: string | null = null;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly d: CodexThreadCollectorDeps) {
    const env = d.env ?? process.env;
    this.codexHome = defaultCodexHome(env);
    this.socketPath = defaultSocketPath(env);
    this.sleep = d.sleep ?? ((ms) => Bun.sleep(ms));
    this.source =
      d.source ??
      new CodexAppServerClient({
        socketPath: this.socketPath,
        reconnect: { initialDelayMs: 500, maxDelayMs: 5_000 },
        log: (msg) => d.log.debug(msg, {}),
      });
  }

  start(): void {
    if (this.off !== null || this.stopped) return;
    this.off = this.source.on((ev) => {
      const seq = ++this.seq;
      this.enqueue(() => this.handle({ ev, seq }));
    });
    this.source.start();
    this.timer = setInterval(() => this.enqueue(() => this.tick()), this.d.tickMs ?? TICK_MS);
  }

  /** Stops at once (nothing is ingested after this returns); the returned promise closes the connection. */
  stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.off?.();
    this.off = null;
    return this.source.close().catch(() => {});
  }

  /** Resolves once every event received so far has been handled (tests). */
  idle(): Promise<void> {
    return this.chain;
  }

  /** One tick now (retries waiting states); resolves when done (tests, nudges). */
  poll(): Promise<void> {
    this.enqueue(() => this.tick());
    return this.chain;
  }

  health(): CodexThreadsHealth {
    const connected = this.source.connected;
    return {
      status: connected ? "ok" : "down",
      connected,
      socket: this.socketPath,
      detail: connected
        ? "connected to the Codex app-server"
        : !existsSync(this.socketPath)
          ? "no Codex app-server socket (no Codex TUI has started its daemon)"
          : `not connected${this.lastError === null ? "" : `: ${this.lastError}`}`,
      threads: this.metas.size,
      mapped: this.mappings.size,
      pending: this.pending.size,
      last_connected_at: this.lastConnectedAt,
      last_error: this.lastError,
    };
  }

  /** The runtime a thread is mapped to (tests, explain). */
  mappingOf(threadId: string): { runtime_id: string; pane_id: string; rule: MappingRule; confirmed: boolean } | null {
    const m = this.mappings.get(threadId);
    return m === undefined ? null : { ...m };
  }

  // -------------------------------------------------------------------------

  private enqueue(fn: () => Promise<void> | void): void {
    this.chain = this.chain
      .then(async () => {
        if (!this.stopped) await fn();
      })
      .catch((err: unknown) => {
        this.d.log.warn("codex threads: handler failed", { message: err instanceof Error ? err.message : String(err) });
      });
  }

  private async handle({ ev, seq }: SeqEvent): Promise<void> {
    switch (ev.type) {
      case "connected":
        this.lastConnectedAt = ev.receivedAt;
        this.lastError = null;
        this.d.log.info("codex app-server connected", { socket: ev.socketPath, codex_home: ev.codexHome });
        await this.catchUp();
        return;
      case "disconnected":
        this.lastError = ev.error.message;
        this.d.log.info("codex app-server disconnected", { kind: ev.error.kind, message: ev.error.message });
        return;
      case "thread/started":
        this.learn(ev.thread);
        await this.onStatus(ev.thread.id, ev.thread.status, ev.emittedAtMs ?? ev.receivedAt, seq, false);
        return;
      case "thread/status/changed":
        await this.onStatus(ev.threadId, ev.status, ev.emittedAtMs ?? ev.receivedAt, seq, true);
        return;
      case "thread/closed":
        this.forget(ev.threadId);
        return;
      default:
        return;
    }
  }

  private learn(t: CodexThreadInfo): void {
    this.machine.observe({ id: t.id, ephemeral: t.ephemeral, preview: t.preview, source: t.source, parentThreadId: t.parentThreadId });
    if (this.machine.isIgnored(t.id)) {
      this.metas.delete(t.id);
      return;
    }
    const prev = this.metas.get(t.id);
    this.metas.set(t.id, {
      id: t.id,
      cwd: t.cwd,
      createdAtMs: t.createdAtMs,
      preview: t.preview !== "" ? t.preview : (prev?.preview ?? ""),
      path: t.path ?? prev?.path ?? null,
      updatedAtMs: t.updatedAt === null ? null : t.updatedAt * 1000,
    });
  }

  private forget(threadId: string): void {
    this.machine.forget(threadId);
    this.metas.delete(threadId);
    this.mappings.delete(threadId);
    this.pending.delete(threadId);
    this.turnStart.delete(threadId);
    this.readSeq.delete(threadId);
    this.probed.delete(threadId);
  }

  private async read(threadId: string): Promise<boolean> {
    if (!this.source.connected) return false;
    try {
      this.learn(await this.source.readThread(threadId));
      return true;
    } catch (err) {
      this.d.log.debug("codex threads: thread/read failed", { thread: threadId, message: err instanceof Error ? err.message : String(err) });
      return false;
    }
  }

  /** On (re)connect: the current status of every loaded thread. */
  private async catchUp(): Promise<void> {
    let ids: string[];
    try {
      ids = await this.source.loadedThreads();
    } catch (err) {
      this.d.log.debug("codex threads: thread/loaded/list failed", { message: err instanceof Error ? err.message : String(err) });
      return;
    }
    const infos: { info: CodexThreadInfo; seq: number }[] = [];
    for (const id of ids) {
      if (this.stopped) return;
      const before = this.seq;
      try {
        infos.push({ info: await this.source.readThread(id), seq: before });
      } catch (err) {
        this.d.log.debug("codex threads: thread/read failed", { thread: id, message: err instanceof Error ? err.message : String(err) });
      }
    }
    // oldest first: a runtime's startup thread is claimed before later ones are mapped
    infos.sort((a, b) => a.info.createdAtMs - b.info.createdAtMs);
    for (const { info, seq } of infos) {
      this.learn(info);
      if (this.machine.isIgnored(info.id)) continue;
      this.readSeq.set(info.id, seq);
      const s = info.status;
      const now = this.d.clock();
      // active: it is so now; idle / error: since the thread's last update (never newer than what a live broadcast said)
      const at = s.type === "active" ? now : Math.min(now, this.metas.get(info.id)?.updatedAtMs ?? now);
      await this.apply(info.id, s, at, `read:${this.d.clock()}`, "catch_up");
    }
  }

  private async onStatus(threadId: string, status: CodexThreadStatus, at: number, seq: number, live: boolean): Promise<void> {
    if (seq <= (this.readSeq.get(threadId) ?? 0)) return; // a catch-up read already reflects it
    if (!this.machine.knows(threadId) || (!this.metas.has(threadId) && !this.machine.isIgnored(threadId))) {
      // connected after the thread started: learn what it is first
      await this.read(threadId);
    }
    if (this.machine.isIgnored(threadId)) return;
    await this.apply(threadId, status, at, `${at}`, live ? "live" : "started");
  }

  private async apply(threadId: string, status: CodexThreadStatus, at: number, keyPart: string, how: "live" | "started" | "catch_up"): Promise<void> {
    const step = this.machine.step(threadId, status);
    const label = statusLabel(status);
    if (step.kind === "ignore") return;
    const dedupeKey = `codex-thread:${threadId}:${keyPart}:${label}`;
    const queued = this.d.clock();
    if (step.kind === "state") {
      if (step.state !== "idle" && step.state !== "error" && !this.turnStart.has(threadId)) this.turnStart.set(threadId, at);
      if (step.state === "idle" || step.state === "error") this.turnStart.delete(threadId);
      const last = how === "catch_up" && step.state === "idle" ? await this.lastTurn(threadId) : null;
      if (last?.kind === "ended") {
        // idle when first seen after a (re)start: how its last turn ended, and when (the engine demotes an old completion)
        this.pending.set(threadId, { state: turnEndState(last.end.kind), at: Math.min(last.end.at ?? at, this.d.clock()), dedupeKey, label, queued, turnEnd: { kind: last.end.kind, turn_id: last.end.turnId } });
      } else this.pending.set(threadId, { state: step.state, at, dedupeKey, label, queued });
    } else {
      const end = await this.turnEnd(threadId);
      this.turnStart.delete(threadId);
      // live: the broadcast's time; on a catch-up the broadcast was missed: the rollout's
      const when = how === "catch_up" && end.at !== null ? Math.min(end.at, this.d.clock()) : at;
      this.pending.set(threadId, { state: end.state, at: when, dedupeKey, label, queued, turnEnd: { kind: end.kind, turn_id: end.turnId } });
    }
    await this.flush(threadId, true);
  }

  private rolloutPath(threadId: string): string | null {
    const meta = this.metas.get(threadId);
    if (meta === undefined) return null;
    return meta.path ?? findRolloutPath(this.codexHome, threadId, meta.createdAtMs);
  }

  /** The thread's newest turn boundary in its rollout, read once (null: no readable rollout). */
  private async lastTurn(threadId: string): Promise<LastTurn | null> {
    const path = this.rolloutPath(threadId);
    if (path === null) return null;
    return await (this.d.readLastTurn ?? ((p: string) => readLastTurn(p)))(path);
  }

  /** How the current turn of a thread ended, from its rollout (completed when it cannot tell). */
  private async turnEnd(threadId: string): Promise<{ state: "completed" | "error" | "idle"; kind: TurnEndKind | "unknown"; turnId: string | null; at: number | null }> {
    const path = this.rolloutPath(threadId);
    if (path !== null) {
      const since = (this.turnStart.get(threadId) ?? Number.NEGATIVE_INFINITY) - TURN_START_SLACK_MS;
      const read = this.d.readLastTurn ?? ((p: string) => readLastTurn(p));
      const wait = this.d.rolloutWait ?? { attempts: 8, delayMs: 100 };
      for (let i = 0; i < Math.max(1, wait.attempts); i++) {
        const last = await read(path);
        if (last === null) break; // unreadable
        if (last.kind === "ended" && (last.end.at === null || last.end.at >= since)) {
          return { state: turnEndState(last.end.kind), kind: last.end.kind, turnId: last.end.turnId, at: last.end.at };
        }
        if (i + 1 < wait.attempts) await this.sleep(wait.delayMs);
      }
    }
    return { state: "completed", kind: "unknown", turnId: null, at: null };
  }

  private candidates(): RuntimeCandidate[] {
    return this.d.store
      .listPaneViews(this.d.targetId)
      .filter((p) => p.runtime_id !== null && p.agent_type === "codex" && p.is_dead === 0)
      .map((p) => ({ runtime_id: p.runtime_id as string, pane_id: p.pane_id, cwd: p.current_path, started_at: p.agent_started_at ?? 0 }));
  }

  private claims(except: string): ThreadClaim[] {
    const out: ThreadClaim[] = [];
    for (const [tid, m] of this.mappings) {
      if (tid === except) continue;
      const meta = this.metas.get(tid);
      if (meta !== undefined) out.push({ thread_id: tid, runtime_id: m.runtime_id, createdAtMs: meta.createdAtMs });
    }
    return out;
  }

  /**
   * Maps (or confirms the mapping of) a thread; null while it cannot be
   * mapped. The thread is probed (thread/read for its first prompt, screen
   * capture) when `eager` (a new status just arrived), when the candidates or
   * claims changed since the last probe, or every PROBE_RETRY_MS.
   */
  private async resolveMapping(threadId: string, meta: ThreadMeta, eager: boolean): Promise<Mapping | null> {
    const current = this.mappings.get(threadId) ?? null;
    if (current !== null && current.confirmed) return current;
    // The TUI that created the thread started before it: a scan taken after the
    // creation has it. Earlier, a lone older TUI in the same cwd would look like
    // the only candidate.
    const observed = this.d.store.getTarget(this.d.targetId)?.last_topology_at ?? null;
    if (observed === null || observed <= meta.createdAtMs) {
      this.d.requestScan?.("codex-thread");
      return current;
    }
    const cands = this.candidates();
    const claims = this.claims(threadId);
    let r: MappingResult = mapThread(meta, cands, claims, this.d.mapping);
    const undecided = r.kind === "ambiguous" || (r.kind === "mapped" && r.rule === "startup_window");
    let screensChecked = false;
    const now = this.d.clock();
    const last = this.probed.get(threadId);
    const sig = `${cands.map((c) => c.runtime_id).join(",")}|${claims.map((c) => `${c.thread_id}>${c.runtime_id}`).join(",")}`;
    if (undecided && (eager || last === undefined || last.sig !== sig || now - last.at >= PROBE_RETRY_MS)) {
      this.probed.set(threadId, { at: now, sig });
      if (meta.preview === "" && (await this.read(threadId))) meta = this.metas.get(threadId) ?? meta;
      if (meta.preview !== "" && this.d.captureScreens !== undefined) {
        const ids = cands.filter((c) => r.kind !== "ambiguous" || r.candidates.includes(c.runtime_id)).map((c) => c.pane_id);
        let screens = new Map<string, string>();
        try {
          screens = await this.d.captureScreens(ids);
        } catch (err) {
          this.d.log.debug("codex threads: screen capture failed", { message: err instanceof Error ? err.message : String(err) });
        }
        if (screens.size > 0) {
          screensChecked = true;
          const withScreens = mapThread(
            meta,
            cands.map((c) => ({ ...c, screen: screens.get(c.pane_id) })),
            claims,
            this.d.mapping,
          );
          if (withScreens.kind === "mapped") r = withScreens;
        }
      }
    }
    if (r.kind === "mapped") {
      const m: Mapping = { runtime_id: r.runtime_id, pane_id: r.pane_id, rule: r.rule, confirmed: r.rule !== "startup_window" || screensChecked };
      if (current === null || current.runtime_id !== m.runtime_id) {
        this.d.log.info("codex thread mapped", { thread: threadId, runtime_id: m.runtime_id, pane: m.pane_id, rule: m.rule, ...(current === null ? {} : { was: current.runtime_id }) });
      }
      this.mappings.set(threadId, m);
      return m;
    }
    if (current !== null) {
      if (screensChecked) current.confirmed = true; // the screens could not say otherwise: keep the window's answer
      return current;
    }
    if (r.kind === "ambiguous") this.d.log.debug("codex thread ambiguous", { thread: threadId, candidates: r.candidates });
    return null;
  }

  /** Ingests a thread's pending state if its runtime is known. */
  private async flush(threadId: string, eager = false): Promise<void> {
    const p = this.pending.get(threadId);
    if (p === undefined || this.stopped) return;
    let meta = this.metas.get(threadId);
    if (meta === undefined) {
      // unknowable (or ignored after all); a catch-up after a reconnect reads it again
      if (await this.read(threadId)) meta = this.metas.get(threadId);
      if (meta === undefined) {
        this.pending.delete(threadId);
        return;
      }
    }
    const cur = this.mappings.get(threadId);
    if (cur !== undefined && !this.runtimeActive(cur.runtime_id)) {
      // the TUI is gone; the thread may go on in the daemon, but no pane shows it
      this.mappings.delete(threadId);
      this.pending.delete(threadId);
      return;
    }
    const m = await this.resolveMapping(threadId, meta, eager);
    if (m === null || this.stopped) return;
    const newest = newestThreadByRuntime(this.claims("")).get(m.runtime_id);
    if (newest !== undefined && newest.thread_id !== threadId) {
      this.pending.delete(threadId); // an older conversation of a TUI that has moved on (/new)
      return;
    }
    this.pending.delete(threadId);
    this.emit(threadId, m, p);
  }

  private runtimeActive(runtimeId: string): boolean {
    const rt = this.d.store.getRuntime(runtimeId);
    return rt !== null && rt.ended_at === null;
  }

  private emit(threadId: string, m: Mapping, p: Pending): void {
    if (this.stopped) return; // the daemon may be closing the store
    const now = this.d.clock();
    const envelope: Envelope = {
      event_id: `cxt-${sha256Hex(`${m.runtime_id}\u0000${p.dedupeKey}`).slice(0, 40)}`,
      event_type: `codex.thread.${p.state}`,
      source: "notify",
      dedupe_key: p.dedupeKey,
      event_time: new Date(p.at).toISOString(),
      runtime_id: m.runtime_id,
      agent_type: "codex",
      raw_payload: {
        thread_id: threadId,
        status: p.label,
        mapping: m.rule,
        ...(p.turnEnd === undefined ? {} : { turn_end: p.turnEnd.kind, turn_id: p.turnEnd.turn_id }),
      },
    };
    const [res] = this.d.ingestor.ingest([{ envelope, queuedAt: Math.min(p.at, now) }]);
    if (res?.status === "rejected") {
      this.d.log.debug("codex thread event rejected", { thread: threadId, runtime_id: m.runtime_id, code: res.error?.code ?? "" });
      if (res.error?.code === "E_RUNTIME_STALE") this.mappings.delete(threadId);
      return;
    }
    this.lastEmitted.set(m.runtime_id, { thread: threadId, state: p.state, at: now });
  }

  /** Retries waiting states, drops expired ones, keeps long turns fresh. */
  private async tick(): Promise<void> {
    const now = this.d.clock();
    const waiting = [...this.pending.entries()].toSorted((a, b) => (this.metas.get(a[0])?.createdAtMs ?? 0) - (this.metas.get(b[0])?.createdAtMs ?? 0));
    for (const [tid, p] of waiting) {
      if (now - p.queued > PENDING_TTL_MS) {
        this.pending.delete(tid);
        this.d.log.debug("codex thread state dropped: no pane", { thread: tid, state: p.state });
        continue;
      }
      await this.flush(tid);
    }
    if (!this.source.connected || this.stopped) return;
    for (const [rid, e] of this.lastEmitted) {
      if (!this.runtimeActive(rid) || this.mappings.get(e.thread)?.runtime_id !== rid) {
        this.lastEmitted.delete(rid);
        continue;
      }
      if (e.state !== "running" || now - e.at < RUNNING_HEARTBEAT_MS) continue;
      const dedupe = `codex-thread:${e.thread}:heartbeat:${now}`;
      this.d.ingestor.ingest([
        {
          envelope: {
            event_id: `cxt-${sha256Hex(`${rid}\u0000${dedupe}`).slice(0, 40)}`,
            event_type: "heartbeat",
            source: "notify",
            dedupe_key: dedupe,
            event_time: new Date(now).toISOString(),
            runtime_id: rid,
            agent_type: "codex",
            raw_payload: { thread_id: e.thread },
          },
          queuedAt: now,
        },
      ]);
      e.at = now;
    }
  }
}
