/**
 * `agtmux wait`: block until agent panes reach a state, on the watch stream
 * (docs/cli-watch.md). Exit 0 matched, 124 timed out (as coreutils `timeout`),
 * 2 usage, 3 daemon unreachable, 1 anything else (E_REF_NOT_FOUND, …).
 */
import { defineCommand } from "citty";
import type { WatchQuery } from "../../client/client.ts";
import { WatchState, watchForever } from "../../client/watch.ts";
import { AgtmuxError, EXIT } from "../../domain/errors.ts";
import { STATES, type State } from "../../domain/model.ts";
import { parseRef } from "../../domain/refs.ts";
import type { PaneIdentity, PaneItem } from "../../wire/list.ts";
import { identityKey } from "../../wire/watch.ts";
import { type Flags, connectOnce, durationFlag, formatDuration, interruptible, scopeArgs, scopeQuery, usageError } from "./watch.ts";
import { cli, globalArgs } from "./common.ts";

/** coreutils `timeout` uses 124 for "the time ran out" */
export const EXIT_TIMEOUT = 124;
/** while waiting, a daemon that stays away this long ends the wait with exit 3 (a restart takes well under it) */
export const WAIT_UNREACHABLE_GIVE_UP_MS = 30_000;

export interface WaitTarget {
  /** the pane the ref resolved to */
  identity: PaneIdentity;
  /** `runtime:` refs: this exact agent run */
  runtime_id: string | null;
  ref: string;
}

export interface WaitCondition {
  states: readonly State[];
  /** any: some pane is in one of the states; all: every agent pane in scope is (and there is one) */
  mode: "any" | "all";
  ref: WaitTarget | null;
}

export type WaitVerdict = { kind: "match"; items: PaneItem[] } | { kind: "pending" } | { kind: "failed"; error: AgtmuxError };

/** Pure: the condition against the current panes of the scope. */
export function evaluateWait(items: readonly PaneItem[], c: WaitCondition): WaitVerdict {
  const wanted = (p: PaneItem): boolean => p.state !== null && c.states.includes(p.state);
  if (c.ref !== null) {
    const key = identityKey("panes", c.ref.identity);
    const p = items.find((i) => identityKey("panes", i.identity) === key);
    if (p === undefined) return { kind: "failed", error: new AgtmuxError("E_REF_NOT_FOUND", `${c.ref.ref}: the pane is gone`, { ref: c.ref.ref }) };
    if (p.agent === null) return { kind: "failed", error: new AgtmuxError("E_RUNTIME_STALE", `${c.ref.ref}: no agent runs in that pane any more`, { ref: c.ref.ref }) };
    if (c.ref.runtime_id !== null && p.agent.runtime_id !== c.ref.runtime_id) {
      return { kind: "failed", error: new AgtmuxError("E_RUNTIME_STALE", `${c.ref.ref}: that agent run has ended (the pane now runs another)`, { ref: c.ref.ref, runtime_id: c.ref.runtime_id }) };
    }
    return wanted(p) ? { kind: "match", items: [p] } : { kind: "pending" };
  }
  const agents = items.filter((p) => p.agent !== null);
  if (c.mode === "all") return agents.length > 0 && agents.every(wanted) ? { kind: "match", items: agents } : { kind: "pending" };
  const hits = agents.filter(wanted);
  return hits.length > 0 ? { kind: "match", items: hits } : { kind: "pending" };
}

/** `--state a,b` -> states, or a usage error */
export function parseStates(raw: string | undefined): State[] {
  if (raw === undefined || raw.trim() === "") throw usageError(`--state is required: one or more of ${STATES.join(",")}`, { flag: "state" });
  const out: State[] = [];
  for (const s of raw.split(",").map((x) => x.trim()).filter((x) => x !== "")) {
    if (!(STATES as readonly string[]).includes(s)) throw usageError(`unknown state ${JSON.stringify(s)}: use ${STATES.join(",")}`, { flag: "state" });
    if (!out.includes(s as State)) out.push(s as State);
  }
  if (out.length === 0) throw usageError(`--state is required: one or more of ${STATES.join(",")}`, { flag: "state" });
  return out;
}

