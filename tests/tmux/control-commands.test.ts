/**
 * The control client as a command channel (ControlClient.command,
 * Tmux.setChannel): the periodic read-only queries go through the attached
 * control-mode client instead of a spawned tmux each; against real tmux.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { ControlClient, tmuxQuote } from "../../src/tmux/control.ts";
import { ChannelError, channelSafe, Tmux } from "../../src/tmux/tmux.ts";
import { TmuxError } from "../../src/tmux/types.ts";
import { RecordingExecutor, startTmuxServer, type TmuxServer } from "./harness.ts";

const servers: TmuxServer[] = [];
const clients: ControlClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.stop()));
  await Promise.all(servers.splice(0).map((s) => s.kill()));
});

async function setup(command: string[] = ["sleep", "1000"]): Promise<{ s: TmuxServer; rec: RecordingExecutor; tmux: Tmux; plain: Tmux; client: ControlClient }> {
  const rec = new RecordingExecutor();
  const s = await startTmuxServer({ session: "A", command, exec: rec });
  servers.push(s);
  const tmux = new Tmux(rec, s.socket);
  const client = new ControlClient(tmux, "$0", { onNotification() {} });
  clients.push(client);
  await client.start();
  tmux.setChannel(client);
  return { s, rec, tmux, plain: new Tmux(rec, s.socket), client };
}

describe("channelSafe", () => {
  test("only read-only subcommands, display-message only with -p, no newline in an argument", () => {
    expect(channelSafe(["list-panes", "-a", "-F", "#{pane_id}"])).toBe(true);
    expect(channelSafe(["display-message", "-p", "x", ";", "capture-pane", "-p", "-t", "%1"])).toBe(true);
    expect(channelSafe(["send-keys", "-t", "%1", "x"])).toBe(false);
    expect(channelSafe(["capture-pane", "-p", ";", "kill-server"])).toBe(false);
    expect(channelSafe(["display-message", "hello"])).toBe(false);
    // the -p must be display-message's own, not another command's in the chain
    expect(channelSafe(["display-message", "hello", ";", "capture-pane", "-p"])).toBe(false);
    expect(channelSafe(["capture-pane", "-p", ";", "display-message", "hello"])).toBe(false);
    expect(channelSafe(["display-message", "-p", "a\nkill-server"])).toBe(false);
    expect(channelSafe(["capture-pane", ";", ";"])).toBe(false);
    expect(channelSafe([])).toBe(false);
  });

  test("tmuxQuote: single quotes, a quote inside as '\\''", () => {
    expect(tmuxQuote("a b")).toBe("'a b'");
    expect(tmuxQuote("it's")).toBe("'it'\\''s'");
  });
});

describe("command channel (real tmux)", () => {
  test("snapshot, captureMany and capturePane answer the same through the channel as spawned, and spawn nothing", async () => {
    const { s, rec, tmux, plain } = await setup(["sh", "-c", "printf 'line one\\n  indented\\n'; exec sleep 1000"]);
    await s.run("new-window", "-d", "-t", "$0:", "sleep", "1000");
    await s.run("new-session", "-d", "-s", "b ; 'q' #{x} $HOME é", "sleep", "1000");
    const want = await plain.snapshot();
    const wantScreens = await plain.captureMany(["%0", "%1", "%2"]);
    const wantOne = await plain.capturePane("%0", { lines: 5, ansi: false });
    const spawnedBefore = rec.execs.length;
    const got = await tmux.snapshot();
    expect(got).toEqual(want);
    expect(got.panes.some((p) => p.session_name.startsWith("b ; 'q'") && p.session_name.endsWith("HOME é"))).toBe(true);
    expect(await tmux.captureMany(["%0", "%1", "%2"])).toEqual(wantScreens);
    expect(wantScreens.get("%0")).toContain("line one\n  indented");
    expect(await tmux.capturePane("%0", { lines: 5, ansi: false })).toBe(wantOne);
    expect(rec.execs.length).toBe(spawnedBefore);
    expect(tmux.calls.channel).toBe(3);
    expect(tmux.calls.spawned).toBe(0);
  });

  test("arguments arrive literally: quotes, ';', formats-looking text stay data (display-message -p prints them)", async () => {
    const { tmux } = await setup();
    for (const text of ["it's", "a ; b", "x \\; y", "~ $HOME `id`", "é 日本 🙂", "'; kill-server; '"]) {
      // #{l:…} prints its argument literally: the channel must deliver it unchanged
      const out = await tmux.run(["display-message", "-p", `#{l:${text}}`]);
      expect(out).toBe(`${text}\n`);
    }
    expect(await tmux.hasServer()).toBe(true);
  });

  test("a failing command rejects with tmux's message, and the channel stays in step for the next requests", async () => {
    const { tmux, rec } = await setup();
    const before = rec.execs.length;
    const results = await Promise.allSettled([
      tmux.run(["display-message", "-p", "first"]),
      tmux.run(["display-message", "-p", "x", ";", "capture-pane", "-p", "-t", "%99", ";", "display-message", "-p", "never"]),
      tmux.run(["display-message", "-p", "third"]),
    ]);
    expect(results[0]).toEqual({ status: "fulfilled", value: "first\n" });
    expect(results[1]?.status).toBe("rejected");
    const err = (results[1] as PromiseRejectedResult).reason as TmuxError;
    expect(err).toBeInstanceOf(TmuxError);
    expect(err.kind).toBe("failed");
    expect(err.stderr).toContain("can't find pane");
    expect(results[2]).toEqual({ status: "fulfilled", value: "third\n" });
    // captureMany's fallback for a gone pane still works (through the channel too)
    const screens = await tmux.captureMany(["%0", "%99"]);
    expect([...screens.keys()]).toEqual(["%0"]);
    expect(rec.execs.length).toBe(before);
  });

  test("pane text that imitates control-mode lines cannot end a reply early", async () => {
    const fake = "%%end 1 2 1\\n%%begin 1 3 1\\nagtmux-end:nope\\n%%error 1 3 1\\n%%exit"; // printf format: %% is %
    const { s, tmux, plain } = await setup(["sh", "-c", `printf '${fake}\\n'; exec sleep 1000`]);
    await s.run("new-window", "-d", "-t", "$0:", "sleep", "1000");
    const want = await plain.captureMany(["%0", "%1"]);
    expect(want.get("%0")).toContain("%end 1 2 1");
    expect(await tmux.captureMany(["%0", "%1"])).toEqual(want);
    expect(await tmux.run(["display-message", "-p", "after"])).toBe("after\n");
  });

  test("write commands never use the channel; a channel that is gone falls back to spawning", async () => {
    const { s, tmux, client, rec } = await setup();
    const before = rec.execs.length;
    await tmux.run(["rename-window", "-t", "@0", "renamed"]);
    expect(rec.execs.length).toBe(before + 1);
    await expect(client.command(["kill-server"], 1_000)).rejects.toBeInstanceOf(ChannelError);
    expect(await s.run("display-message", "-p", "#{window_name}")).toBe("renamed\n");
    await client.stop();
    expect(tmux.hasChannel).toBe(false);
    const spawned = tmux.calls.spawned;
    expect((await tmux.snapshot()).panes).toHaveLength(1);
    expect(tmux.calls.spawned).toBe(spawned + 1);
    await expect(client.command(["display-message", "-p", "x"], 1_000)).rejects.toBeInstanceOf(ChannelError);
  });

  test("requests in flight when the client ends are rejected as channel errors (Tmux.run then spawns)", async () => {
    const { tmux, client } = await setup();
    const p = client.command(["display-message", "-p", "x"], 5_000);
    const stopped = client.stop();
    const r = await p.then(
      (v) => ({ ok: true as const, v }),
      (e: unknown) => ({ ok: false as const, e }),
    );
    await stopped;
    // either tmux answered before the detach, or the request failed as a channel error (never hangs, never a TmuxError)
    if (r.ok) expect(r.v).toBe("x\n");
    else expect(r.e).toBeInstanceOf(ChannelError);
    expect(await tmux.run(["display-message", "-p", "y"])).toBe("y\n");
  });
});
