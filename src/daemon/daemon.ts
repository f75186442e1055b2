/**
 * Daemon lifecycle: lock -> store -> socket -> serve -> timers; graceful
 * shutdown on SIGINT/SIGTERM (stop accepting, finish in-flight requests,
 * commit, close, unlink the socket, release the lock, exit 0; a second signal
 * exits 130).
 */
import type { Server } from "bun";
import { chmodSync, existsSync, lstatSync, mkdirSync, statSync, unlinkSync } from "node:fs";
import { claudeAdapter } from "../adapters/claude/index.ts";
import { codexAdapter } from "../adapters/codex/index.ts";
import { AdapterRegistry, coreAdapter } from "../adapters/registry.ts";
import type { DaemonConfig } from "../domain/config.ts";
import { AgtmuxError } from "../domain/errors.ts";
import { HOST_TARGET, type TargetKind } from "../domain/target.ts";
import { newEventId } from "../domain/ids.ts";
import { type Clock, systemClock } from "../domain/time.ts";
import { type HeldLock, tryLock } from "../platform/lock.ts";
import type { TmuxSocket } from "../tmux/types.ts";
import type { Env, Paths } from "../platform/paths.ts";
import { closeDatabase, openDatabase } from "../store/db.ts";
import { Store } from "../store/store.ts";
import { loadConfig } from "./config-file.ts";
import type { BuildInfo, DaemonContext } from "./context.ts";
import { DebugBuffer } from "./debug-buffer.ts";
import { Ingestor } from "./ingest.ts";
import type { Logger } from "./log.ts";
import { runRetentionChunked } from "./retention.ts";
import { createFetchHandler, type FetchHandler } from "./server.ts";
import { DEFAULT_GC_PACER, GcPacer, type GcPacerConfig } from "./gc-pacer.ts";
import { drainSpool } from "./spool-reader.ts";
import { CollectingWorker, TargetManager, type WorkerFactory, localWorker, tmuxSocketOf } from "./targets.ts";
import { WatchHub } from "./watch-hub.ts";

export const SHUTDOWN_BUDGET_MS = 5_000;
const LOCK_RETRIES = 10;
const LOCK_RETRY_MS = 50;
const SPOOL_POLL_MS = 1_000;
const SOCKET_PROBE_TIMEOUT_MS = 500;

/**
 * `agtmux daemon` scales JavaScriptCore's tier-up thresholds by this: the
 * daemon's work is small and I/O-bound. The optimizing tiers are off anyway
 * (BUN_JSC_useDFGJIT=0, src/cli/commands/daemon.ts); this also keeps rarely
 * run functions in the interpreter instead of the Baseline JIT, and holds
 * the optimizing tiers back when a user turns them on again.
 */
export const DAEMON_JIT_POLICY = 100;

/**
 * The ssh worker, loaded with its ssh2 stack on the first ssh target: ssh2
 * and its crypto cost ~10-25 MiB of RSS that a daemon without ssh targets
 * should not carry (budget: RSS <= 80 MB).
 */
const lazySshWorker: WorkerFactory = (ctx, row, env) => {
  // a synchronous require keeps WorkerFactory synchronous; the bundler keeps the module lazy
  const m = require("./ssh-target.ts") as typeof import("./ssh-target.ts");
  return m.sshWorker(ctx, row, env);
};

export interface DaemonOptions {
  paths: Paths;
  env: Env;
  log: Logger;
  build: BuildInfo;
  clock?: Clock;
  config?: DaemonConfig;
  /** how target workers are made (tests swap the ssh one) */
  workers?: Record<TargetKind, WorkerFactory>;
  /** full GCs after work, paced (src/daemon/gc-pacer.ts; undefined: off, JSC's own; `agtmux daemon` sets DEFAULT_GC_PACER) */
  gc?: GcPacerConfig & { checkMs: number };
}

export interface RunningDaemon {
  ctx: DaemonContext;
  handler: FetchHandler;
  /** resolves with the exit code once shut down */
  done: Promise<number>;
  shutdown(reason: string): Promise<number>;
}

export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = statSync(dir);
  if (typeof process.getuid === "function" && st.uid !== process.getuid()) {
    throw new AgtmuxError("E_STORE", `directory ${dir} is owned by another user; refusing to use it`, { path: dir });
  }
  if ((st.mode & 0o077) !== 0) chmodSync(dir, 0o700);
}

