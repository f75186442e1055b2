/**
 * A fake OpenAI Responses API for driving the real Codex CLI (0.169.0) in
 * tests: `POST /v1/responses` answers with a Server-Sent-Events stream,
 * `GET /v1/models` with an empty catalogue. Loopback only, random port.
 *
 * What to answer is decided by a script: a function from the request to a
 * `Reply`. `defaultScript` lets a test steer the model from the prompt it
 * types into the TUI (see its doc comment). The side "title generation"
 * request the TUI sends for each prompt (`Generate a concise, single-line
 * task title…`) is recognised and answered with a short title before the
 * script is consulted. Every request is logged in `requests`.
 */

export type Reply =
  /** an assistant message, streamed as `output_text` deltas */
  | { kind: "text"; text: string; chunkDelayMs?: number }
  /** an `exec_command` function call (`escalate` adds sandbox_permissions: "require_escalated", which makes Codex ask for approval) */
  | { kind: "exec"; cmd: string; justification?: string; escalate?: boolean }
  /** a `request_user_input` function call (Plan mode only: the TUI shows a question) */
  | { kind: "ask"; question: string; options: string[] }
  /** an HTTP error with an OpenAI error body (400 is not retried by Codex, 5xx are) */
  | { kind: "error"; status: number; message: string; type?: string; code?: string | null }
  /** a stream that sends deltas every `intervalMs` for `totalMs` before completing (interrupt tests) */
  | { kind: "slow"; text: string; totalMs: number; intervalMs?: number };

export interface ScriptContext {
  /** 0-based index among the non-title `/v1/responses` requests */
  index: number;
  /** the text of the newest user message in `input` ("" when none) */
  lastUserText: string;
  /** the newest `input` item is a function_call_output (the model is called back after a tool ran) */
  afterToolOutput: boolean;
  /** that output's text, when afterToolOutput */
  toolOutput: string;
  body: ResponsesBody;
}

export type Script = (ctx: ScriptContext) => Reply;

export interface ResponsesBody {
  model?: string;
  input?: unknown[];
  instructions?: string;
  stream?: boolean;
  [k: string]: unknown;
}

export interface LoggedRequest {
  /** ms since the epoch when the request arrived */
  at: number;
  method: string;
  path: string;
  /** "responses", "title", "models" or "other" */
  kind: "responses" | "title" | "models" | "other";
  body: unknown;
  /** for kind "responses": what the script answered */
  reply?: Reply;
  /** the stream ended early because the client went away */
  aborted?: boolean;
  /** identity headers Codex sends: user-agent, originator, session_id, … */
  headers: Record<string, string>;
}

const LOGGED_HEADERS = ["user-agent", "originator", "session_id", "session-id", "x-codex-turn-metadata", "version", "conversation_id"];

function pickHeaders(h: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of LOGGED_HEADERS) {
    const v = h.get(k);
    if (v !== null) out[k] = v;
  }
  return out;
}

export interface FakeOpenAI {
  /** base URL including `/v1`, e.g. http://127.0.0.1:41234/v1 */
  url: string;
  port: number;
  requests: LoggedRequest[];
  setScript(script: Script): void;
  stop(): Promise<void>;
}

export const TITLE_PREFIX = "Generate a concise, single-line task title";
export const MOCK_TITLE = "Mock task";

/**
 * The default model behaviour, keyed on the user's prompt (case-insensitive):
 * - after a tool ran: "Done running the command."
 * - `run <cmd>`: an escalated `exec_command` of `<cmd>` (Codex asks for approval)
 * - `runsafe <cmd>`: the same without escalation
 * - `fail400` / `fail500`: HTTP 400 / 500 with an error body ("mock failure requested")
 * - `slow`: a 30 s trickle of deltas (to be interrupted)
 * - `ask <question>`: a `request_user_input` call with options "Yes (Recommended)" / "No" (Plan mode)
 * - anything else: "Hello from the mock model."
 */
