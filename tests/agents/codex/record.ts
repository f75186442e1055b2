/**
 * Records the Codex 0.169.0 fixtures under tests/fixtures/codex/0.169.0/<scenario>/
 * by driving the real CLI in tmux (harness.ts) against the fake OpenAI server.
 * Not a test; run by hand (≈4 min for all, 2.5 of them in quit-kill):
 *
 *   node_modules/.bin/bun tests/agents/codex/record.ts            # every scenario
 *   node_modules/.bin/bun tests/agents/codex/record.ts plain error
 *
 * Each scenario gets a fresh HOME/CODEX_HOME (so a fresh daemon) and writes
 * hooks.jsonl, notify.jsonl, appserver.jsonl (with `t` = ms since the
 * scenario started), rollout*.jsonl, screens/*.txt, titles.json,
 * model-requests.json and, where relevant, processes.json / mapping.json.
 * Lab paths are replaced by $HOME, $PROJECT, … placeholders.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { CodexAppServerClient, CodexAppServerEvent, CodexThreadInfo } from "../../../src/adapters/codex/appserver.ts";
import type { ProcInfo } from "../../../src/procs/types.ts";
import { waitFor } from "../../helpers/wait.ts";
import { removeTempDirs } from "../../tmux/harness.ts";
import { type CodexLab, type LabPane, startCodexLab } from "./harness.ts";

// the isolation tests/helpers/preload.ts gives bun test
const ROOT = mkdtempSync(join(tmpdir(), "agtmux-codexrec-"));
for (const d of ["home", "tmux"]) mkdirSync(join(ROOT, d), { recursive: true, mode: 0o700 });
process.env.AGTMUX_TEST_ROOT = ROOT;
process.env.TMUX_TMPDIR = join(ROOT, "tmux");
process.env.HOME = join(ROOT, "home");
process.env.TZ = "UTC";
for (const k of Object.keys(process.env)) if (/^(TMUX|TMUX_PANE|CODEX_.*|OPENAI_.*)$/.test(k)) delete process.env[k];

const OUT = resolve(import.meta.dir, "../../fixtures/codex/0.169.0");

class Recorder {
  readonly dir: string;
  private shotN = 0;
  readonly titles: { t: number; pane: string; title: string }[] = [];
  private titleTimer: ReturnType<typeof setInterval> | null = null;
  readonly notes: Record<string, unknown> = {};
  /** thread id -> the pane its prompts were typed in (ground truth, for the legend) */
  readonly truth = new Map<string, string>();
  client!: CodexAppServerClient;

  constructor(
    readonly name: string,
    readonly lab: CodexLab,
  ) {
    this.dir = join(OUT, name);
    rmSync(this.dir, { recursive: true, force: true });
    mkdirSync(join(this.dir, "screens"), { recursive: true });
  }

  t(): number {
    return Date.now() - this.lab.t0;
  }

  label(p: LabPane): string {
    return this.lab.panes.length > 1 ? `pane${this.lab.panes.indexOf(p) + 1}-` : "";
  }

  async shot(p: LabPane, what: string): Promise<string> {
    const screen = await this.lab.capture(p);
    this.shotN++;
    writeFileSync(join(this.dir, "screens", `${String(this.shotN).padStart(2, "0")}-${this.label(p)}${what}.txt`), this.lab.scrub(screen));
    return screen;
  }

  startTitles(): void {
    const last = new Map<string, string>();
    let busy = false;
    this.titleTimer = setInterval(async () => {
      if (busy) return;
      busy = true;
      try {
        for (const p of this.lab.panes) {
          const title = await this.lab.title(p).catch(() => "<gone>");
          if (last.get(p.id) !== title) {
            last.set(p.id, title);
            this.titles.push({ t: this.t(), pane: p.id, title: this.lab.scrub(title) });
          }
        }
      } finally {
        busy = false;
      }
    }, 100);
  }

  /** waits for an app-server event matching pred that arrived after `since` (ms, lab time) */
  async app(pred: (e: CodexAppServerEvent) => boolean, what: string, timeoutMs = 15_000, since = 0): Promise<CodexAppServerEvent> {
    const hit = await waitFor(() => this.lab.appEvents.find((r) => r.t >= since && pred(r.event))?.event, { timeoutMs, message: what });
    return hit;
  }

  async hook(event: string, what: string, timeoutMs = 15_000, count = 1): Promise<void> {
    await waitFor(() => this.lab.hooks().filter((h) => h.event === event).length >= count, { timeoutMs, message: what });
  }

  /** the non-ephemeral threads the daemon has loaded (read now) */
  async threads(): Promise<CodexThreadInfo[]> {
    const out: CodexThreadInfo[] = [];
    for (const id of await this.client.loadedThreads()) {
      const t = await this.client.readThread(id).catch(() => null);
      if (t && !t.ephemeral) out.push(t);
    }
    return out;
  }

  async finish(threadsGiven: CodexThreadInfo[] = []): Promise<void> {
    await Bun.sleep(500);
    // fresh metadata (preview is set by the first prompt) and the last turn's outcome, while the daemon still runs
    const threadsForRollout: CodexThreadInfo[] = [];
    const lastTurns: Record<string, unknown> = {};
    for (const t of threadsGiven) {
      threadsForRollout.push(this.client.connected ? await this.client.readThread(t.id).catch(() => t) : t);
      if (this.client.connected) lastTurns[t.id] = await this.client.lastTurn(t.id).catch((e: unknown) => String(e));
    }
    this.notes.lastTurns = lastTurns;
    if (this.titleTimer) clearInterval(this.titleTimer);
    const lab = this.lab;
    const s = (v: unknown): string => lab.scrub(JSON.stringify(v));
    const hooks = lab.hooks().map((h) => ({ t: h.timeMs - lab.t0, ...h }));
    writeFileSync(join(this.dir, "hooks.jsonl"), hooks.map((h) => s(h)).join("\n") + (hooks.length ? "\n" : ""));
    const notifies = lab.notifies().map((n) => ({ t: n.timeMs - lab.t0, ...n }));
    writeFileSync(join(this.dir, "notify.jsonl"), notifies.map((n) => s(n)).join("\n") + (notifies.length ? "\n" : ""));
    writeFileSync(join(this.dir, "appserver.jsonl"), lab.appEvents.map((e) => s(e)).join("\n") + (lab.appEvents.length ? "\n" : ""));
    writeFileSync(join(this.dir, "titles.json"), `${JSON.stringify(this.titles, null, 1)}\n`);
    const reqs = lab.fake.requests.map((r) => ({
      t: r.at - lab.t0,
      method: r.method,
      path: r.path,
      kind: r.kind,
      reply: r.reply,
      aborted: r.aborted ?? false,
      lastInput: lastInput(r.body),
    }));
    writeFileSync(join(this.dir, "model-requests.json"), `${lab.scrub(JSON.stringify(reqs, null, 1))}\n`);
    const paths = threadsForRollout.map((t) => t.path).filter((p): p is string => p !== null);
    paths.forEach((p, i) => {
      if (!existsSync(p)) return;
      const name = paths.length === 1 ? "rollout.jsonl" : `rollout-${i + 1}.jsonl`;
      writeFileSync(join(this.dir, name), lab.scrub(elideRollout(readFileSync(p, "utf8"))));
    });
    writeFileSync(join(this.dir, "notes.json"), `${lab.scrub(JSON.stringify(this.notes, null, 1))}\n`);
    const legend = new Map<string, string>();
    for (const t of threadsForRollout) legend.set(t.id, `cwd=${t.cwd} preview=${JSON.stringify(t.preview)}${this.truth.has(t.id) ? ` typed-in=${this.truth.get(t.id)}` : ""}`);
    writeFileSync(join(this.dir, "sequence.txt"), lab.scrub(timeline(lab, this.titles, legend)));
  }
}

