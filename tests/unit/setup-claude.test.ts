/**
 * `agtmux setup-hooks` for Claude Code, pure logic: merging agtmux's hooks
 * into a settings.json without touching the user's content, idempotence,
 * upgrades (another binary path), byte-identical removal, refusal of files
 * agtmux cannot read (with line and column), and the shared helpers (hook
 * command quoting, ownership test, JSON text edits, unified diff).
 */
import { describe, expect, test } from "bun:test";
import { AgtmuxError } from "../../src/domain/errors.ts";
import { unifiedDiff } from "../../src/setup/diff.ts";
import { countAgtmuxHooks, editHooksFile } from "../../src/setup/hooks-json.ts";
import { appendItem, appendProperty, nodeAt, parseJsonText, TextSyntaxError } from "../../src/setup/json-text.ts";
import { CLAUDE_HOOKS, hookCommand, isAgtmuxHookCommand, isAgtmuxNotify, notifyArgv, shellQuote } from "../../src/setup/spec.ts";

const PATH = "/home/u/.claude/settings.json";
const BIN = ["/usr/local/bin/agtmux"];
const CMD = hookCommand(BIN, "claude");
const CMD2 = hookCommand(["/opt/agtmux 0.2/agtmux"], "claude");

type Settings = { hooks?: Record<string, { matcher?: string; hooks: { type: string; command: string; timeout?: number }[] }[]> } & Record<string, unknown>;

const install = (before: string | null, cmd = CMD) => editHooksFile(before, PATH, CLAUDE_HOOKS, cmd, "install");
const remove = (before: string | null) => editHooksFile(before, PATH, CLAUDE_HOOKS, CMD, "remove");
const parse = (text: string | null): Settings => JSON.parse(text ?? "null") as Settings;

/** A user's settings with hooks of their own, in the common two-space style. */
const USER = `{
  "model": "opus",
  "permissions": {
    "allow": ["Bash(ls:*)"]
  },
  "hooks": {
    "Stop": [
      {
        "hooks": [
          { "type": "command", "command": "say done" }
        ]
      }
    ],
    "PreToolUse": [
      {
        "matcher": "Bash",
        "hooks": [{ "type": "command", "command": "~/bin/guard.sh", "timeout": 5 }]
      }
    ]
  },
  "statusLine": { "type": "command", "command": "~/bin/status.sh" }
}
`;

function refusal(fn: () => unknown): AgtmuxError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AgtmuxError);
    return err as AgtmuxError;
  }
  throw new Error("expected a refusal");
}

describe("hook command", () => {
  test("absolute path, shell-quoted when needed, then emit --hook <agent>", () => {
    expect(CMD).toBe("/usr/local/bin/agtmux emit --hook claude");
    expect(CMD2).toBe("'/opt/agtmux 0.2/agtmux' emit --hook claude");
    expect(hookCommand(["/a/it's/agtmux"], "codex")).toBe(`'/a/it'\\''s/agtmux' emit --hook codex`);
    expect(hookCommand(["/usr/bin/bun", "/src/agtmux/src/cli/main.ts"], "claude")).toBe("/usr/bin/bun /src/agtmux/src/cli/main.ts emit --hook claude");
    expect(shellQuote("")).toBe("''");
    expect(shellQuote("$HOME/x")).toBe("'$HOME/x'");
  });

  test("agtmux's commands are recognised from any install path; the user's never", () => {
    for (const c of [
      CMD,
      CMD2,
      "agtmux emit --hook claude",
      "/home/u/.local/bin/agtmux emit --hook codex",
      '"/Program Files/agtmux/agtmux.exe" emit --hook claude',
      "/opt/agtmux-linux-arm64 emit --hook claude",
      "/usr/bin/bun /src/agtmux/src/cli/main.ts emit --hook claude",
      hookCommand(["/a/it's/agtmux"], "codex"),
    ]) {
      expect({ c, ours: isAgtmuxHookCommand(c) }).toEqual({ c, ours: true });
    }
    for (const c of ["say done", "echo agtmux emit --hook claude", "/usr/bin/myagtmux emit --hook claude", "/usr/bin/agtmux list", "/usr/bin/agtmux emit --hook gemini", "/x/agtmux-helper.sh emit --hook claude", 42, undefined]) {
      expect({ c, ours: isAgtmuxHookCommand(c) }).toEqual({ c, ours: false });
    }
    expect(isAgtmuxNotify(notifyArgv(BIN))).toBe(true);
    expect(isAgtmuxNotify(notifyArgv(["/usr/bin/bun", "/src/agtmux/src/cli/main.ts"]))).toBe(true);
    expect(isAgtmuxNotify(["notify-send", "Codex"])).toBe(false);
    expect(isAgtmuxNotify("agtmux emit --hook codex")).toBe(false);
  });
});

