/**
 * What the action commands (attach, send, view-output, kill; contracts §7, §10)
 * share: the request ref, who asks, the guard flags, the retry that reuses the
 * request ref, the exit codes and hints of docs/cli-actions.md.
 * The body builders are pure (tests/unit/actions-cli.test.ts).
 */
import { readFileSync } from "node:fs";
import { hostname, userInfo } from "node:os";
import type { ActionBodies, ActionResults } from "../../client/client.ts";
import { AgtmuxError, actionExitCodeFor } from "../../domain/errors.ts";
import { newEventId } from "../../domain/ids.ts";
import { STATES, type State } from "../../domain/model.ts";
import type { ActionPane, ActionResponse, ActionType } from "../../wire/actions.ts";
import type { CliContext } from "../context.ts";
import { reportError } from "../output.ts";
import { safe } from "../render.ts";
import { shellQuote } from "../../targets/ssh/quote.ts";
import { globalArgs } from "./common.ts";
import { type Flags, durationFlag, usageError } from "./watch.ts";

/** the daemon's request_ref rule (src/wire/actions.ts) */
export const REQUEST_REF_RE = /^[A-Za-z0-9._:-]{8,128}$/;
const RUNTIME_ID_RE = /^(?:runtime:)?[A-Za-z0-9._:-]{16,128}$/;
/** the daemon's bound on if_updated_within_ms */
const MAX_UPDATED_WITHIN_MS = 30 * 86_400_000;

/** A time-ordered request ref (UUIDv7): one per invocation, reused by its retries. */
export function newRequestRef(): string {
  return newEventId();
}

/** `<user>@<hostname> pid <pid>`, for the audit trail */
export function requestedBy(env: Record<string, string | undefined>, pid = process.pid): string {
  return `${userName(env)}@${hostname()} pid ${pid}`.slice(0, 200);
}

/** $USER, $LOGNAME, the passwd entry of our uid, else `uid <n>` */
function userName(env: Record<string, string | undefined>): string {
  for (const v of [env.USER, env.LOGNAME]) if (v !== undefined && v !== "") return v;
  try {
    // Bun 1.4.5's os.userInfo() can answer username "unknown" (seen with USER unset): read passwd ourselves
    const name = userInfo().username;
    if (name !== "" && name !== "unknown") return name;
  } catch {
    // no passwd entry
  }
  const uid = process.getuid?.();
  if (uid === undefined) return "?";
  try {
    for (const line of readFileSync("/etc/passwd", "utf8").split("\n")) {
      const f = line.split(":");
      if (f[2] === String(uid) && f[0] !== undefined && f[0] !== "") return f[0];
    }
  } catch {
    // no /etc/passwd
  }
  return `uid ${uid}`;
}

export const refArg = { ref: { type: "positional", description: "pane:… or runtime:… (the `ref` of `agtmux list panes --json`)", required: true } } as const;

/** Flags every action command takes (the guards only add constraints; contracts §10). */
export const actionArgs = {
  ...globalArgs,
  ...refArg,
  "if-runtime": { type: "string", description: "act only if the pane still runs this agent run (runtime:… or its id)", valueHint: "id" },
  "if-state": { type: "string", description: `act only if the pane is in one of these states (comma-separated): ${STATES.join(",")}`, valueHint: "state[,state]" },
  "if-updated-within": { type: "string", description: "act only if the pane's state changed at most this long ago, e.g. 30s, 5m", valueHint: "dur" },
  "force-stale": { type: "boolean", description: "act even if the pane's state moved on since it was looked at, or its target is down (a different agent run is still refused)" },
  "request-ref": { type: "string", description: "the idempotency key (default: a new UUIDv7 per run); the same ref and flags replay the stored answer", valueHint: "id" },
} as const;

const str = (a: Flags, k: string): string | undefined => (typeof a[k] === "string" ? (a[k] as string) : undefined);

/** `--if-state a,b` -> states, or a usage error */
export function parseIfState(raw: string): State[] {
  const out: State[] = [];
  for (const s of raw.split(",").map((x) => x.trim()).filter((x) => x !== "")) {
    if (!(STATES as readonly string[]).includes(s)) throw usageError(`--if-state: unknown state ${JSON.stringify(s)}; use ${STATES.join(",")}`, { flag: "if-state" });
    if (!out.includes(s as State)) out.push(s as State);
  }
  if (out.length === 0) throw usageError(`--if-state needs one or more of ${STATES.join(",")}`, { flag: "if-state" });
  return out;
}

