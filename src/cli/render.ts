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