describe("install into settings.json", () => {
  test("no file: every event, matcher only on tool events, timeout 10 s", () => {
    const r = install(null);
    expect(r.changed).toBe(true);
    expect(r.added).toEqual([...CLAUDE_HOOKS.events]);
    const s = parse(r.text);
    expect(Object.keys(s)).toEqual(["hooks"]);
    expect(Object.keys(s.hooks ?? {})).toEqual([...CLAUDE_HOOKS.events]);
    for (const e of ["SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "PostToolUseFailure", "PermissionRequest", "Notification", "Stop", "StopFailure", "SubagentStart", "SubagentStop", "PreCompact", "SessionEnd"]) {
      const tool = ["PreToolUse", "PostToolUse", "PostToolUseFailure", "PermissionRequest"].includes(e);
      expect(s.hooks?.[e]).toEqual([{ ...(tool ? { matcher: "*" } : {}), hooks: [{ type: "command", command: CMD, timeout: 10 }] }]);
    }
    expect(r.text?.endsWith("}\n")).toBe(true);
    expect(r.text).toContain('\n  "hooks": {\n    "SessionStart": [\n      {\n');
  });

  test("the user's settings and hooks stay; agtmux gets its own matcher group after theirs", () => {
    const r = install(USER);
    const s = parse(r.text);
    const before = parse(USER);
    expect(s.model).toBe("opus");
    expect(s.permissions).toEqual(before.permissions);
    expect(s.statusLine).toEqual(before.statusLine);
    expect(Object.keys(s)).toEqual(["model", "permissions", "hooks", "statusLine"]);
    expect(s.hooks?.Stop?.[0]).toEqual(before.hooks?.Stop?.[0] as never);
    expect(s.hooks?.Stop?.[1]).toEqual({ hooks: [{ type: "command", command: CMD, timeout: 10 }] });
    expect(s.hooks?.PreToolUse?.[0]).toEqual(before.hooks?.PreToolUse?.[0] as never);
    expect(s.hooks?.PreToolUse?.[1]).toEqual({ matcher: "*", hooks: [{ type: "command", command: CMD, timeout: 10 }] });
    expect(countAgtmuxHooks(r.text, PATH)).toBe(13);
    // the user's lines are all still there, byte for byte and in order
    const kept = USER.split("\n").filter((l) => (r.text ?? "").includes(l));
    expect(kept).toEqual(USER.split("\n"));
  });

  test("idempotent: a second run changes nothing", () => {
    const once = install(USER).text;
    const twice = install(once);
    expect(twice.changed).toBe(false);
    expect(twice.text).toBe(once);
    expect(twice.added).toEqual([]);
    expect(twice.updated).toEqual([]);
  });

  test("upgrade (the binary moved): agtmux's entries are rewritten in place, nothing else moves", () => {
    const v1 = install(USER).text;
    const v2 = install(v1, CMD2);
    expect(v2.changed).toBe(true);
    expect(v2.added).toEqual([]);
    expect(v2.updated).toEqual([...CLAUDE_HOOKS.events]);
    const s1 = parse(v1);
    const s2 = parse(v2.text);
    expect(Object.keys(s2.hooks ?? {})).toEqual(Object.keys(s1.hooks ?? {}));
    expect(s2.hooks?.Stop?.[0]).toEqual(s1.hooks?.Stop?.[0] as never);
    expect(s2.hooks?.Stop?.[1]?.hooks[0]?.command).toBe(CMD2);
    expect(JSON.stringify(s2).includes(CMD)).toBe(false);
    expect(countAgtmuxHooks(v2.text, PATH)).toBe(13);
    // and removing after the upgrade still gives the user's file back
    expect(remove(v2.text).text).toBe(USER);
  });

  test("an agtmux handler inside a user's group: only the handler is updated, and removal takes only it", () => {
    const mixed = `{"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "say done"}, {"type": "command", "command": "/old/agtmux emit --hook claude"}]}]}}\n`;
    const r = install(mixed);
    const s = parse(r.text);
    expect(r.updated).toContain("Stop");
    expect(s.hooks?.Stop).toEqual([{ hooks: [{ type: "command", command: "say done" }, { type: "command", command: CMD, timeout: 10 }] }]);
    const back = parse(remove(r.text).text);
    expect(back.hooks?.Stop).toEqual([{ hooks: [{ type: "command", command: "say done" }] }]);
  });

  test("duplicates and events agtmux no longer installs are cleaned up", () => {
    const group = (c: string) => ({ hooks: [{ type: "command", command: c, timeout: 10 }] });
    const messy = `${JSON.stringify({ hooks: { Stop: [group(CMD), { hooks: [{ type: "command", command: "say" }] }, group("/x/agtmux emit --hook claude")], PostCompact: [group(CMD)] } }, null, 2)}\n`;
    const r = install(messy);
    const s = parse(r.text);
    expect(s.hooks?.Stop).toEqual([group(CMD), { hooks: [{ type: "command", command: "say" }] }] as never);
    expect(s.hooks?.PostCompact).toBeUndefined();
    expect(r.removed.toSorted()).toEqual(["PostCompact", "Stop"]);
    expect(countAgtmuxHooks(r.text, PATH)).toBe(13);
  });
});

describe("remove", () => {
  const samples: Record<string, string> = {
    "two-space with user hooks": USER,
    "four-space": `${JSON.stringify(parse(USER), null, 4)}\n`,
    tabs: `${JSON.stringify(parse(USER), null, "\t")}\n`,
    "one line, no final newline": JSON.stringify(parse(USER)),
    "no hooks key": `{\n  "model": "opus"\n}\n`,
    "empty hooks object": `{\n  "hooks": {}\n}\n`,
    "empty Stop array": `{"hooks": {"Stop": [], "Notification": [{"hooks": []}]}, "x": 1}`,
    "CRLF line endings": USER.replace(/\n/g, "\r\n"),
  };
  for (const [name, text] of Object.entries(samples)) {
    test(`install then remove gives the file back byte for byte: ${name}`, () => {
      const added = install(text);
      expect(added.changed).toBe(true);
      expect(countAgtmuxHooks(added.text, PATH)).toBe(13);
      const back = remove(added.text);
      expect(back.changed).toBe(true);
      // An empty array or `hooks` object agtmux filled goes with agtmux's entries: nothing tells
      // it from one agtmux created (the common case, which must come back byte for byte).
      if (name === "empty Stop array") expect(back.text).toBe(`{"hooks": {"Notification": [{"hooks": []}]}, "x": 1}`);
      else if (name === "empty hooks object") expect(back.text).toBeNull();
      else expect(back.text).toBe(text);
    });
  }

  test("a file that held only agtmux's hooks is deleted (text null)", () => {
    const r = remove(install(null).text);
    expect(r.changed).toBe(true);
    expect(r.text).toBeNull();
  });

  test("nothing of agtmux's: unchanged; no file: unchanged", () => {
    expect(remove(USER)).toMatchObject({ changed: false, text: USER, removed: [] });
    expect(remove(null)).toMatchObject({ changed: false, text: null });
  });

  test("only agtmux's entries go: the user's hooks for the same events stay", () => {
    const r = remove(install(USER).text);
    expect(r.removed.length).toBe(13);
    expect(parse(r.text).hooks).toEqual(parse(USER).hooks as never);
  });
});

describe("a settings.json agtmux cannot read is refused, with line and column", () => {
  const cases: [string, string, number, number, RegExp][] = [
    ["trailing comma", `{\n  "hooks": {\n    "Stop": [],\n  }\n}\n`, 4, 3, /trailing comma/],
    ["comment", `{\n  // mine\n  "model": "x"\n}\n`, 2, 3, /comments are not allowed/],
    ["unterminated string", `{\n  "model": "x\n}\n`, 2, 12, /unterminated string/],
    ["missing comma", `{\n  "a": 1\n  "b": 2\n}\n`, 3, 3, /expected ',' or '}'/],
    ["not an object", `[1, 2]\n`, 1, 1, /top level must be a JSON object/],
    ["hooks of the wrong shape", `{\n  "hooks": {\n    "Stop": {"hooks": []}\n  }\n}\n`, 3, 13, /hooks\.Stop: .*Array/],
    ["a handler's command not a string", `{"hooks": {"Stop": [{"hooks": [{"type": "command", "command": 7}]}]}}`, 1, 63, /hooks\.Stop\[0\]\.hooks\[0\]\.command/],
  ];
  for (const [name, text, line, column, msg] of cases) {
    test(name, () => {
      for (const fn of [() => install(text), () => remove(text)]) {
        const e = refusal(fn);
        expect(e.code).toBe("E_BAD_REQUEST");
        expect(e.details).toMatchObject({ file: PATH, line, column });
        expect(e.message).toContain(`${PATH}:${line}:${column}`);
        expect(e.message).toMatch(msg);
      }
    });
  }

  test("the parser agrees with JSON.parse on what is valid", () => {
    for (const ok of ['{"a": [1, -2.5e3, true, false, null, "\\u00e9\\n"]}', "\uFEFF{}", ' { "a" : { } } ']) expect(() => parseJsonText(ok)).not.toThrow();
    for (const bad of ["{'a': 1}", '{"a": 01}', '{"a": .5}', '{"a": "\\x"}', '{"a": 1} 2', "", '{"a": NaN}']) {
      expect(() => JSON.parse(bad)).toThrow();
      expect(() => parseJsonText(bad)).toThrow(TextSyntaxError);
    }
  });
});

describe("JSON text edits keep the file's style", () => {
  test("appending to a compact object / array stays on one line", () => {
    const text = `{"a": [1, 2], "b": {"c": 1}}`;
    const root = parseJsonText(text);
    if (root.kind !== "object") throw new Error("object expected");
    expect(appendProperty(text, root, "d", { e: [1] })).toBe(`{"a": [1, 2], "b": {"c": 1}, "d": {"e":[1]}}`);
    const arr = nodeAt(root, ["a"]);
    if (arr?.kind !== "array") throw new Error("array expected");
    expect(appendItem(text, arr, 3)).toBe(`{"a": [1, 2, 3], "b": {"c": 1}}`);
  });

  test("appending to a pretty object uses its indentation (tabs here)", () => {
    const text = "{\n\t\"a\": 1\n}\n";
    const root = parseJsonText(text);
    if (root.kind !== "object") throw new Error("object expected");
    expect(appendProperty(text, root, "b", { c: 2 })).toBe('{\n\t"a": 1,\n\t"b": {\n\t\t"c": 2\n\t}\n}\n');
  });
});

test("a CRLF settings.json gets CRLF lines", () => {
  const r = install(USER.replace(/\n/g, "\r\n"));
  expect(r.text?.replace(/\r\n/g, "")).not.toContain("\n");
});

describe("unified diff", () => {
  test("hunks with context, new and deleted files", () => {
    const a = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
    const b = "1\n2\n3\n4\nfive\n6\n7\n8\n9\n10\n";
    expect(unifiedDiff("/f", a, b)).toBe("--- a/f\n+++ b/f\n@@ -2,8 +2,9 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n 9\n+10\n");
    expect(unifiedDiff("/f", null, "x\n")).toBe("--- /dev/null\n+++ b/f\n@@ -0,0 +1,1 @@\n+x\n");
    expect(unifiedDiff("/f", "x\n", null)).toBe("--- a/f\n+++ /dev/null\n@@ -1,1 +0,0 @@\n-x\n");
    expect(unifiedDiff("/f", "x\n", "x\n")).toBe("");
    expect(unifiedDiff("/f", "x", "x\n")).toBe("--- a/f\n+++ b/f\n@@ -1,1 +1,1 @@\n-x\n\\ No newline at end of file\n+x\n");
  });

  test("two distant changes make two hunks", () => {
    const a = Array.from({ length: 30 }, (_, i) => `l${i}`).join("\n");
    const b = a.replace("l2\n", "L2\n").replace("l25\n", "L25\n");
    const d = unifiedDiff("/f", `${a}\n`, `${b}\n`);
    expect(d.match(/^@@/gm)?.length).toBe(2);
    expect(d).toContain("@@ -1,6 +1,6 @@");
    expect(d).toContain("@@ -23,7 +23,7 @@");
  });
});
