/**
 * `agtmux setup-hooks`: puts agtmux's hooks into the agents' own config (or
 * takes them out), one agent at a time. Every file is read and validated
 * before anything is written; each write is preceded by a backup and is
 * atomic. With `dryRun` nothing is written and the reports carry diffs.
 */
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { AgtmuxError } from "../domain/errors.ts";
import type { Env } from "../platform/paths.ts";
import { type TrustEntry, parseCodexConfig, removeNotify, removeTrust, setNotify, setTrust, type NotifyStatus } from "./codex-config.ts";
import { type CodexHookInfo, type HooksListResult, CodexRpcError, codexHooksList } from "./codex-hooks-list.ts";
import { unifiedDiff } from "./diff.ts";
import { type ConfigFile, backup, readConfigFile, removeFile, writeAtomic } from "./files.ts";
import { countAgtmuxHooks, editHooksFile } from "./hooks-json.ts";
import { CLAUDE_HOOKS, CODEX_HOOKS, type SetupAgent, hookCommand, isAgtmuxHookCommand, notifyArgv } from "./spec.ts";
import { tomlString } from "./toml-text.ts";

export const SCOPES = ["user", "project"] as const;
export type Scope = (typeof SCOPES)[number];
export type Mode = "install" | "remove";

export interface SetupOptions {
  env: Env;
  cwd: string;
  scope: Scope;
  mode: Mode;
  /** argv that runs this agtmux (see selfCommand in client/autostart.ts) */
  agtmux: readonly string[];
  /** the codex executable for the trust step; undefined = not found */
  codexBin: string | undefined;
  forceNotify: boolean;
  dryRun: boolean;
  now: () => Date;
}

export type FileAction = "created" | "updated" | "deleted" | "unchanged";

export interface FileReport {
  path: string;
  action: FileAction;
  backup?: string;
  /** unified diff of the change (dry runs) */
  diff?: string;
}

export type TrustStatus =
  /** codex lists every agtmux hook as trusted (checked after writing) */
  | "verified"
  /** dry run: the trust entries were computed against a scratch copy */
  | "simulated"
  /** no codex to ask: the hooks stay untrusted (Codex ignores them) */
  | "skipped"
  /** codex did not list (all of) agtmux's hooks, or still does not trust them */
  | "incomplete"
  | "failed"
  | "removed"
  | "none";

export interface AgentReport {
  agent: SetupAgent;
  scope: Scope;
  mode: Mode;
  dry_run: boolean;
  /** the hook command written (install) */
  command?: string;
  files: FileReport[];
  hooks: { file: string; installed: number; added: string[]; updated: string[]; removed: string[] };
  notify?: { file: string; status: NotifyStatus; previous?: unknown };
  trust?: { file: string; status: TrustStatus; trusted: string[]; untrusted: string[]; written: string[]; removed: string[]; message?: string };
  warnings: string[];
  ok: boolean;
}

function home(env: Env): string {
  return env.HOME !== undefined && env.HOME !== "" ? env.HOME : homedir();
}

export function claudeSettingsPath(env: Env, cwd: string, scope: Scope): string {
  if (scope === "project") return join(cwd, ".claude", "settings.json");
  const dir = env.CLAUDE_CONFIG_DIR !== undefined && env.CLAUDE_CONFIG_DIR !== "" ? env.CLAUDE_CONFIG_DIR : join(home(env), ".claude");
  return join(dir, "settings.json");
}

export function codexHome(env: Env): string {
  return env.CODEX_HOME !== undefined && env.CODEX_HOME !== "" ? env.CODEX_HOME : join(home(env), ".codex");
}

export function codexPaths(env: Env, cwd: string, scope: Scope): { home: string; hooks: string; config: string } {
  const h = codexHome(env);
  return { home: h, hooks: scope === "project" ? join(cwd, ".codex", "hooks.json") : join(h, "hooks.json"), config: join(h, "config.toml") };
}

interface Change {
  file: ConfigFile;
  after: string | null;
}

function actionOf(c: Change): FileAction {
  if (c.after === c.file.text) return "unchanged";
  if (c.file.text === null) return "created";
  return c.after === null ? "deleted" : "updated";
}

/** Writes one change (backup first); returns its report. Dry runs only describe it. */
function commit(c: Change, o: SetupOptions): FileReport {
  const action = actionOf(c);
  const report: FileReport = { path: c.file.path, action };
  if (o.dryRun) {
    if (action !== "unchanged") report.diff = unifiedDiff(c.file.path, c.file.text, c.after);
    return report;
  }
  if (action === "unchanged") return report;
  // the agents write these files too: never overwrite a change made since we read it
  if (readConfigFile(c.file.path).text !== c.file.text) {
    throw new AgtmuxError("E_PRECONDITION_FAILED", `${c.file.path} changed while agtmux was editing it; it was not written — run again`, { file: c.file.path });
  }
  const saved = backup(c.file, o.now());
  if (saved !== undefined) report.backup = saved;
  if (c.after === null) removeFile(c.file);
  else writeAtomic(c.file, c.after);
  return report;
}

