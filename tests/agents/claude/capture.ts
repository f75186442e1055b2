/**
 * Records the real Claude Code CLI's behaviour as fixtures:
 *
 *   node_modules/.bin/bun tests/agents/claude/capture.ts [scenario ...]
 *
 * Each scenario runs in a fresh lab (tests/agents/claude/harness.ts) and is
 * written to tests/fixtures/claude/<version>/<scenario>/ (see record.ts for
 * the files). With no argument every scenario runs (several minutes: the
 * default idle notification alone waits ~60 s). Loopback only.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

// isolation like tests/helpers/preload.ts (this runs outside `bun test`)
const runRoot = mkdtempSync(join(tmpdir(), "claude-capture-"));
mkdirSync(join(runRoot, "tmux"), { recursive: true, mode: 0o700 });
process.env.TMUX_TMPDIR = join(runRoot, "tmux");
process.env.AGTMUX_TEST_ROOT = runRoot;
for (const k of Object.keys(process.env)) {
  if (/^(TMUX|TMUX_PANE|ANTHROPIC_.*|CLAUDE.*|AGTMUX_(SOCKET|HOME|CONFIG))$/.test(k)) delete process.env[k];
}

const { apiError, bash, hold, slow, text, toolUse } = await import("../../fakes/anthropic.ts");
const { CLAUDE_BIN, startClaudeLab } = await import("./harness.ts");
const { hookLabel, transcriptKinds, writeFixture } = await import("./record.ts");
type Lab = Awaited<ReturnType<typeof startClaudeLab>>;
type LabOptions = NonNullable<Parameters<typeof startClaudeLab>[0]>;

const VERSION = "2.1.330";
const OUT = resolve(import.meta.dir, "..", "..", "fixtures", "claude", VERSION);

interface Scenario {
  name: string;
  summary: string;
  lab: LabOptions;
  run(lab: Lab, note: (msg: string) => void): Promise<void>;
}

const MANUAL = { permissions: { defaultMode: "default" } };

const isMain = (i: number) => (r: { kind: string; mainIndex?: number }) => r.kind === "main" && r.mainIndex === i;

async function settle(ms = 1_500): Promise<void> {
  await Bun.sleep(ms);
}

/** Prompts, waits for the main request `index` and the UserPromptSubmit hook. */
async function promptAndWait(lab: Lab, prompt: string, index: number): Promise<void> {
  const before = lab.hooks().length;
  await lab.prompt(prompt);
  await lab.waitHook("UserPromptSubmit", { after: before });
  await lab.fake.waitForRequest(isMain(index), 20_000);
}

/** The number of the "No" option of a permission dialog, read from the screen. */
function noOption(screen: string): string {
  const m = /(\d)\.\s+No\b/.exec(screen);
  if (m?.[1] === undefined) throw new Error(`no "No" option on screen:\n${screen}`);
  return m[1];
}

async function waitExit(lab: Lab, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await lab.claudePid()) === undefined) return;
    await Bun.sleep(100);
  }
  throw new Error("claude did not exit");
}

