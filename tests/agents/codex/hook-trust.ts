/**
 * Pre-trusting Codex hooks (codex-cli 0.169.0), the way an installer such as
 * `agtmux setup-hooks` has to: Codex silently skips hooks that are new or
 * changed until the user trusts them in the TUI ("Hooks need review").
 *
 * 1. run a private, in-process app-server: `codex app-server --listen stdio://`
 *    (newline-delimited JSON-RPC on stdin/stdout; it does not touch the shared
 *    daemon),
 * 2. `initialize` + `initialized`, then `hooks/list { cwds }`,
 * 3. for every hook that is not trusted yet (and not managed), write
 *    `[hooks.state."<key>"] trusted_hash = "<currentHash>"` into config.toml.
 *
 * Self-contained (no test helpers, argv only, no shell) so it can move into
 * src/ as is.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";

export interface CodexHookEntry {
  key: string;
  currentHash: string;
  eventName: string;
  trustStatus: string;
  isManaged: boolean;
  source: string;
  sourcePath: string;
  command: string | null;
}

export interface HookListResult {
  hooks: CodexHookEntry[];
  errors: { message: string; path: string }[];
  warnings: string[];
}

export interface TrustOptions {
  /** the `codex` executable (npm wrapper or native binary) */
  codexBin: string;
  /** environment for codex: must carry HOME and/or CODEX_HOME */
  env: Record<string, string | undefined>;
  /** project directories whose `.codex/hooks.json` should be included too */
  cwds: string[];
  /** config.toml to edit; default `$CODEX_HOME/config.toml` */
  configPath?: string;
  timeoutMs?: number;
}

export interface TrustResult {
  /** keys newly trusted (or re-trusted after a change) */
  trusted: string[];
  /** keys already trusted */
  alreadyTrusted: string[];
  /** everything hooks/list returned (after nothing else changed) */
  listed: HookListResult;
}

export class CodexHookTrustError extends Error {
  override readonly name = "CodexHookTrustError";
}

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/** Lists the hooks Codex sees for `cwds` through a private stdio app-server. */
export async function listCodexHooks(opts: Omit<TrustOptions, "configPath">): Promise<HookListResult> {
  const proc = Bun.spawn([opts.codexBin, "app-server", "--listen", "stdio://"], {
    env: Object.fromEntries(Object.entries(opts.env).filter((e): e is [string, string] => e[1] !== undefined)),
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
  });
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const waiters = new Map<number, (msg: Json) => void>();
  let stderr = "";
  void new Response(proc.stderr).text().then((t) => (stderr = t));
  const reader = (async () => {
    const dec = new TextDecoder();
    let buf = "";
    for await (const chunk of proc.stdout) {
      buf += dec.decode(chunk, { stream: true });
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line === "") continue;
        let msg: unknown;
        try {
          msg = JSON.parse(line);
        } catch {
          continue;
        }
        if (isObj(msg) && typeof msg.id === "number" && msg.method === undefined) waiters.get(msg.id)?.(msg);
      }
    }
  })();
  let nextId = 1;
  const send = (obj: Json): void => {
    proc.stdin.write(`${JSON.stringify({ jsonrpc: "2.0", ...obj })}\n`);
    proc.stdin.flush();
  };
  const call = (method: string, params: Json): Promise<unknown> => {
    const id = nextId++;
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => reject(new CodexHookTrustError(`${method}: no answer within ${timeoutMs} ms (stderr: ${stderr.slice(-300)})`)), timeoutMs);
      waiters.set(id, (msg) => {
        clearTimeout(timer);
        waiters.delete(id);
        if (isObj(msg.error)) reject(new CodexHookTrustError(`${method}: ${String(msg.error.message)}`));
        else resolve(msg.result);
      });
      send({ id, method, params });
    });
  };
  try {
    await Promise.race([
      call("initialize", { clientInfo: { name: "agtmux-setup-hooks", version: "0.1.0" } }),
      proc.exited.then((code) => {
        throw new CodexHookTrustError(`codex app-server exited with ${code}: ${stderr.slice(-300)}`);
      }),
    ]);
    send({ method: "initialized" });
    const r = await call("hooks/list", { cwds: opts.cwds });
    return parseHookList(r);
  } finally {
    try {
      proc.stdin.end();
    } catch {
      // already closed
    }
    proc.kill();
    await proc.exited;
    await reader.catch(() => {});
  }
}

