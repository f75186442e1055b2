/**
 * The real Claude Code CLI (pinned, tests/agents) in a real tmux pane, talking
 * to the fake Anthropic API, with agtmux's hooks installed by
 * `agtmux setup-hooks claude` and the compiled daemon watching that tmux
 * server. Every step asserts the state and its confidence as
 * `agtmux list panes --json` shows them.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ListResponse, PaneItem } from "../../src/wire/list.ts";
import { CLAUDE_BIN, type ClaudeLab, startClaudeLab } from "../agents/claude/harness.ts";
import { bash, hold, slow, text } from "../fakes/anthropic.ts";
import { type DaemonProc, runCli, startDaemonProc } from "../helpers/binary.ts";
import { type Sandbox, sandbox } from "../helpers/sandbox.ts";
import { waitFor } from "../helpers/wait.ts";

const HAVE_CLAUDE = existsSync(CLAUDE_BIN);
const DEMOTION_S = 3;

let sb: Sandbox;
let lab: ClaudeLab;
let daemon: DaemonProc | undefined;
let tmuxEnv: Record<string, string>;

async function startDaemon(): Promise<DaemonProc> {
  daemon = await startDaemonProc(sb, tmuxEnv);
  return daemon;
}

async function stopDaemon(): Promise<void> {
  if (daemon === undefined) return;
  daemon.proc.kill("SIGTERM");
  await daemon.proc.exited;
  daemon = undefined;
}

async function pane(): Promise<PaneItem | undefined> {
  const r = await runCli(sb, ["list", "panes", "--all", "--json"]);
  if (r.code !== 0) return undefined;
  return (JSON.parse(r.stdout) as ListResponse<PaneItem>).items.find((p) => p.identity.pane_id === lab.pane);
}

/** polls `list panes --json` until the claude pane shows this state (and confidence) */
async function expectState(state: string, confidence: string | string[] = "high", timeoutMs = 15_000): Promise<PaneItem> {
  const confs = Array.isArray(confidence) ? confidence : [confidence];
  let last: PaneItem | undefined;
  try {
    return await waitFor(
      async () => {
        last = await pane();
        return last?.agent?.type === "claude" && last.state === state && confs.includes(last.confidence ?? "") ? last : null;
      },
      { timeoutMs, intervalMs: 50, message: `pane ${lab.pane} ${state}/${confidence}` },
    );
  } catch (err) {
    if (last !== undefined) console.log((await runCli(sb, ["explain", last.ref])).stdout);
    throw new Error(`${(err as Error).message}; last seen: ${JSON.stringify({ agent: last?.agent?.type, state: last?.state, reason: last?.reason_code, confidence: last?.confidence })}`);
  }
}