const scenarios: Scenario[] = [
  {
    name: "plain-turn",
    summary: "idle → prompt → (reply held open: running) → text reply → completed",
    lab: { fake: { script: [hold(text("Hello from the fake model."), "a")] } },
    async run(lab, note) {
      await lab.launch();
      await settle(1_000);
      await lab.snap("01-idle-after-start");
      await promptAndWait(lab, "Say hello", 0);
      await settle(1_500);
      await lab.snap("02-running");
      lab.fake.release("a");
      const stop = await lab.waitHook("Stop");
      note(`Stop hook at ${Date.parse(stop.time) - lab.t0} ms`);
      await lab.waitIdle();
      await lab.snap("03-completed");
      await settle(2_000);
      await lab.snap("04-completed-settled");
    },
  },
  {
    name: "bash-approve",
    summary: "manual permission mode: Bash tool_use → permission dialog (waiting_approval) → Enter on '1. Yes' → runs → completed",
    lab: {
      settings: MANUAL,
      fake: { script: [bash("echo hello-from-bash > out.txt && cat out.txt", "Write and show a file"), hold(text("The command printed hello-from-bash."), "b")] },
    },
    async run(lab, note) {
      await lab.launch();
      await lab.snap("01-idle");
      await promptAndWait(lab, "Run the command", 0);
      const pr = await lab.waitHook("PermissionRequest");
      await lab.waitScreen(/Do you want to proceed\?/);
      await lab.snap("02-waiting-approval");
      const n = await lab.waitHook("Notification", { timeoutMs: 15_000 });
      note(`Notification(${String((n.stdin as Record<string, unknown>).notification_type)}) ${Date.parse(n.time) - Date.parse(pr.time)} ms after PermissionRequest`);
      await lab.snap("03-waiting-approval-after-notification");
      await lab.answerDialog("Enter");
      await lab.waitHook("PostToolUse");
      await lab.fake.waitForRequest(isMain(1));
      await settle(1_000);
      await lab.snap("04-running-after-approve");
      lab.fake.release("b");
      await lab.waitHook("Stop");
      await lab.waitIdle();
      await lab.snap("05-completed");
      await settle();
    },
  },
  {
    name: "bash-reject",
    summary: "manual permission mode: Bash permission dialog → press the digit of 'No' → rejected",
    lab: { settings: MANUAL, fake: { script: [bash("echo should-not-run > nope.txt", "Write a file"), text("Understood.")] } },
    async run(lab, note) {
      await lab.launch();
      await promptAndWait(lab, "Run the command", 0);
      await lab.waitHook("PermissionRequest");
      const screen = await lab.waitScreen(/Do you want to proceed\?/);
      await lab.snap("01-waiting-approval");
      const no = noOption(screen);
      note(`pressing "${no}" (the "No" option): a digit only moves the selection`);
      await lab.keys(no);
      await settle(500);
      await lab.snap("02-no-selected");
      await lab.keys("Enter");
      await settle(1_000);
      await lab.snap("03-after-reject");
      await lab.waitIdle();
      await settle(2_500);
      await lab.snap("04-settled");
      note(`main requests after rejecting: ${lab.fake.mainRequests().length - 1}`);
    },
  },
  {
    name: "bash-reject-escape",
    summary: "manual permission mode: Bash permission dialog → Escape (cancel)",
    lab: { settings: MANUAL, fake: { script: [bash("echo should-not-run > nope.txt", "Write a file"), text("Understood.")] } },
    async run(lab, note) {
      await lab.launch();
      await promptAndWait(lab, "Run the command", 0);
      await lab.waitHook("PermissionRequest");
      await lab.waitScreen(/Do you want to proceed\?/);
      await lab.snap("01-waiting-approval");
      await lab.keys("Escape");
      await settle(1_000);
      await lab.snap("02-after-escape");
      await lab.waitIdle();
      await settle(2_500);
      await lab.snap("03-settled");
      note(`main requests after cancelling: ${lab.fake.mainRequests().length - 1}`);
    },
  },
  {
    name: "interrupt",
    summary: "a slow streaming reply interrupted with Escape, then a second one interrupted with C-c",
    lab: { fake: { script: [slow(60, 250), slow(60, 250)] } },
    async run(lab, note) {
      await lab.launch();
      await promptAndWait(lab, "Write a long essay", 0);
      await settle(3_000);
      await lab.snap("01-running-streaming");
      const before = lab.hooks().length;
      await lab.keys("Escape");
      await lab.waitIdle();
      await lab.snap("02-after-escape");
      await settle(2_500);
      await lab.snap("03-after-escape-settled");
      note(`hooks after Escape: ${lab.hooks().slice(before).map(hookLabel).join(", ") || "(none)"}`);
      await promptAndWait(lab, "Write another essay", 1);
      await settle(3_000);
      await lab.snap("04-running-2");
      const before2 = lab.hooks().length;
      await lab.keys("C-c");
      await lab.waitIdle();
      await lab.snap("05-after-ctrl-c");
      await settle(2_500);
      await lab.snap("06-after-ctrl-c-settled");
      note(`hooks after C-c: ${lab.hooks().slice(before2).map(hookLabel).join(", ") || "(none)"}`);
      note(`requests aborted by the client: ${lab.fake.requests.filter((r) => r.aborted === true).map((r) => `#${r.seq}`).join(", ") || "none"}`);
    },
  },
  {
    name: "interrupt-tool",
    summary: "a running Bash tool (a 30 s loop, pre-allowed by a permissions.allow rule) interrupted with Escape",
    lab: {
      settings: { permissions: { defaultMode: "default", allow: ["Bash"] } },
      fake: { script: [bash("for i in $(seq 30); do sleep 1; done; echo finished", "Wait a while"), text("after the loop")] },
    },
    async run(lab, note) {
      await lab.launch();
      await promptAndWait(lab, "Wait for a while", 0);
      await lab.waitHook("PreToolUse");
      await settle(2_500);
      await lab.snap("01-tool-running");
      const before = lab.hooks().length;
      await lab.keys("Escape");
      await lab.waitIdle();
      await lab.snap("02-after-escape");
      await settle(2_500);
      await lab.snap("03-settled");
      note(`hooks after Escape: ${lab.hooks().slice(before).map(hookLabel).join(", ") || "(none)"}`);
    },
  },
  {
    name: "bash-fails",
    summary: "a pre-allowed Bash command that exits non-zero (no dialog)",
    lab: {
      settings: { permissions: { defaultMode: "default", allow: ["Bash"] } },
      fake: { script: [bash("ls /nonexistent-agtmux-dir", "List a missing dir"), text("It failed.")] },
    },
    async run(lab) {
      await lab.launch();
      await promptAndWait(lab, "List it", 0);
      await lab.waitHook("Stop");
      await lab.waitIdle();
      await lab.snap("01-completed");
      await settle();
    },
  },
  {
    name: "bash-blocked-sleep",
    summary: "a tool_use the CLI itself refuses before any permission check (a standalone `sleep 30`)",
    lab: { settings: MANUAL, fake: { script: [bash("sleep 30", "Wait a while"), text("ok, not sleeping")] } },
    async run(lab) {
      await lab.launch();
      await promptAndWait(lab, "Wait for a while", 0);
      await lab.waitHook("Stop");
      await lab.waitIdle();
      await lab.snap("01-completed");
      await settle();
    },
  },
  {
    name: "api-error-400",
    summary: "the API answers HTTP 400 invalid_request_error on every attempt",
    lab: { fake: { script: () => apiError(400, "fake: prompt is invalid") } },
    async run(lab, note) {
      await lab.launch();
      await promptAndWait(lab, "Trigger a 400", 0);
      const before = Date.now();
      await lab.waitIdle(30_000);
      await settle(1_000);
      await lab.snap("01-after-error");
      await settle(2_500);
      await lab.snap("02-settled");
      note(`idle again ${Date.now() - before} ms after the request; main requests: ${lab.fake.mainRequests().length}`);
    },
  },
  {
    name: "api-error-500-retry",
    summary: "HTTP 500 twice, then a good reply: the CLI retries on its own (default retry policy)",
    lab: { fake: { script: [apiError(500), apiError(500), text("Recovered after retries.")] } },
    async run(lab, note) {
      await lab.launch();
      await promptAndWait(lab, "Trigger a 500", 0);
      await lab.fake.waitForRequest(isMain(1), 30_000);
      await settle(300);
      await lab.snap("01-retrying");
      await lab.waitHook("Stop", { timeoutMs: 60_000 });
      await lab.waitIdle();
      await lab.snap("02-completed");
      const times = lab.fake.mainRequests().map((r) => r.time);
      note(`retry gaps (ms): ${times.slice(1).map((t, i) => t - (times[i] ?? t)).join(", ")}`);
    },
  },
  {
    name: "api-error-529-exhausted",
    summary: "HTTP 529 overloaded on every attempt with CLAUDE_CODE_MAX_RETRIES=2: retries exhausted, the turn fails",
    lab: { env: { CLAUDE_CODE_MAX_RETRIES: "2" }, fake: { script: () => apiError(529) } },
    async run(lab, note) {
      await lab.launch();
      await promptAndWait(lab, "Trigger a 529", 0);
      await lab.fake.waitForRequest(isMain(1), 30_000);
      await settle(300);
      await lab.snap("01-retrying");
      await lab.waitHook("StopFailure", { timeoutMs: 90_000 }).catch(() => lab.waitHook("Stop", { timeoutMs: 5_000 }));
      await lab.waitIdle();
      await settle(1_000);
      await lab.snap("02-failed");
      const times = lab.fake.mainRequests().map((r) => r.time);
      note(`attempts: ${times.length}; gaps (ms): ${times.slice(1).map((t, i) => t - (times[i] ?? t)).join(", ")}`);
    },
  },
  {
    name: "api-error-500-exhausted",
    summary: "HTTP 500 on every attempt with CLAUDE_CODE_MAX_RETRIES=1: the turn fails (StopFailure)",
    lab: { env: { CLAUDE_CODE_MAX_RETRIES: "1" }, fake: { script: () => apiError(500) } },
    async run(lab, note) {
      await lab.launch();
      await promptAndWait(lab, "Trigger a 500", 0);
      await lab.waitHook("StopFailure", { timeoutMs: 90_000 }).catch(() => lab.waitHook("Stop", { timeoutMs: 5_000 }));
      await lab.waitIdle();
      await settle(1_000);
      await lab.snap("01-failed");
      const times = lab.fake.mainRequests().map((r) => r.time);
      note(`attempts: ${times.length}; gaps (ms): ${times.slice(1).map((t, i) => t - (times[i] ?? t)).join(", ")}`);
    },
  },
  {
    name: "api-error-500-default-retries",
    summary: "HTTP 500 on every attempt with the default retry policy: how long until the turn fails (slow: minutes)",
    lab: { fake: { script: () => apiError(500) } },
    async run(lab, note) {
      await lab.launch();
      await promptAndWait(lab, "Trigger a 500", 0);
      await lab.fake.waitForRequest(isMain(3), 60_000);
      await lab.snap("01-retrying-attempt-4");
      const fail = await lab.waitHook("StopFailure", { timeoutMs: 600_000 });
      await lab.waitIdle();
      await lab.snap("02-failed");
      const times = lab.fake.mainRequests().map((r) => r.time);
      note(`attempts: ${times.length}; gaps (ms): ${times.slice(1).map((t, i) => t - (times[i] ?? t)).join(", ")}; StopFailure ${Date.parse(fail.time) - (times[0] ?? 0)} ms after the first attempt`);
    },
  },
  {
    name: "idle-notification",
    summary: "messageIdleNotifThresholdMs=3000 in ~/.claude.json: Notification(idle_prompt) after a completed turn",
    lab: { idleNotifMs: 3_000, fake: { script: [text("Hi.")] } },
    async run(lab, note) {
      await lab.launch();
      await promptAndWait(lab, "Say hi", 0);
      const stop = await lab.waitHook("Stop");
      await lab.waitIdle();
      await lab.snap("01-completed");
      const n = await lab.waitHook("Notification", { timeoutMs: 20_000, pred: (h) => (h.stdin as Record<string, unknown>).notification_type === "idle_prompt" });
      note(`Notification(idle_prompt) ${Date.parse(n.time) - Date.parse(stop.time)} ms after Stop`);
      await lab.snap("02-after-idle-notification");
      await settle(8_000);
      await lab.snap("03-later");
      note(`idle_prompt notifications within 8 s more: ${lab.hooks().filter((h) => (h.stdin as Record<string, unknown>).notification_type === "idle_prompt").length}`);
    },
  },
  {
    name: "idle-notification-default",
    summary: "default settings: does Notification(idle_prompt) fire after ~60 s idle?",
    lab: { fake: { script: [text("Hi.")] } },
    async run(lab, note) {
      await lab.launch();
      await promptAndWait(lab, "Say hi", 0);
      const stop = await lab.waitHook("Stop");
      await lab.waitIdle();
      await lab.snap("01-completed");
      try {
        const n = await lab.waitHook("Notification", { timeoutMs: 80_000, pred: (h) => (h.stdin as Record<string, unknown>).notification_type === "idle_prompt" });
        note(`Notification(idle_prompt) ${Date.parse(n.time) - Date.parse(stop.time)} ms after Stop`);
      } catch {
        note("no Notification(idle_prompt) within 80 s");
      }
      await lab.snap("02-after-wait");
    },
  },
  {
    name: "idle-no-turn",
    summary: "messageIdleNotifThresholdMs=3000 but no prompt at all: does idle_prompt fire before the first turn?",
    lab: { idleNotifMs: 3_000 },
    async run(lab, note) {
      await lab.launch();
      await lab.snap("01-idle");
      await settle(8_000);
      await lab.snap("02-after-8s");
      note(`idle_prompt before any turn: ${lab.hooks().some((h) => (h.stdin as Record<string, unknown>).notification_type === "idle_prompt")}`);
    },
  },
  {
    name: "exit-command",
    summary: "one turn, then /exit (SessionEnd), back to the shell",
    lab: { fake: { script: [text("Hi.")] } },
    async run(lab, note) {
      await lab.launch();
      await promptAndWait(lab, "Say hi", 0);
      await lab.waitHook("Stop");
      await lab.waitIdle();
      await lab.type("/exit");
      await lab.waitScreen(/\/exit/);
      await settle(500);
      await lab.snap("01-typed-exit");
      await lab.keys("Enter");
      await lab.waitHook("SessionEnd");
      await waitExit(lab);
      await settle(800);
      await lab.snap("02-after-exit");
      note(`title after exit: ${JSON.stringify(await lab.title())}`);
    },
  },
  {
    name: "ctrl-c-twice",
    summary: "at the idle prompt: C-c (hint), C-c again (exit)",
    lab: { fake: { script: [text("Hi.")] } },
    async run(lab) {
      await lab.launch();
      await promptAndWait(lab, "Say hi", 0);
      await lab.waitHook("Stop");
      await lab.waitIdle();
      await lab.keys("C-c");
      await settle(300);
      await lab.snap("01-first-ctrl-c");
      await lab.keys("C-c");
      await waitExit(lab);
      await settle(1_000);
      await lab.snap("02-after-exit");
    },
  },
  ...(["SIGTERM", "SIGHUP", "SIGKILL"] as const).map(
    (sig): Scenario => ({
      name: `kill-${sig.toLowerCase()}`,
      summary: `one turn, then kill -${sig} of the claude process (at the idle prompt)`,
      lab: { fake: { script: [text("Hi.")] } },
      async run(lab, note) {
        await lab.launch();
        await promptAndWait(lab, "Say hi", 0);
        await lab.waitHook("Stop");
        await lab.waitIdle();
        await settle(500);
        const pid = await lab.claudePid();
        if (pid === undefined) throw new Error("no claude pid");
        const before = lab.hooks().length;
        process.kill(pid, sig);
        await waitExit(lab);
        await settle(2_000);
        await lab.snap("01-after-kill");
        note(`hooks after ${sig}: ${lab.hooks().slice(before).map(hookLabel).join(", ") || "(none)"}`);
      },
    }),
  ),
  {
    name: "kill-sigterm-running",
    summary: "kill -SIGTERM of claude while a reply is streaming",
    lab: { fake: { script: [slow(60, 250)] } },
    async run(lab, note) {
      await lab.launch();
      await promptAndWait(lab, "Write a long essay", 0);
      await settle(2_000);
      await lab.snap("01-running");
      const pid = await lab.claudePid();
      if (pid === undefined) throw new Error("no claude pid");
      const before = lab.hooks().length;
      process.kill(pid, "SIGTERM");
      await waitExit(lab);
      await settle(2_000);
      await lab.snap("02-after-kill");
      note(`hooks after SIGTERM: ${lab.hooks().slice(before).map(hookLabel).join(", ") || "(none)"}`);
    },
  },
  {
    name: "auto-mode-bash",
    summary: "the CLI's default permission mode (auto, no settings): a Bash tool_use",
    lab: { fake: { script: [bash("echo auto-mode > auto.txt", "Write a file"), text("Wrote it.")] } },
    async run(lab, note) {
      await lab.launch();
      await lab.snap("01-idle");
      await promptAndWait(lab, "Write the file", 0);
      await settle(4_000);
      await lab.snap("02-after-tool-use");
      if (/Do you want to proceed\?/.test(await lab.screen())) {
        note("auto mode still showed a permission dialog; approving with Enter");
        await Bun.sleep(7_000);
        await lab.snap("03-dialog-after-7s");
        await lab.keys("Enter");
      }
      await lab.waitHook("Stop", { timeoutMs: 30_000 });
      await lab.waitIdle();
      await lab.snap("04-completed");
      await settle();
      note(`side requests: ${lab.fake.requests.filter((r) => r.kind === "side").length}`);
    },
  },
  {
    name: "ask-user-question",
    summary: "the model calls AskUserQuestion (a question dialog: waiting for the user's answer), answered with Enter",
    lab: {
      settings: MANUAL,
      fake: {
        script: [
          toolUse("AskUserQuestion", {
            questions: [
              {
                question: "Which color should the button be?",
                header: "Color",
                options: [
                  { label: "Red", description: "A red button" },
                  { label: "Blue", description: "A blue button" },
                ],
                multiSelect: false,
              },
            ],
          }),
          text("Going with your choice."),
        ],
      },
    },
    async run(lab, note) {
      await lab.launch();
      await promptAndWait(lab, "Make a button", 0);
      await lab.waitScreen(/Which color should the button be\?/);
      const shown = Date.now();
      await lab.snap("01-question");
      await settle(7_500);
      await lab.snap("02-question-after-7s");
      note(`hooks while the question is shown (7.5 s): ${lab.hooks().map(hookLabel).join(", ")}`);
      await lab.keys("Enter");
      await settle(1_000);
      await lab.snap("03-after-enter");
      for (let i = 0; i < 3 && !lab.events().includes("PostToolUse"); i++) {
        note(`no PostToolUse yet ${Date.now() - shown} ms after the question appeared; pressing Enter again`);
        await lab.keys("Enter");
        await settle(1_000);
        await lab.snap(`04-after-enter-${i + 2}`);
      }
      await lab.waitHook("Stop");
      await lab.waitIdle();
      await lab.snap("05-completed");
      await settle();
    },
  },
  {
    name: "subagent",
    summary: "the model delegates to a subagent (Agent tool): SubagentStart/SubagentStop around the subagent's own turn",
    lab: {
      settings: MANUAL,
      fake: {
        script: [toolUse("Agent", { description: "Check something", prompt: "SUBTASK-7: reply with OK", subagent_type: "general-purpose" }), text("The subagent finished.")],
        subagentReply: () => text("Subagent result: OK."),
      },
    },
    async run(lab, note) {
      await lab.launch();
      await promptAndWait(lab, "Delegate a check", 0);
      await lab.waitHook("Stop", { timeoutMs: 30_000 });
      await lab.waitIdle();
      await lab.snap("01-completed");
      await settle();
      note(`requests: ${lab.fake.requests.map((r) => `${r.kind}${r.mainIndex === undefined ? "" : `[${r.mainIndex}]`}`).join(", ")}`);
    },
  },
  {
    name: "clear-command",
    summary: "one turn, then /clear: the session is replaced in the same process",
    lab: { fake: { script: [text("Hi.")] } },
    async run(lab) {
      await lab.launch();
      await promptAndWait(lab, "Say hi", 0);
      await lab.waitHook("Stop");
      await lab.waitIdle();
      await lab.type("/clear");
      await lab.waitScreen(/\/clear/);
      await settle(500);
      await lab.keys("Enter");
      await lab.waitHook("SessionStart", { pred: (h) => (h.stdin as Record<string, unknown>).source === "clear" });
      await lab.waitIdle();
      await settle();
      await lab.snap("01-after-clear");
    },
  },
  {
    name: "resume",
    summary: "one turn, /exit, then `claude --continue` in the same pane",
    lab: { fake: { script: [text("Hi."), text("Hi again.")] } },
    async run(lab, note) {
      await lab.launch();
      await promptAndWait(lab, "Say hi", 0);
      await lab.waitHook("Stop");
      await lab.waitIdle();
      const pid1 = await lab.claudePid();
      await lab.type("/exit");
      await lab.waitScreen(/\/exit/);
      await settle(500);
      await lab.keys("Enter");
      await lab.waitHook("SessionEnd");
      await waitExit(lab);
      const before = lab.hooks().length;
      await lab.launch(["--continue"]);
      const start = await lab.waitHook("SessionStart", { after: before });
      await settle();
      await lab.snap("01-resumed-idle");
      note(`pids: first ${pid1}, resumed ${await lab.claudePid()}; resumed SessionStart source=${String((start.stdin as Record<string, unknown>).source)}`);
      await promptAndWait(lab, "Say hi again", 1);
      await lab.waitHook("Stop", { after: before });
      await lab.waitIdle();
      await lab.snap("02-second-turn-completed");
      const ids = new Set(lab.hooks().map((h) => (h.stdin as Record<string, unknown>).session_id));
      note(`distinct session_ids: ${ids.size}`);
    },
  },
  {
    name: "side-requests",
    summary: "without CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: which extra requests the CLI makes, and the pane title",
    lab: { disableNonessentialTraffic: false, fake: { script: [hold(text("Hello."), "s")] } },
    async run(lab, note) {
      await lab.launch([], { timeoutMs: 60_000 });
      await settle(2_000);
      await lab.snap("01-idle");
      await promptAndWait(lab, "Explain quantum entanglement to me", 0);
      await settle(3_000);
      await lab.snap("02-running");
      lab.fake.release("s");
      await lab.waitHook("Stop");
      await lab.waitIdle();
      await settle(3_000);
      await lab.snap("03-completed");
      note(`side requests: ${lab.fake.requests.filter((r) => r.kind !== "main").length}`);
    },
  },
  {
    name: "multi-turn",
    summary: "two prompts in a row (manual mode, text only): hook sequence per turn and the title in between",
    lab: { settings: MANUAL, fake: { script: [text("First answer."), hold(text("Second answer."), "m")] } },
    async run(lab) {
      await lab.launch();
      await promptAndWait(lab, "First question", 0);
      await lab.waitHook("Stop");
      await lab.waitIdle();
      await lab.snap("01-first-completed");
      const before = lab.hooks().length;
      await promptAndWait(lab, "Second question", 1);
      await settle(1_500);
      await lab.snap("02-second-running");
      lab.fake.release("m");
      await lab.waitHook("Stop", { after: before });
      await lab.waitIdle();
      await lab.snap("03-second-completed");
      await settle();
    },
  },
];

interface Result {
  name: string;
  summary: string;
  ok: boolean;
  error?: string;
  sequence: string[];
  transcript: string[];
  titles: { step: string; title: string; t: number }[];
  notes: string[];
  requests: string[];
}

async function runScenario(s: Scenario): Promise<Result> {
  const lab = await startClaudeLab(s.lab);
  const notes: { t: number; text: string }[] = [];
  const note = (msg: string): void => {
    notes.push({ t: Date.now() - lab.t0, text: msg });
    console.log(`  [${s.name}] ${msg}`);
  };
  let error: string | undefined;
  try {
    await s.run(lab, note);
  } catch (err) {
    error = err instanceof Error ? err.message : String(err);
    note(`FAILED: ${error}`);
    await lab.snap("99-failure").catch(() => undefined);
  }
  try {
    const dir = join(OUT, s.name);
    const { sequence } = writeFixture(lab, dir, notes);
    return {
      name: s.name,
      summary: s.summary,
      ok: error === undefined,
      ...(error === undefined ? {} : { error }),
      sequence,
      transcript: transcriptKinds(lab.transcript()),
      titles: lab.steps.map((st) => ({ step: st.name, title: st.title, t: st.t })),
      notes: notes.map((n) => n.text),
      requests: lab.fake.requests.map((r) => `${r.kind}${r.mainIndex === undefined ? "" : `[${r.mainIndex}]`} ${r.method} ${r.path} → ${r.reply ?? "?"}${r.aborted === true ? " (aborted)" : ""}`),
    };
  } finally {
    await lab.stop();
  }
}

function readme(results: Result[]): string {
  const out: string[] = [
    `# Claude Code ${VERSION}: captured behaviour`,
    "",
    "Recorded by `node_modules/.bin/bun tests/agents/claude/capture.ts` against the real CLI",
    "(`tests/agents/node_modules/@anthropic-ai/claude-code/bin/claude.exe`) in an isolated tmux",
    "server, with a fake Anthropic API on loopback (`tests/fakes/anthropic.ts`) and a logger hook",
    "registered for every hook event (`tests/agents/claude/harness.ts`). Interpretation:",
    "`docs/agents/claude.md`.",
    "",
    "Per scenario: `hooks.jsonl` (one hook call per line: event, argv, env subset, pid/ppid/ancestors,",
    "time, the stdin payload), `transcript.jsonl` (strings over 600 chars cut; the bulky",
    "`api-request-shape`/`api-request-blob`/`prompt_snapshot` lines cut to two levels), `screens/<step>.txt`",
    "(`capture-pane -p -J`), `titles.json` (`#{pane_title}` per step), `requests.json` (what the fake",
    "API received), `timeline.json` (all of it on one clock, ms since the lab started).",
    "Placeholders: `$HOME` (the lab's HOME), `$PROJECT` (cwd), `$PROJECT_KEY` (its",
    "`~/.claude/projects/` name), `$LAB`, `$NODE`, `$TMUX_SOCKET`, `$FAKE_URL`, `$FAKE_HOST`, `$CLAUDE_BIN`;",
    "`CLAUDE_CODE_MESSAGING_TOKEN` is shown as `<token>`.",
    "",
  ];
  for (const r of results) {
    out.push(`## ${r.name}${r.ok ? "" : " (FAILED)"}`, "", r.summary, "");
    if (r.error !== undefined) out.push(`Error: ${r.error}`, "");
    out.push("Hooks: " + (r.sequence.length === 0 ? "(none)" : r.sequence.map((x) => `\`${x}\``).join(" → ")), "");
    out.push("Titles: " + r.titles.map((t) => `${t.step} ${JSON.stringify(t.title)}`).join("; "), "");
    out.push("API: " + r.requests.join("; "), "");
    const tk = r.transcript.filter((k) => !/^(attachment|api-request|file-history|mode|permission-mode|atis|tools-used|last-prompt)/.test(k));
    out.push("Transcript (conversation lines): " + tk.map((x) => `\`${x.replace(/`/g, "'").replace(/\n/g, " ")}\``).join(" → "), "");
    for (const n of r.notes) out.push(`- ${n}`);
    if (r.notes.length > 0) out.push("");
  }
  return out.join("\n");
}

