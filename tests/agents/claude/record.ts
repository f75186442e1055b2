/**
 * Writes what a ClaudeLab saw into a fixture directory:
 *   hooks.jsonl        one hook call per line (paths replaced by $HOME, $PROJECT, …)
 *   transcript.jsonl   claude's session transcript (strings over 600 chars cut, marked "…[+N chars]";
 *                      request-shape lines cut to two levels, see fixtureTranscriptLine)
 *   screens/<step>.txt capture-pane -p -J at each step
 *   titles.json        [{step, t, title}] (#{pane_title})
 *   requests.json      every request the fake API got (summary: kind, reply, status, timing)
 *   timeline.json      hooks, steps, requests and notes on one clock (ms since the lab started)
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { RecordedRequest } from "../../fakes/anthropic.ts";
import type { ClaudeLab, HookRecord } from "./harness.ts";

export const MAX_STRING = 600;

export function truncateStrings(v: unknown, max = MAX_STRING): unknown {
  if (typeof v === "string") return v.length > max ? `${v.slice(0, max)}…[+${v.length - max} chars]` : v;
  if (Array.isArray(v)) return v.map((x) => truncateStrings(x, max));
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = truncateStrings(x, max);
    return out;
  }
  return v;
}

/** Replaces everything deeper than `depth` levels by "…[elided]" (for the bulky request-shape lines). */
export function elideDeep(v: unknown, depth: number): unknown {
  if (v === null || typeof v !== "object") return v;
  if (depth <= 0) return "…[elided]";
  if (Array.isArray(v)) return v.map((x) => elideDeep(x, depth - 1));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = elideDeep(x, depth - 1);
  return out;
}

/**
 * Transcript lines as stored in fixtures: strings cut at MAX_STRING; the request-shape
 * bookkeeping lines (`api-request-shape`, `api-request-blob`, attachment `prompt_snapshot`:
 * the system prompt and tool schemas, tens of KB each) keep only their top two levels.
 */
export function fixtureTranscriptLine(l: Record<string, unknown>): unknown {
  const att = isRecord(l.attachment) ? l.attachment.type : undefined;
  if (l.type === "api-request-shape" || l.type === "api-request-blob" || att === "prompt_snapshot") return truncateStrings(elideDeep(l, 2));
  return truncateStrings(l);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The interesting detail of a hook payload, for sequences: "Notification(permission_prompt)". */
export function hookLabel(h: HookRecord): string {
  const s = isRecord(h.stdin) ? h.stdin : {};
  const detail =
    s.notification_type ?? s.tool_name ?? s.source ?? s.reason ?? s.error ?? s.trigger ?? s.load_reason ?? (h.event === "MessageDisplay" ? (s.final === true ? "final" : "delta") : undefined);
  return detail === undefined ? h.event : `${h.event}(${String(detail)})`;
}

function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content
    .map((b) => {
      if (!isRecord(b)) return "";
      if (b.type === "text" && typeof b.text === "string") return b.text;
      if (b.type === "tool_result") return `[tool_result ${String(b.tool_use_id)}${b.is_error === true ? " error" : ""}] ${textOf(b.content)}`;
      return `[${String(b.type)}]`;
    })
    .join(" ");
}

export function summarizeRequest(r: RecordedRequest, t0: number): Record<string, unknown> {
  const b = isRecord(r.body) ? r.body : {};
  const msgs = Array.isArray(b.messages) ? b.messages : [];
  const last = msgs[msgs.length - 1];
  const tools = Array.isArray(b.tools) ? b.tools : [];
  const system = Array.isArray(b.system) ? b.system.map((x) => (isRecord(x) ? String(x.text ?? "") : "")).join(" | ") : typeof b.system === "string" ? b.system : "";
  return {
    seq: r.seq,
    t: r.time - t0,
    ...(r.endTime === undefined ? {} : { end_t: r.endTime - t0 }),
    method: r.method,
    path: r.path,
    query: r.query,
    kind: r.kind,
    ...(r.mainIndex === undefined ? {} : { mainIndex: r.mainIndex }),
    reply: r.reply,
    status: r.status,
    ...(r.aborted === true ? { aborted: true } : {}),
    model: b.model,
    stream: b.stream,
    max_tokens: b.max_tokens,
    tool_count: tools.length,
    tool_names: tools.map((t) => (isRecord(t) ? String(t.name) : "?")),
    message_count: msgs.length,
    last_message: isRecord(last) ? `${String(last.role)}: ${textOf(last.content).slice(-240)}` : undefined,
    system_head: system.slice(0, 160),
    headers: {
      "anthropic-beta": r.headers["anthropic-beta"],
      "anthropic-version": r.headers["anthropic-version"],
      "user-agent": r.headers["user-agent"],
      "x-app": r.headers["x-app"],
      "x-stainless-retry-count": r.headers["x-stainless-retry-count"],
    },
  };
}

