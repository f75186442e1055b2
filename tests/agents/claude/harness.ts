/**
 * A lab for driving the REAL Claude Code CLI offline: an isolated tmux server,
 * a fake Anthropic API (tests/fakes/anthropic.ts) on loopback, a temp HOME and
 * project dir, a `~/.claude.json` that skips onboarding/trust/API-key prompts,
 * and a `~/.claude/settings.json` that registers a logger hook for EVERY hook
 * event this version knows. The logger appends one JSON line per hook call to
 * `<lab>/hooks.jsonl`: `{event, argv, env, pid, ppid, ancestors, time, stdin}`.
 *
 * Needs TMUX_TMPDIR set (tests/helpers/preload.ts does it for `bun test`;
 * tests/agents/claude/capture.ts does it for itself).
 */
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { type FakeAnthropic, type FakeAnthropicOptions, startFakeAnthropic } from "../../fakes/anthropic.ts";
import { waitFor } from "../../helpers/wait.ts";
import { type TmuxServer, startTmuxServer } from "../../tmux/harness.ts";

const REPO = resolve(import.meta.dir, "..", "..", "..");
export const CLAUDE_BIN = join(REPO, "tests", "agents", "node_modules", "@anthropic-ai", "claude-code", "bin", "claude.exe");

/**
 * Every hook event Claude Code 2.1.330 accepts in settings (the `hooks` schema
 * enum found in the binary). Not all can fire in a plain session (Worktree*,
 * Teammate*, Elicitation*, …); registering them costs nothing.
 */
export const HOOK_EVENTS = [
  "PreToolUse",
  "PostToolUse",
  "PostToolUseFailure",
  "PostToolBatch",
  "Notification",
  "UserPromptSubmit",
  "UserPromptExpansion",
  "SessionStart",
  "SessionEnd",
  "Stop",
  "StopFailure",
  "SubagentStart",
  "SubagentStop",
  "PreCompact",
  "PostCompact",
  "PreModelSwitch",
  "PostModelSwitch",
  "PermissionRequest",
  "PermissionDenied",
  "Setup",
  "TeammateIdle",
  "TaskCreated",
  "TaskCompleted",
  "Elicitation",
  "ElicitationResult",
  "ConfigChange",
  "WorktreeCreate",
  "WorktreeRemove",
  "InstructionsLoaded",
  "CwdChanged",
  "FileChanged",
  "DirectoryAdded",
  "MessageDisplay",
] as const;

/**
 * Events NOT registered by default: a WorktreeCreate/WorktreeRemove hook
 * replaces git's worktree handling (its stdout is taken as the path), so a
 * logger there would change behaviour.
 */
export const BEHAVIOUR_CHANGING_HOOKS: readonly string[] = ["WorktreeCreate", "WorktreeRemove"];

export interface HookRecord {
  event: string;
  argv: string[];
  env: Record<string, string>;
  pid: number;
  ppid: number;
  /** [{pid, comm}] from the hook's parent upwards (Linux /proc) */
  ancestors: { pid: number; comm: string }[];
  time: string;
  stdin: Record<string, unknown> | string;
}

export interface Step {
  name: string;
  /** ms since the lab started */
  t: number;
  title: string;
  screen: string;
  /** how many transcript lines existed when the step was taken */
  transcriptLines: number;
  /** how many hook records existed when the step was taken */
  hookCount: number;
}

export interface LabOptions {
  fake?: FakeAnthropicOptions;
  /** `messageIdleNotifThresholdMs` in ~/.claude.json (default: the CLI's own 60000) */
  idleNotifMs?: number;
  /** extra env for the claude process */
  env?: Record<string, string>;
  /**
   * false drops CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 (default true: set). Without it the CLI
   * also asks the model for a session title and tries other hosts (which fail offline).
   */
  disableNonessentialTraffic?: boolean;
  /** extra settings merged into ~/.claude/settings.json */
  settings?: Record<string, unknown>;
  /** hook events to register, default HOOK_EVENTS minus BEHAVIOUR_CHANGING_HOOKS */
  hookEvents?: readonly string[];
  width?: number;
  height?: number;
}