/** One merged, human-readable timeline (ms since the scenario start) of every source. */
function timeline(lab: CodexLab, titles: { t: number; pane: string; title: string }[], info: Map<string, string>): string {
  const labels = new Map<string, string>();
  const ephemeral = new Set<string>();
  for (const r of lab.appEvents) if (r.event.type === "thread/started" && r.event.thread.ephemeral) ephemeral.add(r.event.thread.id);
  let n = 0;
  let e = 0;
  const L = (id: unknown): string => {
    if (typeof id !== "string") return String(id);
    let l = labels.get(id);
    if (l === undefined) {
      l = ephemeral.has(id) ? `eph${++e}` : `T${++n}`;
      labels.set(id, l);
    }
    return l;
  };
  const rows: [number, string][] = [];
  for (const { t, event: ev } of lab.appEvents) {
    switch (ev.type) {
      case "thread/status/changed":
        rows.push([t, `app    ${ev.type} ${L(ev.threadId)} ${ev.status.type}${ev.status.type === "active" ? `[${ev.status.activeFlags.join(",")}]` : ""}`]);
        break;
      case "thread/started":
        rows.push([t, `app    thread/started ${L(ev.thread.id)} ephemeral=${ev.thread.ephemeral} source=${ev.thread.source}`]);
        break;
      case "thread/closed":
        rows.push([t, `app    thread/closed ${L(ev.threadId)}`]);
        break;
      case "turn/started":
      case "turn/completed":
        rows.push([t, `app    ${ev.type} ${L(ev.threadId)} ${ev.turn.status}`]);
        break;
      case "connected":
      case "disconnected":
        rows.push([t, `app    (${ev.type})`]);
        break;
      case "notification":
        if (ev.method !== "configWarning" && ev.method !== "remoteControl/status/changed") {
          const p = ev.params as Record<string, unknown> | null;
          rows.push([t, `app    ${ev.method}${p && typeof p.threadId === "string" ? ` ${L(p.threadId)}` : ""}`]);
        }
        break;
    }
  }
  for (const h of lab.hooks()) {
    const extra = h.event === "PreToolUse" || h.event === "PermissionRequest" || h.event === "PostToolUse" ? ` tool=${String(h.stdin.tool_name)}` : h.event === "SessionEnd" || h.event === "SessionStart" ? ` ${String(h.stdin.reason ?? h.stdin.source ?? "")}` : "";
    rows.push([h.timeMs - lab.t0, `hook   ${h.event} ${L(h.stdin.session_id)} TMUX_PANE=${h.env.TMUX_PANE ?? "-"} ppid=${h.ppid}(${h.parents[0]?.argv.slice(1, 3).join(" ") || h.parents[0]?.comm || "?"})${extra}`]);
  }
  for (const x of lab.notifies()) rows.push([x.timeMs - lab.t0, `notify ${x.event} ${L(x.payload["thread-id"])} TMUX_PANE=${x.env.TMUX_PANE ?? "-"}`]);
  for (const r of lab.fake.requests) rows.push([r.at - lab.t0, `model  ${r.method} ${r.path} ${r.kind}${r.reply ? ` -> ${r.reply.kind}` : ""}${r.aborted ? " (aborted by client)" : ""}`]);
  // spinner frames collapsed: a title row only when the title changes class
  const lastTitle = new Map<string, string>();
  for (const x of titles) {
    const cls = x.title.replace(/^[\u2800-\u28ff] /, "<spinner> ").replace(/^\[ [.!] \]/, "[ . ]");
    if (lastTitle.get(x.pane) === cls) continue;
    lastTitle.set(x.pane, cls);
    rows.push([x.t, `title  ${x.pane} ${JSON.stringify(cls)}`]);
  }
  rows.sort((a, b) => a[0] - b[0]);
  const legend = [...labels].map(([id, l]) => `# ${l} = ${id}${info.has(id) ? ` ${info.get(id)}` : ephemeral.has(id) ? " (ephemeral title thread)" : ""}`).join("\n");
  return `${legend}\n${rows.map(([t, s]) => `${String(t).padStart(6)} ${s}`).join("\n")}\n`;
}

