/**
 * A lab for driving the real Codex CLI (0.169.0) in an isolated tmux server
 * against the fake OpenAI server (tests/fakes/openai.ts):
 *
 * - a temp HOME with `$CODEX_HOME/config.toml` (agents.md §1.1: provider
 *   "mock" → the fake, trusted project dirs, `notify` → a logger, TUI BEL
 *   notifications), `$CODEX_HOME/hooks.json` with a logging hook for every
 *   event, and those hooks pre-trusted (hook-trust.ts);
 * - panes running an interactive bash in a project dir; `codex` on PATH;
 * - helpers to type, press keys, read the screen and the pane title, read
 *   the hook/notify logs, find the TUI processes, and attach a passive
 *   app-server client (src/adapters/codex/appserver.ts) to the daemon.
 *
 * `stop()` kills the tmux server, stops the Codex daemon of this CODEX_HOME
 * (and its pid-update-loop helper, by pid), removes the daemon socket under
 * /tmp/codex-daemon-<uid>/ and stops the fake.
 */
import { existsSync, mkdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { CodexAppServerClient, type CodexAppServerEvent } from "../../../src/adapters/codex/appserver.ts";
import { readProcTable } from "../../../src/procs/table.ts";
import type { ProcInfo } from "../../../src/procs/types.ts";
import { type FakeOpenAI, type Script, startFakeOpenAI } from "../../fakes/openai.ts";
import { waitFor } from "../../helpers/wait.ts";
import { startTmuxServer, tempDir, type TmuxServer } from "../../tmux/harness.ts";
import { trustCodexHooks, type TrustResult } from "./hook-trust.ts";

export const AGENTS_DIR = resolve(import.meta.dir, "..");
export const CODEX_BIN = join(AGENTS_DIR, "node_modules", ".bin", "codex");
export const LOGGER = join(import.meta.dir, "logger.mjs");

/** Every hook event codex 0.169.0 accepts in hooks.json (hooks/list shows PostModelRequest too). */
export const HOOK_EVENTS = [
  "SessionStart",
  "SessionEnd",
  "UserPromptSubmit",
  "PreModelRequest",
  "PostModelRequest",
  "PreToolUse",
  "PermissionRequest",
  "PostToolUse",
  "PreCompact",
  "PostCompact",
  "Stop",
  "SubagentStart",
  "SubagentStop",
  "Interrupt",
] as const;

export function codexAvailable(): boolean {
  return existsSync(CODEX_BIN) && Bun.which("node") !== null && Bun.which("tmux") !== null;
}

export interface HookRecord {
  kind: "hook";
  event: string;
  time: string;
  timeMs: number;
  pid: number;
  ppid: number;
  parents: { pid: number; comm: string; ppid: number; argv: string[] }[];
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  stdin: Record<string, unknown>;
}

export interface NotifyRecord extends Omit<HookRecord, "kind" | "stdin"> {
  kind: "notify";
  payload: Record<string, unknown>;
}

export interface AppServerRecord {
  /** ms since the lab's t0 */
  t: number;
  event: CodexAppServerEvent;
}

export interface LabPane {
  id: string;
  project: string;
  panePid: number;
}

export interface CodexLabOptions {
  script?: Script;
  /** project dir names under HOME; default ["proj"] */
  projects?: string[];
  width?: number;
  height?: number;
}

export interface CodexLab {
  root: string;
  home: string;
  codexHome: string;
  projects: string[];
  fake: FakeOpenAI;
  tmux: TmuxServer;
  hooksLog: string;
  notifyLog: string;
  socketPath: string;
  trust: TrustResult;
  /** Date.now() when the lab was ready */
  t0: number;
  /** env given to the panes' shells (and to codex) */
  env: Record<string, string>;
  panes: LabPane[];
  /** a new window with a bash in projects[projectIndex] */
  openPane(projectIndex?: number): Promise<LabPane>;
  /** types `codex <args>` in the pane and waits for the composer */
  startCodex(pane: LabPane, args?: string[]): Promise<void>;
  /** literal text, a short pause (the TUI treats a fast Enter as part of a paste), then Enter */
  prompt(pane: LabPane, text: string): Promise<void>;
  keys(pane: LabPane, ...keys: string[]): Promise<void>;
  capture(pane: LabPane): Promise<string>;
  title(pane: LabPane): Promise<string>;
  waitScreen(pane: LabPane, re: RegExp, timeoutMs?: number): Promise<string>;
  hooks(): HookRecord[];
  notifies(): NotifyRecord[];
  /** a passive client, started (reconnecting) and recording into `appEvents` */
  appServer(opts?: { allNotifications?: boolean }): CodexAppServerClient;
  appEvents: AppServerRecord[];
  daemonPid(): number | null;
  /** processes under the pane (pane shell first), with start times */
  paneProcesses(pane: LabPane): ProcInfo[];
  /** the native Codex TUI process under the pane (comm "codex", not the node wrapper) */
  tuiProcess(pane: LabPane): ProcInfo | null;
  /** replaces lab paths with $PROJECT / $PROJECT2 / $HOME / … placeholders */
  scrub(text: string): string;
  stop(): Promise<void>;
}

const q = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`;

export function configToml(o: { mockUrl: string; projects: string[]; notify: string[] }): string {
  const lines = [
    'model = "gpt-mock"',
    'model_provider = "mock"',
    'approval_policy = "on-request"',
    'sandbox_mode = "workspace-write"',
    "check_for_update_on_startup = false",
    `notify = [${o.notify.map((a) => JSON.stringify(a)).join(", ")}]`,
    "",
    "[model_providers.mock]",
    'name = "Mock"',
    `base_url = ${JSON.stringify(o.mockUrl)}`,
    'wire_api = "responses"',
    'env_key = "MOCK_API_KEY"',
    "requires_openai_auth = false",
    "request_max_retries = 0",
    "stream_max_retries = 0",
    "",
  ];
  for (const p of o.projects) lines.push(`[projects.${JSON.stringify(p)}]`, 'trust_level = "trusted"', "");
  lines.push("[tui]", "screen_reader_detection_done = true", "notifications = true", 'notification_method = "bel"', 'notification_condition = "always"', "");
  return lines.join("\n");
}

export function hooksJson(o: { node: string; logFile: string }): string {
  const hooks: Record<string, unknown> = {};
  for (const e of HOOK_EVENTS) {
    hooks[e] = [{ matcher: "*", hooks: [{ type: "command", command: `${q(o.node)} ${q(LOGGER)} hook ${e} ${q(o.logFile)}` }] }];
  }
  return `${JSON.stringify({ hooks }, null, 2)}\n`;
}

function readJsonl<T>(path: string): T[] {
  if (!existsSync(path)) return [];
  const out: T[] = [];
  for (const line of readFileSync(path, "utf8").split("\n")) {
    if (line.trim() === "") continue;
    try {
      out.push(JSON.parse(line) as T);
    } catch {
      // a line being written
    }
  }
  return out;
}

function trimScreen(s: string): string {
  return s
    .split("\n")
    .map((l) => l.replace(/\s+$/, ""))
    .join("\n")
    .replace(/\n+$/, "\n");
}

export async function startCodexLab(opts: CodexLabOptions = {}): Promise<CodexLab> {
  const node = Bun.which("node");
  if (node === null) throw new Error("node is not on PATH");
  const root = tempDir("codexlab-");
  const home = join(root, "home");
  const codexHome = join(home, ".codex");
  const bin = join(root, "bin");
  const names = opts.projects ?? ["proj"];
  const projects = names.map((n) => join(home, n));
  for (const d of [codexHome, bin, ...projects]) mkdirSync(d, { recursive: true, mode: 0o700 });
  symlinkSync(CODEX_BIN, join(bin, "codex"));
  const hooksLog = join(root, "hooks.jsonl");
  const notifyLog = join(root, "notify.jsonl");
  const fake = await startFakeOpenAI(opts.script === undefined ? {} : { script: opts.script });

  writeFileSync(join(codexHome, "config.toml"), configToml({ mockUrl: fake.url, projects, notify: [node, LOGGER, "notify", "-", notifyLog] }), { mode: 0o600 });
  writeFileSync(join(codexHome, "hooks.json"), hooksJson({ node, logFile: hooksLog }));

  const env: Record<string, string> = {
    HOME: home,
    CODEX_HOME: codexHome,
    MOCK_API_KEY: "mock-key",
    PATH: [bin, dirname(node), "/usr/local/bin", "/usr/bin", "/bin"].join(":"),
    TERM: "tmux-256color",
    LANG: "C.UTF-8",
    PS1: "$ ",
    TZ: "UTC",
  };
  const shell = (dir: string): string[] => ["env", "-C", dir, ...Object.entries(env).map(([k, v]) => `${k}=${v}`), "bash", "--norc", "--noprofile", "-i"];
  let trust: TrustResult;
  let tmux: TmuxServer;
  try {
    trust = await trustCodexHooks({ codexBin: CODEX_BIN, env, cwds: projects });
    tmux = await startTmuxServer({ session: "lab", command: shell(projects[0] as string), width: opts.width ?? 200, height: opts.height ?? 50 });
  } catch (err) {
    await fake.stop();
    throw err;
  }
  const panes: LabPane[] = [];
  const paneInfo = async (target: string): Promise<{ id: string; pid: number }> => {
    const out = (await tmux.run("display-message", "-p", "-t", target, "#{pane_id} #{pane_pid}")).trim();
    const [id, pid] = out.split(" ");
    return { id: id as string, pid: Number(pid) };
  };
  const first = await paneInfo("lab:0.0");
  panes.push({ id: first.id, project: projects[0] as string, panePid: first.pid });

  const appEvents: AppServerRecord[] = [];
  const clients: CodexAppServerClient[] = [];
  const socketPath = join(codexHome, "app-server-control", "app-server-control.sock");
  let t0 = Date.now();

  const capture = async (p: LabPane): Promise<string> => trimScreen(await tmux.run("capture-pane", "-p", "-t", p.id));
  const scrubPairs: [string, string][] = [];
  const scrub = (text: string): string => {
    let s = text;
    for (const [from, to] of scrubPairs) s = s.split(from).join(to);
    // what is left of temp roots (e.g. a path the TUI wrapped over two screen lines)
    return s.replace(/\/tmp\/agtmux-[A-Za-z0-9_-]+/g, "$TMPROOT");
  };

  const lab: CodexLab = {
    root,
    home,
    codexHome,
    projects,
    fake,
    tmux,
    hooksLog,
    notifyLog,
    socketPath,
    trust,
    t0,
    env,
    panes,
    appEvents,
    async openPane(projectIndex = 0) {
      const dir = projects[projectIndex] as string;
      const out = (await tmux.run("new-window", "-d", "-t", "lab", "-P", "-F", "#{pane_id}", ...shell(dir))).trim();
      const info = await paneInfo(out);
      const p = { id: info.id, project: dir, panePid: info.pid };
      panes.push(p);
      return p;
    },
    async startCodex(p, args = []) {
      await waitFor(async () => (await capture(p)).includes("$"), { timeoutMs: 5_000, message: `shell prompt in ${p.id}` });
      await tmux.run("send-keys", "-t", p.id, "-l", ["codex", ...args].join(" "));
      await tmux.run("send-keys", "-t", p.id, "Enter");
      // the footer shows the model once the TUI has attached to its thread ("loading" before)
      await lab.waitScreen(p, /gpt-mock .*·/, 20_000);
    },
    async prompt(p, text) {
      await tmux.run("send-keys", "-t", p.id, "-l", text);
      await Bun.sleep(250);
      await tmux.run("send-keys", "-t", p.id, "Enter");
    },
    async keys(p, ...keys) {
      await tmux.run("send-keys", "-t", p.id, ...keys);
    },
    capture,
    async title(p) {
      return (await tmux.run("display-message", "-p", "-t", p.id, "#{pane_title}")).replace(/\n$/, "");
    },
    async waitScreen(p, re, timeoutMs = 15_000) {
      let last = "";
      try {
        return await waitFor(
          async () => {
            last = await capture(p);
            return re.test(last) ? last : undefined;
          },
          { timeoutMs, intervalMs: 50, message: `${re} on ${p.id}` },
        );
      } catch (err) {
        throw new Error(`${err instanceof Error ? err.message : String(err)}\n--- screen ${p.id} ---\n${last}`, { cause: err });
      }
    },
    hooks: () => readJsonl<HookRecord>(hooksLog),
    notifies: () => readJsonl<NotifyRecord>(notifyLog),
    appServer(o = {}) {
      const c = new CodexAppServerClient({ socketPath, reconnect: { initialDelayMs: 100, maxDelayMs: 1_000 }, allNotifications: o.allNotifications ?? false });
      c.on((event) => appEvents.push({ t: Date.now() - lab.t0, event }));
      c.start();
      clients.push(c);
      return c;
    },
    daemonPid() {
      try {
        const j = JSON.parse(readFileSync(join(codexHome, "app-server-daemon", "daemon.pid"), "utf8")) as { pid?: unknown };
        return typeof j.pid === "number" ? j.pid : null;
      } catch {
        return null;
      }
    },
    paneProcesses(p) {
      const table = readProcTable();
      const out: ProcInfo[] = [];
      const walk = (pid: number): void => {
        const pi = table.byPid.get(pid);
        if (pi) out.push(pi);
        for (const c of table.children.get(pid) ?? []) walk(c);
      };
      walk(p.panePid);
      return out;
    },
    tuiProcess(p) {
      const procs = lab.paneProcesses(p);
      return procs.find((pi) => pi.comm === "codex" && !(pi.argv[1] ?? "").startsWith("app-server")) ?? null;
    },
    scrub,
    async stop() {
      for (const c of clients) await c.close();
      let daemonSocket: string | null = null;
      try {
        daemonSocket = readlinkSync(socketPath);
      } catch {
        // no daemon ever started
      }
      await tmux.kill().catch(() => {});
      const pids: number[] = [];
      const daemon = lab.daemonPid();
      if (daemon !== null) pids.push(daemon);
      try {
        const j = JSON.parse(readFileSync(join(codexHome, "app-server-daemon", "daemon-updater.pid"), "utf8")) as { pid?: unknown };
        if (typeof j.pid === "number") pids.push(j.pid);
      } catch {
        // no updater
      }
      if (daemon !== null) {
        const p = Bun.spawn([CODEX_BIN, "app-server", "daemon", "stop"], { env, stdout: "ignore", stderr: "ignore" });
        const timer = setTimeout(() => p.kill(), 10_000);
        await p.exited;
        clearTimeout(timer);
      }
      for (const pid of pids) {
        try {
          process.kill(pid, "SIGTERM");
        } catch {
          // gone
        }
      }
      if (daemonSocket !== null && daemonSocket.startsWith("/tmp/codex-daemon-")) rmSync(daemonSocket, { force: true });
      await fake.stop();
    },
  };
  scrubPairs.push([CODEX_BIN.replace(/\/\.bin\/codex$/, ""), "$AGENTS_NODE_MODULES"], [resolve(AGENTS_DIR, "node_modules"), "$AGENTS_NODE_MODULES"], [LOGGER, "$LOGGER"]);
  projects
    .map((p, i) => [p, i === 0 ? "$PROJECT" : `$PROJECT${i + 1}`] as [string, string])
    .toSorted((a, b) => b[0].length - a[0].length)
    .forEach((pair) => scrubPairs.push(pair));
  scrubPairs.push([home, "$HOME"], [root, "$LAB"], [node, "$NODE"], [process.env.TMUX_TMPDIR ?? "/nonexistent-tmux-tmpdir", "$TMUX_TMPDIR"], [`127.0.0.1:${fake.port}`, "127.0.0.1:$MOCK_PORT"]);
  t0 = Date.now();
  lab.t0 = t0;
  return lab;
}