export const defaultScript: Script = (ctx) => {
  if (ctx.afterToolOutput) return { kind: "text", text: "Done running the command." };
  const p = ctx.lastUserText.trim();
  const lower = p.toLowerCase();
  if (lower.startsWith("runsafe ")) return { kind: "exec", cmd: p.slice(8).trim(), escalate: false };
  if (lower.startsWith("ask ")) return { kind: "ask", question: p.slice(4).trim(), options: ["Yes (Recommended)", "No"] };
  if (lower.startsWith("run ")) return { kind: "exec", cmd: p.slice(4).trim(), escalate: true, justification: "The user asked to run this command" };
  if (lower.includes("fail400")) return { kind: "error", status: 400, message: "mock failure requested" };
  if (lower.includes("fail500")) return { kind: "error", status: 500, message: "mock server error requested", type: "server_error" };
  if (lower.includes("slow")) return { kind: "slow", text: "This is a very slow answer. ", totalMs: 30_000, intervalMs: 500 };
  return { kind: "text", text: "Hello from the mock model." };
};

interface Item {
  type?: unknown;
  role?: unknown;
  content?: unknown;
  output?: unknown;
}

function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content
    .map((c: unknown) => {
      const t = (c as { text?: unknown } | null)?.text;
      return typeof t === "string" ? t : "";
    })
    .join("");
}

function contextOf(body: ResponsesBody, index: number): ScriptContext {
  const input = Array.isArray(body.input) ? (body.input as Item[]) : [];
  let lastUserText = "";
  for (let i = input.length - 1; i >= 0; i--) {
    const it = input[i];
    if (it?.type === "message" && it.role === "user") {
      lastUserText = textOf(it.content);
      break;
    }
  }
  const last = input[input.length - 1];
  const afterToolOutput = last?.type === "function_call_output" || last?.type === "custom_tool_call_output";
  const out = last?.output;
  const toolOutput = typeof out === "string" ? out : out === undefined ? "" : JSON.stringify(out);
  return { index, lastUserText, afterToolOutput, toolOutput, body };
}

function isTitleRequest(body: ResponsesBody): boolean {
  const input = Array.isArray(body.input) ? (body.input as Item[]) : [];
  for (const it of input) if (textOf(it.content).trimStart().startsWith(TITLE_PREFIX)) return true;
  return typeof body.instructions === "string" && body.instructions.trimStart().startsWith(TITLE_PREFIX);
}

const enc = new TextEncoder();
const sse = (data: Record<string, unknown>): Uint8Array => enc.encode(`event: ${String(data.type)}\ndata: ${JSON.stringify(data)}\n\n`);

let idSeq = 0;
const nextId = (prefix: string): string => `${prefix}_mock${Date.now().toString(36)}${(++idSeq).toString(36)}`;

function usage(): Record<string, unknown> {
  return {
    input_tokens: 10,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: 5,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: 15,
  };
}

function messageItem(id: string, text: string): Record<string, unknown> {
  return { type: "message", id, role: "assistant", status: "completed", content: [{ type: "output_text", text, annotations: [] }] };
}

/** The SSE events of one scripted reply (no delays); `slow` is handled by the caller. */
function replyEvents(reply: Exclude<Reply, { kind: "error" }>, model: string): { head: Record<string, unknown>[]; deltas: string[]; tail: Record<string, unknown>[] } {
  const respId = nextId("resp");
  const created = { type: "response.created", response: { id: respId, object: "response", status: "in_progress", model, output: [] } };
  const completed = { type: "response.completed", response: { id: respId, object: "response", status: "completed", model, usage: usage() } };
  if (reply.kind === "exec" || reply.kind === "ask") {
    let name: string;
    let args: Record<string, unknown>;
    if (reply.kind === "exec") {
      name = "exec_command";
      args = { cmd: reply.cmd };
      if (reply.escalate ?? true) {
        args.sandbox_permissions = "require_escalated";
        args.justification = reply.justification ?? "Run the requested command";
      }
    } else {
      name = "request_user_input";
      args = {
        questions: [{ id: "mock_question", header: "Question", question: reply.question, options: reply.options.map((label) => ({ label, description: `Choose ${label}` })) }],
      };
    }
    const item = { type: "function_call", id: nextId("fc"), call_id: nextId("call"), name, arguments: JSON.stringify(args), status: "completed" };
    return {
      head: [created, { type: "response.output_item.added", output_index: 0, item: { ...item, status: "in_progress", arguments: "" } }],
      deltas: [],
      tail: [{ type: "response.output_item.done", output_index: 0, item }, completed],
    };
  }
  const msgId = nextId("msg");
  const text = reply.text;
  const chunks = reply.kind === "slow" ? [] : (text.match(/.{1,12}/gs) ?? [text]);
  return {
    head: [created, { type: "response.output_item.added", output_index: 0, item: { type: "message", id: msgId, role: "assistant", status: "in_progress", content: [] } }],
    deltas: chunks,
    tail: [{ type: "response.output_item.done", output_index: 0, item: messageItem(msgId, text) }, completed],
  };
}

