/**
 * `agtmux setup-hooks` for Codex, pure logic: hooks.json (Claude format, Codex
 * events), config.toml's `notify` and hook-trust tables edited line-wise
 * (comments, ordering and formatting kept; checked against Bun.TOML.parse),
 * a user's own notify respected, tables Codex itself writes into agtmux's
 * block kept, byte-identical removal, invalid TOML refused with line and
 * column, and picking agtmux's hooks out of a `hooks/list` answer.
 */
import { describe, expect, test } from "bun:test";
import { AgtmuxError } from "../../src/domain/errors.ts";
import {
  MANAGED_TAG,
  NOTIFY_BEGIN,
  NOTIFY_END,
  TRUST_BEGIN,
  TRUST_END,
  managedTrustKeys,
  removeNotify,
  removeTrust,
  setNotify,
  setTrust,
} from "../../src/setup/codex-config.ts";
import type { HooksListResult } from "../../src/setup/codex-hooks-list.ts";
import { countAgtmuxHooks, editHooksFile } from "../../src/setup/hooks-json.ts";
import { agtmuxHooksIn } from "../../src/setup/setup.ts";
import { CODEX_HOOKS, hookCommand, notifyArgv } from "../../src/setup/spec.ts";
import { tomlProblem, tomlStatements } from "../../src/setup/toml-text.ts";

const CFG = "/home/u/.codex/config.toml";
const HOOKS = "/home/u/.codex/hooks.json";
const PROJECT_HOOKS = "/work/proj/.codex/hooks.json";
const BIN = ["/usr/local/bin/agtmux"];
const BIN2 = ["/opt/agtmux 2/agtmux"];
const NOTIFY = notifyArgv(BIN);
const owns = (file: string) => (key: string) => key.startsWith(`${file}:`);

/** A user's config.toml with the things that trip line-based editors. */
const USER = `# my codex config
model = "gpt-5"   # inline comment
approval_policy = "on-request"
sandbox_allowlist = [
  "x",
[ "nested", "array" ],
  # a comment inside an array
]
instructions = """
not a header:
[tui]
"""
literal = '''
[also.not.a.header]
'''
dotted.key = 1

# TUI settings
[tui]
notifications = true   # keep me

[[profiles.list]]
name = "a"

[projects."/work/proj"]
trust_level = "trusted"
`;

const toml = (text: string): Record<string, unknown> => Bun.TOML.parse(text) as Record<string, unknown>;

function trust(n: number, file = HOOKS, hash = "sha256:aa"): { key: string; hash: string }[] {
  return CODEX_HOOKS.events.slice(0, n).map((e, i) => ({ key: `${file}:${e.replace(/[A-Z]/g, (c, at: number) => (at === 0 ? "" : "_") + c.toLowerCase())}:0:0`, hash: `${hash}${i}` }));
}

function refusal(fn: () => unknown): AgtmuxError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AgtmuxError);
    return err as AgtmuxError;
  }
  throw new Error("expected a refusal");
}

describe("hooks.json", () => {
  test("Codex events, matcher only on tool events, the user's hooks kept; removal gives the file back", () => {
    const user = `{\n  "hooks": {\n    "Stop": [\n      { "hooks": [{ "type": "command", "command": "notify-send done" }] }\n    ]\n  }\n}\n`;
    const cmd = hookCommand(BIN, "codex");
    const r = editHooksFile(user, HOOKS, CODEX_HOOKS, cmd, "install");
    const h = (JSON.parse(r.text ?? "") as { hooks: Record<string, unknown[]> }).hooks;
    expect(Object.keys(h).toSorted()).toEqual([...CODEX_HOOKS.events].toSorted());
    for (const e of ["SessionStart", "SessionEnd", "UserPromptSubmit", "PreToolUse", "PermissionRequest", "PostToolUse", "Stop", "Interrupt", "PreCompact", "PostCompact", "SubagentStart", "SubagentStop"]) {
      expect(CODEX_HOOKS.events).toContain(e);
    }
    expect(h.PreToolUse).toEqual([{ matcher: "*", hooks: [{ type: "command", command: cmd, timeout: 10 }] }]);
    expect(h.Interrupt).toEqual([{ hooks: [{ type: "command", command: cmd, timeout: 10 }] }]);
    expect(h.Stop?.[0]).toEqual({ hooks: [{ type: "command", command: "notify-send done" }] });
    expect(countAgtmuxHooks(r.text, HOOKS)).toBe(CODEX_HOOKS.events.length);
    expect(editHooksFile(r.text, HOOKS, CODEX_HOOKS, cmd, "install").changed).toBe(false);
    expect(editHooksFile(r.text, HOOKS, CODEX_HOOKS, cmd, "remove").text).toBe(user);
  });
});

