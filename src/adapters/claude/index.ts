/**
 * Claude Code adapter. Hooks are the primary source (`agtmux emit --hook
 * claude` in settings.json; event_type `claude.<hook_event_name>`), with the
 * pane from the hook's TMUX_PANE (hooks run as children of claude in its pane).
 * Observed behaviour per version: docs/agents/claude.md.
 */
import type { Envelope } from "../../domain/event.ts";
import type { State, Transition } from "../../domain/model.ts";
import { matchAgent } from "../../procs/agents.ts";
import { ADAPTER_CONTRACT_VERSION, type Adapter, FULL_CAPABILITIES, payloadOf, unsupported } from "../registry.ts";
import { compileScreenRules } from "../screen-rules.ts";
import screenRules from "./screens.json" with { type: "json" };

const screens = compileScreenRules(screenRules);

export const CLAUDE_PREFIX = "claude.";

/** Hook events that say something about the state. */
const BY_EVENT: Record<string, State | "heartbeat"> = {
  SessionStart: "idle",
  UserPromptSubmit: "running",
  PreToolUse: "running",
  PostToolUse: "running",
  PostToolUseFailure: "running",
  PermissionRequest: "waiting_approval",
  SubagentStart: "running",
  SubagentStop: "running",
  PreCompact: "running",
  PostCompact: "heartbeat",
  // 2.1.3xx: fired during a turn
  PostToolBatch: "running",
  MessageDisplay: "heartbeat",
  Stop: "completed",
  StopFailure: "error",
  // the process may go on (/clear) or exit: the topology scan it triggers decides
  SessionEnd: "idle",
};

/** Notification hooks: notification_type decides. */
const BY_NOTIFICATION: Record<string, State | "heartbeat"> = {
  // Verified on 2.1.330: it always follows PermissionRequest (~6 s later, only while the dialog is
  // still open) and carries no tool name, so it cannot tell an approval from an AskUserQuestion
  // question; PermissionRequest already set the exact state. Heartbeat, not a state.
  permission_prompt: "heartbeat",
  idle_prompt: "waiting_input",
  elicitation_dialog: "waiting_input",
  auth_success: "heartbeat",
};

/** Tools that mean "the agent asks the user" rather than "the agent works". */
const QUESTION_TOOLS = new Set(["AskUserQuestion"]);

function transition(state: State | "heartbeat", ev: Envelope): Transition {
  if (state === "heartbeat") return { kind: "heartbeat" };
  return { kind: "state", state, confidence: ev.source === "poller" ? "low" : "high" };
}

/** Transcript-derived events (see ./transcript.ts): `claude.transcript.<kind>`. */
const BY_TRANSCRIPT: Record<string, State> = {
  "transcript.interrupted": "idle",
  "transcript.prompt": "running",
  "transcript.api_error": "error",
  "transcript.turn_end": "completed",
};

export function normalizeClaude(ev: Envelope): Transition | null {
  const name = ev.event_type.slice(CLAUDE_PREFIX.length);
  const fromTranscript = BY_TRANSCRIPT[name];
  if (fromTranscript !== undefined) return transition(fromTranscript, ev);
  // the screen poller saw the ready prompt, twice, while the hooks still said running
  // (a turn cancelled before its first token leaves no hook and no transcript line)
  if (name === "screen.stopped") return { kind: "state", state: "idle", confidence: "medium" };
  const p = payloadOf(ev);
  if (name === "Notification") {
    const kind = typeof p.notification_type === "string" ? p.notification_type : "";
    const s = BY_NOTIFICATION[kind];
    return s === undefined ? unsupported(ev) : transition(s, ev);
  }
  if ((name === "PreToolUse" || name === "PermissionRequest") && typeof p.tool_name === "string" && QUESTION_TOOLS.has(p.tool_name)) {
    return transition("waiting_input", ev);
  }
  const s = BY_EVENT[name];
  return s === undefined ? unsupported(ev) : transition(s, ev);
}

export const claudeAdapter: Adapter = {
  id: "claude",
  agent_type: "claude",
  contract_version: ADAPTER_CONTRACT_VERSION,
  capabilities: FULL_CAPABILITIES,
  eventPrefixes: [CLAUDE_PREFIX],
  normalize: normalizeClaude,
  identify: (proc) => matchAgent({ argv: [...proc.argv], comm: proc.comm }) === "claude",
  poll: (screen) => screens.poll(screen),
  screenEndsRunning: true,
  hints(ev) {
    return ev.event_type === "claude.SessionEnd" ? { rescan: true } : {};
  },
};
