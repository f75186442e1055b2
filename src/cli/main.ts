#!/usr/bin/env bun
/**
 * agtmux: one binary, the daemon and every CLI subcommand. We own dispatch
 * and the exit path (see ./args.ts).
 */
import { defineCommand } from "citty";
import { AgtmuxError, EXIT } from "../domain/errors.ts";
import { findCommand, parseStrict, usage } from "./args.ts";
import { listCommand, listPanes, paneArgs } from "./commands/list.ts";
import { globalArgs } from "./commands/common.ts";
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
  // loaded when named: a hook's `agtmux emit` must not pay for evaluating every other command's modules (start-up is its lag)
  subCommands: {
    list: listCommand,
    explain: () => import("./commands/explain.ts").then((m) => m.explainCommand),
    "setup-hooks": () => import("./commands/setup-hooks.ts").then((m) => m.setupHooksCommand),
    status: () => import("./commands/status.ts").then((m) => m.statusCommand),
    target: () => import("./commands/target.ts").then((m) => m.targetCommand),
    attach: () => import("./commands/attach.ts").then((m) => m.attachCommand),
    send: () => import("./commands/send.ts").then((m) => m.sendCommand),
    "view-output": () => import("./commands/view-output.ts").then((m) => m.viewOutputCommand),
    kill: () => import("./commands/kill.ts").then((m) => m.killCommand),
    actions: () => import("./commands/actions.ts").then((m) => m.actionsCommand),
    watch: () => import("./commands/watch.ts").then((m) => m.watchCommand),
    wait: () => import("./commands/wait.ts").then((m) => m.waitCommand),
    daemon: () => import("./commands/daemon.ts").then((m) => m.daemonCommand),
    emit: () => import("./commands/emit.ts").then((m) => m.emitCommand),
    relay: () => import("./commands/relay.ts").then((m) => m.relayCommand),
    version: versionCommand,
  },
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
