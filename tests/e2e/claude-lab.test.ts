/**
 * Smoke test of the Claude Code lab (tests/agents/claude/harness.ts): the REAL
 * pinned CLI in an isolated tmux server against the fake Anthropic API on
 * loopback. Proves the harness still drives this version: a plain turn and a
 * Bash tool approval fire the hooks docs/agents/claude.md relies on.
 * Skipped (with a message) only when the binary or tmux is missing.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { CLAUDE_BIN, type ClaudeLab, HOOK_EVENTS, startClaudeLab } from "../agents/claude/harness.ts";
import { bash, hold, text } from "../fakes/anthropic.ts";

const missing = !existsSync(CLAUDE_BIN) ? `the Claude Code binary is missing (${CLAUDE_BIN}; run node scripts/ensure.mjs)` : Bun.which("tmux") === null ? "tmux is not installed" : undefined;
if (missing !== undefined) console.warn(`claude-lab.test.ts skipped: ${missing}`);
const suite = missing === undefined ? describe : describe.skip;

/** `events` in order, each after the previous one (other events may sit in between). */
function inOrder(events: string[], expected: string[]): boolean {
  let i = 0;
  for (const e of events) if (e === expected[i]) i++;
  return i === expected.length;
}

suite("claude lab (real CLI, fake API)", () => {
  let lab: ClaudeLab | undefined;
  afterEach(async () => {
    await lab?.stop();
    lab = undefined;
  });

  test("registers a hook for every event the CLI knows", () => {
    expect(HOOK_EVENTS).toContain("PermissionRequest");
    expect(HOOK_EVENTS).toContain("StopFailure");
    expect(new Set(HOOK_EVENTS).size).toBe(HOOK_EVENTS.length);
  });

  test("(a) plain turn: SessionStart → UserPromptSubmit → Stop, running then completed on screen", async () => {
    lab = await startClaudeLab({ fake: { script: [hold(text("Hello from the fake model."), "reply")] } });
    await lab.launch();
    const start = await lab.waitHook("SessionStart");
    expect((start.stdin as Record<string, unknown>).source).toBe("startup");
    expect(start.env.TMUX_PANE).toBe(lab.pane);

    await lab.prompt("Say hello");
    await lab.waitHook("UserPromptSubmit");
    await lab.fake.waitForRequest((r) => r.kind === "main");
    await lab.waitScreen(/esc to interrupt/i, { message: "running on screen" });
    lab.fake.release("reply");

    const stop = await lab.waitHook("Stop");
    expect((stop.stdin as Record<string, unknown>).last_assistant_message).toBe("Hello from the fake model.");
    const screen = await lab.waitIdle();
    expect(screen).toContain("Hello from the fake model.");
    expect(inOrder(lab.events(), ["SessionStart", "UserPromptSubmit", "Stop"])).toBe(true);
    expect(lab.events()).not.toContain("StopFailure");

    const last = lab.transcript().findLast((l) => l.type === "assistant") as { message?: { stop_reason?: string } } | undefined;
    expect(last?.message?.stop_reason).toBe("end_turn");
    expect(lab.fake.mainRequests()).toHaveLength(1);
  }, 45_000);

  test("(b) Bash approval: PreToolUse → PermissionRequest → (Enter) → PostToolUse → Stop", async () => {
    lab = await startClaudeLab({
      settings: { permissions: { defaultMode: "default" } },
      fake: { script: [bash("echo lab-ok > lab.txt", "Write a file"), text("Wrote lab.txt.")] },
    });
    await lab.launch();
    await lab.prompt("Write the file");
    const pr = await lab.waitHook("PermissionRequest");
    const payload = pr.stdin as Record<string, unknown>;
    expect(payload.tool_name).toBe("Bash");
    expect(payload.permission_mode).toBe("default");
    await lab.waitScreen(/Do you want to proceed\?/);
    expect(lab.events()).not.toContain("PostToolUse");

    await lab.answerDialog("Enter"); // "1. Yes" is preselected
    await lab.waitHook("Stop");
    await lab.waitIdle();
    expect(inOrder(lab.events(), ["SessionStart", "UserPromptSubmit", "PreToolUse", "PermissionRequest", "PostToolUse", "Stop"])).toBe(true);
    expect(readFileSync(join(lab.project, "lab.txt"), "utf8")).toBe("lab-ok\n");
    const main = lab.fake.mainRequests();
    expect(main).toHaveLength(2);
    expect(JSON.stringify(main[1]?.body)).toContain("tool_result");
  }, 45_000);
});
