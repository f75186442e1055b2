/** Driving the compiled binary (dist/agtmux) as a user would. */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { AgtmuxClient } from "../../src/client/client.ts";
import type { HealthResponse } from "../../src/wire/types.ts";
import type { Sandbox } from "./sandbox.ts";
import { waitFor } from "./wait.ts";

export const ROOT = join(import.meta.dir, "..", "..");
export const BIN = join(ROOT, "dist", "agtmux");

let built = false;
/** Builds dist/agtmux once per test process if it is missing (npm test builds it first). */
export function ensureBinary(): string {
  if (built || existsSync(BIN)) {
    built = true;
    return BIN;
  }
  const r = Bun.spawnSync([process.execPath, join(ROOT, "scripts", "build.ts"), "--no-smoke"], { cwd: ROOT, stdout: "inherit", stderr: "inherit" });
  if (r.exitCode !== 0) throw new Error("building dist/agtmux failed");
  built = true;
  return BIN;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runCli(sb: Sandbox, args: string[], opts: { stdin?: string; env?: Record<string, string | undefined>; timeoutMs?: number } = {}): Promise<CliResult> {
  const p = Bun.spawn([ensureBinary(), ...args], {
    env: { ...sb.env, ...opts.env } as Record<string, string>,
    stdin: opts.stdin === undefined ? "ignore" : new Blob([opts.stdin]),
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => p.kill("SIGKILL"), opts.timeoutMs ?? 20_000);
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(timer);
  return { code, stdout, stderr };
}

export interface DaemonProc {
  proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  health: HealthResponse;
  client: AgtmuxClient;
  stderr(): Promise<string>;
}

/** Starts `agtmux daemon` in the foreground as a child and waits until it answers. */
export async function startDaemonProc(sb: Sandbox, extraEnv: Record<string, string> = {}): Promise<DaemonProc> {
  const proc = Bun.spawn([ensureBinary(), "daemon"], {
    env: { ...sb.env, ...extraEnv } as Record<string, string>,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const client = new AgtmuxClient({ socket: sb.paths.socket });
  const health = await waitFor(
    async () => {
      if (proc.exitCode !== null) throw new Error(`daemon exited with ${proc.exitCode}: ${await new Response(proc.stderr).text()}`);
      return await client.health({ timeoutMs: 500 }).catch(() => null);
    },
    { timeoutMs: 10_000, message: "daemon answers /v1/health" },
  );
  let err: Promise<string> | undefined;
  return { proc, health, client, stderr: () => (err ??= new Response(proc.stderr).text()) };
}
