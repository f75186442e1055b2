/**
 * The watch stream against the compiled daemon and a real tmux server:
 * TC-051 (restart the daemon during an active watch: terminal reset, then on
 * reconnect reset + snapshot, nothing lost), a topology change (new pane)
 * reaching a watcher, and the stream surviving the 10 s idle timeout.
 */
import { describe, expect, test } from "bun:test";
import { runCli } from "../helpers/binary.ts";
import type { Sandbox } from "../helpers/sandbox.ts";
import { waitFor } from "../helpers/wait.ts";
import type { ListResponse, PaneItem } from "../../src/wire/list.ts";
import type { WatchLine } from "../../src/wire/watch.ts";
import { e2eScope, rawFetch, tmuxScope } from "./lib.ts";

const scope = e2eScope("watch");
const tmuxes = tmuxScope();

/** An NDJSON watch stream over the daemon socket, read line by line. */
async function openWatch(sb: Sandbox, query: string): Promise<{ next(timeoutMs?: number): Promise<WatchLine<PaneItem> | null>; close(): void }> {
  const ac = new AbortController();
  const res = await fetch(`http://agtmux/v1/watch?${query}`, { unix: sb.paths.socket, signal: ac.signal } as RequestInit & { unix: string });
  if (res.status !== 200 || res.body === null) throw new Error(`watch: ${res.status} ${await res.text()}`);
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = "";
  return {
    async next(timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const nl = buf.indexOf("\n");
        if (nl >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          return JSON.parse(line) as WatchLine<PaneItem>;
        }
        const left = deadline - Date.now();
        if (left <= 0) throw new Error("watch: no line in time");
        const r = await Promise.race([reader.read(), Bun.sleep(left).then(() => null)]);
        if (r === null) throw new Error("watch: no line in time");
        if (r.done) return null;
        buf += dec.decode(r.value, { stream: true });
      }
    },
    close: () => ac.abort(),
  };
}

async function emitState(sb: Sandbox, pane: string, serverPid: number, state: string, env: Record<string, string> = {}): Promise<void> {
  const r = await runCli(sb, ["emit", "--type", `state.${state}`, "--pane", pane], { env: { AGTMUX_NO_AUTOSTART: "1", TMUX: `/x,${serverPid},0`, ...env } });
  expect(r.code).toBe(0);
}

describe("watch against the daemon", () => {
  test("TC-051 restart the daemon during a watch: the stream ends with a terminal reset; reconnecting with the old cursor gives reset + snapshot; events sent while it was down are in it", async () => {
    const sb = scope.box();
    const t = tmuxes.tmux(sb);
    await t.newSession("main", t.agent("claude"));
    const pane = (await t.run("display-message", "-p", "-t", "main", "#{pane_id}")).trim();
    const serverPid = t.serverPids()[0] ?? 0;
    const d1 = await scope.daemon(sb);
    const w = await openWatch(sb, "scope=panes");
    const snap = await w.next();
    expect(snap?.type).toBe("snapshot");

    await emitState(sb, pane, serverPid, "running");
    const delta = await waitFor(
      async () => {
        const l = await w.next();
        return l?.type === "delta" && l.changes.some((c) => c.item?.state === "running") ? l : null;
      },
      { timeoutMs: 10_000, message: "delta with running" },
    );
    const cursor = delta.cursor;

    d1.proc.kill("SIGTERM");
    let last: WatchLine<PaneItem> | null = null;
    for (;;) {
      const l = await w.next();
      if (l === null) break;
      last = l;
    }
    expect(last).toMatchObject({ type: "reset", reason: "shutdown", terminal: true });
    await d1.proc.exited;
    expect(d1.proc.exitCode).toBe(0);

    // while it is down: spooled, not lost
    await emitState(sb, pane, serverPid, "waiting_approval");
    await scope.daemon(sb);
    const w2 = await openWatch(sb, `scope=panes&cursor=${encodeURIComponent(cursor)}`);
    const reset = await w2.next();
    expect(reset).toMatchObject({ type: "reset", reason: "stream_changed", terminal: false });
    expect(reset?.stream_id).not.toBe(snap?.stream_id);
    // the snapshot is taken once the spool drained: poll with fresh streams until it shows the spooled state
    const after = await w2.next();
    expect(after?.type).toBe("snapshot");
    const state = await waitFor(
      async () => {
        const r = (await rawFetch(sb, "/v1/panes")).body as ListResponse<PaneItem>;
        return r.items.find((p) => p.identity.pane_id === pane)?.state === "waiting_approval" ? r : null;
      },
      { timeoutMs: 10_000, message: "spooled event applied" },
    );
    // the watcher converges on the same state: snapshot + deltas equal the list
    let held: string | null | undefined = after?.type === "snapshot" ? after.items.find((p) => p.identity.pane_id === pane)?.state : undefined;
    while (held !== "waiting_approval") {
      const l = await w2.next();
      if (l?.type === "delta") for (const c of l.changes) if (c.identity.target === "host" && "pane_id" in c.identity && c.identity.pane_id === pane) held = c.item?.state ?? undefined;
    }
    expect(held).toBe(state.items.find((p) => p.identity.pane_id === pane)?.state ?? "none");
    w2.close();
  }, 60_000);

  test("a new tmux pane reaches a watcher as an upsert within a blink; an idle stream outlives Bun's 10 s idle timeout on heartbeats", async () => {
    const sb = scope.box();
    const t = tmuxes.tmux(sb);
    await t.newSession("main", t.agent("claude"));
    await scope.daemon(sb);
    const w = await openWatch(sb, "scope=panes"); // the default heartbeat: it alone must keep the stream open
    expect((await w.next())?.type).toBe("snapshot");
    const t0 = performance.now();
    await t.run("split-window", "-t", "main", ...t.agent("codex"));
    const up = await waitFor(
      async () => {
        const l = await w.next();
        return l?.type === "delta" && l.changes.some((c) => c.op === "upsert" && c.item?.agent?.type === "codex") ? l : null;
      },
      { timeoutMs: 10_000, message: "upsert of the new pane" },
    );
    console.log(`new pane -> watch line: ${(performance.now() - t0).toFixed(1)} ms`);
    expect(up.type).toBe("delta");
    // 12 s of quiet: heartbeats, no disconnect
    const quietUntil = Date.now() + 12_000;
    let beats = 0;
    while (Date.now() < quietUntil) {
      const l = await w.next(8_000);
      expect(l).not.toBeNull();
      if (l?.type === "heartbeat") beats++;
    }
    expect(beats).toBeGreaterThanOrEqual(2);
    w.close();
  }, 60_000);
});