/** Rollout lines with every string longer than 2,000 chars (base instructions, tool specs) elided: structure kept, bulk dropped. */
export function elideRollout(text: string): string {
  const elide = (v: unknown): unknown => {
    if (typeof v === "string") return v.length > 2000 ? `<elided ${v.length} chars>` : v;
    if (Array.isArray(v)) return v.map(elide);
    if (typeof v === "object" && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, elide(x)]));
    return v;
  };
  return text
    .split("\n")
    .map((line) => {
      if (line.trim() === "") return line;
      try {
        return JSON.stringify(elide(JSON.parse(line)));
      } catch {
        return line;
      }
    })
    .join("\n");
}

function lastInput(body: unknown): unknown {
  if (typeof body !== "object" || body === null) return null;
  const input = (body as { input?: unknown }).input;
  if (!Array.isArray(input) || input.length === 0) return null;
  const last = input[input.length - 1] as Record<string, unknown>;
  const text = JSON.stringify(last);
  return text.length > 300 ? `${text.slice(0, 300)}…` : last;
}

const isStatus = (threadId: string, type: string, flag?: string) => (e: CodexAppServerEvent) =>
  e.type === "thread/status/changed" &&
  e.threadId === threadId &&
  e.status.type === type &&
  (flag === undefined || (e.status.type === "active" && (flag === "" ? e.status.activeFlags.length === 0 : e.status.activeFlags.includes(flag))));