export const waitArgs = {
  ...globalArgs,
  ...scopeArgs,
  state: { type: "string", description: `wait for these states (comma-separated): ${STATES.join(",")}`, valueHint: "state[,state]" },
  ref: { type: "string", description: "wait for this one pane (pane:… or runtime:…)", valueHint: "ref" },
  any: { type: "boolean", description: "any pane in scope reaches a state (the default)" },
  all: { type: "boolean", description: "every agent pane in scope is in the states (at least one)" },
  timeout: { type: "string", description: "give up after this long (exit 124), e.g. 30s, 5m", valueHint: "dur" },
} as const;

function describe(c: WaitCondition): string {
  const states = c.states.join(" or ");
  if (c.ref !== null) return `${c.ref.ref} to be ${states}`;
  return c.mode === "all" ? `every agent pane to be ${states}` : `a pane to be ${states}`;
}

export const waitCommand = defineCommand({
  meta: { name: "wait", description: "Wait until agent panes reach a state (exit 0), or time out (exit 124)" },
  args: waitArgs,
  async run(c) {
    const ctx = cli(c);
    const a = c.args as Flags;
    const states = parseStates(typeof a.state === "string" ? a.state : undefined);
    if (a.any === true && a.all === true) throw usageError("--any and --all exclude each other", { flag: "all" });
    const timeoutMs = durationFlag(a, "timeout", null);
    const refText = typeof a.ref === "string" ? a.ref : undefined;
    if (refText !== undefined && a.all === true) throw usageError("--all waits for a scope; --ref names one pane", { flag: "all" });
    // a malformed ref is known before anything is contacted
    const parsedRef = refText === undefined ? null : parseRef(refText);
    const scope = scopeQuery(a);

    const client = await connectOnce(ctx);
    let target: WaitTarget | null = null;
    const query: WatchQuery = { scope: "panes", ...scope };
    if (refText !== undefined) {
      // resolved once, with the read API's errors (not found, ambiguous, stale runtime)
      const r = await client.panes({ ...scope, ref: refText, all: true });
      const p = r.items[0] as PaneItem;
      target = { identity: p.identity, runtime_id: parsedRef?.kind === "runtime" ? parsedRef.runtime_id : null, ref: refText };
      query.target = [p.identity.target];
      query.all_targets = false;
      query.all = true;
    }
    const cond: WaitCondition = { states, mode: a.all === true ? "all" : "any", ref: target };

    // a wait ended by a signal must never read as "matched" (0)
    const run = interruptible({ codes: { SIGTERM: 143, SIGHUP: 129 } });
    let verdict: WaitVerdict = { kind: "pending" };
    // --timeout 0: only the current state counts
    const timer = timeoutMs === null || timeoutMs === 0 ? undefined : setTimeout(() => run.stop(EXIT_TIMEOUT), timeoutMs);
    try {
      const state = new WatchState<PaneItem>("panes");
      const lines = watchForever(ctx.paths.socket, query, { signal: run.signal, giveUpAfterMs: WAIT_UNREACHABLE_GIVE_UP_MS });
      for await (const r of lines) {
        if (!state.apply(r.line) || !state.ready) continue;
        verdict = evaluateWait(state.items(), cond);
        if (verdict.kind !== "pending") break;
        if (timeoutMs === 0) {
          run.stop(EXIT_TIMEOUT);
          break;
        }
      }
    } finally {
      clearTimeout(timer);
      run.dispose();
    }
    if (verdict.kind === "failed") throw verdict.error;
    if (verdict.kind === "match") {
      if (ctx.json) {
        ctx.out(JSON.stringify({ schema_version: 1, matched: true, mode: cond.mode, states, ref: refText ?? null, items: verdict.items }));
      } else {
        ctx.out(verdict.items.map((p) => p.ref).join("\n"));
      }
      return EXIT.ok;
    }
    if (run.code() === EXIT_TIMEOUT) {
      if (ctx.json) ctx.out(JSON.stringify({ schema_version: 1, matched: false, timed_out: true, mode: cond.mode, states, ref: refText ?? null, items: [] }));
      else ctx.err(timeoutMs === 0 ? `agtmux: not now: waiting for ${describe(cond)}` : `agtmux: timed out after ${formatDuration(timeoutMs ?? 0)} waiting for ${describe(cond)}`);
      return EXIT_TIMEOUT;
    }
    return run.code();
  },
});
