/**
 * `agtmux send <ref> (--text <t> | --stdin | --key <key>…) [--enter] [--paste]
 * [--approve] [--force] [guards]`: type into an agent's pane, fail-closed
 * (contracts §10, docs/cli-actions.md).
 */
import { defineCommand } from "citty";
import { connect } from "../../client/autostart.ts";
import { KEY_RE, type SendRequest, type SendResult } from "../../wire/actions.ts";
import type { CliContext } from "../context.ts";
import { type CommonBody, actionArgs, actionTag, commonBody, paneLabel, postAction, repeatedFlag, requestedBy, retryNotice, runAction } from "./action-common.ts";
import { cli } from "./common.ts";
import { type Flags, usageError } from "./watch.ts";

/** `--stdin` reads at most this much (the daemon's text limit is 1 Mi characters) */
export const STDIN_MAX_BYTES = 1024 * 1024;
/** the daemon's bound on keys per request */
const MAX_KEYS = 64;

export const sendArgs = {
  ...actionArgs,
  text: { type: "string", description: "literal text to type (no interpolation; newlines need --paste)", valueHint: "text" },
  stdin: { type: "boolean", description: "read the text from stdin (multiline, up to 1 MiB) and paste it (bracketed paste)" },
  key: { type: "string", description: "a tmux key token: C-c, Escape, Enter, Up, Tab, F1, M-x, a single character (repeatable, sent in order)", valueHint: "key" },
  enter: { type: "boolean", description: "press Enter after the text or keys" },
  paste: { type: "boolean", description: "deliver --text as a bracketed paste (allows newlines)" },
  approve: { type: "boolean", description: "allowed to answer an approval prompt with --key/--enter" },
  force: { type: "boolean", description: "type even into an approval prompt or over a half-typed draft" },
} as const;

/** text typed as keys may not hold control characters (tab aside): the daemon refuses them too */
function hasControl(s: string): boolean {
  for (const c of s) {
    const n = c.charCodeAt(0);
    if ((n < 0x20 && c !== "\t") || n === 0x7f) return true;
  }
  return false;
}

/** The flags' combination, checked before stdin is read. */
export function checkSendFlags(a: Flags, keys: readonly string[]): void {
  const text = a.text;
  const stdin = a.stdin === true;
  if (typeof text === "string" && stdin) throw usageError("give --text or --stdin, not both", { flag: "stdin" });
  if ((typeof text === "string" || stdin) && keys.length > 0) {
    throw usageError("--key goes alone (with --enter): send text and keys as two commands, in the order you want them", { flag: "key" });
  }
  if (text === "") throw usageError("--text is empty (give the text, or use --enter / --key alone)", { flag: "text" });
  if (typeof text !== "string" && !stdin && keys.length === 0 && a.enter !== true) throw usageError("nothing to send: give --text, --stdin, --key or --enter", { flag: "text" });
  if (a.paste === true && typeof text !== "string" && !stdin) throw usageError("--paste goes with --text (--stdin always pastes)", { flag: "paste" });
  if (keys.length > MAX_KEYS) throw usageError(`at most ${MAX_KEYS} --key tokens per send`, { flag: "key" });
  for (const k of keys) {
    if (!KEY_RE.test(k)) {
      throw usageError(`--key ${JSON.stringify(k)} is not a tmux key token: use C-c, Escape, Enter, Up, Down, Tab, BSpace, F1…F12, M-x, S-Up or one printable character (text goes in --text)`, { flag: "key", key: k });
    }
  }
  if (typeof text === "string" && a.paste !== true && hasControl(text)) {
    throw usageError("--text has newlines or control characters: add --paste (bracketed paste), use --stdin, or send keys with --key", { flag: "text" });
  }
}

/**
 * The send request from the flags. `stdinText` is what `--stdin` read (one
 * trailing newline dropped, as `$(…)` would: `echo hi | agtmux send --stdin`
 * types "hi").
 */
export function buildSendBody(a: Flags, keys: readonly string[], common: CommonBody, stdinText?: string): SendRequest {
  checkSendFlags(a, keys);
  const body: SendRequest = { ...common };
  if (a.stdin === true) {
    if (stdinText === undefined) throw usageError("--stdin: nothing was read", { flag: "stdin" });
    const text = stdinText.replace(/\r?\n$/, "");
    if (text === "" && a.enter !== true) throw usageError("stdin was empty: nothing to send", { flag: "stdin" });
    if (text !== "") {
      body.text = text;
      body.paste = true;
    }
  } else if (typeof a.text === "string") {
    body.text = a.text;
    if (a.paste === true) body.paste = true;
  }
  if (keys.length > 0) body.keys = [...keys];
  if (a.enter === true) body.enter = true;
  if (a.approve === true) body.approve = true;
  if (a.force === true) body.force = true;
  return body;
}

/** All of a byte stream as UTF-8 text, refusing more than `maxBytes` (without reading the rest). */
export async function readCapped(stream: ReadableStream<Uint8Array>, maxBytes = STDIN_MAX_BYTES): Promise<string> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > maxBytes) throw usageError(`stdin holds more than ${maxBytes / 1024 / 1024} MiB: send it in parts`, { flag: "stdin", max_bytes: maxBytes });
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  const all = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    all.set(c, off);
    off += c.byteLength;
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(all);
  } catch {
    throw usageError("stdin is not UTF-8 text", { flag: "stdin" });
  }
}

/** `sent 12 chars + Enter`, `pasted 3 lines (120 chars)`, `sent keys C-c Escape` */
export function describeSend(r: SendResult): string {
  const parts: string[] = [];
  if (r.chars > 0) parts.push(r.via === "paste" ? `pasted ${r.chars} char${r.chars === 1 ? "" : "s"}` : `sent ${r.chars} char${r.chars === 1 ? "" : "s"}`);
  if (r.keys.length > 0) parts.push(`${parts.length === 0 ? "sent " : ""}keys ${r.keys.join(" ")}`);
  let s = parts.join(", ");
  if (r.enter) s = s === "" ? "sent Enter" : `${s} + Enter`;
  return s === "" ? "sent nothing" : s;
}

export const sendCommand = defineCommand({
  meta: { name: "send", description: "Type text or keys into an agent's pane (fail-closed: refused if the agent changed)" },
  args: sendArgs,
  run: (c) => {
    const ctx: CliContext = cli(c);
    return runAction(ctx, { command: "send", ref: c.args.ref }, async () => {
      const a = c.args as Flags;
      const keys = repeatedFlag(c.rawArgs, "key");
      if (repeatedFlag(c.rawArgs, "text").length > 1) throw usageError("--text given more than once", { flag: "text" });
      const common = commonBody(a, { requestedBy: requestedBy(ctx.env) });
      checkSendFlags(a, keys);
      let stdinText: string | undefined;
      if (a.stdin === true) {
        if (process.stdin.isTTY === true) ctx.err("agtmux: reading the text from the terminal; end it with Ctrl-D");
        stdinText = await readCapped(Bun.stdin.stream());
      }
      const body = buildSendBody(a, keys, common, stdinText);
      const client = await connect(ctx.paths, ctx.env);
      const r = await postAction(client, "send", body, { onRetry: retryNotice(ctx) });
      ctx.out(ctx.json ? JSON.stringify(r) : `${describeSend(r.result)} to ${paneLabel(r.pane)}${actionTag(r)}`);
      return 0;
    });
  },
});