describe("TOML statements", () => {
  test("headers are found only where they are headers", () => {
    const stmts = tomlStatements(USER);
    const headers = stmts.filter((s) => s.kind === "header").map((s) => (s.kind === "header" ? `${s.startLine + 1}:${s.key.join(".")}${s.arrayTable ? "[]" : ""}` : ""));
    expect(headers).toEqual(["19:tui", "22:profiles.list[]", "25:projects./work/proj"]);
    const kv = stmts.filter((s) => s.kind === "kv").map((s) => (s.kind === "kv" ? `${s.startLine + 1}-${s.endLine + 1}:${s.key.join(".")}` : ""));
    expect(kv).toEqual(["2-2:model", "3-3:approval_policy", "4-8:sandbox_allowlist", "9-12:instructions", "13-15:literal", "16-16:dotted.key", "20-20:notifications", "23-23:name", "26-26:trust_level"]);
    expect(tomlProblem(USER)).toBeUndefined();
  });
});

describe("notify", () => {
  test("inserted before the first table (and the comment above it), everything else kept", () => {
    const r = setNotify(USER, CFG, NOTIFY, false);
    expect(r.status).toBe("added");
    expect(r.text).toBe(
      USER.replace(
        "# TUI settings\n",
        `${NOTIFY_BEGIN}\nnotify = ["/usr/local/bin/agtmux", "emit", "--hook", "codex", "--source", "notify"]\n${NOTIFY_END}\n\n# TUI settings\n`,
      ),
    );
    expect(toml(r.text)).toEqual({ ...toml(USER), notify: NOTIFY });
  });

  test("idempotent; a new binary path updates it in place; removal gives the file back byte for byte", () => {
    const once = setNotify(USER, CFG, NOTIFY, false).text;
    expect(setNotify(once, CFG, NOTIFY, false)).toEqual({ text: once, status: "unchanged" });
    const moved = setNotify(once, CFG, notifyArgv(BIN2), false);
    expect(moved.status).toBe("updated");
    expect(toml(moved.text).notify).toEqual(notifyArgv(BIN2));
    expect(moved.text.split("\n").length).toBe(once.split("\n").length);
    const back = removeNotify(moved.text, CFG);
    expect(back.status).toBe("removed");
    expect(back.text).toBe(USER);
    expect(removeNotify(USER, CFG)).toEqual({ text: USER, status: "absent" });
  });

  for (const [name, text] of [
    ["no tables", 'model = "x"\n'],
    ["no tables, a blank line at the end", 'model = "x"\n\n'],
    ["only tables", "[tui]\nnotifications = true\n"],
    ["empty file", ""],
    ["CRLF", 'model = "x"\r\n\r\n# t\r\n[tui]\r\nx = 1\r\n'],
  ] as const) {
    test(`set then remove is byte-identical: ${name}`, () => {
      const r = setNotify(text, CFG, NOTIFY, false);
      expect(r.status).toBe("added");
      expect(toml(r.text).notify).toEqual(NOTIFY);
      if (text.includes("\r\n")) expect(r.text.replace(/\r\n/g, "")).not.toContain("\n");
      expect(removeNotify(r.text, CFG).text).toBe(text);
    });
  }

  test("the user's own notify is kept and reported; --force-notify replaces it", () => {
    const user = `model = "x"\nnotify = [\n  "notify-send",\n  "Codex",\n]\n\n[tui]\nx = 1\n`;
    const kept = setNotify(user, CFG, NOTIFY, false);
    expect(kept).toEqual({ text: user, status: "kept-user", previous: ["notify-send", "Codex"] });
    const forced = setNotify(user, CFG, NOTIFY, true);
    expect(forced.status).toBe("replaced-user");
    expect(forced.previous).toEqual(["notify-send", "Codex"]);
    expect(forced.text).not.toContain("notify-send");
    expect(toml(forced.text)).toEqual({ ...toml(user), notify: NOTIFY });
    // an identical agtmux notify the user wrote by hand is left alone
    const same = `notify = ${JSON.stringify(NOTIFY)}\n`;
    expect(setNotify(same, CFG, NOTIFY, false).status).toBe("unchanged");
  });
});

