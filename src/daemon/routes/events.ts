import * as v from "valibot";
import { AgtmuxError } from "../../domain/errors.ts";
import { BatchSchema, type Envelope, EnvelopeSchema, type IngestStatus, summarizeIssues } from "../../domain/event.ts";
import { iso } from "../../domain/time.ts";
import { API_SCHEMA_VERSION, type EventsResponse } from "../../wire/types.ts";
import type { DaemonContext } from "../context.ts";
import { json, readJsonBody } from "../http.ts";

/**
 * POST /v1/events: a batch of envelope-v1 events. The whole batch is validated
 * first; any invalid event rejects the batch (400, nothing written) with the
 * index and field of each problem. Valid batches commit in one transaction
 * and get a per-event result.
 */
export async function postEvents(ctx: DaemonContext, req: Request): Promise<Response> {
  const body = await readJsonBody(req, ctx.config.maxBodyBytes);
  const envelopes = parseBatch(body);
  const results = ctx.ingestor.ingest(envelopes.map((envelope) => ({ envelope })));
  const summary: Partial<Record<IngestStatus, number>> = {};
  for (const r of results) summary[r.status] = (summary[r.status] ?? 0) + 1;
  const out: EventsResponse = { schema_version: API_SCHEMA_VERSION, generated_at: iso(ctx.clock()), results, summary };
  return json(out);
}

/** Accepts `{events:[...]}`, a bare array, or one envelope object. */
export function parseBatch(body: unknown): Envelope[] {
  const wrapped = Array.isArray(body) ? { events: body } : body !== null && typeof body === "object" && "events" in body ? body : { events: [body] };
  const b = v.safeParse(BatchSchema, wrapped);
  if (!b.success) throw new AgtmuxError("E_BAD_REQUEST", "invalid event batch", { issues: summarizeIssues(b.issues) });
  const list = b.output.events;
  const out: Envelope[] = [];
  const issues: Array<{ index: number; path: string; message: string }> = [];
  list.forEach((item, index) => {
    const r = v.safeParse(EnvelopeSchema, item);
    if (r.success) out.push(r.output);
    else for (const i of summarizeIssues(r.issues)) issues.push({ index, ...i });
  });
  if (issues.length > 0) {
    throw new AgtmuxError("E_BAD_REQUEST", `invalid event${list.length > 1 ? "s" : ""}: ${issues[0]?.path || "event"} ${issues[0]?.message ?? ""}`.trim(), {
      issues: issues.slice(0, 50),
    });
  }
  return out;
}
