/**
 * The relay process's life: it ends on stdin EOF, SIGTERM/SIGHUP and a silent
 * daemon; one per VM user; a stalled relay is detected by its missing
 * heartbeats and replaced; invalid lines from either side are logged and
 * ignored.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { RELAY_EXIT_BUSY, RELAY_EXIT_IDLE } from "../../src/relay/relay.ts";
import { parseRelayMessage } from "../../src/relay/protocol.ts";
import { waitFor } from "../helpers/wait.ts";
import { alive, FakeDaemon, RawRelay, relayArgv, type Vm, vm, waitGone } from "./harness.ts";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).toReversed()) await c();
});

function newVm(): Vm {
  const v = vm();
  cleanups.push(() => v.cleanup());
  return v;
}

/** the relay as a plain child (stdin/stdout pipes, nothing else): for EOF and signals */
function spawnRelay(v: Vm, flags: string[] = []): Bun.Subprocess<"pipe", "pipe", "pipe"> {
  const p = Bun.spawn(relayArgv(...flags), { env: v.sb.env as Record<string, string>, stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  cleanups.push(() => {
    if (alive(p.pid)) p.kill("SIGKILL");
  });
  return p;
}

/** collects a child's stdout lines */
function lines(p: Bun.Subprocess<"pipe", "pipe", "pipe">): string[] {
  const out: string[] = [];
  void (async () => {
    const dec = new TextDecoder();
    let buf = "";
    for await (const chunk of p.stdout) {
      buf += dec.decode(chunk, { stream: true });
      let nl = buf.indexOf("\n");
      while (nl >= 0) {
        out.push(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        nl = buf.indexOf("\n");
      }
    }
  })();
  return out;
}

function kinds(out: string[]): string[] {
  return out.map((l) => {
    const p = parseRelayMessage(l);
    return p.ok ? p.value.k : "?";
  });
}

async function started(v: Vm, flags: string[] = []): Promise<{ p: Bun.Subprocess<"pipe", "pipe", "pipe">; out: string[] }> {
  const p = spawnRelay(v, flags);
  const out = lines(p);
  p.stdin.write(`${JSON.stringify({ op: "start", spool: {} })}\n`);
  await p.stdin.flush();
  await waitFor(() => kinds(out).includes("hello"), { message: "hello" });
  return { p, out };
}

describe("relay lifecycle", () => {
  test("exits on stdin EOF (the ssh channel closed), leaving no process", async () => {
    const v = newVm();
    const { p } = await started(v);
    await p.stdin.end();
    await waitGone(p.pid);
    expect(await p.exited).toBe(0);
  });

  test("exits on SIGTERM and on SIGHUP with stdin still open", async () => {
    const v = newVm();
    for (const sig of ["SIGTERM", "SIGHUP"] as const) {
      const { p } = await started(v);
      p.kill(sig);
      await waitGone(p.pid);
      expect(await p.exited).toBe(0);
    }
  });

  test("exits when the daemon has been silent for --idle-exit ms (a blackholed channel)", async () => {
    const v = newVm();
    const { p, out } = await started(v, ["--idle-exit", "300"]);
    await waitGone(p.pid);
    expect(await p.exited).toBe(RELAY_EXIT_IDLE);
    expect(out.some((l) => l.includes("no line from the daemon"))).toBe(true);
  });

  test("one relay per VM user: a second one waits for the lock, says why and exits non-zero; it takes over when the first ends in time", async () => {
    const v = newVm();
    const first = await started(v);
    const second = spawnRelay(v);
    const out2 = lines(second);
    second.stdin.write(`${JSON.stringify({ op: "start", spool: {} })}\n`);
    expect(await second.exited).toBe(RELAY_EXIT_BUSY);
    await waitFor(() => out2.length > 0, { timeoutMs: 2_000, message: "the second relay's log line" });
    const log = parseRelayMessage(out2[0] as string);
    expect(log.ok && log.value.k === "log" && log.value.level === "warn" && log.value.message.includes("another relay")).toBe(true);
    expect(kinds(out2)).not.toContain("hello");
    // a third one starts while the first still runs; the first ends within the wait: the third takes over
    const third = spawnRelay(v);
    const out3 = lines(third);
    third.stdin.write(`${JSON.stringify({ op: "start", spool: {} })}\n`);
    first.p.kill("SIGTERM");
    await waitFor(() => kinds(out3).includes("hello"), { timeoutMs: 6_000, message: "the third relay's hello" });
    await third.stdin.end();
    expect(await third.exited).toBe(0);
  });

  test("a stalled relay (SIGSTOP) is declared down within the heartbeat timeout and replaced after SIGCONT; nothing lost or doubled", async () => {
    const v = newVm();
    const d = new FakeDaemon(v, { flags: ["--heartbeat", "200"], heartbeatTimeoutMs: 600 });
    cleanups.push(() => d.client.stop());
    d.client.start();
    await d.up(1);
    expect(d.client.hello?.heartbeat_ms).toBe(200);
    v.emit("before");
    await waitFor(() => d.ids().includes("before"), { message: "before" });
    const pid = d.client.hello?.pid as number;
    process.kill(pid, "SIGSTOP");
    cleanups.push(() => {
      if (alive(pid)) process.kill(pid, "SIGKILL");
    });
    const stoppedAt = Date.now();
    const down = await waitFor(() => d.states.find((s) => !s.up), { timeoutMs: 5_000, message: "declared down" });
    console.log(`stalled relay declared down after ${down.at - stoppedAt} ms (timeout 600 ms, heartbeat 200 ms)`);
    expect(down.reason).toContain("no heartbeat");
    expect(d.client.connected).toBe(false);
    v.emit("while-stopped");
    // the replacement cannot take the lock while the stopped one holds it
    await waitFor(() => d.logs.some((l) => l.message.includes("another relay")), { timeoutMs: 10_000, message: "lock busy" });
    process.kill(pid, "SIGCONT"); // it sees the SIGTERM (and the EOF) it was sent and ends
    await waitGone(pid);
    await d.up(2);
    await waitFor(() => d.ids().includes("while-stopped"), { message: "while-stopped" });
    v.emit("after");
    await waitFor(() => d.ids().includes("after"), { message: "after" });
    expect(d.ids()).toEqual(["before", "while-stopped", "after"]);
  }, 30_000);

  test("transportUp(): a restart waiting out a long backoff runs at once; on a live relay it does nothing", async () => {
    const v = newVm();
    const d = new FakeDaemon(v, { backoffMs: [10_000] });
    cleanups.push(() => d.client.stop());
    d.client.start();
    await d.up(1);
    d.client.transportUp(); // up: nothing to do
    expect(d.client.stats.restarts).toBe(0);
    const pid = d.client.hello?.pid as number;
    process.kill(pid, "SIGKILL");
    await waitFor(() => d.states.some((s) => !s.up), { timeoutMs: 5_000, message: "down" });
    await Bun.sleep(300);
    expect(d.client.connected).toBe(false); // waiting out the 10 s backoff
    const t0 = Date.now();
    d.client.transportUp();
    await d.up(2, 5_000);
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(d.client.stats.restarts).toBe(1);
    v.emit("after");
    await waitFor(() => d.ids().includes("after"), { message: "after" });
  }, 20_000);

  test("invalid lines from either side are logged and ignored", async () => {
    const v = newVm();
    // daemon -> relay
    const r = new RawRelay(v);
    cleanups.push(() => r.close());
    r.send("this is not json");
    r.send({ op: "start", spool: {} });
    await r.next("hello");
    r.send('{"op":"launch_missiles"}');
    r.send('{"op":"spool_delete","file":"drain-1-1.jsonl","size":-5}');
    r.send('{"op":"control_start","session":"$(reboot)"}');
    r.send('{"op":"rpc","id":1,"method":"ping"}');
    await r.next("rpc_result", (m) => m.id === 1);
    expect(r.all("log").filter((l) => l.level === "warn" && l.message.includes("invalid"))).toHaveLength(4);
    expect(r.invalid).toEqual([]);
    await r.close();
    // relay -> daemon: a "relay" that prints junk before the real one starts
    const junk = ["garbage", '{"k":"nope"}', '{"k":"spool","file":"x"}', '{"k":"heartbeat","t":"soon"}'].map((l) => `echo '${l}'`).join("; ");
    const d = new FakeDaemon(v, { argv: ["sh", "-c", `${junk}; exec "$@"`, "sh", ...relayArgv()] });
    cleanups.push(() => d.client.stop());
    d.client.start();
    await d.up(1);
    expect(d.client.stats.invalid).toBe(4);
    expect(d.logs.filter((l) => l.level === "warn" && l.message.includes("invalid line from the relay"))).toHaveLength(4);
    expect((await d.client.rpc("ping")).pid).toBe(d.client.hello?.pid as number);
  });
});
