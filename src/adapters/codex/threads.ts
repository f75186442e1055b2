/**
 * Per-thread state machine for the Codex (0.169) app-server's
 * `thread/status/changed` broadcasts. Pure: no IO, no clock.
 *
 *   active{[]}                   → running
 *   active{[waitingOnApproval]}  → waiting_approval   (wins over waitingOnUserInput)
 *   active{[waitingOnUserInput]} → waiting_input
 *   systemError                  → error
 *   idle after active            → turn ended (completed, unless the rollout says
 *                                  error or interrupted: see ./rollout.ts)
 *   idle at first sight          → idle
 *   idle after systemError       → nothing (the error holds until the next turn)
 *   notLoaded                    → nothing (the thread is unloaded; seen afresh if loaded again)
 *   a repeat of the last status  → nothing
 *
 * Threads that are not a user's conversation are ignored altogether: the
 * TUI's ephemeral title-generation side thread (`ephemeral: true`, or its
 * preview / notify input is the title prompt) and sub-agent threads (they
 * share the parent's cwd and would otherwise take over its pane; the parent
 * thread stays active while they run).
 *
 * Observed: tests/fixtures/codex/0.169.0/* (sequence.txt).
 */
import type { CodexThreadStatus } from "./appserver.ts";
import { TITLE_PROMPT } from "./index.ts";

export type ThreadState = "running" | "waiting_approval" | "waiting_input" | "error" | "idle";

export type IgnoreReason = "ephemeral" | "title_thread" | "sub_agent" | "not_loaded" | "unknown_status" | "repeat" | "after_error";

export type ThreadStep =
  | { kind: "state"; state: ThreadState; firstSight: boolean }
  /** idle after active: the turn ended; how (completed / error / interrupted) is in the rollout */
  | { kind: "turn_ended" }
  | { kind: "ignore"; reason: IgnoreReason };

/** What is known about a thread from `thread/started` / `thread/read` (all optional). */
export interface ThreadFacts {
  id: string;
  ephemeral?: boolean;
  preview?: string;
  source?: string;
  parentThreadId?: string | null;
}

/** Why a thread is not a user's conversation, or null when it is one. */
export function ignoreReasonOf(f: ThreadFacts): "ephemeral" | "title_thread" | "sub_agent" | null {
  if (f.ephemeral === true) return "ephemeral";
  if (f.preview !== undefined && f.preview.trimStart().startsWith(TITLE_PROMPT)) return "title_thread";
  if ((f.parentThreadId !== undefined && f.parentThreadId !== null) || f.source === "subAgent") return "sub_agent";
  return null;
}

/** A short, stable label: `active[waitingOnApproval]`, `idle`, … (dedupe keys, logs). */
export function statusLabel(s: CodexThreadStatus): string {
  if (s.type === "active") return `active[${s.activeFlags.join(",")}]`;
  return s.type;
}

/** The state an active status means. */
export function activeState(flags: readonly string[]): "running" | "waiting_approval" | "waiting_input" {
  if (flags.includes("waitingOnApproval")) return "waiting_approval";
  if (flags.includes("waitingOnUserInput")) return "waiting_input";
  return "running";
}

type Phase = "active" | "idle" | "systemError";

interface Track {
  phase: Phase | null;
  label: string | null;
  ignored: "ephemeral" | "title_thread" | "sub_agent" | null;
}

export class ThreadMachine {
  private readonly tracks = new Map<string, Track>();

  private track(id: string): Track {
    let t = this.tracks.get(id);
    if (t === undefined) {
      t = { phase: null, label: null, ignored: null };
      this.tracks.set(id, t);
    }
    return t;
  }

  /** Records facts (thread/started, thread/read, a notify's input); once ignored, always ignored. */
  observe(f: ThreadFacts): void {
    const t = this.track(f.id);
    t.ignored ??= ignoreReasonOf(f);
  }

  /** Marks a thread as the title thread (its notify's input-messages start with the title prompt). */
  markTitleThread(id: string): void {
    this.track(id).ignored ??= "title_thread";
  }

  isIgnored(id: string): boolean {
    return this.tracks.get(id)?.ignored != null;
  }

  knows(id: string): boolean {
    return this.tracks.has(id);
  }

  /** One status of one thread, in arrival order. */
  step(threadId: string, status: CodexThreadStatus): ThreadStep {
    const t = this.track(threadId);
    if (t.ignored !== null) return { kind: "ignore", reason: t.ignored };
    const label = statusLabel(status);
    switch (status.type) {
      case "notLoaded":
        t.phase = null;
        t.label = null;
        return { kind: "ignore", reason: "not_loaded" };
      case "other":
        return { kind: "ignore", reason: "unknown_status" };
      default:
        break;
    }
    if (t.label === label) return { kind: "ignore", reason: "repeat" };
    const prev = t.phase;
    t.label = label;
    if (status.type === "active") {
      t.phase = "active";
      return { kind: "state", state: activeState(status.activeFlags), firstSight: prev === null };
    }
    if (status.type === "systemError") {
      t.phase = "systemError";
      return { kind: "state", state: "error", firstSight: prev === null };
    }
    // idle
    t.phase = "idle";
    if (prev === "active") return { kind: "turn_ended" };
    if (prev === "systemError") return { kind: "ignore", reason: "after_error" };
    return { kind: "state", state: "idle", firstSight: true };
  }

  forget(threadId: string): void {
    this.tracks.delete(threadId);
  }

  size(): number {
    return this.tracks.size;
  }
}
