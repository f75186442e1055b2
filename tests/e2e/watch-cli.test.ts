/**
 * `agtmux watch` and `agtmux wait` against the compiled daemon and a real tmux
 * server: TC-021 for watch (the CLI's jsonl is the API's lines), the status
 * line segment (once and pushed into tmux on change), prompts that never hang
 * when the daemon is down, and wait's exit codes.
 */
import { describe, expect, test } from "bun:test";
import { ensureBinary, runCli } from "../helpers/binary.ts";
import type { Sandbox } from "../helpers/sandbox.ts";
import { waitFor } from "../helpers/wait.ts";
import type { PaneItem } from "../../src/wire/list.ts";
import type { WatchLine, WatchResponse } from "../../src/wire/watch.ts";
import { e2eScope, rawFetch, type SandboxTmux, tmuxScope } from "./lib.ts";

const scope = e2eScope("wcli");
const tmuxes = tmuxScope();
const ENV = { AGTMUX_NO_AUTOSTART: "1" };

interface Lab {
  sb: Sandbox;
  t: SandboxTmux;
  pane: string;
  serverPid: number;
  socketPath: string;
  emit(state: string): Promise<void>;
}

async function lab(): Promise<Lab> {
  const sb = scope.box();
  const t = tmuxes.tmux(sb);
  await t.newSession("main", t.agent("claude"));
  const [pane, socketPath] = (await t.run("display-message", "-p", "-t", "main", "#{pane_id} #{socket_path}")).trim().split(" ") as [string, string];
  const serverPid = t.serverPids()[0] ?? 0;
  await scope.daemon(sb);
  return {
    sb,
    t,
    pane,
    serverPid,
    socketPath,
    async emit(state) {
      const r = await runCli(sb, ["emit", "--type", `state.${state}`, "--pane", pane], { env: { ...ENV, TMUX: `${socketPath},${serverPid},0` } });
      expect(r.code).toBe(0);
    },
  };
}

/** volatile per line: when it was written, and ages */
function stable(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v, (k, val: unknown) => (["generated_at", "emitted_at", "age_s", "last_seen_at"].includes(k) ? undefined : val)));
}

