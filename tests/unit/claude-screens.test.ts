/**
 * The Claude Code pane-text fallback against screens captured from the real
 * CLI (tests/fixtures/claude/<version>/<scenario>/screens/*.txt). The screen
 * cannot tell completed from idle: both read as idle (low confidence).
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { claudeAdapter } from "../../src/adapters/claude/index.ts";
import type { State } from "../../src/domain/model.ts";

const VERSION = "2.1.330";
const DIR = join(import.meta.dir, "..", "fixtures", "claude", VERSION);

/** screens whose content differs from the step name the lab gave them */
const OVERRIDES: Record<string, State> = {
  // the CLI opened with its one-time "Make auto mode your default permission mode?" choice
  "bash-approve/01-idle": "waiting_input",
};

/** expected reading from the step name the lab gave each screen */
function expectedFor(scenario: string, step: string): State | "skip" {
  const o = OVERRIDES[`${scenario}/${step}`];
  if (o !== undefined) return o;
  if (/waiting-approval|no-selected/.test(step)) return "waiting_approval";
  if (/running|retrying/.test(step)) return "running";
  if (/idle|completed|settled|after-escape|after-ctrl-c|after-error|failed|later|after-idle-notification/.test(step)) return "idle";
  return "skip"; // a transition frame (e.g. right after a keypress)
}

describe(`Claude Code ${VERSION} screens`, () => {
  const cases = existsSync(DIR)
    ? readdirSync(DIR).flatMap((scenario) => {
        const sdir = join(DIR, scenario, "screens");
        return existsSync(sdir) ? readdirSync(sdir).map((f) => ({ scenario, step: f.replace(/\.txt$/, ""), path: join(sdir, f) })) : [];
      })
    : [];

  test("fixtures exist", () => {
    expect(cases.length).toBeGreaterThan(10);
  });

  for (const c of cases) {
    const want = expectedFor(c.scenario, c.step);
    if (want === "skip") continue;
    const text = readFileSync(c.path, "utf8");
    if (text.trim() === "") {
      // captured before the CLI drew anything: no reading, rather than a guess
      test(`${c.scenario}/${c.step} (blank) gives no reading`, () => {
        expect(claudeAdapter.poll?.({ text, title: "", current_command: "claude" }) ?? null).toBeNull();
      });
      continue;
    }
    test(`${c.scenario}/${c.step} reads as ${want}`, () => {
      const r = claudeAdapter.poll?.({ text, title: "✳ Claude Code", current_command: "claude" });
      expect(r?.state).toBe(want);
      expect(r?.confidence).toBe("low");
    });
  }

  test("a plain shell screen gives no reading", () => {
    expect(claudeAdapter.poll?.({ text: "user@host:~$ ls\nfoo bar\nuser@host:~$ ", title: "host", current_command: "bash" }) ?? null).toBeNull();
  });
});
