/**
 * Claude Code's session transcript (JSONL at the hook payload's
 * `transcript_path`) as a secondary deterministic source: it records what no
 * hook reports — a user interrupt (Escape / C-c: "[Request interrupted by
 * user]"), and it lets the state be rebuilt after a daemon restart. Only turn
 * boundaries are read; tool-use lines are left to the hooks (an approval
 * prompt has no transcript line).
 */
import type { State } from "../../domain/model.ts";

export interface TranscriptSignal {
  /** transcript line uuid: the dedupe key */
  uuid: string;
  /** the line's own timestamp (same host clock) */
  at: number;
  state: State;
  /** event_type suffix, e.g. "transcript.interrupted" */
  kind: string;
}

const INTERRUPTED = /^\[Request interrupted by user( for tool use)?\]$/;

function textBlocks(content: unknown): string[] {
  if (typeof content === "string") return [content];
  if (!Array.isArray(content)) return [];
  return content.flatMap((b) => (b !== null && typeof b === "object" && (b as { type?: unknown }).type === "text" && typeof (b as { text?: unknown }).text === "string" ? [(b as { text: string }).text] : []));
}

function hasToolResult(content: unknown): boolean {
  return Array.isArray(content) && content.some((b) => b !== null && typeof b === "object" && (b as { type?: unknown }).type === "tool_result");
}

export function parseClaudeTranscriptLine(line: string): TranscriptSignal | null {
  let o: Record<string, unknown>;
  try {
    const v: unknown = JSON.parse(line);
    if (v === null || typeof v !== "object" || Array.isArray(v)) return null;
    o = v as Record<string, unknown>;
  } catch {
    return null; // a torn or foreign line: no opinion
  }
  if (o.isSidechain === true) return null; // subagent traffic, not the pane's turn
  const uuid = typeof o.uuid === "string" ? o.uuid : null;
  const at = typeof o.timestamp === "string" ? Date.parse(o.timestamp) : Number.NaN;
  if (uuid === null || !Number.isFinite(at)) return null;
  const message = (o.message ?? {}) as { content?: unknown; stop_reason?: unknown };
  if (o.type === "user") {
    const texts = textBlocks(message.content);
    if (texts.some((t) => INTERRUPTED.test(t.trim()))) return { uuid, at, state: "idle", kind: "transcript.interrupted" };
    if (hasToolResult(message.content) || o.isMeta === true || o.isCompactSummary === true) return null;
    const human = (o.origin as { kind?: unknown } | undefined)?.kind === "human" || typeof message.content === "string";
    // slash commands (/clear, /model, …) are recorded as user lines but start no turn
    const local = texts.some((t) => /^\s*<(command-name|local-command-caveat|local-command-stdout|command-message)>/.test(t));
    return human && !local && texts.some((t) => t.trim() !== "") ? { uuid, at, state: "running", kind: "transcript.prompt" } : null;
  }
  if (o.type === "assistant") {
    if (o.isApiErrorMessage === true) return { uuid, at, state: "error", kind: "transcript.api_error" };
    return null;
  }
  if (o.type === "system" && o.subtype === "turn_duration") return { uuid, at, state: "completed", kind: "transcript.turn_end" };
  return null;
}

/** The transcript path a Claude hook payload names, if any. */
export function transcriptPathOf(payload: unknown): string | null {
  if (payload === null || typeof payload !== "object") return null;
  const p = (payload as { transcript_path?: unknown }).transcript_path;
  return typeof p === "string" && p.startsWith("/") && p.endsWith(".jsonl") ? p : null;
}
