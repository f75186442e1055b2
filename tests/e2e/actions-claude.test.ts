/**
 * Actions against the REAL Claude Code CLI (pinned, tests/agents) in a real
 * tmux pane, talking to the fake Anthropic API, hooks installed by
 * `agtmux setup-hooks claude`, the compiled daemon watching that server.
 *
 * - send --text --enter submits a prompt (the paced Enter is not eaten as part
 *   of a paste burst); the empty box's placeholder is not a draft
 * - TC-029 kill (key mode): C-c reaches Claude and stops the running turn
 * - the draft guard on Claude's own input box; force types anyway
 * - the approval guard on Claude's permission dialog: text refused, keys need
 *   approve; approve answers it
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ActionResponse, KillResult, SendResult } from "../../src/wire/actions.ts";
import type { ListResponse, PaneItem } from "../../src/wire/list.ts";
import { CLAUDE_BIN, type ClaudeLab, startClaudeLab } from "../agents/claude/harness.ts";
import { bash, hold, slow, text } from "../fakes/anthropic.ts";
import { type DaemonProc, runCli, startDaemonProc } from "../helpers/binary.ts";
import { type Sandbox, sandbox } from "../helpers/sandbox.ts";
import { waitFor } from "../helpers/wait.ts";
import { expectErrorEnvelope, okAction, postAction, rawFetch } from "./lib.ts";

const HAVE_CLAUDE = existsSync(CLAUDE_BIN);

let sb: Sandbox;
let lab: ClaudeLab;
let daemon: DaemonProc | undefined;

let seq = 0;
function rref(tag = "claude"): string {
  seq++;
  return `${tag}-${process.pid}-${Date.now()}-${seq}`;
}

async function act(type: string, body: unknown): Promise<{ status: number; body: unknown; text: string }> {
  return await postAction(sb, type, body);
}

async function ok<R>(type: string, body: Record<string, unknown>): Promise<ActionResponse<R>> {
  return await okAction<R>(sb, type, body);
}

async function pane(): Promise<PaneItem | undefined> {
  const r = await rawFetch(sb, "/v1/panes?all=1");
  if (r.status !== 200) return undefined;
  return (r.body as ListResponse<PaneItem>).items.find((p) => p.identity.pane_id === lab.pane);
}

/** polls until the claude pane shows this state (and confidence) */
async function expectState(state: string, confidence: string[] = ["high"], timeoutMs = 15_000): Promise<PaneItem> {
  let last: PaneItem | undefined;
  try {
    return await waitFor(
      async () => {
        last = await pane();
        return last?.agent?.type === "claude" && last.state === state && confidence.includes(last.confidence ?? "") ? last : null;
      },
      { timeoutMs, intervalMs: 50, message: `pane ${lab.pane} ${state}/${confidence.join("|")}` },
    );
  } catch (err) {
    console.log(`SCREEN:\n${await lab.screen()}`);
    throw new Error(`${(err as Error).message}; last seen: ${JSON.stringify({ state: last?.state, reason: last?.reason_code, confidence: last?.confidence })}`, { cause: err });
  }
}

