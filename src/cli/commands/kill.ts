/**
 * `agtmux kill <ref> [--mode key|signal] [--signal INT|TERM|KILL] [guards]
 * [--yes]`: interrupt an agent (C-c typed into its pane, the default) or
 * signal its process; asks first unless --yes (contracts §10).
 */
import { defineCommand } from "citty";
import { connect } from "../../client/autostart.ts";
import type { AgtmuxClient } from "../../client/client.ts";
import { AgtmuxError } from "../../domain/errors.ts";
import type { KillRequest, KillResult } from "../../wire/actions.ts";
import type { CliContext } from "../context.ts";
import { safe } from "../render.ts";
import { type CommonBody, actionArgs, actionTag, commonBody, confirm, paneLabel, postAction, requestedBy, retryNotice, runAction } from "./action-common.ts";
import { cli } from "./common.ts";
import { type Flags, usageError } from "./watch.ts";

export const killArgs = {
  ...actionArgs,
  mode: { type: "string", description: "key (default): type C-c into the pane; signal: signal the agent's process", valueHint: "key|signal" },
  signal: { type: "string", description: "with --mode signal: INT (default), TERM or KILL", valueHint: "INT|TERM|KILL" },
  yes: { type: "boolean", alias: "y", description: "do not ask" },
} as const;

const SIGNALS = ["INT", "TERM", "KILL"] as const;

export function buildKillBody(a: Flags, common: CommonBody): KillRequest {
  const mode = a.mode === undefined ? "key" : a.mode;
  if (mode !== "key" && mode !== "signal") throw usageError("--mode must be key or signal", { flag: "mode" });
  let signal: (typeof SIGNALS)[number] | undefined;
  if (a.signal !== undefined) {
    const s = (typeof a.signal === "string" ? a.signal : "").trim().toUpperCase().replace(/^SIG/, "");
    if (!(SIGNALS as readonly string[]).includes(s)) throw usageError("--signal must be INT, TERM or KILL", { flag: "signal" });
    signal = s as (typeof SIGNALS)[number];
  }
  if (signal !== undefined && signal !== "INT" && mode !== "signal") {
    throw usageError(`--signal ${signal} needs --mode signal (--mode key can only type C-c, which is INT)`, { flag: "signal" });
  }
  const body: KillRequest = { ...common, mode };
  if (signal !== undefined) body.signal = signal;
  return body;
}

/** `Interrupt claude in pane:…? ` / `Send SIGTERM to claude (pid 42) in pane:…?` */
export function killQuestion(body: KillRequest, pane: { ref: string; agent: string | null; pid: number | null; command: string | null }): string {
  const who = pane.agent ?? (pane.command === null ? "the process" : `${pane.command} (no agent)`);
  if (body.mode === "signal") return `Send SIG${body.signal ?? "INT"} to ${safe(who)}${pane.pid === null ? "" : ` (pid ${pane.pid})`} in ${safe(pane.ref)}?`;
  return `Interrupt ${safe(who)} in ${safe(pane.ref)} (C-c)?`;
}

/** `sent C-c to` / `sent SIGTERM to pid 42 in` (followed by the pane) */
export function describeKill(r: KillResult): string {
  return r.mode === "key" ? "sent C-c to" : `sent SIG${r.signal} to pid ${r.pid ?? "?"} in`;
}

/**
 * Asks about the agent the pane runs now. A yes is about that agent run: it is
 * pinned as if_runtime (unless given), so an agent restarted while the
 * question was open is refused (E_RUNTIME_STALE), not killed.
 */
async function askFirst(client: AgtmuxClient, body: KillRequest): Promise<boolean> {
  const list = await client.panes({ ref: body.ref, all: true });
  const p = list.items[0];
  if (p === undefined) throw new AgtmuxError("E_REF_NOT_FOUND", `no pane matches ${body.ref}`, { ref: body.ref });
  const yes = await confirm(killQuestion(body, { ref: p.ref, agent: p.agent?.type ?? null, pid: p.agent?.pid ?? null, command: p.current_command }));
  if (yes && body.if_runtime === undefined && p.agent !== null) body.if_runtime = p.agent.runtime_id;
  return yes;
}

export const killCommand = defineCommand({
  meta: { name: "kill", description: "Interrupt an agent (C-c) or signal its process; asks first unless --yes" },
  args: killArgs,
  run: (c) => {
    const ctx: CliContext = cli(c);
    return runAction(ctx, { command: "kill", ref: c.args.ref }, async () => {
      const a = c.args as Flags;
      const body = buildKillBody(a, commonBody(a, { requestedBy: requestedBy(ctx.env) }));
      const ask = a.yes !== true;
      // no terminal to ask on: refuse before contacting anything
      if (ask && process.stdin.isTTY !== true) throw usageError("not killing without confirmation: pass --yes (stdin is not a terminal to ask on)", { flag: "yes" });
      const client = await connect(ctx.paths, ctx.env);
      if (ask && !(await askFirst(client, body))) {
        ctx.err("not killed");
        return 1;
      }
      const r = await postAction(client, "kill", body, { onRetry: retryNotice(ctx) });
      ctx.out(ctx.json ? JSON.stringify(r) : `${describeKill(r.result)} ${paneLabel(r.pane)}${actionTag(r)}`);
      return 0;
    });
  },
});
