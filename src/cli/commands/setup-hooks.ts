/**
 * `agtmux setup-hooks [claude|codex|all]`: registers `agtmux emit --hook
 * <agent>` in the agents' own config (Claude Code settings.json; Codex
 * hooks.json + notify + hook trust in config.toml), or takes it out again
 * (--remove). See docs/setup-hooks.md.
 */
import { existsSync } from "node:fs";
import { dirname } from "node:path";
import { defineCommand } from "citty";
import { AgtmuxError, EXIT } from "../../domain/errors.ts";
import { formatDiffs, formatReport } from "../../setup/report.ts";
import { type AgentReport, SCOPES, type Scope, type SetupOptions, claudeSettingsPath, codexHome, setupAgent } from "../../setup/setup.ts";
import { selfCommand } from "../../client/autostart.ts";
import { SETUP_AGENTS, type SetupAgent } from "../../setup/spec.ts";
import type { CliContext } from "../context.ts";
import { cli, globalArgs } from "./common.ts";

const args = {
  ...globalArgs,
  agent: { type: "positional", description: "claude, codex or all (default: all: the agents found on this machine)", required: false },
  scope: { type: "string", description: "user (~/.claude, $CODEX_HOME) or project (./.claude, ./.codex)", valueHint: "user|project", default: "user" },
  remove: { type: "boolean", description: "take agtmux's hooks out again (nothing else is touched)" },
  "dry-run": { type: "boolean", description: "print the changes as a unified diff, write nothing" },
  yes: { type: "boolean", alias: "y", description: "do not ask before writing (only asked on a terminal)" },
  "codex-bin": { type: "string", description: "the codex executable for the hook-trust step (default: codex on PATH)", valueHint: "path" },
  "force-notify": { type: "boolean", description: "replace an existing Codex notify setting (the old value stays in the backup)" },
} as const;

type Flags = { [K in keyof typeof args]?: (typeof args)[K]["type"] extends "boolean" ? boolean : string };

function which(name: string, env: CliContext["env"]): string | undefined {
  return Bun.which(name, { PATH: env.PATH ?? "" }) ?? undefined;
}

/** `all`: the agents that look installed (a config dir or the executable on PATH). */
function detectAgents(ctx: CliContext, codexBin: string | undefined): SetupAgent[] {
  const found: SetupAgent[] = [];
  const claudeDir = dirname(claudeSettingsPath(ctx.env, process.cwd(), "user"));
  if (existsSync(claudeDir) || which("claude", ctx.env) !== undefined) found.push("claude");
  if (existsSync(codexHome(ctx.env)) || codexBin !== undefined) found.push("codex");
  return found;
}

async function confirm(question: string): Promise<boolean> {
  process.stdout.write(question);
  for await (const line of console) return /^\s*y(es)?\s*$/i.test(line);
  return false;
}

export const setupHooksCommand = defineCommand({
  meta: { name: "setup-hooks", description: "Register agtmux's hooks with Claude Code and Codex (or --remove them)" },
  args,
  async run(c) {
    const ctx = cli(c);
    try {
      return await setupHooks(ctx, c.args as Flags);
    } catch (err) {
      // a refused config file: the generic E_BAD_REQUEST hint (about events) would mislead
      if (ctx.json || !(err instanceof AgtmuxError) || err.code !== "E_BAD_REQUEST") throw err;
      ctx.err(`agtmux: ${err.message} [${err.code}]`);
      ctx.err("Try: fix the file at that spot (or move it aside), then run again; nothing was written");
      return EXIT.failure;
    }
  },
});

async function setupHooks(ctx: CliContext, a: Flags): Promise<number> {
  const wanted = a.agent ?? "all";
  if (wanted !== "all" && !(SETUP_AGENTS as readonly string[]).includes(wanted)) {
    throw new AgtmuxError("E_USAGE", `unknown agent "${wanted}" (expected ${SETUP_AGENTS.join(", ")} or all)`, { agent: wanted });
  }
  const scope = a.scope ?? "user";
  if (!(SCOPES as readonly string[]).includes(scope)) throw new AgtmuxError("E_USAGE", `--scope must be user or project, not "${scope}"`, { scope });
  if (a.remove === true && a["force-notify"] === true) throw new AgtmuxError("E_USAGE", "--force-notify only applies when installing", {});
  const codexBin = a["codex-bin"] ?? which("codex", ctx.env);
  if (a["codex-bin"] !== undefined && !existsSync(a["codex-bin"])) throw new AgtmuxError("E_USAGE", `--codex-bin ${a["codex-bin"]}: no such file`, { path: a["codex-bin"] });
  const agents = wanted === "all" ? (a.remove === true ? [...SETUP_AGENTS] : detectAgents(ctx, codexBin)) : [wanted as SetupAgent];
  if (agents.length === 0) {
    throw new AgtmuxError("E_USAGE", "found neither Claude Code nor Codex here: name the agent (agtmux setup-hooks claude|codex)", {});
  }
  const base: SetupOptions = {
    env: ctx.env,
    cwd: process.cwd(),
    scope: scope as Scope,
    mode: a.remove === true ? "remove" : "install",
    agtmux: selfCommand(),
    codexBin,
    forceNotify: a["force-notify"] === true,
    dryRun: a["dry-run"] === true,
    now: () => new Date(),
  };
  const runAll = async (dryRun: boolean): Promise<AgentReport[]> => {
    const out: AgentReport[] = [];
    for (const agent of agents) out.push(await setupAgent(agent, { ...base, dryRun }));
    return out;
  };

  // On a terminal, show what would change and ask first.
  const interactive = !base.dryRun && a.yes !== true && !ctx.json && process.stdin.isTTY === true && process.stdout.isTTY === true;
  if (interactive) {
    const diffs = formatDiffs(await runAll(true));
    // nothing to change: the real run only re-checks (and reports) what is there
    if (diffs !== "") {
      process.stdout.write(diffs);
      if (!(await confirm("Apply these changes (a backup of each file is kept)? [y/N] "))) {
        ctx.err("agtmux: nothing written");
        return EXIT.failure;
      }
    }
  }

  const reports = await runAll(base.dryRun);
  if (ctx.json) {
    ctx.out(JSON.stringify({ schema_version: 1, mode: base.mode, dry_run: base.dryRun, scope: base.scope, agents: reports }));
  } else {
    if (base.dryRun) process.stdout.write(formatDiffs(reports));
    ctx.out(reports.map(formatReport).join("\n\n"));
  }
  return reports.every((r) => r.ok) ? EXIT.ok : EXIT.failure;
}