/** A leftover socket from a crashed daemon is removed only if it is a socket and nobody answers on it. */
export async function clearStaleSocket(path: string): Promise<void> {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return;
  }
  if (!st.isSocket()) {
    throw new AgtmuxError("E_DAEMON_RUNNING", `${path} exists and is not a socket; remove it or choose another --socket`, { path });
  }
  const alive = await fetch("http://agtmux/v1/health", { unix: path, signal: AbortSignal.timeout(SOCKET_PROBE_TIMEOUT_MS) })
    .then(() => true)
    .catch(() => false);
  if (alive) {
    throw new AgtmuxError("E_DAEMON_RUNNING", `another agtmux daemon is serving ${path}`, { path });
  }
  unlinkSync(path);
}

export async function startDaemon(o: DaemonOptions): Promise<RunningDaemon> {
  const clock = o.clock ?? systemClock;
  const { paths } = o;
  // Everything the daemon creates (db, wal, log, spool) is private to the user.
  process.umask(0o077);
  ensurePrivateDir(paths.home);
  ensurePrivateDir(paths.socketDir);
  // `daemon status|stop` probe the lock by taking it for an instant: a starting daemon must not
  // mistake such a probe for a running daemon, so a held lock is retried briefly.
  let got = tryLock(paths.lock);
  for (let i = 0; !got.ok && i < LOCK_RETRIES; i++) {
    await Bun.sleep(LOCK_RETRY_MS);
    got = tryLock(paths.lock);
  }
  if (!got.ok) {
    throw new AgtmuxError(
      "E_DAEMON_RUNNING",
      `agtmux daemon is already running (pid ${got.holderPid ?? "unknown"}, lock ${paths.lock})`,
      { pid: got.holderPid, lock: paths.lock },
    );
  }
  const lock: HeldLock = got.lock;
  let store: Store | undefined;
  try {
    const config = o.config ?? loadConfig(paths.config, o.env);
    const db = openDatabase(paths.db, { now: clock() });
    store = new Store(db);
    store.ensureTarget({ target_id: "host", kind: "local" }, clock());
    await clearStaleSocket(paths.socket);
    return await serve(o, clock, config, store, lock);
  } catch (err) {
    if (store !== undefined) closeDatabase(store.db);
    lock.release();
    throw err;
  }
}

/** The host's tmux server: the target's configured socket, else the one this daemon was started from ($TMUX), else tmux's default. */
export function hostTmuxSocket(env: Env, configured: string | null): TmuxSocket {
  return tmuxSocketOf(configured, env, true);
}

