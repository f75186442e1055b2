/**
 * Actions (contracts §10): attach, send, view-output and kill share one path
 * that fails closed.
 *
 *   parse → idempotency (action_type, request_ref) → resolve the ref → snapshot
 *   (actions + action_snapshots rows, one transaction) → guards → re-observe the
 *   target (a fresh scan: an agent restarted a moment ago is a new runtime) →
 *   compare with the snapshot → act through the target's executor → record.
 *
 * Every failure after the snapshot is stored as the action's result, so a
 * replay with the same request_ref answers the same (action_id included).
 * Sends to one pane are serialized.
 */
import { createHash, randomUUID } from "node:crypto";
import * as v from "valibot";
import { AgtmuxError, type ErrorCode, isErrorCode } from "../domain/errors.ts";
import { summarizeIssues } from "../domain/event.ts";
import { newEventId } from "../domain/ids.ts";
import { redactString, redactValue } from "../domain/redact.ts";
import { parseRef } from "../domain/refs.ts";
import { iso, isoOrNull } from "../domain/time.ts";
import { toPaneItem } from "../domain/views.ts";
import { readProcTableVia, snapshotProcesses } from "../procs/table.ts";
import type { ActionRow, SnapshotRow } from "../store/store.ts";
import type { PaneItem } from "../wire/list.ts";
import {
  type ActionPane,
  type ActionRecord,
  type ActionResponse,
  type ActionType,
  AttachSchema,
  type AttachResult,
  KillSchema,
  type KillResult,
  SendSchema,
  type SendResult,
  ViewOutputSchema,
  type ViewOutputResult,
} from "../wire/actions.ts";
import { API_SCHEMA_VERSION } from "../wire/types.ts";
import type { DaemonContext } from "./context.ts";
import { resolveRef } from "./routes/list.ts";
import { CollectingWorker } from "./targets.ts";

/** contracts §10: a snapshot is good for 30 s */
export const SNAPSHOT_TTL_MS = 30_000;
/** between typed text and its Enter: agents' paste-burst detection must not eat the Enter */
const ENTER_PACE_MS = 120;

const SCHEMAS = { attach: AttachSchema, send: SendSchema, "view-output": ViewOutputSchema, kill: KillSchema } as const;

type Body = v.InferOutput<(typeof SCHEMAS)[ActionType]>;

export class ActionService {
  private readonly inFlight = new Map<string, Promise<ActionResponse>>();
  private readonly paneLocks = new Map<string, Promise<unknown>>();

  constructor(private readonly ctx: DaemonContext) {}

  parse(type: ActionType, body: unknown): Body {
    const r = v.safeParse(SCHEMAS[type], body);
    if (!r.success) {
      const issues = summarizeIssues(r.issues);
      throw new AgtmuxError("E_BAD_REQUEST", `invalid ${type} request: ${issues[0]?.path ?? ""} ${issues[0]?.message ?? ""}`.trim(), { issues });
    }
    return r.output;
  }

  /** Runs (or replays) an action; throws AgtmuxError with `details.action_id` once one was recorded. */
  async run(type: ActionType, body: Body): Promise<ActionResponse> {
    const key = `${type}\u0000${body.request_ref}`;
    const running = this.inFlight.get(key);
    if (running !== undefined) {
      // a retry while the first is still running: the same answer, once it has one
      const hash = requestHash(type, body);
      const row = this.ctx.store.getAction(type, body.request_ref);
      if (row !== null && row.request_hash !== hash) throw conflict(row);
      return await running;
    }
    const p = this.runOnce(type, body);
    this.inFlight.set(key, p);
    try {
      return await p;
    } finally {
      this.inFlight.delete(key);
    }
  }

