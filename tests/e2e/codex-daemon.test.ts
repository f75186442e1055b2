/**
 * The compiled agtmux daemon follows real Codex 0.169.0 TUIs (daemon mode)
 * through the Codex app-server: two TUIs in two tmux panes, in the SAME
 * project directory (so the thread → pane mapping has to tell them apart),
 * against the fake OpenAI server. The agtmux daemon watches the lab's tmux
 * server ($TMUX) and the lab's $CODEX_HOME.
 *
 * The pane that is driven goes running → waiting_approval → running →
 * completed in `agtmux list panes --json` (and in the stored event history);
 * the other pane stays as it was. Then the other way round with a plain turn.
 * Second test: agtmux restarted while a turn finishes learns the outcome from
 * the app-server and the rollout; Esc ends a turn as idle, not completed.
 * Skipped only when the pinned Codex CLI (tests/agents), node or tmux is
 * missing. Budget: < 90 s for the file (≈15 s here: 7–9 s per test).
 */
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { State } from "../../src/domain/model.ts";
import type { ListResponse, PaneItem } from "../../src/wire/list.ts";
import { CODEX_BIN, type CodexLab, codexAvailable, type LabPane, startCodexLab } from "../agents/codex/harness.ts";
import { defaultScript } from "../fakes/openai.ts";
import { runCli } from "../helpers/binary.ts";
import type { Sandbox } from "../helpers/sandbox.ts";
import { waitFor } from "../helpers/wait.ts";
import { removeTempDirs } from "../tmux/harness.ts";
import { e2eScope, rawFetch, stopProc, withDb } from "./lib.ts";

const available = codexAvailable();
if (!available) console.warn(`codex-daemon e2e skipped: the pinned Codex CLI is missing (${CODEX_BIN}; npm install in tests/agents), or node/tmux is not on PATH`);

const scope = e2eScope("cxd");
let lab: CodexLab | null = null;
afterEach(async () => {
  await lab?.stop();
  lab = null;
});
afterAll(() => removeTempDirs());

async function panes(sb: Sandbox): Promise<PaneItem[]> {
  const r = await rawFetch(sb, "/v1/panes");
  if (r.status !== 200) throw new Error(`GET /v1/panes: ${r.status} ${r.text}`);
  return (r.body as ListResponse<PaneItem>).items;
}

/** `agtmux list panes --json`, the pane's state */
async function cliState(sb: Sandbox, pane: string): Promise<State | null> {
  const r = await runCli(sb, ["list", "panes", "--json"], { env: { AGTMUX_NO_AUTOSTART: "1" } });
  if (r.code !== 0) throw new Error(`agtmux list panes --json exited ${r.code}: ${r.stderr}`);
  const items = (JSON.parse(r.stdout) as ListResponse<PaneItem>).items;
  return items.find((p) => p.identity.pane_id === pane)?.state ?? null;
}

async function untilCliState(sb: Sandbox, pane: string, state: State, timeoutMs = 15_000): Promise<void> {
  let last: State | null = null;
  await waitFor(
    async () => {
      last = await cliState(sb, pane);
      return last === state;
    },
    { timeoutMs, intervalMs: 100, message: `${pane} ${state} in agtmux list panes --json (last: ${String(last)})` },
  );
}

/** every element of `seen` appears in `full`, in the same order */
function isSubsequence(seen: readonly string[], full: readonly string[]): boolean {
  let i = 0;
  for (const x of full) if (x === seen[i]) i++;
  return i === seen.length;
}

/** Polls the API every 40 ms and keeps each pane's distinct states, in order. */
function recordStates(sb: Sandbox, ids: string[]): { last(pane: string): State | undefined; stop(): Promise<Map<string, State[]>> } {
  const seen = new Map<string, State[]>(ids.map((p) => [p, []]));
  const run = { on: true };
  const loop = (async () => {
    while (run.on) {
      try {
        for (const p of await panes(sb)) {
          const seq = seen.get(p.identity.pane_id);
          if (seq !== undefined && p.state !== null && seq[seq.length - 1] !== p.state) seq.push(p.state);
        }
      } catch {
        // the next poll
      }
      await Bun.sleep(40);
    }
  })();
  return {
    last: (pane) => seen.get(pane)?.at(-1),
    async stop() {
      run.on = false;
      await loop;
      return seen;
    },
  };
}

/** How the follower's turn ends were decided (raw_payload.turn_end: from the rollout, or "unknown"). */
function turnEnds(sb: Sandbox, runtimeId: string): string[] {
  return withDb(sb.paths.db, (db) =>
    db
      .query<{ raw_payload: string | null }, [string]>("SELECT raw_payload FROM events WHERE runtime_id = ? AND source = 'notify' AND event_type = 'codex.thread.completed' ORDER BY effective_time")
      .all(runtimeId)
      .map((r) => String((JSON.parse(r.raw_payload ?? "{}") as { turn_end?: unknown }).turn_end)),
  );
}