describe.skipIf(!HAVE_CLAUDE)("Claude Code through agtmux (real CLI)", () => {
  beforeAll(async () => {
    sb = sandbox("claude");
    mkdirSync(join(sb.env.XDG_CONFIG_HOME as string, "agtmux"), { recursive: true });
    writeFileSync(sb.paths.config, `[engine]\ncompleted_demotion_s = ${DEMOTION_S}\n`);
    lab = await startClaudeLab({
      hookEvents: [],
      settings: { permissions: { defaultMode: "default" } },
      env: { AGTMUX_SOCKET: sb.paths.socket, AGTMUX_HOME: sb.paths.home, AGTMUX_NO_AUTOSTART: "1" },
      fake: {
        script: [
          bash("echo hello-from-bash > out.txt && cat out.txt", "Write and show a file"), // turn 1: approve (a write asks)
          hold(text("The command printed hello."), "t1"),
          bash("echo should-not-run > nope.txt", "Write a file"), // turn 2: reject
          slow(60), // turn 3: interrupted
          hold(text("Late answer."), "t4"), // turn 4: daemon restarted mid-turn
        ],
      },
    });
    const setup = await runCli(sb, ["setup-hooks", "claude", "--yes"], { env: { HOME: lab.home } });
    if (setup.code !== 0) throw new Error(`setup-hooks failed: ${setup.stderr}`);
    const serverPid = (await lab.tmux.run("display-message", "-p", "#{pid}")).trim();
    const socketPath = (await lab.tmux.run("display-message", "-p", "#{socket_path}")).trim();
    tmuxEnv = { TMUX: `${socketPath},${serverPid},0` };
    await startDaemon();
  }, 60_000);

  afterAll(async () => {
    await stopDaemon();
    await lab?.stop();
    sb?.cleanup();
  });

  test("idle -> running -> waiting_approval -> (approve) -> running -> completed -> idle", async () => {
    await lab.launch();
    const idle = await expectState("idle");
    expect(idle.agent?.pid).toBeGreaterThan(0);
    await lab.prompt("Run the command");
    // running lasts only until the tool call asks (well under a second): the stored transitions prove it
    await waitFor(async () => {
      const p = await pane();
      if (p === undefined) return false;
      const ex = await runCli(sb, ["explain", p.ref, "--json"]);
      const events = (JSON.parse(ex.stdout) as { recent_events: Array<{ event_type: string; state: string | null; outcome: string }> }).recent_events;
      return events.some((e) => e.event_type === "claude.UserPromptSubmit" && e.state === "running" && e.outcome === "applied");
    }, { timeoutMs: 15_000, message: "UserPromptSubmit applied as running" });
    try {
      await lab.waitScreen(/Do you want to proceed\?/, { message: "permission dialog" });
    } catch (err) {
      console.log("SCREEN:\n" + (await lab.screen()));
      console.log("REQUESTS:", JSON.stringify(lab.fake.requests.map((r) => [r.kind, r.path])));
      throw err;
    }
    await expectState("waiting_approval");
    await lab.answerDialog("Enter");
    await expectState("running");
    await lab.fake.waitForRequest((r) => r.kind === "main" && r.mainIndex === 1);
    lab.fake.release("t1");
    await expectState("completed");
    await expectState("idle", "high", (DEMOTION_S + 5) * 1000); // demotion after the configured TTL
  }, 90_000);

  test("a rejected approval ends the turn: back to idle", async () => {
    await lab.prompt("Write the file");
    await lab.waitScreen(/Do you want to proceed\?/, { message: "permission dialog" });
    await expectState("waiting_approval");
    await lab.answerDialog("Escape");
    await expectState("idle"); // from the transcript: no hook reports a rejection
  }, 60_000);

  test("an interrupted turn (Escape): running -> idle", async () => {
    await lab.prompt("Write a long essay");
    await expectState("running");
    await lab.waitScreen(/esc to interrupt/, { message: "streaming" });
    // the TUI drops a key sent right after a repaint: press again until the turn stops (bounded)
    await waitFor(
      async () => {
        if (!/esc to interrupt/.test(await lab.screen())) return true;
        await lab.keys("Escape");
        return false;
      },
      { timeoutMs: 10_000, intervalMs: 700, message: "the turn stops on Escape" },
    );
    // No hook reports an interrupt. The transcript does ("[Request interrupted by user]", high) once
    // text had streamed; cancelled before the first token it records nothing, and the screen
    // poller's confirmed "stopped" reading (medium) is what ends the turn.
    await expectState("idle", ["high", "medium"]);
  }, 60_000);

  test("the daemon restarted mid-turn: nothing lost, the state is right again", async () => {
    await lab.prompt("Answer later");
    await expectState("running");
    await lab.fake.waitForRequest((r) => r.kind === "main" && r.mainIndex === 4);
    await stopDaemon();
    lab.fake.release("t4"); // Stop fires while the daemon is down: the hook spools it
    await lab.waitIdle();
    await startDaemon();
    await expectState("completed");
  }, 60_000);

  test("the agent exits: its runtime ends and the pane is a plain shell again", async () => {
    const before = await pane();
    await lab.type("/exit");
    await lab.keys("Enter");
    await waitFor(async () => (await pane())?.agent === null, { timeoutMs: 15_000, message: "runtime ended" });
    const r = await runCli(sb, ["list", "panes", "--json"]);
    expect((JSON.parse(r.stdout) as ListResponse<PaneItem>).items.some((p) => p.identity.pane_id === lab.pane)).toBe(false);
    expect(before?.runtime_ref).toBeTruthy();
    const stale = await runCli(sb, ["list", "panes", "--ref", before?.runtime_ref as string, "--json"]);
    expect(stale.code).toBe(1);
    expect(stale.stdout).toContain("E_RUNTIME_STALE");
  }, 60_000);
});
