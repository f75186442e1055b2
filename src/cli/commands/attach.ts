/**
 * `agtmux attach <ref> [guards] [--print]`: the daemon checks the pane
 * (fail-closed) and selects its window and pane on the target; then the CLI
 * takes you there (contracts §10):
 *
 *   inside tmux, same server   tmux switch-client -t <pane>
 *   outside tmux               tmux [-S path|-L name] attach-session -t <session>
 *   inside another server      the same attach, nested (TMUX unset)
 *   ssh target                 ssh -t -- <alias> '<tmux … attach-session -t <session>>'
 *
 * Never a shell on our side: argv arrays; the remote command is built with
 * remoteCommand, so the remote shell hands tmux exactly our argv.
 */
import { realpathSync } from "node:fs";
import { defineCommand } from "citty";
import { connect } from "../../client/autostart.ts";
import type { AgtmuxClient } from "../../client/client.ts";
import { AgtmuxError } from "../../domain/errors.ts";
import { remoteCommand, shellQuote } from "../../targets/ssh/quote.ts";
import type { ActionResponse, AttachResult } from "../../wire/actions.ts";
import type { CliContext } from "../context.ts";
import { actionArgs, actionTag, commonBody, paneLabel, postAction, requestedBy, retryNotice, runAction } from "./action-common.ts";
import { cli } from "./common.ts";
import { type Flags, tmuxServerOf, usageError } from "./watch.ts";

export const attachArgs = {
  ...actionArgs,
  print: { type: "boolean", description: "print the command that would take you there instead of running it" },
} as const;

/** One program to run: argv (no shell) and the environment variables to remove for it. */
export interface Command {
  argv: string[];
  unsetEnv: string[];
}

export interface AttachPlan {
  how: "switch-client" | "attach" | "nested-attach" | "ssh";
  command: Command;
  /** run when `command` fails: we could not tell whether this tmux server is the target's */
  fallback: Command | null;
  /** attach needs a terminal on stdin; switch-client does not */
  needsTty: boolean;
  note: string | null;
}

export interface AttachEnv {
  TMUX?: string | undefined;
  TMUX_TMPDIR?: string | undefined;
}

/** `-S path` / `-L name` / nothing (tmux's default server) */
export function tmuxSocketArgs(s: AttachResult["tmux_socket"]): string[] {
  if (s === null) return [];
  return "path" in s ? ["-S", s.path] : ["-L", s.name];
}

/** Where tmux puts a named socket: $TMUX_TMPDIR (or /tmp)/tmux-<uid>/<name>. */
export function namedSocketPath(name: string, env: AttachEnv, uid: number): string {
  const dir = env.TMUX_TMPDIR !== undefined && env.TMUX_TMPDIR !== "" ? env.TMUX_TMPDIR.replace(/\/+$/, "") : "/tmp";
  return `${dir}/tmux-${uid}/${name}`;
}

/**
 * Whether the tmux server we are inside ($TMUX) is the target's: by server pid
 * when both are known (definitive on one host), else by socket path; null
 * when we cannot tell (the daemon watches "the default" server without naming it).
 */
export function sameServer(r: AttachResult, env: AttachEnv, o: { uid: number; serverPid: number | null; realpath?: (p: string) => string }): boolean | null {
  const inside = tmuxServerOf({ TMUX: env.TMUX });
  if (o.serverPid !== null && inside.pid !== null) return o.serverPid === inside.pid;
  if (r.tmux_socket === null) return null;
  const want = "path" in r.tmux_socket ? r.tmux_socket.path : namedSocketPath(r.tmux_socket.name, env, o.uid);
  // tmux resolves its socket directory (symlinks, //): compare resolved paths
  const real = o.realpath ?? ((x: string) => x);
  return real(want) === real(inside.socket);
}

/** realpath, or the path itself when it cannot be resolved */
export function realpathOrSelf(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}

/** The command(s) that take the user to the pane the daemon selected. */
export function planAttach(r: AttachResult, o: { env: AttachEnv; target: string; uid: number; serverPid: number | null; realpath?: (p: string) => string }): AttachPlan {
  const sock = tmuxSocketArgs(r.tmux_socket);
  // a pane id names its session too when the session id is unknown
  const session = r.session_id ?? r.pane_id;
  const attachArgv = ["tmux", ...sock, "attach-session", "-t", session];
  if (r.kind === "ssh") {
    // the daemon reaches an ssh target by its name when it has no alias (connection_ref)
    const dest = r.ssh_target ?? o.target;
    return { how: "ssh", command: { argv: ["ssh", "-t", "--", dest, remoteCommand(attachArgv)], unsetEnv: [] }, fallback: null, needsTty: true, note: null };
  }
  const attach: Command = { argv: attachArgv, unsetEnv: [] };
  const inTmux = o.env.TMUX !== undefined && o.env.TMUX !== "";
  if (!inTmux) return { how: "attach", command: attach, fallback: null, needsTty: true, note: null };
  // tmux refuses to attach from inside tmux unless $TMUX is unset: that nests the target's server in this pane
  const nested: Command = { argv: attachArgv, unsetEnv: ["TMUX", "TMUX_PANE"] };
  // switch-client talks to the server $TMUX names; pane ids are only unique per server
  const sw: Command = { argv: ["tmux", "switch-client", "-t", r.pane_id], unsetEnv: [] };
  const same = sameServer(r, o.env, o.realpath === undefined ? { uid: o.uid, serverPid: o.serverPid } : { uid: o.uid, serverPid: o.serverPid, realpath: o.realpath });
  if (same === true) return { how: "switch-client", command: sw, fallback: null, needsTty: false, note: null };
  if (same === false) {
    return { how: "nested-attach", command: nested, fallback: null, needsTty: true, note: "the pane is on another tmux server than this one: attaching nested (detach with your prefix key, then d)" };
  }
  return { how: "switch-client", command: sw, fallback: nested, needsTty: false, note: null };
}

