/**
 * POST /v1/actions/{attach|send|view-output|kill} and GET /v1/actions
 * (contracts §10, §11). The ActionService does the work.
 */
import { AgtmuxError } from "../../domain/errors.ts";
import { iso } from "../../domain/time.ts";
import { ACTION_TYPES, type ActionType, type ActionsResponse } from "../../wire/actions.ts";
import { API_SCHEMA_VERSION } from "../../wire/types.ts";
import { ActionService } from "../actions.ts";
import type { DaemonContext } from "../context.ts";
import { json, readJsonBody } from "../http.ts";

/** `send --stdin` may carry 1 MiB of text: room for it plus JSON escaping */
const ACTION_BODY_MAX = 4 * 1024 * 1024;

const services = new WeakMap<DaemonContext, ActionService>();
function service(ctx: DaemonContext): ActionService {
  let s = services.get(ctx);
  if (s === undefined) {
    s = new ActionService(ctx);
    services.set(ctx, s);
  }
  return s;
}

export async function postAction(ctx: DaemonContext, req: Request, rawType: string): Promise<Response> {
  if (!(ACTION_TYPES as readonly string[]).includes(rawType)) {
    throw new AgtmuxError("E_NOT_FOUND", `no such action: ${rawType.slice(0, 40)} (one of ${ACTION_TYPES.join(", ")})`, {});
  }
  const type = rawType as ActionType;
  const s = service(ctx);
  const body = s.parse(type, await readJsonBody(req, Math.max(ctx.config.maxBodyBytes, ACTION_BODY_MAX)));
  return json(await s.run(type, body));
}

export function getActions(ctx: DaemonContext, url: URL): Response {
  const raw = url.searchParams.get("limit") ?? "50";
  const limit = Number(raw);
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > 10_000) throw new AgtmuxError("E_BAD_REQUEST", "limit must be 1..10000", { issues: [{ path: "limit", message: "must be 1..10000" }] });
  for (const k of url.searchParams.keys()) if (k !== "limit") throw new AgtmuxError("E_BAD_REQUEST", `unknown parameter ${k}`, { issues: [{ path: k, message: "unknown" }] });
  const body: ActionsResponse = { schema_version: API_SCHEMA_VERSION, generated_at: iso(ctx.clock()), items: service(ctx).list(limit) };
  return json(body);
}
