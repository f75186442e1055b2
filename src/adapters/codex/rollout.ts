/**
 * How a Codex turn ended, from the thread's rollout JSONL
 * (`$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<local start>-<thread id>.jsonl`,
 * also `thread/read`'s `path` and the hooks' `transcript_path`). One JSON
 * object per line: `{"timestamp","ordinal","type","payload"}`. The lines that
 * matter here are `event_msg` with payload type
 *   - `task_started`   a turn began
 *   - `task_complete`  the turn ended; with a non-null `error` it failed
 *   - `turn_aborted`   the turn was cut short (`reason: "interrupted"`: Esc, or
 *                      an approval the user rejected)
 * The app-server's `idle` after `active` does not say which; this does.
 *
 * Parsing is pure; `readLastTurn` is a small synchronous tail reader (the
 * file grows by appends; only its end is read).
 */
import { closeSync, fstatSync, openSync, readdirSync, readSync } from "node:fs";
import { join } from "node:path";

export type TurnEndKind = "completed" | "error" | "interrupted";

export type RolloutSignal =
  | { kind: "started"; turnId: string | null; at: number | null }
  | { kind: TurnEndKind; turnId: string | null; at: number | null; reason: string | null; errorMessage: string | null };

export type LastTurn =
  /** no turn in the file (or none in the part read) */
  | { kind: "none" }
  /** the newest turn has started and not ended (or its end is not written yet) */
  | { kind: "in_progress"; turnId: string | null; at: number | null }
  | { kind: "ended"; end: Extract<RolloutSignal, { kind: TurnEndKind }> };

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown): string | null => (typeof v === "string" ? v : null);

/** Cheap pre-filter: only lines naming one of the three payload types are parsed. */
const INTERESTING = /"type"\s*:\s*"(?:task_started|task_complete|turn_aborted)"/;

/** One rollout line → a turn boundary, or null (anything else, or not JSON). */
export function parseRolloutLine(line: string): RolloutSignal | null {
  if (!INTERESTING.test(line)) return null;
  let o: unknown;
  try {
    o = JSON.parse(line);
  } catch {
    return null;
  }
  if (!isObj(o) || o.type !== "event_msg" || !isObj(o.payload)) return null;
  const p = o.payload;
  const ts = str(o.timestamp);
  const parsed = ts === null ? Number.NaN : Date.parse(ts);
  const at = Number.isFinite(parsed) ? parsed : null;
  const turnId = str(p.turn_id);
  switch (p.type) {
    case "task_started":
      return { kind: "started", turnId, at };
    case "task_complete": {
      const err = p.error;
      if (err !== undefined && err !== null && err !== false) {
        const msg = isObj(err) ? str(err.message) : str(err);
        return { kind: "error", turnId, at, reason: null, errorMessage: msg ?? "" };
      }
      return { kind: "completed", turnId, at, reason: null, errorMessage: null };
    }
    case "turn_aborted":
      return { kind: "interrupted", turnId, at, reason: str(p.reason), errorMessage: null };
    default:
      return null;
  }
}

/** The newest turn boundary in a chunk of rollout text (whole lines). */
export function lastTurnOf(text: string): LastTurn {
  const lines = text.split("\n");
  for (let i = lines.length - 1; i >= 0; i--) {
    const sig = parseRolloutLine(lines[i] as string);
    if (sig === null) continue;
    if (sig.kind === "started") return { kind: "in_progress", turnId: sig.turnId, at: sig.at };
    return { kind: "ended", end: sig };
  }
  return { kind: "none" };
}

/** The canonical state a turn end means: completed, error, or idle (interrupted / rejected). */
export function turnEndState(kind: TurnEndKind): "completed" | "error" | "idle" {
  return kind === "interrupted" ? "idle" : kind;
}

export const TAIL_BYTES = 64 * 1024;
export const MAX_TAIL_BYTES = 4 * 1024 * 1024;

/**
 * Reads the end of a rollout file and returns its newest turn boundary;
 * grows the window (x4) while nothing is found, up to `maxBytes`.
 * Null when the file cannot be read.
 */
export function readLastTurn(path: string, opts: { tailBytes?: number; maxBytes?: number } = {}): LastTurn | null {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return null;
  }
  try {
    const size = fstatSync(fd).size;
    let want = Math.min(size, opts.tailBytes ?? TAIL_BYTES);
    const max = Math.min(size, opts.maxBytes ?? MAX_TAIL_BYTES);
    for (;;) {
      const start = size - want;
      const buf = Buffer.alloc(want);
      let got = 0;
      while (got < want) {
        const n = readSync(fd, buf, got, want - got, start + got);
        if (n <= 0) break;
        got += n;
      }
      let text = buf.subarray(0, got).toString("utf8");
      // a window that starts mid-file may start mid-line: drop that partial line
      if (start > 0) text = text.slice(text.indexOf("\n") + 1);
      const last = lastTurnOf(text);
      if (last.kind !== "none" || want >= max) return last;
      want = Math.min(max, want * 4);
    }
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

const pad = (n: number): string => String(n).padStart(2, "0");

/** `YYYY/MM/DD` day directories that may hold a thread created at `ms` (local and UTC date, ±1 day). */
export function sessionDayDirs(ms: number): string[] {
  const out = new Set<string>();
  for (const d of [-86_400_000, 0, 86_400_000]) {
    const t = new Date(ms + d);
    out.add(`${t.getFullYear()}/${pad(t.getMonth() + 1)}/${pad(t.getDate())}`);
    out.add(`${t.getUTCFullYear()}/${pad(t.getUTCMonth() + 1)}/${pad(t.getUTCDate())}`);
  }
  return [...out];
}

/**
 * Finds `rollout-…-<threadId>.jsonl` under `$CODEX_HOME/sessions/` in the day
 * directories around the thread's creation (when `thread/read` gave no path).
 */
export function findRolloutPath(codexHome: string, threadId: string, createdAtMs: number): string | null {
  if (!/^[0-9a-f-]{8,64}$/i.test(threadId)) return null;
  const suffix = `-${threadId}.jsonl`;
  for (const day of sessionDayDirs(createdAtMs)) {
    const dir = join(codexHome, "sessions", day);
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    const hit = names.find((n) => n.startsWith("rollout-") && n.endsWith(suffix));
    if (hit !== undefined) return join(dir, hit);
  }
  return null;
}
