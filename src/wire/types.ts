/**
 * Wire types of API v1, shared by the daemon (producer) and the client
 * (consumer). Neither side imports the other; both import this.
 */
import type { ErrorEnvelope } from "../domain/errors.ts";
import type { IngestResult, IngestStatus } from "../domain/event.ts";
import type { TargetHealth } from "../domain/model.ts";

export const API_SCHEMA_VERSION = 1;

export interface ErrorBody {
  schema_version: number;
  error: ErrorEnvelope;
}

export interface TargetHealthView {
  target_id: string;
  kind: "local" | "ssh";
  health: TargetHealth;
  health_changed_at: string | null;
  last_topology_at: string | null;
}

export interface HealthResponse {
  schema_version: number;
  generated_at: string;
  status: "ok" | "degraded" | "shutting_down";
  version: string;
  commit: string;
  pid: number;
  started_at: string;
  uptime_s: number;
  stream_id: string;
  socket: string;
  db: { path: string; schema_version: number };
  debug: boolean;
  targets: TargetHealthView[];
  /** registered adapters with their contract version, capabilities and health (contracts §12) */
  adapters: AdapterHealthView[];
}

export interface AdapterHealthView {
  id: string;
  agent_type: string;
  contract_version: string;
  capabilities: Record<string, boolean>;
  health: { status: "ok" | "degraded" | "down"; detail?: string };
}

export interface EventsResponse {
  schema_version: number;
  generated_at: string;
  results: IngestResult[];
  summary: Partial<Record<IngestStatus, number>>;
}

/** One line of a spool file (`agtmux emit` when the daemon is unreachable). */
export interface SpoolLine {
  v: 1;
  /** epoch ms on the emitting host when the event was queued */
  queued_at: number;
  event: unknown;
}

export const SPOOL_ACTIVE_FILE = "events.jsonl";
export const SPOOL_REJECTED_FILE = "rejected.jsonl";
