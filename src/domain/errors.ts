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

export function isErrorCode(s: string): s is ErrorCode {
  return (CONTRACT_ERROR_CODES as readonly string[]).includes(s) || (EXTRA_ERROR_CODES as readonly string[]).includes(s);
}
