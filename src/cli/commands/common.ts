import type { CommandContext } from "citty";
import type { CliContext } from "../context.ts";

/** Flags every command accepts. */
export const globalArgs = {
  socket: { type: "string", description: "daemon socket path (default: $AGTMUX_SOCKET or $XDG_RUNTIME_DIR/agtmux/agtmuxd.sock)", valueHint: "path" },
  json: { type: "boolean", description: "machine-readable JSON output" },
} as const;

/** Our CliContext travels in citty's `data`. */
export function cli(c: CommandContext<never> | { data?: unknown }): CliContext {
  return c.data as CliContext;
}