// ---------------------------------------------------------------------------
// Claude Code

export function setupClaude(o: SetupOptions): AgentReport {
  const path = claudeSettingsPath(o.env, o.cwd, o.scope);
  const file = readConfigFile(path);
  const command = hookCommand(o.agtmux, "claude");
  const edit = editHooksFile(file.text, path, CLAUDE_HOOKS, command, o.mode);
  const report: AgentReport = {
    agent: "claude",
    scope: o.scope,
    mode: o.mode,
    dry_run: o.dryRun,
    ...(o.mode === "install" ? { command } : {}),
    files: [commit({ file, after: edit.text }, o)],
    hooks: { file: path, installed: countAgtmuxHooks(edit.text, path), added: edit.added, updated: edit.updated, removed: edit.removed },
    warnings: [],
    ok: true,
  };
  return report;
}

// ---------------------------------------------------------------------------
// Codex

/** The config text to write: a missing file stays missing unless agtmux adds something. */
function configAfter(file: ConfigFile, cfg: string): string | null {
  return file.text === null && cfg === "" ? null : cfg;
}

function realpathOr(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}

function samePath(a: string | undefined, b: string): boolean {
  return a !== undefined && (a === b || realpathOr(a) === realpathOr(b));
}

/** agtmux's hooks from `hooksPath` in a hooks/list answer (one per key). */
export function agtmuxHooksIn(res: HooksListResult, hooksPath: string): CodexHookInfo[] {
  const seen = new Map<string, CodexHookInfo>();
  for (const entry of res.data) {
    for (const h of entry.hooks) {
      if (samePath(h.sourcePath, hooksPath) && isAgtmuxHookCommand(h.command) && h.trustStatus !== "managed") seen.set(h.key, h);
    }
  }
  return [...seen.values()];
}

function hooksListErrors(res: HooksListResult, hooksPath: string): string[] {
  return res.data.flatMap((d) => d.errors.filter((e) => e.path === undefined || samePath(e.path, hooksPath)).map((e) => e.message));
}

/**
 * Dry run: the keys and hashes Codex would report, from a scratch
 * CODEX_HOME holding the proposed hooks file. The hash covers the hook's
 * content, not its file (verified with 0.169.0), and the key is
 * `<file>:<event>:<group>:<handler>`, so only the path prefix differs.
 */