export interface TimelineEntry {
  t: number;
  kind: "hook" | "step" | "request" | "request_end" | "note";
  name: string;
}

export function writeFixture(lab: ClaudeLab, dir: string, notes: { t: number; text: string }[]): { sequence: string[] } {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, "screens"), { recursive: true });
  const hooks = lab.hooks();
  writeFileSync(join(dir, "hooks.jsonl"), hooks.map((h) => `${lab.normalize(JSON.stringify(h))}\n`).join(""));
  const transcript = lab.transcript();
  writeFileSync(join(dir, "transcript.jsonl"), transcript.map((l) => `${lab.normalize(JSON.stringify(fixtureTranscriptLine(l)))}\n`).join(""));
  lab.steps.forEach((s) => writeFileSync(join(dir, "screens", `${s.name}.txt`), lab.normalize(s.screen)));
  const titles = lab.steps.map((s) => ({ step: s.name, t: s.t, title: s.title, hookCount: s.hookCount, transcriptLines: s.transcriptLines }));
  writeFileSync(join(dir, "titles.json"), `${lab.normalize(JSON.stringify(titles, null, 2))}\n`);
  const requests = lab.fake.requests.map((r) => summarizeRequest(r, lab.t0));
  writeFileSync(join(dir, "requests.json"), `${lab.normalize(JSON.stringify(truncateStrings(requests, 400), null, 2))}\n`);
  const timeline: TimelineEntry[] = [
    ...hooks.map((h) => ({ t: Date.parse(h.time) - lab.t0, kind: "hook" as const, name: hookLabel(h) })),
    ...lab.steps.map((s) => ({ t: s.t, kind: "step" as const, name: `${s.name} [title ${JSON.stringify(s.title)}]` })),
    ...lab.fake.requests.map((r) => ({ t: r.time - lab.t0, kind: "request" as const, name: `#${r.seq} ${r.kind}${r.mainIndex === undefined ? "" : `[${r.mainIndex}]`} → ${r.reply ?? "?"}` })),
    ...lab.fake.requests
      .filter((r) => r.endTime !== undefined)
      .map((r) => ({ t: (r.endTime ?? 0) - lab.t0, kind: "request_end" as const, name: `#${r.seq}${r.aborted === true ? " aborted by the client" : " done"}` })),
    ...notes.map((n) => ({ t: n.t, kind: "note" as const, name: n.text })),
  ].toSorted((a, b) => a.t - b.t);
  writeFileSync(join(dir, "timeline.json"), `${lab.normalize(JSON.stringify(timeline, null, 2))}\n`);
  return { sequence: hooks.map(hookLabel) };
}

/** Transcript line kinds, for summaries: "assistant(tool_use)", "user(tool_result)", "system(turn_duration)", … */
export function transcriptKinds(lines: Record<string, unknown>[]): string[] {
  return lines.map((l) => {
    const type = String(l.type);
    if (type === "system") return `system(${String(l.subtype)})`;
    if (type === "attachment" && isRecord(l.attachment)) return `attachment(${String(l.attachment.type)})`;
    const m = isRecord(l.message) ? l.message : undefined;
    if (type === "assistant" && m !== undefined) {
      const blocks = Array.isArray(m.content) ? m.content.map((b) => (isRecord(b) ? String(b.type) : "?")).join("+") : "text";
      return `assistant(${blocks}; stop=${String(m.stop_reason)})`;
    }
    if (type === "user" && m !== undefined) {
      const c = m.content;
      if (typeof c === "string") return `user(${c.length > 40 ? `${c.slice(0, 40)}…` : c})`;
      if (Array.isArray(c)) {
        return `user(${c
          .map((b) => {
            if (!isRecord(b)) return "?";
            if (b.type === "tool_result") return `tool_result${b.is_error === true ? " error" : ""}: ${textOf(b.content).slice(0, 60)}`;
            if (b.type === "text") return `text: ${String(b.text).slice(0, 60)}`;
            return String(b.type);
          })
          .join(" + ")})`;
      }
    }
    return type;
  });
}