  private async runOnce(type: ActionType, body: Body): Promise<ActionResponse> {
    const { store, clock } = this.ctx;
    const hash = requestHash(type, body);
    const prior = store.getAction(type, body.request_ref);
    if (prior !== null) {
      if (prior.request_hash !== hash) throw conflict(prior);
      return replay(prior);
    }
    // resolve: the same rules as the read API (E_REF_*, E_RUNTIME_STALE for an ended runtime)
    const now = clock();
    const ref = parseRef(body.ref);
    if (ref.kind === "runtime") {
      const rt = store.getRuntime(ref.runtime_id);
      if (rt !== null && rt.ended_at !== null) {
        throw new AgtmuxError("E_RUNTIME_STALE", `runtime ${ref.runtime_id} has ended (${rt.end_reason ?? "ended"}); the pane now runs something else`, { runtime_id: ref.runtime_id });
      }
    }
    const panes = store.listPaneViews(ref.kind === "pane" ? ref.target : null).map((r) => toPaneItem(r, now));
    const pane = resolveRef(ref, panes);
    const target = pane.identity.target;
    const st = store.getState(target, pane.identity.pane_id);
    const snap: SnapshotRow = {
      snapshot_id: `snap-${newEventId()}`,
      target_id: target,
      pane_id: pane.identity.pane_id,
      runtime_id: pane.agent?.runtime_id ?? null,
      state: pane.state,
      state_version: st?.state_version ?? 0,
      observed_at: now,
      expires_at: now + SNAPSHOT_TTL_MS,
      nonce: randomUUID(),
    };
    const action: ActionRow = {
      action_id: `act-${newEventId()}`,
      action_type: type,
      request_ref: body.request_ref,
      request_hash: hash,
      ref: body.ref,
      target_id: target,
      pane_id: pane.identity.pane_id,
      runtime_id: snap.runtime_id,
      snapshot_id: snap.snapshot_id,
      requested_by: body.requested_by ?? null,
      payload: JSON.stringify(redactValue(auditPayload(type, body))),
      result_code: null,
      result: null,
      created_at: now,
      completed_at: null,
    };
    store.insertAction(action, snap);
    this.audit(action, `action.${type}.requested`, now);
    try {
      const result = await this.withPaneLock(type, target, pane.identity.pane_id, async () => {
        this.guards(body, pane, snap);
        const fresh = await this.reobserve(target, pane, snap, body);
        return await this.execute(type, body, fresh, snap);
      });
      const done = clock();
      store.completeAction(action.action_id, "ok", JSON.stringify({ pane: actionPane(pane), ...(storedResult(type, result) as object) }), done);
      this.audit(action, `action.${type}.completed`, done);
      return { schema_version: API_SCHEMA_VERSION, generated_at: iso(done), action_id: action.action_id, action_type: type, request_ref: body.request_ref, replayed: false, result_code: "ok", completed_at: iso(done), pane: actionPane(pane), result };
    } catch (err) {
      const e = err instanceof AgtmuxError ? err : new AgtmuxError("E_INTERNAL", `action failed: ${err instanceof Error ? err.message : String(err)}`, {});
      const done = clock();
      store.completeAction(action.action_id, e.code, JSON.stringify({ message: redactString(e.message), details: redactValue(e.details) }), done);
      this.audit(action, `action.${type}.failed`, done);
      throw new AgtmuxError(e.code, e.message, { ...e.details, action_id: action.action_id });
    }
  }

  /** CLI guards only narrow; fail-closed checks unless force_stale. */
  private guards(body: Body, pane: PaneItem, snap: SnapshotRow): void {
    const { clock } = this.ctx;
    if (body.if_runtime !== undefined) {
      const want = body.if_runtime.replace(/^runtime:/, "");
      if (snap.runtime_id !== want) {
        throw new AgtmuxError("E_RUNTIME_STALE", `the pane runs ${snap.runtime_id === null ? "no agent" : `runtime ${snap.runtime_id}`}, not ${want}`, { expected: want, actual: snap.runtime_id });
      }
    }
    if (body.if_state !== undefined && !(body.if_state as readonly (string | null)[]).includes(pane.state)) {
      throw new AgtmuxError("E_PRECONDITION_FAILED", `the pane is ${pane.state ?? "without state"}, not ${body.if_state.join("|")}`, { expected: body.if_state, actual: pane.state });
    }
    if (body.if_updated_within_ms !== undefined) {
      const at = pane.updated_at === null ? null : Date.parse(pane.updated_at);
      if (at === null || clock() - at > body.if_updated_within_ms) {
        throw new AgtmuxError("E_PRECONDITION_FAILED", `the pane's state was last updated ${at === null ? "never" : `${Math.round((clock() - at) / 1000)} s ago`}, more than ${Math.round(body.if_updated_within_ms / 1000)} s`, { updated_at: pane.updated_at });
      }
    }
    if (body.force_stale === true) return;
    const t = this.ctx.store.getTarget(pane.identity.target);
    if (t !== null && t.health === "down") throw new AgtmuxError("E_TARGET_UNREACHABLE", `target ${t.target_id} is down: what it shows is stale`, { target: t.target_id });
    // freshness of the pane itself: reobserve() looks at the target again right before acting
  }