async function simulateTrust(o: SetupOptions, codexBin: string, hooksText: string, realHooksPath: string): Promise<TrustEntry[]> {
  const tmp = realpathSync(mkdtempSync(join(tmpdir(), "agtmux-setup-")));
  try {
    const h = join(tmp, "codex-home");
    const proj = join(tmp, "project");
    mkdirSync(h, { recursive: true });
    const hooksPath = o.scope === "project" ? join(proj, ".codex", "hooks.json") : join(h, "hooks.json");
    mkdirSync(join(proj, ".codex"), { recursive: true });
    writeFileSync(hooksPath, hooksText);
    writeFileSync(join(h, "config.toml"), o.scope === "project" ? `[projects.${tomlString(proj)}]\ntrust_level = "trusted"\n` : "");
    const res = await codexHooksList({ codexBin, env: { ...o.env, CODEX_HOME: h, HOME: tmp }, cwds: [proj] });
    return agtmuxHooksIn(res, hooksPath).map((x) => ({ key: realHooksPath + x.key.slice(hooksPath.length), hash: x.currentHash }));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

export async function setupCodex(o: SetupOptions): Promise<AgentReport> {
  const paths = codexPaths(o.env, o.cwd, o.scope);
  const hooksFile = readConfigFile(paths.hooks);
  const configFile = readConfigFile(paths.config);
  if (configFile.text !== null) parseCodexConfig(configFile.text, paths.config); // refuse early: nothing written yet
  const command = hookCommand(o.agtmux, "codex");
  const edit = editHooksFile(hooksFile.text, paths.hooks, CODEX_HOOKS, command, o.mode);
  const installed = countAgtmuxHooks(edit.text, paths.hooks);
  const report: AgentReport = {
    agent: "codex",
    scope: o.scope,
    mode: o.mode,
    dry_run: o.dryRun,
    ...(o.mode === "install" ? { command } : {}),
    files: [],
    hooks: { file: paths.hooks, installed, added: edit.added, updated: edit.updated, removed: edit.removed },
    warnings: [],
    ok: true,
  };
  const hooksPrefixes = [...new Set([paths.hooks, realpathOr(paths.hooks)])];
  const ownsKey = (prefixes: string[]) => (key: string) => prefixes.some((p) => key.startsWith(`${p}:`));
  let cfg = configFile.text ?? "";

  if (o.mode === "remove") {
    const t = removeTrust(cfg, paths.config, ownsKey(hooksPrefixes));
    cfg = t.text;
    report.trust = { file: paths.config, status: t.removed.length > 0 ? "removed" : "none", trusted: [], untrusted: [], written: [], removed: t.removed };
    if (o.scope === "user") {
      const n = removeNotify(cfg, paths.config);
      cfg = n.text;
      report.notify = { file: paths.config, status: n.status };
    }
    // a config.toml left empty held only agtmux's settings
    const after = cfg === configFile.text ? cfg : cfg.trim() === "" ? null : cfg;
    report.files.push(commit({ file: hooksFile, after: edit.text }, o), commit({ file: configFile, after }, o));
    return report;
  }

  // notify: a user-level setting (Codex drops `notify` from a project's .codex/config.toml)
  if (o.scope === "user") {
    const n = setNotify(cfg, paths.config, notifyArgv(o.agtmux), o.forceNotify);
    cfg = n.text;
    report.notify = { file: paths.config, status: n.status, ...(n.previous === undefined ? {} : { previous: n.previous }) };
    if (n.status === "kept-user") {
      report.warnings.push(`${paths.config} already has notify = ${JSON.stringify(n.previous)}; left as is (agtmux still gets Codex's hooks; --force-notify replaces it, keeping the old value in the backup)`);
    }
  }

  const trust: NonNullable<AgentReport["trust"]> = { file: paths.config, status: "skipped", trusted: [], untrusted: [], written: [], removed: [] };
  report.trust = trust;
  const hooksText = edit.text ?? "";

  if (o.codexBin === undefined) {
    trust.message = "codex not found on PATH (give --codex-bin <path>): Codex ignores hooks until they are trusted — trust them in Codex (\"Review hooks\" at start-up) or run this again with codex available";
    report.warnings.push(trust.message);
    report.files.push(commit({ file: hooksFile, after: edit.text }, o), commit({ file: configFile, after: configAfter(configFile, cfg) }, o));
    report.ok = o.dryRun;
    return report;
  }

  if (o.dryRun) {
    try {
      const entries = await simulateTrust(o, o.codexBin, hooksText, paths.hooks);
      const t = setTrust(cfg, paths.config, entries, ownsKey(hooksPrefixes));
      cfg = t.text;
      Object.assign(trust, { status: "simulated", written: t.written, removed: t.removed, trusted: entries.map((e) => e.key) });
    } catch (err) {
      if (!(err instanceof CodexRpcError)) throw err;
      trust.status = "failed";
      trust.message = `could not compute the trust entries: ${err.message}`;
      report.warnings.push(trust.message);
    }
    report.files.push(commit({ file: hooksFile, after: edit.text }, o), commit({ file: configFile, after: configAfter(configFile, cfg) }, o));
    return report;
  }

  // Real run: Codex hashes the hooks file as written, so write it first.
  report.files.push(commit({ file: hooksFile, after: edit.text }, o));
  const list = async (): Promise<HooksListResult> => await codexHooksList({ codexBin: o.codexBin as string, env: o.env, cwds: [o.cwd] });
  let listed: HooksListResult;
  try {
    listed = await list();
  } catch (err) {
    if (!(err instanceof CodexRpcError)) throw err;
    trust.status = "failed";
    trust.message = `the trust step failed: ${err.message}`;
    report.warnings.push(trust.message);
    report.files.push(commit({ file: configFile, after: configAfter(configFile, cfg) }, o));
    report.ok = false;
    return report;
  }
  const ours = agtmuxHooksIn(listed, paths.hooks);
  const entries = ours.map((h) => ({ key: h.key, hash: h.currentHash }));
  const prefixes = [...new Set([...hooksPrefixes, ...ours.map((h) => h.sourcePath)])];
  const t = setTrust(cfg, paths.config, entries, ownsKey(prefixes));
  cfg = t.text;
  trust.written = t.written;
  trust.removed = t.removed;
  report.files.push(commit({ file: configFile, after: configAfter(configFile, cfg) }, o));
  for (const m of hooksListErrors(listed, paths.hooks)) report.warnings.push(`codex: ${m}`);

  // check what Codex now says (a fresh listing only when something was written)
  const after = t.written.length > 0 || t.removed.length > 0 ? agtmuxHooksIn(await list().catch(() => listed), paths.hooks) : ours;
  trust.trusted = after.filter((h) => h.trustStatus === "trusted").map((h) => h.key);
  trust.untrusted = after.filter((h) => h.trustStatus !== "trusted").map((h) => h.key);
  if (after.length < installed) {
    trust.status = "incomplete";
    trust.message =
      o.scope === "project"
        ? `codex lists ${after.length} of agtmux's ${installed} hooks in ${paths.hooks}: Codex loads a project's hooks only once the project is trusted — open codex in ${o.cwd}, trust it, then run this again`
        : `codex lists ${after.length} of agtmux's ${installed} hooks in ${paths.hooks}`;
  } else if (trust.untrusted.length > 0) {
    trust.status = "failed";
    trust.message = `codex still does not trust ${trust.untrusted.length} of agtmux's hooks (${trust.untrusted.join(", ")})`;
  } else {
    trust.status = "verified";
  }
  if (trust.message !== undefined) report.warnings.push(trust.message);
  report.ok = trust.status === "verified";
  return report;
}

export async function setupAgent(agent: SetupAgent, o: SetupOptions): Promise<AgentReport> {
  return agent === "claude" ? setupClaude(o) : await setupCodex(o);
}