function procSummary(p: ProcInfo): Record<string, unknown> {
  return { pid: p.pid, ppid: p.ppid, comm: p.comm, started_at: p.started_at, started_iso: new Date(p.started_at).toISOString(), argv: p.argv };
}

/** starts the lab, a codex in pane 1, the passive client; returns the main thread */
async function begin(name: string, opts: { projects?: string[]; codexArgs?: string[] } = {}): Promise<{ r: Recorder; lab: CodexLab; pane: LabPane }> {
  const lab = await startCodexLab(opts.projects ? { projects: opts.projects } : {});
  const r = new Recorder(name, lab);
  r.startTitles();
  const pane = lab.panes[0] as LabPane;
  r.client = lab.appServer({ allNotifications: true });
  await lab.startCodex(pane, opts.codexArgs ?? []);
  await r.shot(pane, "started");
  return { r, lab, pane };
}

async function mainThread(r: Recorder, cwd?: string): Promise<CodexThreadInfo> {
  await waitFor(() => r.client.connected, { timeoutMs: 10_000, message: "app-server client connected" });
  return waitFor(async () => (await r.threads()).find((t) => cwd === undefined || t.cwd === cwd), { timeoutMs: 10_000, message: "main thread loaded" });
}

const scenarios: Record<string, () => Promise<void>> = {
  /** (a) one plain turn */
  async plain() {
    const { r, lab, pane } = await begin("plain");
    try {
      const th = await mainThread(r);
      r.notes.threadAtStart = th;
      const since = r.t();
      await lab.prompt(pane, "hello there");
      await r.app(isStatus(th.id, "idle"), "idle after the turn", 15_000, since + 1);
      await lab.waitScreen(pane, /Worked for/);
      await r.hook("Stop", "Stop hook");
      await waitFor(() => lab.notifies().length >= 1, { message: "notify" });
      await r.shot(pane, "completed");
      r.notes.threadAfter = await r.client.readThread(th.id);
      await r.finish([th]);
    } finally {
      await lab.stop();
    }
  },

  /** (b) approval requested, approved with `y` */
  async "approval-approve"() {
    const { r, lab, pane } = await begin("approval-approve");
    try {
      const th = await mainThread(r);
      const since = r.t();
      await lab.prompt(pane, "run ls -la /tmp");
      await r.app(isStatus(th.id, "active", "waitingOnApproval"), "waitingOnApproval", 15_000, since);
      await lab.waitScreen(pane, /Would you like to run/);
      await r.hook("PermissionRequest", "PermissionRequest hook");
      await Bun.sleep(1500); // let the title alternate
      await r.shot(pane, "approval");
      r.notes.threadWhileWaiting = await r.client.readThread(th.id);
      const approveAt = r.t();
      r.notes.approveAt = approveAt;
      await lab.keys(pane, "y");
      await r.app(isStatus(th.id, "idle"), "idle after approval", 15_000, approveAt);
      await lab.waitScreen(pane, /Worked for/);
      await r.hook("Stop", "Stop hook");
      await r.shot(pane, "completed");
      await r.finish([th]);
    } finally {
      await lab.stop();
    }
  },

  /** (c) approval requested, rejected with Escape */
  async "approval-reject"() {
    const { r, lab, pane } = await begin("approval-reject");
    try {
      const th = await mainThread(r);
      const since = r.t();
      await lab.prompt(pane, "run rm -rf ./build");
      await r.app(isStatus(th.id, "active", "waitingOnApproval"), "waitingOnApproval", 15_000, since);
      await lab.waitScreen(pane, /Would you like to run/);
      await r.shot(pane, "approval");
      const rejectAt = r.t();
      r.notes.rejectAt = rejectAt;
      await lab.keys(pane, "Escape");
      await r.app((e) => e.type === "thread/status/changed" && e.threadId === th.id && !(e.status.type === "active" && e.status.activeFlags.includes("waitingOnApproval")), "status after reject", 15_000, rejectAt);
      await Bun.sleep(3000);
      await r.shot(pane, "rejected");
      r.notes.threadAfter = await r.client.readThread(th.id);
      await r.finish([th]);
    } finally {
      await lab.stop();
    }
  },

  /** (d) Escape during a slow streaming turn */
  async interrupt() {
    const { r, lab, pane } = await begin("interrupt");
    try {
      const th = await mainThread(r);
      const since = r.t();
      await lab.prompt(pane, "slow answer please");
      await r.app(isStatus(th.id, "active", ""), "active", 15_000, since);
      await lab.waitScreen(pane, /esc to interrupt/);
      await Bun.sleep(2000);
      await r.shot(pane, "running");
      const escAt = r.t();
      r.notes.escapeAt = escAt;
      await lab.keys(pane, "Escape");
      await r.app(isStatus(th.id, "idle"), "idle after interrupt", 15_000, escAt);
      await lab.waitScreen(pane, /interrupted/);
      await Bun.sleep(1000);
      await r.shot(pane, "interrupted");
      await r.finish([th]);
    } finally {
      await lab.stop();
    }
  },

  /** (extra) Plan mode (Shift+Tab) question via request_user_input, answered with Enter */
  async question() {
    const { r, lab, pane } = await begin("question");
    try {
      const th = await mainThread(r);
      await lab.keys(pane, "BTab");
      await lab.waitScreen(pane, /Plan mode/);
      const since = r.t();
      await lab.prompt(pane, "ask Which database should we use?");
      await r.app(isStatus(th.id, "active", "waitingOnUserInput"), "waitingOnUserInput", 15_000, since);
      await lab.waitScreen(pane, /enter to submit answer/);
      await Bun.sleep(1500);
      await r.shot(pane, "question");
      r.notes.threadWhileWaiting = await r.client.readThread(th.id);
      const answerAt = r.t();
      r.notes.answerAt = answerAt;
      await lab.keys(pane, "Enter");
      await r.app(isStatus(th.id, "idle"), "idle after the answer", 15_000, answerAt);
      await lab.waitScreen(pane, /Worked for/);
      await r.hook("Stop", "Stop hook");
      await r.shot(pane, "answered");
      await r.finish([th]);
    } finally {
      await lab.stop();
    }
  },

  /** (e) the model answers HTTP 400; then a normal prompt recovers */
  async "model-error"() {
    const { r, lab, pane } = await begin("model-error");
    try {
      const th = await mainThread(r);
      const since = r.t();
      await lab.prompt(pane, "please fail400 now");
      await r.app(isStatus(th.id, "systemError"), "systemError", 15_000, since);
      await Bun.sleep(1500);
      await r.shot(pane, "error");
      r.notes.threadWhileError = await r.client.readThread(th.id);
      const again = r.t();
      r.notes.recoverPromptAt = again;
      await lab.prompt(pane, "hello again");
      await r.app(isStatus(th.id, "idle"), "idle after recovery", 15_000, again);
      await lab.waitScreen(pane, /Worked for/);
      await r.shot(pane, "recovered");
      await r.finish([th]);
    } finally {
      await lab.stop();
    }
  },

  /** (f) three daemon-mode TUIs: %A in proj (starts the daemon), %B in proj2, %C in proj again */
  async "two-panes"() {
    const lab = await startCodexLab({ projects: ["proj", "proj2"] });
    const r = new Recorder("two-panes", lab);
    try {
      r.startTitles();
      r.client = lab.appServer({ allNotifications: true });
      const a = lab.panes[0] as LabPane;
      const b = await lab.openPane(1);
      await lab.startCodex(a);
      await Bun.sleep(1500);
      await lab.startCodex(b);
      await waitFor(() => r.client.connected, { timeoutMs: 10_000, message: "connected" });
      await waitFor(async () => (await r.threads()).length >= 2, { timeoutMs: 10_000, message: "two threads" });
      await Bun.sleep(3000);
      const c = await lab.openPane(0);
      await lab.startCodex(c);
      await waitFor(async () => (await r.threads()).length >= 3, { timeoutMs: 10_000, message: "three threads" });
      for (const p of [a, b, c]) await r.shot(p, "started");
      const atStart = await r.threads();
      // prompt B first, then A, then C
      await lab.prompt(b, "hello from pane two");
      await waitFor(() => lab.notifies().length >= 1, { message: "notify B" });
      await lab.prompt(a, "hello from pane one");
      await waitFor(() => lab.notifies().filter((n) => n.payload["input-messages"] !== undefined && JSON.stringify(n.payload["input-messages"]).includes("pane one")).length >= 1, { message: "notify A" });
      await lab.prompt(c, "run ls -la /tmp");
      await r.hook("PermissionRequest", "PermissionRequest C");
      await lab.waitScreen(c, /Would you like to run/);
      for (const p of [a, b, c]) await r.shot(p, "after-prompts");
      await lab.keys(c, "y");
      await r.hook("Stop", "Stop x3", 15_000, 3);
      const threads = await r.threads();
      const typed: [LabPane, string][] = [
        [a, "hello from pane one"],
        [b, "hello from pane two"],
        [c, "run ls -la /tmp"],
      ];
      for (const t of threads) for (const [p, text] of typed) if (t.preview === text) r.truth.set(t.id, p.id);
      const panes: { pane: string; pane_pid: number; cwd: string; pane_current_command: string; tui: Record<string, unknown> | null; processes: Record<string, unknown>[] }[] = [];
      for (const p of [a, b, c]) {
        const procs = lab.paneProcesses(p);
        const tui = lab.tuiProcess(p);
        panes.push({
          pane: p.id,
          pane_pid: p.panePid,
          cwd: (await lab.tmux.run("display-message", "-p", "-t", p.id, "#{pane_current_path}")).trim(),
          pane_current_command: (await lab.tmux.run("display-message", "-p", "-t", p.id, "#{pane_current_command}")).trim(),
          tui: tui ? procSummary(tui) : null,
          processes: procs.map(procSummary),
        });
      }
      const daemon = lab.daemonPid();
      r.notes.daemonPid = daemon;
      r.notes.panes = panes;
      r.notes.threadsAtStart = atStart;
      r.notes.threads = threads;
      const hooks = lab.hooks();
      r.notes.hookPanes = hooks.map((h) => ({ event: h.event, TMUX_PANE: h.env.TMUX_PANE ?? null, ppid: h.ppid, chain: h.parents.map((x) => `${x.pid}:${x.comm}`).join("<"), session_id: h.stdin.session_id, cwd: h.stdin.cwd }));
      // the mapping evidence: per thread, the TUI processes whose cwd matches, with creation - start deltas
      r.notes.mapping = threads.map((t) => ({
        thread: t.id,
        cwd: t.cwd,
        preview: t.preview,
        typedIn: r.truth.get(t.id) ?? null,
        createdAtMs: t.createdAtMs,
        candidates: panes
          .filter((p) => p.cwd === t.cwd && p.tui !== null)
          .map((p) => ({ pane: p.pane, tuiStartedAt: p.tui?.started_at, deltaMs: t.createdAtMs - Number(p.tui?.started_at) })),
      }));
      writeFileSync(join(r.dir, "mapping.json"), `${lab.scrub(JSON.stringify({ daemonPid: daemon, panes, threads, mapping: r.notes.mapping, hookPanes: r.notes.hookPanes }, null, 1))}\n`);
      await r.finish(threads);
    } finally {
      await lab.stop();
    }
  },

  /** (g) codex --no-daemon: plain turn + approval, hooks from the TUI itself, then /quit */
  async "no-daemon"() {
    const { r, lab, pane } = await begin("no-daemon", { codexArgs: ["--no-daemon"] });
    try {
      await Bun.sleep(1500);
      r.notes.socketExists = existsSync(lab.socketPath);
      r.notes.clientConnected = r.client.connected;
      await lab.prompt(pane, "hello there");
      await lab.waitScreen(pane, /Worked for/);
      await r.hook("Stop", "Stop hook");
      await r.shot(pane, "completed");
      await lab.prompt(pane, "run ls -la /tmp");
      await lab.waitScreen(pane, /Would you like to run/);
      await r.hook("PermissionRequest", "PermissionRequest");
      await r.shot(pane, "approval");
      await lab.keys(pane, "y");
      await r.hook("Stop", "Stop hook 2", 15_000, 2);
      await lab.waitScreen(pane, /Done running the command/);
      const tui = lab.tuiProcess(pane);
      r.notes.tui = tui ? procSummary(tui) : null;
      r.notes.processes = lab.paneProcesses(pane).map(procSummary);
      r.notes.panePid = pane.panePid;
      r.notes.pane = pane.id;
      const quitAt = r.t();
      r.notes.quitAt = quitAt;
      await lab.prompt(pane, "/quit");
      await lab.waitScreen(pane, /codex resume/);
      await r.hook("SessionEnd", "SessionEnd", 10_000).catch(() => {
        r.notes.sessionEnd = "not seen within 10 s";
      });
      await r.shot(pane, "quit");
      r.notes.socketExistsAtEnd = existsSync(lab.socketPath);
      const sessions = lab.hooks().find((h) => h.event === "SessionStart");
      const path = sessions?.stdin.transcript_path;
      if (typeof path === "string") writeFileSync(join(r.dir, "rollout.jsonl"), lab.scrub(elideRollout(readFileSync(path, "utf8"))));
      await r.finish([]);
    } finally {
      await lab.stop();
    }
  },

  /** (h) daemon mode: /quit, then a new TUI killed with SIGKILL; watch the thread for 75 s each */
  async "quit-kill"() {
    const { r, lab, pane } = await begin("quit-kill");
    try {
      const th = await mainThread(r);
      await lab.prompt(pane, "hello there");
      await r.app(isStatus(th.id, "idle"), "idle", 15_000, r.t() - 5000);
      await lab.waitScreen(pane, /Worked for/);
      const quitAt = r.t();
      r.notes.quitAt = quitAt;
      await lab.prompt(pane, "/quit");
      await lab.waitScreen(pane, /codex resume|Disconnected/);
      await r.shot(pane, "quit");
      r.notes.loadedAfterQuit = await r.client.loadedThreads();
      const closed = await r.app((e) => e.type === "thread/closed" && e.threadId === th.id, "thread/closed after quit", 90_000, quitAt).catch(() => null);
      r.notes.closedAfterQuitMs = closed ? closed.receivedAt - (lab.t0 + quitAt) : "not within 90 s";
      await r.hook("SessionEnd", "SessionEnd after quit", 5_000).catch(() => {});
      // second TUI, killed
      await lab.startCodex(pane);
      const th2 = await waitFor(async () => (await r.threads()).find((t) => t.id !== th.id), { timeoutMs: 10_000, message: "second thread" });
      await lab.prompt(pane, "slow answer please");
      await r.app(isStatus(th2.id, "active", ""), "active 2", 15_000, r.t() - 3000);
      await Bun.sleep(1500);
      const tui = lab.tuiProcess(pane);
      r.notes.killedTui = tui ? procSummary(tui) : null;
      r.notes.processesBeforeKill = lab.paneProcesses(pane).map(procSummary);
      const killAt = r.t();
      r.notes.killAt = killAt;
      if (tui) process.kill(tui.pid, "SIGKILL");
      await Bun.sleep(1000);
      await r.shot(pane, "killed");
      r.notes.threadAfterKill = await r.client.readThread(th2.id).catch((e: unknown) => String(e));
      const closed2 = await r.app((e) => e.type === "thread/closed" && e.threadId === th2.id, "thread/closed after kill", 90_000, killAt).catch(() => null);
      r.notes.closedAfterKillMs = closed2 ? closed2.receivedAt - (lab.t0 + killAt) : "not within 90 s";
      r.notes.threadAfterClose = await r.client.readThread(th2.id).catch((e: unknown) => String(e));
      r.notes.loadedAtEnd = await r.client.loadedThreads();
      await r.finish([th, th2]);
    } finally {
      await lab.stop();
    }
  },
};

const wanted = process.argv.slice(2);
const names = wanted.length > 0 ? wanted : Object.keys(scenarios);
let failed = 0;
for (const n of names) {
  const fn = scenarios[n];
  if (!fn) {
    console.error(`unknown scenario ${n} (have: ${Object.keys(scenarios).join(", ")})`);
    failed++;
    continue;
  }
  const t = Date.now();
  try {
    await fn();
    console.log(`ok   ${n} (${((Date.now() - t) / 1000).toFixed(1)} s)`);
  } catch (err) {
    failed++;
    console.error(`FAIL ${n}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  }
}
removeTempDirs();
rmSync(ROOT, { recursive: true, force: true });
process.exit(failed === 0 ? 0 : 1);
