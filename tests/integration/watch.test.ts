/**
 * The watch stream in-process (the daemon's handler and hub over an in-memory
 * store): TC-019 (resume at random cursors under load: no gap, no duplicate,
 * the same final state), TC-020 (expired / other-stream cursors: reset +
 * snapshot; E_CURSOR_EXPIRED in response mode), TC-045 (line schemas against
 * the shapes checked into tests/fixtures/watch/), a slow consumer (bounded
 * queue, then reset + snapshot), filters, bad cursors, disconnects and 1,000
 * concurrent watchers.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { WatchHub } from "../../src/daemon/watch-hub.ts";
import { DEFAULT_WATCH, type WatchConfig } from "../../src/domain/config.ts";
import type { State } from "../../src/domain/model.ts";
import type { PaneInfo } from "../../src/tmux/types.ts";
import type { PaneItem } from "../../src/wire/list.ts";
import { type WatchLine, type WatchResponse, identityKey } from "../../src/wire/watch.ts";
import { app } from "../helpers/app.ts";
import { type Harness, harness } from "../helpers/harness.ts";
import { mulberry32, pick, seedFromEnv } from "../helpers/rng.ts";

const STATES: State[] = ["running", "waiting_approval", "waiting_input", "completed", "idle", "error"];

function paneInfo(n: number, session = "main"): PaneInfo {
  return {
    session_id: "$1",
    session_name: session,
    session_created: 1,
    session_attached: 0,
    window_id: `@${n}`,
    window_index: n,
    window_name: `w${n}`,
    window_active: n === 1,
    window_zoomed: false,
    pane_id: `%${n}`,
    pane_index: 0,
    pane_active: true,
    pane_dead: false,
    pane_pid: 1000 + n,
    pane_current_command: "claude",
    pane_current_path: "/w",
    pane_title: `t${n}`,
    pane_width: 100,
    pane_height: 30,
  };
}

interface World {
  h: Harness;
  hub: WatchHub;
  api: ReturnType<typeof app>;
  panes: number;
  /** an event that puts pane n into state s (committed and flushed into the stream) */
  set(n: number, s: State): void;
  open(query: string, init?: { signal?: AbortSignal; headers?: Record<string, string> }): Promise<LineReader>;
  once(query: string): Promise<{ status: number; body: WatchResponse & { error?: { code: string } } }>;
}

const worlds: World[] = [];
afterEach(() => {
  for (const w of worlds.splice(0)) {
    w.hub.close();
    w.h.close();
  }
});

function world(panes: number, cfg: Partial<WatchConfig> = {}, streamId = "S1"): World {
  const h = harness();
  const a = app(h);
  const hub = new WatchHub(streamId, h.store, h.clock.now, { ...DEFAULT_WATCH, ...cfg });
  a.ctx.watch = hub;
  h.ingestor.onDirty(() => hub.markDirty());
  const agents = new Map(Array.from({ length: panes }, (_, i) => [`%${i + 1}`, { agent_type: "claude", pid: 5000 + i, started_at: h.clock.nowMs - 60_000 }]));
  h.ingestor.applyObservation("host", {
    server: { boot_id: "boot-1", pid: 1, version: "3.3a" },
    panes: Array.from({ length: panes }, (_, i) => paneInfo(i + 1)),
    agents,
    resync: false,
  });
  hub.flush();
  const rt = (n: number): string => {
    const r = h.store.activeRuntime("host", `%${n}`);
    if (r === null) throw new Error(`no runtime in %${n}`);
    return r.runtime_id;
  };
  const w: World = {
    h,
    hub,
    api: a,
    panes,
    set(n, s) {
      h.clock.advance(10);
      const [r] = h.ingestor.ingest([{ envelope: h.ev({ event_type: `state.${s}`, runtime_id: rt(n) }) }]);
      expect(r?.status).toBe("applied");
      hub.flush();
    },
    async open(query, init = {}) {
      const req = new Request(`http://agtmux/v1/watch?${query}`, { headers: init.headers ?? {}, ...(init.signal !== undefined ? { signal: init.signal } : {}) });
      const res = await a.fetch(req);
      if (res.status !== 200) throw new Error(`watch ${query}: ${res.status} ${await res.text()}`);
      return new LineReader(res);
    },
    async once(query) {
      const res = await a.call("GET", `/v1/watch?once=1&${query}`);
      return { status: res.status, body: (await res.json()) as WatchResponse & { error?: { code: string } } };
    },
  };
  worlds.push(w);
  return w;
}