function deltaEvent(msgIdFrom: Record<string, unknown> | undefined, delta: string): Record<string, unknown> {
  const item = msgIdFrom?.item as { id?: string } | undefined;
  return { type: "response.output_text.delta", item_id: item?.id ?? "msg", output_index: 0, content_index: 0, delta };
}

export async function startFakeOpenAI(opts: { script?: Script; model?: string } = {}): Promise<FakeOpenAI> {
  let script: Script = opts.script ?? defaultScript;
  const model = opts.model ?? "gpt-mock";
  const requests: LoggedRequest[] = [];
  let index = 0;

  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 0,
    async fetch(req) {
      const url = new URL(req.url);
      const path = url.pathname;
      const at = Date.now();
      const headers = pickHeaders(req.headers);
      if (req.method === "GET" && (path === "/v1/models" || path === "/models")) {
        requests.push({ at, method: req.method, path: path + url.search, kind: "models", body: null, headers });
        return Response.json({ object: "list", data: [{ id: model, object: "model", created: 0, owned_by: "mock" }], models: [] });
      }
      if (req.method === "POST" && (path === "/v1/responses" || path === "/responses")) {
        let body: ResponsesBody;
        try {
          body = (await req.json()) as ResponsesBody;
        } catch {
          requests.push({ at, method: req.method, path, kind: "other", body: null, headers });
          return Response.json({ error: { message: "invalid JSON body", type: "invalid_request_error", code: null } }, { status: 400 });
        }
        const title = isTitleRequest(body);
        const reply: Reply = title ? { kind: "text", text: MOCK_TITLE } : script(contextOf(body, index++));
        const entry: LoggedRequest = { at, method: req.method, path, kind: title ? "title" : "responses", body, reply, headers };
        requests.push(entry);
        if (reply.kind === "error") {
          return Response.json(
            { error: { message: reply.message, type: reply.type ?? "invalid_request_error", param: null, code: reply.code ?? null } },
            { status: reply.status },
          );
        }
        const ev = replyEvents(reply, model);
        const signal = req.signal;
        const stream = new ReadableStream<Uint8Array>({
          async start(controller) {
            const send = (e: Record<string, unknown>): boolean => {
              if (signal.aborted) return false;
              try {
                controller.enqueue(sse(e));
                return true;
              } catch {
                return false;
              }
            };
            try {
              for (const e of ev.head) if (!send(e)) throw new Error("aborted");
              if (reply.kind === "slow") {
                const step = reply.intervalMs ?? 500;
                const end = Date.now() + reply.totalMs;
                while (Date.now() < end) {
                  await Bun.sleep(step);
                  if (!send(deltaEvent(ev.head[1], reply.text))) throw new Error("aborted");
                }
              } else {
                for (const d of ev.deltas) {
                  if (!send(deltaEvent(ev.head[1], d))) throw new Error("aborted");
                  if (reply.kind === "text" && reply.chunkDelayMs !== undefined) await Bun.sleep(reply.chunkDelayMs);
                }
              }
              for (const e of ev.tail) if (!send(e)) throw new Error("aborted");
              controller.close();
            } catch {
              entry.aborted = true;
              try {
                controller.close();
              } catch {
                // already closed by the client going away
              }
            }
          },
        });
        return new Response(stream, { headers: { "content-type": "text/event-stream", "cache-control": "no-cache" } });
      }
      let body: unknown = null;
      try {
        body = await req.text();
      } catch {
        // no body
      }
      requests.push({ at, method: req.method, path: path + url.search, kind: "other", body, headers });
      return Response.json({ error: { message: `no mock for ${req.method} ${path}`, type: "invalid_request_error", code: null } }, { status: 404 });
    },
  });

  const port = server.port ?? 0;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    port,
    requests,
    setScript(s) {
      script = s;
    },
    stop: async () => {
      await server.stop(true);
    },
  };
}
