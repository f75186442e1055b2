/**
 * Mapping a Codex app-server thread to a pane's Codex runtime
 * (src/adapters/codex/mapping.ts): the recorded three-TUI evidence
 * (tests/fixtures/codex/0.169.0/two-panes) and the edge cases around it.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  MAPPING_DEFAULTS,
  mapThread,
  type MappingThread,
  newestThreadByRuntime,
  normalizeCwd,
  type RuntimeCandidate,
  screenShowsPrompt,
  type ThreadClaim,
} from "../../src/adapters/codex/mapping.ts";
import { identifyAgent } from "../../src/procs/agents.ts";
import type { ProcessTable, ProcInfo } from "../../src/procs/types.ts";

const T = 1_795_502_600_000;
const rt = (id: string, pane: string, cwd: string | null, started_at: number, screen?: string): RuntimeCandidate => ({ runtime_id: id, pane_id: pane, cwd, started_at, ...(screen === undefined ? {} : { screen }) });
const th = (id: string, cwd: string, createdAtMs: number, preview = ""): MappingThread => ({ id, cwd, createdAtMs, preview });

const SCREEN = (prompt: string | null, composer = "Ask Codex to do anything"): string =>
  ["", "  >_ OpenAI Codex (v0.169.0)", "     ~/proj", "", ...(prompt === null ? [] : [`› ${prompt}`, "", "• Working (2s • esc to interrupt)"]), "", `› ${composer}`, "", "  gpt-mock default · ~/proj"].join("\n");

describe("mapThread: the rule", () => {
  test("one TUI in the thread's cwd that started before it → that runtime", () => {
    const r = mapThread(th("T1", "/home/u/proj", T + 1_100), [rt("rA", "%0", "/home/u/proj", T), rt("rB", "%1", "/home/u/other", T - 5_000)]);
    expect(r).toEqual({ kind: "mapped", runtime_id: "rA", pane_id: "%0", rule: "only_candidate" });
  });

  test("cwd mismatch → nothing (a thread never lands on a pane in another directory)", () => {
    expect(mapThread(th("T1", "/home/u/proj", T + 1_000), [rt("rA", "%0", "/home/u/proj2", T)])).toEqual({ kind: "none", reason: "cwd_mismatch" });
    expect(mapThread(th("T1", "/home/u/proj", T + 1_000), [rt("rA", "%0", null, T)])).toEqual({ kind: "none", reason: "cwd_mismatch" });
    expect(mapThread(th("T1", "/home/u/proj", T + 1_000), [])).toEqual({ kind: "none", reason: "no_runtime" });
    expect(mapThread(th("T1", "", T + 1_000), [rt("rA", "%0", "/home/u/proj", T)])).toEqual({ kind: "none", reason: "no_cwd" });
  });

  test("trailing and doubled slashes do not make another directory", () => {
    expect(normalizeCwd("/home/u/proj/")).toBe("/home/u/proj");
    expect(normalizeCwd("/home//u/proj")).toBe("/home/u/proj");
    expect(normalizeCwd("/")).toBe("/");
    expect(mapThread(th("T1", "/home/u/proj/", T + 1_000), [rt("rA", "%0", "/home/u/proj", T)]).kind).toBe("mapped");
  });

  test("a thread created before the process started is not its thread (a TUI started later, a resumed old thread)", () => {
    const r = mapThread(th("T1", "/p", T), [rt("rA", "%0", "/p", T + 5_000)]);
    expect(r).toEqual({ kind: "none", reason: "started_after_thread" });
    // within the tolerance (coarse process start clocks) it still counts
    expect(mapThread(th("T1", "/p", T), [rt("rA", "%0", "/p", T + MAPPING_DEFAULTS.toleranceMs)]).kind).toBe("mapped");
    expect(mapThread(th("T1", "/p", T), [rt("rA", "%0", "/p", T + MAPPING_DEFAULTS.toleranceMs + 1)]).kind).toBe("none");
  });

  test("two panes, same cwd: the one that just started takes the new thread; the long-running one does not", () => {
    const cands = [rt("rOld", "%0", "/p", T - 60_000), rt("rNew", "%2", "/p", T)];
    expect(mapThread(th("T3", "/p", T + 1_100), cands)).toEqual({ kind: "mapped", runtime_id: "rNew", pane_id: "%2", rule: "startup_window" });
  });

  test("two panes, same cwd, started together: ambiguous → nothing, unless a screen shows the first prompt", () => {
    const cands = [rt("rA", "%0", "/p", T), rt("rB", "%1", "/p", T + 400)];
    const t = th("TA", "/p", T + 1_500, "fix the flaky test");
    const r = mapThread(t, cands);
    expect(r).toEqual({ kind: "ambiguous", candidates: ["rA", "rB"], wantsScreens: true });
    // no preview yet (thread just created): screens cannot help
    expect(mapThread({ ...t, preview: "" }, cands)).toMatchObject({ kind: "ambiguous", wantsScreens: false });
    const withScreens = [rt("rA", "%0", "/p", T, SCREEN("fix the flaky test")), rt("rB", "%1", "/p", T + 400, SCREEN(null))];
    expect(mapThread(t, withScreens)).toEqual({ kind: "mapped", runtime_id: "rA", pane_id: "%0", rule: "screen_preview" });
    // both screens show the same prompt: still ambiguous (never guess)
    const both = [rt("rA", "%0", "/p", T, SCREEN("fix the flaky test")), rt("rB", "%1", "/p", T + 400, SCREEN("fix the flaky test"))];
    expect(mapThread(t, both)).toEqual({ kind: "ambiguous", candidates: ["rA", "rB"], wantsScreens: false });
    // screens showing nothing useful: ambiguous, and asking for screens again would not help
    expect(mapThread(t, [rt("rA", "%0", "/p", T, SCREEN(null)), rt("rB", "%1", "/p", T + 400, SCREEN(null))])).toMatchObject({ kind: "ambiguous", wantsScreens: false });
  });

  test("the screen beats the startup window (a /new in the old pane while another TUI just started)", () => {
    const cands = [rt("rOld", "%0", "/p", T - 60_000, SCREEN("second conversation")), rt("rNew", "%2", "/p", T, SCREEN(null))];
    expect(mapThread(th("Tn", "/p", T + 1_000, "second conversation"), cands)).toMatchObject({ kind: "mapped", runtime_id: "rOld", rule: "screen_preview" });
  });

  test("a runtime whose startup thread is already claimed does not take another thread by the window", () => {
    const cands = [rt("rA", "%0", "/p", T), rt("rC", "%2", "/p", T + 5_000)];
    const t3 = th("T3", "/p", T + 6_200);
    // without claims both started within the window: ambiguous
    expect(mapThread(t3, cands).kind).toBe("ambiguous");
    // rA created T1 right after it started: only rC can have created T3
    const claims: ThreadClaim[] = [{ thread_id: "T1", runtime_id: "rA", createdAtMs: T + 3_100 }];
    expect(mapThread(t3, cands, claims)).toMatchObject({ kind: "mapped", runtime_id: "rC", rule: "startup_window" });
    // the thread's own claim does not count against it
    expect(mapThread(t3, cands, [{ thread_id: "T3", runtime_id: "rC", createdAtMs: T + 6_200 }]).kind).toBe("ambiguous");
  });

  test("a single candidate takes a later thread too (a new conversation in the same TUI: /new)", () => {
    const claims: ThreadClaim[] = [{ thread_id: "T1", runtime_id: "rA", createdAtMs: T + 1_000 }];
    expect(mapThread(th("T2", "/p", T + 600_000), [rt("rA", "%0", "/p", T)], claims)).toMatchObject({ kind: "mapped", runtime_id: "rA", rule: "only_candidate" });
  });

  test("window and tolerance are options", () => {
    const cands = [rt("rOld", "%0", "/p", T - 9_000), rt("rNew", "%2", "/p", T)];
    expect(mapThread(th("T", "/p", T + 1_000), cands, [], { windowMs: 20_000 }).kind).toBe("ambiguous");
    expect(mapThread(th("T", "/p", T - 500), [rt("rA", "%0", "/p", T)], [], { toleranceMs: 0 }).kind).toBe("none");
  });
});

describe("newestThreadByRuntime: the newest thread speaks for the pane", () => {
  test("per runtime, the latest created claim", () => {
    const m = newestThreadByRuntime([
      { thread_id: "T1", runtime_id: "rA", createdAtMs: 1 },
      { thread_id: "T2", runtime_id: "rA", createdAtMs: 5 },
      { thread_id: "T3", runtime_id: "rB", createdAtMs: 3 },
    ]);
    expect(m.get("rA")?.thread_id).toBe("T2");
    expect(m.get("rB")?.thread_id).toBe("T3");
  });
});

describe("screenShowsPrompt", () => {
  test("a submitted prompt line, exactly, or the beginning of a long wrapped one", () => {
    expect(screenShowsPrompt(SCREEN("hello there"), "hello there")).toBe(true);
    expect(screenShowsPrompt(SCREEN("hello there"), "hello")).toBe(false);
    expect(screenShowsPrompt(SCREEN("hello"), "hello there")).toBe(false);
    const long = "please refactor the payment module so that retries are idempotent and logged";
    expect(screenShowsPrompt(SCREEN("please refactor the payment module so that"), long)).toBe(true);
    expect(screenShowsPrompt(SCREEN("multi"), "multi\nline prompt")).toBe(true);
    expect(screenShowsPrompt(SCREEN(null), "")).toBe(false);
    expect(screenShowsPrompt("hello there", "hello there")).toBe(false); // not a prompt line
  });
});

// ---------------------------------------------------------------------------
// The recorded evidence: three daemon-mode TUIs (%0 in proj, %1 in proj2, %2 in proj again)

const TWO = join(import.meta.dir, "..", "fixtures", "codex", "0.169.0", "two-panes");

interface Evidence {
  panes: { pane: string; pane_pid: number; cwd: string; processes: (ProcInfo & { comm: string })[] }[];
  threads: { id: string; cwd: string; createdAtMs: number; preview: string }[];
  mapping: { thread: string; typedIn: string | null }[];
}

function runtimesOf(ev: Evidence): RuntimeCandidate[] {
  return ev.panes.map((p) => {
    const byPid = new Map<number, ProcInfo>();
    const children = new Map<number, number[]>();
    for (const pr of p.processes) {
      byPid.set(pr.pid, pr);
      children.set(pr.ppid, [...(children.get(pr.ppid) ?? []), pr.pid]);
    }
    const table: ProcessTable = { taken_at: 0, byPid, children };
    const agent = identifyAgent(table, p.pane_pid);
    if (agent === null) throw new Error(`no agent in ${p.pane}`);
    return rt(`rt-${p.pane}`, p.pane, p.cwd, agent.started_at);
  });
}

function afterPromptScreens(): Map<string, string> {
  const out = new Map<string, string>();
  const dir = join(TWO, "screens");
  for (const f of readdirSync(dir)) {
    const m = /^\d+-pane(\d)-after-prompts\.txt$/.exec(f);
    if (m !== null) out.set(`%${Number(m[1]) - 1}`, readFileSync(join(dir, f), "utf8"));
  }
  return out;
}

describe.skipIf(!existsSync(join(TWO, "mapping.json")))("the two-panes recording (codex 0.169.0)", () => {
  const ev = existsSync(join(TWO, "mapping.json")) ? (JSON.parse(readFileSync(join(TWO, "mapping.json"), "utf8")) as Evidence) : ({ panes: [], threads: [], mapping: [] } as Evidence);
  const truth = new Map(ev.mapping.map((m) => [m.thread, m.typedIn]));

  test("every thread maps to the pane its prompt was typed in, by creation time and cwd alone (threads in creation order, claims accumulating)", () => {
    const runtimes = runtimesOf(ev);
    const claims: ThreadClaim[] = [];
    const rules: string[] = [];
    for (const t of ev.threads.toSorted((a, b) => a.createdAtMs - b.createdAtMs)) {
      // at creation the preview is still empty
      const r = mapThread({ ...t, preview: "" }, runtimes, claims);
      expect(r.kind).toBe("mapped");
      if (r.kind !== "mapped") continue;
      expect([t.id, r.pane_id]).toEqual([t.id, truth.get(t.id) as string]);
      rules.push(`${r.pane_id}:${r.rule}`);
      claims.push({ thread_id: t.id, runtime_id: r.runtime_id, createdAtMs: t.createdAtMs });
    }
    // %0 and %1 are alone in their cwd when their threads are created; %2 shares proj with %0 and wins by the startup window
    expect(rules.toSorted()).toEqual(["%0:only_candidate", "%1:only_candidate", "%2:startup_window"]);
  });

  test("the thread created ~9 s after %0 started and ~1.1 s after %2 started: %2, even with a window wide enough to take in %0 (claims or the screen decide)", () => {
    const runtimes = runtimesOf(ev);
    const t3 = ev.threads.find((t) => truth.get(t.id) === "%2");
    const t1 = ev.threads.find((t) => truth.get(t.id) === "%0");
    if (t3 === undefined || t1 === undefined) throw new Error("fixture lacks the %0 / %2 threads");
    const wide = { windowMs: 30_000 };
    // wide window, no claims, no screens: ambiguous, never a guess
    expect(mapThread(t3, runtimes, [], wide)).toMatchObject({ kind: "ambiguous", wantsScreens: true });
    // %0's own startup thread is known: only %2 is left in the window
    expect(mapThread(t3, runtimes, [{ thread_id: t1.id, runtime_id: "rt-%0", createdAtMs: t1.createdAtMs }], wide)).toMatchObject({ kind: "mapped", pane_id: "%2", rule: "startup_window" });
    // the screens after the prompts: %2 shows `› run ls -la /tmp`
    const screens = afterPromptScreens();
    expect(screens.size).toBe(3);
    const withScreens = runtimes.map((r) => ({ ...r, screen: screens.get(r.pane_id) }));
    expect(mapThread(t3, withScreens, [], wide)).toMatchObject({ kind: "mapped", pane_id: "%2", rule: "screen_preview" });
    expect(mapThread(t1, withScreens, [], wide)).toMatchObject({ kind: "mapped", pane_id: "%0" });
  });

  test("creation − start deltas are what the window assumes (1–4 s)", () => {
    const runtimes = runtimesOf(ev);
    for (const t of ev.threads) {
      const own = runtimes.find((r) => r.pane_id === truth.get(t.id));
      const delta = t.createdAtMs - (own?.started_at ?? 0);
      expect(delta).toBeGreaterThan(0);
      expect(delta).toBeLessThan(MAPPING_DEFAULTS.windowMs);
    }
  });
});