/** Reads NDJSON (or SSE) lines from a streaming response. */
class LineReader {
  private buf = "";
  private readonly reader: { read(): Promise<{ done: boolean; value?: Uint8Array | undefined }>; cancel(): Promise<void> };
  private readonly dec = new TextDecoder();
  constructor(readonly res: Response) {
    if (res.body === null) throw new Error("no body");
    this.reader = res.body.getReader();
  }
  /** the next raw text line (null at the end) */
  async raw(): Promise<string | null> {
    for (;;) {
      const nl = this.buf.indexOf("\n");
      if (nl >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        return line;
      }
      const { value, done } = await this.reader.read();
      if (done || value === undefined) return this.buf === "" ? null : this.buf;
      this.buf += this.dec.decode(value, { stream: true });
    }
  }
  async next(): Promise<WatchLine<PaneItem>> {
    const l = await this.raw();
    if (l === null) throw new Error("stream ended");
    return JSON.parse(l) as WatchLine<PaneItem>;
  }
  /** lines until one satisfies `until` (inclusive) */
  async until(until: (l: WatchLine<PaneItem>) => boolean, max = 10_000): Promise<Array<WatchLine<PaneItem>>> {
    const out: Array<WatchLine<PaneItem>> = [];
    for (let i = 0; i < max; i++) {
      const l = await this.next();
      out.push(l);
      if (until(l)) return out;
    }
    throw new Error("until: too many lines");
  }
  async cancel(): Promise<void> {
    await this.reader.cancel().catch(() => {});
  }
}

/** Applies lines to a map keyed by identity: what a client holds. */
function apply(state: Map<string, string>, l: WatchLine<PaneItem>): void {
  if (l.type === "snapshot") {
    state.clear();
    for (const it of l.items) state.set(identityKey("panes", it.identity), it.state ?? "-");
  } else if (l.type === "delta") {
    for (const c of l.changes) {
      const k = identityKey("panes", c.identity);
      if (c.op === "delete") state.delete(k);
      else state.set(k, c.item?.state ?? "-");
    }
  } else if (l.type === "reset") state.clear();
}

/** sequence of the newest panes delta (deltas of other scopes share the sequence) */
function lastPanes(w: World): number {
  return w.hub.since(w.hub.oldestResumable)?.filter((d) => d.scope === "panes").at(-1)?.sequence ?? 0;
}

function truth(w: World): Map<string, string> {
  const out = new Map<string, string>();
  for (const it of w.hub.itemsFor({ scope: "panes", filters: { targets: null, target_session: null, session: null, state: null, agent: null, needs_action: false, all: false }, sort: "target", echo: {} }) as PaneItem[]) {
    out.set(identityKey("panes", it.identity), it.state ?? "-");
  }
  return out;
}