  /**
   * A fresh look at the target right before acting: the pane must still be
   * there, run the same runtime, and (unless forced) be in the same state
   * version as the snapshot, which must not have expired.
   */
  private async reobserve(target: string, pane: PaneItem, snap: SnapshotRow, body: Body): Promise<PaneItem> {
    const { store, clock } = this.ctx;
    const w = this.worker(target);
    await w.collector.scanNow();
    const row = store.getTarget(target);
    if (row?.last_error !== null && row?.last_error !== undefined && body.force_stale !== true) {
      throw new AgtmuxError("E_TARGET_UNREACHABLE", `${target}: ${row.last_error}`, { target });
    }
    const now = clock();
    const current = store.listPaneViews(target).map((r) => toPaneItem(r, now)).find((p) => p.identity.pane_id === pane.identity.pane_id);
    if (current === undefined) throw new AgtmuxError("E_REF_NOT_FOUND", `pane ${pane.identity.pane_id} on ${target} is gone`, { target, pane_id: pane.identity.pane_id });
    const rt = store.activeRuntime(target, pane.identity.pane_id)?.runtime_id ?? null;
    if (rt !== snap.runtime_id) {
      throw new AgtmuxError("E_RUNTIME_STALE", `the pane's agent changed since the snapshot (${snap.runtime_id ?? "none"} → ${rt ?? "none"}): not acting on a different process`, { snapshot_runtime: snap.runtime_id, runtime_id: rt });
    }
    if (body.force_stale === true) return current;
    if (now > snap.expires_at) throw new AgtmuxError("E_SNAPSHOT_EXPIRED", "the action's snapshot expired before it could run", { expires_at: iso(snap.expires_at) });
    const version = store.getState(target, pane.identity.pane_id)?.state_version ?? 0;
    if (version !== snap.state_version) {
      throw new AgtmuxError("E_PRECONDITION_FAILED", `the pane's state moved on since the snapshot (${snap.state ?? "none"} v${snap.state_version} → ${current.state ?? "none"} v${version})`, {
        snapshot_state: snap.state,
        state: current.state,
        snapshot_version: snap.state_version,
        state_version: version,
      });
    }
    return current;
  }

  /** a fresh scan still shows the runtime the action was checked against */
  private async sameRuntime(w: CollectingWorker, pane: PaneItem): Promise<void> {
    await w.collector.scanNow();
    const rt = this.ctx.store.activeRuntime(pane.identity.target, pane.identity.pane_id)?.runtime_id ?? null;
    const want = pane.agent?.runtime_id ?? null;
    if (rt !== want) {
      throw new AgtmuxError("E_RUNTIME_STALE", `the pane's agent changed while sending (${want ?? "none"} → ${rt ?? "none"}): Enter not sent`, { runtime_id: rt, expected: want });
    }
  }

  private worker(target: string): CollectingWorker {
    const w = this.ctx.targets?.get(target);
    if (!(w instanceof CollectingWorker)) throw new AgtmuxError("E_TARGET_UNREACHABLE", `no worker runs for target ${target}`, { target });
    return w;
  }

  private async execute(type: ActionType, body: Body, pane: PaneItem, snap: SnapshotRow): Promise<AttachResult | SendResult | ViewOutputResult | KillResult> {
    const w = this.worker(pane.identity.target);
    const id = pane.identity.pane_id;
    try {
      if (type === "view-output") {
        const b = body as v.InferOutput<typeof ViewOutputSchema>;
        const lines = b.lines ?? 200;
        const text = await w.tmux.capturePane(id, { lines, ansi: b.ansi === true });
        return { text, lines: text === "" ? 0 : text.split("\n").length, requested_lines: lines, ansi: b.ansi === true };
      }
      if (type === "attach") {
        await w.tmux.selectPane(pane.identity.window_id, id);
        const t = this.ctx.store.getTarget(pane.identity.target);
        return {
          kind: w.kind,
          // the ssh worker connects to connection_ref, else the target's name
          ssh_target: w.kind === "ssh" ? (t?.connection_ref ?? pane.identity.target) : null,
          // the server the worker really watches (host: the one the daemon was started from)
          tmux_socket: w.tmux.socket.path !== undefined ? { path: w.tmux.socket.path } : w.tmux.socket.name !== undefined ? { name: w.tmux.socket.name } : null,
          session_id: pane.session_id,
          window_id: pane.identity.window_id,
          pane_id: id,
        };
      }
      if (type === "send") return await this.send(w, body as v.InferOutput<typeof SendSchema>, pane);
      return await this.kill(w, body as v.InferOutput<typeof KillSchema>, pane, snap);
    } catch (err) {
      if (err instanceof AgtmuxError) throw err;
      throw new AgtmuxError("E_TARGET_UNREACHABLE", `${pane.identity.target}: ${err instanceof Error ? err.message : String(err)}`, { target: pane.identity.target });
    }
  }