function parseHookList(r: unknown): HookListResult {
  const out: HookListResult = { hooks: [], errors: [], warnings: [] };
  const seen = new Set<string>();
  const data = isObj(r) && Array.isArray(r.data) ? r.data : [];
  for (const entry of data) {
    if (!isObj(entry)) continue;
    if (Array.isArray(entry.warnings)) for (const w of entry.warnings) if (typeof w === "string") out.warnings.push(w);
    if (Array.isArray(entry.errors)) {
      for (const e of entry.errors) if (isObj(e)) out.errors.push({ message: String(e.message), path: String(e.path) });
    }
    if (!Array.isArray(entry.hooks)) continue;
    for (const h of entry.hooks) {
      if (!isObj(h) || typeof h.key !== "string" || typeof h.currentHash !== "string") continue;
      if (seen.has(h.key)) continue;
      seen.add(h.key);
      out.hooks.push({
        key: h.key,
        currentHash: h.currentHash,
        eventName: String(h.eventName),
        trustStatus: String(h.trustStatus),
        isManaged: h.isManaged === true,
        source: String(h.source),
        sourcePath: String(h.sourcePath),
        command: typeof h.command === "string" ? h.command : null,
      });
    }
  }
  return out;
}

/** A TOML basic string (quoted key or value). */
export function tomlString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0) ?? 0;
    if (ch === '"') out += '\\"';
    else if (ch === "\\") out += "\\\\";
    else if (c < 0x20 || c === 0x7f) out += `\\u${c.toString(16).padStart(4, "0")}`;
    else out += ch;
  }
  return `${out}"`;
}

/**
 * Sets `[hooks.state."<key>"] trusted_hash = "<hash>"` for each entry in a
 * config.toml text: replaces the value inside an existing table, or appends
 * the table. Leaves everything else byte for byte.
 */
export function setTrustedHashes(config: string, entries: readonly { key: string; hash: string }[]): string {
  const lines = config.split("\n");
  const appended: string[] = [];
  for (const { key, hash } of entries) {
    const header = `[hooks.state.${tomlString(key)}]`;
    const at = lines.findIndex((l) => l.trim() === header);
    const value = `trusted_hash = ${tomlString(hash)}`;
    if (at < 0) {
      appended.push("", header, value);
      continue;
    }
    let end = at + 1;
    while (end < lines.length && !/^\s*\[/.test(lines[end] as string)) end++;
    const existing = lines.slice(at + 1, end).findIndex((l) => /^\s*trusted_hash\s*=/.test(l));
    if (existing >= 0) lines[at + 1 + existing] = value;
    else lines.splice(at + 1, 0, value);
  }
  let out = lines.join("\n");
  if (appended.length > 0) out = `${out.replace(/\n*$/, "\n")}${appended.join("\n").replace(/^\n/, "\n")}\n`;
  return out;
}

/** Lists the hooks and trusts every one that is untrusted or modified. */
export async function trustCodexHooks(opts: TrustOptions): Promise<TrustResult> {
  const home = opts.env.CODEX_HOME ?? `${opts.env.HOME ?? ""}/.codex`;
  const configPath = opts.configPath ?? `${home}/config.toml`;
  const listed = await listCodexHooks(opts);
  if (listed.errors.length > 0) throw new CodexHookTrustError(`hooks/list reported errors: ${listed.errors.map((e) => `${e.path}: ${e.message}`).join("; ")}`);
  const todo = listed.hooks.filter((h) => !h.isManaged && h.trustStatus !== "trusted" && h.trustStatus !== "managed");
  const alreadyTrusted = listed.hooks.filter((h) => h.trustStatus === "trusted").map((h) => h.key);
  if (todo.length > 0) {
    const before = existsSync(configPath) ? readFileSync(configPath, "utf8") : "";
    const after = setTrustedHashes(
      before,
      todo.map((h) => ({ key: h.key, hash: h.currentHash })),
    );
    const tmp = `${configPath}.agtmux-${process.pid}.tmp`;
    writeFileSync(tmp, after, { mode: 0o600 });
    renameSync(tmp, configPath);
  }
  return { trusted: todo.map((h) => h.key), alreadyTrusted, listed };
}
