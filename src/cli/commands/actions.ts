/**
 * `agtmux actions [--limit N] [--json]`: the audit trail of actions, newest
 * first — who asked what, when, on which pane, and how it ended. Payloads are
 * redacted by the daemon (send keeps the text's length, never the text).
 */
import { defineCommand } from "citty";
import { connect } from "../../client/autostart.ts";
import type { ActionRecord, ActionsResponse } from "../../wire/actions.ts";
import type { CliContext } from "../context.ts";
import { type Style, paint, safe, styleFor, table } from "../render.ts";
import { runAction } from "./action-common.ts";
import { cli, globalArgs } from "./common.ts";
import { type Flags, usageError } from "./watch.ts";

export const DEFAULT_ACTIONS_LIMIT = 50;
const MAX_ACTIONS_LIMIT = 10_000;

export const actionsArgs = {
  ...globalArgs,
  limit: { type: "string", description: `how many, newest first (default ${DEFAULT_ACTIONS_LIMIT}, at most ${MAX_ACTIONS_LIMIT})`, valueHint: "n" },
} as const;

export function parseLimit(a: Flags): number {
  if (a.limit === undefined) return DEFAULT_ACTIONS_LIMIT;
  const raw = typeof a.limit === "string" ? a.limit.trim() : "";
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > MAX_ACTIONS_LIMIT) throw usageError(`--limit must be a whole number from 1 to ${MAX_ACTIONS_LIMIT}`, { flag: "limit" });
  return Number(raw);
}

/** `2026-11-24 10:00:05` in local time */
function when(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n: number): string => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

const obj = (v: unknown): Record<string, unknown> => (v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {});

/** `send 12 chars+Enter`, `send keys C-c`, `kill signal TERM`, `view-output 200 lines` (from the redacted payload) */
export function actionSummary(r: ActionRecord): string {
  const p = obj(r.payload);
  const bits: string[] = [r.action_type];
  if (r.action_type === "send") {
    const parts: string[] = [];
    if (typeof p.text_chars === "number") parts.push(`${p.text_chars} char${p.text_chars === 1 ? "" : "s"}${p.paste === true ? " pasted" : ""}`);
    if (Array.isArray(p.keys) && p.keys.length > 0) parts.push(`keys ${p.keys.map(String).join(" ")}`);
    if (p.enter === true) parts.push("Enter");
    if (parts.length > 0) bits.push(parts.join("+"));
  } else if (r.action_type === "kill") {
    bits.push(p.mode === "signal" ? `signal ${typeof p.signal === "string" ? p.signal : "INT"}` : "C-c");
  } else if (r.action_type === "view-output") {
    bits.push(`${typeof p.lines === "number" ? p.lines : 200} lines`);
  }
  if (p.force_stale === true) bits.push("(force-stale)");
  if (p.force === true) bits.push("(force)");
  return bits.join(" ");
}

function resultText(st: Style, r: ActionRecord): string {
  if (r.result_code === null) return paint(st, "33", "running");
  if (r.result_code === "ok") return paint(st, "32", "ok");
  return paint(st, "31", r.result_code);
}

export function renderActions(st: Style, r: ActionsResponse): string {
  if (r.items.length === 0) return "no actions yet";
  const rows: string[][] = [["WHEN", "ACTION", "REF", "RESULT", "BY"]];
  for (const a of r.items) rows.push([when(a.created_at), safe(actionSummary(a)), safe(a.ref), resultText(st, a), safe(a.requested_by ?? "-")]);
  return table(rows).join("\n");
}

export const actionsCommand = defineCommand({
  meta: { name: "actions", description: "The audit trail of actions (attach, send, view-output, kill): who, what, when, result" },
  args: actionsArgs,
  run: (c) => {
    const ctx: CliContext = cli(c);
    return runAction(ctx, { command: "actions" }, async () => {
      const limit = parseLimit(c.args as Flags);
      const client = await connect(ctx.paths, ctx.env);
      const r = await client.actions(limit);
      ctx.out(ctx.json ? JSON.stringify(r) : renderActions(styleFor(process.stdout, ctx.env), r));
      return 0;
    });
  },
});