  private async send(w: CollectingWorker, b: v.InferOutput<typeof SendSchema>, pane: PaneItem): Promise<SendResult> {
    const id = pane.identity.pane_id;
    const text = b.text ?? "";
    if (text !== "" && b.paste !== true && [...text].some((c) => (c.charCodeAt(0) < 0x20 && c !== "\t") || c.charCodeAt(0) === 0x7f)) {
      throw new AgtmuxError("E_BAD_REQUEST", "text has control characters or newlines: send it with --paste (or --stdin, which pastes), or as --key tokens", {});
    }
    if (b.force !== true) {
      if (pane.state === "waiting_approval" && text !== "") {
        throw new AgtmuxError("E_PRECONDITION_FAILED", "the agent waits for an approval: answer it with --key (e.g. Enter, Escape, 1) or --approve, not with text; --force types anyway", { state: pane.state });
      }
      if (pane.state === "waiting_approval" && b.approve !== true && (b.keys?.length ?? 0) + (b.enter === true ? 1 : 0) > 0) {
        throw new AgtmuxError("E_PRECONDITION_FAILED", "the agent waits for an approval: sending keys to it answers it; say so with --approve (or --force)", { state: pane.state });
      }
      const answering = pane.state === "waiting_approval" && b.approve === true && text === "";
      if ((text !== "" || b.enter === true) && !answering) {
        const draft = await this.draftIn(w, id);
        if (draft !== null) {
          throw new AgtmuxError("E_PRECONDITION_FAILED", `the agent's input box holds a half-typed draft (${JSON.stringify(draft.slice(0, 40))}): not typing over it; --force to send anyway`, { draft: redactString(draft.slice(0, 200)) });
        }
      }
    }
    // every delivery is conditional, in tmux itself, on the pane still running the process we checked
    const panePid = pane.pane_pid;
    if (panePid === null) throw new AgtmuxError("E_RUNTIME_STALE", "the pane has no process (dead pane)", { pane_id: id });
    const deliver = async (input: Parameters<typeof w.tmux.guardedInput>[2]): Promise<void> => {
      if (!(await w.tmux.guardedInput(id, panePid, input))) {
        throw new AgtmuxError("E_RUNTIME_STALE", "the pane runs another process now (respawned while sending): nothing more was sent", { pane_id: id, pane_pid: panePid });
      }
    };
    let via: SendResult["via"] = "none";
    if (text !== "") {
      const bracketed = b.paste === true || text.length > 4096;
      await deliver({ text, bracketed, bufferName: `agtmux-${randomUUID().slice(0, 8)}` });
      via = bracketed ? "paste" : "keys";
    }
    if (b.keys !== undefined && b.keys.length > 0) {
      await deliver({ keys: b.keys });
      if (via === "none") via = "keys";
    }
    if (b.enter === true) {
      if (text !== "") {
        await Bun.sleep(ENTER_PACE_MS);
        // the agent may have been replaced while we paced: look again before submitting
        await this.sameRuntime(w, pane);
      }
      await deliver({ keys: ["Enter"] });
    }
    return { via, chars: [...text].length, keys: b.keys ?? [], enter: b.enter === true };
  }

  /**
   * The text in the agent's input line, if someone typed there and did not
   * send it: the last prompt line (`>`, `❯`, `›` inside or outside a box) with
   * something after the glyph that is not dim (agents draw placeholders dim).
   */
  private async draftIn(w: CollectingWorker, paneId: string): Promise<string | null> {
    const screen = await w.tmux.capturePane(paneId, { lines: 40, ansi: true });
    return findDraft(screen);
  }

