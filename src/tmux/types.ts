/** What the tmux boundary returns: typed, keyed on immutable ids ($N, @N, %N). */

export interface TmuxSocket {
  /** `-L name` (socket in $TMUX_TMPDIR/tmux-UID/) */
  name?: string;
  /** `-S path` */
  path?: string;
}

export interface ServerInfo {
  pid: number;
  /** server start time, epoch ms */
  started_at: number;
  /** stable for one server lifetime: derived from pid + start time (contracts §4) */
  boot_id: string;
  version: string;
}

export interface PaneInfo {
  session_id: string; // $N
  session_name: string;
  session_created: number; // epoch ms
  session_attached: number; // attached clients
  window_id: string; // @N
  window_index: number;
  window_name: string;
  window_active: boolean;
  window_zoomed: boolean;
  pane_id: string; // %N
  pane_index: number;
  pane_active: boolean;
  pane_dead: boolean;
  pane_pid: number | null;
  pane_current_command: string;
  pane_current_path: string;
  pane_title: string;
  pane_width: number;
  pane_height: number;
}

export interface TopologySnapshot {
  server: ServerInfo;
  /** one row per pane; a window linked into several sessions appears once, under its lowest session id */
  panes: PaneInfo[];
}

export type TmuxErrorKind = "no_server" | "too_old" | "not_found" | "timeout" | "parse" | "failed";

export class TmuxError extends Error {
  constructor(
    readonly kind: TmuxErrorKind,
    message: string,
    readonly stderr = "",
  ) {
    super(message);
    this.name = "TmuxError";
  }
}

export const MIN_TMUX_VERSION = { major: 3, minor: 3 } as const;