describe("hook trust tables", () => {
  test("appended as a marked block of tagged tables; idempotent; byte-identical removal", () => {
    const entries = trust(3);
    const r = setTrust(USER, CFG, entries, owns(HOOKS));
    expect(r.written).toEqual(entries.map((e) => e.key));
    expect(r.text.startsWith(USER)).toBe(true);
    expect(r.text.slice(USER.length)).toBe(
      `\n${TRUST_BEGIN}\n${entries.map((e) => `[hooks.state."${e.key}"] ${MANAGED_TAG}\ntrusted_hash = "${e.hash}"\n`).join("")}${TRUST_END}\n`,
    );
    const state = (toml(r.text).hooks as { state: Record<string, { trusted_hash: string }> }).state;
    for (const e of entries) expect(state[e.key]?.trusted_hash).toBe(e.hash);
    expect(setTrust(r.text, CFG, entries, owns(HOOKS))).toMatchObject({ text: r.text, written: [], unchanged: entries.map((e) => e.key) });
    const back = removeTrust(r.text, CFG, owns(HOOKS));
    expect(back.removed).toEqual(entries.map((e) => e.key));
    expect(back.text).toBe(USER);
  });

  test("new hashes (upgrade) are written in place; stale keys of this scope go; the other scope's stay", () => {
    const user = setTrust(USER, CFG, trust(3), owns(HOOKS)).text;
    const both = setTrust(user, CFG, trust(2, PROJECT_HOOKS), owns(PROJECT_HOOKS)).text;
    expect(managedTrustKeys(both, CFG)).toHaveLength(5);
    const upgraded = setTrust(both, CFG, trust(2, HOOKS, "sha256:bb"), owns(HOOKS));
    expect(upgraded.written).toEqual(trust(2).map((e) => e.key));
    expect(upgraded.removed).toEqual(trust(3).slice(2).map((e) => e.key));
    const state = (toml(upgraded.text).hooks as { state: Record<string, { trusted_hash: string }> }).state;
    expect(Object.keys(state).toSorted()).toEqual([...trust(2), ...trust(2, PROJECT_HOOKS)].map((e) => e.key).toSorted());
    expect(state[trust(1)[0]?.key ?? ""]?.trusted_hash).toBe("sha256:bb0");
    // remove one scope, then the other: the user's file comes back
    const noUser = removeTrust(upgraded.text, CFG, owns(HOOKS)).text;
    expect(managedTrustKeys(noUser, CFG)).toEqual(trust(2, PROJECT_HOOKS).map((e) => e.key));
    expect(removeTrust(noUser, CFG, owns(PROJECT_HOOKS)).text).toBe(USER);
  });

  test("tables Codex writes into agtmux's block (the user trusting their own hook) survive removal and re-install", () => {
    const ours = setTrust(USER, CFG, trust(2), owns(HOOKS)).text;
    // what codex 0.169's toml_edit did when it trusted another hook: a [hooks.state] header
    // before the block, the new table appended after agtmux's last one, inside the block
    const theirs = `[hooks.state."${HOOKS}:stop:1:0"]\ntrusted_hash = "sha256:user"\n`;
    const codexEdited = ours.replace(`\n${TRUST_BEGIN}`, `\n[hooks.state]\n\n${TRUST_BEGIN}`).replace(`${TRUST_END}\n`, `\n${theirs}${TRUST_END}\n`);
    expect(tomlProblem(codexEdited)).toBeUndefined();
    const reinstalled = setTrust(codexEdited, CFG, trust(2, HOOKS, "sha256:new"), owns(HOOKS)).text;
    expect(reinstalled).toContain(theirs);
    const removed = removeTrust(reinstalled, CFG, owns(HOOKS));
    expect(removed.removed).toHaveLength(2);
    expect(removed.text).toContain(theirs);
    expect(removed.text).toContain(TRUST_BEGIN); // the block still holds the user's table
    expect((toml(removed.text).hooks as { state: Record<string, unknown> }).state).toEqual({ [`${HOOKS}:stop:1:0`]: { trusted_hash: "sha256:user" } });
    // the user's table's key is one agtmux now wants: its hash is updated in that table, not duplicated
    const clash = setTrust(removed.text, CFG, [{ key: `${HOOKS}:stop:1:0`, hash: "sha256:ours" }], owns(HOOKS));
    expect(clash.written).toEqual([`${HOOKS}:stop:1:0`]);
    expect((toml(clash.text).hooks as { state: Record<string, unknown> }).state).toEqual({ [`${HOOKS}:stop:1:0`]: { trusted_hash: "sha256:ours" } });
  });

  test("a user's table for agtmux's key keeps its other settings (e.g. enabled = false)", () => {
    const key = trust(1)[0]?.key ?? "";
    const user = `${USER}\n[hooks.state."${key}"]\nenabled = false\ntrusted_hash = "sha256:old"\n`;
    const r = setTrust(user, CFG, [{ key, hash: "sha256:new" }], owns(HOOKS));
    expect(r.written).toEqual([key]);
    expect((toml(r.text).hooks as { state: Record<string, unknown> }).state).toEqual({ [key]: { enabled: false, trusted_hash: "sha256:new" } });
    expect(r.text).not.toContain(TRUST_BEGIN);
    // not agtmux's table: removal leaves it
    expect(removeTrust(r.text, CFG, owns(HOOKS)).text).toBe(r.text);
  });

  test("the whole Codex setup (notify + trust) comes off byte for byte", () => {
    const withNotify = setNotify(USER, CFG, NOTIFY, false).text;
    const withTrust = setTrust(withNotify, CFG, trust(12), owns(HOOKS)).text;
    expect(toml(withTrust).notify).toEqual(NOTIFY);
    const back = removeNotify(removeTrust(withTrust, CFG, owns(HOOKS)).text, CFG).text;
    expect(back).toBe(USER);
    // same starting from no config at all
    const fromNothing = setTrust(setNotify("", CFG, NOTIFY, false).text, CFG, trust(2), owns(HOOKS)).text;
    expect(removeNotify(removeTrust(fromNothing, CFG, owns(HOOKS)).text, CFG).text).toBe("");
  });
});

