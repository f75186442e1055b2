/**
 * Codex CLI adapter (0.169). Sources, by how certain their pane is:
 *  - the app-server daemon's `thread/status/changed` broadcasts (primary; a
 *    passive client maps threads to panes: see ./mapping.ts) — event types
 *    `codex.thread.<state>` on the notify source;
 *  - hooks and `notify`: attributable only when they run under the pane's own
 *    TUI (`codex --no-daemon`); in daemon mode they run under the daemon with
 *    the environment of whichever pane started it, their agent ancestor is the
 *    daemon, the pid hint matches no pane's runtime, and binding drops them
 *    (bind_no_candidate) instead of showing them on the wrong pane.
 * Observed behaviour: docs/agents/codex.md.
 */
import type { Envelope } from "../../domain/event.ts";
import type { State, Transition } from "../../domain/model.ts";
import { matchAgent } from "../../procs/agents.ts";
import { ADAPTER_CONTRACT_VERSION, type Adapter, FULL_CAPABILITIES, payloadOf, unsupported } from "../registry.ts";
import { compileScreenRules } from "../screen-rules.ts";
import screenRules from "./screens.json" with { type: "json" };

const screens = compileScreenRules(screenRules);

export const CODEX_PREFIX = "codex.";

const BY_HOOK: Record<string, State | "heartbeat"> = {
  SessionStart: "idle",
  UserPromptSubmit: "running",
  PreModelRequest: "running",
  PostModelRequest: "running",
  PreToolUse: "running",
  PermissionRequest: "waiting_approval",
  PostToolUse: "running",
  PreCompact: "running",
  PostCompact: "heartbeat",
  SubagentStart: "running",
  SubagentStop: "running",
  Stop: "completed",
  Interrupt: "idle",
  SessionEnd: "idle",
};

/** `codex.thread.<state>` from the app-server subscription */
const THREAD_STATES = new Set<State>(["running", "waiting_approval", "waiting_input", "completed", "idle", "error"]);

/** The TUI's side thread that names the task: its notify is not the user's turn. */
export const TITLE_PROMPT = "Generate a concise, single-line task title";

function t(state: State | "heartbeat"): Transition {
  return state === "heartbeat" ? { kind: "heartbeat" } : { kind: "state", state, confidence: "high" };
}

export function normalizeCodex(ev: Envelope): Transition | null {
  const name = ev.event_type.slice(CODEX_PREFIX.length);
  const p = payloadOf(ev);
  if (name.startsWith("thread.")) {
    const s = name.slice("thread.".length) as State;
    return THREAD_STATES.has(s) ? t(s) : unsupported(ev);
  }
  if (name === "agent-turn-complete") {
    const inputs = p["input-messages"];
    const first = Array.isArray(inputs) && typeof inputs[0] === "string" ? inputs[0] : "";
    return first.startsWith(TITLE_PROMPT) ? t("heartbeat") : t("completed");
  }
  if (name === "PreToolUse" && p.tool_name === "request_user_input") return t("waiting_input");
  const s = BY_HOOK[name];
  return s === undefined ? unsupported(ev) : t(s);
}

export const codexAdapter: Adapter = {
  id: "codex",
  agent_type: "codex",
  contract_version: ADAPTER_CONTRACT_VERSION,
  capabilities: FULL_CAPABILITIES,
  eventPrefixes: [CODEX_PREFIX],
  normalize: normalizeCodex,
  identify: (proc) => matchAgent({ argv: [...proc.argv], comm: proc.comm }) === "codex",
  poll: (screen) => screens.poll(screen),
  hints(ev) {
    return ev.event_type === "codex.SessionEnd" ? { rescan: true } : {};
  },
};