const wanted = process.argv.slice(2);
const selected = wanted.length === 0 ? scenarios : scenarios.filter((s) => wanted.includes(s.name));
if (selected.length === 0) {
  console.error(`unknown scenario; known: ${scenarios.map((s) => s.name).join(", ")}`);
  process.exit(2);
}
console.log(`claude: ${CLAUDE_BIN}`);
mkdirSync(OUT, { recursive: true });
const resultsPath = join(OUT, "summary.json");
let previous: Result[] = [];
try {
  previous = JSON.parse(readFileSync(resultsPath, "utf8")) as Result[];
} catch {
  previous = [];
}
const results: Result[] = [];
try {
  for (const s of selected) {
    const started = Date.now();
    console.log(`scenario ${s.name} …`);
    const r = await runScenario(s);
    console.log(`  ${r.ok ? "ok" : "FAILED"} in ${Date.now() - started} ms: ${r.sequence.join(" → ")}`);
    results.push(r);
  }
} finally {
  const merged = scenarios.map((s) => results.find((r) => r.name === s.name) ?? previous.find((r) => r.name === s.name)).filter((r): r is Result => r !== undefined);
  writeFileSync(resultsPath, `${JSON.stringify(merged, null, 2)}\n`);
  writeFileSync(join(OUT, "README.md"), `${readme(merged)}\n`);
  rmSync(runRoot, { recursive: true, force: true });
}
