/**
 * Targets at runtime (contracts §6): one worker per stored target, each with
 * its own executor, tmux wrapper, topology collector, screen poller and
 * native-signal followers. Workers never block each other or the API: reads
 * come from the store, which each worker keeps current on its own schedule.
 *
 * `host` (local) exists by default; `target add|connect|remove` change the set
 * while the daemon runs.
 */
import { existsSync } from "node:fs";
import { CodexThreadCollector, type CodexThreadSource } from "../collector/codex-threads.ts";
import { controlFactory } from "../collector/control-factory.ts";
import { ScreenPoller } from "../collector/screen-poller.ts";
import { type ControlFactory, TopologyCollector } from "../collector/topology.ts";
import { ClaudeTranscriptFollower, type FileReader } from "../collector/transcripts.ts";
import type { LastTurn } from "../adapters/codex/rollout.ts";
import { AgtmuxError } from "../domain/errors.ts";
import { HOST_TARGET, type TargetKind, type TargetSpec, sameSpec } from "../domain/target.ts";
import type { Env } from "../platform/paths.ts";
import { snapshotProcesses } from "../procs/table.ts";
import type { ProcessTable } from "../procs/types.ts";
import type { TargetRow } from "../store/store.ts";
import { ExecError, type Executor, LocalExecutor } from "../targets/executor.ts";
import { Tmux } from "../tmux/tmux.ts";
import type { TmuxSocket } from "../tmux/types.ts";
import type { ProbeReport, WorkerStatus } from "../wire/list.ts";
import type { DaemonContext } from "./context.ts";

export interface TargetWorker {
  readonly id: string;
  readonly kind: TargetKind;
  /** the first topology scan is awaited for local targets; ssh targets come up in the background */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** reach the target now (reconnect for ssh), scan, and say how it went; throws E_TARGET_UNREACHABLE */
  probe(opts: { acceptNewHostKey?: boolean }): Promise<ProbeReport>;
  requestScan(reason: string): void;
  status(): WorkerStatus;
}

/** Parts that differ between a local and an ssh target. */
export interface Transport {
  exec: Executor;
  readProcs(): Promise<ProcessTable>;
  control?: ControlFactory;
  files?: FileReader;
  codex?: { source?: CodexThreadSource; readLastTurn?: (path: string) => LastTurn | null | Promise<LastTurn | null>; env?: Env };
  start?(worker: CollectingWorker): void;
  stop?(): Promise<void>;
  /** reconnect now, optionally accepting a new host key */
  reconnect?(opts: { acceptNewHostKey?: boolean }): Promise<void>;
  status?(): Partial<WorkerStatus>;
}

export function tmuxSocketOf(configured: string | null, env: Env, fallbackToEnvTmux: boolean): TmuxSocket {
  if (configured !== null && configured !== "") return configured.includes("/") ? { path: configured } : { name: configured };
  const fromTmux = fallbackToEnvTmux ? env.TMUX?.split(",")[0] : undefined;
  return fromTmux !== undefined && fromTmux !== "" ? { path: fromTmux } : {};
}

/** Topology + screens + transcripts (+ Codex threads) over one transport. */
export class CollectingWorker implements TargetWorker {
  readonly id: string;
  readonly kind: TargetKind;
  readonly tmux: Tmux;
  readonly collector: TopologyCollector;
  private readonly screens: ScreenPoller;
  private readonly transcripts: ClaudeTranscriptFollower;
  private readonly codex: CodexThreadCollector | undefined;
  private started = false;

  constructor(
    private readonly ctx: DaemonContext,
    row: TargetRow,
    readonly transport: Transport,
    socket: TmuxSocket,
    opts: { codex: boolean },
  ) {
    this.id = row.target_id;
    this.kind = row.kind;
    const { store, ingestor, registry, clock, log, config } = ctx;
    this.tmux = new Tmux(transport.exec, socket);
    this.collector = new TopologyCollector({
      targetId: this.id,
      tmux: this.tmux,
      readProcs: () => transport.readProcs(),
      ingestor,
      store,
      log,
      clock,
      control: transport.control ?? controlFactory(this.tmux, log),
    });
    this.screens = new ScreenPoller({ targetId: this.id, tmux: this.tmux, store, registry, ingestor, engine: config.engine, clock, log });
    this.transcripts = new ClaudeTranscriptFollower({ targetId: this.id, store, ingestor, clock, log, ...(transport.files !== undefined ? { files: transport.files } : {}) });
    this.codex = opts.codex
      ? new CodexThreadCollector({
          targetId: this.id,
          store,
          ingestor,
          clock,
          log,
          ...(transport.codex?.env !== undefined ? { env: transport.codex.env } : {}),
          ...(transport.codex?.source !== undefined ? { source: transport.codex.source } : {}),
          ...(transport.codex?.readLastTurn !== undefined ? { readLastTurn: transport.codex.readLastTurn } : {}),
          requestScan: (reason) => this.collector.requestScan(reason),
          captureScreens: (ids) => this.tmux.captureMany(ids, { join: true }),
        })
      : undefined;
  }

