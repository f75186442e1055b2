/**
 * SshExecutor against a real sshd: exec, stdin, streams, close, one
 * persistent connection, the channel limit, timeouts, not_found, SFTP.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ExecError } from "../../src/targets/executor.ts";
import { SshExecutor, type SshExecutorOptions, type SshState } from "../../src/targets/ssh/executor.ts";
import { waitFor } from "../helpers/wait.ts";
import { removeTempDirs, tempDir } from "../tmux/harness.ts";
import { TcpProxy } from "./proxy.ts";
import { type Sshd, sshdAvailable, startSshd, stopAllSshd } from "./sshd.ts";

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

describe.skipIf(!sshdAvailable())("SshExecutor against a real sshd", () => {
  let sshd: Sshd;
  let proxy: TcpProxy;
  const executors: SshExecutor[] = [];

  /** an executor for vm1 (direct) or vm1p (through the proxy, to count connections) */
  function executor(alias = "vm1", opts: Partial<SshExecutorOptions> = {}): SshExecutor {
    const ex = new SshExecutor({ targetId: alias, alias, env: sshd.env(), systemConfigPath: null, ...opts });
    executors.push(ex);
    return ex;
  }

  beforeAll(async () => {
    sshd = await startSshd({ sshdConfig: [] });
    proxy = new TcpProxy(sshd.host, sshd.port);
    sshd.client.addHost("vm1p", { hostName: "127.0.0.1", port: proxy.port });
    sshd.trustHostKey(proxy.port);
  });
  afterEach(async () => {
    await Promise.all(executors.splice(0).map((e) => e.close()));
  });
  afterAll(async () => {
    proxy.close();
    await stopAllSshd();
    removeTempDirs();
  });

  test("exec: stdout, stderr and exit code; the VM's HOME; an empty stdin (EOF at once)", async () => {
    const ex = executor();
    expect(ex.kind).toBe("ssh");
    const r = await ex.exec(["sh", "-c", 'printf "%s" "$HOME"; echo oops >&2; exit 3'], T);
    expect(r).toEqual({ code: 3, stdout: sshd.vmHome, stderr: "oops\n" });
    expect(await ex.exec(["cat"], T)).toEqual({ code: 0, stdout: "", stderr: "" });
  });

  test("exec: stdin is written then closed", async () => {
    const ex = executor();
    const input = `hello\nwörld\n${"x".repeat(200_000)}`;
    const r = await ex.exec(["sh", "-c", "cat; echo done"], { ...T, stdin: input });
    expect(r.stdout).toBe(`${input}done\n`);
  });

  test("exec: large output arrives whole", async () => {
    const ex = executor();
    const r = await ex.exec(["sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' a"], T);
    expect(r.stdout.length).toBe(3_000_000);
  });

  test("exec: death by signal is 128+n", async () => {
    const ex = executor();
    expect((await ex.exec(["sh", "-c", "kill -TERM $$"], T)).code).toBe(143);
    expect((await ex.exec(["sh", "-c", "kill -KILL $$"], T)).code).toBe(137);
  });

  test("exec: a remote command that does not exist is not_found, like locally", async () => {
    const ex = executor();
    const err = await rejection(ex.exec(["agtmux-no-such-command", "x"], T));
    expect(err.kind).toBe("not_found");
    expect(err.argv0).toBe("agtmux-no-such-command");
    expect(err.message).toContain("command not found");
    // and through env (env exits 127 too)
    expect((await rejection(ex.exec(["agtmux-no-such-command"], { ...T, env: { A: "1" } }))).kind).toBe("not_found");
  });

  test("exec: a command timeout rejects with timeout at once and the connection stays usable", async () => {
    const ex = executor();
    const t0 = performance.now();
    const err = await rejection(ex.exec(["sh", "-c", "sleep 1; echo late"], { timeoutMs: 200 }));
    expect(err.kind).toBe("timeout");
    expect(err.message).toContain("timed out after 200 ms");
    expect(performance.now() - t0).toBeLessThan(1000);
    expect((await ex.exec(["echo", "ok"], T)).stdout).toBe("ok\n");
    expect(ex.stats.connects).toBe(1);
    // sshd refuses signal requests for root sessions (no privilege separation after a root login), so
    // here the timed-out process runs to its end; its channel counts against the limit until then
    await waitFor(() => ex.stats.channelsOpen === 0, { timeoutMs: 3000, message: "timed-out channel closed" });
  });

  test("50 execs (sequential and concurrent) reuse one TCP connection", async () => {
    const ex = executor("vm1p");
    const before = proxy.accepted;
    for (let i = 0; i < 25; i++) expect((await ex.exec(["echo", String(i)], T)).stdout).toBe(`${i}\n`);
    const outs = await Promise.all(Array.from({ length: 25 }, (_, i) => ex.exec(["echo", String(i)], T)));
    expect(outs.map((o) => o.stdout)).toEqual(Array.from({ length: 25 }, (_, i) => `${i}\n`));
    expect(proxy.accepted - before).toBe(1);
    expect(proxy.liveConnections).toBe(1);
    expect(ex.stats).toMatchObject({ connects: 1, reconnects: 0, channelsOpened: 50, connected: true });
  });

  test("callers during the connect share it: 10 concurrent first calls, one connection", async () => {
    const ex = executor("vm1p");
    const before = proxy.accepted;
    const outs = await Promise.all(Array.from({ length: 10 }, () => ex.exec(["true"], T)));
    expect(outs.every((o) => o.code === 0)).toBe(true);
    expect(proxy.accepted - before).toBe(1);
    expect(ex.stats.connects).toBe(1);
  });

  test("more concurrent calls than maxChannels queue and all complete", async () => {
    const ex = executor("vm1", { maxChannels: 3 });
    let maxOpen = 0;
    const sampler = setInterval(() => {
      maxOpen = Math.max(maxOpen, ex.stats.channelsOpen);
    }, 2);
    const t0 = performance.now();
    const outs = await Promise.all(Array.from({ length: 12 }, (_, i) => ex.exec(["sh", "-c", `sleep 0.1; echo ${i}`], T)));
    const took = performance.now() - t0;
    clearInterval(sampler);
    expect(outs.map((o) => o.stdout)).toEqual(Array.from({ length: 12 }, (_, i) => `${i}\n`));
    expect(maxOpen).toBeLessThanOrEqual(3);
    expect(maxOpen).toBeGreaterThan(0);
    // 12 calls of >= 100 ms, 3 at a time: at least 4 rounds
    expect(took).toBeGreaterThanOrEqual(400);
    // above OpenSSH's MaxSessions (10) with the default limit (8): no channel open failure
    const ex8 = executor();
    const many = await Promise.all(Array.from({ length: 30 }, (_, i) => ex8.exec(["sh", "-c", `sleep 0.02; echo ${i}`], T)));
    expect(many.map((o) => o.stdout)).toEqual(Array.from({ length: 30 }, (_, i) => `${i}\n`));
  });

  test("stream: lines delivered as they come, a partial last line flushed, exit code", async () => {
    const ex = executor();
    const lines: string[] = [];
    const h = ex.stream(["sh", "-c", "printf 'a\\nb\\n'; sleep 0.05; printf 'c\\r\\nü'; printf 'nicode\\npartial'"], { onLine: (l) => lines.push(l) });
    expect(h.pid).toBeUndefined();
    expect(await h.exited).toBe(0);
    expect(lines).toEqual(["a", "b", "c\r", "ünicode", "partial"]);
    expect(h.error).toBeUndefined();
  });

  test("stream: write() reaches stdin (also before the connection is up), close() ends it and the program exits", async () => {
    const ex = executor();
    const lines: string[] = [];
    // returned synchronously while the connection is still being opened
    const h = ex.stream(["sh", "-c", "while read -r l; do echo \"got $l\"; done; echo bye"], { onLine: (l) => lines.push(l) });
    h.write("early\n");
    await waitFor(() => lines.includes("got early"), { message: "early line" });
    h.write("one\ntwo\n");
    await waitFor(() => lines.length >= 3, { message: "echoed lines" });
    h.close();
    expect(await h.exited).toBe(0);
    expect(lines).toEqual(["got early", "got one", "got two", "bye"]);
    await waitFor(() => ex.stats.channelsOpen === 0, { message: "channel closed" });
  });

  test("stream: close() of a program that ignores stdin EOF ends it after the grace period", async () => {
    const ex = executor();
    const lines: string[] = [];
    const h = ex.stream(["sh", "-c", "while :; do echo tick; sleep 0.05; done"], { onLine: (l) => lines.push(l) });
    await waitFor(() => lines.length > 0, { message: "first tick" });
    const t0 = performance.now();
    h.close();
    const code = await h.exited;
    // TERM (refused for root sessions), then the channel close: its next write hits a closed pipe
    expect(performance.now() - t0).toBeLessThan(3000);
    expect(code).toBeNull();
    expect(h.error).toBeUndefined();
    await waitFor(() => ex.stats.channelsOpen === 0, { message: "channel closed" });
  });

  test("stream: close() before the connection is up ends it without running anything", async () => {
    const ex = executor();
    const h = ex.stream(["sh", "-c", `touch '${join(sshd.vmHome, "should-not-run")}'`], { onLine: () => {} });
    h.close();
    expect(await h.exited).toBeNull();
    expect(h.error).toBeUndefined();
    expect(await Bun.file(join(sshd.vmHome, "should-not-run")).exists()).toBe(false);
  });

  test("stream: env and exit code of a failing program", async () => {
    const ex = executor();
    const lines: string[] = [];
    const h = ex.stream(["sh", "-c", 'echo "$GREETING"; exit 4'], { onLine: (l) => lines.push(l), env: { GREETING: "hi there" } });
    expect(await h.exited).toBe(4);
    expect(lines).toEqual(["hi there"]);
  });

  test("close(): idempotent, ends the TCP connection; a later call reconnects; onState reports both", async () => {
    const ex = executor("vm1p");
    const states: SshState[] = [];
    const off = ex.onState((s) => states.push(s));
    expect(ex.stats.connected).toBe(false);
    await ex.exec(["true"], T);
    expect(ex.stats.connected).toBe(true);
    const before = proxy.accepted;
    await ex.close();
    await ex.close();
    expect(ex.stats.connected).toBe(false);
    await waitFor(() => proxy.liveConnections === 0, { message: "proxy connection closed" });
    expect((await ex.exec(["echo", "again"], T)).stdout).toBe("again\n");
    expect(proxy.accepted - before).toBe(1);
    expect(ex.stats).toMatchObject({ connects: 2, reconnects: 1, connected: true });
    expect(states).toEqual(["connected", "disconnected", "connected"]);
    off();
    await ex.close();
    expect(states).toHaveLength(3);
  });

  test("connect() opens the connection ahead of the first call", async () => {
    const ex = executor();
    await ex.connect();
    expect(ex.stats).toMatchObject({ connects: 1, connected: true, channelsOpened: 0 });
  });

  test("SFTP: a 5 MiB upload lands whole (sha256 compared remotely), with its mode, through a temp name, parents created", async () => {
    const ex = executor();
    const local = join(tempDir("sftp-"), "blob.bin");
    const data = randomBytes(5 * 1024 * 1024);
    writeFileSync(local, data);
    const remoteDir = join(sshd.vmHome, "deep", "er", "dir");
    const remote = join(remoteDir, "agtmux");
    await ex.sftpUpload(local, remote, 0o755);
    const sum = await ex.exec(["sha256sum", remote], T);
    expect(sum.stdout.split(" ")[0]).toBe(createHash("sha256").update(data).digest("hex"));
    const st = await ex.sftpStat(remote);
    expect(st).toMatchObject({ size: data.length, isFile: true, isDirectory: false });
    expect((st?.mode ?? 0) & 0o777).toBe(0o755);
    expect(readdirSync(remoteDir)).toEqual(["agtmux"]);
    // a second upload replaces the file in place
    writeFileSync(local, "v2");
    await ex.sftpUpload(local, remote, 0o700);
    expect((await ex.exec(["cat", remote], T)).stdout).toBe("v2");
    expect(((await ex.sftpStat(remote))?.mode ?? 0) & 0o777).toBe(0o700);
    expect(readdirSync(remoteDir)).toEqual(["agtmux"]);
    expect(await ex.sftpStat(join(remoteDir, "missing"))).toBeNull();
    expect((await ex.sftpStat(remoteDir))?.isDirectory).toBe(true);
    expect(ex.stats.connects).toBe(1);
  });

  test("SFTP: an upload cut by its timeout leaves nothing at the destination; the connection stays usable", async () => {
    const ex = executor();
    const local = join(tempDir("sftp-"), "big.bin");
    writeFileSync(local, randomBytes(8 * 1024 * 1024));
    const remote = join(sshd.vmHome, "cut", "agtmux");
    const err = await rejection(ex.sftpUpload(local, remote, 0o755, { timeoutMs: 20 }));
    expect(err.kind).toBe("timeout");
    expect(await ex.sftpStat(remote)).toBeNull();
    expect((await ex.exec(["echo", "ok"], T)).stdout).toBe("ok\n");
  });

  test("SFTP: relative paths are relative to the login directory", async () => {
    const ex = executor();
    const local = join(tempDir("sftp-"), "small");
    writeFileSync(local, "relative\n");
    await ex.sftpUpload(local, "rel/dir/file.txt", 0o644);
    expect((await ex.exec(["cat", join(sshd.vmHome, "rel/dir/file.txt")], T)).stdout).toBe("relative\n");
    expect((await ex.sftpStat("rel/dir/file.txt"))?.size).toBe(9);
    expect((await ex.sftpStat("~/rel/dir/file.txt"))?.size).toBe(9);
    await ex.sftpUpload(local, "~/tilde/file.txt", 0o600);
    expect((await ex.exec(["cat", join(sshd.vmHome, "tilde/file.txt")], T)).stdout).toBe("relative\n");
  });
});
