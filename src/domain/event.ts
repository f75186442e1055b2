/**
 * Event envelope v1 (contracts §3): the valibot schema every event crossing a
 * boundary goes through, and its inferred types.
 */
import * as v from "valibot";
import { EXTERNAL_SOURCES } from "./model.ts";
import { isRfc3339 } from "./time.ts";

export const TARGET_NAME_RE = /^[A-Za-z0-9._-]{1,64}$/;
export const PANE_ID_RE = /^%\d{1,9}$/;
export const RUNTIME_ID_RE = /^[A-Za-z0-9._:-]{16,128}$/;

/** Deeper payloads are refused: nothing real nests this deep, and walking them costs stack. */
export const MAX_PAYLOAD_DEPTH = 64;

/** Nesting depth of a JSON value, counting stops just past `limit` (iterative: no recursion). */
export function jsonDepth(value: unknown, limit: number): number {
  let max = 0;
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [v0, d] = stack.pop() as [unknown, number];
    if (v0 === null || typeof v0 !== "object") continue;
    const depth = d + 1;
    if (depth > max) max = depth;
    if (max > limit) return max;
    for (const child of Array.isArray(v0) ? v0 : Object.values(v0 as Record<string, unknown>)) stack.push([child, depth]);
  }
  return max;
}

const nonBlank = (max: number) =>
  v.pipe(
    v.string(),
    v.check((s) => s.trim().length > 0, "must not be empty"),
    v.maxLength(max, `must be at most ${max} characters`),
  );

const rfc3339 = v.pipe(v.string(), v.check(isRfc3339, "must be an RFC 3339 timestamp with a timezone"));

export const EnvelopeSchema = v.pipe(
  v.object({
    schema_version: v.optional(v.literal(1)),
    event_id: nonBlank(200),
    event_type: nonBlank(200),
    source: v.picklist(EXTERNAL_SOURCES, `must be one of ${EXTERNAL_SOURCES.join("|")}`),
    dedupe_key: nonBlank(512),
    source_event_id: v.optional(nonBlank(512)),
    source_seq: v.optional(v.pipe(v.number(), v.safeInteger("must be an integer"), v.minValue(0))),
    event_time: rfc3339,
    runtime_id: v.optional(v.pipe(v.string(), v.regex(RUNTIME_ID_RE, "must match [A-Za-z0-9._:-]{16,128}"))),
    target_id: v.optional(v.pipe(v.string(), v.regex(TARGET_NAME_RE, "must match [A-Za-z0-9._-]{1,64}"))),
    pane_id: v.optional(v.pipe(v.string(), v.regex(PANE_ID_RE, "must look like %<digits>"))),
    pid: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1))),
    /** the pid of the tmux server the event's pane belongs to (from $TMUX): pane ids are per server */
    tmux_server_pid: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1))),
    start_hint: v.optional(rfc3339),
    agent_type: v.optional(v.pipe(v.string(), v.regex(/^[a-z0-9_-]{1,32}$/))),
    action_id: v.optional(nonBlank(128)),
    raw_payload: v.optional(
      v.pipe(
        v.unknown(),
        v.check((p) => jsonDepth(p, MAX_PAYLOAD_DEPTH) <= MAX_PAYLOAD_DEPTH, `must nest at most ${MAX_PAYLOAD_DEPTH} levels`),
      ),
    ),
  }),
  v.check(
    (e) => e.runtime_id !== undefined || (e.target_id !== undefined && e.pane_id !== undefined),
    "an unbound event (no runtime_id) needs target_id and pane_id",
  ),
);
export type Envelope = v.InferOutput<typeof EnvelopeSchema>;

export const MAX_BATCH_EVENTS = 1000;

export const BatchSchema = v.object({
  events: v.pipe(
    v.array(v.unknown()),
    v.minLength(1, "must hold at least one event"),
    v.maxLength(MAX_BATCH_EVENTS, `must hold at most ${MAX_BATCH_EVENTS} events`),
  ),
});

export interface FieldIssue {
  path: string;
  message: string;
}

/** Summarises valibot issues without echoing input values (they may hold secrets). */
export function summarizeIssues(issues: readonly v.BaseIssue<unknown>[]): FieldIssue[] {
  return issues.slice(0, 20).map((i) => ({
    path: v.getDotPath(i) ?? "",
    message: i.message,
  }));
}

/** Per-event outcome of an ingest (POST /v1/events). */
export type IngestStatus =
  | "applied" // changed (or re-asserted) its source's candidate
  | "stale_order" // stored, older than the source cursor: not applied
  | "heartbeat" // stored, refreshed freshness only
  | "duplicate" // already seen: nothing written
  | "pending_bind" // stored in the inbox, waiting for its runtime
  | "dropped_unbound" // could not be bound (reason_code)
  | "ignored" // synthetic event whose guard did not hold
  | "rejected"; // refused (error)

export interface IngestResult {
  event_id: string;
  status: IngestStatus;
  runtime_id?: string;
  reason_code?: string;
  error?: { code: string; message: string; details: Record<string, unknown> };
}
