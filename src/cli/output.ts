/** Errors to humans (one line + a hint) or to scripts (the envelope under --json). */
import { AgtmuxError, type ErrorCode, exitCodeFor } from "../domain/errors.ts";
import type { CliContext } from "./context.ts";

const HINTS: Partial<Record<ErrorCode, string>> = {
  E_DAEMON_UNREACHABLE: "agtmux daemon start   (or unset AGTMUX_NO_AUTOSTART)",
  E_DAEMON_RUNNING: "agtmux daemon status",
  E_STORE: "see the message: move the file aside or fix its permissions",
  E_USAGE: "agtmux --help",
  E_BAD_REQUEST: "check the event against docs/events.md",
  E_RUNTIME_STALE: "agtmux list panes   (the agent in that pane changed)",
};

/** Per-command overrides: the action commands have their own exit codes and hints (docs/cli-actions.md). */
export interface ReportOptions {
  exitCodeFor?: (code: ErrorCode) => number;
  /** a hint for this error; undefined falls back to the table above */
  hint?: (e: AgtmuxError) => string | undefined;
}

export function reportError(ctx: Pick<CliContext, "json" | "out" | "err">, err: unknown, opts: ReportOptions = {}): number {
  const e =
    err instanceof AgtmuxError
      ? err
      : new AgtmuxError("E_INTERNAL", err instanceof Error ? err.message : String(err), {});
  if (ctx.json) {
    ctx.out(JSON.stringify({ schema_version: 1, error: e.toEnvelope() }));
  } else {
    ctx.err(`agtmux: ${e.message} [${e.code}]`);
    const log = typeof e.details.log === "string" ? e.details.log : undefined;
    const hint = log !== undefined ? `read the daemon log: ${log}` : (opts.hint?.(e) ?? HINTS[e.code]);
    if (hint !== undefined) ctx.err(`Try: ${hint}`);
  }
  return (opts.exitCodeFor ?? exitCodeFor)(e.code);
}
