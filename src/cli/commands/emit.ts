/**
 * `agtmux emit`: send one event to the daemon. Three input forms:
 *  - flags: `--type state.running --pane %3` builds an envelope;
 *  - `--hook <agent>`: stdin is a raw hook payload of that agent;
 *  - stdin or `--event`: a whole envelope (missing event_id, dedupe_key and
 *    event_time are filled in).
 * When the daemon is unreachable the event goes to the spool and emit exits 0
 * (the daemon drains it on start). In --hook mode emit never fails the agent:
 * it prints nothing to stdout and always exits 0, fast.
 */
import { defineCommand } from "citty";
import * as v from "valibot";
import { autostartDisabled, spawnDaemon } from "../../client/autostart.ts";
import { AgtmuxClient } from "../../client/client.ts";
import { appendToSpool, isRelayed } from "../../client/spool.ts";
import { AgtmuxError, type ErrorCode } from "../../domain/errors.ts";
import { EnvelopeSchema, summarizeIssues } from "../../domain/event.ts";
import { newEventId, recommendedDedupeKey } from "../../domain/ids.ts";
import { EXTERNAL_SOURCES } from "../../domain/model.ts";
import { redactValue } from "../../domain/redact.ts";
import { hookOrigin } from "../../procs/ancestry.ts";
import { AGENT_TYPES, type AgentType } from "../../procs/types.ts";
import type { CliContext } from "../context.ts";
import { reportError } from "../output.ts";
import { cli, globalArgs } from "./common.ts";

/** The whole round trip a hook may cost when the daemon hangs. */
export const EMIT_TIMEOUT_MS = 1_500;
const RETRYABLE: ReadonlySet<ErrorCode> = new Set(["E_DAEMON_UNREACHABLE", "E_SHUTTING_DOWN", "E_STORE", "E_INTERNAL"]);

const args = {
  ...globalArgs,
  hook: { type: "string", description: "stdin is a raw hook payload of this agent (claude, codex, gemini, ...)", valueHint: "agent" },
  event: { type: "string", description: "a whole envelope as JSON (instead of stdin)", valueHint: "json" },
  type: { type: "string", description: "event_type, e.g. state.running, heartbeat", valueHint: "event_type" },
  source: { type: "string", description: `source: ${EXTERNAL_SOURCES.join("|")}`, valueHint: "source" },
  target: { type: "string", description: "target name (default $AGTMUX_TARGET or host)", valueHint: "name" },
  pane: { type: "string", description: "tmux pane id (default $TMUX_PANE)", valueHint: "%N" },
  runtime: { type: "string", description: "runtime_id, when known", valueHint: "id" },
  pid: { type: "string", description: "agent pid hint for binding", valueHint: "pid" },
  seq: { type: "string", description: "source_seq", valueHint: "n" },
  "dedupe-key": { type: "string", description: "dedupe_key (default: derived)", valueHint: "key" },
  "event-time": { type: "string", description: "RFC 3339 event time (default: now)", valueHint: "time" },
  payload: { type: "positional", description: "the payload as an argument instead of stdin (Codex `notify` appends its JSON this way)", required: false },
} as const;

type EmitArgs = { [K in keyof typeof args]?: (typeof args)[K]["type"] extends "boolean" ? boolean : string };

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY === true) return "";
  return await new Response(Bun.stdin.stream()).text();
}

function int(s: string | undefined, name: string): number | undefined {
  if (s === undefined) return undefined;
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw new AgtmuxError("E_USAGE", `--${name} must be an integer`, { flag: name });
  return n;
}

