/**
 * The relay wire protocol (docs/relay.md): JSON lines over one exec channel.
 * The relay's stdout carries RelayMessage (`k`), its stdin DaemonOp (`op`).
 * Both sides validate every line with these schemas and log-and-ignore what
 * does not fit; nothing here does IO.
 */
import * as v from "valibot";
import { summarizeIssues } from "../domain/event.ts";

export const RELAY_PROTOCOL_VERSION = 1;

/** A spool batch holds at most this many lines and this many bytes of raw line text. */
export const MAX_BATCH_LINES = 500;
export const MAX_BATCH_BYTES = 1024 * 1024;
/** A tail message carries at most this many bytes (before base64). */
export const MAX_TAIL_BYTES = 1024 * 1024;
/** Drain files: `drain-<ms>-<pid>.jsonl` (the same naming as src/daemon/spool-reader.ts). */
export const DRAIN_FILE_RE = /^drain-\d+-\d+\.jsonl$/;

const Offset = v.pipe(v.number(), v.integer(), v.minValue(0));
const Int = v.pipe(v.number(), v.integer());
const DrainFile = v.pipe(v.string(), v.regex(DRAIN_FILE_RE, "not a drain file name"));
/** tmux session ids (`$3`): ControlClient attaches by id only */
const Session = v.pipe(v.string(), v.regex(/^\$\d+$/, "not a tmux session id"));
const Id = v.pipe(v.string(), v.minLength(1), v.maxLength(128));
const LogLevel = v.picklist(["warn", "info", "debug"]);
export type RelayLogLevel = v.InferOutput<typeof LogLevel>;

// ---------------------------------------------------------------------------
// Codex values (what CodexAppServerClient produces, as JSON)

const NullableString = v.nullable(v.string());
const NullableNumber = v.nullable(v.number());

export const CodexThreadStatusSchema = v.union([
  v.object({ type: v.picklist(["notLoaded", "idle", "systemError"]) }),
  v.object({ type: v.literal("active"), activeFlags: v.array(v.string()) }),
  v.object({ type: v.literal("other"), raw: v.unknown() }),
]);

export const CodexThreadInfoSchema = v.object({
  id: v.string(),
  cwd: v.string(),
  source: v.string(),
  originator: NullableString,
  preview: v.string(),
  createdAt: v.number(),
  createdAtMs: v.number(),
  updatedAt: NullableNumber,
  status: CodexThreadStatusSchema,
  ephemeral: v.boolean(),
  path: NullableString,
  name: NullableString,
  sessionId: NullableString,
  parentThreadId: NullableString,
  cliVersion: NullableString,
});

const CodexTurnInfoSchema = v.object({
  id: v.string(),
  status: v.string(),
  errorMessage: NullableString,
  startedAt: NullableNumber,
  completedAt: NullableNumber,
  durationMs: NullableNumber,
});

const EventBase = { receivedAt: v.number(), emittedAtMs: NullableNumber };

/** CodexAppServerEvent on the wire: `disconnected` carries its error as {kind, message, code}. */
export const CodexWireEventSchema = v.variant("type", [
  v.object({ type: v.literal("connected"), receivedAt: v.number(), userAgent: v.string(), codexHome: v.string(), socketPath: v.string() }),
  v.object({
    type: v.literal("disconnected"),
    receivedAt: v.number(),
    error: v.object({ kind: v.string(), message: v.string(), code: v.optional(v.number()) }),
  }),
  v.object({ ...EventBase, type: v.literal("thread/status/changed"), threadId: v.string(), status: CodexThreadStatusSchema }),
  v.object({ ...EventBase, type: v.literal("thread/started"), thread: CodexThreadInfoSchema }),
  v.object({ ...EventBase, type: v.literal("thread/closed"), threadId: v.string() }),
  v.object({ ...EventBase, type: v.literal("turn/started"), threadId: v.string(), turn: CodexTurnInfoSchema }),
  v.object({ ...EventBase, type: v.literal("turn/completed"), threadId: v.string(), turn: CodexTurnInfoSchema }),
  v.object({ ...EventBase, type: v.literal("notification"), method: v.string(), params: v.unknown() }),
]);
export type CodexWireEvent = v.InferOutput<typeof CodexWireEventSchema>;

