/**
 * A fake Anthropic Messages API for driving the real Claude Code CLI offline
 * (loopback only). `POST /v1/messages` answers from a script: a text reply, a
 * tool_use block (e.g. `Bash` with a command), an HTTP error with Anthropic's
 * error body, a slow stream that keeps sending deltas for N seconds, or a reply
 * held open until `release()`. Streams (SSE) when the request says
 * `stream: true`, else answers one JSON message.
 *
 * Main turns vs other requests (`classifyRequest`, checked against 2.1.330):
 * - "main": carries the agent's tool definitions (a `tools` array with `Bash`)
 *   and is not a subagent's. Only these advance the script (`ctx.mainIndex`).
 * - "subagent": the same, but the system prompt's billing line says
 *   `cc_is_subagent=true` (a subagent started with the Agent tool); answered
 *   by `subagentReply` (default: a short text).
 * - "side": a /v1/messages request without the Bash tool: the session title
 *   (haiku model, "You are naming a coding session", JSON `{"title"}`
 *   expected; only without CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC) and any
 *   other helper query; answered by `sideReply` (default: defaultSideReply).
 * - "count_tokens", "models", "other" (e.g. `HEAD /api/hello`, a connectivity
 *   probe: 404). Every request to any path is recorded.
 */

export type ReplyStep =
  /** one text block; `chunks` deltas, `delayMs` between them */
  | { kind: "text"; text: string; chunks?: number; delayMs?: number }
  /** an optional text block, then one tool_use block; stop_reason "tool_use" */
  | { kind: "tool_use"; name: string; input: Record<string, unknown>; text?: string; id?: string }
  /** an HTTP error with Anthropic's body `{type:"error", error:{type, message}}` */
  | { kind: "error"; status: number; errorType?: string; message?: string; headers?: Record<string, string> }
  /** a text block whose deltas keep coming every `intervalMs` for `seconds`, then end_turn */
  | { kind: "slow"; seconds: number; intervalMs?: number; text?: string }
  /** waits for `release(name)` (or `release()`), then answers `next`; streams message_start and pings meanwhile */
  | { kind: "hold"; name?: string; next: ReplyStep }
  /** the stream breaks after message_start (the connection is closed mid-response) */
  | { kind: "drop" };

export function text(t: string, opts: { chunks?: number; delayMs?: number } = {}): ReplyStep {
  return { kind: "text", text: t, ...opts };
}

export function bash(command: string, description = "Run a command", prose?: string): ReplyStep {
  return { kind: "tool_use", name: "Bash", input: { command, description }, ...(prose === undefined ? {} : { text: prose }) };
}

export function toolUse(name: string, input: Record<string, unknown>, prose?: string): ReplyStep {
  return { kind: "tool_use", name, input, ...(prose === undefined ? {} : { text: prose }) };
}

export function apiError(status: number, message?: string): ReplyStep {
  return { kind: "error", status, ...(message === undefined ? {} : { message }) };
}

export function slow(seconds: number, intervalMs = 200): ReplyStep {
  return { kind: "slow", seconds, intervalMs };
}

export function hold(next: ReplyStep, name?: string): ReplyStep {
  return { kind: "hold", next, ...(name === undefined ? {} : { name }) };
}

export type RequestKind = "main" | "subagent" | "side" | "count_tokens" | "models" | "other";

export interface RecordedRequest {
  seq: number;
  /** ms since the epoch */
  time: number;
  method: string;
  path: string;
  query: string;
  headers: Record<string, string>;
  /** parsed JSON body, else the raw text (undefined when empty) */
  body: unknown;
  kind: RequestKind;
  /** for kind "main": the 0-based index of this main request */
  mainIndex?: number;
  /** what the fake answered, e.g. "text", "tool_use:Bash", "error:500" */
  reply?: string;
  status?: number;
  /** the client closed the connection before the reply ended */
  aborted?: boolean;
  /** when the reply was complete or aborted (ms since the epoch) */
  endTime?: number;
}

export interface ScriptContext {
  mainIndex: number;
  body: MessagesBody;
  /** the last role "user" message of the request (the user's prompt or the tool_result) */
  lastMessage: unknown;
  /** true when that message carries a tool_result block */
  isToolResult: boolean;
  /** the text of the last user message (text blocks joined), "" if none */
  lastUserText: string;
}

