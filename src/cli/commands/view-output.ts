/** `agtmux view-output <ref> [--lines <n>] [--ansi] [guards]`: the pane's recent output (contracts §10). */
import { defineCommand } from "citty";
import { connect } from "../../client/autostart.ts";
import type { ViewOutputRequest } from "../../wire/actions.ts";
import type { CliContext } from "../context.ts";
import { type CommonBody, actionArgs, commonBody, postAction, requestedBy, retryNotice, runAction } from "./action-common.ts";
import { cli } from "./common.ts";
import { type Flags, usageError } from "./watch.ts";

export const DEFAULT_VIEW_LINES = 200;
const MAX_VIEW_LINES = 100_000;

export const viewOutputArgs = {
  ...actionArgs,
  lines: { type: "string", description: `how many lines from the bottom of the pane's history (default ${DEFAULT_VIEW_LINES}, at most ${MAX_VIEW_LINES})`, valueHint: "n" },
  ansi: { type: "boolean", description: "keep colours and attributes (escape sequences)" },
} as const;

export function buildViewOutputBody(a: Flags, common: CommonBody): ViewOutputRequest {
  let lines = DEFAULT_VIEW_LINES;
  if (a.lines !== undefined) {
    const raw = typeof a.lines === "string" ? a.lines.trim() : "";
    if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > MAX_VIEW_LINES) throw usageError(`--lines must be a whole number from 1 to ${MAX_VIEW_LINES}`, { flag: "lines" });
    lines = Number(raw);
  }
  const body: ViewOutputRequest = { ...common, lines };
  if (a.ansi === true) body.ansi = true;
  return body;
}

export const viewOutputCommand = defineCommand({
  meta: { name: "view-output", description: "Print the last lines a pane shows (its scrollback included)" },
  args: viewOutputArgs,
  run: (c) => {
    const ctx: CliContext = cli(c);
    return runAction(ctx, { command: "view-output", ref: c.args.ref }, async () => {
      const body = buildViewOutputBody(c.args as Flags, commonBody(c.args as Flags, { requestedBy: requestedBy(ctx.env) }));
      const client = await connect(ctx.paths, ctx.env);
      const r = await postAction(client, "view-output", body, { onRetry: retryNotice(ctx) });
      if (ctx.json) {
        ctx.out(JSON.stringify(r));
        return 0;
      }
      if (r.replayed) {
        // the audit trail keeps counts, never the captured text
        ctx.err(`agtmux: ${r.action_id} was answered before with ${r.result.lines} line(s); the text is not stored — run it again without --request-ref to capture anew`);
        return 0;
      }
      const text = r.result.text;
      if (text !== "") process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
      return 0;
    });
  },
});
