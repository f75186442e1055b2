/** Human tables for the read API's JSON: read at a glance, coloured only on a TTY without NO_COLOR. */
import { hostname } from "node:os";
import type { State } from "../domain/model.ts";
import type { ListResponse, PaneItem, SessionItem, SessionNameItem, Summary, TargetError, WindowItem } from "../wire/list.ts";

export interface Style {
  color: boolean;
}

export function styleFor(stream: { isTTY?: boolean }, env: Record<string, string | undefined>): Style {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return { color: false };
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== "" && env.FORCE_COLOR !== "0") return { color: true };
  return { color: stream.isTTY === true && env.TERM !== "dumb" };
}

const SGR: Record<State, string> = {
  waiting_approval: "1;35", // bold magenta: you are needed now
  waiting_input: "1;33", // bold yellow
  error: "1;31", // bold red
  running: "32", // green
  completed: "36", // cyan
  idle: "2", // dim
  unknown: "90", // grey
};

export function paint(st: Style, code: string, s: string): string {
  return st.color && s !== "" ? `\u001b[${code}m${s}\u001b[0m` : s;
}
const bold = (st: Style, s: string): string => paint(st, "1", s);
const dim = (st: Style, s: string): string => paint(st, "2", s);

export function stateText(st: Style, s: State | null): string {
  if (s === null) return "-";
  return paint(st, SGR[s], s);
}

export function age(seconds: number | null): string {
  if (seconds === null) return "-";
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86_400)}d`;
}

/** Visible width (ANSI stripped; wide characters count 2). */
function width(s: string): number {
  let w = 0;
  // oxlint-disable-next-line no-control-regex -- stripping our own SGR escapes is the point
  for (const ch of s.replace(/\u001b\[[0-9;]*m/g, "")) {
    const cp = ch.codePointAt(0) ?? 0;
    w += cp >= 0x1100 && (cp <= 0x115f || (cp >= 0x2e80 && cp <= 0xa4cf) || (cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60) || (cp >= 0xffe0 && cp <= 0xffe6) || cp >= 0x1f300) ? 2 : 1;
  }
  return w;
}

/** Control characters in names are shown escaped, never sent to the terminal. */
export function safe(s: string | null | undefined): string {
  if (s === null || s === undefined) return "";
  // oxlint-disable-next-line no-control-regex -- matching control characters is the point
  return s.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

export function table(rows: string[][], indent = "  "): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, width(c))));
  return rows.map((r) => indent + r.map((c, i) => (i === r.length - 1 ? c : c + " ".repeat((widths[i] ?? 0) - width(c)))).join("  ").trimEnd());
}

function summaryLine(st: Style, s: Summary): string {
  const parts = [`${s.agent_panes} agent pane${s.agent_panes === 1 ? "" : "s"}`];
  const states = (Object.entries(s.by_state) as Array<[State, number]>).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${stateText(st, k)}`);
  if (states.length > 0) parts.push(states.join(", "));
  parts.push(`${s.panes} pane${s.panes === 1 ? "" : "s"} in ${s.sessions} session${s.sessions === 1 ? "" : "s"}`);
  if (s.needs_action > 0) parts.push(bold(st, `${s.needs_action} need${s.needs_action === 1 ? "s" : ""} you`));
  return parts.join(" · ");
}

/** One row per failing target: "! vm1: unreachable (since 2m) — <why> [E_TARGET_UNREACHABLE]". */
export function errorLines(st: Style, errors: TargetError[], now = Date.now()): string[] {
  return errors.map((e) => {
    const since = e.since === null ? "" : ` (since ${age(Math.max(0, Math.round((now - Date.parse(e.since)) / 1000)))})`;
    const what = e.health === "down" ? "unreachable" : e.health === "degraded" ? "degraded" : "failing";
    const why = e.message.startsWith(`${e.target}: `) ? e.message.slice(e.target.length + 2) : e.message;
    return paint(st, "33", `! ${e.target}: ${what}${since} — ${safe(why)} [${e.code}]; its panes show what was last seen`);
  });
}

export function renderPanes(st: Style, r: ListResponse<PaneItem>): string {
  const out: string[] = [];
  if (r.items.length === 0) {
    out.push(r.summary.panes === 0 ? "No tmux panes found." : `No ${r.filters.all === true ? "" : "agent "}panes match. ${r.summary.panes} pane(s) in ${r.summary.sessions} session(s)${r.filters.all === true ? "" : " — use --all to list every pane"}.`);
  }
  let group = "";
  let rows: string[][] = [];
  const flush = (): void => {
    if (rows.length > 0) out.push(...table(rows));
    rows = [];
  };
  for (const p of r.items) {
    const g = `${p.identity.target} / ${safe(p.identity.session_name)}`;
    if (g !== group) {
      flush();
      group = g;
      out.push(bold(st, g));
    }
    // tmux's default pane title is the host name: only a title an agent set is worth a column
    const title = p.title === null || p.title === hostname() || p.title === hostname().split(".")[0] ? "" : safe(p.title);
    const detail = p.state === "unknown" ? (p.reason_code ?? "") : title;
    rows.push([
      `${p.window_index ?? "?"}:${safe(p.window_name)}`,
      `${p.identity.pane_id}${p.active && p.window_active ? "*" : ""}`,
      p.agent?.type ?? dim(st, safe(p.current_command) || "-"),
      stateText(st, p.state),
      age(p.age_s),
      dim(st, detail.length > 40 ? `${detail.slice(0, 39)}…` : detail),
    ]);
  }
  flush();
  out.push(...errorLines(st, r.target_errors));
  out.push(dim(st, summaryLine(st, r.summary)));
  return out.join("\n");
}

