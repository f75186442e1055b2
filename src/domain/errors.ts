/**
 * Stable error codes (contracts §11) plus the transport-level codes this
 * implementation adds (documented in docs/api.md, "Error codes"). The code is
 * the contract; messages are for humans and may change.
 */
export const CONTRACT_ERROR_CODES = [
  "E_REF_INVALID",
  "E_REF_INVALID_ENCODING",
  "E_REF_NOT_FOUND",
  "E_REF_AMBIGUOUS",
  "E_RUNTIME_STALE",
  "E_PRECONDITION_FAILED",
  "E_SNAPSHOT_EXPIRED",
  "E_IDEMPOTENCY_CONFLICT",
  "E_CURSOR_INVALID",
  "E_CURSOR_EXPIRED",
  "E_PID_UNAVAILABLE",
  "E_TARGET_UNREACHABLE",
] as const;

/** Additions (docs/api.md): request/transport problems and daemon lifecycle. */
export const EXTRA_ERROR_CODES = [
  "E_BAD_REQUEST", // malformed JSON, schema violation
  "E_UNSUPPORTED_MEDIA_TYPE",
  "E_PAYLOAD_TOO_LARGE",
  "E_NOT_FOUND", // unknown route
  "E_METHOD_NOT_ALLOWED",
  "E_SHUTTING_DOWN",
  "E_DAEMON_UNREACHABLE",
  "E_DAEMON_RUNNING", // a second daemon while one holds the lock
  "E_STORE", // database unusable (corrupt, unwritable, newer schema)
  "E_USAGE", // CLI usage error
  "E_TARGET_EXISTS", // target add under a taken name with other settings
  "E_INTERNAL",
] as const;

export type ErrorCode = (typeof CONTRACT_ERROR_CODES)[number] | (typeof EXTRA_ERROR_CODES)[number];

export interface ErrorEnvelope {
  code: ErrorCode;
  message: string;
  details: Record<string, unknown>;
}

export class AgtmuxError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;
  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = "AgtmuxError";
    this.code = code;
    this.details = details;
  }
  toEnvelope(): ErrorEnvelope {
    return { code: this.code, message: this.message, details: this.details };
  }
}

/** One table: code -> HTTP status. */
export const HTTP_STATUS: Record<ErrorCode, number> = {
  E_REF_INVALID: 400,
  E_REF_INVALID_ENCODING: 400,
  E_REF_NOT_FOUND: 404,
  E_REF_AMBIGUOUS: 409,
  E_RUNTIME_STALE: 409,
  E_PRECONDITION_FAILED: 412,
  E_SNAPSHOT_EXPIRED: 409,
  E_IDEMPOTENCY_CONFLICT: 409,
  E_CURSOR_INVALID: 400,
  E_CURSOR_EXPIRED: 410,
  E_PID_UNAVAILABLE: 409,
  E_TARGET_UNREACHABLE: 503,
  E_BAD_REQUEST: 400,
  E_UNSUPPORTED_MEDIA_TYPE: 415,
  E_PAYLOAD_TOO_LARGE: 413,
  E_NOT_FOUND: 404,
  E_METHOD_NOT_ALLOWED: 405,
  E_SHUTTING_DOWN: 503,
  E_DAEMON_UNREACHABLE: 503,
  E_DAEMON_RUNNING: 409,
  E_STORE: 500,
  E_USAGE: 400,
  E_TARGET_EXISTS: 409,
  E_INTERNAL: 500,
};

/** CLI exit codes (docs/cli.md): 0 ok, 1 failure, 2 usage, 3 daemon unreachable, 130 interrupted. */
export const EXIT = { ok: 0, failure: 1, usage: 2, unreachable: 3, interrupted: 130 } as const;

export function exitCodeFor(code: ErrorCode): number {
  if (code === "E_USAGE") return EXIT.usage;
  if (code === "E_DAEMON_UNREACHABLE") return EXIT.unreachable;
  return EXIT.failure;
}

/**
 * Exit codes of the action commands (attach, send, view-output, kill, actions;
 * docs/cli-actions.md): a script can tell "the ref names nothing" from "refused
 * because the pane changed" from "the host is down" without parsing text.
 * Only these commands use it; every other command keeps exitCodeFor.
 */
export const ACTION_EXIT = { ...EXIT, ref: 4, refused: 5, target_unreachable: 6, idempotency_conflict: 7, pid_unavailable: 8 } as const;

/** One row per code (the compiler checks that every code has one). */
const ACTION_EXIT_CODES: Record<ErrorCode, number> = {
  E_REF_INVALID: ACTION_EXIT.ref,
  E_REF_INVALID_ENCODING: ACTION_EXIT.ref,
  E_REF_NOT_FOUND: ACTION_EXIT.ref,
  E_REF_AMBIGUOUS: ACTION_EXIT.ref,
  E_RUNTIME_STALE: ACTION_EXIT.refused,
  E_PRECONDITION_FAILED: ACTION_EXIT.refused,
  E_SNAPSHOT_EXPIRED: ACTION_EXIT.refused,
  E_TARGET_UNREACHABLE: ACTION_EXIT.target_unreachable,
  E_IDEMPOTENCY_CONFLICT: ACTION_EXIT.idempotency_conflict,
  E_PID_UNAVAILABLE: ACTION_EXIT.pid_unavailable,
  // the request itself was wrong (a flag value the daemon refused, e.g. text with newlines without --paste)
  E_USAGE: ACTION_EXIT.usage,
  E_BAD_REQUEST: ACTION_EXIT.usage,
  E_PAYLOAD_TOO_LARGE: ACTION_EXIT.usage,
  // no daemon to act: not there, or going away (after the retries)
  E_DAEMON_UNREACHABLE: ACTION_EXIT.unreachable,
  E_SHUTTING_DOWN: ACTION_EXIT.unreachable,
  E_CURSOR_INVALID: ACTION_EXIT.failure,
  E_CURSOR_EXPIRED: ACTION_EXIT.failure,
  E_UNSUPPORTED_MEDIA_TYPE: ACTION_EXIT.failure,
  E_NOT_FOUND: ACTION_EXIT.failure, // a daemon without the actions API (older binary)
  E_METHOD_NOT_ALLOWED: ACTION_EXIT.failure,
  E_DAEMON_RUNNING: ACTION_EXIT.failure,
  E_STORE: ACTION_EXIT.failure,
  E_TARGET_EXISTS: ACTION_EXIT.failure,
  E_INTERNAL: ACTION_EXIT.failure,
};

/** Exit code of an action command for an error code (0 ok, 1 other, 2 usage, 3 unreachable, 4 ref, 5 refused, 6 target down, 7 idempotency, 8 pid). */
export function actionExitCodeFor(code: ErrorCode): number {
  return ACTION_EXIT_CODES[code] ?? ACTION_EXIT.failure;
}

export function isErrorCode(s: string): s is ErrorCode {
  return (CONTRACT_ERROR_CODES as readonly string[]).includes(s) || (EXTRA_ERROR_CODES as readonly string[]).includes(s);
}
