/** A private directory tree + env for one daemon under test. */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { type Paths, resolvePaths } from "../../src/platform/paths.ts";

export interface Sandbox {
  dir: string;
  env: Record<string, string | undefined>;
  paths: Paths;
  cleanup(): void;
}

export function sandbox(name = "sb"): Sandbox {
  const base = process.env.AGTMUX_TEST_ROOT ?? "/tmp";
  // short: Unix socket paths are limited to ~104 bytes
  const dir = mkdtempSync(join(base, `${name.slice(0, 8)}-`));
  for (const d of ["home", "run", "state", "config", "tmux"]) mkdirSync(join(dir, d), { recursive: true, mode: 0o700 });
  const env: Record<string, string | undefined> = {
    ...process.env,
    HOME: join(dir, "home"),
    XDG_RUNTIME_DIR: join(dir, "run"),
    XDG_STATE_HOME: join(dir, "state"),
    XDG_CONFIG_HOME: join(dir, "config"),
    TMUX_TMPDIR: join(dir, "tmux"),
  };
  return {
    dir,
    env,
    paths: resolvePaths(env),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
