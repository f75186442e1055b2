/** Loads `config.toml` (optional) through the valibot schema. */
import { existsSync, readFileSync } from "node:fs";
import * as v from "valibot";
import { ConfigFileSchema, type DaemonConfig, resolveConfig } from "../domain/config.ts";
import { AgtmuxError } from "../domain/errors.ts";
import { summarizeIssues } from "../domain/event.ts";
import type { Env } from "../platform/paths.ts";

export function loadConfig(path: string, env: Env): DaemonConfig {
  const debugEnv = env.AGTMUX_DEBUG === undefined || env.AGTMUX_DEBUG === "" ? undefined : env.AGTMUX_DEBUG !== "0";
  const envOpts = debugEnv === undefined ? {} : { debug: debugEnv };
  if (!existsSync(path)) return resolveConfig(undefined, envOpts);
  let parsed: unknown;
  try {
    parsed = Bun.TOML.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new AgtmuxError("E_BAD_REQUEST", `config file ${path} is not valid TOML: ${err instanceof Error ? err.message : String(err)}`, { path });
  }
  const r = v.safeParse(ConfigFileSchema, parsed);
  if (!r.success) {
    const issues = summarizeIssues(r.issues);
    const first = issues[0];
    throw new AgtmuxError("E_BAD_REQUEST", `config file ${path}: ${first?.path ?? ""} ${first?.message ?? "is invalid"}`.trim(), { path, issues });
  }
  return resolveConfig(r.output, envOpts);
}