/** Either a list (the i-th main request gets the i-th step; afterwards `fallback`) or a function. */
export type Script = readonly ReplyStep[] | ((ctx: ScriptContext) => ReplyStep);

export interface FakeAnthropicOptions {
  script?: Script;
  /** reply to main requests past the end of a list script; default text("Done.") */
  fallback?: ReplyStep;
  /** reply to side requests; default defaultSideReply */
  sideReply?: (body: MessagesBody) => ReplyStep;
  /** reply to subagent requests; default text("Subagent done.") */
  subagentReply?: (body: MessagesBody) => ReplyStep;
  /** model name echoed in replies when the request has none */
  model?: string;
}

export interface FakeAnthropic {
  url: string;
  port: number;
  requests: RecordedRequest[];
  /** main requests only */
  mainRequests(): RecordedRequest[];
  /** replaces the script and restarts the main-request count at 0 */
  setScript(script: Script, fallback?: ReplyStep): void;
  /** lets held replies continue (all of them when no name is given) */
  release(name?: string): void;
  /** resolves with the first request (already recorded or future) matching `pred` */
  waitForRequest(pred: (r: RecordedRequest) => boolean, timeoutMs?: number): Promise<RecordedRequest>;
  stop(): Promise<void>;
}

export interface MessagesBody {
  model?: string;
  stream?: boolean;
  max_tokens?: number;
  messages?: unknown[];
  tools?: unknown[];
  system?: unknown;
  metadata?: unknown;
  [k: string]: unknown;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** "main" when the request carries the agent's tools (including Bash); see the file comment. */
export function classifyRequest(method: string, path: string, body: unknown): RequestKind {
  if (method === "POST" && path === "/v1/messages/count_tokens") return "count_tokens";
  if (path.startsWith("/v1/models")) return "models";
  if (method !== "POST" || path !== "/v1/messages" || !isRecord(body)) return "other";
  const tools = body.tools;
  if (!Array.isArray(tools) || !tools.some((t) => isRecord(t) && t.name === "Bash")) return "side";
  return /cc_is_subagent=true/.test(JSON.stringify(body.system ?? "")) ? "subagent" : "main";
}

/**
 * Side requests seen from Claude Code 2.1.330: the session title ("You are naming a coding
 * session…", structured output `{"title": …}`, on the haiku model). Anything that asks for JSON
 * with a "title" gets one; everything else a short text.
 */
export function defaultSideReply(body: MessagesBody): ReplyStep {
  const wire = JSON.stringify([body.system ?? "", body.output_config ?? body.output_format ?? ""]);
  if (/naming a coding session|"title"/.test(wire)) return text(JSON.stringify({ title: "Fake session title" }), { chunks: 1, delayMs: 0 });
  return text("OK", { chunks: 1, delayMs: 0 });
}

/**
 * The last message with role "user" (2.1.330 may put a role "system" message after it: the
 * environment/context reminder on the first request of a turn).
 */
function lastUser(body: MessagesBody): { last: unknown; isToolResult: boolean; text: string } {
  const msgs = Array.isArray(body.messages) ? body.messages : [];
  let last: unknown = undefined;
  for (let i = msgs.length - 1; i >= 0; i--) {
    const m = msgs[i];
    if (isRecord(m) && m.role === "user") {
      last = m;
      break;
    }
  }
  let isToolResult = false;
  const texts: string[] = [];
  if (isRecord(last)) {
    const c = last.content;
    if (typeof c === "string") texts.push(c);
    else if (Array.isArray(c)) {
      for (const b of c) {
        if (!isRecord(b)) continue;
        if (b.type === "tool_result") isToolResult = true;
        if (b.type === "text" && typeof b.text === "string") texts.push(b.text);
      }
    }
  }
  return { last, isToolResult, text: texts.join("\n") };
}

let idCounter = 0;
function newId(prefix: string): string {
  idCounter++;
  return `${prefix}_fake${Date.now().toString(36)}${idCounter.toString().padStart(4, "0")}`;
}

const USAGE = { input_tokens: 12, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 1 };

function sse(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

function splitText(t: string, n: number): string[] {
  if (n <= 1 || t.length <= 1) return [t];
  const size = Math.ceil(t.length / n);
  const out: string[] = [];
  for (let i = 0; i < t.length; i += size) out.push(t.slice(i, i + size));
  return out;
}

function describe(step: ReplyStep): string {
  switch (step.kind) {
    case "text":
      return "text";
    case "tool_use":
      return `tool_use:${step.name}`;
    case "error":
      return `error:${step.status}`;
    case "slow":
      return `slow:${step.seconds}s`;
    case "hold":
      return `hold${step.name === undefined ? "" : `:${step.name}`}>${describe(step.next)}`;
    case "drop":
      return "drop";
  }
}

function errorTypeFor(status: number): string {
  if (status === 400) return "invalid_request_error";
  if (status === 401) return "authentication_error";
  if (status === 403) return "permission_error";
  if (status === 404) return "not_found_error";
  if (status === 413) return "request_too_large";
  if (status === 429) return "rate_limit_error";
  if (status === 529) return "overloaded_error";
  return "api_error";
}

function errorResponse(step: Extract<ReplyStep, { kind: "error" }>): Response {
  const type = step.errorType ?? errorTypeFor(step.status);
  const body = { type: "error", error: { type, message: step.message ?? `fake ${type} (HTTP ${step.status})` }, request_id: newId("req") };
  return new Response(JSON.stringify(body), {
    status: step.status,
    headers: { "content-type": "application/json", "request-id": body.request_id, ...step.headers },
  });
}

/** The content blocks of a final (non-slow) step, for the non-streaming JSON reply. */
function contentOf(step: ReplyStep): { content: Record<string, unknown>[]; stop: string } {
  if (step.kind === "tool_use") {
    const content: Record<string, unknown>[] = [];
    if (step.text !== undefined) content.push({ type: "text", text: step.text });
    content.push({ type: "tool_use", id: step.id ?? newId("toolu"), name: step.name, input: step.input });
    return { content, stop: "tool_use" };
  }
  if (step.kind === "text") return { content: [{ type: "text", text: step.text }], stop: "end_turn" };
  if (step.kind === "slow") return { content: [{ type: "text", text: step.text ?? "Slow reply." }], stop: "end_turn" };
  return { content: [{ type: "text", text: "" }], stop: "end_turn" };
}

export async function startFakeAnthropic(opts: FakeAnthropicOptions = {}): Promise<FakeAnthropic> {
  let script: Script = opts.script ?? [];
  let fallback: ReplyStep = opts.fallback ?? text("Done.");
  const sideReply = opts.sideReply ?? defaultSideReply;
  const subagentReply = opts.subagentReply ?? ((): ReplyStep => text("Subagent done."));
  const requests: RecordedRequest[] = [];
  let mainCount = 0;
  let seq = 0;
  const holds: { name: string | undefined; resolve: () => void }[] = [];
  const waiters: { pred: (r: RecordedRequest) => boolean; resolve: (r: RecordedRequest) => void }[] = [];

  const notify = (r: RecordedRequest): void => {
    for (let i = waiters.length - 1; i >= 0; i--) {
      const w = waiters[i];
      if (w !== undefined && w.pred(r)) {
        waiters.splice(i, 1);
        w.resolve(r);
      }
    }
  };

  const pick = (ctx: ScriptContext): ReplyStep => {
    if (typeof script === "function") return script(ctx);
    return script[ctx.mainIndex] ?? fallback;
  };

  const waitRelease = (name: string | undefined, signal: AbortSignal): Promise<void> =>
    new Promise<void>((resolve) => {
      const entry = { name, resolve };
      holds.push(entry);
      signal.addEventListener("abort", () => {
        const i = holds.indexOf(entry);
        if (i >= 0) holds.splice(i, 1);
        resolve();
      });
    });

  const streamReply = (step: ReplyStep, rec: RecordedRequest, model: string, signal: AbortSignal): Response => {
    const enc = new TextEncoder();
    let closed = false;
    const stream = new ReadableStream<Uint8Array>({
      async start(ctrl) {
        const send = (event: string, data: unknown): boolean => {
          if (closed || signal.aborted) return false;
          try {
            ctrl.enqueue(enc.encode(sse(event, data)));
            return true;
          } catch {
            closed = true;
            return false;
          }
        };
        const finish = (aborted: boolean): void => {
          rec.endTime = Date.now();
          if (aborted) rec.aborted = true;
          if (!closed) {
            closed = true;
            try {
              ctrl.close();
            } catch {
              // already closed by the client
            }
          }
        };
        const msgId = newId("msg");
        send("message_start", {
          type: "message_start",
          message: { id: msgId, type: "message", role: "assistant", model, content: [], stop_reason: null, stop_sequence: null, usage: USAGE },
        });
        let s = step;
        while (s.kind === "hold") {
          const pinger = setInterval(() => send("ping", { type: "ping" }), 1_000);
          await waitRelease(s.name, signal);
          clearInterval(pinger);
          if (signal.aborted) return finish(true);
          s = s.next;
        }
        if (s.kind === "drop" || s.kind === "error") {
          // an error after the stream started: Anthropic sends an `error` event
          if (s.kind === "error") {
            send("error", { type: "error", error: { type: s.errorType ?? errorTypeFor(s.status), message: s.message ?? "fake stream error" } });
          }
          return finish(false);
        }
        send("ping", { type: "ping" });
        let index = 0;
        let outTokens = 0;
        const textBlock = async (t: string, chunks: number, delayMs: number): Promise<boolean> => {
          send("content_block_start", { type: "content_block_start", index, content_block: { type: "text", text: "" } });
          for (const part of splitText(t, chunks)) {
            if (delayMs > 0) await Bun.sleep(delayMs);
            if (!send("content_block_delta", { type: "content_block_delta", index, delta: { type: "text_delta", text: part } })) return false;
            outTokens += Math.max(1, Math.round(part.length / 4));
          }
          send("content_block_stop", { type: "content_block_stop", index });
          index++;
          return true;
        };
        let stop = "end_turn";
        if (s.kind === "text") {
          if (!(await textBlock(s.text, s.chunks ?? 3, s.delayMs ?? 20))) return finish(true);
        } else if (s.kind === "slow") {
          const interval = s.intervalMs ?? 200;
          const until = Date.now() + s.seconds * 1_000;
          send("content_block_start", { type: "content_block_start", index, content_block: { type: "text", text: "" } });
          let n = 0;
          while (Date.now() < until) {
            await Bun.sleep(interval);
            n++;
            if (!send("content_block_delta", { type: "content_block_delta", index, delta: { type: "text_delta", text: `${s.text ?? "working"} ${n}. ` } })) {
              return finish(true);
            }
            outTokens += 3;
          }
          send("content_block_stop", { type: "content_block_stop", index });
          index++;
        } else {
          if (s.text !== undefined && !(await textBlock(s.text, 1, 0))) return finish(true);
          const input = JSON.stringify(s.input);
          send("content_block_start", { type: "content_block_start", index, content_block: { type: "tool_use", id: s.id ?? newId("toolu"), name: s.name, input: {} } });
          for (const part of splitText(input, 3)) {
            send("content_block_delta", { type: "content_block_delta", index, delta: { type: "input_json_delta", partial_json: part } });
          }
          send("content_block_stop", { type: "content_block_stop", index });
          index++;
          outTokens += Math.round(input.length / 4);
          stop = "tool_use";
        }
        send("message_delta", { type: "message_delta", delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: Math.max(1, outTokens) } });
        send("message_stop", { type: "message_stop" });
        finish(signal.aborted);
      },
      cancel() {
        closed = true;
        rec.aborted = true;
        rec.endTime ??= Date.now();
      },
    });
    return new Response(stream, {
      status: 200,
      headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", "request-id": newId("req") },
    });
  };

  const jsonReply = async (step: ReplyStep, rec: RecordedRequest, model: string, signal: AbortSignal): Promise<Response> => {
    let s = step;
    while (s.kind === "hold") {
      await waitRelease(s.name, signal);
      s = s.next;
    }
    if (s.kind === "error") return errorResponse(s);
    if (s.kind === "slow") await Bun.sleep(s.seconds * 1_000);
    if (s.kind === "drop") return new Response("", { status: 502 });
    const { content, stop } = contentOf(s);
    rec.endTime = Date.now();
    return Response.json(
      { id: newId("msg"), type: "message", role: "assistant", model, content, stop_reason: stop, stop_sequence: null, usage: { ...USAGE, output_tokens: 10 } },
      { headers: { "request-id": newId("req") } },
    );
  };

  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 0,
    async fetch(req) {
      const u = new URL(req.url);
      const raw = await req.text();
      let body: unknown = undefined;
      if (raw.length > 0) {
        try {
          body = JSON.parse(raw);
        } catch {
          body = raw;
        }
      }
      const headers: Record<string, string> = {};
      req.headers.forEach((v, k) => {
        headers[k] = /^(x-api-key|authorization)$/i.test(k) ? `<redacted:${v.slice(-4)}>` : v;
      });
      const kind = classifyRequest(req.method, u.pathname, body);
      const rec: RecordedRequest = { seq: ++seq, time: Date.now(), method: req.method, path: u.pathname, query: u.search, headers, body, kind };
      requests.push(rec);

      if (kind === "count_tokens") {
        rec.status = 200;
        rec.reply = "count_tokens";
        notify(rec);
        return Response.json({ input_tokens: 42 });
      }
      if (kind === "models") {
        rec.status = 200;
        rec.reply = "models";
        notify(rec);
        const models = ["claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5"].map((id) => ({
          type: "model",
          id,
          display_name: id,
          created_at: "2025-01-01T00:00:00Z",
        }));
        return Response.json({ data: models, has_more: false, first_id: models[0]?.id, last_id: models[models.length - 1]?.id });
      }
      if (kind === "other") {
        rec.status = 404;
        rec.reply = "not_found";
        notify(rec);
        return Response.json({ type: "error", error: { type: "not_found_error", message: `fake: no ${req.method} ${u.pathname}` } }, { status: 404 });
      }
      const mb = body as MessagesBody;
      const model = typeof mb.model === "string" ? mb.model : (opts.model ?? "claude-sonnet-4-5");
      let step: ReplyStep;
      if (kind === "main") {
        const mainIndex = mainCount++;
        rec.mainIndex = mainIndex;
        const lu = lastUser(mb);
        step = pick({ mainIndex, body: mb, lastMessage: lu.last, isToolResult: lu.isToolResult, lastUserText: lu.text });
      } else if (kind === "subagent") {
        step = subagentReply(mb);
      } else {
        step = sideReply(mb);
      }
      rec.reply = describe(step);
      if (step.kind === "error") {
        rec.status = step.status;
        rec.endTime = Date.now();
        notify(rec);
        return errorResponse(step);
      }
      rec.status = 200;
      notify(rec);
      if (mb.stream === true) return streamReply(step, rec, model, req.signal);
      return jsonReply(step, rec, model, req.signal);
    },
  });

  const port = server.port;
  if (port === undefined) throw new Error("fake anthropic: no port");
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    mainRequests: () => requests.filter((r) => r.kind === "main"),
    setScript(s, fb) {
      script = s;
      if (fb !== undefined) fallback = fb;
      mainCount = 0;
    },
    release(name) {
      for (let i = holds.length - 1; i >= 0; i--) {
        const h = holds[i];
        if (h !== undefined && (name === undefined || h.name === name)) {
          holds.splice(i, 1);
          h.resolve();
        }
      }
    },
    waitForRequest(pred, timeoutMs = 30_000) {
      const found = requests.find(pred);
      if (found !== undefined) return Promise.resolve(found);
      return new Promise<RecordedRequest>((resolve, reject) => {
        const entry = {
          pred,
          resolve: (r: RecordedRequest) => {
            clearTimeout(timer);
            resolve(r);
          },
        };
        const timer = setTimeout(() => {
          const i = waiters.indexOf(entry);
          if (i >= 0) waiters.splice(i, 1);
          reject(new Error("fake anthropic: timed out waiting for a request"));
        }, timeoutMs);
        waiters.push(entry);
      });
    },
    async stop() {
      for (const h of holds.splice(0)) h.resolve();
      await server.stop(true);
    },
  };
}
