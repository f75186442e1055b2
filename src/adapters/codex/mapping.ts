/**
 * Which pane's Codex runtime a Codex app-server thread belongs to. Pure.
 *
 * In daemon mode (Codex ≥ 0.16x) every TUI is a client of one shared daemon;
 * nothing the daemon says names a pane (hooks and notify even carry the
 * TMUX_PANE of whichever pane started the daemon). What does tie a thread to a
 * pane:
 *  - `cwd`: the TUI's working directory, which is the pane's
 *    `pane_current_path` while the TUI runs in the foreground;
 *  - `createdAtMs` (the UUIDv7 id's time): a TUI creates its thread right
 *    after it starts — observed 1.1 s after the TUI's launcher process
 *    started, 2.9 s for the TUI that also had to start the daemon;
 *  - `preview`: the first user message, which the TUI shows on screen as
 *    `› <prompt>` once submitted.
 *
 * The rule (docs/agents/codex-adapter.md has the evidence):
 *  1. candidates = active Codex runtimes whose pane cwd equals the thread's
 *     cwd and that started no later than the thread's creation (+ toleranceMs,
 *     for the coarse clocks of process start times);
 *  2. none → nothing; exactly one → that runtime;
 *  3. several → the one whose screen shows the preview as a submitted prompt
 *     (screens are optional: the caller captures them only when asked);
 *  4. else the latest-started candidate whose start lies within windowMs
 *     before the thread's creation, when it is the only candidate in that
 *     window (a runtime whose own startup thread is already claimed does not
 *     count: each TUI creates one thread when it starts);
 *  5. else ambiguous → the thread maps to nothing: its pane stays as it is
 *     (unknown) rather than being guessed.
 * A runtime may own several threads over time (`/new`): the newest claimed
 * thread (by creation time) speaks for the pane (`newestThreadByRuntime`).
 */

export interface MappingThread {
  id: string;
  cwd: string;
  /** creation time, ms (from the UUIDv7 id when it is one) */
  createdAtMs: number;
  /** the first user message ("" before the first prompt) */
  preview: string;
}

export interface RuntimeCandidate {
  runtime_id: string;
  pane_id: string;
  /** the pane's current path (pane_current_path); null when unknown */
  cwd: string | null;
  /** the agent process's start, ms */
  started_at: number;
  /** the pane's visible text, when captured */
  screen?: string | undefined;
}

/** A thread already mapped to a runtime. */
export interface ThreadClaim {
  thread_id: string;
  runtime_id: string;
  createdAtMs: number;
}

export interface MappingOptions {
  /** a runtime may appear to start this much after its thread (clock granularity), default 1,000 ms */
  toleranceMs: number;
  /** a TUI creates its thread within this long of starting, default 8,000 ms */
  windowMs: number;
}

export const MAPPING_DEFAULTS: MappingOptions = { toleranceMs: 1_000, windowMs: 8_000 };

export type MappingRule = "only_candidate" | "screen_preview" | "startup_window";

export type MappingResult =
  | { kind: "mapped"; runtime_id: string; pane_id: string; rule: MappingRule }
  | { kind: "none"; reason: "no_runtime" | "cwd_mismatch" | "started_after_thread" | "no_cwd" }
  /** several candidates and nothing decides; `wantsScreens`: screens were not given and could decide */
  | { kind: "ambiguous"; candidates: string[]; wantsScreens: boolean };

/** Trailing slashes and repeated slashes do not make a different directory. */
export function normalizeCwd(p: string): string {
  const s = p.trim().replace(/\/{2,}/g, "/");
  return s.length > 1 ? s.replace(/\/+$/, "") : s;
}

const collapse = (s: string): string => s.replace(/\s+/g, " ").trim();

/** Shortest screen line prefix accepted for a prompt the TUI wrapped over several lines. */
const MIN_WRAPPED_PREFIX = 16;

