/**
 * `agtmux setup-hooks` through the compiled binary with a temp HOME: Claude
 * Code's settings.json installed, idempotent, the hook command really runs
 * through a shell, `--remove` gives the file back byte for byte; Codex with
 * the real codex 0.169.0 doing the trust step (checked with a fresh
 * `hooks/list`); `--dry-run` writes nothing; a moved binary updates the
 * entries in place; files agtmux cannot read are refused with line/column.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { codexHooksList } from "../../src/setup/codex-hooks-list.ts";
import { CLAUDE_HOOKS, CODEX_HOOKS, shellQuote } from "../../src/setup/spec.ts";
import { ROOT, ensureBinary } from "../helpers/binary.ts";
import { type Sandbox, sandbox } from "../helpers/sandbox.ts";

/** AGTMUX_E2E_BIN: run these tests against a binary built elsewhere (default dist/agtmux). */
const BIN = process.env.AGTMUX_E2E_BIN ?? ensureBinary();
const CODEX = join(ROOT, "tests", "agents", "node_modules", ".bin", "codex");
const CODEX_VERSION = "0.169.0";

let sb: Sandbox | undefined;
afterEach(() => {
  sb?.cleanup();
  sb = undefined;
});
function box(): Sandbox {
  sb = sandbox("setup");
  return sb;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(s: Sandbox, args: string[], opts: { bin?: string; env?: Record<string, string>; cwd?: string } = {}): Promise<Run> {
  const p = Bun.spawn([opts.bin ?? BIN, "setup-hooks", ...args], {
    env: { ...s.env, ...opts.env } as Record<string, string>,
    cwd: opts.cwd ?? s.dir,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => p.kill("SIGKILL"), 30_000);
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(timer);
  return { code, stdout, stderr };
}

function json(r: Run): { agents: Record<string, unknown>[] } & Record<string, unknown> {
  expect(r.stderr).toBe("");
  return JSON.parse(r.stdout) as { agents: Record<string, unknown>[] } & Record<string, unknown>;
}

/** Every file under `dir` with its bytes and mtime: "nothing written" means this does not change. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[p] = `${statSync(p).mtimeMs} ${readFileSync(p, "latin1")}`;
    }
  };
  walk(dir);
  return out;
}

function backups(file: string): string[] {
  const dir = join(file, "..");
  const base = file.slice(dir.length + 1);
  return readdirSync(dir).filter((f) => f.startsWith(`${base}.agtmux-backup-`));
}

type Settings = { hooks: Record<string, { matcher?: string; hooks: { type: string; command: string; timeout: number }[] }[]> } & Record<string, unknown>;

const USER_SETTINGS = `{
  "model": "opus",
  "hooks": {
    "Stop": [
      { "hooks": [{ "type": "command", "command": "echo done >> /dev/null" }] }
    ]
  },
  "permissions": { "allow": ["Bash(ls:*)"] }
}
`;

const USER_CODEX_CONFIG = `# my codex config
model = "gpt-mock"   # keep this comment
check_for_update_on_startup = false

# projects
[projects."/tmp/somewhere"]
trust_level = "trusted"
`;

function agtmuxCommands(settings: Settings, bin: string, agent: string): string[] {
  return Object.values(settings.hooks)
    .flat()
    .flatMap((g) => g.hooks)
    .map((h) => h.command)
    .filter((c) => c === `${shellQuote(bin)} emit --hook ${agent}`);
}

describe("setup-hooks claude", () => {
  test("installs into the user's settings.json, is idempotent, the hook runs through a shell, --remove restores the file byte for byte", async () => {
    const s = box();
    const file = join(s.env.HOME as string, ".claude", "settings.json");
    mkdirSync(join(file, ".."), { recursive: true });
    writeFileSync(file, USER_SETTINGS);
    chmodSync(file, 0o640);

    const first = await run(s, ["claude", "--yes"]);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain("updated");
    const settings = JSON.parse(readFileSync(file, "utf8")) as Settings;
    expect(agtmuxCommands(settings, BIN, "claude")).toHaveLength(CLAUDE_HOOKS.events.length);
    expect(Object.keys(settings)).toEqual(["model", "hooks", "permissions"]);
    expect(settings.hooks.Stop?.[0]).toEqual({ hooks: [{ type: "command", command: "echo done >> /dev/null" }] } as never);
    expect(settings.hooks.PreToolUse?.[0]?.matcher).toBe("*");
    expect(settings.hooks.Stop?.[1]?.matcher).toBeUndefined();
    expect(statSync(file).mode & 0o777).toBe(0o640);
    const [backup] = backups(file);
    expect(backup).toMatch(/^settings\.json\.agtmux-backup-\d{8}T\d{9}Z$/);
    expect(readFileSync(join(file, "..", backup as string), "utf8")).toBe(USER_SETTINGS);

    // a second run: nothing to change, says so, writes nothing
    const installed = readFileSync(file, "utf8");
    const again = await run(s, ["claude", "--json"]);
    expect(again.code).toBe(0);
    const report = json(again).agents[0] as { files: { action: string }[]; hooks: { added: string[]; updated: string[] } };
    expect(report.files.map((f) => f.action)).toEqual(["unchanged"]);
    expect(report.hooks).toMatchObject({ added: [], updated: [] });
    expect(readFileSync(file, "utf8")).toBe(installed);
    expect(backups(file)).toHaveLength(1);

    // the registered command works as the agent runs it: through a shell, payload on stdin
    const command = agtmuxCommands(settings, BIN, "claude")[0] as string;
    const hook = Bun.spawnSync(["sh", "-c", command], {
      env: { ...s.env, TMUX_PANE: "%7", AGTMUX_NO_AUTOSTART: "1" } as Record<string, string>,
      stdin: new Blob([JSON.stringify({ session_id: "s-1", cwd: s.dir, hook_event_name: "Stop" })]),
    });
    expect(hook.exitCode).toBe(0);
    const spooled = readFileSync(join(s.paths.spoolDir, "events.jsonl"), "utf8").trim().split("\n");
    expect(JSON.parse(spooled.at(-1) as string)).toMatchObject({ event: { event_type: "claude.Stop", agent_type: "claude", pane_id: "%7" } });

    const removed = await run(s, ["claude", "--remove", "--yes"]);
    expect(removed.code).toBe(0);
    expect(readFileSync(file, "utf8")).toBe(USER_SETTINGS);
    expect(statSync(file).mode & 0o777).toBe(0o640);
    expect(backups(file)).toHaveLength(2);
    // and removing again is a no-op
    const twice = await run(s, ["claude", "--remove", "--json"]);
    expect((json(twice).agents[0] as { files: { action: string }[] }).files.map((f) => f.action)).toEqual(["unchanged"]);
  });

  test("a symlinked settings.json (dotfile managers) stays a link; its target gets the change and the backup", async () => {
    const s = box();
    const target = join(s.dir, "dotfiles", "claude-settings.json");
    mkdirSync(join(target, ".."), { recursive: true });
    writeFileSync(target, USER_SETTINGS);
    const link = join(s.env.HOME as string, ".claude", "settings.json");
    mkdirSync(join(link, ".."), { recursive: true });
    symlinkSync(target, link);
    expect((await run(s, ["claude"])).code).toBe(0);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(agtmuxCommands(JSON.parse(readFileSync(target, "utf8")) as Settings, BIN, "claude")).toHaveLength(CLAUDE_HOOKS.events.length);
    expect(backups(target)).toHaveLength(1);
    expect((await run(s, ["claude", "--remove"])).code).toBe(0);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readFileSync(target, "utf8")).toBe(USER_SETTINGS);
  });

  test("--scope project writes ./.claude/settings.json; removing the only content deletes the file again", async () => {
    const s = box();
    const proj = join(s.dir, "proj");
    mkdirSync(proj);
    const r = await run(s, ["claude", "--scope", "project", "--yes"], { cwd: proj });
    expect(r.code).toBe(0);
    const file = join(proj, ".claude", "settings.json");
    expect(agtmuxCommands(JSON.parse(readFileSync(file, "utf8")) as Settings, BIN, "claude")).toHaveLength(CLAUDE_HOOKS.events.length);
    expect(existsSync(join(s.env.HOME as string, ".claude", "settings.json"))).toBe(false);
    expect((await run(s, ["claude", "--scope", "project", "--remove"], { cwd: proj })).code).toBe(0);
    expect(existsSync(file)).toBe(false);
  });
});

describe("setup-hooks --dry-run", () => {
  test("prints unified diffs (with Codex's trust entries) and writes nothing", async () => {
    const s = box();
    const claudeFile = join(s.env.HOME as string, ".claude", "settings.json");
    mkdirSync(join(claudeFile, ".."), { recursive: true });
    writeFileSync(claudeFile, USER_SETTINGS);
    const codexConfig = join(s.env.HOME as string, ".codex", "config.toml");
    mkdirSync(join(codexConfig, ".."), { recursive: true });
    writeFileSync(codexConfig, USER_CODEX_CONFIG);
    const before = snapshot(s.env.HOME as string);

    const r = await run(s, ["all", "--dry-run", "--codex-bin", CODEX]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`--- a${claudeFile}\n+++ b${claudeFile}\n@@ `);
    expect(r.stdout).toContain(`--- /dev/null\n+++ b${join(s.env.HOME as string, ".codex", "hooks.json")}\n@@ -0,0 +1,`);
    expect(r.stdout).toContain(`--- a${codexConfig}\n+++ b${codexConfig}\n`);
    expect(r.stdout).toContain('+notify = ["');
    expect(r.stdout).toMatch(/\+\[hooks\.state\.".*hooks\.json:stop:0:0"\] # agtmux-managed\n\+trusted_hash = "sha256:[0-9a-f]{64}"/);
    expect(r.stdout).toContain("dry run, nothing written");
    expect(snapshot(s.env.HOME as string)).toEqual(before);

    const j = await run(s, ["claude", "--dry-run", "--json"]);
    const report = json(j).agents[0] as { files: { action: string; diff: string }[] };
    expect(report.files[0]?.action).toBe("updated");
    expect(report.files[0]?.diff).toContain("+            \"command\": ");
    expect(snapshot(s.env.HOME as string)).toEqual(before);
  });
});

describe("setup-hooks codex (real codex)", () => {
  test(`codex ${CODEX_VERSION}: hooks.json + notify + trust, verified by a fresh hooks/list; idempotent; --remove restores config.toml`, async () => {
    expect(existsSync(CODEX)).toBe(true); // tests/agents is installed by `npm test`
    const version = Bun.spawnSync([CODEX, "--version"]).stdout.toString();
    expect(version).toContain(CODEX_VERSION);
    const s = box();
    const codexHome = join(s.env.HOME as string, ".codex");
    const config = join(codexHome, "config.toml");
    const hooksFile = join(codexHome, "hooks.json");
    mkdirSync(codexHome, { recursive: true });
    writeFileSync(config, USER_CODEX_CONFIG);
    // codex found on PATH (no --codex-bin)
    const env = { PATH: `${join(CODEX, "..")}:${s.env.PATH ?? ""}` };

    const r = await run(s, ["codex", "--json"], { env });
    expect(r.code).toBe(0);
    const report = json(r).agents[0] as { trust: { status: string; trusted: string[] }; notify: { status: string }; files: { path: string; action: string }[] };
    expect(report.files.map((f) => [f.path, f.action])).toEqual([
      [hooksFile, "created"],
      [config, "updated"],
    ]);
    expect(report.notify.status).toBe("added");
    expect(report.trust.status).toBe("verified");
    expect(report.trust.trusted).toHaveLength(CODEX_HOOKS.events.length);

    // What a fresh codex says, field by field.
    const listed = await codexHooksList({ codexBin: CODEX, env: { ...s.env, ...env }, cwds: [s.dir] });
    const ours = listed.data.flatMap((d) => d.hooks).filter((h) => h.command === `${shellQuote(BIN)} emit --hook codex`);
    expect(ours).toHaveLength(CODEX_HOOKS.events.length);
    const camel = (e: string): string => e[0]?.toLowerCase() + e.slice(1);
    expect(ours.map((h) => h.eventName).toSorted()).toEqual(CODEX_HOOKS.events.map(camel).toSorted());
    const parsed = Bun.TOML.parse(readFileSync(config, "utf8")) as { notify: string[]; hooks: { state: Record<string, { trusted_hash: string }> } } & Record<string, unknown>;
    for (const h of ours) {
      expect({ key: h.key, trustStatus: h.trustStatus, sourcePath: h.sourcePath, source: h.source }).toEqual({ key: h.key, trustStatus: "trusted", sourcePath: hooksFile, source: "user" });
      expect(h.key.startsWith(`${hooksFile}:`)).toBe(true);
      expect(parsed.hooks.state[h.key]?.trusted_hash).toBe(h.currentHash);
    }
    expect(listed.data.flatMap((d) => d.errors)).toEqual([]);
    expect(parsed.notify).toEqual([BIN, "emit", "--hook", "codex", "--source", "notify"]);
    expect(parsed.model).toBe("gpt-mock");
    expect(readFileSync(config, "utf8").startsWith(`# my codex config\nmodel = "gpt-mock"   # keep this comment\ncheck_for_update_on_startup = false\n\n# >>> agtmux notify`)).toBe(true);

    // idempotent
    const installedConfig = readFileSync(config, "utf8");
    const installedHooks = readFileSync(hooksFile, "utf8");
    const again = await run(s, ["codex", "--json"], { env });
    const second = json(again).agents[0] as { trust: { status: string; written: string[] }; files: { action: string }[] };
    expect(second.files.map((f) => f.action)).toEqual(["unchanged", "unchanged"]);
    expect(second.trust).toMatchObject({ status: "verified", written: [] });
    expect(readFileSync(config, "utf8")).toBe(installedConfig);
    expect(readFileSync(hooksFile, "utf8")).toBe(installedHooks);

    // --remove: config.toml as the user had it, hooks.json (ours only) gone, codex lists nothing
    const removed = await run(s, ["codex", "--remove"]);
    expect(removed.code).toBe(0);
    expect(readFileSync(config, "utf8")).toBe(USER_CODEX_CONFIG);
    expect(existsSync(hooksFile)).toBe(false);
    const after = await codexHooksList({ codexBin: CODEX, env: { ...s.env, ...env }, cwds: [s.dir] });
    expect(after.data.flatMap((d) => d.hooks)).toEqual([]);

    // a user's own notify is kept (and reported)
    writeFileSync(config, `notify = ["notify-send", "Codex"]\n${USER_CODEX_CONFIG}`);
    const kept = await run(s, ["codex", "--codex-bin", CODEX]);
    expect(kept.code).toBe(0);
    expect(kept.stdout).toContain("already has notify");
    expect((Bun.TOML.parse(readFileSync(config, "utf8")) as { notify: string[] }).notify).toEqual(["notify-send", "Codex"]);
  });
});

describe("setup-hooks after an upgrade", () => {
  test("a binary at a new path (with a space) rewrites agtmux's entries in place and Codex re-trusts them", async () => {
    const s = box();
    const newBin = join(s.dir, "new place", "agtmux");
    mkdirSync(join(newBin, ".."), { recursive: true });
    try {
      linkSync(BIN, newBin);
    } catch {
      copyFileSync(BIN, newBin);
      chmodSync(newBin, 0o755);
    }
    const file = join(s.env.HOME as string, ".claude", "settings.json");
    mkdirSync(join(file, ".."), { recursive: true });
    writeFileSync(file, USER_SETTINGS);
    expect((await run(s, ["claude"])).code).toBe(0);
    expect((await run(s, ["codex", "--codex-bin", CODEX])).code).toBe(0);
    const v1 = JSON.parse(readFileSync(file, "utf8")) as Settings;

    const up = await run(s, ["claude", "--json"], { bin: newBin });
    const report = json(up).agents[0] as { hooks: { added: string[]; updated: string[] }; command: string };
    expect(report.command).toBe(`'${newBin}' emit --hook claude`);
    expect(report.hooks.added).toEqual([]);
    expect(report.hooks.updated.toSorted()).toEqual([...CLAUDE_HOOKS.events].toSorted());
    const v2 = JSON.parse(readFileSync(file, "utf8")) as Settings;
    expect(Object.keys(v2.hooks)).toEqual(Object.keys(v1.hooks));
    expect(agtmuxCommands(v2, BIN, "claude")).toEqual([]);
    expect(agtmuxCommands(v2, newBin, "claude")).toHaveLength(CLAUDE_HOOKS.events.length);
    expect(v2.hooks.Stop?.[0]).toEqual(v1.hooks.Stop?.[0] as never);

    // the quoted path works through a shell
    const hook = Bun.spawnSync(["sh", "-c", report.command], {
      env: { ...s.env, TMUX_PANE: "%9", AGTMUX_NO_AUTOSTART: "1" } as Record<string, string>,
      stdin: new Blob([JSON.stringify({ session_id: "s-2", hook_event_name: "SessionStart" })]),
    });
    expect(hook.exitCode).toBe(0);
    expect(readFileSync(join(s.paths.spoolDir, "events.jsonl"), "utf8")).toContain('"event_type":"claude.SessionStart"');

    const cup = await run(s, ["codex", "--codex-bin", CODEX, "--json"], { bin: newBin });
    expect(cup.code).toBe(0);
    const c = json(cup).agents[0] as { notify: { status: string }; trust: { status: string; written: string[] }; hooks: { updated: string[] } };
    expect(c.notify.status).toBe("updated");
    expect(c.hooks.updated).toHaveLength(CODEX_HOOKS.events.length);
    expect(c.trust.status).toBe("verified");
    expect(c.trust.written).toHaveLength(CODEX_HOOKS.events.length);
  });
});

describe("setup-hooks refuses files it cannot read", () => {
  test("invalid JSON / TOML: exit 1, the file, line and column, nothing written", async () => {
    const s = box();
    const file = join(s.env.HOME as string, ".claude", "settings.json");
    mkdirSync(join(file, ".."), { recursive: true });
    const bad = '{\n  "model": "opus",\n  "hooks": { "Stop": [] },\n}\n';
    writeFileSync(file, bad);
    const r = await run(s, ["claude"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${file}:4:1: invalid JSON: trailing comma before '}'`);
    expect(r.stderr).toContain("[E_BAD_REQUEST]");
    const j = await run(s, ["claude", "--json"]);
    expect(j.code).toBe(1);
    expect(JSON.parse(j.stdout)).toMatchObject({ error: { code: "E_BAD_REQUEST", details: { file, line: 4, column: 1 } } });
    expect(readFileSync(file, "utf8")).toBe(bad);
    expect(backups(file)).toEqual([]);

    const config = join(s.env.HOME as string, ".codex", "config.toml");
    mkdirSync(join(config, ".."), { recursive: true });
    const badToml = 'model = "x"\n[tui]\nnotifications = true\nnotifications = false\n';
    writeFileSync(config, badToml);
    const t = await run(s, ["codex", "--codex-bin", CODEX]);
    expect(t.code).toBe(1);
    expect(t.stderr).toContain(`${config}:4:1: invalid TOML`);
    expect(readFileSync(config, "utf8")).toBe(badToml);
    expect(existsSync(join(s.env.HOME as string, ".codex", "hooks.json"))).toBe(false);
    expect(backups(config)).toEqual([]);

    const usage = await run(s, ["gemini"]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("[E_USAGE]");
  });
});
