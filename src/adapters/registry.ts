/**
 * Adapter contract and registry (contracts §12). An adapter declares a
 * contract version and capabilities, and provides: identify (its process in
 * a pane), subscribe (native event sources the daemon runs for it), poll (a
 * pane-text fallback), normalize (a signal -> a Transition) and health. The
 * engine only ever sees the Transition; unknown signals degrade to
 * `unknown/unsupported_signal`, never to an invented state.
 *
 * Versioning: same major = compatible. 1.1 added the optional poll / subscribe
 * / health / hints members; a 1.0 adapter still registers and works (TC-047).
 */
import type { Envelope } from "../domain/event.ts";
import { DEFAULT_CONFIDENCE, STATES, type Confidence, type State, type Transition } from "../domain/model.ts";

export const ADAPTER_CONTRACT_VERSION = "1.1";

export interface AdapterCapabilities {
  event_driven: boolean;
  polling_required: boolean;
  supports_waiting_approval: boolean;
  supports_waiting_input: boolean;
  supports_completed: boolean;
}

/** What a pane shows, for the pane-text fallback. */
export interface PaneScreen {
  /** the visible screen, lines joined with \n (capture-pane -p -J) */
  text: string;
  title: string;
  current_command: string;
}

export interface PollResult {
  state: State;
  /** which pattern matched (for `agtmux explain`) */
  pattern: string;
  confidence?: Confidence;
}

export interface AdapterHealth {
  status: "ok" | "degraded" | "down";
  detail?: string;
}

/** What the daemon gives an adapter's subscriptions. */
export interface AdapterContext {
  /** feeds envelopes into the one ingestion path */
  emit(envelopes: Envelope[]): void;
  log(level: "info" | "warn" | "debug", msg: string, fields?: Record<string, unknown>): void;
  now(): number;
}

export interface AdapterSubscription {
  stop(): void;
}

export interface Adapter {
  id: string;
  agent_type: string;
  contract_version: string;
  capabilities: AdapterCapabilities;
  /** event_type prefixes this adapter normalizes, e.g. "claude." */
  eventPrefixes: readonly string[];
  normalize(ev: Envelope): Transition | null;
  /** is this process (argv/comm) this adapter's agent? */
  identify?(proc: { argv: readonly string[]; comm?: string | undefined }): boolean;
  /** pane-text fallback (low confidence), used while no fresh native signal exists */
  poll?(screen: PaneScreen): PollResult | null;
  /** starts native sources the daemon runs (sockets, file tails) */
  subscribe?(ctx: AdapterContext): AdapterSubscription;
  health?(): AdapterHealth;
  /** side effects for an event, e.g. SessionEnd: rescan so the ended runtime is seen at once */
  hints?(ev: Envelope): { rescan?: boolean };
  /**
   * The screen may end a native `running` that no signal ended: after two idle readings the
   * poller sends `<agent_type>.screen.stopped` on the hook stream, which normalize must map to idle.
   */
  screenEndsRunning?: boolean;
}

/** Agents with hooks for every canonical state. */
export const FULL_CAPABILITIES: AdapterCapabilities = {
  event_driven: true,
  polling_required: false,
  supports_waiting_approval: true,
  supports_waiting_input: true,
  supports_completed: true,
};

/** An event's raw payload as an object ({} when it is not one). */
export function payloadOf(ev: Pick<Envelope, "raw_payload">): Record<string, unknown> {
  const p = ev.raw_payload;
  return p !== null && typeof p === "object" && !Array.isArray(p) ? (p as Record<string, unknown>) : {};
}

/** Canonical event types any emitter may use: `state.<state>` and `heartbeat`. */
export const coreAdapter: Adapter = {
  id: "core",
  agent_type: "any",
  contract_version: ADAPTER_CONTRACT_VERSION,
  capabilities: FULL_CAPABILITIES,
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

export function unsupported(ev: Pick<Envelope, "source">): Transition {
  return { kind: "state", state: "unknown", confidence: DEFAULT_CONFIDENCE[ev.source], reason_code: "unsupported_signal" };
}

export class AdapterRegistry {
  private readonly adapters: Adapter[] = [];
  constructor(initial: readonly Adapter[] = [coreAdapter]) {
    for (const a of initial) this.register(a);
  }
  register(a: Adapter): void {
    const [major] = a.contract_version.split(".");
    const [ourMajor] = ADAPTER_CONTRACT_VERSION.split(".");
    if (major !== ourMajor || !/^\d+\.\d+$/.test(a.contract_version)) {
      throw new Error(`adapter ${a.id}: contract ${a.contract_version} is incompatible with ${ADAPTER_CONTRACT_VERSION}`);
    }
    if (this.adapters.some((x) => x.id === a.id)) throw new Error(`adapter ${a.id} is already registered`);
    this.adapters.push(a);
  }
  list(): readonly Adapter[] {
    return this.adapters;
  }
  byAgent(agentType: string): Adapter | undefined {
    return this.adapters.find((a) => a.agent_type === agentType);
  }
  private claim(ev: Envelope): Adapter | undefined {
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
    return best;
  }
  /** Longest matching prefix wins; no match or no answer -> unknown/unsupported_signal. */
  normalize(ev: Envelope): Transition {
    let t: Transition | null = null;
    try {
      t = this.claim(ev)?.normalize(ev) ?? null;
    } catch {
      t = null; // a faulty adapter degrades its signal, never the daemon
    }
    return t ?? unsupported(ev);
  }
  hints(ev: Envelope): { rescan?: boolean } {
    try {
      return this.claim(ev)?.hints?.(ev) ?? {};
    } catch {
      return {};
    }
  }
}
