/**
 * Asks Codex which hooks it sees and whether it trusts them: a private
 * `codex app-server --listen stdio://` (newline-delimited JSON-RPC 2.0),
 * `initialize` → `initialized` → `hooks/list {cwds}`. Codex runs an untrusted
 * hook silently never, and the trusted hash cannot be computed offline, so
 * this is how setup-hooks learns each hook's `key` and `currentHash`.
 *
 * Response shape (codex-cli 0.169.0, `codex app-server generate-json-schema`):
 * `{data: [{cwd, hooks: [{key, eventName, command, sourcePath, source,
 * currentHash, trustStatus: managed|untrusted|trusted|modified, …}],
 * warnings: [string], errors: [{path, message}]}]}`.
 */
import * as v from "valibot";
import type { Env } from "../platform/paths.ts";

/** The whole exchange; codex answers in ~250 ms. */
export const HOOKS_LIST_TIMEOUT_MS = 20_000;

const HookMetadataSchema = v.looseObject({
  key: v.string(),
  eventName: v.string(),
  command: v.optional(v.nullable(v.string())),
  sourcePath: v.string(),
  source: v.optional(v.string()),
  currentHash: v.string(),
  trustStatus: v.string(),
});
const HooksListResponseSchema = v.looseObject({
  data: v.array(
    v.looseObject({
      cwd: v.string(),
      hooks: v.array(HookMetadataSchema),
      warnings: v.optional(v.array(v.string()), []),
      errors: v.optional(v.array(v.looseObject({ path: v.optional(v.string()), message: v.string() })), []),
    }),
  ),
});
export type CodexHookInfo = v.InferOutput<typeof HookMetadataSchema>;
export type HooksListResult = v.InferOutput<typeof HooksListResponseSchema>;

const RpcMessageSchema = v.looseObject({
  id: v.optional(v.union([v.number(), v.string(), v.null()])),
  method: v.optional(v.string()),
  result: v.optional(v.unknown()),
  error: v.optional(v.looseObject({ code: v.optional(v.number()), message: v.optional(v.string()) })),
});

export class CodexRpcError extends Error {
  override readonly name = "CodexRpcError";
}

export interface HooksListOptions {
  codexBin: string;
  env: Env;
  cwds: string[];
  timeoutMs?: number;
}

/** Runs one `hooks/list`; throws CodexRpcError (with codex's stderr tail) on any failure. */
export async function codexHooksList(opts: HooksListOptions): Promise<HooksListResult> {
  let proc: Bun.Subprocess<"pipe", "pipe", "pipe">;
  try {
    proc = Bun.spawn([opts.codexBin, "app-server", "--listen", "stdio://"], {
      env: Object.fromEntries(Object.entries(opts.env).filter((e): e is [string, string] => e[1] !== undefined)),
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
    });
  } catch (err) {
    throw new CodexRpcError(`cannot run ${opts.codexBin}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const stderr = new Response(proc.stderr).text();
  const send = (msg: Record<string, unknown>): void => {
    proc.stdin.write(`${JSON.stringify({ jsonrpc: "2.0", ...msg })}\n`);
    proc.stdin.flush();
  };
  const timeoutMs = opts.timeoutMs ?? HOOKS_LIST_TIMEOUT_MS;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CodexRpcError(`codex app-server did not answer hooks/list within ${timeoutMs} ms`)), timeoutMs);
  });
  const exchange = async (): Promise<HooksListResult> => {
    send({ id: 1, method: "initialize", params: { clientInfo: { name: "agtmux", title: "agtmux setup-hooks", version: process.env.AGTMUX_BUILD_VERSION ?? "dev" } } });
    const reader = proc.stdout.getReader();
    const decoder = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        const tail = (await stderr).trim().split("\n").slice(-3).join(" | ");
        throw new CodexRpcError(`codex app-server exited before answering${tail === "" ? "" : `: ${tail}`}`);
      }
      buf += decoder.decode(value, { stream: true });
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line === "") continue;
        let json: unknown;
        try {
          json = JSON.parse(line);
        } catch {
          continue; // not protocol (a stray log line)
        }
        const msg = v.safeParse(RpcMessageSchema, json);
        if (!msg.success || msg.output.method !== undefined) continue; // notifications and server requests: not ours to answer
        if (msg.output.error !== undefined) throw new CodexRpcError(`codex app-server: ${msg.output.error.message ?? "error"} (request ${String(msg.output.id)})`);
        if (msg.output.id === 1) {
          send({ method: "initialized" });
          send({ id: 2, method: "hooks/list", params: { cwds: opts.cwds } });
        } else if (msg.output.id === 2) {
          const res = v.safeParse(HooksListResponseSchema, msg.output.result);
          if (!res.success) throw new CodexRpcError(`unexpected hooks/list answer: ${res.issues[0].message} at ${v.getDotPath(res.issues[0]) ?? "(root)"}`);
          return res.output;
        }
      }
    }
  };
  try {
    return await Promise.race([exchange(), timeout]);
  } finally {
    clearTimeout(timer);
    proc.kill();
    await Promise.race([proc.exited, Bun.sleep(2_000)]);
  }
}