describe("invalid config.toml is refused with line and column", () => {
  const cases: [string, string, number, number, RegExp][] = [
    ["duplicate key", 'model = "x"\n[tui]\nnotifications = true\nnotifications = false\n', 4, 1, /redefine|duplicate/i],
    ["unterminated string", 'model = "x\n', 1, 9, /unterminated string/],
    ["bad array", 'a = [\n  "x",\n  "y" "z",\n]\n', 3, 7, /expected ',' or ']'/],
    ["missing value", "a =\n", 1, 4, /missing value/],
    ["unclosed header", "[tui\nx = 1\n", 1, 5, /close the table header/],
    ["table defined twice", "[tui]\nx = 1\n\n[tui]\ny = 2\n", 4, 1, /.+/],
    ["garbage value", "a = yes\n", 1, 5, /invalid value 'yes'/],
    ["unterminated multi-line string", 'a = """\nabc\n', 1, 5, /unterminated multi-line string/],
  ];
  for (const [name, text, line, column, msg] of cases) {
    test(name, () => {
      expect(() => Bun.TOML.parse(text)).toThrow();
      for (const fn of [() => setNotify(text, CFG, NOTIFY, false), () => setTrust(text, CFG, trust(1), owns(HOOKS)), () => removeNotify(text, CFG), () => removeTrust(text, CFG, owns(HOOKS))]) {
        const e = refusal(fn);
        expect(e.code).toBe("E_BAD_REQUEST");
        expect(e.details).toMatchObject({ file: CFG, line, column });
        expect(e.message).toContain(`${CFG}:${line}:${column}`);
        expect(e.message).toMatch(msg);
      }
    });
  }

  test("an agtmux block with its end marker deleted is refused, not guessed", () => {
    const broken = setTrust(USER, CFG, trust(1), owns(HOOKS)).text.replace(`${TRUST_END}\n`, "");
    const e = refusal(() => removeTrust(broken, CFG, owns(HOOKS)));
    expect(e.message).toContain("incomplete");
  });
});

describe("hooks/list answer", () => {
  test("agtmux's hooks from this hooks file, the user's and other files' ignored", () => {
    const hook = (key: string, command: string, sourcePath = HOOKS, trustStatus = "untrusted") => ({
      key,
      eventName: "stop",
      handlerType: "command",
      command,
      sourcePath,
      source: "user",
      currentHash: `sha256:${key.length}`,
      trustStatus,
      displayOrder: 0,
      enabled: true,
      isManaged: false,
      timeoutSec: 10,
    });
    const res: HooksListResult = {
      data: [
        {
          cwd: "/work/proj",
          hooks: [
            hook(`${HOOKS}:stop:0:0`, "notify-send done"),
            hook(`${HOOKS}:stop:1:0`, hookCommand(BIN, "codex")),
            hook(`${PROJECT_HOOKS}:stop:0:0`, hookCommand(BIN, "codex"), PROJECT_HOOKS),
            hook("managed:stop", hookCommand(BIN, "codex"), HOOKS, "managed"),
          ],
          warnings: [],
          errors: [],
        },
      ],
    };
    expect(agtmuxHooksIn(res, HOOKS).map((h) => h.key)).toEqual([`${HOOKS}:stop:1:0`]);
    expect(agtmuxHooksIn(res, PROJECT_HOOKS).map((h) => h.key)).toEqual([`${PROJECT_HOOKS}:stop:0:0`]);
  });
});