  async start(): Promise<void> {
    this.started = true;
    this.transport.start?.(this);
    const first = this.collector.start();
    if (this.kind === "local") await first;
    else void first;
    this.screens.start();
    this.transcripts.tick(); // catch up at once after a restart
    this.transcripts.start();
    this.codex?.start();
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.collector.stop();
    this.screens.stop();
    this.transcripts.stop();
    const codexStopped = this.codex?.stop();
    await Promise.race([Promise.all([codexStopped, this.transport.stop?.()]), Bun.sleep(1_000)]);
    await this.transport.exec.close();
  }

  requestScan(reason: string): void {
    this.collector.requestScan(reason);
  }

  codexHealth(): { status: "ok" | "degraded"; detail: string } | null {
    if (this.codex === undefined) return null;
    const h = this.codex.health();
    // no socket = no Codex TUI has started its daemon: nothing is wrong
    return { status: h.status === "ok" || !existsSync(h.socket) ? "ok" : "degraded", detail: h.detail };
  }

  async probe(opts: { acceptNewHostKey?: boolean }): Promise<ProbeReport> {
    const t0 = performance.now();
    try {
      if (this.transport.reconnect !== undefined) await this.transport.reconnect(opts);
      await this.collector.scanNow();
    } catch (err) {
      throw unreachable(this.id, err);
    }
    const row = this.ctx.store.getTarget(this.id);
    if (row?.last_error !== null && row?.last_error !== undefined) {
      throw new AgtmuxError("E_TARGET_UNREACHABLE", `${this.id}: ${row.last_error}`, { target: this.id, reason: row.last_error_code ?? "scan_failed" });
    }
    return {
      target: this.id,
      ok: true,
      latency_ms: Math.round((performance.now() - t0) * 10) / 10,
      tmux_version: row?.tmux_version ?? null,
      panes: this.ctx.store.listPaneViews(this.id).length,
      status: this.status(),
    };
  }

  status(): WorkerStatus {
    const s = this.collector.stats;
    return {
      running: this.started,
      scans: s.scans,
      scan_errors: s.errors,
      last_scan_ms: Math.round(s.lastScanMs * 10) / 10,
      control_clients: s.controlClients,
      connected: true,
      relay: null,
      ...this.transport.status?.(),
    };
  }
}

export function unreachable(target: string, err: unknown): AgtmuxError {
  if (err instanceof AgtmuxError) return err;
  const reason = err instanceof ExecError ? err.kind : "failed";
  const message = err instanceof Error ? err.message : String(err);
  return new AgtmuxError("E_TARGET_UNREACHABLE", `${target}: ${message}`, { target, reason });
}

export function localTransport(id: string, env: Env): Transport {
  const exec = new LocalExecutor(id, env);
  return { exec, readProcs: () => snapshotProcesses(exec), codex: { env } };
}

export type WorkerFactory = (ctx: DaemonContext, row: TargetRow, env: Env) => TargetWorker;

/** Local targets: the host's tmux server (or another socket); Codex threads are followed on `host` only (one app-server per user). */
export const localWorker: WorkerFactory = (ctx, row, env) =>
  new CollectingWorker(ctx, row, localTransport(row.target_id, env), tmuxSocketOf(row.tmux_socket, env, row.target_id === HOST_TARGET), {
    codex: row.target_id === HOST_TARGET,
  });

/** The set of running workers, kept equal to the targets table. */
export class TargetManager {
  private readonly workers = new Map<string, TargetWorker>();
  /** serializes add/remove/connect per target name */
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(
    private readonly ctx: DaemonContext,
    private readonly env: Env,
    private readonly factories: Record<TargetKind, WorkerFactory>,
  ) {}

  get(id: string): TargetWorker | undefined {
    return this.workers.get(id);
  }