async function serve(o: DaemonOptions, clock: Clock, config: DaemonConfig, store: Store, lock: HeldLock): Promise<RunningDaemon> {
  const { paths, log } = o;
  let shuttingDown = false;
  const registry = new AdapterRegistry([coreAdapter, claudeAdapter, codexAdapter]);
  const debug = new DebugBuffer();
  const ingestor = new Ingestor({ store, registry, config, clock, debug });
  const ctx: DaemonContext = {
    paths,
    config,
    clock,
    log,
    store,
    registry,
    ingestor,
    debug,
    build: o.build,
    startedAt: clock(),
    streamId: newEventId(),
    isShuttingDown: () => shuttingDown,
    sourceHealth: new Map(),
  };
  const handler = createFetchHandler(ctx);

  // Time passed while the daemon was down; then the first look at tmux, before
  // the socket answers, so the first `agtmux` after an autostart sees panes.
  ingestor.refreshAll();
  const watch = new WatchHub(ctx.streamId, store, clock, config.watch);
  ctx.watch = watch;
  ingestor.onDirty(() => watch.markDirty());
  const targets = new TargetManager(ctx, o.env, o.workers ?? { local: localWorker, ssh: lazySshWorker });
  ctx.targets = targets;
  ingestor.onNudge((target, reason) => targets.requestScan(target, reason));
  await targets.startAll();
  ctx.sourceHealth.set("codex", () => {
    const w = targets.get(HOST_TARGET);
    return (w instanceof CollectingWorker ? w.codexHealth() : null) ?? { status: "ok" };
  });

  const oldUmask = process.umask(0o177); // the socket is born 0600: no window before chmod
  let requests = 0;
  let server: Server<undefined>;
  try {
    // Streams (watch) disable the 10 s idle timeout per request with server.timeout(req, 0).
    server = Bun.serve({
      unix: paths.socket,
      fetch: (req, srv) => {
        requests++;
        // a watch stream is long-lived: no idle timeout (heartbeats keep it honest)
        if (req.url.includes("/v1/watch")) srv.timeout(req, 0);
        return handler(req);
      },
    });
  } finally {
    process.umask(oldUmask);
  }
  chmodSync(paths.socket, 0o600);
  const socketIno = lstatSync(paths.socket).ino;
  watch.start();
  log.info("daemon started", { pid: process.pid, socket: paths.socket, db: paths.db, version: o.build.version, debug: config.debug });
  const timers: Array<ReturnType<typeof setInterval>> = [];
  const safely = (name: string, fn: () => void) => () => {
    if (shuttingDown) return;
    try {
      fn();
    } catch (err) {
      log.error(`${name} failed`, { message: err instanceof Error ? err.message : String(err) });
    }
  };
  const drain = safely("spool drain", () => {
    const r = drainSpool(ctx);
    if (r.ingested + r.rejected > 0) log.info("spool drained", { ...r });
  });
  drain();
  let retaining = false;
  const retention = safely("retention", () => {
    if (retaining) return;
    retaining = true;
    runRetentionChunked(store, config.retention, clock(), () => shuttingDown)
      .then((r) => {
        if (r.events_deleted + r.payloads_cleared + r.inbox_deleted > 0) log.info("retention", { ...r });
      })
      .catch((err: unknown) => log.error("retention failed", { message: err instanceof Error ? err.message : String(err) }))
      .finally(() => {
        retaining = false;
      });
  });
  retention();
  timers.push(setInterval(safely("reconcile", () => void ingestor.reconcile()), config.reconcileIntervalMs));
  timers.push(setInterval(drain, SPOOL_POLL_MS));
  timers.push(setInterval(retention, config.retention.intervalMs));
  if (o.gc !== undefined) {
    const pacer = new GcPacer(o.gc, {
      now: () => performance.now(),
      rss: () => process.memoryUsage.rss(),
      work: () => requests + watch.stats.flushes,
      gc: () => Bun.gc(true),
    });
    timers.push(setInterval(safely("gc", () => void pacer.tick()), o.gc.checkMs));
  }

  const { promise: done, resolve: resolveDone } = Promise.withResolvers<number>();
  let shutdownPromise: Promise<number> | undefined;

  const shutdown = (reason: string): Promise<number> => {
    if (shutdownPromise !== undefined) return shutdownPromise;
    shuttingDown = true;
    log.info("shutting down", { reason });
    shutdownPromise = (async () => {
      for (const t of timers) clearInterval(t);
      watch.close(); // every stream ends with a terminal reset, before the server stops waiting on them
      const workersStopped = targets.stopAll(); // nothing is ingested after this; sockets and ssh connections close
      // Stop accepting; let in-flight requests finish (their transactions commit) within the budget.
      const stopping = server.stop(false);
      const deadline = Date.now() + SHUTDOWN_BUDGET_MS;
      while (handler.inFlight() > 0 && Date.now() < deadline) await Bun.sleep(10);
      if (handler.inFlight() > 0) log.warn("shutdown budget exceeded; closing open requests", { in_flight: handler.inFlight() });
      await Promise.race([stopping, Bun.sleep(100)]);
      await server.stop(true);
      await Promise.race([workersStopped, Bun.sleep(1_500)]);
      closeDatabase(store.db);
      try {
        if (existsSync(paths.socket) && lstatSync(paths.socket).ino === socketIno) unlinkSync(paths.socket);
      } catch {
        // already gone
      }
      lock.release();
      log.info("stopped", {});
      resolveDone(0);
      return 0;
    })();
    return shutdownPromise;
  };
  return { ctx, handler, done, shutdown };
}

/** Foreground entry: runs until a signal; returns the exit code. */
export async function runDaemonForeground(o: DaemonOptions): Promise<number> {
  Bun.unsafe.setJITPolicy(DAEMON_JIT_POLICY);
  const d = await startDaemon({ gc: DEFAULT_GC_PACER, ...o });
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      o.log.warn("second signal: exiting now", { signal: sig });
      process.exit(130);
    }
    void d.shutdown(sig);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  process.on("SIGHUP", () => o.log.info("SIGHUP ignored (run `agtmux daemon stop` to stop)", {}));
  const code = await d.done;
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  return code;
}