describe("watch stream", () => {
  test("snapshot first, then one delta per change with a monotonic sequence and the pane's new state", async () => {
    const w = world(3);
    const r = await w.open("scope=panes");
    const snap = await r.next();
    expect(snap).toMatchObject({ type: "snapshot", scope: "panes", stream_id: "S1", sequence: w.hub.sequence });
    expect(snap.type === "snapshot" ? snap.items.map((p) => p.identity.pane_id) : []).toEqual(["%1", "%2", "%3"]);
    w.set(2, "waiting_approval");
    const d = await r.next();
    expect(d.type).toBe("delta");
    if (d.type !== "delta") return;
    expect(d.sequence).toBeGreaterThan(snap.sequence);
    expect(d.cursor).toBe(`S1:${d.sequence}`);
    expect(d.changes).toHaveLength(1);
    expect(d.changes[0]).toMatchObject({ op: "upsert", identity: { target: "host", pane_id: "%2" }, item: { state: "waiting_approval", needs_action: true } });
    expect(d.summary.needs_action).toBe(1);
    await r.cancel();
  });

  test("TC-019 resume at random cursors under load: no gap, no duplicate, and the resumed client ends where the truth is", async () => {
    const seed = seedFromEnv("AGTMUX_SEED", Date.now() & 0xffff);
    console.log(`TC-019 seed=${seed} (rerun with AGTMUX_SEED=${seed})`);
    const rnd = mulberry32(seed);
    const w = world(8);
    const ref = await w.open("scope=panes");
    const lines: Array<WatchLine<PaneItem>> = [await ref.next()];
    for (let round = 0; round < 30; round++) {
      for (let i = 0; i < 5; i++) w.set(1 + Math.floor(rnd() * 8), pick(STATES, rnd));
      while ((lines.at(-1)?.sequence ?? 0) < lastPanes(w)) lines.push(await ref.next());
      // a client that stopped at a random line resumes while more changes land
      const at = pick(lines, rnd);
      const held = new Map<string, string>();
      for (const l of lines) {
        if (l.sequence > at.sequence) break;
        apply(held, l);
      }
      const resumed = await w.open(`scope=panes&cursor=${encodeURIComponent(at.cursor)}`);
      for (let i = 0; i < 3; i++) w.set(1 + Math.floor(rnd() * 8), pick(STATES, rnd));
      while ((lines.at(-1)?.sequence ?? 0) < lastPanes(w)) lines.push(await ref.next());
      const got = lastPanes(w) > at.sequence ? await resumed.until((l) => l.sequence >= lastPanes(w)) : [];
      const seqs = got.map((l) => l.sequence);
      const want = lines.filter((l) => l.type === "delta" && l.sequence > at.sequence).map((l) => l.sequence);
      expect(seqs).toEqual(want); // no gap, no duplicate, in order
      for (const l of got) apply(held, l);
      expect(held).toEqual(truth(w));
      await resumed.cancel();
    }
    await ref.cancel();
  });

  test("TC-020 an expired cursor: reset then a fresh snapshot; response mode answers E_CURSOR_EXPIRED; a cursor from another stream takes the same path", async () => {
    const w = world(3, { retainEvents: 5 });
    const first = (await w.once("scope=panes")).body.cursor;
    for (let i = 0; i < 20; i++) w.set(1 + (i % 3), STATES[i % STATES.length] as State);
    const r = await w.open(`scope=panes&cursor=${first}`);
    const reset = await r.next();
    expect(reset).toMatchObject({ type: "reset", reason: "cursor_expired", terminal: false });
    const snap = await r.next();
    expect(snap.type).toBe("snapshot");
    const held = new Map<string, string>();
    apply(held, snap);
    expect(held).toEqual(truth(w));
    await r.cancel();
    const expired = await w.once(`scope=panes&cursor=${first}`);
    expect(expired.status).toBe(410);
    expect(expired.body.error?.code).toBe("E_CURSOR_EXPIRED");

    const other = await w.open("scope=panes&cursor=OTHERSTREAM:3");
    expect(await other.next()).toMatchObject({ type: "reset", reason: "stream_changed" });
    expect((await other.next()).type).toBe("snapshot");
    await other.cancel();
    expect((await w.once("scope=panes&cursor=OTHERSTREAM:3")).status).toBe(410);
    // the oldest cursor still inside the window (5 deltas of any scope retained) resumes; one older does not
    const oldest = w.hub.oldestResumable;
    const ok = await w.once(`scope=panes&cursor=S1:${oldest}`);
    expect(ok.status).toBe(200);
    const want = w.hub.since(oldest)?.filter((d) => d.scope === "panes").map((d) => d.sequence);
    expect(ok.body.lines.map((l) => l.sequence)).toEqual(want ?? []);
    expect(ok.body.lines.every((l) => l.type === "delta" && l.sequence > oldest)).toBe(true);
    expect((await w.once(`scope=panes&cursor=S1:${oldest - 1}`)).status).toBe(410);
  });

  test("bad cursors and queries: E_CURSOR_INVALID / E_BAD_REQUEST, nothing streamed", async () => {
    const w = world(2);
    for (const c of ["abc", "S1:", ":3", "S1:-1", "S1:1.5", "S1:01", "S1:99999999999999999", "S1:1:2", "S 1:2", "ü:1"]) {
      const r = await w.once(`cursor=${encodeURIComponent(c)}`);
      expect(r.status).toBe(400);
      expect(r.body.error?.code).toBe("E_CURSOR_INVALID");
    }
    const ahead = await w.once(`cursor=S1:${w.hub.sequence + 5}`);
    expect(ahead.body.error?.code).toBe("E_CURSOR_INVALID");
    for (const q of ["scope=nope", "cursor=" + "x".repeat(300), "heartbeat_ms=5", "bogus=1", "sort=nope", "ref=pane:host/main/@1/%1"]) {
      const r = await w.once(q);
      expect(r.status).toBe(400);
      expect(r.body.error?.code).toBe("E_BAD_REQUEST");
    }
    const unknownTarget = await w.once("target=nowhere");
    expect(unknownTarget.body.error?.code).toBe("E_REF_NOT_FOUND");
    expect(w.hub.stats.clients).toBe(0);
  });

  test("filters: a pane that stops matching is deleted for that client, one that starts matching is upserted; a filter that matches nothing gets an empty snapshot and no deltas", async () => {
    const w = world(3);
    const waiting = await w.open("scope=panes&needs_action=1");
    const none = await w.open("scope=panes&session=nothing-here");
    expect((await waiting.next()).type === "snapshot").toBe(true);
    const empty = await none.next();
    expect(empty.type === "snapshot" ? empty.items : null).toEqual([]);
    w.set(1, "waiting_input");
    expect(await waiting.next()).toMatchObject({ type: "delta", changes: [{ op: "upsert", identity: { pane_id: "%1" } }] });
    w.set(1, "running");
    expect(await waiting.next()).toMatchObject({ type: "delta", changes: [{ op: "delete", identity: { pane_id: "%1" } }] });
    w.set(2, "running"); // not shown to either
    w.set(3, "error");
    expect(await waiting.next()).toMatchObject({ type: "delta", changes: [{ op: "upsert", identity: { pane_id: "%3" } }] });
    // the empty filter got nothing but heartbeats
    w.hub.flush();
    for (const s of [w.hub]) s.close();
    expect(await none.next()).toMatchObject({ type: "reset", terminal: true, reason: "shutdown" });
    await waiting.cancel();
  });

  test("windows and sessions scopes: deltas keyed by window / session, top state follows the panes", async () => {
    const w = world(2);
    const win = await w.open("scope=windows");
    const ses = await w.open("scope=sessions");
    expect((await win.next()).type).toBe("snapshot");
    expect((await ses.next()).type).toBe("snapshot");
    w.set(2, "waiting_approval");
    const wd = (await win.next()) as WatchLine;
    expect(wd).toMatchObject({ type: "delta", scope: "windows", changes: [{ op: "upsert", identity: { target: "host", session_name: "main", window_id: "@2" }, item: { top_state: "waiting_approval" } }] });
    const sd = (await ses.next()) as WatchLine;
    expect(sd).toMatchObject({ type: "delta", scope: "sessions", changes: [{ op: "upsert", identity: { target: "host", session_name: "main" }, item: { top_state: "waiting_approval" } }] });
    await win.cancel();
    await ses.cancel();
  });

  test("a slow consumer never holds the daemon up: its queue stays bounded, then it gets reset + snapshot and carries on", async () => {
    const w = world(4, { clientQueueMax: 10 });
    const slow = await w.open("scope=panes");
    expect((await slow.next()).type).toBe("snapshot");
    // it reads nothing while 200 changes land
    for (let i = 0; i < 200; i++) w.set(1 + (i % 4), STATES[i % STATES.length] as State);
    const subQueued = [...(w.hub as unknown as { subs: Set<{ queued: number }> }).subs].map((s) => s.queued);
    expect(Math.max(...subQueued)).toBeLessThanOrEqual(10);
    const lines = await slow.until((l) => l.type === "snapshot");
    expect(lines.at(-2)).toMatchObject({ type: "reset", reason: "slow_consumer", terminal: false });
    const held = new Map<string, string>();
    apply(held, lines.at(-1) as WatchLine<PaneItem>);
    expect(held).toEqual(truth(w));
    w.set(1, "waiting_input");
    const d = await slow.next();
    expect(d).toMatchObject({ type: "delta", changes: [{ identity: { pane_id: "%1" }, item: { state: "waiting_input" } }] });
    await slow.cancel();
  });

  test("a client that disconnects (mid-line or between lines) is dropped; 1,000 concurrent watchers each get the next delta", async () => {
    const w = world(2);
    const ac = new AbortController();
    const gone = await w.open("scope=panes", { signal: ac.signal });
    await gone.next();
    expect(w.hub.stats.clients).toBe(1);
    ac.abort();
    await gone.cancel();
    w.set(1, "running");
    expect(w.hub.stats.clients).toBe(0);

    const many = await Promise.all(Array.from({ length: 1000 }, () => w.open("scope=panes")));
    await Promise.all(many.map((r) => r.next()));
    expect(w.hub.stats.clients).toBe(1000);
    w.set(2, "waiting_approval");
    const got = await Promise.all(many.map((r) => r.next()));
    expect(got.every((l) => l.type === "delta" && l.changes[0]?.item?.state === "waiting_approval")).toBe(true);
    await Promise.all(many.map((r) => r.cancel()));
    expect(w.hub.stats.clients).toBe(0);
  }, 30_000);

  test("heartbeats on an idle stream carry the current cursor; SSE frames name the event and the cursor as id; Last-Event-ID resumes", async () => {
    const w = world(2, { heartbeatMs: 60_000 });
    const r = await w.open("scope=panes&heartbeat_ms=100");
    const snap = await r.next();
    const hb = await r.next();
    expect(hb).toMatchObject({ type: "heartbeat", cursor: snap.cursor });
    await r.cancel();

    const sse = await w.open("scope=panes", { headers: { accept: "text/event-stream" } });
    expect(sse.res.headers.get("content-type")).toStartWith("text/event-stream");
    expect(await sse.raw()).toBe("event: snapshot");
    expect(await sse.raw()).toBe(`id: ${snap.cursor}`);
    expect((await sse.raw())?.startsWith("data: {")).toBe(true);
    await sse.cancel();
    w.set(1, "error");
    const resumed = await w.open("scope=panes", { headers: { accept: "text/event-stream", "last-event-id": snap.cursor } });
    expect(await resumed.raw()).toBe("event: delta");
    await resumed.cancel();
  });

  test("TC-045 snapshot / delta / reset / heartbeat lines keep the shapes checked into tests/fixtures/watch (additions only)", async () => {
    const w = world(2, { clientQueueMax: 10 });
    const r = await w.open("scope=panes&heartbeat_ms=100");
    const snapshot = await r.next();
    w.set(1, "waiting_approval");
    const delta = await r.next();
    const heartbeat = await r.next();
    await r.cancel();
    const old = await w.open("scope=panes&cursor=OLD:1");
    const reset = await old.next();
    await old.cancel();
    const dir = join(import.meta.dir, "..", "fixtures", "watch");
    for (const [name, line] of Object.entries({ snapshot, delta, heartbeat, reset })) {
      const shape = shapeOf(line);
      const file = join(dir, `${name}.shape.json`);
      if (process.env.UPDATE_WATCH_SHAPES === "1") {
        mkdirSync(dir, { recursive: true });
        writeFileSync(file, `${JSON.stringify(shape, null, 2)}\n`);
      }
      expect(existsSync(file)).toBe(true);
      const stored = JSON.parse(readFileSync(file, "utf8")) as Shape;
      // compatible: every stored field is still there with the same type; new fields may appear
      expect(compatible(stored, shape, name)).toEqual([]);
    }
  });
});