/**
 * Does the screen show `preview` as a prompt the user submitted? The TUI
 * prints it as `› <first line of the prompt>` (long prompts wrap onto
 * indented lines, so a long enough beginning counts too).
 */
export function screenShowsPrompt(screen: string, preview: string): boolean {
  const want = collapse(preview.split("\n").find((l) => l.trim() !== "") ?? "");
  if (want === "") return false;
  for (const raw of screen.split("\n")) {
    const m = /^\s*›\s?(.*)$/.exec(raw);
    if (m === null) continue;
    const got = collapse(m[1] ?? "");
    if (got === "") continue;
    if (got === want) return true;
    if (got.length >= MIN_WRAPPED_PREFIX && want.startsWith(got)) return true;
  }
  return false;
}

/** runtime_id → the claimed thread that speaks for it (the newest by creation; ties: the larger id). */
export function newestThreadByRuntime(claims: Iterable<ThreadClaim>): Map<string, ThreadClaim> {
  const out = new Map<string, ThreadClaim>();
  for (const c of claims) {
    const cur = out.get(c.runtime_id);
    if (cur === undefined || c.createdAtMs > cur.createdAtMs || (c.createdAtMs === cur.createdAtMs && c.thread_id > cur.thread_id)) out.set(c.runtime_id, c);
  }
  return out;
}

export function mapThread(
  thread: MappingThread,
  runtimes: readonly RuntimeCandidate[],
  claims: readonly ThreadClaim[] = [],
  options: Partial<MappingOptions> = {},
): MappingResult {
  const opts: MappingOptions = { ...MAPPING_DEFAULTS, ...options };
  if (runtimes.length === 0) return { kind: "none", reason: "no_runtime" };
  if (thread.cwd.trim() === "") return { kind: "none", reason: "no_cwd" };
  const cwd = normalizeCwd(thread.cwd);
  const sameCwd = runtimes.filter((r) => r.cwd !== null && normalizeCwd(r.cwd) === cwd);
  if (sameCwd.length === 0) return { kind: "none", reason: "cwd_mismatch" };
  const candidates = sameCwd.filter((r) => r.started_at <= thread.createdAtMs + opts.toleranceMs);
  if (candidates.length === 0) return { kind: "none", reason: "started_after_thread" };
  const only = candidates[0];
  if (candidates.length === 1 && only !== undefined) return { kind: "mapped", runtime_id: only.runtime_id, pane_id: only.pane_id, rule: "only_candidate" };

  // 3. the screen shows the thread's first prompt
  const haveScreens = candidates.some((c) => c.screen !== undefined);
  if (haveScreens && thread.preview.trim() !== "") {
    const shown = candidates.filter((c) => c.screen !== undefined && screenShowsPrompt(c.screen, thread.preview));
    const hit = shown[0];
    if (shown.length === 1 && hit !== undefined) return { kind: "mapped", runtime_id: hit.runtime_id, pane_id: hit.pane_id, rule: "screen_preview" };
  }

  // 4. the only runtime that started just before the thread (and has not claimed its startup thread yet)
  const startupClaimed = (r: RuntimeCandidate): boolean =>
    claims.some(
      (c) =>
        c.runtime_id === r.runtime_id &&
        c.thread_id !== thread.id &&
        c.createdAtMs >= r.started_at - opts.toleranceMs &&
        c.createdAtMs <= r.started_at + opts.windowMs,
    );
  const inWindow = candidates.filter((r) => thread.createdAtMs - r.started_at <= opts.windowMs && !startupClaimed(r));
  const win = inWindow[0];
  if (inWindow.length === 1 && win !== undefined) return { kind: "mapped", runtime_id: win.runtime_id, pane_id: win.pane_id, rule: "startup_window" };

  return {
    kind: "ambiguous",
    candidates: candidates.map((c) => c.runtime_id),
    wantsScreens: !haveScreens && thread.preview.trim() !== "",
  };
}
