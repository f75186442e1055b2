/**
 * Transport failures: retries with backoff (injected sleep), unreachable and
 * connect timeouts, keepalives on a blackholed network, sshd restarts.
 */
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { ExecError } from "../../src/targets/executor.ts";
import { connectWithRetry, isRetryable, SshExecutor, type SshExecutorOptions, type SshState } from "../../src/targets/ssh/executor.ts";
import { waitFor } from "../helpers/wait.ts";
import { removeTempDirs } from "../tmux/harness.ts";
import { TcpProxy } from "./proxy.ts";
import { type Sshd, SshClientHome, sshdAvailable, startSshd, stopAllSshd } from "./sshd.ts";

const T = { timeoutMs: 5000 };

async function rejection(p: Promise<unknown>): Promise<ExecError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ExecError) return err;
    throw err;
  }
  throw new Error("expected an ExecError");
}

async function freePort(): Promise<number> {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = l.port;
  l.stop(true);
  return port;
}

describe("connectWithRetry (unit)", () => {
  test("two retries for transport failures, 250 ms then 1 s with +-20 % jitter", async () => {
    for (const [r, want] of [
      [0.5, [250, 1000]],
      [0, [200, 800]],
      [1, [300, 1200]],
    ] as const) {
      const sleeps: number[] = [];
      let calls = 0;
      const err = await rejection(
        connectWithRetry(
          async () => {
            calls++;
            throw new ExecError("unreachable", "refused", "ssh");
          },
          { sleep: async (ms) => void sleeps.push(ms), random: () => r },
        ),
      );
      expect(err.kind).toBe("unreachable");
      expect(calls).toBe(3);
      expect(sleeps).toEqual([...want]);
    }
  });

  test("succeeds on a later attempt; never retries auth, host-key or config errors", async () => {
    let n = 0;
    const v = await connectWithRetry(
      async () => {
        if (++n < 3) throw new ExecError("connect_timeout", "slow", "ssh");
        return "ok";
      },
      { sleep: async () => {} },
    );
    expect(v).toBe("ok");
    for (const kind of ["auth_failed", "host_key_unknown", "host_key_mismatch", "config"] as const) {
      let calls = 0;
      const err = await rejection(
        connectWithRetry(
          async () => {
            calls++;
            throw new ExecError(kind, kind, "ssh");
          },
          { sleep: async () => {} },
        ),
      );
      expect(err.kind).toBe(kind);
      expect(calls).toBe(1);
      expect(isRetryable(err)).toBe(false);
    }
  });
});