  private async kill(w: CollectingWorker, b: v.InferOutput<typeof KillSchema>, pane: PaneItem, snap: SnapshotRow): Promise<KillResult> {
    const mode = b.mode ?? "key";
    const signal = b.signal ?? "INT";
    if (mode === "key") {
      if (pane.pane_pid === null || !(await w.tmux.guardedInput(pane.identity.pane_id, pane.pane_pid, { keys: ["C-c"] }))) {
        throw new AgtmuxError("E_RUNTIME_STALE", "the pane runs another process now: not interrupting it", { pane_id: pane.identity.pane_id });
      }
      return { mode, signal: "INT", pid: null };
    }
    const rt = snap.runtime_id === null ? null : this.ctx.store.getRuntime(snap.runtime_id);
    if (rt === null || rt.pid === null) throw new AgtmuxError("E_PID_UNAVAILABLE", "no agent pid is known for this pane: use --mode key", { runtime_id: snap.runtime_id });
    // the pid must still be the agent's (same start time): never signal a recycled pid
    const table = w.kind === "local" ? await snapshotProcesses(w.transport.exec) : await readProcTableVia(w.transport.exec, { timeoutMs: 5_000 });
    const proc = table.byPid.get(rt.pid);
    if (proc === undefined || Math.abs(proc.started_at - rt.started_at) > 2_000) {
      throw new AgtmuxError("E_RUNTIME_STALE", `pid ${rt.pid} is ${proc === undefined ? "gone" : "another process now"}: not signalling it`, { pid: rt.pid });
    }
    const r = await w.transport.exec.exec(["kill", "-s", signal, String(rt.pid)], { timeoutMs: 5_000 });
    if (r.code !== 0) throw new AgtmuxError("E_RUNTIME_STALE", `kill -s ${signal} ${rt.pid} failed: ${r.stderr.trim().slice(0, 200)}`, { pid: rt.pid });
    return { mode, signal, pid: rt.pid };
  }

  private async withPaneLock<T>(type: ActionType, target: string, pane: string, fn: () => Promise<T>): Promise<T> {
    if (type === "view-output" || type === "attach") return await fn();
    const key = `${target}\u0000${pane}`;
    const prev = this.paneLocks.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => {});
    this.paneLocks.set(key, tail);
    void tail.then(() => {
      if (this.paneLocks.get(key) === tail) this.paneLocks.delete(key);
    });
    return await next;
  }

  /** a `daemon` event per action step, carrying its action_id (TC-031) */
  private audit(a: ActionRow, eventType: string, now: number): void {
    if (a.target_id === null) return;
    const id = `act-evt-${newEventId()}`;
    this.ctx.store.insertEvent({
      event_id: id,
      runtime_id: a.runtime_id,
      target_id: a.target_id,
      pane_id: a.pane_id,
      source: "daemon",
      event_type: eventType,
      dedupe_key: id,
      source_event_id: null,
      source_seq: null,
      event_time: now,
      ingested_at: now,
      effective_time: now,
      pid: null,
      start_hint: null,
      agent_type: null,
      action_id: a.action_id,
      norm_kind: "synthetic",
      norm_state: null,
      norm_confidence: null,
      norm_reason: null,
      outcome: "ignored",
      raw_payload: null,
    });
  }

  list(limit: number): ActionRecord[] {
    return this.ctx.store.listActions(limit).map(record);
  }
}

const ESC = String.fromCharCode(27);
const SGR = new RegExp(`${ESC}\\[[0-9;]*m`, "g");
/** text that starts dim (SGR 2), bright black (90) or a 256-colour grey: a placeholder */
const DIM_START = new RegExp(`^\\s*${ESC}\\[(?:[0-9;]*;)?(?:2|90|38;5;2[34][0-9])(?:;[0-9;]*)?m`);

/** what agents show in an empty input box (also drawn dim; matched as text when the styling is not) */
const PLACEHOLDERS = /^(?:Ask Codex to do anything|Try "[^"]*"|Type your message.*|Implement \{feature\}|Find and fix a bug in @filename|Write tests for @filename|Improve documentation in @filename|Summarize recent commits|Explain this codebase)$/;