const TurnEndKindSchema = v.picklist(["completed", "error", "interrupted"]);
/** src/adapters/codex/rollout.ts LastTurn, or null (unreadable). */
export const LastTurnSchema = v.nullable(
  v.variant("kind", [
    v.object({ kind: v.literal("none") }),
    v.object({ kind: v.literal("in_progress"), turnId: NullableString, at: NullableNumber }),
    v.object({
      kind: v.literal("ended"),
      end: v.object({ kind: TurnEndKindSchema, turnId: NullableString, at: NullableNumber, reason: NullableString, errorMessage: NullableString }),
    }),
  ]),
);

// ---------------------------------------------------------------------------
// Relay -> daemon

export const HelloSchema = v.object({
  k: v.literal("hello"),
  v: Int,
  version: v.string(),
  pid: Int,
  os: v.string(),
  arch: v.string(),
  spool_dir: v.string(),
  files: v.array(v.object({ file: DrainFile, size: Offset })),
  tmux_socket: v.nullable(v.string()),
  /** the relay's heartbeat period (an addition: the client derives its timeout from it) */
  heartbeat_ms: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1))),
});

export const SpoolBatchSchema = v.object({
  k: v.literal("spool"),
  file: DrainFile,
  start: Offset,
  end: Offset,
  lines: v.pipe(v.array(v.string()), v.maxLength(MAX_BATCH_LINES)),
});

const RelaySchemas = {
  hello: HelloSchema,
  spool: SpoolBatchSchema,
  spool_reset: v.object({ k: v.literal("spool_reset"), file: DrainFile, size: Offset, had: Offset }),
  spool_deleted: v.object({ k: v.literal("spool_deleted"), file: DrainFile }),
  control: v.object({ k: v.literal("control"), session: Session, kind: v.pipe(v.string(), v.minLength(1)) }),
  /** an addition: the control client is attached (tmux now counts it in #{session_attached}) */
  control_ready: v.object({ k: v.literal("control_ready"), session: Session }),
  control_exit: v.object({ k: v.literal("control_exit"), session: Session, reason: v.optional(v.string()), message: v.optional(v.string()) }),
  tail: v.object({ k: v.literal("tail"), id: Id, offset: Offset, data: v.string(), size: Offset }),
  tail_error: v.object({ k: v.literal("tail_error"), id: Id, message: v.string(), code: v.string() }),
  tail_reset: v.object({ k: v.literal("tail_reset"), id: Id, size: Offset }),
  codex: v.object({ k: v.literal("codex"), ev: CodexWireEventSchema }),
  rpc_result: v.union([
    v.object({ k: v.literal("rpc_result"), id: Int, ok: v.literal(true), result: v.unknown() }),
    v.object({ k: v.literal("rpc_result"), id: Int, ok: v.literal(false), error: v.object({ code: v.string(), message: v.string() }) }),
  ]),
  heartbeat: v.object({ k: v.literal("heartbeat"), t: v.number(), seq: Int }),
  log: v.object({ k: v.literal("log"), level: LogLevel, message: v.string(), data: v.optional(v.record(v.string(), v.unknown())) }),
} as const;

type RelaySchemaMap = typeof RelaySchemas;
export type RelayMessage = { [K in keyof RelaySchemaMap]: v.InferOutput<RelaySchemaMap[K]> }[keyof RelaySchemaMap];
export type RelayMessageOf<K extends RelayMessage["k"]> = Extract<RelayMessage, { k: K }>;
export type Hello = v.InferOutput<typeof HelloSchema>;
export type SpoolBatchMessage = v.InferOutput<typeof SpoolBatchSchema>;

// ---------------------------------------------------------------------------
// Daemon -> relay

export const RPC_METHODS = ["codex.loadedThreads", "codex.readThread", "codex.readLastTurn", "ping"] as const;
export type RpcMethod = (typeof RPC_METHODS)[number];

