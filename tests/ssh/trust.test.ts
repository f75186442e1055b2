/**
 * Host keys (unknown / accept-new / changed / revoked), authentication
 * (IdentityFile, encrypted keys, ssh-agent, IdentitiesOnly, failures) and
 * ProxyJump, against real sshd instances.
 */
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { appendFileSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { ExecError } from "../../src/targets/executor.ts";
import { SshExecutor, type SshExecutorOptions } from "../../src/targets/ssh/executor.ts";
import { waitFor } from "../helpers/wait.ts";
import { removeTempDirs, tempDir } from "../tmux/harness.ts";
import { TcpProxy } from "./proxy.ts";
import { type Agent, generateKey, type Sshd, SshClientHome, sshdAvailable, startAgent, startSshd, stopAllSshd } from "./sshd.ts";

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

function fingerprint(pubLine: string): string {
  const path = join(tempDir("fp-"), "k.pub");
  appendFileSync(path, `${pubLine}\n`);
  const out = Bun.spawnSync(["ssh-keygen", "-lf", path], { stdout: "pipe" }).stdout.toString();
  const fp = out.split(" ")[1];
  if (fp === undefined) throw new Error(`ssh-keygen -lf: ${out}`);
  return fp;
}

describe.skipIf(!sshdAvailable())("ssh trust: host keys, auth, ProxyJump", () => {
  const executors: SshExecutor[] = [];
  const agents: Agent[] = [];
  const sleeps: number[] = [];

  function executor(sshd: Sshd, opts: Partial<SshExecutorOptions> = {}, alias = "vm1"): SshExecutor {
    const ex = new SshExecutor({
      targetId: alias,
      alias,
      env: sshd.env(),
      systemConfigPath: null,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      ...opts,
    });
    executors.push(ex);
    return ex;
  }

  afterEach(async () => {
    await Promise.all(executors.splice(0).map((e) => e.close()));
    await Promise.all(agents.splice(0).map((a) => a.stop()));
    sleeps.length = 0;
  });
  afterAll(async () => {
    await stopAllSshd();
    removeTempDirs();
  });

  test("an unknown host key is refused with its SHA256 fingerprint and how to accept it; nothing is recorded", async () => {
    const sshd = await startSshd({ trustHostKey: false });
    const err = await rejection(executor(sshd).exec(["true"], T));
    expect(err.kind).toBe("host_key_unknown");
    expect(err.message).toContain(fingerprint(sshd.hostPublicKey));
    expect(err.message).toContain(`[127.0.0.1]:${sshd.port}`);
    expect(err.message).toContain("--accept-new-host-key");
    expect(err.message).toContain("agtmux target connect vm1 --accept-new-host-key");
    expect(sshd.client.knownHosts()).toBe("");
    expect(sleeps).toEqual([]); // not retried
  });

  test("accept-new records the key ([host]:port line) and later connects match it", async () => {
    const sshd = await startSshd({ trustHostKey: false });
    const ex = executor(sshd, { acceptNewHostKey: true });
    expect((await ex.exec(["echo", "hi"], T)).stdout).toBe("hi\n");
    const [type, b64] = sshd.hostPublicKey.split(" ");
    expect(sshd.client.knownHosts()).toBe(`[127.0.0.1]:${sshd.port} ${type} ${b64}\n`);
    expect((await executor(sshd).exec(["echo", "again"], T)).stdout).toBe("again\n");
  });

  test("connect({acceptNewHostKey}) accepts for that connect only", async () => {
    const sshd = await startSshd({ trustHostKey: false });
    const ex = executor(sshd);
    expect((await rejection(ex.exec(["true"], T))).kind).toBe("host_key_unknown");
    await ex.connect({ acceptNewHostKey: true });
    expect((await ex.exec(["echo", "ok"], T)).stdout).toBe("ok\n");
    expect(sshd.client.knownHosts()).toContain(`[127.0.0.1]:${sshd.port} ssh-ed25519`);
  });

  test("HashKnownHosts yes: accept-new writes a hashed line that later matches", async () => {
    const sshd = await startSshd({ trustHostKey: false, aliases: [] });
    sshd.addAlias("vm1", { extra: ["HashKnownHosts yes"] });
    await executor(sshd, { acceptNewHostKey: true }).exec(["true"], T);
    const kh = sshd.client.knownHosts();
    expect(kh).toStartWith("|1|");
    expect(kh).not.toContain("127.0.0.1");
    expect((await executor(sshd).exec(["echo", "ok"], T)).stdout).toBe("ok\n");
    // ssh-keygen finds it under the [host]:port name too
    const found = Bun.spawnSync(["ssh-keygen", "-F", `[127.0.0.1]:${sshd.port}`, "-f", sshd.client.knownHostsPath], { stdout: "pipe" });
    expect(found.exitCode).toBe(0);
  });

  test("HostKeyAlias: the key is looked up and recorded under the alias", async () => {
    const sshd = await startSshd({ trustHostKey: false, aliases: [] });
    sshd.addAlias("vm1", { extra: ["HostKeyAlias my-vm"] });
    await executor(sshd, { acceptNewHostKey: true }).exec(["true"], T);
    expect(sshd.client.knownHosts()).toStartWith("my-vm ssh-ed25519 ");
    expect((await executor(sshd).exec(["echo", "ok"], T)).stdout).toBe("ok\n");
  });

  test("a changed host key is always refused, even with acceptNewHostKey, naming file:line and the new fingerprint", async () => {
    const sshd = await startSshd();
    expect((await executor(sshd).exec(["true"], T)).code).toBe(0);
    const before = sshd.client.knownHosts();
    await sshd.rotateHostKey();
    const err = await rejection(executor(sshd, { acceptNewHostKey: true }).exec(["true"], T));
    expect(err.kind).toBe("host_key_mismatch");
    expect(err.message).toContain("REMOTE HOST IDENTIFICATION HAS CHANGED");
    expect(err.message).toContain(fingerprint(sshd.hostPublicKey));
    expect(err.message).toContain(`${sshd.client.knownHostsPath}:1`);
    expect(sshd.client.knownHosts()).toBe(before);
    expect(sleeps).toEqual([]);
  });

  test("an executor that was connected refuses the new key on its reconnect", async () => {
    const sshd = await startSshd();
    const ex = executor(sshd, { acceptNewHostKey: true });
    await ex.exec(["true"], T);
    await sshd.rotateHostKey();
    await waitFor(() => !ex.stats.connected, { message: "connection dropped" });
    const err = await rejection(ex.exec(["true"], T));
    expect(err.kind).toBe("host_key_mismatch");
    expect(ex.stats.lastError?.kind).toBe("host_key_mismatch");
  });

  test("a key known only with another type is refused like a changed one; a @revoked key is refused", async () => {
    const sshd = await startSshd({ trustHostKey: false });
    const other = generateKey(join(tempDir("k-"), "rsa"), { type: "rsa" });
    sshd.client.trust(sshd.port, other.publicKey);
    const err = await rejection(executor(sshd, { acceptNewHostKey: true }).exec(["true"], T));
    expect(err.kind).toBe("host_key_mismatch");
    expect(err.message).toContain("known with a ssh-rsa key");
    sshd.client.clearKnownHosts();
    sshd.trustHostKey();
    appendFileSync(sshd.client.knownHostsPath, `@revoked * ${sshd.hostPublicKey}\n`);
    const rev = await rejection(executor(sshd, { acceptNewHostKey: true }).exec(["true"], T));
    expect(rev.kind).toBe("host_key_mismatch");
    expect(rev.message).toContain("@revoked");
  });

  test("a key not in authorized_keys: auth_failed naming user@host and the keys tried, not retried", async () => {
    const sshd = await startSshd({ aliases: [] });
    const stranger = generateKey(join(tempDir("k-"), "stranger"));
    sshd.addAlias("vm1", { identityFile: stranger.path });
    const err = await rejection(executor(sshd).exec(["true"], T));
    expect(err.kind).toBe("auth_failed");
    expect(err.message).toContain(`root@127.0.0.1:${sshd.port} (vm1)`);
    expect(err.message).toContain(stranger.path);
    expect(err.message).toContain("SSH_AUTH_SOCK not set");
    expect(sleeps).toEqual([]);
  });

  test("an encrypted key is skipped (reported) and the next IdentityFile is used; alone it fails naming it", async () => {
    const sshd = await startSshd({ aliases: [] });
    const locked = generateKey(join(tempDir("k-"), "locked"), { passphrase: "secret phrase" });
    sshd.authorize(locked.publicKey);
    sshd.addAlias("vm1", { identityFile: locked.path, extra: [`IdentityFile ${sshd.client.key.path}`] });
    expect((await executor(sshd).exec(["echo", "ok"], T)).stdout).toBe("ok\n");
    sshd.addAlias("lockedonly", { identityFile: locked.path });
    const err = await rejection(executor(sshd, {}, "lockedonly").exec(["true"], T));
    expect(err.kind).toBe("auth_failed");
    expect(err.message).toContain(`${locked.path}: encrypted`);
    expect(err.message).toContain("add the key to ssh-agent");
  });

  test("ssh-agent: with no key file, authenticates through SSH_AUTH_SOCK", async () => {
    const client = new SshClientHome();
    const sshd = await startSshd({ client, aliases: [] });
    const agentKey = generateKey(join(tempDir("k-"), "agentkey"));
    sshd.authorize(agentKey.publicKey);
    const agent = await startAgent([agentKey.path]);
    agents.push(agent);
    // no key on disk at all: neither the config nor the default ~/.ssh/id_* can log in
    rmSync(agentKey.path);
    rmSync(client.key.path);
    sshd.addAlias("vm1", { identityFile: null });
    expect((await rejection(executor(sshd).exec(["true"], T))).kind).toBe("auth_failed");
    const ex = executor(sshd, { env: client.env({ SSH_AUTH_SOCK: agent.sock }) });
    expect((await ex.exec(["echo", "via agent"], T)).stdout).toBe("via agent\n");
  });

  test("IdentitiesOnly yes: only the agent key matching an IdentityFile (.pub) is offered", async () => {
    const client = new SshClientHome();
    const sshd = await startSshd({ client, aliases: [] });
    const good = generateKey(join(tempDir("k-"), "good"));
    const other = generateKey(join(tempDir("k-"), "other"));
    sshd.authorize(good.publicKey);
    const agent = await startAgent([good.path, other.path]);
    agents.push(agent);
    rmSync(good.path); // only good.pub stays: the agent holds the private half
    rmSync(client.key.path);
    sshd.addAlias("goodonly", { identityFile: good.path, extra: ["IdentitiesOnly yes"] });
    sshd.addAlias("otheronly", { identityFile: `${other.path}.pub`, extra: ["IdentitiesOnly yes"] });
    const env = client.env({ SSH_AUTH_SOCK: agent.sock });
    expect((await executor(sshd, { env }, "goodonly").exec(["echo", "ok"], T)).stdout).toBe("ok\n");
    const err = await rejection(executor(sshd, { env }, "otheronly").exec(["true"], T));
    expect(err.kind).toBe("auth_failed");
  });

  test("ProxyJump: the target is reached through the jump host's one connection; closing ends both", async () => {
    const client = new SshClientHome();
    const jump = await startSshd({ client, aliases: [], trustHostKey: false });
    const target = await startSshd({ client, aliases: [], trustHostKey: false });
    const proxy = new TcpProxy(jump.host, jump.port);
    try {
      client.addHost("jump1", { hostName: "127.0.0.1", port: proxy.port });
      jump.trustHostKey(proxy.port);
      client.addHost("vm2", { hostName: "127.0.0.1", port: target.port, extra: ["ProxyJump jump1"] });
      target.trustHostKey();
      const ex = executor(target, { env: client.env() }, "vm2");
      const r = await ex.exec(["sh", "-c", 'printf "%s" "$HOME"'], T);
      expect(r.stdout).toBe(target.vmHome);
      for (let i = 0; i < 5; i++) await ex.exec(["true"], T);
      expect(proxy.accepted).toBe(1);
      expect(proxy.liveConnections).toBe(1);
      // the jump's connection carries the target's: cutting it drops the target
      proxy.reset();
      await waitFor(() => !ex.stats.connected, { message: "target connection dropped with its jump" });
      expect((await ex.exec(["echo", "back"], T)).stdout).toBe("back\n");
      expect(proxy.accepted).toBe(2);
      await ex.close();
      await waitFor(() => proxy.liveConnections === 0, { message: "jump connection closed with the target's" });
    } finally {
      proxy.close();
    }
  });

  test("ProxyJump: an unknown target key behind a known jump is refused (each hop is verified)", async () => {
    const client = new SshClientHome();
    const jump = await startSshd({ client, aliases: ["jump1"] });
    const target = await startSshd({ client, aliases: [], trustHostKey: false });
    client.addHost("vm2", { hostName: "127.0.0.1", port: target.port, extra: ["ProxyJump jump1"] });
    const err = await rejection(executor(jump, { env: client.env() }, "vm2").exec(["true"], T));
    expect(err.kind).toBe("host_key_unknown");
    expect(err.message).toContain(`[127.0.0.1]:${target.port}`);
    // and a jump to nowhere is unreachable
    client.addHost("vm3", { hostName: "127.0.0.1", port: 1, extra: ["ProxyJump jump1"] });
    const err3 = await rejection(executor(jump, { env: client.env() }, "vm3").exec(["true"], T));
    expect(err3.kind).toBe("unreachable");
    expect(err3.message).toContain("jump host");
  });

  test("a config error is reported as kind config, not retried", async () => {
    const sshd = await startSshd({ aliases: [] });
    appendFileSync(sshd.client.configPath, "Host vm1\n  Port notanumber\n");
    const err = await rejection(executor(sshd).exec(["true"], T));
    expect(err.kind).toBe("config");
    expect(sleeps).toEqual([]);
    expect(readFileSync(sshd.client.configPath, "utf8")).toContain("notanumber");
  });
});
