/** What every CLI command gets: env, resolved paths, output streams. */
import { type Env, type Paths, resolvePaths } from "../platform/paths.ts";

export interface CliContext {
  env: Env;
  paths: Paths;
  json: boolean;
  out(s: string): void;
  err(s: string): void;
}

export interface GlobalFlags {
  socket?: string | undefined;
  json?: boolean | undefined;
}

export function makeContext(env: Env, flags: GlobalFlags): CliContext {
  return {
    env,
    paths: resolvePaths(env, { socket: flags.socket }),
    json: flags.json === true,
    out: (s) => process.stdout.write(s.endsWith("\n") ? s : `${s}\n`),
    err: (s) => process.stderr.write(s.endsWith("\n") ? s : `${s}\n`),
  };
}

export function buildInfo(): { version: string; commit: string } {
  return {
    version: process.env.AGTMUX_BUILD_VERSION ?? "0.1.0-dev",
    commit: process.env.AGTMUX_BUILD_COMMIT ?? "dev",
  };
}
