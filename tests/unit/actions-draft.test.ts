/** The draft guard's screen reading (src/daemon/actions.ts findDraft), on screens recorded from the real CLIs. */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { findDraft } from "../../src/daemon/actions.ts";

const FIX = join(import.meta.dir, "..", "fixtures");
const ESC = String.fromCharCode(27);

describe("findDraft", () => {
  test("empty input boxes of the recorded Claude Code 2.1.330 and Codex 0.169.0 screens hold no draft", () => {
    for (const f of ["claude/2.1.330/plain-turn/screens/04-completed-settled.txt", "claude/2.1.330/resume/screens/01-resumed-idle.txt", "codex/0.169.0/approval-approve/screens/01-started.txt"]) {
      expect(findDraft(readFileSync(join(FIX, f), "utf8"))).toBeNull();
    }
  });

  test("typed text after the prompt glyph is a draft; a dim placeholder is not", () => {
    const box = (inner: string): string => `some output\n╭────────╮\n│ ${inner} │\n╰────────╯\n  ? for shortcuts`;
    expect(findDraft(box("> fix the tests please"))).toBe("fix the tests please");
    expect(findDraft("› half typed\n\n  gpt · ~/proj")).toBe("half typed");
    expect(findDraft(`❯\u00a0${ESC}[2mTry "refactor foo"${ESC}[0m`)).toBeNull();
    expect(findDraft(`› ${ESC}[2mAsk Codex to do anything${ESC}[0m`)).toBeNull();
    expect(findDraft(`› ${ESC}[1mreal draft${ESC}[0m`)).toBe("real draft");
    expect(findDraft("plain shell output\n$ ls")).toBeNull();
  });
});
