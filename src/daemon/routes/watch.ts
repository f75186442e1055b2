/**
 * GET /v1/watch (contracts §8): NDJSON (one flushed line per event) or SSE
 * (`Accept: text/event-stream`), or one JSON response with `once=1`. The
 * stream is the hub's deltas filtered to the query; see src/wire/watch.ts.
 */
import * as v from "valibot";
import { AgtmuxError } from "../../domain/errors.ts";
import { summarizeIssues } from "../../domain/event.ts";
import { PANE_SORTS, GROUP_SORTS } from "../../domain/views.ts";
import { iso } from "../../domain/time.ts";
import { API_SCHEMA_VERSION } from "../../wire/types.ts";
import { WATCH_SCOPES, type WatchLine, type WatchResponse, formatCursor, parseCursor } from "../../wire/watch.ts";
import type { DaemonContext } from "../context.ts";
import { json } from "../http.ts";
import { type ClientSpec, Subscription, type WatchHub } from "../watch-hub.ts";
import { QUERY_ENTRIES, rawQuery, scopeOf } from "./list.ts";

const flag = v.optional(
  v.pipe(
    v.picklist(["", "1", "0", "true", "false"], "must be true or false"),
    v.transform((s) => s === "" || s === "1" || s === "true"),
  ),
);

const WatchQuerySchema = v.strictObject({
  ...QUERY_ENTRIES,
  scope: v.optional(v.picklist(WATCH_SCOPES, `must be one of ${WATCH_SCOPES.join("|")}`)),
  cursor: v.optional(v.pipe(v.string(), v.maxLength(200))),
  once: flag,
  /** heartbeat period for this stream (ms, ≥ 100); default from the config */
  heartbeat_ms: v.optional(v.pipe(v.string(), v.regex(/^[0-9]{3,7}$/, "must be 100..9999999 (ms)"))),
});

function hubOf(ctx: DaemonContext): WatchHub {
  if (ctx.watch === undefined) throw new AgtmuxError("E_SHUTTING_DOWN", "the watch stream is not running", {});
  return ctx.watch;
}

export function getWatch(ctx: DaemonContext, req: Request, url: URL): Response {
  const r = v.safeParse(WatchQuerySchema, rawQuery(url));
  if (!r.success) {
    const issues = summarizeIssues(r.issues);
    throw new AgtmuxError("E_BAD_REQUEST", `invalid query: ${issues[0]?.path ?? ""} ${issues[0]?.message ?? ""}`.trim(), { issues });
  }
  const q = r.output;
  if (q.ref !== undefined) throw new AgtmuxError("E_BAD_REQUEST", "ref applies to /v1/panes only", { issues: [{ path: "ref", message: "not supported here" }] });
  if (q.group_by === "session-name") {
    throw new AgtmuxError("E_BAD_REQUEST", "group_by=session-name is not available on the watch stream (its deltas are per target/session); use GET /v1/sessions", {
      issues: [{ path: "group_by", message: "not supported here" }],
    });
  }
  const hub = hubOf(ctx);
  const scope = q.scope ?? "panes";
  const s = scopeOf(ctx, q);
  const sorts: readonly string[] = scope === "panes" ? PANE_SORTS : GROUP_SORTS;
  const sort = q.sort ?? "target";
  if (!sorts.includes(sort)) throw new AgtmuxError("E_BAD_REQUEST", `sort must be one of ${sorts.join("|")}`, { issues: [{ path: "sort", message: `must be one of ${sorts.join("|")}` }] });
  const filters = { ...s.scope, state: q.state ?? null, agent: q.agent ?? null, needs_action: q.needs_action === true, all: q.all === true || scope !== "panes" };
  const spec: ClientSpec = {
    scope,
    filters,
    sort,
    echo: { ...s.filters, scope, state: filters.state, agent: filters.agent, needs_action: filters.needs_action, all: filters.all, sort },
  };
  // a browser's EventSource resumes with Last-Event-ID
  const cursorText = q.cursor ?? req.headers.get("last-event-id") ?? undefined;
  hub.flush(); // what is committed is in the stream before we answer
  let start: ConstructorParameters<typeof Subscription>[2] = { kind: "snapshot" };
  if (cursorText !== undefined && cursorText !== "") {
    const c = parseCursor(cursorText);
    if (c === null) throw new AgtmuxError("E_CURSOR_INVALID", "cursor must be <stream_id>:<sequence> as given in a watch line", { cursor: cursorText.slice(0, 200) });
    if (c.stream_id !== hub.streamId) {
      if (q.once === true) throw new AgtmuxError("E_CURSOR_EXPIRED", "the cursor is from another stream (the daemon restarted): start again from a snapshot", { cursor: cursorText, stream_id: hub.streamId });
      start = { kind: "reset", reason: "stream_changed" };
    } else if (c.sequence > hub.sequence) {
      throw new AgtmuxError("E_CURSOR_INVALID", `cursor sequence ${c.sequence} is ahead of this stream (at ${hub.sequence})`, { cursor: cursorText, sequence: hub.sequence });
    } else {
      const deltas = hub.since(c.sequence);
      if (deltas === null) {
        if (q.once === true) throw new AgtmuxError("E_CURSOR_EXPIRED", "the cursor is older than the retained window: start again from a snapshot", { cursor: cursorText, oldest: formatCursor(hub.streamId, hub.oldestResumable) });
        start = { kind: "reset", reason: "cursor_expired" };
      } else start = { kind: "resume", deltas, from: c.sequence };
    }
  }
  const sub = new Subscription(hub, spec, start);
  if (q.once === true) {
    const out: WatchResponse = {
      schema_version: API_SCHEMA_VERSION,
      generated_at: iso(ctx.clock()),
      stream_id: hub.streamId,
      cursor: formatCursor(hub.streamId, hub.sequence),
      scope,
      lines: sub.takeNow(),
    };
    return json(out);
  }
  const sse = (req.headers.get("accept") ?? "").includes("text/event-stream");
  const unsubscribe = hub.subscribe(sub);
  const enc = new TextEncoder();
  const heartbeatMs = q.heartbeat_ms !== undefined ? Math.max(100, Number(q.heartbeat_ms)) : null;
  let beat: ReturnType<typeof setInterval> | undefined;
  if (heartbeatMs !== null) beat = setInterval(() => sub.heartbeat(), heartbeatMs);
  const stop = (): void => {
    if (beat !== undefined) clearInterval(beat);
    unsubscribe();
    sub.cancel();
  };
  req.signal.addEventListener("abort", stop, { once: true });
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const lines = await sub.next();
        if (lines.length === 0) {
          stop();
          controller.close();
          return;
        }
        controller.enqueue(enc.encode(lines.map((l) => (sse ? sseFrame(l) : `${JSON.stringify(l)}\n`)).join("")));
      },
      cancel() {
        stop();
      },
    },
    { highWaterMark: 0 },
  );
  return new Response(body, {
    headers: {
      "content-type": sse ? "text/event-stream; charset=utf-8" : "application/x-ndjson; charset=utf-8",
      "cache-control": "no-store",
      "x-accel-buffering": "no",
    },
  });
}

function sseFrame(l: WatchLine): string {
  return `event: ${l.type}\nid: ${l.cursor}\ndata: ${JSON.stringify(l)}\n\n`;
}
