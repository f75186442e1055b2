/** The per-thread state machine for Codex app-server statuses (src/adapters/codex/threads.ts). */
import { describe, expect, test } from "bun:test";
import type { CodexThreadStatus } from "../../src/adapters/codex/appserver.ts";
import { activeState, ignoreReasonOf, statusLabel, ThreadMachine, type ThreadStep } from "../../src/adapters/codex/threads.ts";

const active = (...flags: string[]): CodexThreadStatus => ({ type: "active", activeFlags: flags });
const idle: CodexThreadStatus = { type: "idle" };
const sysErr: CodexThreadStatus = { type: "systemError" };
const notLoaded: CodexThreadStatus = { type: "notLoaded" };

function run(m: ThreadMachine, id: string, statuses: CodexThreadStatus[]): ThreadStep[] {
  return statuses.map((s) => m.step(id, s));
}

/** a compact view: state names, "ended" for a turn end, "-" for ignored */
function view(steps: ThreadStep[]): string[] {
  return steps.map((s) => (s.kind === "state" ? s.state : s.kind === "turn_ended" ? "ended" : `-${s.reason}`));
}

describe("ThreadMachine", () => {
  test("a plain turn: idle at first sight, running, then the turn ends", () => {
    const m = new ThreadMachine();
    const steps = run(m, "T1", [idle, active(), idle]);
    expect(view(steps)).toEqual(["idle", "running", "ended"]);
    expect(steps[0]).toEqual({ kind: "state", state: "idle", firstSight: true });
    expect(steps[1]).toEqual({ kind: "state", state: "running", firstSight: false });
  });

  test("approval and question flags; approval wins when both are set", () => {
    const m = new ThreadMachine();
    expect(view(run(m, "T", [active(), active("waitingOnApproval"), active(), active("waitingOnUserInput"), active(), idle]))).toEqual([
      "running",
      "waiting_approval",
      "running",
      "waiting_input",
      "running",
      "ended",
    ]);
    expect(activeState(["waitingOnUserInput", "waitingOnApproval"])).toBe("waiting_approval");
    expect(activeState(["somethingNew"])).toBe("running");
  });

  test("first sight of an active thread (connected mid-turn) is its state, marked first sight", () => {
    const m = new ThreadMachine();
    expect(m.step("T", active("waitingOnApproval"))).toEqual({ kind: "state", state: "waiting_approval", firstSight: true });
  });

  test("systemError is error; idle after it changes nothing; the next turn starts afresh", () => {
    const m = new ThreadMachine();
    expect(view(run(m, "T", [active(), sysErr, idle, active(), idle]))).toEqual(["running", "error", "-after_error", "running", "ended"]);
  });

  test("notLoaded is ignored and forgets the phase: a reload is a first sight again", () => {
    const m = new ThreadMachine();
    expect(view(run(m, "T", [active(), idle, notLoaded, idle]))).toEqual(["running", "ended", "-not_loaded", "idle"]);
  });

  test("repeats and unknown status types are ignored", () => {
    const m = new ThreadMachine();
    expect(view(run(m, "T", [active(), active(), { type: "other", raw: { type: "paused" } }, idle, idle]))).toEqual([
      "running",
      "-repeat",
      "-unknown_status",
      "ended",
      "-repeat",
    ]);
  });

  test("ephemeral, title-prompt and sub-agent threads are ignored for good", () => {
    const m = new ThreadMachine();
    m.observe({ id: "E", ephemeral: true });
    m.observe({ id: "P", ephemeral: false, preview: "Generate a concise, single-line task title of at most 36 characters" });
    m.observe({ id: "S", parentThreadId: "T1" });
    m.markTitleThread("N");
    for (const id of ["E", "P", "S", "N"]) {
      expect(m.isIgnored(id)).toBe(true);
      expect(run(m, id, [idle, active(), idle]).every((x) => x.kind === "ignore")).toBe(true);
    }
    // a later, harmless fact does not un-ignore
    m.observe({ id: "E", ephemeral: false, preview: "hello" });
    expect(m.isIgnored("E")).toBe(true);
  });

  test("threads are independent", () => {
    const m = new ThreadMachine();
    expect(m.step("A", active()).kind).toBe("state");
    expect(m.step("B", idle)).toEqual({ kind: "state", state: "idle", firstSight: true });
    expect(m.step("A", idle).kind).toBe("turn_ended");
    m.forget("A");
    expect(m.knows("A")).toBe(false);
    expect(m.step("A", idle)).toEqual({ kind: "state", state: "idle", firstSight: true });
  });

  test("labels and ignore reasons", () => {
    expect(statusLabel(active())).toBe("active[]");
    expect(statusLabel(active("waitingOnApproval"))).toBe("active[waitingOnApproval]");
    expect(statusLabel(idle)).toBe("idle");
    expect(ignoreReasonOf({ id: "x" })).toBeNull();
    expect(ignoreReasonOf({ id: "x", source: "subAgent" })).toBe("sub_agent");
    expect(ignoreReasonOf({ id: "x", preview: "  Generate a concise, single-line task title" })).toBe("title_thread");
  });
});