export function renderWindows(st: Style, r: ListResponse<WindowItem>): string {
  const out: string[] = [];
  const rows: string[][] = [["TARGET/SESSION", "WINDOW", "PANES", "AGENTS", "TOP STATE", "WAITING", "RUNNING"]];
  for (const w of r.items) {
    rows.push([
      `${w.identity.target}/${safe(w.identity.session_name)}`,
      `${w.window_index ?? "?"}:${safe(w.window_name)} ${w.identity.window_id}${w.zoomed ? " (zoomed)" : ""}`,
      String(w.panes),
      String(w.agent_panes),
      stateText(st, w.top_state),
      String(w.waiting),
      String(w.running),
    ]);
  }
  out.push(...table(rows, ""));
  out.push(...errorLines(st, r.target_errors));
  out.push(dim(st, summaryLine(st, r.summary)));
  return out.join("\n");
}

export function renderSessions(st: Style, r: ListResponse<SessionItem | SessionNameItem>): string {
  const out: string[] = [];
  if (r.filters.group_by === "session-name") {
    const rows: string[][] = [["SESSION", "TARGETS", "WINDOWS", "PANES", "AGENTS", "TOP STATE", "WAITING", "RUNNING"]];
    for (const s of r.items as SessionNameItem[]) {
      rows.push([safe(s.identity.session_name), s.targets.join(","), String(s.totals.windows), String(s.totals.panes), String(s.totals.agent_panes), stateText(st, s.totals.top_state), String(s.totals.waiting), String(s.totals.running)]);
      for (const b of s.by_target) {
        rows.push([dim(st, `  └ ${b.identity.target}`), "", String(b.windows), String(b.panes), String(b.agent_panes), stateText(st, b.top_state), String(b.waiting), String(b.running)]);
      }
    }
    out.push(...table(rows, ""));
  } else {
    const rows: string[][] = [["TARGET/SESSION", "WINDOWS", "PANES", "AGENTS", "TOP STATE", "WAITING", "RUNNING", "AGENT SUMMARY"]];
    for (const s of r.items as SessionItem[]) {
      const summary = s.state_counts === undefined ? "" : (Object.entries(s.state_counts) as Array<[State, number]>).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${stateText(st, k)}`).join(", ");
      rows.push([`${s.identity.target}/${safe(s.identity.session_name)}${s.attached > 0 ? " (attached)" : ""}`, String(s.windows), String(s.panes), String(s.agent_panes), stateText(st, s.top_state), String(s.waiting), String(s.running), summary]);
    }
    out.push(...table(rows, ""));
  }
  out.push(...errorLines(st, r.target_errors));
  out.push(dim(st, summaryLine(st, r.summary)));
  return out.join("\n");
}

// ---- live views (agtmux watch / wait) ----

/** The states that need you, per state: what the tmux segment and the prompt show. */
export interface NeedsActionCounts {
  waiting_approval: number;
  waiting_input: number;
  error: number;
}

export function needsActionCounts(items: readonly PaneItem[]): NeedsActionCounts {
  const c: NeedsActionCounts = { waiting_approval: 0, waiting_input: 0, error: 0 };
  for (const p of items) {
    if (p.agent === null) continue;
    if (p.state === "waiting_approval" || p.state === "waiting_input" || p.state === "error") c[p.state]++;
  }
  return c;
}

/**
 * Glyphs of the tmux segment (docs/cli-watch.md): `!` an approval waits (allow
 * this tool call?), `?` the agent asks you something, `✗` an agent failed.
 * One column each, in every font tmux is used with; colours match the table's.
 */
export const SEGMENT_GLYPHS = { waiting_approval: "!", waiting_input: "?", error: "✗" } as const;
const SEGMENT_ORDER = ["waiting_approval", "waiting_input", "error"] as const;
const TMUX_STYLE: Record<keyof NeedsActionCounts, string> = { waiting_approval: "fg=magenta,bold", waiting_input: "fg=yellow,bold", error: "fg=red,bold" };
const PROMPT_WORD: Record<keyof NeedsActionCounts, string> = { waiting_approval: "approve", waiting_input: "input", error: "error" };

/** `#[fg=magenta,bold]!2 #[fg=yellow,bold]?1#[default]`; "" when nothing needs you. */
export function tmuxSegment(c: NeedsActionCounts): string {
  const parts = SEGMENT_ORDER.filter((s) => c[s] > 0).map((s) => `#[${TMUX_STYLE[s]}]${SEGMENT_GLYPHS[s]}${c[s]}`);
  return parts.length === 0 ? "" : `${parts.join(" ")}#[default]`;
}

/** `agt:2approve 1input`; "" when nothing needs you. */
export function promptSegment(c: NeedsActionCounts): string {
  const parts = SEGMENT_ORDER.filter((s) => c[s] > 0).map((s) => `${c[s]}${PROMPT_WORD[s]}`);
  return parts.length === 0 ? "" : `agt:${parts.join(" ")}`;
}

/** Ages as of now (a live view redraws them between changes); age_s is otherwise as of generated_at. */
export function withFreshAges(items: readonly PaneItem[], nowMs: number): PaneItem[] {
  return items.map((p) => {
    if (p.updated_at === null || p.age_s === null) return p;
    const at = Date.parse(p.updated_at);
    return Number.isFinite(at) ? { ...p, age_s: Math.max(0, Math.floor((nowMs - at) / 1000)) } : p;
  });
}

/** The `agtmux list <scope>` table for a list-shaped response. */
export function renderScope(st: Style, scope: "panes" | "windows" | "sessions", r: ListResponse<unknown>): string {
  if (scope === "panes") return renderPanes(st, r as ListResponse<PaneItem>);
  if (scope === "windows") return renderWindows(st, r as ListResponse<WindowItem>);
  return renderSessions(st, r as ListResponse<SessionItem | SessionNameItem>);
}

/** At most `cols` visible columns; our SGR escapes are kept (and closed when cut). */
export function clipWidth(s: string, cols: number): string {
  if (width(s) <= cols) return s;
  let out = "";
  let w = 0;
  let styled = false;
  for (let i = 0; i < s.length; ) {
    if (s.charCodeAt(i) === 0x1b) {
      // oxlint-disable-next-line no-control-regex -- our own SGR escapes
      const m = /^\u001b\[[0-9;]*m/.exec(s.slice(i));
      if (m !== null) {
        out += m[0];
        styled = true;
        i += m[0].length;
        continue;
      }
    }
    const ch = String.fromCodePoint(s.codePointAt(i) ?? 0x3f);
    const cw = width(ch);
    if (w + cw > cols - 1) {
      out += "…";
      break;
    }
    out += ch;
    w += cw;
    i += ch.length;
  }
  return styled ? `${out}\u001b[0m` : out;
}

const HIDE_CURSOR = "\u001b[?25l";
const SHOW_CURSOR = "\u001b[?25h";
const HOME = "\u001b[H";
/** erase to the end of the line / of the screen */
const EL = "\u001b[K";
const ED = "\u001b[J";

export interface FrameOutput {
  write(s: string): void;
  /** redraw in place (a terminal) or append frames (a pipe or file) */
  tty: boolean;
  size?: () => { columns?: number | undefined; rows?: number | undefined };
}

/**
 * Draws a live view. On a terminal: in place and flicker-free (cursor hidden,
 * home, each line then erase-to-end-of-line, then erase-below; no screen
 * clear), clipped to the window, and only when the text changed. Elsewhere:
 * one frame per change (the header is not compared), separated by a blank line.
 */
export class FrameWriter {
  private last: string | null = null;
  private drawn = false;
  constructor(private readonly o: FrameOutput) {}

  /** true when something was written */
  frame(header: readonly string[], body: readonly string[]): boolean {
    if (!this.o.tty) {
      const key = body.join("\n");
      if (key === this.last) return false;
      this.o.write(`${this.last === null ? "" : "\n"}${[...header, ...body].join("\n")}\n`);
      this.last = key;
      return true;
    }
    const { columns, rows } = this.o.size?.() ?? {};
    let lines = [...header, ...body];
    if (rows !== undefined && rows > 1 && lines.length > rows) {
      const more = lines.length - (rows - 1);
      lines = [...lines.slice(0, rows - 1), `… ${more} more line${more === 1 ? "" : "s"}`];
    }
    // one column spare: erasing from a pending wrap at the last column would eat the last character
    if (columns !== undefined && columns > 1) lines = lines.map((l) => clipWidth(l, columns - 1));
    const text = lines.join("\n");
    if (text === this.last) return false;
    this.o.write(`${this.drawn ? "" : HIDE_CURSOR}${HOME}${lines.map((l) => `${l}${EL}`).join("\n")}${ED}`);
    this.last = text;
    this.drawn = true;
    return true;
  }

  /** the next frame is drawn even when unchanged (after a resize) */
  invalidate(): void {
    if (this.o.tty) this.last = null;
  }

  /** a terminal gets its cursor back, below the last frame */
  close(): void {
    if (this.o.tty && this.drawn) this.o.write(`${SHOW_CURSOR}\n`);
    this.drawn = false;
  }
}
