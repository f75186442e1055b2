/** GET /v1/explain: the evidence behind one pane's state. */
import type { Confidence, State, TargetHealth } from "../domain/model.ts";
import type { PaneItem } from "./list.ts";

export interface ExplainCandidate {
  source: string;
  state: State;
  effective_state: State;
  confidence: Confidence;
  reason_code: string | null;
  event_id: string;
  ingested_at: string;
  age_s: number;
  last_seen_at: string;
  ttl_s: number | null;
  stale_at: string | null;
  demotes_at: string | null;
  fresh: boolean;
  in_tier: boolean;
  won: boolean;
}

export interface ExplainResponse {
  schema_version: number;
  generated_at: string;
  pane: PaneItem;
  target: { target: string; health: TargetHealth; last_error: string | null };
  /** how the state was decided: target_down | no_signal | all_stale | precedence | no_agent */
  rule: string;
  resolved: { state: State; reason_code: string | null; confidence: Confidence; source: string | null } | null;
  candidates: ExplainCandidate[];
  recent_events: Array<{
    event_id: string;
    source: string;
    event_type: string;
    outcome: string;
    state: string | null;
    confidence: string | null;
    event_time: string | null;
    ingested_at: string;
    age_s: number;
    action_id: string | null;
  }>;
  unbound_events: Array<{ event_id: string; source: string; status: string; reason_code: string | null; ingested_at: string }>;
}