/** the input line of a screen with text a user typed (not a dim placeholder) */
export function findDraft(screen: string): string | null {
  const rows = screen.split("\n");
  for (let i = rows.length - 1; i >= 0 && i >= rows.length - 40; i--) {
    const raw = rows[i] ?? "";
    const plain = raw.replace(SGR, "");
    const m = /^\s*[│|]?\s*([>❯›])\s?(.*?)\s*[│|]?\s*$/.exec(plain);
    if (m === null) continue;
    const typed = (m[2] ?? "").trim();
    // a numbered menu line (`❯ 1. Yes`) is a selection cursor, not typed text
    if (typed === "" || PLACEHOLDERS.test(typed) || /^\d+\.\s/.test(typed)) return null;
    // placeholder text is drawn dim (SGR 2) or grey (90): ignore it
    const afterGlyph = raw.slice(raw.indexOf(m[1] as string) + 1);
    if (DIM_START.test(afterGlyph)) return null;
    return typed;
  }
  return null;
}

function requestHash(type: ActionType, body: Body): string {
  const { request_ref: _r, requested_by: _b, ...rest } = body as Body & { requested_by?: string };
  const canon = JSON.stringify(rest, Object.keys(rest).toSorted());
  return createHash("sha256").update(`${type}\u0000${canon}`).digest("hex");
}

function conflict(row: ActionRow): AgtmuxError {
  return new AgtmuxError("E_IDEMPOTENCY_CONFLICT", `request_ref ${row.request_ref} was used for a different ${row.action_type} request: use a new request_ref`, {
    action_id: row.action_id,
    request_ref: row.request_ref,
  });
}

function replay(row: ActionRow): ActionResponse {
  if (row.completed_at === null || row.result_code === null) {
    throw new AgtmuxError("E_IDEMPOTENCY_CONFLICT", "an action with this request_ref was interrupted (the daemon stopped while it ran); use a new request_ref", { action_id: row.action_id });
  }
  const result = row.result === null ? {} : (JSON.parse(row.result) as Record<string, unknown>);
  if (row.result_code !== "ok") {
    const code = isErrorCode(row.result_code) ? row.result_code : ("E_INTERNAL" as ErrorCode);
    const details = (result.details ?? {}) as Record<string, unknown>;
    throw new AgtmuxError(code, String(result.message ?? code), { ...details, action_id: row.action_id, replayed: true });
  }
  const stored = result as { pane?: ActionPane; result?: unknown };
  return {
    schema_version: API_SCHEMA_VERSION,
    generated_at: iso(Date.now()),
    action_id: row.action_id,
    action_type: row.action_type,
    request_ref: row.request_ref,
    replayed: true,
    result_code: "ok",
    completed_at: iso(row.completed_at),
    pane: stored.pane ?? { identity: { target: row.target_id ?? "", session_name: "", window_id: "", pane_id: row.pane_id ?? "" }, ref: row.ref, runtime_id: row.runtime_id, agent: null, state: null, state_version: null },
    result: (stored.result ?? {}) as ActionResponse["result"],
  };
}

function actionPane(p: PaneItem): ActionPane {
  return { identity: p.identity, ref: p.ref, runtime_id: p.agent?.runtime_id ?? null, agent: p.agent?.type ?? null, state: p.state, state_version: p.state_version };
}

/** what the audit trail keeps of a request: sizes, not text */
function auditPayload(type: ActionType, b: Body): Record<string, unknown> {
  const { request_ref: _r, ...rest } = b as Body & Record<string, unknown>;
  if (type === "send" && typeof rest.text === "string") return { ...rest, text: undefined, text_chars: [...rest.text].length };
  return rest;
}

/** what is kept of a result: view-output's text is not (it can hold anything) */
function storedResult(type: ActionType, r: AttachResult | SendResult | ViewOutputResult | KillResult): unknown {
  if (type === "view-output") {
    const v0 = r as ViewOutputResult;
    return { result: { text: "", lines: v0.lines, requested_lines: v0.requested_lines, ansi: v0.ansi, text_omitted: true } };
  }
  return { result: r };
}

function record(row: ActionRow): ActionRecord {
  const parse = (s: string | null): unknown => {
    if (s === null) return null;
    try {
      return JSON.parse(s);
    } catch {
      return s;
    }
  };
  return {
    action_id: row.action_id,
    action_type: row.action_type,
    request_ref: row.request_ref,
    ref: row.ref,
    target: row.target_id,
    pane_id: row.pane_id,
    runtime_id: row.runtime_id,
    requested_by: row.requested_by,
    payload: parse(row.payload),
    result_code: row.result_code,
    result: parse(row.result),
    created_at: iso(row.created_at),
    completed_at: isoOrNull(row.completed_at),
  };
}
