/**
 * The watch client and the live CLI commands, pure parts: line splitting,
 * the local item map (WatchState), reconnects (watchForever over fake line
 * sources), the tmux/prompt segments, the wait condition, durations, flag
 * plans and the table-frame writer. No daemon, no socket.
 */
import { describe, expect, test } from "bun:test";
import { evaluateWait, parseStates, type WaitCondition } from "../../src/cli/commands/wait.ts";
import { asList, parseDuration, planWatch, tmuxServerOf } from "../../src/cli/commands/watch.ts";
import { FrameWriter, clipWidth, needsActionCounts, promptSegment, tmuxSegment, withFreshAges } from "../../src/cli/render.ts";
import { LineSplitter, type Received, type WatchStatus, WatchState, parseWatchLine, watchForever } from "../../src/client/watch.ts";
import { AgtmuxError } from "../../src/domain/errors.ts";
import { emptyCounts } from "../../src/domain/views.ts";
import type { State } from "../../src/domain/model.ts";
import type { PaneIdentity, PaneItem, SessionItem, Summary, WindowItem } from "../../src/wire/list.ts";
import type { WatchChange, WatchLine } from "../../src/wire/watch.ts";

const enc = new TextEncoder();
const T0 = Date.parse("2026-11-24T10:00:00Z");

function pane(o: { target?: string; session?: string; window?: string; wi?: number; pane: string; pi?: number; state?: State | null; agent?: string | null; runtime?: string; updatedAt?: number }): PaneItem {
  const identity: PaneIdentity = { target: o.target ?? "host", session_name: o.session ?? "main", window_id: o.window ?? "@1", pane_id: o.pane };
  const agent = o.agent === null ? null : { type: o.agent ?? "claude", pid: 100, started_at: null, runtime_id: o.runtime ?? `rt-${o.pane.slice(1)}-aaaaaaaaaaaaaaaa`, pane_epoch: 1 };
  const state = o.state === undefined ? "running" : o.state;
  return {
    identity,
    ref: `pane:${identity.target}/${identity.session_name}/${identity.window_id}/${identity.pane_id}`,
    runtime_ref: agent === null ? null : `runtime:${agent.runtime_id}`,
    session_id: "$1",
    session_created_at: null,
    session_attached: 0,
    window_index: o.wi ?? 0,
    window_name: "w",
    pane_index: o.pi ?? Number(o.pane.slice(1)),
    active: false,
    window_active: false,
    zoomed: false,
    dead: false,
    size: { width: 80, height: 24 },
    cwd: null,
    pane_pid: 1,
    current_command: "node",
    title: null,
    agent,
    state: agent === null ? null : state,
    reason_code: null,
    confidence: "high",
    state_version: 1,
    state_source: "hook",
    updated_at: new Date(o.updatedAt ?? T0).toISOString(),
    age_s: 0,
    last_seen_at: null,
    needs_action: state === "waiting_approval" || state === "waiting_input" || state === "error",
  };
}

function summary(): Summary {
  return { sessions: 0, windows: 0, panes: 0, agent_panes: 0, needs_action: 0, by_state: emptyCounts(), by_agent: {}, by_target: {} };
}

let seq = 0;
function base(type: WatchLine["type"], stream = "s1"): Omit<WatchLine, "type" | "items" | "changes" | "reason" | "terminal"> & { type: WatchLine["type"] } {
  seq++;
  return { schema_version: 1, generated_at: new Date(T0).toISOString(), emitted_at: new Date(T0).toISOString(), stream_id: stream, cursor: `${stream}:${seq}`, scope: "panes", sequence: seq, filters: { sort: "target" }, summary: summary(), type };
}
const snapshot = (items: unknown[], stream = "s1"): WatchLine => ({ ...base("snapshot", stream), type: "snapshot", items }) as WatchLine;
const delta = (changes: WatchChange[], stream = "s1"): WatchLine => ({ ...base("delta", stream), type: "delta", changes }) as WatchLine;
const reset = (reason: "shutdown" | "stream_changed", terminal: boolean, stream = "s1"): WatchLine => ({ ...base("reset", stream), type: "reset", reason, terminal }) as WatchLine;
const heartbeat = (stream = "s1"): WatchLine => ({ ...base("heartbeat", stream), type: "heartbeat" }) as WatchLine;
const rec = (line: WatchLine): Received => ({ line, raw: JSON.stringify(line) });

