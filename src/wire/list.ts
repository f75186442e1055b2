/** Wire types of the read API (GET /v1/panes|windows|sessions|targets), shared by daemon and CLI. */
import type { Confidence, State, TargetHealth } from "../domain/model.ts";

export interface PaneIdentity {
  target: string;
  session_name: string;
  window_id: string;
  pane_id: string;
}
export interface WindowIdentity {
  target: string;
  session_name: string;
  window_id: string;
}
export interface SessionIdentity {
  target: string;
  session_name: string;
}

export interface AgentInfo {
  type: string;
  pid: number | null;
  started_at: string | null;
  runtime_id: string;
  pane_epoch: number | null;
}

export interface PaneItem {
  identity: PaneIdentity;
  /** copy-paste reference for actions */
  ref: string;
  runtime_ref: string | null;
  session_id: string | null;
  session_created_at: string | null;
  session_attached: number;
  window_index: number | null;
  window_name: string | null;
  pane_index: number | null;
  active: boolean;
  window_active: boolean;
  zoomed: boolean;
  dead: boolean;
  size: { width: number | null; height: number | null };
  cwd: string | null;
  pane_pid: number | null;
  current_command: string | null;
  title: string | null;
  agent: AgentInfo | null;
  state: State | null;
  reason_code: string | null;
  confidence: Confidence | null;
  state_version: number | null;
  state_source: string | null;
  /** when the state last changed (RFC 3339) */
  updated_at: string | null;
  /** seconds since the state last changed, at generated_at */
  age_s: number | null;
  last_seen_at: string | null;
  needs_action: boolean;
}

export type StateCounts = Record<State, number>;

export interface WindowItem {
  identity: WindowIdentity;
  session_id: string | null;
  window_index: number | null;
  window_name: string | null;
  active: boolean;
  zoomed: boolean;
  panes: number;
  agent_panes: number;
  /** highest-precedence state among its agent panes */
  top_state: State | null;
  waiting: number;
  running: number;
  needs_action: number;
  /** with --with-agent-status */
  state_counts?: StateCounts;
  agent_counts?: Record<string, number>;
}

export interface SessionItem {
  identity: SessionIdentity;
  target_session: string;
  session_id: string | null;
  created_at: string | null;
  attached: number;
  windows: number;
  panes: number;
  agent_panes: number;
  top_state: State | null;
  waiting: number;
  running: number;
  needs_action: number;
  /** with --agent-summary */
  state_counts?: StateCounts;
  agent_counts?: Record<string, number>;
}

/** --group-by session-name: one row per name across targets. */
export interface SessionNameItem {
  identity: { session_name: string };
  targets: string[];
  by_target: Array<Omit<SessionItem, "state_counts" | "agent_counts"> & { state_counts: StateCounts; agent_counts: Record<string, number> }>;
  totals: {
    windows: number;
    panes: number;
    agent_panes: number;
    top_state: State | null;
    waiting: number;
    running: number;
    needs_action: number;
    state_counts: StateCounts;
    agent_counts: Record<string, number>;
  };
}

export interface Summary {
  sessions: number;
  windows: number;
  panes: number;
  agent_panes: number;
  needs_action: number;
  by_state: StateCounts;
  by_agent: Record<string, number>;
  by_target: Record<string, { sessions: number; windows: number; panes: number; agent_panes: number; needs_action: number; by_state: StateCounts }>;
}

export interface TargetError {
  target: string;
  code: string;
  message: string;
  /** health of the target (ok with a scan error, degraded, down) */
  health: string;
  /** since when the target has been failing (RFC 3339), when known */
  since: string | null;
}

export interface ListResponse<T> {
  schema_version: number;
  generated_at: string;
  filters: Record<string, unknown>;
  summary: Summary;
  items: T[];
  partial: boolean;
  requested_targets: string[];
  responded_targets: string[];
  target_errors: TargetError[];
}

export interface TargetItem {
  target: string;
  kind: "local" | "ssh";
  connection_ref: string | null;
  tmux_socket: string | null;
  /** ssh targets: where the agtmux binary is on the target (null: the default, .local/bin/agtmux) */
  agtmux_path: string | null;
  health: TargetHealth;
  health_changed_at: string | null;
  last_topology_at: string | null;
  tmux_version: string | null;
  tmux_server_pid: number | null;
  last_error: { code: string; message: string; since: string | null } | null;
  /** what the daemon's worker for this target is doing (null: none runs) */
  status: WorkerStatus | null;
}

/** A target worker's live numbers. */
export interface WorkerStatus {
  running: boolean;
  scans: number;
  scan_errors: number;
  last_scan_ms: number;
  control_clients: number;
  /** the transport is up (always true for local targets) */
  connected: boolean;
  /** ssh targets: the relay on the target that streams hook events and native signals */
  relay: { up: boolean; detail: string; version: string | null; restarts: number; lines: number } | null;
  /** ssh targets: connection numbers */
  ssh?: { connects: number; reconnects: number; channels_open: number; last_error: string | null };
}

/** `target add|connect`: reaching the target now. */
export interface ProbeReport {
  target: string;
  ok: boolean;
  latency_ms: number;
  tmux_version: string | null;
  panes: number;
  status: WorkerStatus;
}

export interface TargetResponse {
  schema_version: number;
  generated_at: string;
  target: TargetItem;
  /** add: false when the same target already existed */
  created?: boolean;
  probe: ProbeReport | null;
}

export interface RemoveTargetResponse {
  schema_version: number;
  generated_at: string;
  target: string;
  removed: boolean;
  panes_forgotten: number;
}

export interface TargetsResponse {
  schema_version: number;
  generated_at: string;
  items: TargetItem[];
}
