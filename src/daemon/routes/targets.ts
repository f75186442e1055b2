/**
 * POST /v1/targets, GET|DELETE /v1/targets/{name}, POST /v1/targets/{name}/connect
 * (contracts §7, §11). The daemon's TargetManager does the work; these only
 * validate and shape.
 */
import * as v from "valibot";
import { AgtmuxError } from "../../domain/errors.ts";
import { summarizeIssues } from "../../domain/event.ts";
import { AddTargetSchema, ConnectTargetSchema, TargetNameSchema, specFromRequest } from "../../domain/target.ts";
import { iso } from "../../domain/time.ts";
import type { RemoveTargetResponse, TargetResponse } from "../../wire/list.ts";
import { API_SCHEMA_VERSION } from "../../wire/types.ts";
import type { DaemonContext } from "../context.ts";
import { json, readJsonBody } from "../http.ts";
import type { TargetManager } from "../targets.ts";
import { targetItem } from "./list.ts";

function parse<S extends v.GenericSchema>(schema: S, body: unknown, what: string): v.InferOutput<S> {
  const r = v.safeParse(schema, body);
  if (!r.success) {
    const issues = summarizeIssues(r.issues);
    throw new AgtmuxError("E_BAD_REQUEST", `invalid ${what}: ${issues[0]?.path ?? ""} ${issues[0]?.message ?? ""}`.trim(), { issues });
  }
  return r.output;
}

function manager(ctx: DaemonContext): TargetManager {
  if (ctx.targets === undefined) throw new AgtmuxError("E_SHUTTING_DOWN", "target workers are not running", {});
  return ctx.targets;
}

function name(raw: string): string {
  return parse(TargetNameSchema, raw, "target name");
}

function targetResponse(ctx: DaemonContext, id: string, extra: Pick<TargetResponse, "probe"> & { created?: boolean }): TargetResponse {
  const row = ctx.store.getTarget(id);
  if (row === null) throw new AgtmuxError("E_REF_NOT_FOUND", `unknown target: ${id}`, { target: id });
  return { schema_version: API_SCHEMA_VERSION, generated_at: iso(ctx.clock()), target: targetItem(ctx, row), ...extra };
}

export async function postTarget(ctx: DaemonContext, req: Request): Promise<Response> {
  const body = parse(AddTargetSchema, await readJsonBody(req, ctx.config.maxBodyBytes), "target");
  const spec = specFromRequest(body);
  const r = await manager(ctx).add(spec, { connect: body.connect ?? true, acceptNewHostKey: body.accept_new_host_key ?? false });
  return json(targetResponse(ctx, spec.target_id, { created: r.created, probe: r.probe }), r.created ? 201 : 200);
}

export function getTarget(ctx: DaemonContext, raw: string): Response {
  return json(targetResponse(ctx, name(raw), { probe: null }));
}

export async function postConnect(ctx: DaemonContext, req: Request, raw: string): Promise<Response> {
  const id = name(raw);
  const text = await req.text();
  const body = parse(ConnectTargetSchema, text.trim() === "" ? {} : safeJson(text), "connect request");
  const probe = await manager(ctx).connect(id, { acceptNewHostKey: body.accept_new_host_key ?? false });
  return json(targetResponse(ctx, id, { probe }));
}

export async function deleteTarget(ctx: DaemonContext, raw: string, _url: URL): Promise<Response> {
  const id = name(raw);
  const r = await manager(ctx).remove(id);
  const body: RemoveTargetResponse = { schema_version: API_SCHEMA_VERSION, generated_at: iso(ctx.clock()), target: id, removed: true, panes_forgotten: r.panes };
  return json(body);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new AgtmuxError("E_BAD_REQUEST", "the request body is not valid JSON", {});
  }
}
