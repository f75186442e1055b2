/**
 * `agtmux relay` (internal): the VM side of an ssh target, started by the
 * daemon over its ssh connection. Speaks JSON lines on stdin/stdout
 * (docs/relay.md); not meant for humans, so hidden from the help.
 */
import { defineCommand } from "citty";
import { AgtmuxError } from "../../domain/errors.ts";
/** the relay's default heartbeat (src/relay/relay.ts DEFAULT_HEARTBEAT_MS; the relay module loads only when it runs) */
const DEFAULT_HEARTBEAT_MS = 5_000;
import { markRelayed } from "../../client/spool.ts";
import { buildInfo } from "../context.ts";
import { cli } from "./common.ts";

/** default for --idle-exit: the daemon sends a keepalive every few seconds */
export const RELAY_IDLE_EXIT_MS = 60_000;

function ms(s: string | undefined, name: string, fallback: number): number {
  if (s === undefined) return fallback;
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n < 0) throw new AgtmuxError("E_USAGE", `--${name} must be a non-negative integer (ms)`, { flag: name });
  return n;
}

export const relayCommand = defineCommand({
  meta: { name: "relay", description: "(internal) the VM side of an ssh target: spool, tmux, files, Codex over stdin/stdout", hidden: true },
  args: {
    "tmux-socket": { type: "string", description: "tmux socket: a path or a -L name", valueHint: "name|path" },
    heartbeat: { type: "string", description: `heartbeat period in ms (default ${DEFAULT_HEARTBEAT_MS})`, valueHint: "ms" },
    "idle-exit": { type: "string", description: `exit when the daemon is silent this long, 0 never (default ${RELAY_IDLE_EXIT_MS})`, valueHint: "ms" },
    mark: { type: "boolean", description: "only mark this machine as a relayed target (hooks spool for the relay) and exit" },
  },
  async run(c) {
    const ctx = cli(c);
    const a = c.args as { "tmux-socket"?: string; heartbeat?: string; "idle-exit"?: string; mark?: boolean };
    // From now on `agtmux emit` here spools for the relay instead of looking for a local daemon.
    markRelayed(ctx.paths.home, `relay ${buildInfo().version}`);
    if (a.mark === true) return 0;
    const heartbeatMs = ms(a.heartbeat, "heartbeat", DEFAULT_HEARTBEAT_MS);
    const idleExitMs = ms(a["idle-exit"], "idle-exit", RELAY_IDLE_EXIT_MS);
    const ac = new AbortController();
    const stop = (): void => ac.abort();
    process.on("SIGTERM", stop);
    process.on("SIGHUP", stop);
    process.on("SIGINT", stop);
    // the channel is gone: stdin EOF usually tells first, this covers a write that fails
    process.stdout.on("error", stop);
    const write = (line: string): Promise<void> | undefined => {
      if (process.stdout.write(line)) return undefined;
      return new Promise<void>((resolve) => {
        process.stdout.once("drain", resolve);
        ac.signal.addEventListener("abort", () => resolve(), { once: true });
      });
    };
    const { runRelay } = await import("../../relay/relay.ts");
    return await runRelay({
      env: ctx.env,
      stdin: Bun.stdin.stream(),
      write,
      tmuxSocket: a["tmux-socket"],
      heartbeatMs: heartbeatMs === 0 ? DEFAULT_HEARTBEAT_MS : heartbeatMs,
      idleExitMs,
      version: buildInfo().version,
      signal: ac.signal,
    });
  },
});