export interface ClaudeLab {
  root: string;
  home: string;
  project: string;
  hookLog: string;
  fake: FakeAnthropic;
  tmux: TmuxServer;
  /** the pane claude runs in, e.g. "%1" */
  pane: string;
  apiKey: string;
  /** when the lab started (ms since the epoch) */
  t0: number;
  steps: Step[];
  /**
   * types the claude command into the pane's interactive bash (as a user would; with `exec: true` the
   * shell is replaced, so the pane dies with claude); waits for the idle prompt unless wait is false
   */
  launch(args?: string[], opts?: { wait?: boolean; timeoutMs?: number; exec?: boolean }): Promise<void>;
  hooks(): HookRecord[];
  events(): string[];
  waitHook(event: string, opts?: { after?: number; timeoutMs?: number; pred?: (h: HookRecord) => boolean }): Promise<HookRecord>;
  screen(): Promise<string>;
  title(): Promise<string>;
  /** send-keys (tmux key names: "Enter", "Escape", "C-c", "Down", "1", …) */
  keys(...keys: string[]): Promise<void>;
  /**
   * Waits for the permission dialog ("Do you want to proceed?"), lets it settle (a key sent
   * within ~100 ms of its first paint is dropped by this version), then sends the keys.
   */
  answerDialog(...keys: string[]): Promise<void>;
  /** send-keys -l (literal text) */
  type(text: string): Promise<void>;
  /** types the text, waits until it shows, presses Enter */
  prompt(text: string): Promise<void>;
  waitScreen(test: RegExp | ((screen: string) => boolean), opts?: { timeoutMs?: number; message?: string }): Promise<string>;
  /** waits until the input box is shown and nothing is running (see isIdleScreen) */
  waitIdle(timeoutMs?: number): Promise<string>;
  /** records screen + title under a step name */
  snap(name: string): Promise<Step>;
  /** the transcript_path of the latest hook that has one, if any */
  transcriptPath(): string | undefined;
  transcript(): Record<string, unknown>[];
  /** the pid of the process the pane started (the shell) */
  panePid(): Promise<number>;
  /** claude's pid: the pane's process itself after `exec`, else its child running claude.exe */
  claudePid(): Promise<number | undefined>;
  /** replaces machine-specific paths with $HOME, $PROJECT, $LAB, … */
  normalize(text: string): string;
  stop(): Promise<void>;
}

/** The logger hook (plain JS for node or bun). The log path is baked in. */
function loggerSource(logPath: string): string {
  return `// agtmux lab hook logger: one JSON line per hook call
import { appendFileSync, readFileSync } from "node:fs";
const LOG = ${JSON.stringify(logPath)};
const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const raw = Buffer.concat(chunks).toString("utf8");
let stdin = raw;
try { stdin = JSON.parse(raw); } catch {}
const env = {};
for (const k of Object.keys(process.env).sort()) {
  if (/^(TMUX|TMUX_PANE|CLAUDECODE|CLAUDE_[A-Z_]*|PWD)$/.test(k)) env[k] = process.env[k];
}
const ancestors = [];
let pid = process.ppid;
for (let i = 0; i < 4 && pid > 1; i++) {
  try {
    const stat = readFileSync("/proc/" + pid + "/stat", "utf8");
    const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    ancestors.push({ pid, comm });
    pid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch { break; }
}
appendFileSync(LOG, JSON.stringify({ event: process.argv[2], argv: process.argv.slice(1), env, pid: process.pid, ppid: process.ppid, ancestors, time: new Date().toISOString(), stdin }) + "\\n");
`;
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(":")) {
    if (dir === "") continue;
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  return undefined;
}

/** A fake API key assembled at runtime (no literal for secret scanners). */
export function labApiKey(): string {
  const body = Array.from({ length: 90 }, (_, i) => "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"[(i * 7 + 3) % 62]).join("");
  return `${["sk", "ant", "api03"].join("-")}-${body}`;
}

/** Claude's per-project directory name under ~/.claude/projects: the path with every non-alphanumeric character as "-". */
export function projectKey(dir: string): string {
  return dir.replace(/[^a-zA-Z0-9]/g, "-");
}

/**
 * The input box is drawn and no turn is in progress: a line starting with
 * the prompt glyph "❯" between two horizontal rules, no "esc to interrupt"
 * hint and no permission dialog.
 */
export function isIdleScreen(screen: string): boolean {
  if (!/^\s*❯/m.test(screen)) return false;
  if (/esc to interrupt/i.test(screen)) return false;
  if (/Do you want to proceed\?/i.test(screen)) return false;
  return /─{10,}/.test(screen);
}