/** A command as one shell line (for --print): `env -u TMUX tmux …`. */
export function commandLine(c: Command): string {
  const env = c.unsetEnv.length === 0 ? "" : `env ${c.unsetEnv.map((k) => `-u ${k}`).join(" ")} `;
  return env + c.argv.map(shellQuote).join(" ");
}

export function planLine(p: AttachPlan): string {
  return p.fallback === null ? commandLine(p.command) : `${commandLine(p.command)} || ${commandLine(p.fallback)}`;
}

const SIGNAL_NUMBERS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 };

/** Runs a command with our terminal (or quietly), waits and returns its exit code (128+n for a signal). */
async function run(c: Command, o: { quiet: boolean; env: Record<string, string | undefined> }): Promise<{ code: number; stderr: string }> {
  const env: Record<string, string | undefined> = { ...o.env };
  for (const k of c.unsetEnv) delete env[k];
  let p: Bun.Subprocess;
  try {
    p = Bun.spawn(c.argv, { env, stdin: o.quiet ? "ignore" : "inherit", stdout: o.quiet ? "ignore" : "inherit", stderr: o.quiet ? "pipe" : "inherit" });
  } catch (err) {
    throw new AgtmuxError("E_INTERNAL", `cannot run ${c.argv[0] ?? "?"}: ${err instanceof Error ? err.message : String(err)}`, { argv0: c.argv[0] });
  }
  // the terminal belongs to tmux/ssh now: a Ctrl-C reaches them, we wait for their exit
  const ignore = (): void => {};
  process.on("SIGINT", ignore);
  try {
    const code = await p.exited;
    const stderr = o.quiet && p.stderr instanceof ReadableStream ? await new Response(p.stderr).text() : "";
    return { code: p.signalCode === null ? code : 128 + (SIGNAL_NUMBERS[p.signalCode] ?? 0), stderr };
  } finally {
    process.off("SIGINT", ignore);
  }
}

/** The target's tmux server pid, for the same-server check (null when unknown). */
async function serverPidOf(client: AgtmuxClient, target: string): Promise<number | null> {
  try {
    const t = (await client.targets()).items.find((i) => i.target === target);
    return t?.tmux_server_pid ?? null;
  } catch {
    return null;
  }
}

export const attachCommand = defineCommand({
  meta: { name: "attach", description: "Jump to an agent's pane (switch-client inside tmux, attach outside, over ssh for a VM)" },
  args: attachArgs,
  run: (c) => {
    const ctx: CliContext = cli(c);
    return runAction(ctx, { command: "attach", ref: c.args.ref }, async () => {
      const a = c.args as Flags;
      const body = commonBody(a, { requestedBy: requestedBy(ctx.env) });
      const client = await connect(ctx.paths, ctx.env);
      const r: ActionResponse<AttachResult> = await postAction(client, "attach", body, { onRetry: retryNotice(ctx) });
      const target = r.pane.identity.target;
      const inTmux = ctx.env.TMUX !== undefined && ctx.env.TMUX !== "";
      const serverPid = r.result.kind === "local" && inTmux ? await serverPidOf(client, target) : null;
      const plan = planAttach(r.result, { env: ctx.env, target, uid: process.getuid?.() ?? 0, serverPid, realpath: realpathOrSelf });
      if (ctx.json) {
        // a script cannot share our terminal with tmux: --json describes, runs nothing
        ctx.out(JSON.stringify({ ...r, command: { how: plan.how, line: planLine(plan), argv: plan.command.argv, unset_env: plan.command.unsetEnv, fallback: plan.fallback === null ? null : { argv: plan.fallback.argv, unset_env: plan.fallback.unsetEnv } } }));
        return 0;
      }
      if (a.print === true) {
        ctx.out(planLine(plan));
        return 0;
      }
      if (plan.needsTty && process.stdin.isTTY !== true) {
        throw usageError(`attach needs a terminal (stdin is not one); the command is: ${planLine(plan)}`, { flag: "print" });
      }
      ctx.err(`attaching to ${paneLabel(r.pane)}${actionTag(r)}`);
      if (plan.note !== null) ctx.err(`agtmux: ${plan.note}`);
      if (plan.fallback === null) return (await run(plan.command, { quiet: false, env: ctx.env })).code;
      const first = await run(plan.command, { quiet: true, env: ctx.env });
      if (first.code === 0) return 0;
      ctx.err("agtmux: this tmux server is not the pane's: attaching nested (detach with your prefix key, then d)");
      if (process.stdin.isTTY !== true) throw usageError(`attach needs a terminal (stdin is not one); the command is: ${commandLine(plan.fallback)}`, { flag: "print" });
      return (await run(plan.fallback, { quiet: false, env: ctx.env })).code;
    });
  },
});