describe("LineSplitter", () => {
  test("joins lines cut between chunks and skips empty lines", () => {
    const s = new LineSplitter();
    expect(s.push(enc.encode('{"a":1}\n{"b"'))).toEqual(['{"a":1}']);
    expect(s.push(enc.encode(':2}\n\n{"c":3}\r\n{"d'))).toEqual(['{"b":2}', '{"c":3}']);
    expect(s.end()).toEqual({ lines: [], partial: '{"d' });
  });

  test("a multi-byte character split across chunks at every byte survives", () => {
    const text = '{"s":"日本語 🤖 ü"}\n';
    const bytes = enc.encode(text);
    for (let cut = 1; cut < bytes.length; cut++) {
      const s = new LineSplitter();
      const out = [...s.push(bytes.subarray(0, cut)), ...s.push(bytes.subarray(cut))];
      expect(out).toEqual([text.slice(0, -1)]);
    }
    // one byte at a time
    const s = new LineSplitter();
    const out: string[] = [];
    for (const b of bytes) out.push(...s.push(new Uint8Array([b])));
    expect(out).toEqual([text.slice(0, -1)]);
    expect(JSON.parse(out[0] as string).s).toBe("日本語 🤖 ü");
  });

  test("many lines in one chunk", () => {
    const s = new LineSplitter();
    const lines = Array.from({ length: 100 }, (_, i) => JSON.stringify({ i }));
    expect(s.push(enc.encode(`${lines.join("\n")}\n`))).toEqual(lines);
  });
});

describe("parseWatchLine", () => {
  test("accepts a line, refuses non-JSON and a wrong envelope", () => {
    const l = snapshot([]);
    expect(parseWatchLine(JSON.stringify(l)).type).toBe("snapshot");
    expect(() => parseWatchLine("{nope")).toThrow(AgtmuxError);
    expect(() => parseWatchLine(JSON.stringify({ ...l, type: "weird" }))).toThrow(/malformed/);
  });
});

