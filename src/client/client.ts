/**
 * The one client of the daemon API (CLI, hooks and tests all use it). It only
 * knows the wire types; it never imports the daemon.
 */
import { AgtmuxError, isErrorCode } from "../domain/errors.ts";
import type {
  ActionResponse,
  ActionType,
  ActionsResponse,
  AttachRequest,
  AttachResult,
  KillRequest,
  KillResult,
  SendRequest,
  SendResult,
  ViewOutputRequest,
  ViewOutputResult,
} from "../wire/actions.ts";
import type { ExplainResponse } from "../wire/explain.ts";
import type {
  ListResponse,
  PaneItem,
  RemoveTargetResponse,
  SessionItem,
  SessionNameItem,
  TargetResponse,
  TargetsResponse,
  WindowItem,
} from "../wire/list.ts";
import type { EventsResponse, HealthResponse } from "../wire/types.ts";
import type { WatchResponse, WatchScope } from "../wire/watch.ts";

/** POST /v1/targets (contracts §7 `target add`). */
export interface AddTargetBody {
  name: string;
  kind: "local" | "ssh";
  ssh_target?: string;
  tmux_socket?: string;
  agtmux_path?: string;
  accept_new_host_key?: boolean;
  connect?: boolean;
}

/** connect timeout 3 s × 3 attempts + backoff + a scan: well inside this */
const TARGET_OP_TIMEOUT_MS = 30_000;

/** Query of the read API; every key maps 1:1 to a CLI flag (contracts §7). */
export interface ListQuery {
  target?: string[] | undefined;
  all_targets?: boolean | undefined;
  target_session?: string | undefined;
  session?: string | undefined;
  state?: string | undefined;
  agent?: string | undefined;
  needs_action?: boolean | undefined;
  all?: boolean | undefined;
  sort?: string | undefined;
  with_agent_status?: boolean | undefined;
  agent_summary?: boolean | undefined;
  group_by?: string | undefined;
  ref?: string | undefined;
}

export function listQueryString(q: ListQuery): string {
  const p = new URLSearchParams();
  for (const [k, val] of Object.entries(q)) {
    if (val === undefined || val === false) continue;
    if (Array.isArray(val)) for (const x of val) p.append(k, String(x));
    else p.append(k, val === true ? "1" : String(val));
  }
  const s = p.toString();
  return s === "" ? "" : `?${s}`;
}

/** Query of `GET /v1/watch`: a scope plus the read API's filters (no `ref`). */
export interface WatchQuery extends Omit<ListQuery, "ref"> {
  scope?: WatchScope | undefined;
}

/** `/v1/watch?scope=…&<list filters>[&cursor=…][&once=1]` */
export function watchPath(q: WatchQuery, o: { cursor?: string | undefined; once?: boolean } = {}): string {
  const { scope, ...filters } = q;
  const p = new URLSearchParams(listQueryString(filters).slice(1));
  if (scope !== undefined) p.set("scope", scope);
  if (o.cursor !== undefined) p.set("cursor", o.cursor);
  if (o.once === true) p.set("once", "1");
  const s = p.toString();
  return s === "" ? "/v1/watch" : `/v1/watch?${s}`;
}

export const DEFAULT_TIMEOUT_MS = 5_000;
/** an action re-scans its target first (an ssh round trip or more) and a send may paste 1 MiB */
export const ACTION_TIMEOUT_MS = 30_000;

/** The request body of each action type (contracts §10, src/wire/actions.ts). */
export interface ActionBodies {
  attach: AttachRequest;
  send: SendRequest;
  "view-output": ViewOutputRequest;
  kill: KillRequest;
}

/** What each action type answers in `result`. */
export interface ActionResults {
  attach: AttachResult;
  send: SendResult;
  "view-output": ViewOutputResult;
  kill: KillResult;
}

export interface ClientOptions {
  socket: string;
  timeoutMs?: number;
}

