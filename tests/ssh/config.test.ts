import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { ExecError } from "../../src/targets/executor.ts";
import { localUser, parseDestination, resolveChain, resolveHost } from "../../src/targets/ssh/config.ts";
import { removeTempDirs, tempDir } from "../tmux/harness.ts";

afterAll(removeTempDirs);

/** a HOME with ~/.ssh/config = text (+ other files under ~/.ssh) */
function home(config: string, files: Record<string, string> = {}): { home: string; env: Record<string, string> } {
  const h = tempDir("sshcfg-");
  mkdirSync(join(h, ".ssh"), { recursive: true, mode: 0o700 });
  writeFileSync(join(h, ".ssh", "config"), config);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(h, ".ssh", name, ".."), { recursive: true });
    writeFileSync(join(h, ".ssh", name), text);
  }
  return { home: h, env: { HOME: h, USER: "alice" } };
}

function configError(fn: () => unknown): ExecError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ExecError) return err;
    throw err;
  }
  throw new Error("expected an ExecError");
}

describe("ssh config resolution", () => {
  test("HostName, Port, User; first value wins; Host * defaults after", () => {
    const h = home(`Host vm1\n  HostName 10.0.0.5\n  Port 2222\n  User bob\n  Port 9999\n\nHost *\n  User nobody\n  ConnectTimeout 7\n  ServerAliveInterval 15\n  ServerAliveCountMax 4\n`);
    const r = resolveHost("vm1", { env: h.env, systemConfigPath: null });
    expect(r).toMatchObject({ alias: "vm1", hostName: "10.0.0.5", port: 2222, user: "bob", connectTimeoutMs: 7000, serverAliveIntervalMs: 15_000, serverAliveCountMax: 4 });
  });

  test("an alias not in the config is a hostname; defaults: port 22, the local user, default identities and known_hosts files", () => {
    const h = home("");
    const r = resolveHost("plain.example.com", { env: h.env, systemConfigPath: null });
    expect(r).toMatchObject({
      hostName: "plain.example.com",
      port: 22,
      user: "alice",
      identityFilesConfigured: false,
      identitiesOnly: false,
      proxyJump: [],
      hashKnownHosts: false,
      hostKeyAlias: undefined,
      connectTimeoutMs: undefined,
    });
    expect(r.identityFiles).toEqual(["id_ed25519", "id_ecdsa", "id_rsa"].map((f) => join(h.home, ".ssh", f)));
    expect(r.userKnownHostsFiles).toEqual([join(h.home, ".ssh", "known_hosts"), join(h.home, ".ssh", "known_hosts2")]);
    expect(r.globalKnownHostsFiles).toEqual(["/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"]);
  });

  test("a missing config file is no config", () => {
    const h = tempDir("sshcfg-");
    expect(resolveHost("x", { env: { HOME: h, USER: "u" }, systemConfigPath: null }).hostName).toBe("x");
  });

  test("user@host and ssh:// destinations override the config", () => {
    const h = home(`Host vm1\n  User bob\n  Port 2222\n`);
    expect(resolveHost("carol@vm1", { env: h.env, systemConfigPath: null })).toMatchObject({ user: "carol", port: 2222, hostName: "vm1" });
    expect(resolveHost("ssh://dave@vm1:2200", { env: h.env, systemConfigPath: null })).toMatchObject({ user: "dave", port: 2200 });
    expect(parseDestination("u@[::1]:2200")).toEqual({ user: "u", host: "::1", port: 2200 });
    expect(parseDestination("gw:2022")).toEqual({ host: "gw", port: 2022 });
    expect(configError(() => parseDestination("gw:99999")).kind).toBe("config");
  });

  test("IdentityFile list with ~, %d %h %r %u %p %n %l %% and ${VAR}; quoted paths keep spaces", () => {
    const h = home(
      `Host vm1\n  HostName real.example\n  User bob\n  Port 2200\n  IdentityFile ~/.ssh/id_%r@%h\n  IdentityFile "%d/my keys/%u_%n_%p"\n  IdentityFile \${KEYDIR}/k%%1\n  IdentityFile ~/.ssh/%l\n  IdentitiesOnly yes\n`,
    );
    const r = resolveHost("vm1", { env: { ...h.env, KEYDIR: "/keys" }, systemConfigPath: null });
    expect(r.identityFiles).toEqual([join(h.home, ".ssh", "id_bob@real.example"), `${h.home}/my keys/alice_vm1_2200`, "/keys/k%1", join(h.home, ".ssh", hostname())]);
    expect(r.identityFilesConfigured).toBe(true);
    expect(r.identitiesOnly).toBe(true);
    expect(configError(() => resolveHost("vm1", { env: h.env, systemConfigPath: null })).message).toContain("KEYDIR");
  });

  test("HostName %h, UserKnownHostsFile list, HashKnownHosts, HostKeyAlias, StrictHostKeyChecking recorded, IdentityAgent", () => {
    const h = home(
      `Host *.lab\n  HostName %h.example.net\n  UserKnownHostsFile ~/.ssh/kh1 /abs/kh2\n  HashKnownHosts yes\n  HostKeyAlias labhost\n  StrictHostKeyChecking no\n  IdentityAgent ~/.ssh/agent.sock\n`,
    );
    const r = resolveHost("vm.lab", { env: { ...h.env, SSH_AUTH_SOCK: "/tmp/other" }, systemConfigPath: null });
    expect(r).toMatchObject({
      hostName: "vm.lab.example.net",
      userKnownHostsFiles: [join(h.home, ".ssh", "kh1"), "/abs/kh2"],
      hashKnownHosts: true,
      hostKeyAlias: "labhost",
      strictHostKeyChecking: "no",
      agentSocket: join(h.home, ".ssh", "agent.sock"),
    });
    expect(resolveHost("other", { env: { ...h.env, SSH_AUTH_SOCK: "/tmp/a.sock" }, systemConfigPath: null }).agentSocket).toBe("/tmp/a.sock");
    const none = home(`Host x\n  IdentityAgent none\n`);
    expect(resolveHost("x", { env: { ...none.env, SSH_AUTH_SOCK: "/tmp/a.sock" }, systemConfigPath: null }).agentSocket).toBeUndefined();
  });

  test("Include: relative to ~/.ssh, globbed, sorted, inside a Host block too, nested", () => {
    const h = home(`Include conf.d/*.conf\nHost vm1\n  Include extra/vm1.inc\n  User fromtop\n`, {
      "conf.d/10-a.conf": `Host a\n  HostName a.example\n  Include nested.conf\n`,
      "conf.d/20-b.conf": `Host a b\n  Port 2001\n  HostName not-first\n`,
      "conf.d/ignored.txt": `Host a\n  Port 1\n`,
      "nested.conf": `User nested\n`,
      "extra/vm1.inc": `HostName vm1.example\nPort 2222\nHost c\n  HostName c.example\n`,
    });
    const opts = { env: h.env, systemConfigPath: null };
    expect(resolveHost("a", opts)).toMatchObject({ hostName: "a.example", port: 2001, user: "nested" });
    expect(resolveHost("b", opts)).toMatchObject({ hostName: "not-first", port: 2001 });
    expect(resolveHost("vm1", opts)).toMatchObject({ hostName: "vm1.example", port: 2222, user: "fromtop" });
    expect(resolveHost("c", opts).hostName).toBe("c.example");
  });

  test("the system config is read after the user's (user values win), its Include relative to its own dir", () => {
    const h = home(`Host vm1\n  Port 2222\n`);
    const sys = tempDir("sshsys-");
    mkdirSync(join(sys, "ssh_config.d"));
    writeFileSync(join(sys, "ssh_config"), `Include ssh_config.d/*.conf\nHost *\n  Port 22\n  HashKnownHosts yes\n`);
    writeFileSync(join(sys, "ssh_config.d", "x.conf"), `Host vm1\n  User fromsys\n`);
    const r = resolveHost("vm1", { env: h.env, systemConfigPath: join(sys, "ssh_config") });
    expect(r).toMatchObject({ port: 2222, hashKnownHosts: true, user: "fromsys" });
  });

  test("ProxyJump chains: aliases resolved recursively, user@host:port forms, the last element's own ProxyJump ignored", () => {
    const h = home(
      [
        "Host vm1",
        "  HostName 10.0.0.1",
        "  ProxyJump bastion,jumper@inner:2200",
        "Host bastion",
        "  HostName bastion.example",
        "  User admin",
        "  ProxyJump root@gate",
        "Host inner",
        "  HostName inner.example",
        "  ProxyJump should-be-ignored",
        "Host gate",
        "  HostName gate.example",
        "  Port 2022",
        "Host direct",
        "  ProxyJump none",
        "",
      ].join("\n"),
    );
    const chain = resolveChain("vm1", { env: h.env, systemConfigPath: null });
    expect(chain.map((c) => `${c.user}@${c.hostName}:${c.port}`)).toEqual(["root@gate.example:2022", "admin@bastion.example:22", "jumper@inner.example:2200", "alice@10.0.0.1:22"]);
    expect(resolveChain("direct", { env: h.env, systemConfigPath: null })).toHaveLength(1);
  });

  test("ProxyJump loops are config errors", () => {
    const h = home(`Host a\n  ProxyJump b\nHost b\n  ProxyJump a\n`);
    const err = configError(() => resolveChain("a", { env: h.env, systemConfigPath: null }));
    expect(err.kind).toBe("config");
    expect(err.message).toContain("ProxyJump loop: a -> b -> a");
  });

  test("errors: unreadable config, bad values, unknown tokens, ProxyCommand -> kind config", () => {
    const bad = home(`Host x\n  Port abc\n`);
    expect(configError(() => resolveHost("x", { env: bad.env, systemConfigPath: null })).message).toContain("Port");
    const tok = home(`Host x\n  IdentityFile ~/.ssh/%Q\n`);
    expect(configError(() => resolveHost("x", { env: tok.env, systemConfigPath: null })).message).toContain("%Q");
    const quote = home(`Host x\n  IdentityFile "unterminated\n`);
    expect(configError(() => resolveHost("x", { env: quote.env, systemConfigPath: null })).kind).toBe("config");
    const pc = home(`Host x\n  ProxyCommand nc %h %p\n`);
    expect(configError(() => resolveHost("x", { env: pc.env, systemConfigPath: null })).message).toContain("ProxyCommand");
    const yn = home(`Host x\n  IdentitiesOnly maybe\n`);
    expect(configError(() => resolveHost("x", { env: yn.env, systemConfigPath: null })).message).toContain("IdentitiesOnly");
    // tests run as root, who reads a 0000 file: an unreadable config is a directory here
    const asDir = tempDir("sshcfg-");
    mkdirSync(join(asDir, ".ssh", "config"), { recursive: true });
    const e = configError(() => resolveHost("x", { env: { HOME: asDir, USER: "u" }, systemConfigPath: null }));
    expect(e.kind).toBe("config");
    expect(e.message).toContain("cannot read");
  });

  test("Match host/user blocks apply; Match exec never runs", () => {
    const marker = join(tempDir("sshcfg-"), "ran");
    const h = home(`Match host vm*\n  Port 2200\nMatch exec "touch ${marker}"\n  User fromexec\nHost vm1\n  User bob\n`);
    const r = resolveHost("vm1", { env: h.env, systemConfigPath: null });
    expect(r).toMatchObject({ port: 2200, user: "bob" });
    expect(Bun.file(marker).size).toBe(0);
  });

  test("local user: USER, then LOGNAME, then the passwd entry", () => {
    expect(localUser({ USER: "u1", LOGNAME: "u2" })).toBe("u1");
    expect(localUser({ LOGNAME: "u2" })).toBe("u2");
    expect(localUser({})).toBeTruthy();
  });
});