describe("WatchState", () => {
  test("snapshot replaces, delta upserts and deletes, reset clears", () => {
    const s = new WatchState<PaneItem>("panes");
    expect(s.ready).toBe(false);
    expect(s.apply(snapshot([pane({ pane: "%2" }), pane({ pane: "%1" })]))).toBe(true);
    expect(s.ready).toBe(true);
    expect(s.items().map((p) => p.identity.pane_id)).toEqual(["%1", "%2"]);
    expect(s.apply(delta([{ op: "upsert", identity: pane({ pane: "%3" }).identity, item: pane({ pane: "%3", state: "waiting_input" }) }]))).toBe(true);
    expect(s.apply(delta([{ op: "upsert", identity: pane({ pane: "%1" }).identity, item: pane({ pane: "%1", state: "completed" }) }]))).toBe(true);
    expect(s.apply(delta([{ op: "delete", identity: pane({ pane: "%2" }).identity }]))).toBe(true);
    expect(s.items().map((p) => [p.identity.pane_id, p.state])).toEqual([
      ["%1", "completed"],
      ["%3", "waiting_input"],
    ]);
    expect(s.cursor).toBe(`s1:${seq}`);
    // a new snapshot replaces everything
    s.apply(snapshot([pane({ pane: "%9" })]));
    expect(s.items().map((p) => p.identity.pane_id)).toEqual(["%9"]);
    expect(s.apply(reset("stream_changed", false, "s2"))).toBe(true);
    expect(s.ready).toBe(false);
    expect(s.size).toBe(0);
    expect(s.lastReset).toEqual({ reason: "stream_changed", terminal: false });
    expect(s.streamId).toBe("s2");
    s.apply(snapshot([pane({ pane: "%1" })], "s2"));
    expect(s.ready).toBe(true);
    expect(s.lastReset).toBeNull();
  });

  test("heartbeats move the cursor but change nothing", () => {
    const s = new WatchState("panes");
    s.apply(snapshot([pane({ pane: "%1" })]));
    const hb = heartbeat();
    expect(s.apply(hb)).toBe(false);
    expect(s.cursor).toBe(hb.cursor);
    expect(s.apply(delta([]))).toBe(false);
  });

  test("identity changes: a pane moved to another window, in either order of delete and upsert", () => {
    const before = pane({ pane: "%1", window: "@1", wi: 0 });
    const after = pane({ pane: "%1", window: "@2", wi: 1 });
    // upsert under the new identity, then the delete of the old one: the pane stays
    const a = new WatchState<PaneItem>("panes");
    a.apply(snapshot([before]));
    a.apply(delta([{ op: "upsert", identity: after.identity, item: after }, { op: "delete", identity: before.identity }]));
    expect(a.items().map((p) => p.identity.window_id)).toEqual(["@2"]);
    // delete first, then upsert
    const b = new WatchState<PaneItem>("panes");
    b.apply(snapshot([before]));
    b.apply(delta([{ op: "delete", identity: before.identity }, { op: "upsert", identity: after.identity, item: after }]));
    expect(b.items().map((p) => p.identity.window_id)).toEqual(["@2"]);
    expect(b.get(after.identity)?.window_index).toBe(1);
  });

  test("identity changes: a renamed session is a delete and an upsert under the new name", () => {
    const s = new WatchState<SessionItem>("sessions");
    const sess = (name: string): SessionItem => ({
      identity: { target: "host", session_name: name },
      target_session: `host/${name}`,
      session_id: "$1",
      created_at: null,
      attached: 0,
      windows: 1,
      panes: 1,
      agent_panes: 1,
      top_state: "running",
      waiting: 0,
      running: 1,
      needs_action: 0,
    });
    s.apply({ ...snapshot([sess("old"), sess("b")]), scope: "sessions" } as WatchLine);
    s.apply({ ...delta([{ op: "delete", identity: { target: "host", session_name: "old" } }, { op: "upsert", identity: { target: "host", session_name: "new" }, item: sess("new") }]), scope: "sessions" } as WatchLine);
    expect(s.items().map((x) => x.identity.session_name)).toEqual(["b", "new"]);
  });

  test("items() follows the list endpoints' sort", () => {
    const s = new WatchState<PaneItem>("panes", { sort: "state" });
    s.apply(snapshot([pane({ pane: "%1", state: "idle" }), pane({ pane: "%2", state: "waiting_approval" }), pane({ pane: "%3", state: "error" }), pane({ pane: "%4", state: "running" })]));
    expect(s.items().map((p) => p.state)).toEqual(["error", "waiting_approval", "running", "idle"]);
    // the sort echoed in the line's filters when none is given
    const t = new WatchState<PaneItem>("panes");
    t.apply({ ...snapshot([pane({ pane: "%1", state: "idle" }), pane({ pane: "%2", state: "error" })]), filters: { sort: "state" } } as WatchLine);
    expect(t.items().map((p) => p.state)).toEqual(["error", "idle"]);
  });

  test("windows sort by target, session, index (and top state with sort=state)", () => {
    const win = (target: string, session: string, id: string, index: number, top: State): WindowItem => ({
      identity: { target, session_name: session, window_id: id },
      session_id: null,
      window_index: index,
      window_name: "w",
      active: false,
      zoomed: false,
      panes: 1,
      agent_panes: 1,
      top_state: top,
      waiting: 0,
      running: 0,
      needs_action: 0,
    });
    const items = [win("vm1", "a", "@1", 0, "idle"), win("host", "b", "@3", 1, "running"), win("host", "b", "@2", 0, "error"), win("host", "a", "@9", 5, "idle")];
    const s = new WatchState<WindowItem>("windows");
    s.apply({ ...snapshot(items), scope: "windows" } as WatchLine);
    expect(s.items().map((w) => w.identity.window_id)).toEqual(["@9", "@2", "@3", "@1"]);
    const byState = new WatchState<WindowItem>("windows", { sort: "state" });
    byState.apply({ ...snapshot(items), scope: "windows" } as WatchLine);
    expect(byState.items().map((w) => w.top_state)).toEqual(["error", "running", "idle", "idle"]);
  });
});