  list(): TargetWorker[] {
    return [...this.workers.values()];
  }

  /** Starts a worker per stored target; local ones finish their first scan first. */
  async startAll(): Promise<void> {
    await Promise.all(this.ctx.store.listTargets().map((row) => this.startWorker(row)));
  }

  async stopAll(): Promise<void> {
    const all = [...this.workers.values()];
    this.workers.clear();
    await Promise.all(all.map((w) => w.stop().catch(() => {})));
  }

  requestScan(target: string, reason: string): void {
    this.workers.get(target)?.requestScan(reason);
  }

  private async startWorker(row: TargetRow): Promise<TargetWorker> {
    const w = this.factories[row.kind](this.ctx, row, this.env);
    this.workers.set(row.target_id, w);
    try {
      await w.start();
    } catch (err) {
      this.ctx.log.warn("target worker failed to start", { target: row.target_id, message: err instanceof Error ? err.message : String(err) });
    }
    return w;
  }

  private serial<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(name) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => {});
    this.locks.set(name, tail);
    void tail.then(() => {
      if (this.locks.get(name) === tail) this.locks.delete(name);
    });
    return next;
  }

  /**
   * Adds a target and (unless connect is false) reaches it: a target that
   * cannot be reached is not kept, so a typo or an unknown host key fails
   * loudly. Adding the same spec again is a no-op; a different spec under a
   * taken name is E_TARGET_EXISTS.
   */
  add(spec: TargetSpec, opts: { connect: boolean; acceptNewHostKey: boolean }): Promise<{ created: boolean; probe: ProbeReport | null }> {
    return this.serial(spec.target_id, async () => {
      const { store, clock } = this.ctx;
      const existing = store.getTarget(spec.target_id);
      if (existing !== null) {
        if (!sameSpec(existing, spec)) {
          throw new AgtmuxError("E_TARGET_EXISTS", `target ${spec.target_id} exists with different settings; remove it first`, {
            target: spec.target_id,
            existing: { kind: existing.kind, ssh_target: existing.connection_ref, tmux_socket: existing.tmux_socket, agtmux_path: existing.agtmux_path },
          });
        }
        const w = this.workers.get(spec.target_id);
        return { created: false, probe: opts.connect && w !== undefined ? await w.probe({ acceptNewHostKey: opts.acceptNewHostKey }) : null };
      }
      store.addTarget(spec, clock());
      const row = store.getTarget(spec.target_id);
      if (row === null) throw new AgtmuxError("E_INTERNAL", "target vanished after insert", { target: spec.target_id });
      const w = this.factories[row.kind](this.ctx, row, this.env);
      if (!opts.connect) {
        this.workers.set(row.target_id, w);
        await w.start();
        return { created: true, probe: null };
      }
      try {
        // reach it first (accepting a new host key only on this connect) ...
        await w.probe({ acceptNewHostKey: opts.acceptNewHostKey });
      } catch (err) {
        await w.stop().catch(() => {});
        store.removeTarget(row.target_id);
        throw err;
      }
      // ... then run it, and report once its relay (ssh) had its chance to come up
      this.workers.set(row.target_id, w);
      await w.start();
      return { created: true, probe: await w.probe({}).catch(() => null) };
    });
  }

  connect(name: string, opts: { acceptNewHostKey: boolean }): Promise<ProbeReport> {
    return this.serial(name, async () => {
      const w = this.workers.get(name);
      if (w === undefined) throw notFound(this.ctx, name);
      return await w.probe(opts);
    });
  }

  remove(name: string): Promise<{ panes: number }> {
    return this.serial(name, async () => {
      if (name === HOST_TARGET) throw new AgtmuxError("E_BAD_REQUEST", "the local target `host` cannot be removed", { target: name });
      if (this.ctx.store.getTarget(name) === null) throw notFound(this.ctx, name);
      const w = this.workers.get(name);
      this.workers.delete(name);
      await w?.stop().catch(() => {});
      const panes = this.ctx.store.listPaneViews(name).length;
      this.ctx.store.removeTarget(name);
      this.ctx.ingestor.notifyDirty(); // its panes leave the watch streams
      return { panes };
    });
  }
}

function notFound(ctx: DaemonContext, name: string): AgtmuxError {
  return new AgtmuxError("E_REF_NOT_FOUND", `unknown target: ${name}`, { target: name, known: ctx.store.listTargets().map((t) => t.target_id) });
}