/** The states the notify source (the app-server follower) applied to a pane's runtime, in order. */
function appliedStates(sb: Sandbox, runtimeId: string): string[] {
  return withDb(sb.paths.db, (db) =>
    db
      .query<{ norm_state: string | null }, [string]>(
        "SELECT norm_state FROM events WHERE runtime_id = ? AND source = 'notify' AND event_type LIKE 'codex.thread.%' AND outcome = 'applied' ORDER BY effective_time, ingested_at",
      )
      .all(runtimeId)
      .map((r) => r.norm_state ?? "?"),
  );
}

describe.skipIf(!available)("agtmux daemon + real Codex 0.169.0 (app-server follower)", () => {
  test(
    "two TUIs in one project: the driven pane goes running → waiting_approval → running → completed; the other pane is not affected",
    async () => {
      // the answer after the approved command trickles in, so the second `running` lasts long enough to be seen
      const l = await startCodexLab({
        projects: ["proj"],
        script: (ctx) => (ctx.afterToolOutput ? { kind: "text", text: "Done running the command.", chunkDelayMs: 300 } : defaultScript(ctx)),
      });
      lab = l;
      const serverPid = (await l.tmux.run("display-message", "-p", "#{pid}")).trim();
      const socket = join(process.env.TMUX_TMPDIR ?? "", `tmux-${process.getuid?.() ?? 0}`, l.tmux.socket.name ?? "");
      const sb = scope.box();
      await scope.daemon(sb, { TMUX: `${socket},${serverPid},0`, CODEX_HOME: l.codexHome, AGTMUX_NO_AUTOSTART: "1" });

      const a = l.panes[0] as LabPane;
      await l.startCodex(a); // starts the Codex daemon too
      // a: a Codex runtime, idle (the follower connected, read the thread and mapped it)
      const paneIdle = (id: string) => async (): Promise<PaneItem | null> => {
        const p = (await panes(sb)).find((x) => x.identity.pane_id === id);
        return p?.agent?.type === "codex" && p.state === "idle" ? p : null;
      };
      const hint = "(is CodexThreadCollector wired into src/daemon/daemon.ts?)";
      const pa = await waitFor(paneIdle(a.id), { timeoutMs: 20_000, intervalMs: 100, message: `pane ${a.id} idle in agtmux ${hint}` });
      // b: same project directory; its thread is created ~1 s after its TUI starts, a's is known by then
      const b = await l.openPane(0);
      await l.startCodex(b);
      const pb = await waitFor(paneIdle(b.id), { timeoutMs: 20_000, intervalMs: 100, message: `pane ${b.id} idle in agtmux ${hint}` });
      const ready = { pa, pb };
      expect(ready.pa.cwd).toBe(ready.pb.cwd as string);
      const rtA = ready.pa.agent?.runtime_id as string;
      const rtB = ready.pb.agent?.runtime_id as string;
      expect(await cliState(sb, a.id)).toBe("idle");
      expect(await cliState(sb, b.id)).toBe("idle");

      // drive b: a command that needs approval
      let rec = recordStates(sb, [a.id, b.id]);
      await l.prompt(b, "run ls -la /tmp");
      await l.waitScreen(b, /Would you like to run the following command\?/);
      await untilCliState(sb, b.id, "waiting_approval");
      expect(await cliState(sb, a.id)).toBe("idle");
      await l.keys(b, "y");
      await untilCliState(sb, b.id, "completed");
      await waitFor(() => rec.last(b.id) === "completed", { timeoutMs: 2_000, message: "the recorder saw completed" });
      let seen = await rec.stop();
      // sampled every 40 ms, a short-lived state (running for a few ms before the approval) may be
      // missed: what was seen must be in order, and the stored transitions (below) are exact
      const sampledB = seen.get(b.id) ?? [];
      expect(isSubsequence(sampledB, ["idle", "running", "waiting_approval", "running", "completed"])).toBe(true);
      expect(sampledB).toContain("waiting_approval");
      expect(sampledB.at(-1)).toBe("completed");
      expect(seen.get(a.id)).toEqual(["idle"]);
      // a second TUI in the same directory may be mapped only once its prompt shows on screen (a loaded
      // machine widens the start-up window): its first transitions can then predate the mapping
      const storedB = appliedStates(sb, rtB);
      expect(isSubsequence(storedB, ["idle", "running", "waiting_approval", "running", "completed"])).toBe(true);
      expect(storedB.slice(-3)).toEqual(["waiting_approval", "running", "completed"]);
      expect(appliedStates(sb, rtA)).toEqual(["idle"]);
      // the turn end was read from the rollout (task_complete), not assumed
      expect(turnEnds(sb, rtB)).toEqual(["completed"]);

      // now a, a plain turn; b keeps its completed
      rec = recordStates(sb, [a.id, b.id]);
      await l.prompt(a, "hello from the first pane");
      await untilCliState(sb, a.id, "completed");
      await waitFor(() => rec.last(a.id) === "completed", { timeoutMs: 2_000, message: "the recorder saw completed" });
      seen = await rec.stop();
      expect(seen.get(a.id)?.at(-1)).toBe("completed");
      expect(appliedStates(sb, rtA)).toEqual(["idle", "running", "completed"]);
      expect(seen.get(b.id)).toEqual(["completed"]);
      expect(await cliState(sb, b.id)).toBe("completed");

      const ps = await panes(sb);
      for (const p of ps.filter((x) => x.agent?.type === "codex")) expect(p.state_source).toBe("notify");
    },
    60_000,
  );

  test(
    "agtmux restarted while a turn finishes gets the state back (catch-up + rollout); Esc is idle, not completed",
    async () => {
      const l = await startCodexLab({ projects: ["proj"] });
      lab = l;
      const serverPid = (await l.tmux.run("display-message", "-p", "#{pid}")).trim();
      const socket = join(process.env.TMUX_TMPDIR ?? "", `tmux-${process.getuid?.() ?? 0}`, l.tmux.socket.name ?? "");
      const env = { TMUX: `${socket},${serverPid},0`, CODEX_HOME: l.codexHome, AGTMUX_NO_AUTOSTART: "1" };
      const sb = scope.box();
      const first = await scope.daemon(sb, env);
      const a = l.panes[0] as LabPane;
      await l.startCodex(a);
      await untilCliState(sb, a.id, "idle", 20_000);
      await l.prompt(a, "run ls -la /tmp");
      await untilCliState(sb, a.id, "waiting_approval");
      // agtmux goes away; the user approves and the turn finishes meanwhile
      await stopProc(first);
      await l.waitScreen(a, /Would you like to run the following command\?/);
      await l.keys(a, "y");
      await l.waitScreen(a, /Worked for/);
      await scope.daemon(sb, env);
      await untilCliState(sb, a.id, "completed");
      // Esc during a slow answer: turn_aborted in the rollout → idle
      await l.prompt(a, "slow answer please");
      await untilCliState(sb, a.id, "running");
      await l.keys(a, "Escape");
      await untilCliState(sb, a.id, "idle");
    },
    60_000,
  );

  test(
    "a rejected approval ends idle; completed demotes to idle after the configured TTL; the TUI exits: its runtime ends",
    async () => {
      const l = await startCodexLab({ projects: ["proj"] });
      lab = l;
      const serverPid = (await l.tmux.run("display-message", "-p", "#{pid}")).trim();
      const socket = join(process.env.TMUX_TMPDIR ?? "", `tmux-${process.getuid?.() ?? 0}`, l.tmux.socket.name ?? "");
      const sb = scope.box();
      mkdirSync(dirname(sb.paths.config), { recursive: true });
      writeFileSync(sb.paths.config, "[engine]\ncompleted_demotion_s = 3\n");
      await scope.daemon(sb, { TMUX: `${socket},${serverPid},0`, CODEX_HOME: l.codexHome, AGTMUX_NO_AUTOSTART: "1" });
      const a = l.panes[0] as LabPane;
      await l.startCodex(a);
      await untilCliState(sb, a.id, "idle", 20_000);
      // reject: Esc on the approval dialog interrupts the turn (turn_aborted) -> idle, never completed
      await l.prompt(a, "run ls -la /tmp");
      await untilCliState(sb, a.id, "waiting_approval");
      await l.waitScreen(a, /Would you like to run the following command\?/);
      await l.keys(a, "Escape");
      await untilCliState(sb, a.id, "idle");
      // a plain turn: completed, then idle once the 3 s demotion passes
      await l.prompt(a, "hello there");
      await untilCliState(sb, a.id, "completed");
      await untilCliState(sb, a.id, "idle", 15_000);
      // the TUI exits (its thread may live on in the Codex daemon): the pane is no agent pane any more
      const before = (await panes(sb)).find((p) => p.identity.pane_id === a.id);
      expect(before?.agent?.type).toBe("codex");
      await l.prompt(a, "/quit");
      await l.waitScreen(a, /codex resume|Disconnected/);
      try {
        // `panes` lists agent panes: once the runtime ends, the pane drops out of it
        await waitFor(async () => (await panes(sb)).find((p) => p.identity.pane_id === a.id)?.agent == null, {
          timeoutMs: 20_000,
          message: "runtime ended after /quit",
        });
      } catch (err) {
        const p = (await panes(sb)).find((x) => x.identity.pane_id === a.id);
        console.log("PANE:", JSON.stringify({ cmd: p?.current_command, agent: p?.agent }));
        console.log("PROCS:", JSON.stringify(l.paneProcesses(a).map((x) => [x.pid, x.argv?.slice(0, 3)])));
        throw err;
      }
    },
    90_000,
  );
});