describe("watchForever", () => {
  /** Each connection plays the next script: lines, then an end or an error. */
  function fakeOpen(scripts: Array<{ lines?: WatchLine[]; error?: AgtmuxError }>, cursors: Array<string | undefined>): (cursor: string | undefined) => AsyncIterable<Received> {
    let i = 0;
    return (cursor) => {
      cursors.push(cursor);
      const s = scripts[i++] ?? { error: new AgtmuxError("E_DAEMON_UNREACHABLE", "gone") };
      return (async function* () {
        for (const l of s.lines ?? []) yield rec(l);
        if (s.error !== undefined) throw s.error;
      })();
    };
  }

  test("reconnects with the last cursor after the stream ends, with growing then reset backoff", async () => {
    const cursors: Array<string | undefined> = [];
    const sleeps: number[] = [];
    const ac = new AbortController();
    const snap = snapshot([pane({ pane: "%1" })]);
    const d = delta([{ op: "delete", identity: pane({ pane: "%1" }).identity }]);
    const terminal = reset("shutdown", true);
    const down = new AgtmuxError("E_DAEMON_UNREACHABLE", "refused");
    const snap2 = [reset("stream_changed", false, "s2"), snapshot([], "s2")];
    const open = fakeOpen([{ lines: [snap, d] }, { error: down }, { error: down }, { lines: [terminal] }, { error: down }, { error: down }, { error: down }, { error: down }, { error: down }, { error: down }, { lines: snap2 }], cursors);
    const statuses: WatchStatus[] = [];
    const got: WatchLine[] = [];
    for await (const r of watchForever("/nowhere", {}, { signal: ac.signal, open, sleep: async (ms) => void sleeps.push(ms), onStatus: (s) => statuses.push(s) })) {
      got.push(r.line);
      if (r.line.stream_id === "s2" && r.line.type === "snapshot") ac.abort();
    }
    expect(got.map((l) => l.type)).toEqual(["snapshot", "delta", "reset", "reset", "snapshot"]);
    expect(cursors).toEqual([undefined, d.cursor, d.cursor, d.cursor, terminal.cursor, terminal.cursor, terminal.cursor, terminal.cursor, terminal.cursor, terminal.cursor, terminal.cursor]);
    expect(sleeps).toEqual([100, 200, 400, 100, 200, 400, 800, 1600, 2000, 2000]);
    expect(statuses.filter((s) => s.kind === "connected").length).toBe(3);
    expect(statuses.find((s) => s.kind === "disconnected")).toMatchObject({ kind: "disconnected", attempt: 1, retryInMs: 100 });
  });

  test("stopOnShutdown ends after the terminal reset", async () => {
    const cursors: Array<string | undefined> = [];
    const open = fakeOpen([{ lines: [snapshot([]), reset("shutdown", true)] }], cursors);
    const got: string[] = [];
    for await (const r of watchForever("/x", {}, { open, stopOnShutdown: true, sleep: async () => {} })) got.push(r.line.type);
    expect(got).toEqual(["snapshot", "reset"]);
    expect(cursors).toEqual([undefined]);
  });

  test("a refused cursor of ours starts over from a snapshot; the caller's own is an error", async () => {
    const cursors: Array<string | undefined> = [];
    const invalid = new AgtmuxError("E_CURSOR_INVALID", "ahead");
    const ac = new AbortController();
    const open = fakeOpen([{ lines: [snapshot([])] }, { error: invalid }, { lines: [snapshot([pane({ pane: "%1" })])] }], cursors);
    const got: string[] = [];
    for await (const r of watchForever("/x", {}, { open, signal: ac.signal, sleep: async () => {} })) {
      got.push(r.line.type);
      if (got.length === 2) ac.abort();
    }
    expect(cursors[2]).toBeUndefined();
    expect(got).toEqual(["snapshot", "snapshot"]);

    const mine = fakeOpen([{ error: invalid }], []);
    const it = watchForever("/x", {}, { open: mine, cursor: "s1:99", sleep: async () => {} });
    await expect(it.next()).rejects.toMatchObject({ code: "E_CURSOR_INVALID" });
  });

  test("answers (E_BAD_REQUEST) are thrown; an unreachable daemon is given up on after giveUpAfterMs", async () => {
    const bad = fakeOpen([{ error: new AgtmuxError("E_BAD_REQUEST", "no") }], []);
    await expect(watchForever("/x", {}, { open: bad, sleep: async () => {} }).next()).rejects.toMatchObject({ code: "E_BAD_REQUEST" });
    let t = 0;
    const down = fakeOpen([], []);
    const it = watchForever("/x", {}, { open: down, giveUpAfterMs: 1_000, now: () => t, sleep: async (ms) => void (t += ms) });
    await expect(it.next()).rejects.toMatchObject({ code: "E_DAEMON_UNREACHABLE" });
    expect(t).toBeGreaterThanOrEqual(1_000);
  });

  test("an abort during the backoff ends the iteration quietly", async () => {
    const ac = new AbortController();
    const open = fakeOpen([], []);
    const it = watchForever("/x", {}, { open, signal: ac.signal, sleep: async () => ac.abort() });
    expect(await it.next()).toEqual({ done: true, value: undefined });
  });
});

