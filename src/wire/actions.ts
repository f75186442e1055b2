/**
 * Action wire types (contracts §10, §11): `POST /v1/actions/{attach|send|view-output|kill}`
 * and `GET /v1/actions`, shared by the daemon and the client.
 */
import * as v from "valibot";
import { STATES } from "../domain/model.ts";
import type { PaneIdentity } from "./list.ts";

export const ACTION_TYPES = ["attach", "send", "view-output", "kill"] as const;
export type ActionType = (typeof ACTION_TYPES)[number];

/** tmux key tokens `send --key` accepts (modifiers + a named key or one character) */
export const KEY_RE = /^(?:(?:C|M|S)-)*(?:[!-~]|F(?:[1-9]|1[0-2])|Enter|Escape|Tab|BTab|BSpace|Space|Up|Down|Left|Right|Home|End|PageUp|PageDown|PPage|NPage|IC|DC)$/;

const RequestRef = v.pipe(v.string(), v.regex(/^[A-Za-z0-9._:-]{8,128}$/, "must be 8-128 of [A-Za-z0-9._:-] (a UUIDv7 or ULID)"));

export const CommonActionSchema = {
  request_ref: RequestRef,
  ref: v.pipe(v.string(), v.minLength(1), v.maxLength(600)),
  if_runtime: v.optional(v.pipe(v.string(), v.regex(/^(?:runtime:)?[A-Za-z0-9._:-]{16,128}$/, "must be a runtime id"))),
  if_state: v.optional(v.array(v.picklist(STATES, `must be one of ${STATES.join("|")}`))),
  /** ms: the state changed at most this long ago */
  if_updated_within_ms: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(30 * 86_400_000))),
  force_stale: v.optional(v.boolean()),
  /** who asks (CLI: user@host, pid) — for the audit trail */
  requested_by: v.optional(v.pipe(v.string(), v.maxLength(200))),
};

export const AttachSchema = v.strictObject({ ...CommonActionSchema });

export const SendSchema = v.pipe(
  v.strictObject({
    ...CommonActionSchema,
    /** literal text, typed as keys (no newlines: use paste) */
    text: v.optional(v.pipe(v.string(), v.maxLength(1024 * 1024))),
    /** delivered through a named paste buffer (bracketed paste), deleted after */
    paste: v.optional(v.boolean()),
    keys: v.optional(v.pipe(v.array(v.pipe(v.string(), v.regex(KEY_RE, "must be a tmux key token such as C-c, Escape, Enter, Up"))), v.maxLength(64))),
    enter: v.optional(v.boolean()),
    /** answer an approval prompt: allowed to send keys (not text) to a pane waiting for approval */
    approve: v.optional(v.boolean()),
    /** type even into a pane that waits for an approval, or over a half-typed draft */
    force: v.optional(v.boolean()),
  }),
  v.check((b) => b.text !== undefined || (b.keys !== undefined && b.keys.length > 0) || b.enter === true, "give text, keys or enter"),
);

export const ViewOutputSchema = v.strictObject({
  ...CommonActionSchema,
  lines: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(100_000))),
  ansi: v.optional(v.boolean()),
});

export const KillSchema = v.pipe(
  v.strictObject({
    ...CommonActionSchema,
    mode: v.optional(v.picklist(["key", "signal"], "must be key or signal")),
    signal: v.optional(v.picklist(["INT", "TERM", "KILL"], "must be INT, TERM or KILL")),
  }),
  v.check((b) => (b.mode ?? "key") === "signal" || b.signal === undefined || b.signal === "INT", "TERM and KILL need mode signal"),
);

export type AttachRequest = v.InferOutput<typeof AttachSchema>;
export type SendRequest = v.InferOutput<typeof SendSchema>;
export type ViewOutputRequest = v.InferOutput<typeof ViewOutputSchema>;
export type KillRequest = v.InferOutput<typeof KillSchema>;

export interface ActionPane {
  identity: PaneIdentity;
  ref: string;
  runtime_id: string | null;
  agent: string | null;
  state: string | null;
  state_version: number | null;
}

export interface AttachResult {
  kind: "local" | "ssh";
  /** ssh targets: the alias to ssh to */
  ssh_target: string | null;
  /** the tmux socket on that host: a path (-S) or a name (-L); null: tmux's default */
  tmux_socket: { path: string } | { name: string } | null;
  session_id: string | null;
  window_id: string;
  pane_id: string;
}

export interface SendResult {
  via: "keys" | "paste" | "none";
  chars: number;
  keys: string[];
  enter: boolean;
}

export interface ViewOutputResult {
  text: string;
  lines: number;
  requested_lines: number;
  ansi: boolean;
}

export interface KillResult {
  mode: "key" | "signal";
  signal: "INT" | "TERM" | "KILL";
  pid: number | null;
}

export interface ActionResponse<R = AttachResult | SendResult | ViewOutputResult | KillResult> {
  schema_version: number;
  generated_at: string;
  action_id: string;
  action_type: ActionType;
  request_ref: string;
  /** a replay of an earlier request with this request_ref: the stored answer */
  replayed: boolean;
  result_code: "ok";
  completed_at: string;
  pane: ActionPane;
  result: R;
}

export interface ActionRecord {
  action_id: string;
  action_type: ActionType;
  request_ref: string;
  ref: string;
  target: string | null;
  pane_id: string | null;
  runtime_id: string | null;
  requested_by: string | null;
  /** redacted */
  payload: unknown;
  result_code: string | null;
  /** redacted; view-output keeps only counts */
  result: unknown;
  created_at: string;
  completed_at: string | null;
}

export interface ActionsResponse {
  schema_version: number;
  generated_at: string;
  items: ActionRecord[];
}