export async function buildEnvelope(a: EmitArgs, ctx: Pick<CliContext, "env">, stdin: () => Promise<string>): Promise<Record<string, unknown>> {
  const now = new Date().toISOString();
  const base = (): Record<string, unknown> => {
    const e: Record<string, unknown> = { event_id: newEventId(), event_time: a["event-time"] ?? now };
    const target = a.target ?? ctx.env.AGTMUX_TARGET ?? "host";
    const pane = a.pane ?? ctx.env.TMUX_PANE;
    if (a.runtime !== undefined) e.runtime_id = a.runtime;
    else {
      e.target_id = target;
      if (pane !== undefined && pane !== "") e.pane_id = pane;
    }
    const pid = int(a.pid, "pid");
    if (pid !== undefined) e.pid = pid;
    // $TMUX = "<socket>,<server pid>,<session>": pane ids only mean something on that server
    const serverPid = Number(ctx.env.TMUX?.split(",")[1]);
    if (Number.isSafeInteger(serverPid) && serverPid > 0) e.tmux_server_pid = serverPid;
    const seq = int(a.seq, "seq");
    if (seq !== undefined) e.source_seq = seq;
    return e;
  };
  let e: Record<string, unknown>;
  if (a.hook !== undefined) {
    const text = typeof a.payload === "string" && a.payload !== "" ? a.payload : await stdin();
    let payload: unknown = text;
    try {
      payload = text.trim() === "" ? {} : JSON.parse(text);
    } catch {
      // not JSON: kept as text, still delivered (and redacted) rather than lost
    }
    const p = payload !== null && typeof payload === "object" ? (payload as Record<string, unknown>) : {};
    const name = [p.hook_event_name, p.type, p.event].find((x): x is string => typeof x === "string" && x !== "") ?? "unknown";
    e = { ...base(), source: a.source ?? "hook", event_type: a.type ?? `${a.hook}.${name}`, agent_type: a.hook, raw_payload: payload };
    // The hook runs under the agent in its pane: its pid and start time make binding exact.
    if (e.pid === undefined && e.runtime_id === undefined) {
      const want = (AGENT_TYPES as readonly string[]).includes(a.hook) ? (a.hook as AgentType) : undefined;
      const origin = hookOrigin(process.ppid, want);
      if (origin.kind === "agent") {
        e.pid = origin.match.pid;
        e.start_hint = new Date(origin.match.started_at).toISOString();
      } else if (origin.kind === "shared-daemon") {
        // Codex's shared app-server runs this hook for some pane, but its TMUX_PANE is the
        // pane that started the daemon: attributing it would put it on the wrong pane. The
        // app-server follower reports those threads instead.
        delete e.pane_id;
      }
    }
  } else if (a.type !== undefined) {
    e = { ...base(), source: a.source ?? "wrapper", event_type: a.type };
  } else {
    const text = a.event ?? (typeof a.payload === "string" && a.payload !== "" ? a.payload : await stdin());
    if (text.trim() === "") throw new AgtmuxError("E_USAGE", "nothing to emit: give --type, --hook <agent> with a payload on stdin, or an envelope on stdin", {});
    let obj: unknown;
    try {
      obj = JSON.parse(text);
    } catch {
      throw new AgtmuxError("E_BAD_REQUEST", "the envelope is not valid JSON", {});
    }
    if (obj === null || typeof obj !== "object" || Array.isArray(obj)) throw new AgtmuxError("E_BAD_REQUEST", "the envelope must be a JSON object", {});
    e = { ...(obj as Record<string, unknown>) };
    e.event_id ??= newEventId();
    e.event_time ??= now;
  }
  // Without a natural id, the event id is the source id: dedupe then protects
  // retries and spool replays of this emit, never two distinct emits.
  e.source_event_id ??= e.event_id;
  e.dedupe_key ??= recommendedDedupeKey(String(e.source), String(e.source_event_id), e.raw_payload, String(e.event_type));
  return e;
}

export const emitCommand = defineCommand({
  meta: { name: "emit", description: "Send one event (or a raw hook payload on stdin) to the daemon" },
  args,
  async run(c) {
    const ctx = cli(c);
    const a = c.args as EmitArgs;
    const hookMode = a.hook !== undefined;
    try {
      return await emit(ctx, a);
    } catch (err) {
      if (!hookMode) throw err;
      // A hook must never break the agent.
      reportError({ ...ctx, json: false }, err);
      return 0;
    }
  },
});

async function emit(ctx: CliContext, a: EmitArgs): Promise<number> {
  const hookMode = a.hook !== undefined;
  const e = await buildEnvelope(a, ctx, readStdin);
  if (hookMode && e.runtime_id === undefined && e.pane_id === undefined) {
    // Fired outside tmux (no TMUX_PANE): no pane to show it on. Kept for the record, never an error for the agent.
    appendToSpool(ctx.paths.spoolDir, redactValue(e), Date.now(), "unattributed.jsonl");
    return 0;
  }
  const parsed = v.safeParse(EnvelopeSchema, e);
  if (!parsed.success) {
    const issues = summarizeIssues(parsed.issues);
    throw new AgtmuxError("E_BAD_REQUEST", `invalid event: ${issues[0]?.path ?? ""} ${issues[0]?.message ?? ""}`.trim(), { issues });
  }
  if (isRelayed(ctx.paths.home)) {
    // An ssh target: the daemon on the user's machine follows this spool through the relay.
    const file = appendToSpool(ctx.paths.spoolDir, parsed.output, Date.now());
    if (ctx.json) ctx.out(JSON.stringify({ schema_version: 1, queued: true, event_id: parsed.output.event_id, spool: file }));
    return 0;
  }
  const client = new AgtmuxClient({ socket: ctx.paths.socket });
  try {
    const res = await client.postEvents([parsed.output], { timeoutMs: EMIT_TIMEOUT_MS });
    const r = res.results[0];
    if (ctx.json) ctx.out(JSON.stringify(res));
    else if (!hookMode && r !== undefined) ctx.out(`${r.event_id} ${r.status}${r.runtime_id !== undefined ? ` ${r.runtime_id}` : ""}${r.reason_code !== undefined ? ` ${r.reason_code}` : ""}`);
    if (r?.status === "rejected" && r.error !== undefined && !hookMode) {
      return reportError(ctx, new AgtmuxError(r.error.code as ErrorCode, r.error.message, r.error.details));
    }
    return 0;
  } catch (err) {
    if (!(err instanceof AgtmuxError) || !RETRYABLE.has(err.code)) throw err;
    const file = appendToSpool(ctx.paths.spoolDir, parsed.output, Date.now());
    if (!autostartDisabled(ctx.env)) {
      try {
        spawnDaemon(ctx.paths, ctx.env);
      } catch {
        // the spool keeps the event; the next start drains it
      }
    }
    if (!hookMode) ctx.err(`agtmux: daemon unavailable (${err.code}); event ${parsed.output.event_id} queued in ${file}`);
    if (ctx.json) ctx.out(JSON.stringify({ schema_version: 1, queued: true, event_id: parsed.output.event_id, spool: file }));
    return 0;
  }
}
