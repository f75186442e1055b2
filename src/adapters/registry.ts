/**
 * Adapter registry (contracts §12). The engine only ever sees the
 * `Transition` that `normalize` returns; adapters claim event types by prefix.
 * Unknown event types degrade to `unknown/unsupported_signal`, never to an
 * invented state.
 */
import type { Envelope } from "../domain/event.ts";
import { DEFAULT_CONFIDENCE, STATES, type State, type Transition } from "../domain/model.ts";

export const ADAPTER_CONTRACT_VERSION = "1.0";

export interface AdapterCapabilities {
  event_driven: boolean;
  polling_required: boolean;
  supports_waiting_approval: boolean;
  supports_waiting_input: boolean;
  supports_completed: boolean;
}

export interface Adapter {
  id: string;
  agent_type: string;
  contract_version: string;
  capabilities: AdapterCapabilities;
  /** event_type prefixes this adapter normalizes, e.g. "claude." */
  eventPrefixes: readonly string[];
  normalize(ev: Envelope): Transition | null;
}

/** Canonical event types any emitter may use: `state.<state>` and `heartbeat`. */
export const coreAdapter: Adapter = {
  id: "core",
  agent_type: "any",
  contract_version: ADAPTER_CONTRACT_VERSION,
  capabilities: {
    event_driven: true,
    polling_required: false,
    supports_waiting_approval: true,
    supports_waiting_input: true,
    supports_completed: true,
  },
  eventPrefixes: ["state.", "heartbeat"],
  normalize(ev) {
    if (ev.event_type === "heartbeat") return { kind: "heartbeat" };
    const s = ev.event_type.slice("state.".length);
    if (!(STATES as readonly string[]).includes(s)) return null;
    const state = s as State;
    return state === "unknown"
      ? { kind: "state", state, confidence: DEFAULT_CONFIDENCE[ev.source], reason_code: "unsupported_signal" }
      : { kind: "state", state, confidence: DEFAULT_CONFIDENCE[ev.source] };
  },
};

export class AdapterRegistry {
  private readonly adapters: Adapter[] = [];
  constructor(initial: readonly Adapter[] = [coreAdapter]) {
    for (const a of initial) this.register(a);
  }
  register(a: Adapter): void {
    const [major] = a.contract_version.split(".");
    const [ourMajor] = ADAPTER_CONTRACT_VERSION.split(".");
    if (major !== ourMajor) throw new Error(`adapter ${a.id}: contract ${a.contract_version} is incompatible with ${ADAPTER_CONTRACT_VERSION}`);
    if (this.adapters.some((x) => x.id === a.id)) throw new Error(`adapter ${a.id} is already registered`);
    this.adapters.push(a);
  }
  list(): readonly Adapter[] {
    return this.adapters;
  }
  /** Longest matching prefix wins; no match -> unknown/unsupported_signal. */
  normalize(ev: Envelope): Transition {
    let best: Adapter | undefined;
    let bestLen = -1;
    for (const a of this.adapters) {
      for (const p of a.eventPrefixes) {
        if (ev.event_type.startsWith(p) && p.length > bestLen) {
          best = a;
          bestLen = p.length;
        }
      }
    }
    const t = best?.normalize(ev) ?? null;
    return t ?? { kind: "state", state: "unknown", confidence: DEFAULT_CONFIDENCE[ev.source], reason_code: "unsupported_signal" };
  }
}
