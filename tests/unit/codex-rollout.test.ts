/** How a Codex turn ended, from its rollout JSONL (src/adapters/codex/rollout.ts), on synthetic lines and the recorded 0.169.0 rollouts. */
import { afterAll, describe, expect, test } from "bun:test";
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findRolloutPath, lastTurnOf, parseRolloutLine, readLastTurn, sessionDayDirs, turnEndState } from "../../src/adapters/codex/rollout.ts";

const FIX = join(import.meta.dir, "..", "fixtures", "codex", "0.169.0");
const tmp = mkdtempSync(join(process.env.AGTMUX_TEST_ROOT ?? tmpdir(), "rollout-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const line = (ts: string, payload: Record<string, unknown>, type = "event_msg"): string => JSON.stringify({ timestamp: ts, ordinal: 1, type, payload });
const started = (ts: string, turn: string): string => line(ts, { type: "task_started", turn_id: turn, started_at: 1 });
const complete = (ts: string, turn: string, error: unknown = undefined): string =>
  line(ts, { type: "task_complete", turn_id: turn, last_agent_message: error === undefined ? "done" : null, ...(error === undefined ? {} : { error }) });
const aborted = (ts: string, turn: string, reason = "interrupted"): string => line(ts, { type: "turn_aborted", turn_id: turn, reason });

describe("parseRolloutLine", () => {
  test("turn boundaries", () => {
    expect(parseRolloutLine(started("2026-11-24T06:39:51.227Z", "u1"))).toEqual({ kind: "started", turnId: "u1", at: Date.parse("2026-11-24T06:39:51.227Z") });
    expect(parseRolloutLine(complete("2026-11-24T06:39:51.565Z", "u1"))).toMatchObject({ kind: "completed", turnId: "u1", errorMessage: null });
    expect(parseRolloutLine(complete("2026-11-24T06:39:51.565Z", "u1", { message: "mock failure requested" }))).toMatchObject({ kind: "error", errorMessage: "mock failure requested" });
    expect(parseRolloutLine(complete("2026-11-24T06:39:51.565Z", "u1", null))).toMatchObject({ kind: "completed" });
    expect(parseRolloutLine(aborted("2026-11-24T06:40:02.860Z", "u2"))).toMatchObject({ kind: "interrupted", reason: "interrupted", turnId: "u2" });
  });

  test("everything else is null: other event_msg types, response items that mention the words, broken JSON", () => {
    expect(parseRolloutLine(line("2026-11-24T06:39:51Z", { type: "token_count" }))).toBeNull();
    expect(parseRolloutLine(line("2026-11-24T06:39:51Z", { type: "message", content: '"type":"task_complete"' }, "response_item"))).toBeNull();
    expect(parseRolloutLine('{"type":"event_msg","payload":{"type":"task_complete"')).toBeNull();
    expect(parseRolloutLine("")).toBeNull();
    expect(parseRolloutLine(line("not a time", { type: "task_complete", turn_id: "x" }))).toMatchObject({ kind: "completed", at: null });
  });

  test("turnEndState: interrupted (Esc, rejected approval) is idle", () => {
    expect(turnEndState("completed")).toBe("completed");
    expect(turnEndState("error")).toBe("error");
    expect(turnEndState("interrupted")).toBe("idle");
  });
});

describe("lastTurnOf / readLastTurn", () => {
  test("the newest boundary decides", () => {
    expect(lastTurnOf("")).toEqual({ kind: "none" });
    expect(lastTurnOf([started("2026-11-24T06:00:00Z", "a")].join("\n"))).toMatchObject({ kind: "in_progress", turnId: "a" });
    expect(lastTurnOf([started("2026-11-24T06:00:00Z", "a"), complete("2026-11-24T06:00:01Z", "a")].join("\n"))).toMatchObject({ kind: "ended", end: { kind: "completed", turnId: "a" } });
    expect(lastTurnOf([complete("2026-11-24T06:00:01Z", "a"), started("2026-11-24T06:00:02Z", "b")].join("\n"))).toMatchObject({ kind: "in_progress", turnId: "b" });
  });

  test("a tail read finds the end behind a large line, and follows appends; a missing file is null", () => {
    const p = join(tmp, "big.jsonl");
    const big = line("2026-11-24T06:00:00Z", { type: "message", content: "x".repeat(200_000) }, "response_item");
    writeFileSync(p, `${started("2026-11-24T06:00:00Z", "a")}\n${big}\n`);
    expect(readLastTurn(p, { tailBytes: 1024 })).toMatchObject({ kind: "in_progress", turnId: "a" });
    appendFileSync(p, `${aborted("2026-11-24T06:00:03Z", "a")}\n`);
    expect(readLastTurn(p, { tailBytes: 1024 })).toMatchObject({ kind: "ended", end: { kind: "interrupted" } });
    expect(readLastTurn(p, { tailBytes: 1024, maxBytes: 1024 })).toMatchObject({ kind: "ended" });
    const q = join(tmp, "only-big.jsonl");
    writeFileSync(q, `${started("2026-11-24T06:00:00Z", "a")}\n${big}\n`);
    expect(readLastTurn(q, { tailBytes: 1024, maxBytes: 4096 })).toEqual({ kind: "none" });
    expect(readLastTurn(join(tmp, "missing.jsonl"))).toBeNull();
  });

  test("the recorded rollouts end as the scenarios did", () => {
    const expected: Record<string, string> = {
      plain: "completed",
      "approval-approve": "completed",
      "approval-reject": "idle",
      interrupt: "idle",
      "model-error": "completed", // the failed turn, then a good one
      question: "completed",
      "no-daemon": "completed",
    };
    for (const [scenario, state] of Object.entries(expected)) {
      const p = join(FIX, scenario, "rollout.jsonl");
      if (!existsSync(p)) continue;
      const last = readLastTurn(p);
      expect(last?.kind).toBe("ended");
      if (last?.kind === "ended") expect([scenario, turnEndState(last.end.kind)]).toEqual([scenario, state]);
    }
    // model-error: its first turn failed with the mock's message
    const me = join(FIX, "model-error", "rollout.jsonl");
    if (existsSync(me)) {
      const sigs = readFileSync(me, "utf8").split("\n").map(parseRolloutLine).filter((s) => s !== null && s.kind !== "started");
      expect(sigs.map((s) => s?.kind)).toEqual(["error", "completed"]);
      expect(sigs[0]?.kind === "error" && sigs[0].errorMessage).toContain("mock failure requested");
    }
  });
});

describe("findRolloutPath", () => {
  test("finds rollout-…-<id>.jsonl in the day directory of the thread's creation", () => {
    const home = join(tmp, "codex-home");
    const id = "01a20c48-3e71-7ea3-89a6-bd4ef37b5994";
    const created = 1795502390897; // 2026-11-24T06:39:50.897Z
    const dir = join(home, "sessions", "2026", "11", "24");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `rollout-2026-11-24T06-39-50-${id}.jsonl`), "");
    writeFileSync(join(dir, "rollout-2026-11-24T06-39-50-01a20c48-0000-7000-8000-000000000000.jsonl"), "");
    expect(findRolloutPath(home, id, created)).toBe(join(dir, `rollout-2026-11-24T06-39-50-${id}.jsonl`));
    expect(findRolloutPath(home, "01a20c48-ffff-7000-8000-000000000000", created)).toBeNull();
    expect(findRolloutPath(home, "../../etc/passwd", created)).toBeNull();
    expect(sessionDayDirs(created)).toContain("2026/11/24");
    expect(readdirSync(dir).length).toBe(2);
  });
});