describe.skipIf(!HAVE_CLAUDE)("actions against the real Claude Code", () => {
  beforeAll(async () => {
    sb = sandbox("actcl");
    mkdirSync(join(sb.env.XDG_CONFIG_HOME as string, "agtmux"), { recursive: true });
    writeFileSync(sb.paths.config, "[engine]\ncompleted_demotion_s = 3\n");
    lab = await startClaudeLab({
      hookEvents: [],
      settings: { permissions: { defaultMode: "default" } },
      env: { AGTMUX_SOCKET: sb.paths.socket, AGTMUX_HOME: sb.paths.home, AGTMUX_NO_AUTOSTART: "1" },
      fake: {
        script: [
          slow(60), // turn 1: sent by the API, interrupted by kill
          text("Forced answer."), // turn 2: the forced send over a draft
          bash("echo approved-by-agtmux > approved.txt", "Write a file"), // turn 3: asks for approval
          hold(text("The file is written."), "t3"),
        ],
      },
    });
    // this version sometimes opens with a one-time "Make auto mode your default permission mode?"
    // choice (a modal whose "❯ Yes, …" line reads as an input line): mark it seen
    const cfgPath = join(lab.home, ".claude.json");
    writeFileSync(cfgPath, `${JSON.stringify({ ...(JSON.parse(readFileSync(cfgPath, "utf8")) as object), hasSeenAutoDefaultNudge: true }, null, 2)}\n`);
    const setup = await runCli(sb, ["setup-hooks", "claude", "--yes"], { env: { HOME: lab.home } });
    if (setup.code !== 0) throw new Error(`setup-hooks failed: ${setup.stderr}`);
    const serverPid = (await lab.tmux.run("display-message", "-p", "#{pid}")).trim();
    const socketPath = (await lab.tmux.run("display-message", "-p", "#{socket_path}")).trim();
    daemon = await startDaemonProc(sb, { TMUX: `${socketPath},${serverPid},0` });
    await lab.launch();
    await expectState("idle");
  }, 90_000);

  afterAll(async () => {
    if (daemon !== undefined) {
      daemon.proc.kill("SIGTERM");
      await daemon.proc.exited;
    }
    await lab?.stop();
    sb?.cleanup();
  });

  test("send --text --enter to an idle Claude submits the prompt (placeholder is not a draft; the paced Enter is kept)", async () => {
    const idle = await expectState("idle");
    const prompt = "Write a long essay about tmux panes";
    const r = await ok<SendResult>("send", { request_ref: rref(), ref: idle.runtime_ref as string, text: prompt, enter: true, if_state: ["idle"] });
    expect(r.result).toEqual({ via: "keys", chars: prompt.length, keys: [], enter: true });
    expect(r.pane).toMatchObject({ agent: "claude", state: "idle" });
    const req = await lab.fake.waitForRequest((x) => x.kind === "main" && x.mainIndex === 0, 20_000);
    expect(JSON.stringify(req.body)).toContain(prompt);
    await expectState("running");
    await lab.waitScreen(/esc to interrupt/, { message: "streaming" });
  }, 60_000);

  test("TC-029 kill (key mode) interrupts the running turn: C-c reaches Claude, the turn stops, the state leaves running", async () => {
    const running = await expectState("running");
    // the TUI can drop a key sent right after a repaint: another kill (a new request) every 3 s until the turn stops (bounded)
    const kills: number[] = [];
    const t0 = Date.now();
    await waitFor(
      async () => {
        if (!/esc to interrupt/.test(await lab.screen())) return true;
        if (kills.length === 0 || Date.now() - (kills.at(-1) as number) > 3_000) {
          const k = await ok<KillResult>("kill", { request_ref: rref("kill"), ref: running.runtime_ref as string, mode: "key" });
          expect(k.result).toEqual({ mode: "key", signal: "INT", pid: null });
          kills.push(Date.now());
        }
        return false;
      },
      { timeoutMs: 15_000, intervalMs: 50, message: "the turn stops on kill (C-c)" },
    );
    const stoppedMs = Date.now() - (kills.at(-1) ?? t0);
    const idle = await expectState("idle", ["high", "medium"]);
    expect(idle.agent?.pid).toBe(running.agent?.pid as number); // interrupted, not killed
    const req = lab.fake.requests.find((x) => x.kind === "main" && x.mainIndex === 0);
    await waitFor(() => req?.aborted === true || req?.endTime !== undefined, { timeoutMs: 5_000, message: "the streamed reply ended" });
    expect(req?.aborted).toBe(true);
    expect(lab.fake.mainRequests()).toHaveLength(1);
    console.log(`[actions-claude] kill key: ${kills.length} kill action(s), the turn stopped ${stoppedMs} ms after the last; screen tail:\n${(await lab.screen()).split("\n").filter((x) => x.trim() !== "").slice(-8).join("\n")}`);
  }, 60_000);

  test("draft guard on Claude's input box: a half-typed prompt is not typed over; force submits on top of it", async () => {
    await lab.waitIdle();
    const idle = await expectState("idle", ["high", "medium"]);
    // clear whatever the interrupt left in the box, then type a draft as a user would
    await lab.keys("C-u");
    await lab.type("half typed");
    await lab.waitScreen(/❯\s*half typed\s*$/m, { message: "the draft shown" });
    const r = await act("send", { request_ref: rref(), ref: idle.runtime_ref as string, text: "new prompt", enter: true });
    expect(r.status).toBe(412);
    const e = expectErrorEnvelope(r.body, "E_PRECONDITION_FAILED");
    expect(e.details.draft).toBe("half typed");
    const enter = await act("send", { request_ref: rref(), ref: idle.runtime_ref as string, enter: true });
    expect(enter.status).toBe(412);
    expect(lab.fake.mainRequests()).toHaveLength(1);
    // force: typed after the draft and submitted
    await ok("send", { request_ref: rref(), ref: idle.runtime_ref as string, text: " and more", enter: true, force: true });
    const req = await lab.fake.waitForRequest((x) => x.kind === "main" && x.mainIndex === 1, 20_000);
    expect(JSON.stringify(req.body)).toContain("half typed and more");
    await expectState("completed");
  }, 60_000);

  test("approval guard on Claude's permission dialog: text refused, keys need approve; an approved Enter answers it", async () => {
    await lab.waitIdle();
    const before = await pane();
    await ok("send", { request_ref: rref(), ref: before?.runtime_ref as string, text: "Run the command", enter: true });
    await lab.waitScreen(/Do you want to proceed\?/, { message: "permission dialog" });
    const waiting = await expectState("waiting_approval");
    const ref = waiting.runtime_ref as string;
    const refused = await act("send", { request_ref: rref(), ref, text: "yes" });
    expect(refused.status).toBe(412);
    expect(expectErrorEnvelope(refused.body, "E_PRECONDITION_FAILED").details.state).toBe("waiting_approval");
    const noApprove = await act("send", { request_ref: rref(), ref, keys: ["Enter"] });
    expect(noApprove.status).toBe(412);
    // the dialog's own "❯ 1. Yes" selection line is not a half-typed draft: `--enter --approve` answers it
    await Bun.sleep(300); // this version drops a key sent within ~100 ms of the dialog's first paint (harness answerDialog)
    const approved = await act("send", { request_ref: rref(), ref, enter: true, approve: true });
    if (approved.status !== 200) console.log(`[actions-claude] send --enter --approve on the permission dialog: ${approved.status} ${approved.text}`);
    if (approved.status !== 200) {
      // keys-only approval has no draft check: answer with it so the rest of the flow is checked
      await ok("send", { request_ref: rref(), ref, keys: ["Enter"], approve: true });
    }
    await expectState("running");
    await lab.fake.waitForRequest((x) => x.kind === "main" && x.mainIndex === 3, 20_000);
    expect(readFileSync(join(lab.project, "approved.txt"), "utf8")).toBe("approved-by-agtmux\n");
    lab.fake.release("t3");
    await expectState("completed");
    // (last, so the rest of the flow is checked either way) the approved Enter itself was accepted
    expect({ status: approved.status, body: approved.body }).toMatchObject({ status: 200 });
  }, 90_000);
});
