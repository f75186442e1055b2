#!/usr/bin/env bun
/**
 * agtmux: one binary, the daemon and every CLI subcommand. We own dispatch
 * and the exit path (see ./args.ts).
 */
import { defineCommand } from "citty";
import { AgtmuxError, EXIT } from "../domain/errors.ts";
import { findCommand, parseStrict, usage } from "./args.ts";
import { actionsCommand } from "./commands/actions.ts";
import { attachCommand } from "./commands/attach.ts";
import { daemonCommand } from "./commands/daemon.ts";
import { emitCommand } from "./commands/emit.ts";
import { explainCommand } from "./commands/explain.ts";
import { setupHooksCommand } from "./commands/setup-hooks.ts";
import { listCommand, listPanes, paneArgs } from "./commands/list.ts";
import { relayCommand } from "./commands/relay.ts";
import { globalArgs } from "./commands/common.ts";
import { killCommand } from "./commands/kill.ts";
import { sendCommand } from "./commands/send.ts";
import { statusCommand } from "./commands/status.ts";
import { targetCommand } from "./commands/target.ts";
import { viewOutputCommand } from "./commands/view-output.ts";
import { waitCommand } from "./commands/wait.ts";
import { watchCommand } from "./commands/watch.ts";
import { buildInfo, makeContext } from "./context.ts";
import { reportError } from "./output.ts";

const versionCommand = defineCommand({
  meta: { name: "version", description: "Print the version" },
  args: { ...globalArgs },
  run(c) {
    const b = buildInfo();
    const ctx = c.data as ReturnType<typeof makeContext>;
    ctx.out(ctx.json ? JSON.stringify({ schema_version: 1, ...b }) : `agtmux ${b.version} (${b.commit})`);
    return 0;
  },
});

export const root = defineCommand({
  meta: { name: "agtmux", version: buildInfo().version, description: "See what every AI coding agent in tmux is doing, and act on it safely" },
  // bare `agtmux [flags]` is `agtmux list panes [flags]`
  args: { ...paneArgs, version: { type: "boolean", alias: "v", description: "print the version" } },
  subCommands: { list: listCommand, explain: explainCommand, "setup-hooks": setupHooksCommand, status: statusCommand, target: targetCommand, attach: attachCommand, send: sendCommand, "view-output": viewOutputCommand, kill: killCommand, actions: actionsCommand, watch: watchCommand, wait: waitCommand, daemon: daemonCommand, emit: emitCommand, relay: relayCommand, version: versionCommand },
  async run(c) {
    if (c.args.version === true) return versionCommand.run?.(c as never);
    // bare `agtmux` shows the pane list
    return listPanes.run?.(c as never);
  },
});

export async function main(argv: string[]): Promise<number> {
  const wantsJson = argv.includes("--json");
  try {
    const { cmd, chain, rest } = await findCommand(root, argv);
    if (rest.includes("--help") || rest.includes("-h")) {
      process.stdout.write(`${await usage(cmd, chain.length > 1 ? chain[chain.length - 2] : undefined)}\n`);
      return EXIT.ok;
    }
    const args = await parseStrict(cmd, rest);
    const ctx = makeContext(process.env, { socket: args.socket as string | undefined, json: args.json === true });
    if (cmd.run === undefined) {
      process.stdout.write(`${await usage(cmd)}\n`);
      return EXIT.usage;
    }
    const code: unknown = await cmd.run({ rawArgs: rest, args, cmd, data: ctx } as never);
    return typeof code === "number" ? code : EXIT.ok;
  } catch (err) {
    const ctx = { json: wantsJson, out: (s: string) => process.stdout.write(`${s}\n`), err: (s: string) => process.stderr.write(`${s}\n`) };
    if (err instanceof AgtmuxError && err.code === "E_USAGE") {
      reportError(ctx, err);
      return EXIT.usage;
    }
    return reportError(ctx, err);
  }
}

if (import.meta.main) {
  const code = await main(process.argv.slice(2));
  process.exit(code);
}