export async function startClaudeLab(opts: LabOptions = {}): Promise<ClaudeLab> {
  if (!existsSync(CLAUDE_BIN)) throw new Error(`claude binary missing: ${CLAUDE_BIN} (run node scripts/ensure.mjs)`);
  const base = realpathSync(process.env.AGTMUX_TEST_ROOT ?? tmpdir());
  const root = mkdtempSync(join(base, "claude-lab-"));
  const home = join(root, "home");
  const project = join(root, "project");
  const hookLog = join(root, "hooks.jsonl");
  mkdirSync(join(home, ".claude"), { recursive: true });
  mkdirSync(project, { recursive: true });
  writeFileSync(join(project, "README.md"), "# lab project\n");
  writeFileSync(hookLog, "");
  const loggerPath = join(root, "hook-logger.mjs");
  writeFileSync(loggerPath, loggerSource(hookLog));
  const runtime = findOnPath("node") ?? process.execPath;

  const apiKey = labApiKey();
  const claudeJson = {
    numStartups: 1,
    installMethod: "npm",
    autoUpdates: false,
    theme: "dark",
    hasCompletedOnboarding: true,
    // 2.1.330 sometimes opens with a one-time "make auto mode your default?" dialog: seen
    hasSeenAutoDefaultNudge: true,
    lastOnboardingVersion: "2.1.330",
    lastReleaseNotesSeen: "2.1.330",
    customApiKeyResponses: { approved: [apiKey.slice(-20)], rejected: [] },
    ...(opts.idleNotifMs === undefined ? {} : { messageIdleNotifThresholdMs: opts.idleNotifMs }),
    projects: {
      [project]: {
        allowedTools: [],
        hasTrustDialogAccepted: true,
        hasCompletedProjectOnboarding: true,
        projectOnboardingSeenCount: 1,
      },
    },
  };
  writeFileSync(join(home, ".claude.json"), `${JSON.stringify(claudeJson, null, 2)}\n`);
  const events = opts.hookEvents ?? HOOK_EVENTS.filter((e) => !BEHAVIOUR_CHANGING_HOOKS.includes(e));
  const hooks: Record<string, unknown> = {};
  for (const e of events) {
    hooks[e] = [{ hooks: [{ type: "command", command: `${shellQuote(runtime)} ${shellQuote(loggerPath)} ${e}`, timeout: 10 }] }];
  }
  writeFileSync(join(home, ".claude", "settings.json"), `${JSON.stringify({ hooks, ...opts.settings }, null, 2)}\n`);

  const fake = await startFakeAnthropic(opts.fake ?? {});
  let tmux: TmuxServer;
  try {
    tmux = await startTmuxServer({ session: "lab", width: opts.width ?? 120, height: opts.height ?? 40, command: ["sleep", "100000"] });
  } catch (err) {
    await fake.stop();
    throw err;
  }
  const env: Record<string, string> = {
    HOME: home,
    XDG_CONFIG_HOME: join(home, ".config"),
    XDG_CACHE_HOME: join(home, ".cache"),
    XDG_STATE_HOME: join(home, ".local", "state"),
    XDG_DATA_HOME: join(home, ".local", "share"),
    SHELL: "/bin/bash",
    LANG: "C.UTF-8",
    LC_ALL: "C.UTF-8",
    TERM: "tmux-256color",
    PS1: "lab$ ",
    ANTHROPIC_BASE_URL: fake.url,
    ANTHROPIC_API_KEY: apiKey,
    ...(opts.disableNonessentialTraffic === false ? {} : { CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1" }),
    DISABLE_AUTOUPDATER: "1",
    DISABLE_TELEMETRY: "1",
    DISABLE_ERROR_REPORTING: "1",
    ...opts.env,
  };
  const envArgs = Object.entries(env).flatMap(([k, v]) => ["-e", `${k}=${v}`]);
  const pane = (
    await tmux.run("new-window", "-d", "-P", "-F", "#{pane_id}", "-t", "lab:", "-c", project, ...envArgs, "bash", "--noprofile", "--norc", "-i")
  ).trim();
  // the placeholder session (sleep) is not needed any more
  await tmux.run("kill-window", "-t", "lab:0").catch(() => "");

  const socketPath = (await tmux.run("display-message", "-p", "-t", pane, "#{socket_path}")).trim();
  const replacements: [string, string][] = (
    [
      [projectKey(project), "$PROJECT_KEY"],
      [project, "$PROJECT"],
      [home, "$HOME"],
      [root, "$LAB"],
      [socketPath, "$TMUX_SOCKET"],
      [CLAUDE_BIN, "$CLAUDE_BIN"],
      [runtime, "$NODE"],
      [fake.url, "$FAKE_URL"],
      [`127.0.0.1:${fake.port}`, "$FAKE_HOST"],
      [apiKey, "$API_KEY"],
    ] as [string, string][]
  ).toSorted((a, b) => b[0].length - a[0].length);

  const t0 = Date.now();
  const steps: Step[] = [];
  const readHooks = (): HookRecord[] =>
    readFileSync(hookLog, "utf8")
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => JSON.parse(l) as HookRecord);

  const lab: ClaudeLab = {
    root,
    home,
    project,
    hookLog,
    fake,
    tmux,
    pane,
    apiKey,
    t0,
    steps,
    async launch(args = [], o = {}) {
      await lab.type([...(o.exec === true ? ["exec"] : []), shellQuote(CLAUDE_BIN), ...args.map(shellQuote)].join(" "));
      await lab.keys("Enter");
      if (o.wait !== false) await lab.waitIdle(o.timeoutMs ?? 30_000);
    },
    hooks: readHooks,
    events: () => readHooks().map((h) => h.event),
    async waitHook(event, o = {}) {
      const after = o.after ?? 0;
      return waitFor(
        () => {
          const hs = readHooks();
          for (let i = after; i < hs.length; i++) {
            const h = hs[i];
            if (h !== undefined && h.event === event && (o.pred === undefined || o.pred(h))) return h;
          }
          return undefined;
        },
        { timeoutMs: o.timeoutMs ?? 20_000, intervalMs: 50, message: `hook ${event}` },
      );
    },
    screen: () => tmux.run("capture-pane", "-p", "-J", "-t", pane),
    async title() {
      return (await tmux.run("display-message", "-p", "-t", pane, "#{pane_title}")).replace(/\n$/, "");
    },
    async keys(...keys) {
      await tmux.run("send-keys", "-t", pane, ...keys);
    },
    async answerDialog(...keys) {
      await lab.waitScreen(/Do you want to proceed\?/, { message: "permission dialog" });
      await Bun.sleep(300);
      await lab.keys(...keys);
    },
    async type(t) {
      await tmux.run("send-keys", "-t", pane, "-l", t);
    },
    async prompt(t) {
      await lab.type(t);
      const probe = t.slice(0, 20);
      await lab.waitScreen((s) => s.includes(probe), { timeoutMs: 5_000, message: `typed text "${probe}" shown` });
      await Bun.sleep(150);
      await lab.keys("Enter");
    },
    async waitScreen(test, o = {}) {
      return waitFor(
        async () => {
          const s = await lab.screen();
          return (typeof test === "function" ? test(s) : test.test(s)) ? s : undefined;
        },
        { timeoutMs: o.timeoutMs ?? 20_000, intervalMs: 100, message: o.message ?? `screen matches ${String(test)}` },
      );
    },
    waitIdle(timeoutMs = 20_000) {
      return lab.waitScreen(isIdleScreen, { timeoutMs, message: "claude idle prompt" });
    },
    async snap(name) {
      const [screen, title] = await Promise.all([lab.screen(), lab.title()]);
      const step = { name, t: Date.now() - t0, title, screen, transcriptLines: lab.transcript().length, hookCount: readHooks().length };
      steps.push(step);
      return step;
    },
    transcriptPath() {
      const hs = readHooks();
      for (let i = hs.length - 1; i >= 0; i--) {
        const s = hs[i]?.stdin;
        if (typeof s === "object" && typeof s.transcript_path === "string") return s.transcript_path;
      }
      return undefined;
    },
    transcript() {
      const p = lab.transcriptPath();
      if (p === undefined || !existsSync(p)) return [];
      return readFileSync(p, "utf8")
        .split("\n")
        .filter((l) => l.trim() !== "")
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    async panePid() {
      return Number((await tmux.run("display-message", "-p", "-t", pane, "#{pane_pid}")).trim());
    },
    async claudePid() {
      const pid = await lab.panePid();
      const comm = (p: number): string => {
        try {
          return readFileSync(`/proc/${p}/comm`, "utf8").trim();
        } catch {
          return "";
        }
      };
      if (comm(pid).startsWith("claude")) return pid;
      let children: number[] = [];
      try {
        children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
      } catch {
        return undefined;
      }
      return children.find((c) => comm(c).startsWith("claude"));
    },
    normalize(t) {
      let out = t;
      for (const [from, to] of replacements) if (from !== "") out = out.split(from).join(to);
      // a per-process random token for claude's local messaging socket: not stable, not useful
      return out.replace(/("CLAUDE_CODE_MESSAGING_TOKEN":")[0-9a-f]+"/g, '$1<token>"');
    },
    async stop() {
      // claude (and its SessionEnd hook) may still write under HOME while it exits on the
      // tmux server's SIGHUP: wait for it before removing the lab
      const pid = await lab.claudePid().catch(() => undefined);
      await tmux.kill().catch(() => {});
      if (pid !== undefined) {
        await waitFor(() => !existsSync(`/proc/${pid}`), { timeoutMs: 5_000, intervalMs: 50, message: `claude pid ${pid} exited` }).catch(() => {
          try {
            process.kill(pid, "SIGKILL");
          } catch {
            // already gone
          }
        });
        await Bun.sleep(200);
      }
      await fake.stop();
      rmSync(root, { recursive: true, force: true });
    },
  };
  return lab;
}

/** Appends a note line to a file (used by capture scripts for timing notes). */
export function appendNote(path: string, note: string): void {
  appendFileSync(path, `${note}\n`);
}