/** a long-running CLI process whose stdout is read line by line */
function spawnCli(sb: Sandbox, args: string[], env: Record<string, string> = {}): { lines(): string[]; proc: Bun.Subprocess<"ignore", "pipe", "pipe"> } {
  const proc = Bun.spawn([ensureBinary(), ...args], { env: { ...sb.env, ...ENV, ...env } as Record<string, string>, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const out: string[] = [];
  void (async () => {
    const dec = new TextDecoder();
    let buf = "";
    for await (const chunk of proc.stdout) {
      buf += dec.decode(chunk, { stream: true });
      let nl = buf.indexOf("\n");
      while (nl >= 0) {
        out.push(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        nl = buf.indexOf("\n");
      }
    }
  })();
  return { lines: () => out, proc };
}

describe("agtmux watch / wait (compiled binary, real tmux)", () => {
  test("TC-021 watch: `watch --once --format jsonl` is the API's snapshot line; streamed deltas are the API's deltas", async () => {
    const l = await lab();
    await l.emit("running");
    await waitFor(async () => ((await rawFetch(l.sb, "/v1/panes")).text.includes('"state":"running"') ? true : null), { timeoutMs: 8_000, message: "running" });
    const cli = await runCli(l.sb, ["watch", "--once", "--format", "jsonl"], { env: ENV });
    expect(cli.code).toBe(0);
    const cliLines = cli.stdout.trim().split("\n").map((x) => JSON.parse(x) as WatchLine<PaneItem>);
    expect(cliLines).toHaveLength(1);
    const api = (await rawFetch(l.sb, "/v1/watch?once=1&scope=panes")).body as WatchResponse<PaneItem>;
    expect(stable(cliLines[0])).toEqual(stable(api.lines[0]));

    // streaming: the CLI and a raw API stream see the same delta for the same change
    const w = spawnCli(l.sb, ["watch", "--format", "jsonl"]);
    const res = await fetch("http://agtmux/v1/watch?scope=panes", { unix: l.sb.paths.socket } as RequestInit & { unix: string });
    const reader = res.body?.getReader();
    await waitFor(() => (w.lines().length >= 1 ? true : null), { timeoutMs: 8_000, message: "CLI snapshot" });
    await l.emit("waiting_input");
    const cliDelta = await waitFor(
      () => w.lines().map((x) => JSON.parse(x) as WatchLine<PaneItem>).find((x) => x.type === "delta" && x.changes.some((c) => c.item?.state === "waiting_input")) ?? null,
      { timeoutMs: 8_000, message: "CLI delta" },
    );
    let apiText = "";
    const dec = new TextDecoder();
    while (!apiText.includes(`"sequence":${cliDelta.sequence},`)) {
      const r = await reader?.read();
      if (r === undefined || r.done) break;
      apiText += dec.decode(r.value, { stream: true });
    }
    const apiDelta = apiText
      .split("\n")
      .filter((x) => x !== "")
      .map((x) => JSON.parse(x) as WatchLine<PaneItem>)
      .find((x) => x.sequence === cliDelta.sequence && x.type === "delta");
    expect(stable(cliDelta)).toEqual(stable(apiDelta));
    await reader?.cancel();
    w.proc.kill("SIGTERM");
    expect(await w.proc.exited).toBe(0);
  }, 60_000);

  test("status line and prompt: a segment when an agent needs you, nothing otherwise; nothing (exit 0, fast) when the daemon is down; a long-running watcher pushes each change into tmux", async () => {
    const l = await lab();
    const empty = await runCli(l.sb, ["watch", "--once", "--format", "tmux"], { env: ENV });
    expect(empty).toMatchObject({ code: 0 });
    expect(empty.stdout.trim()).toBe("");

    // pushed into tmux on change, not on a timer
    const pusher = spawnCli(l.sb, ["watch", "--format", "tmux"], { TMUX: `${l.socketPath},${l.serverPid},0` });
    await l.emit("waiting_approval");
    const seg = await waitFor(
      async () => {
        const v = (await l.t.run("show-options", "-gqv", "@agtmux")).trim();
        return v.includes("1") ? v : null;
      },
      { timeoutMs: 8_000, message: "@agtmux set" },
    );
    expect(seg).toContain("!1");
    const once = await runCli(l.sb, ["watch", "--once", "--format", "tmux"], { env: ENV });
    expect(once.stdout.trim()).toBe(seg);
    const prompt = await runCli(l.sb, ["watch", "--once", "--format", "prompt"], { env: ENV });
    expect(prompt.stdout.trim()).toMatch(/1 ?approv/);
    await l.emit("running");
    await waitFor(async () => ((await l.t.run("show-options", "-gqv", "@agtmux")).trim() === "" ? true : null), { timeoutMs: 8_000, message: "@agtmux cleared" });
    pusher.proc.kill("SIGTERM");
    await pusher.proc.exited;

    // daemon down: prompts never hang and print nothing
    await scope.stopAll();
    const t0 = performance.now();
    const down = await runCli(l.sb, ["watch", "--once", "--format", "tmux"]);
    const ms = performance.now() - t0;
    expect(down).toMatchObject({ code: 0, stdout: "" });
    expect(ms).toBeLessThan(2_000);
    const downPrompt = await runCli(l.sb, ["watch", "--once", "--format", "prompt"]);
    expect(downPrompt).toMatchObject({ code: 0, stdout: "" });
  }, 60_000);

  test("wait: 0 with the ref once a pane reaches the state, 124 on timeout, 1 for a ref that names nothing, 3 without a daemon", async () => {
    const l = await lab();
    const waiting = spawnCli(l.sb, ["wait", "--state", "waiting_approval", "--timeout", "20s"]);
    await l.emit("waiting_approval");
    expect(await waiting.proc.exited).toBe(0);
    expect(waiting.lines().join("\n")).toContain(`pane:host/main/`);
    const timeout = await runCli(l.sb, ["wait", "--state", "completed", "--timeout", "500ms"], { env: ENV });
    expect(timeout.code).toBe(124);
    const nothing = await runCli(l.sb, ["wait", "--ref", "pane:host/nope/@1/%99", "--state", "running", "--timeout", "2s", "--json"], { env: ENV });
    expect(nothing.code).toBe(1);
    expect(nothing.stdout).toContain("E_REF_NOT_FOUND");
    const bad = await runCli(l.sb, ["wait", "--state", "sleepy"], { env: ENV });
    expect(bad.code).toBe(2);
    await scope.stopAll();
    const noDaemon = await runCli(l.sb, ["wait", "--state", "running", "--timeout", "1s"], { env: ENV });
    expect(noDaemon.code).toBe(3);
  }, 60_000);

  test("watch (table) without a TTY appends a plain frame per change, no escape codes; ends cleanly on SIGTERM", async () => {
    const l = await lab();
    const w = spawnCli(l.sb, ["watch", "--interval", "60s"]);
    await waitFor(() => (w.lines().some((x) => x.includes("main")) ? true : null), { timeoutMs: 8_000, message: "first frame" });
    await l.emit("waiting_approval");
    await waitFor(() => (w.lines().some((x) => x.includes("waiting_approval")) ? true : null), { timeoutMs: 8_000, message: "frame with the new state" });
    const text = w.lines().join("\n");
    expect(text.includes("\u001b")).toBe(false);
    expect(text.split("\n\n").length).toBeGreaterThanOrEqual(2);
    w.proc.kill("SIGTERM");
    expect(await w.proc.exited).toBe(0);
  }, 60_000);

  test("TC-051 `agtmux watch --format jsonl` survives a daemon restart by itself: terminal reset, then reset + snapshot of the new stream, then its deltas", async () => {
    const l = await lab();
    const w = spawnCli(l.sb, ["watch", "--format", "jsonl"]);
    const parsed = (): Array<WatchLine<PaneItem>> => w.lines().map((x) => JSON.parse(x) as WatchLine<PaneItem>);
    await waitFor(() => (parsed().some((x) => x.type === "snapshot") ? true : null), { timeoutMs: 8_000, message: "first snapshot" });
    const first = parsed()[0]?.stream_id;
    await scope.stopAll();
    await scope.daemon(l.sb);
    await waitFor(() => (parsed().some((x) => x.type === "snapshot" && x.stream_id !== first) ? true : null), { timeoutMs: 15_000, message: "snapshot of the new stream" });
    const types = parsed().map((x) => `${x.type}${x.type === "reset" ? `:${x.reason}` : ""}`);
    expect(types).toContain("reset:shutdown");
    expect(types).toContain("reset:stream_changed");
    await l.emit("error");
    await waitFor(() => (parsed().some((x) => x.type === "delta" && x.stream_id !== first && x.changes.some((c) => c.item?.state === "error")) ? true : null), {
      timeoutMs: 8_000,
      message: "a delta from the new daemon",
    });
    w.proc.kill("SIGTERM");
    expect(await w.proc.exited).toBe(0);
  }, 60_000);
});
