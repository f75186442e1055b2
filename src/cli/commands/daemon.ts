import { defineCommand } from "citty";
import { startDaemonBackground } from "../../client/autostart.ts";
import { AgtmuxClient } from "../../client/client.ts";
import { createLogger } from "../../daemon/log.ts";
import { AgtmuxError, EXIT } from "../../domain/errors.ts";
import { isLocked } from "../../platform/lock.ts";
import { buildInfo } from "../context.ts";
import { formatHealth } from "./status.ts";
import { cli, globalArgs } from "./common.ts";

export const STOP_DEADLINE_MS = 10_000;

const start = defineCommand({
  meta: { name: "start", description: "Start the daemon in the background (no-op if running)" },
  args: { ...globalArgs },
  async run(c) {
    const ctx = cli(c);
    const r = await startDaemonBackground(ctx.paths, ctx.env);
    const h = await new AgtmuxClient({ socket: ctx.paths.socket }).health();
    if (ctx.json) ctx.out(JSON.stringify({ ...h, started: r.started }));
    else ctx.out(`${r.started ? "started" : "already running"}: agtmux daemon pid ${h.pid} on ${h.socket}`);
    return 0;
  },
});

const stop = defineCommand({
  meta: { name: "stop", description: "Stop the background daemon gracefully" },
  args: { ...globalArgs },
  async run(c) {
    const ctx = cli(c);
    const client = new AgtmuxClient({ socket: ctx.paths.socket });
    const h = await client.health({ timeoutMs: 2_000 }).catch(() => null);
    const pid = h?.pid ?? isLocked(ctx.paths.lock).holderPid;
    if (pid === null || !(h !== null || isLocked(ctx.paths.lock).locked)) {
      ctx.out(ctx.json ? JSON.stringify({ schema_version: 1, stopped: false, running: false }) : "agtmux daemon is not running");
      return 0;
    }
    process.kill(pid, "SIGTERM");
    const deadline = Date.now() + STOP_DEADLINE_MS;
    while (Date.now() < deadline) {
      if (!isLocked(ctx.paths.lock).locked) {
        ctx.out(ctx.json ? JSON.stringify({ schema_version: 1, stopped: true, pid }) : `stopped agtmux daemon (pid ${pid})`);
        return 0;
      }
      await Bun.sleep(25);
    }
    throw new AgtmuxError("E_INTERNAL", `daemon pid ${pid} did not stop within ${STOP_DEADLINE_MS / 1000}s`, { pid });
  },
});

const status = defineCommand({
  meta: { name: "status", description: "Is the daemon running? (exit 3 if not)" },
  args: { ...globalArgs },
  async run(c) {
    const ctx = cli(c);
    const h = await new AgtmuxClient({ socket: ctx.paths.socket }).health({ timeoutMs: 2_000 }).catch(() => null);
    if (h === null) {
      const l = isLocked(ctx.paths.lock);
      const msg = l.locked ? `agtmux daemon (pid ${l.holderPid ?? "?"}) holds the lock but does not answer on ${ctx.paths.socket}` : "agtmux daemon is not running";
      ctx.out(ctx.json ? JSON.stringify({ schema_version: 1, running: false, lock_holder_pid: l.holderPid }) : msg);
      return EXIT.unreachable;
    }
    ctx.out(ctx.json ? JSON.stringify({ ...h, running: true }) : formatHealth(h));
    return 0;
  },
});

export const daemonCommand = defineCommand({
  meta: { name: "daemon", description: "Run the daemon in the foreground, or start|stop|status it in the background" },
  args: { ...globalArgs, debug: { type: "boolean", description: "keep unredacted payloads in memory (never on disk)" } },
  subCommands: { start, stop, status },
  async run(c) {
    const ctx = cli(c);
    const env = c.args.debug === true ? { ...ctx.env, AGTMUX_DEBUG: "1" } : ctx.env;
    const log = createLogger({ json: !process.stderr.isTTY });
    reexecWithoutOptimizingJit();
    try {
      // loaded only here: the daemon (ssh2, the collectors) must not slow every CLI call down
      const { runDaemonForeground } = await import("../../daemon/daemon.ts");
      return await runDaemonForeground({ paths: ctx.paths, env, log, build: buildInfo() });
    } catch (err) {
      if (err instanceof AgtmuxError) {
        log.error(err.message, { code: err.code, ...err.details });
        return EXIT.failure;
      }
      throw err;
    }
  },
});

/**
 * The daemon runs without JavaScriptCore's optimizing JIT tiers (DFG, and FTL
 * above it): its work is small and I/O-bound, and those compilers' code and
 * data cost ~2-3.5 MiB of RSS (budget <= 80 MB) for no measurable CPU gain
 * (bench profile: 4.8 % vs 4.9 % of a core at 10 events/s). JSC reads its
 * options once, at start, from BUN_JSC_* variables: so the process re-executes
 * itself in place (same pid: fine under systemd or a supervisor) with
 * BUN_JSC_useDFGJIT=0, unless that variable is set already (also the loop
 * guard; BUN_JSC_useDFGJIT=1 keeps the JIT). Nothing is open yet but stdio.
 */
function reexecWithoutOptimizingJit(): void {
  if (process.env.BUN_JSC_useDFGJIT !== undefined || typeof process.execve !== "function") return;
  try {
    // compiled: argv is [bun, /$bunfs/root/agtmux, ...args]; from source: [bun, script, ...args] with bun's own flags in execArgv
    const compiled = process.argv[1]?.startsWith("/$bunfs/") === true;
    const args = compiled ? process.argv.slice(2) : [...process.execArgv, ...process.argv.slice(1)];
    process.execve(process.execPath, [process.argv0, ...args], { ...process.env, BUN_JSC_useDFGJIT: "0" });
  } catch {
    // not possible here: run as is
  }
}