export interface CommonBody {
  request_ref: string;
  ref: string;
  requested_by?: string;
  if_runtime?: string;
  if_state?: State[];
  if_updated_within_ms?: number;
  force_stale?: boolean;
}

/**
 * The fields every action request carries, from the flags. `newRef` makes the
 * request ref when `--request-ref` is absent.
 */
export function commonBody(a: Flags, o: { requestedBy?: string; newRef?: () => string } = {}): CommonBody {
  const ref = str(a, "ref") ?? "";
  if (ref === "") throw usageError("missing argument <ref> (pane:… or runtime:…, from `agtmux list panes --json`)", { argument: "ref" });
  const given = a["request-ref"];
  if (given !== undefined && (typeof given !== "string" || !REQUEST_REF_RE.test(given))) {
    throw usageError("--request-ref must be 8-128 of [A-Za-z0-9._:-] (a UUIDv7 or ULID)", { flag: "request-ref" });
  }
  const body: CommonBody = { request_ref: typeof given === "string" ? given : (o.newRef ?? newRequestRef)(), ref };
  if (o.requestedBy !== undefined) body.requested_by = o.requestedBy;
  const rt = a["if-runtime"];
  if (rt !== undefined) {
    if (typeof rt !== "string" || !RUNTIME_ID_RE.test(rt)) throw usageError("--if-runtime must be a runtime id (runtime:… or its 16-128 characters)", { flag: "if-runtime" });
    body.if_runtime = rt;
  }
  const st = a["if-state"];
  if (st !== undefined) body.if_state = parseIfState(typeof st === "string" ? st : "");
  const within = durationFlag(a, "if-updated-within", null);
  if (within !== null) {
    if (within > MAX_UPDATED_WITHIN_MS) throw usageError("--if-updated-within is at most 30 days", { flag: "if-updated-within" });
    body.if_updated_within_ms = within;
  }
  if (a["force-stale"] === true) body.force_stale = true;
  return body;
}

/**
 * Every value of a repeatable string flag, in order (`--key a --key=b`): citty
 * keeps only the last one.
 */
export function repeatedFlag(rawArgs: readonly string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < rawArgs.length; i++) {
    const tok = rawArgs[i] as string;
    if (tok === "--") break;
    if (tok === `--${name}`) {
      const next = rawArgs[i + 1];
      out.push(next ?? "");
      i++;
    } else if (tok.startsWith(`--${name}=`)) out.push(tok.slice(name.length + 3));
  }
  return out;
}

/** What is retried (with the same request_ref): the daemon was away or restarting, or failed before recording the action. */
export function isTransient(e: AgtmuxError): boolean {
  if (e.code === "E_DAEMON_UNREACHABLE" || e.code === "E_SHUTTING_DOWN") return true;
  // a 5xx before the action was recorded; with an action_id it is the action's stored result, which a retry only replays
  return e.code === "E_INTERNAL" && e.details.action_id === undefined;
}

/** backoff between the attempts: 4 tries over ~2.5 s, enough for a daemon restart */
export const RETRY_DELAYS_MS = [250, 750, 1_500] as const;

export interface ActionPoster {
  action<T extends ActionType>(type: T, body: ActionBodies[T]): Promise<ActionResponse<ActionResults[T]>>;
}

/**
 * POSTs the action, retrying transient failures up to 3 times with the SAME
 * body (request_ref included): the daemon runs a request_ref once and replays
 * its stored answer, so a retried send is delivered at most once.
 */
export async function postAction<T extends ActionType>(
  client: ActionPoster,
  type: T,
  body: ActionBodies[T],
  o: { sleep?: (ms: number) => Promise<void>; delaysMs?: readonly number[]; onRetry?: (e: AgtmuxError, attempt: number) => void } = {},
): Promise<ActionResponse<ActionResults[T]>> {
  const delays = o.delaysMs ?? RETRY_DELAYS_MS;
  const sleep = o.sleep ?? ((ms: number) => Bun.sleep(ms));
  for (let attempt = 0; ; attempt++) {
    try {
      return await client.action(type, body);
    } catch (err) {
      if (!(err instanceof AgtmuxError) || !isTransient(err) || attempt >= delays.length) throw err;
      o.onRetry?.(err, attempt + 1);
      await sleep(delays[attempt] as number);
    }
  }
}

