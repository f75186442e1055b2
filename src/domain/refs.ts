/**
 * References (contracts §7):
 *   runtime:<id>                                   id = [A-Za-z0-9._:-]{16,128}
 *   pane:<target>/<session-enc>/<window-id>/<pane-id>
 * session-enc is the RFC 3986 percent-encoding of the session name (every
 * byte outside the unreserved set A-Z a-z 0-9 - . _ ~ is %XX of its UTF-8).
 */
import { AgtmuxError } from "./errors.ts";

export type Ref =
  | { kind: "runtime"; runtime_id: string }
  | { kind: "pane"; target: string; session_name: string; window_id: string; pane_id: string };

const RUNTIME_RE = /^runtime:([A-Za-z0-9._:-]{16,128})$/;
const PANE_RE = /^pane:([A-Za-z0-9._-]+)\/([^/]*)\/(@\d+)\/(%\d+)$/;
const TARGET_SESSION_RE = /^([A-Za-z0-9._-]+)\/([^/]*)$/;

/** RFC 3986 percent-encoding: only unreserved characters stay literal. */
export function encodeSessionName(name: string): string {
  const bytes = new TextEncoder().encode(name);
  let out = "";
  for (const b of bytes) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9\-._~]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** Strict decoding: malformed %-escapes or invalid UTF-8 -> E_REF_INVALID_ENCODING. */
export function decodeSessionName(enc: string, whole: string): string {
  if (/%(?![0-9A-Fa-f]{2})/.test(enc)) {
    throw new AgtmuxError("E_REF_INVALID_ENCODING", `bad percent-escape in ${JSON.stringify(whole)}`, { ref: whole });
  }
  const bytes: number[] = [];
  for (let i = 0; i < enc.length; i++) {
    const ch = enc.charCodeAt(i);
    if (enc[i] === "%") {
      bytes.push(Number.parseInt(enc.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (ch > 0x7e || ch < 0x21) {
      throw new AgtmuxError("E_REF_INVALID_ENCODING", `session name in ${JSON.stringify(whole)} must be percent-encoded`, { ref: whole });
    } else bytes.push(ch);
  }
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(new Uint8Array(bytes));
  } catch {
    throw new AgtmuxError("E_REF_INVALID_ENCODING", `session name in ${JSON.stringify(whole)} is not valid UTF-8`, { ref: whole });
  }
}

export function parseRef(s: string): Ref {
  const r = RUNTIME_RE.exec(s);
  if (r !== null) return { kind: "runtime", runtime_id: r[1] as string };
  const p = PANE_RE.exec(s);
  if (p !== null) {
    return { kind: "pane", target: p[1] as string, session_name: decodeSessionName(p[2] as string, s), window_id: p[3] as string, pane_id: p[4] as string };
  }
  throw new AgtmuxError(
    "E_REF_INVALID",
    `not a reference: ${JSON.stringify(s.slice(0, 200))} (expected runtime:<id> or pane:<target>/<session-enc>/@<window>/%<pane>)`,
    { ref: s.slice(0, 200) },
  );
}

export function formatPaneRef(p: { target: string; session_name: string; window_id: string; pane_id: string }): string {
  return `pane:${p.target}/${encodeSessionName(p.session_name)}/${p.window_id}/${p.pane_id}`;
}

export function formatRuntimeRef(runtimeId: string): string {
  return `runtime:${runtimeId}`;
}

/** `--target-session <target>/<session-enc>` */
export function parseTargetSession(s: string): { target: string; session_name: string } {
  const m = TARGET_SESSION_RE.exec(s);
  if (m === null) {
    throw new AgtmuxError("E_REF_INVALID", `--target-session must be <target>/<session-enc>, got ${JSON.stringify(s.slice(0, 200))}`, { value: s.slice(0, 200) });
  }
  return { target: m[1] as string, session_name: decodeSessionName(m[2] as string, s) };
}

export function formatTargetSession(target: string, sessionName: string): string {
  return `${target}/${encodeSessionName(sessionName)}`;
}
