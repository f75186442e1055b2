import { afterAll, describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { appendFileSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { utils } from "ssh2";
import {
  append,
  appendKnownHost,
  check,
  checkHostKey,
  fingerprintSha256,
  hashHostName,
  hostFieldMatches,
  keyTypeOf,
  knownHostName,
  knownKeyTypes,
  loadKnownHosts,
  parseKnownHosts,
} from "../../src/targets/ssh/known-hosts.ts";
import { removeTempDirs, tempDir } from "../tmux/harness.ts";
import { generateKey } from "./sshd.ts";

afterAll(removeTempDirs);

function keyPair(type: "ed25519" | "rsa" = "ed25519"): { blob: Buffer; line: string; pubPath: string } {
  const dir = tempDir("kh-");
  const k = generateKey(join(dir, "k"), { type });
  const [t, b64] = k.publicKey.split(" ");
  return { blob: Buffer.from(b64 ?? "", "base64"), line: `${t} ${b64}`, pubPath: `${k.path}.pub` };
}

const A = keyPair();
const B = keyPair();
const R = keyPair("rsa");

describe("known_hosts", () => {
  test("key type and SHA256 fingerprint agree with ssh-keygen", () => {
    expect(keyTypeOf(A.blob)).toBe("ssh-ed25519");
    expect(keyTypeOf(R.blob)).toBe("ssh-rsa");
    const out = Bun.spawnSync(["ssh-keygen", "-lf", A.pubPath], { stdout: "pipe" }).stdout.toString();
    expect(out).toContain(fingerprintSha256(A.blob));
    expect(fingerprintSha256(A.blob)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  test("recorded names: host on 22, [host]:port otherwise", () => {
    expect(knownHostName("example.com", 22)).toBe("example.com");
    expect(knownHostName("127.0.0.1", 2222)).toBe("[127.0.0.1]:2222");
  });

  test("plain host lists, [host]:port, case-insensitive", () => {
    const entries = parseKnownHosts(`# comment\n\nalpha,Beta.example.com ${A.line} me@x\n[127.0.0.1]:2222 ${B.line}\n`, "kh");
    expect(entries).toHaveLength(2);
    expect(checkHostKey(entries, "alpha", A.blob)).toEqual({ status: "match", file: "kh", line: 3 });
    expect(checkHostKey(entries, "beta.EXAMPLE.com", A.blob).status).toBe("match");
    expect(checkHostKey(entries, "[127.0.0.1]:2222", B.blob)).toEqual({ status: "match", file: "kh", line: 4 });
    // the same address on port 22 is another name
    expect(checkHostKey(entries, "127.0.0.1", B.blob).status).toBe("unknown");
    expect(checkHostKey(entries, "gamma", A.blob).status).toBe("unknown");
  });

  test("same type, other key: mismatch naming file:line; other type only: unknown listing it", () => {
    const entries = parseKnownHosts(`alpha ${A.line}\nbeta ${R.line}\n`, "/f");
    const m = checkHostKey(entries, "alpha", B.blob);
    expect(m.status).toBe("mismatch");
    if (m.status === "mismatch") expect(m.known).toEqual([{ file: "/f", line: 1, keyType: "ssh-ed25519", fingerprint: fingerprintSha256(A.blob) }]);
    const u = checkHostKey(entries, "beta", A.blob);
    expect(u.status).toBe("unknown");
    if (u.status === "unknown") expect(u.otherTypes.map((o) => o.keyType)).toEqual(["ssh-rsa"]);
    expect(knownKeyTypes(entries, "beta")).toEqual(["ssh-rsa"]);
  });

  test("a matching line anywhere wins over a mismatching one", () => {
    const entries = parseKnownHosts(`alpha ${B.line}\nalpha ${A.line}\n`, "f");
    expect(checkHostKey(entries, "alpha", A.blob)).toEqual({ status: "match", file: "f", line: 2 });
  });

  test("hashed entries: HMAC-SHA1 of the name with the salt", () => {
    const salt = Buffer.from("0123456789abcdefghij");
    const mac = createHmac("sha1", salt).update("[10.1.2.3]:2200").digest("base64");
    const field = `|1|${salt.toString("base64")}|${mac}`;
    expect(hashHostName("[10.1.2.3]:2200", salt)).toBe(field);
    const entries = parseKnownHosts(`${field} ${A.line}\n`, "f");
    expect(checkHostKey(entries, "[10.1.2.3]:2200", A.blob).status).toBe("match");
    expect(checkHostKey(entries, "10.1.2.3", A.blob).status).toBe("unknown");
    expect(checkHostKey(entries, "[10.1.2.3]:2200", B.blob).status).toBe("mismatch");
    // ssh-keygen -H agrees
    const dir = tempDir("kh-");
    const file = join(dir, "known_hosts");
    writeFileSync(file, `[10.9.8.7]:2222 ${A.line}\n`);
    expect(Bun.spawnSync(["ssh-keygen", "-H", "-f", file], { stdout: "ignore", stderr: "ignore" }).exitCode).toBe(0);
    expect(readFileSync(file, "utf8")).toStartWith("|1|");
    expect(check([file], "10.9.8.7", 2222, "ssh-ed25519", A.blob).status).toBe("match");
  });

  test("wildcards and negation", () => {
    expect(hostFieldMatches("*.example.com", "a.example.com")).toBe(true);
    expect(hostFieldMatches("*.example.com", "example.com")).toBe(false);
    expect(hostFieldMatches("host?", "host1")).toBe(true);
    expect(hostFieldMatches("host?", "host12")).toBe(false);
    expect(hostFieldMatches("*.example.com,!bad.example.com", "bad.example.com")).toBe(false);
    expect(hostFieldMatches("*.example.com,!bad.example.com", "good.example.com")).toBe(true);
    expect(hostFieldMatches("[127.0.0.1]:*", "[127.0.0.1]:2222")).toBe(true);
    expect(hostFieldMatches("a.b", "axb")).toBe(false);
    const entries = parseKnownHosts(`*.lab,!evil.lab ${A.line}\n`, "f");
    expect(checkHostKey(entries, "vm.lab", A.blob).status).toBe("match");
    expect(checkHostKey(entries, "evil.lab", A.blob).status).toBe("unknown");
  });

  test("@revoked refuses the key for the hosts it matches; @cert-authority is ignored", () => {
    const entries = parseKnownHosts(`@revoked * ${A.line}\nalpha ${A.line}\n@cert-authority *.lab ${B.line}\n`, "f");
    expect(checkHostKey(entries, "alpha", A.blob)).toEqual({ status: "revoked", file: "f", line: 1 });
    expect(checkHostKey(entries, "vm.lab", B.blob).status).toBe("unknown");
    expect(knownKeyTypes(entries, "vm.lab")).toEqual([]);
  });

  test("malformed lines are skipped", () => {
    const text = [`alpha ssh-ed25519`, `alpha ssh-rsa ${A.line.split(" ")[1]}`, `alpha ssh-ed25519 !!!notbase64`, `@bogus alpha ${A.line}`, `beta ${A.line}`].join("\n");
    const entries = parseKnownHosts(text, "f");
    expect(entries.map((e) => e.line)).toEqual([5]);
  });

  test("append: plain [host]:port line, 0700 dir and 0600 file created, newline repaired; hashed when asked", () => {
    const dir = tempDir("kh-");
    const file = join(dir, "newdir", ".ssh", "known_hosts");
    append(file, "127.0.0.1", 2222, A.blob);
    expect(statSync(join(dir, "newdir", ".ssh")).mode & 0o777).toBe(0o700);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, "utf8")).toBe(`[127.0.0.1]:2222 ${A.line}\n`);
    appendFileSync(file, `x ${B.line}`);
    appendKnownHost(file, "Host.Example", B.blob, { hash: true });
    const lines = readFileSync(file, "utf8").split("\n");
    expect(lines[1]).toBe(`x ${B.line}`);
    expect(lines[2]).toStartWith("|1|");
    const entries = loadKnownHosts([file, join(dir, "missing")]);
    expect(checkHostKey(entries, "[127.0.0.1]:2222", A.blob).status).toBe("match");
    expect(checkHostKey(entries, "host.example", B.blob).status).toBe("match");
  });

  test("the blob ssh2 hands a host verifier parses the same way", () => {
    const parsed = utils.parseKey(readFileSync(A.pubPath, "utf8"));
    if (parsed instanceof Error) throw parsed;
    expect(parsed.getPublicSSH().equals(A.blob)).toBe(true);
  });
});
