import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ExecError } from "../../src/targets/executor.ts";
import { SshExecutor } from "../../src/targets/ssh/executor.ts";
import { remoteCommand, shellQuote } from "../../src/targets/ssh/quote.ts";
import { removeTempDirs, tempDir } from "../tmux/harness.ts";
import { type Sshd, sshdAvailable, startSshd, stopAllSshd } from "./sshd.ts";

afterAll(async () => {
  await stopAllSshd();
  removeTempDirs();
});

describe("shellQuote / remoteCommand (unit)", () => {
  test("safe words stay bare; everything else single-quoted with '\\'' for quotes", () => {
    expect(shellQuote("tmux")).toBe("tmux");
    expect(shellQuote("-F")).toBe("-F");
    expect(shellQuote("#{pane_id}")).toBe("'#{pane_id}'");
    expect(shellQuote("")).toBe("''");
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    expect(shellQuote("a b")).toBe("'a b'");
    expect(shellQuote("K=V")).toBe("'K=V'");
    expect(shellQuote("if")).toBe("'if'");
    expect(shellQuote("~")).toBe("'~'");
  });

  test("env becomes a leading env argv: -u for undefined, K=V quoted, -- before them", () => {
    expect(remoteCommand(["tmux", "ls"], { TMUX: undefined, LANG: "C.UTF-8", X: "a b" })).toBe("env -u TMUX -- 'LANG=C.UTF-8' 'X=a b' tmux ls");
    expect(remoteCommand(["tmux", "ls"], {})).toBe("tmux ls");
    expect(() => remoteCommand(["x"], { "BAD-NAME": "1" })).toThrow(ExecError);
    expect(() => remoteCommand(["x"], { "1X": "1" })).toThrow("invalid environment variable name");
    expect(() => remoteCommand(["a=b"], { K: "v" })).toThrow("contains '='");
  });

  test("only a ~/ program path becomes $HOME; arguments stay literal", () => {
    expect(remoteCommand(["~/bin/agtmux", "~/x", "~"])).toBe(`"$HOME"/bin/agtmux '~/x' '~'`);
    expect(remoteCommand(["~/my prog"])).toBe(`"$HOME"/'my prog'`);
  });

  test("empty argv and NUL bytes are refused", () => {
    expect(() => remoteCommand([])).toThrow(ExecError);
    expect(() => remoteCommand(["echo", "a\0b"])).toThrow("NUL");
  });
});

const NASTY = [
  ";",
  "a; touch MARKER",
  "$(touch MARKER)",
  "`touch MARKER`",
  "&& touch MARKER",
  "| touch MARKER",
  "> MARKER",
  "'",
  '"',
  `it's "quoted" \\ ok`,
  "'$(touch MARKER)'",
  "\\'",
  "line1\nline2\n",
  "\r\n\t",
  "ünïcødé ✓ 日本語 🚀",
  "with  two  spaces",
  " leading and trailing ",
  "*",
  "?",
  "[a-z]*",
  "{a,b}",
  "~",
  "~root",
  "$HOME",
  "${HOME}",
  "!!",
  "#not a comment",
  "",
  "-n",
  "--",
  "-e\\n",
  "if",
  "K=V",
  "%s",
  "\\",
];

describe.skipIf(!sshdAvailable())("quoting round-trip through a real sshd", () => {
  let sshd: Sshd;
  let ex: SshExecutor;
  let markerDir: string;

  beforeAll(async () => {
    sshd = await startSshd();
    ex = new SshExecutor({ targetId: "vm1", alias: "vm1", env: sshd.env(), systemConfigPath: null });
    markerDir = tempDir("marker-");
  });
  afterAll(async () => {
    await ex.close();
  });

  test("every argument arrives byte for byte (printf '%s\\0') and nothing is injected", async () => {
    const args = NASTY.map((a) => a.replaceAll("MARKER", join(markerDir, "pwned")));
    // run in the marker dir so a relative "> MARKER" would land there too
    const r = await ex.exec(["sh", "-c", `cd '${markerDir}' && exec printf '%s\\0' "$@"`, "sh", ...args], { timeoutMs: 5000 });
    expect(r.code).toBe(0);
    expect(r.stdout.split("\0").slice(0, -1)).toEqual(args);
    // and as printf's own argv, not through sh -c "$@"
    const r2 = await ex.exec(["printf", "%s\\0", ...args], { timeoutMs: 5000 });
    expect(r2.stdout.split("\0").slice(0, -1)).toEqual(args);
    expect(existsSync(join(markerDir, "pwned"))).toBe(false);
    expect(existsSync(join(markerDir, "MARKER"))).toBe(false);
    expect(existsSync(join(sshd.vmHome, "MARKER"))).toBe(false);
  });

  test("env values arrive exactly; undefined unsets a variable", async () => {
    const value = `a b'c"$(touch ${join(markerDir, "env-pwned")})\n✓`;
    const r = await ex.exec(["sh", "-c", `printf '%s' "$FOO"; printf '|%s' "\${TMUX_TMPDIR-unset}"`], { timeoutMs: 5000, env: { FOO: value, TMUX_TMPDIR: undefined } });
    expect(r.stdout).toBe(`${value}|unset`);
    expect(existsSync(join(markerDir, "env-pwned"))).toBe(false);
  });

  test("a ~/ program runs from the remote HOME; a ~ argument stays literal", async () => {
    mkdirSync(join(sshd.vmHome, "bin"), { recursive: true });
    writeFileSync(join(sshd.vmHome, "bin", "show args"), `#!/bin/sh\nprintf '%s\\n' "$@"\n`, { mode: 0o755 });
    const r = await ex.exec(["~/bin/show args", "~/x", "~"], { timeoutMs: 5000 });
    expect(r).toEqual({ code: 0, stdout: "~/x\n~\n", stderr: "" });
  });

  test("a program named like a keyword or an assignment is still run as a program", async () => {
    const err = await ex.exec(["if", "true"], { timeoutMs: 5000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExecError);
    expect((err as ExecError).kind).toBe("not_found");
    const err2 = await ex.exec(["K=V", "x"], { timeoutMs: 5000 }).catch((e: unknown) => e);
    expect((err2 as ExecError).kind).toBe("not_found");
  });
});
