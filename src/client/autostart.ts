/**
 * Starts the daemon in the background when it is not running, as tmux does
 * with its server. Opt out with AGTMUX_NO_AUTOSTART=1.
 */
import { spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { AgtmuxError } from "../domain/errors.ts";
import type { Env, Paths } from "../platform/paths.ts";
import { AgtmuxClient } from "./client.ts";

export const START_DEADLINE_MS = 10_000;

/**
 * argv that runs this same program: the compiled binary (Bun puts a compiled
 * program's entry under /$bunfs/), or bun + src/cli/main.ts in development
 * (named explicitly: Bun.main is the test file when a test calls this).
 */
export function selfCommand(): string[] {
  const compiled = Bun.main.startsWith("/$bunfs/") || Bun.main.startsWith("B:/~BUN/");
  return compiled ? [process.execPath] : [process.execPath, join(import.meta.dir, "..", "cli", "main.ts")];
}

export function autostartDisabled(env: Env): boolean {
  const v = env.AGTMUX_NO_AUTOSTART;
  return v !== undefined && v !== "" && v !== "0";
}

/** Spawns `agtmux daemon` detached, its output appended to the log file. Does not wait. */
export function spawnDaemon(paths: Paths, env: Env): number {
  mkdirSync(paths.home, { recursive: true, mode: 0o700 });
  const fd = openSync(paths.log, "a", 0o600);
  try {
    const [cmd, ...args] = selfCommand();
    const child = spawn(cmd as string, [...args, "daemon"], {
      detached: true,
      stdio: ["ignore", fd, fd],
      env: { ...env, AGTMUX_SOCKET: paths.socket, AGTMUX_HOME: paths.home },
    });
    child.unref();
    return child.pid ?? -1;
  } finally {
    closeSync(fd);
  }
}

/** Starts the daemon unless one answers; waits until it does. */
export async function startDaemonBackground(paths: Paths, env: Env): Promise<{ pid: number; started: boolean }> {
  const client = new AgtmuxClient({ socket: paths.socket });
  const up = await client.health({ timeoutMs: 1_000 }).catch(() => null);
  if (up !== null) return { pid: up.pid, started: false };
  const logStart = logSize(paths.log);
  const pid = spawnDaemon(paths, env);
  const deadline = Date.now() + START_DEADLINE_MS;
  while (Date.now() < deadline) {
    const h = await client.health({ timeoutMs: 500 }).catch(() => null);
    if (h !== null) return { pid: h.pid, started: h.pid === pid };
    if (!isAlive(pid)) break;
    await Bun.sleep(25);
  }
  const tail = readLogTail(paths.log, logStart);
  throw new AgtmuxError("E_DAEMON_UNREACHABLE", `the daemon did not start${tail === "" ? "" : `: ${tail}`}`, {
    log: paths.log,
    socket: paths.socket,
  });
}

/** A client, with the daemon started first if needed (unless opted out). */
export async function connect(paths: Paths, env: Env): Promise<AgtmuxClient> {
  const client = new AgtmuxClient({ socket: paths.socket });
  if (autostartDisabled(env)) return client;
  if (!(await client.ping(1_000))) await startDaemonBackground(paths, env);
  return client;
}

function isAlive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function logSize(path: string): number {
  try {
    return readFileSync(path).byteLength;
  } catch {
    return 0;
  }
}

function readLogTail(path: string, from: number): string {
  try {
    const text = readFileSync(path).subarray(from).toString("utf8").trim();
    const lines = text.split("\n").slice(-3);
    return lines
      .map((l) => {
        try {
          const o = JSON.parse(l) as { msg?: string; message?: string };
          return o.message ?? o.msg ?? l;
        } catch {
          return l;
        }
      })
      .join(" | ")
      .slice(0, 500);
  } catch {
    return "";
  }
}
