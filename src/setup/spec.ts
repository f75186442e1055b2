/**
 * What `agtmux setup-hooks` installs for each agent, and how agtmux's own
 * entries are told apart from the user's: by the command, which always runs
 * an agtmux binary (or, in development, src/cli/main.ts) with
 * `emit --hook <agent>`. No marker field is added to the hook objects: the
 * agents validate their settings and might reject unknown keys.
 */

export const SETUP_AGENTS = ["claude", "codex"] as const;
export type SetupAgent = (typeof SETUP_AGENTS)[number];

export interface HookSpec {
  agent: SetupAgent;
  /** hook events to register, in the order they are written */
  events: readonly string[];
  /** events whose groups carry `"matcher": "*"` (tool events); the others omit it (= all) */
  matcherEvents: ReadonlySet<string>;
  /** per-hook timeout the agent enforces, seconds */
  timeoutS: number;
}

/** Seconds an agent waits for `agtmux emit` (which itself gives up after 1.5 s). */
export const HOOK_TIMEOUT_S = 10;

/**
 * Claude Code (tested: 2.1.330). The events that say something about the
 * state (src/adapters/claude); the rest of the 30-odd events would only cost a
 * process per firing. Matchers only on tool events; the others fire for all.
 */
export const CLAUDE_HOOKS: HookSpec = {
  agent: "claude",
  events: [
    "SessionStart",
    "UserPromptSubmit",
    "PreToolUse",
    "PostToolUse",
    "PostToolUseFailure",
    "PermissionRequest",
    "Notification",
    "Stop",
    "StopFailure",
    "SubagentStart",
    "SubagentStop",
    "PreCompact",
    "SessionEnd",
  ],
  matcherEvents: new Set(["PreToolUse", "PostToolUse", "PostToolUseFailure", "PermissionRequest"]),
  timeoutS: HOOK_TIMEOUT_S,
};

/**
 * Codex CLI (tested: 0.169.0, docs/agents/codex.md). Every event it has except
 * PreModelRequest/PostModelRequest, which fire once per model call and add
 * nothing a surrounding UserPromptSubmit/PreToolUse/PostToolUse does not say.
 */
export const CODEX_HOOKS: HookSpec = {
  agent: "codex",
  events: [
    "SessionStart",
    "UserPromptSubmit",
    "PreToolUse",
    "PermissionRequest",
    "PostToolUse",
    "PreCompact",
    "PostCompact",
    "SubagentStart",
    "SubagentStop",
    "Stop",
    "Interrupt",
    "SessionEnd",
  ],
  matcherEvents: new Set(["PreToolUse", "PermissionRequest", "PostToolUse"]),
  timeoutS: HOOK_TIMEOUT_S,
};

/** POSIX shell quoting: the agents run hook commands through a shell. */
export function shellQuote(s: string): string {
  if (s === "") return "''";
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}


/** `<agtmux> emit --hook <agent>`, shell-quoted. */
export function hookCommand(agtmux: readonly string[], agent: SetupAgent): string {
  return [...agtmux, "emit", "--hook", agent].map(shellQuote).join(" ");
}

/** Codex's `notify` argv (no shell: Codex execs it and appends the JSON as the last argument). */
export function notifyArgv(agtmux: readonly string[]): string[] {
  return [...agtmux, "emit", "--hook", "codex", "--source", "notify"];
}

/** agtmux, agtmux.exe, or a release asset name (agtmux-linux-x64, …). */
const BIN_NAME = String.raw`agtmux(?:-(?:linux|darwin|windows)-(?:x64|arm64)(?:-baseline)?)?(?:\.exe)?`;
/** `(^|/)agtmux['"]? emit --hook <agent>`: the program itself, at the start of the command or after a path separator. */
const AGTMUX_HOOK_RE = new RegExp(String.raw`(?:^['"]?|[/\\])(?:${BIN_NAME}|src/cli/main\.ts)['"]?\s+emit\s+--hook\s+['"]?(claude|codex)\b`);
const BIN_BASENAME_RE = new RegExp(String.raw`(?:^|[/\\])${BIN_NAME}$`);

/** Is this hook command one agtmux setup-hooks wrote (any version, any install path)? */
export function isAgtmuxHookCommand(command: unknown): boolean {
  return typeof command === "string" && AGTMUX_HOOK_RE.test(command);
}

/** Is this `notify` value an agtmux one (any install path)? */
export function isAgtmuxNotify(value: unknown): boolean {
  if (!Array.isArray(value) || !value.every((x): x is string => typeof x === "string")) return false;
  const at = value.indexOf("emit");
  if (at < 1 || value[at + 1] !== "--hook" || value[at + 2] !== "codex") return false;
  const program = value.slice(0, at);
  return program.some((p) => BIN_BASENAME_RE.test(p) || p.endsWith("/src/cli/main.ts"));
}