describe("segments", () => {
  const items = [
    pane({ pane: "%1", state: "waiting_approval" }),
    pane({ pane: "%2", state: "waiting_approval" }),
    pane({ pane: "%3", state: "waiting_input" }),
    pane({ pane: "%4", state: "running" }),
    pane({ pane: "%5", state: "error" }),
    pane({ pane: "%6", agent: null }),
  ];
  test("counts per state that needs you", () => {
    expect(needsActionCounts(items)).toEqual({ waiting_approval: 2, waiting_input: 1, error: 1 });
  });
  test("tmux: styled glyphs, empty when nothing needs you", () => {
    expect(tmuxSegment({ waiting_approval: 2, waiting_input: 1, error: 1 })).toBe("#[fg=magenta,bold]!2 #[fg=yellow,bold]?1 #[fg=red,bold]✗1#[default]");
    expect(tmuxSegment({ waiting_approval: 0, waiting_input: 3, error: 0 })).toBe("#[fg=yellow,bold]?3#[default]");
    expect(tmuxSegment({ waiting_approval: 0, waiting_input: 0, error: 0 })).toBe("");
    // nothing tmux would read as a format: only our #[...] styles
    expect(tmuxSegment({ waiting_approval: 1, waiting_input: 1, error: 1 }).replace(/#\[[a-z=,]+\]/g, "")).not.toContain("#");
  });
  test("prompt: plain words", () => {
    expect(promptSegment({ waiting_approval: 2, waiting_input: 1, error: 0 })).toBe("agt:2approve 1input");
    expect(promptSegment({ waiting_approval: 0, waiting_input: 0, error: 1 })).toBe("agt:1error");
    expect(promptSegment({ waiting_approval: 0, waiting_input: 0, error: 0 })).toBe("");
  });
});

describe("wait condition", () => {
  const cond = (o: Partial<WaitCondition>): WaitCondition => ({ states: ["waiting_approval"], mode: "any", ref: null, ...o });
  const items = [pane({ pane: "%1", state: "running" }), pane({ pane: "%2", state: "waiting_approval" }), pane({ pane: "%3", agent: null })];

  test("--any: some agent pane is in a state", () => {
    expect(evaluateWait(items, cond({}))).toEqual({ kind: "match", items: [items[1] as PaneItem] });
    expect(evaluateWait(items, cond({ states: ["error"] }))).toEqual({ kind: "pending" });
    expect(evaluateWait([], cond({}))).toEqual({ kind: "pending" });
  });

  test("--all: every agent pane, and at least one", () => {
    expect(evaluateWait(items, cond({ mode: "all", states: ["running", "waiting_approval"] }))).toMatchObject({ kind: "match" });
    expect(evaluateWait(items, cond({ mode: "all", states: ["running"] }))).toEqual({ kind: "pending" });
    expect(evaluateWait([], cond({ mode: "all" }))).toEqual({ kind: "pending" });
    expect(evaluateWait([pane({ pane: "%3", agent: null })], cond({ mode: "all" }))).toEqual({ kind: "pending" });
  });

  test("--ref: that pane; gone or another agent run fails", () => {
    const p = items[1] as PaneItem;
    const ref = { identity: p.identity, runtime_id: null, ref: p.ref };
    expect(evaluateWait(items, cond({ ref }))).toEqual({ kind: "match", items: [p] });
    expect(evaluateWait(items, cond({ ref, states: ["completed"] }))).toEqual({ kind: "pending" });
    // moved to another window: still the same pane
    const moved = { ...p, identity: { ...p.identity, window_id: "@7" } };
    expect(evaluateWait([moved], cond({ ref }))).toMatchObject({ kind: "match" });
    const gone = evaluateWait([items[0] as PaneItem], cond({ ref }));
    expect(gone.kind === "failed" && gone.error.code).toBe("E_REF_NOT_FOUND");
    const noAgent = evaluateWait([{ ...p, agent: null, state: null }], cond({ ref }));
    expect(noAgent.kind === "failed" && noAgent.error.code).toBe("E_RUNTIME_STALE");
    const rt = { ...ref, runtime_id: "rt-other-aaaaaaaaaaaaaaaa" };
    const stale = evaluateWait(items, cond({ ref: rt }));
    expect(stale.kind === "failed" && stale.error.code).toBe("E_RUNTIME_STALE");
    const same = { ...ref, runtime_id: p.agent?.runtime_id ?? "" };
    expect(evaluateWait(items, cond({ ref: same }))).toMatchObject({ kind: "match" });
  });

  test("--state parsing", () => {
    expect(parseStates("waiting_approval, waiting_input,waiting_input")).toEqual(["waiting_approval", "waiting_input"]);
    expect(() => parseStates("waiting")).toThrow(/unknown state/);
    expect(() => parseStates(undefined)).toThrow(/required/);
    expect(() => parseStates(" , ")).toThrow(/required/);
  });
});

describe("durations", () => {
  test.each([
    ["2s", 2_000],
    ["500ms", 500],
    ["1m", 60_000],
    ["1h", 3_600_000],
    ["1.5s", 1_500],
    ["1m30s", 90_000],
    ["3", 3_000],
    ["0", 0],
    [" 10s ", 10_000],
  ])("%p is %p ms", (s, ms) => expect(parseDuration(s)).toBe(ms));
  test.each(["", "s", "-1s", "2 s", "2x", "1d", "ms5", "1.s"])("%p is refused", (s) => expect(parseDuration(s)).toBeNull());
});

describe("planWatch", () => {
  test("defaults: panes, table, 2s", () => {
    const p = planWatch({}, false);
    expect(p).toMatchObject({ scope: "panes", format: "table", intervalMs: 2_000, once: false, tmuxOption: "@agtmux" });
    expect(planWatch({}, true).format).toBe("jsonl");
  });
  test("tmux and prompt ask the daemon for what needs you only", () => {
    expect(planWatch({ format: "tmux", agent: "claude" }, false).query).toMatchObject({ scope: "panes", needs_action: true, agent: "claude" });
  });
  test.each([
    [{ format: "html" }, /--format/],
    [{ scope: "hosts" }, /--scope/],
    [{ interval: "soon" }, /--interval/],
    [{ interval: "10ms" }, /at least/],
    [{ cursor: "s1:1" }, /--cursor/],
    [{ format: "tmux", scope: "windows" }, /drop --scope/],
    [{ format: "tmux", "tmux-option": "status-right" }, /user option/],
    [{ "tmux-option": "@x" }, /goes with --format tmux/],
  ])("%p is a usage error", (flags, msg) => {
    expect(() => planWatch(flags as Record<string, string>, false)).toThrow(msg);
    try {
      planWatch(flags as Record<string, string>, false);
    } catch (err) {
      expect((err as AgtmuxError).code).toBe("E_USAGE");
    }
  });
  test("--json with another format is a usage error", () => {
    expect(() => planWatch({ format: "table" }, true)).toThrow(/--json/);
  });
});

describe("live table helpers", () => {
  test("ages are recomputed for now", () => {
    const p = pane({ pane: "%1", updatedAt: T0 });
    expect(withFreshAges([p], T0 + 61_500)[0]?.age_s).toBe(61);
    expect(withFreshAges([{ ...p, updated_at: null, age_s: null }], T0)[0]?.age_s).toBeNull();
  });

  test("asList renders like the list endpoint's response", () => {
    const s = new WatchState("panes");
    s.apply(snapshot([pane({ pane: "%1", updatedAt: T0 })]));
    const l = asList(s, T0 + 5_000);
    expect(l.items.length).toBe(1);
    expect((l.items[0] as PaneItem).age_s).toBe(5);
    expect(l.target_errors).toEqual([]);
  });

  test("clipWidth keeps SGR and cuts by visible width", () => {
    expect(clipWidth("abcdef", 10)).toBe("abcdef");
    expect(clipWidth("abcdef", 4)).toBe("abc…");
    expect(clipWidth("\u001b[32mabcdef\u001b[0m", 4)).toBe("\u001b[32mabc…\u001b[0m");
    expect(clipWidth("日本語です", 5)).toBe("日本…");
  });

  test("tmuxServerOf reads $TMUX", () => {
    expect(tmuxServerOf({ TMUX: "/tmp/tmux-1000/default,4242,0" })).toEqual({ socket: "/tmp/tmux-1000/default", pid: 4242 });
    expect(tmuxServerOf({})).toEqual({ socket: "default", pid: null });
  });
});

describe("FrameWriter", () => {
  const ESC = "\u001b";
  test("terminal: hides the cursor once, redraws in place, skips unchanged frames, shows the cursor on close", () => {
    const out: string[] = [];
    const w = new FrameWriter({ write: (s) => out.push(s), tty: true, size: () => ({ columns: 80, rows: 24 }) });
    expect(w.frame(["head"], ["a", "b"])).toBe(true);
    expect(out[0]).toBe(`${ESC}[?25l${ESC}[Hhead${ESC}[K\na${ESC}[K\nb${ESC}[K${ESC}[J`);
    expect(w.frame(["head"], ["a", "b"])).toBe(false);
    expect(out.length).toBe(1);
    expect(w.frame(["head"], ["a"])).toBe(true);
    expect(out[1]).toBe(`${ESC}[Hhead${ESC}[K\na${ESC}[K${ESC}[J`);
    // never a full-screen clear (that is what flickers)
    expect(out.join("")).not.toContain(`${ESC}[2J`);
    w.invalidate();
    expect(w.frame(["head"], ["a"])).toBe(true);
    w.close();
    expect(out.at(-1)).toBe(`${ESC}[?25h\n`);
  });

  test("terminal: clipped to the window (rows and one spare column)", () => {
    const out: string[] = [];
    const w = new FrameWriter({ write: (s) => out.push(s), tty: true, size: () => ({ columns: 6, rows: 3 }) });
    w.frame(["h"], ["1234567890", "b", "c", "d"]);
    expect(out[0]).toBe(`${ESC}[?25l${ESC}[Hh${ESC}[K\n1234…${ESC}[K\n… 3 …${ESC}[K${ESC}[J`);
  });

  test("not a terminal: appends a frame per change, separated by a blank line, no escapes", () => {
    const out: string[] = [];
    const w = new FrameWriter({ write: (s) => out.push(s), tty: false });
    w.frame(["10:00:00"], ["a"]);
    // only the header changed: nothing
    expect(w.frame(["10:00:02"], ["a"])).toBe(false);
    w.frame(["10:00:03"], ["b"]);
    w.close();
    expect(out.join("")).toBe("10:00:00\na\n\n10:00:03\nb\n");
    expect(out.join("")).not.toContain(ESC);
  });
});