export class AgtmuxClient {
  readonly socket: string;
  private readonly timeoutMs: number;
  constructor(o: ClientOptions) {
    this.socket = o.socket;
    this.timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  async request<T>(method: string, path: string, body?: unknown, opts: { timeoutMs?: number } = {}): Promise<T> {
    let res: Response;
    try {
      const init: RequestInit & { unix: string } = {
        method,
        unix: this.socket,
        signal: AbortSignal.timeout(opts.timeoutMs ?? this.timeoutMs),
      };
      if (body !== undefined) {
        init.body = JSON.stringify(body);
        init.headers = { "content-type": "application/json" };
      }
      res = await fetch(`http://agtmux${path}`, init);
    } catch (err) {
      throw unreachable(this.socket, err);
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text === "" ? {} : JSON.parse(text);
    } catch {
      throw new AgtmuxError("E_INTERNAL", `daemon answered ${res.status} with non-JSON`, { status: res.status });
    }
    if (!res.ok) throw fromEnvelope(parsed, res.status);
    return parsed as T;
  }

  health(opts: { timeoutMs?: number } = {}): Promise<HealthResponse> {
    return this.request<HealthResponse>("GET", "/v1/health", undefined, opts);
  }

  postEvents(events: unknown[], opts: { timeoutMs?: number } = {}): Promise<EventsResponse> {
    return this.request<EventsResponse>("POST", "/v1/events", { events }, opts);
  }

  panes(q: ListQuery = {}): Promise<ListResponse<PaneItem>> {
    return this.request("GET", `/v1/panes${listQueryString(q)}`);
  }

  windows(q: ListQuery = {}): Promise<ListResponse<WindowItem>> {
    return this.request("GET", `/v1/windows${listQueryString(q)}`);
  }

  sessions(q: ListQuery = {}): Promise<ListResponse<SessionItem | SessionNameItem>> {
    return this.request("GET", `/v1/sessions${listQueryString(q)}`);
  }

  explain(ref: string): Promise<ExplainResponse> {
    return this.request("GET", `/v1/explain?ref=${encodeURIComponent(ref)}`);
  }

  targets(): Promise<TargetsResponse> {
    return this.request("GET", "/v1/targets");
  }

  /** Adds (and, unless connect is false, reaches) a target; waits for the probe (ssh: connect timeout + retries). */
  addTarget(body: AddTargetBody): Promise<TargetResponse> {
    return this.request("POST", "/v1/targets", body, { timeoutMs: TARGET_OP_TIMEOUT_MS });
  }

  connectTarget(name: string, body: { accept_new_host_key?: boolean } = {}): Promise<TargetResponse> {
    return this.request("POST", `/v1/targets/${encodeURIComponent(name)}/connect`, body, { timeoutMs: TARGET_OP_TIMEOUT_MS });
  }

  removeTarget(name: string): Promise<RemoveTargetResponse> {
    return this.request("DELETE", `/v1/targets/${encodeURIComponent(name)}`, undefined, { timeoutMs: TARGET_OP_TIMEOUT_MS });
  }

  /**
   * `GET /v1/watch?once=1` (response mode): the snapshot, or with a cursor
   * the deltas after it (E_CURSOR_EXPIRED / E_CURSOR_INVALID otherwise).
   * The stream itself is in ./watch.ts.
   */
  watchOnce(q: WatchQuery = {}, opts: { cursor?: string | undefined; timeoutMs?: number } = {}): Promise<WatchResponse> {
    return this.request("GET", watchPath(q, { cursor: opts.cursor, once: true }), undefined, opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs });
  }

  /**
   * `POST /v1/actions/{type}`. The daemon is idempotent by (type, request_ref):
   * repeating the same body with the same request_ref replays the stored answer.
   */
  action<T extends ActionType>(type: T, body: ActionBodies[T], opts: { timeoutMs?: number } = {}): Promise<ActionResponse<ActionResults[T]>> {
    return this.request("POST", `/v1/actions/${type}`, body, { timeoutMs: opts.timeoutMs ?? ACTION_TIMEOUT_MS });
  }

  /** `GET /v1/actions?limit=N`: the audit trail, newest first. */
  actions(limit?: number): Promise<ActionsResponse> {
    return this.request("GET", limit === undefined ? "/v1/actions" : `/v1/actions?limit=${limit}`);
  }

  /** true when a daemon answers on the socket */
  async ping(timeoutMs = 1_000): Promise<boolean> {
    try {
      await this.health({ timeoutMs });
      return true;
    } catch {
      return false;
    }
  }
}

/** The socket could not be reached (or did not answer in time): E_DAEMON_UNREACHABLE, exit 3. */
export function unreachable(socket: string, err: unknown): AgtmuxError {
  const e = err as { code?: string; name?: string; message?: string } | null;
  const cause = e?.name === "TimeoutError" ? "timed out" : (e?.code ?? e?.message ?? String(err));
  return new AgtmuxError("E_DAEMON_UNREACHABLE", `agtmux daemon is not reachable at ${socket} (${cause})`, { socket, cause });
}

/** The daemon's error envelope as our typed error (E_INTERNAL when the body is not one). */
export function fromEnvelope(body: unknown, status: number): AgtmuxError {
  const env = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } } | null)?.error;
  if (env !== undefined && typeof env.code === "string" && isErrorCode(env.code)) {
    const details = env.details !== null && typeof env.details === "object" ? (env.details as Record<string, unknown>) : {};
    return new AgtmuxError(env.code, typeof env.message === "string" ? env.message : env.code, details);
  }
  return new AgtmuxError("E_INTERNAL", `daemon answered HTTP ${status}`, { status });
}