/** The "Try:" line of an action error (docs/cli-actions.md); `command`/`ref` fill in the example. */
export function actionHint(e: AgtmuxError, o: { command?: string; ref?: string } = {}): string | undefined {
  const d = e.details;
  const ref = o.ref === undefined || o.ref === "" ? "<ref>" : shellQuote(o.ref);
  switch (e.code) {
    case "E_REF_INVALID":
    case "E_REF_INVALID_ENCODING":
      return "copy the ref from `agtmux list panes --json` (pane:<target>/<session-enc>/@<window>/%<pane> or runtime:<id>)";
    case "E_REF_NOT_FOUND":
      return "agtmux list panes   (the pane is gone, or the ref names another target)";
    case "E_REF_AMBIGUOUS":
      return "use the pane's runtime: ref or its full pane: ref from `agtmux list panes --json`";
    case "E_RUNTIME_STALE":
      return "list again: the agent changed — agtmux list panes (then act on the new ref)";
    case "E_PRECONDITION_FAILED":
      if (d.draft !== undefined) return "clear the half-typed text in the agent's input first, or add --force to type anyway";
      if (d.state === "waiting_approval") return "answer the approval with --key (e.g. --key Enter, --key Escape, --key 1) and --approve; --force types text anyway";
      if (d.snapshot_version !== undefined) return `the pane changed while acting: look again (agtmux explain ${ref}) and retry, or --force-stale`;
      return `a guard did not hold: check the pane (agtmux list panes --all --ref ${ref}) and change or drop --if-state/--if-updated-within`;
    case "E_SNAPSHOT_EXPIRED":
      return "retry the command (the pane was looked at more than 30 s before acting)";
    case "E_TARGET_UNREACHABLE":
      return typeof d.target === "string" ? `agtmux target connect ${d.target}   (or agtmux target list)` : "agtmux target list";
    case "E_IDEMPOTENCY_CONFLICT":
      return "use a new request ref: drop --request-ref (one is generated per run) or pass another";
    case "E_PID_UNAVAILABLE":
      return "use --mode key (C-c typed into the pane)";
    case "E_USAGE":
    case "E_BAD_REQUEST":
      return `agtmux ${o.command ?? "<command>"} --help`;
    default:
      return undefined;
  }
}

/** Runs an action command, reporting its errors with the action exit codes and hints. */
export async function runAction(ctx: CliContext, o: { command: string; ref?: unknown }, fn: () => Promise<number>): Promise<number> {
  try {
    return await fn();
  } catch (err) {
    const ref = typeof o.ref === "string" ? o.ref : undefined;
    return reportError(ctx, err, { exitCodeFor: actionExitCodeFor, hint: (e) => actionHint(e, ref === undefined ? { command: o.command } : { command: o.command, ref }) });
  }
}

/** stderr, unless --json: the retry is visible to a person, not in a script's output */
export function retryNotice(ctx: CliContext): (e: AgtmuxError, attempt: number) => void {
  return (e, attempt) => {
    if (!ctx.json) ctx.err(`agtmux: ${e.message} — retrying (${attempt}/${RETRY_DELAYS_MS.length}) with the same request ref`);
  };
}

/** `pane:host/main/@1/%3 (claude, waiting_input)` */
export function paneLabel(p: ActionPane): string {
  const what = p.agent === null ? "no agent" : `${p.agent}${p.state === null ? "" : `, ${p.state}`}`;
  return `${safe(p.ref)} (${safe(what)})`;
}

/** ` [act-…]`, or ` [act-…, replayed]` for a stored answer */
export function actionTag(r: ActionResponse<unknown>): string {
  return ` [${r.action_id}${r.replayed ? ", replayed" : ""}]`;
}

/** Asks on the terminal (stderr); false without a TTY or on anything but y/yes. */
export async function confirm(question: string): Promise<boolean> {
  if (process.stdin.isTTY !== true) return false;
  process.stderr.write(`${question} [y/N] `);
  for await (const line of console) return /^y(es)?$/i.test(line.trim());
  return false;
}