describe.skipIf(!sshdAvailable())("SshExecutor resilience against a real sshd", () => {
  const executors: SshExecutor[] = [];
  const proxies: TcpProxy[] = [];
  let sleeps: number[] = [];

  function executor(sshd: Sshd | SshClientHome, alias: string, opts: Partial<SshExecutorOptions> = {}): SshExecutor {
    const ex = new SshExecutor({
      targetId: alias,
      alias,
      env: sshd.env(),
      systemConfigPath: null,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      random: () => 0.5,
      ...opts,
    });
    executors.push(ex);
    return ex;
  }

  function proxied(sshd: Sshd, alias: string): TcpProxy {
    const p = new TcpProxy(sshd.host, sshd.port);
    proxies.push(p);
    sshd.client.addHost(alias, { hostName: "127.0.0.1", port: p.port });
    sshd.trustHostKey(p.port);
    return p;
  }

  afterEach(async () => {
    await Promise.all(executors.splice(0).map((e) => e.close()));
    for (const p of proxies.splice(0)) p.close();
    sleeps = [];
  });
  afterAll(async () => {
    await stopAllSshd();
    removeTempDirs();
  });

  test("nothing listening: unreachable quickly, after 2 retries with the contract's backoff", async () => {
    const client = new SshClientHome();
    client.addHost("dead", { hostName: "127.0.0.1", port: await freePort() });
    const ex = executor(client, "dead");
    const t0 = performance.now();
    const err = await rejection(ex.exec(["true"], T));
    expect(err.kind).toBe("unreachable");
    expect(err.message).toContain("connection refused");
    expect(sleeps).toEqual([250, 1000]);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(ex.stats.lastError?.kind).toBe("unreachable");
    expect(ex.stats.connected).toBe(false);
  });

  test("an unknown alias (not in config, not resolvable) is unreachable: could not resolve hostname", async () => {
    const client = new SshClientHome();
    const err = await rejection(executor(client, "no-such-host.invalid").exec(["true"], T));
    expect(err.kind).toBe("unreachable");
    expect(err.message).toContain("could not resolve hostname");
    expect(sleeps).toHaveLength(2);
  });

  test("a blackholed network at connect time: connect_timeout after connectTimeoutMs per attempt", async () => {
    const sshd = await startSshd({ aliases: [] });
    const proxy = proxied(sshd, "holed");
    proxy.blackhole();
    const ex = executor(sshd, "holed", { connectTimeoutMs: 300 });
    const t0 = performance.now();
    const err = await rejection(ex.exec(["true"], T));
    const took = performance.now() - t0;
    expect(err.kind).toBe("connect_timeout");
    expect(sleeps).toEqual([250, 1000]);
    expect(proxy.accepted).toBe(3);
    expect(took).toBeGreaterThanOrEqual(850);
    expect(took).toBeLessThan(2500);
  });

  test("a stream started before the connection fails: exited resolves null, the error is on the handle", async () => {
    const client = new SshClientHome();
    client.addHost("dead", { hostName: "127.0.0.1", port: await freePort() });
    const h = executor(client, "dead").stream(["cat"], { onLine: () => {} });
    h.write("ignored\n");
    expect(await h.exited).toBeNull();
    expect(h.error?.kind).toBe("unreachable");
  });

  test("blackhole mid-stream: keepalives declare the connection dead in time, exited resolves null, resume() + next call reconnects", async () => {
    const sshd = await startSshd({ aliases: [] });
    const proxy = proxied(sshd, "flaky");
    const ex = executor(sshd, "flaky", { keepaliveIntervalMs: 200, keepaliveCountMax: 2 });
    const states: SshState[] = [];
    ex.onState((s) => states.push(s));
    const lines: string[] = [];
    const h = ex.stream(["sh", "-c", "while :; do echo tick; sleep 0.05; done"], { onLine: (l) => lines.push(l) });
    await waitFor(() => lines.length >= 2, { message: "ticks" });
    // a call in flight when the network goes: it fails with the connection, not with its own timeout
    const inflight = ex.exec(["sleep", "3"], { timeoutMs: 10_000 });
    await waitFor(() => ex.stats.channelsOpen === 2, { message: "second channel open" });
    const t0 = performance.now();
    proxy.blackhole();
    const code = await h.exited;
    const detectedMs = performance.now() - t0;
    expect(code).toBeNull();
    expect(h.error?.kind).toBe("unreachable");
    // interval 200 ms x (count 2 + the one that fails), plus slack for a loaded CI box
    expect(detectedMs).toBeLessThan(200 * 3 + 700);
    expect((await rejection(inflight)).kind).toBe("unreachable");
    expect(ex.stats.connected).toBe(false);
    expect(ex.stats.lastError?.message).toContain("Keepalive timeout");
    expect(states).toEqual(["connected", "disconnected"]);
    proxy.resume();
    expect((await ex.exec(["echo", "back"], T)).stdout).toBe("back\n");
    expect(ex.stats).toMatchObject({ connects: 2, reconnects: 1, connected: true, channelsOpen: 0 });
    expect(proxy.accepted).toBe(2);
    expect(states).toEqual(["connected", "disconnected", "connected"]);
  });

  test("sshd stopped: calls fail unreachable; started again on the same port: the next call reconnects", async () => {
    const sshd = await startSshd();
    const ex = executor(sshd, "vm1");
    expect((await ex.exec(["echo", "1"], T)).stdout).toBe("1\n");
    await sshd.stop();
    await waitFor(() => !ex.stats.connected, { message: "connection dropped" });
    const err = await rejection(ex.exec(["true"], T));
    expect(err.kind).toBe("unreachable");
    expect(sleeps).toEqual([250, 1000]);
    await sshd.start();
    expect((await ex.exec(["echo", "2"], T)).stdout).toBe("2\n");
    expect(ex.stats).toMatchObject({ connects: 2, reconnects: 1, connected: true });
  });

  test("a flap during the retries: the call succeeds once sshd is back", async () => {
    const sshd = await startSshd();
    await sshd.stop();
    const ex = executor(sshd, "vm1", {
      sleep: async (ms) => {
        sleeps.push(ms);
        if (sleeps.length === 1) await sshd.start();
      },
    });
    expect((await ex.exec(["echo", "ok"], T)).stdout).toBe("ok\n");
    expect(sleeps).toEqual([250]);
  });
});