type Shape = string | { [k: string]: Shape } | [Shape];

/** the type structure of a JSON value: objects by key, arrays by their first element */
function shapeOf(v: unknown): Shape {
  if (v === null) return "null";
  if (Array.isArray(v)) return v.length === 0 ? "array" : [shapeOf(v[0])];
  if (typeof v === "object") {
    const out: Record<string, Shape> = {};
    for (const k of Object.keys(v as object).toSorted()) out[k] = shapeOf((v as Record<string, unknown>)[k]);
    return out;
  }
  return typeof v;
}

function compatible(stored: Shape, now: Shape, path: string): string[] {
  if (typeof stored === "string") {
    if (stored === "null" || now === "null") return []; // nullable fields may be either
    if (stored === "array" || now === "array") return Array.isArray(now) || Array.isArray(stored) || stored === now ? [] : [`${path}: ${stored} -> ${JSON.stringify(now)}`];
    return stored === now ? [] : [`${path}: ${stored} -> ${JSON.stringify(now)}`];
  }
  if (Array.isArray(stored)) return Array.isArray(now) ? compatible(stored[0], now[0], `${path}[]`) : now === "array" ? [] : [`${path}: array -> ${JSON.stringify(now)}`];
  if (typeof now !== "object" || Array.isArray(now)) return now === "null" ? [] : [`${path}: object -> ${JSON.stringify(now)}`];
  const out: string[] = [];
  for (const [k, s] of Object.entries(stored)) {
    if (!(k in now)) out.push(`${path}.${k}: removed`);
    else out.push(...compatible(s, now[k] as Shape, `${path}.${k}`));
  }
  return out;
}