const DaemonSchemas = {
  start: v.object({ op: v.literal("start"), spool: v.record(v.string(), Offset) }),
  spool_delete: v.object({ op: v.literal("spool_delete"), file: DrainFile, size: Offset }),
  control_start: v.object({ op: v.literal("control_start"), session: Session }),
  control_stop: v.object({ op: v.literal("control_stop"), session: Session }),
  tail_start: v.object({ op: v.literal("tail_start"), id: Id, path: v.pipe(v.string(), v.minLength(1)), offset: Int }),
  tail_stop: v.object({ op: v.literal("tail_stop"), id: Id }),
  rpc: v.object({ op: v.literal("rpc"), id: Int, method: v.picklist(RPC_METHODS), params: v.optional(v.record(v.string(), v.unknown())) }),
  codex_start: v.object({ op: v.literal("codex_start") }),
  codex_stop: v.object({ op: v.literal("codex_stop") }),
  /** an addition: the daemon's keepalive; a relay that hears nothing for --idle-exit ms exits (a blackholed channel) */
  heartbeat: v.object({ op: v.literal("heartbeat"), t: v.number() }),
} as const;

type DaemonSchemaMap = typeof DaemonSchemas;
export type DaemonOp = { [K in keyof DaemonSchemaMap]: v.InferOutput<DaemonSchemaMap[K]> }[keyof DaemonSchemaMap];
export type DaemonOpOf<K extends DaemonOp["op"]> = Extract<DaemonOp, { op: K }>;

export const RpcParamSchemas = {
  "codex.loadedThreads": v.object({}),
  "codex.readThread": v.object({ threadId: v.pipe(v.string(), v.minLength(1)) }),
  "codex.readLastTurn": v.object({ path: v.pipe(v.string(), v.minLength(1)) }),
  ping: v.object({}),
} as const satisfies Record<RpcMethod, v.GenericSchema>;

export const RpcResultSchemas = {
  "codex.loadedThreads": v.array(v.string()),
  "codex.readThread": CodexThreadInfoSchema,
  "codex.readLastTurn": LastTurnSchema,
  ping: v.object({ t: v.number(), pid: Int }),
} as const satisfies Record<RpcMethod, v.GenericSchema>;
export type RpcResult<M extends RpcMethod> = v.InferOutput<(typeof RpcResultSchemas)[M]>;

// ---------------------------------------------------------------------------
// Parsing

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

/** Largest line either side accepts (a 1 MiB batch, JSON-escaped, plus slack). */
export const MAX_LINE_CHARS = 8 * 1024 * 1024;

function parseWith<T>(line: string, key: "k" | "op", schemas: Record<string, v.GenericSchema>): Parsed<T> {
  if (line.length > MAX_LINE_CHARS) return { ok: false, error: `line of ${line.length} chars exceeds ${MAX_LINE_CHARS}` };
  let obj: unknown;
  try {
    obj = JSON.parse(line);
  } catch {
    return { ok: false, error: "not JSON" };
  }
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) return { ok: false, error: "not a JSON object" };
  const tag = (obj as Record<string, unknown>)[key];
  if (typeof tag !== "string" || !Object.hasOwn(schemas, tag)) return { ok: false, error: `unknown ${key}: ${typeof tag === "string" ? tag.slice(0, 40) : typeof tag}` };
  const schema = schemas[tag] as v.GenericSchema;
  const r = v.safeParse(schema, obj);
  if (!r.success) {
    const issues = summarizeIssues(r.issues)
      .map((i) => `${i.path === "" ? "" : `${i.path}: `}${i.message}`)
      .join("; ");
    return { ok: false, error: `invalid ${tag}: ${issues}` };
  }
  return { ok: true, value: r.output as T };
}

export function parseRelayMessage(line: string): Parsed<RelayMessage> {
  return parseWith<RelayMessage>(line, "k", RelaySchemas);
}

export function parseDaemonOp(line: string): Parsed<DaemonOp> {
  return parseWith<DaemonOp>(line, "op", DaemonSchemas);
}

/** One protocol line (with its newline). */
export function encodeLine(msg: RelayMessage | DaemonOp): string {
  return `${JSON.stringify(msg)}\n`;
}
