/**
 * known_hosts, as OpenSSH reads and writes it (sshd(8) "SSH_KNOWN_HOSTS FILE
 * FORMAT"):
 *
 *   [@revoked|@cert-authority] hostpatterns keytype base64-key [comment]
 *
 * hostpatterns: comma-separated names, `[host]:port` for a port other than 22,
 * `*`/`?` wildcards, `!pattern` negation (a matching negation excludes the
 * line), or one hashed name `|1|base64(salt)|base64(HMAC-SHA1(salt, name))`.
 * Names compare case-insensitively.
 *
 * @revoked lines make us refuse that key for the hosts they match.
 * @cert-authority lines are skipped: agtmux does not verify host
 * certificates, so a host known only through a CA is "unknown" here.
 * Malformed lines are skipped, as ssh does.
 */
import { createHash, createHmac, randomBytes } from "node:crypto";
import { appendFileSync, chmodSync, closeSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync, readSync } from "node:fs";
import { dirname } from "node:path";

export interface KnownHostEntry {
  file: string;
  /** 1-based */
  line: number;
  marker: "revoked" | "cert-authority" | undefined;
  /** the host field as written (patterns or one hashed name) */
  hosts: string;
  keyType: string;
  key: Buffer;
}

export interface KnownKeyRef {
  file: string;
  line: number;
  keyType: string;
  fingerprint: string;
}

export type HostKeyStatus =
  | { status: "match"; file: string; line: number }
  /** known with a key of this type that differs; `known` lists those lines */
  | { status: "mismatch"; known: KnownKeyRef[] }
  | { status: "revoked"; file: string; line: number }
  /** `otherTypes`: keys of other types known for this host (none of this type) */
  | { status: "unknown"; otherTypes: KnownKeyRef[] };

/** the name a host is recorded under: `host` on port 22, else `[host]:port` */
export function knownHostName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** The key type of an SSH wire-format public key blob (its first length-prefixed string). */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) throw new Error("host key blob too short");
  const len = blob.readUInt32BE(0);
  if (len === 0 || len > 64 || 4 + len > blob.length) throw new Error("host key blob: bad type field");
  return blob.subarray(4, 4 + len).toString("latin1");
}

/** `SHA256:<base64 without padding>`, as ssh-keygen -l prints it */
export function fingerprintSha256(blob: Buffer): string {
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/** Parses one file's text; malformed lines are skipped. */
export function parseKnownHosts(text: string, file: string): KnownHostEntry[] {
  const out: KnownHostEntry[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const raw = (lines[i] ?? "").replace(/\r$/, "").trim();
    if (raw === "" || raw.startsWith("#")) continue;
    const fields = raw.split(/[ \t]+/);
    let marker: KnownHostEntry["marker"];
    if (fields[0]?.startsWith("@")) {
      const m = fields.shift();
      if (m === "@revoked") marker = "revoked";
      else if (m === "@cert-authority") marker = "cert-authority";
      else continue;
    }
    const [hosts, keyType, b64] = fields;
    if (hosts === undefined || keyType === undefined || b64 === undefined) continue;
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) continue;
    const key = Buffer.from(b64, "base64");
    let blobType: string;
    try {
      blobType = keyTypeOf(key);
    } catch {
      continue;
    }
    if (blobType !== keyType) continue;
    out.push({ file, line: i + 1, marker, hosts, keyType, key });
  }
  return out;
}

/** Reads and parses the files that exist (a missing or unreadable file counts as empty, as in ssh). */
export function loadKnownHosts(files: readonly string[]): KnownHostEntry[] {
  const out: KnownHostEntry[] = [];
  for (const f of files) {
    let text: string;
    try {
      text = readFileSync(f, "utf8");
    } catch {
      continue;
    }
    out.push(...parseKnownHosts(text, f));
  }
  return out;
}

/** OpenSSH match_pattern: `*` any run, `?` exactly one character; case-insensitive. */
export function matchPattern(name: string, pattern: string): boolean {
  const re = pattern
    .toLowerCase()
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replaceAll("*", ".*")
    .replaceAll("?", ".");
  return new RegExp(`^${re}$`, "s").test(name.toLowerCase());
}

function hashedMatches(field: string, name: string): boolean {
  const parts = field.split("|");
  // "", "1", salt, hash
  if (parts.length !== 4 || parts[1] !== "1" || parts[2] === undefined || parts[3] === undefined) return false;
  const salt = Buffer.from(parts[2], "base64");
  const want = Buffer.from(parts[3], "base64");
  const got = createHmac("sha1", salt).update(name.toLowerCase()).digest();
  return want.length === got.length && want.equals(got);
}

/** Whether a host field (patterns or a hashed name) matches `name` (already in `[host]:port` form). */
export function hostFieldMatches(field: string, name: string): boolean {
  if (field.startsWith("|")) return hashedMatches(field, name);
  let matched = false;
  for (const p of field.split(",")) {
    if (p === "") continue;
    if (p.startsWith("!")) {
      if (matchPattern(name, p.slice(1))) return false;
    } else if (matchPattern(name, p)) {
      matched = true;
    }
  }
  return matched;
}

/**
 * Checks a presented host key for `name` (from knownHostName(), or a
 * HostKeyAlias). Order: revoked > match > mismatch (same type, other key) >
 * unknown (listing keys of other types known for the host).
 */
export function checkHostKey(entries: readonly KnownHostEntry[], name: string, key: Buffer): HostKeyStatus {
  const keyType = keyTypeOf(key);
  let match: { file: string; line: number } | undefined;
  const sameType: KnownKeyRef[] = [];
  const otherTypes: KnownKeyRef[] = [];
  for (const e of entries) {
    if (e.marker === "cert-authority") continue;
    if (!hostFieldMatches(e.hosts, name)) continue;
    if (e.marker === "revoked") {
      if (e.key.equals(key)) return { status: "revoked", file: e.file, line: e.line };
      continue;
    }
    const ref = { file: e.file, line: e.line, keyType: e.keyType, fingerprint: fingerprintSha256(e.key) };
    if (e.keyType !== keyType) otherTypes.push(ref);
    else if (e.key.equals(key)) match ??= { file: e.file, line: e.line };
    else sameType.push(ref);
  }
  if (match !== undefined) return { status: "match", ...match };
  if (sameType.length > 0) return { status: "mismatch", known: sameType };
  return { status: "unknown", otherTypes };
}

/** checkHostKey over files; host/port become the recorded name. keyType must be the blob's own type. */
export function check(files: readonly string[], host: string, port: number, keyType: string, key: Buffer): HostKeyStatus {
  if (keyTypeOf(key) !== keyType) throw new Error(`host key blob is ${keyTypeOf(key)}, not ${keyType}`);
  return checkHostKey(loadKnownHosts(files), knownHostName(host, port), key);
}

/** The key types known for `name` (non-revoked lines), to prefer them in the key exchange as ssh does. */
export function knownKeyTypes(entries: readonly KnownHostEntry[], name: string): string[] {
  const types: string[] = [];
  for (const e of entries) {
    if (e.marker !== undefined || types.includes(e.keyType)) continue;
    if (hostFieldMatches(e.hosts, name)) types.push(e.keyType);
  }
  return types;
}

/** `|1|salt|hmac` for a name, with a fresh (or given, for tests) 20-byte salt */
export function hashHostName(name: string, salt: Buffer = randomBytes(20)): string {
  const mac = createHmac("sha1", salt).update(name.toLowerCase()).digest();
  return `|1|${salt.toString("base64")}|${mac.toString("base64")}`;
}

/**
 * Appends `name keytype base64` to a known_hosts file (`name` hashed when
 * `hash`, as HashKnownHosts yes does), creating the directory (0700) and the
 * file (0600) when missing. `name` is the recorded form (knownHostName() or
 * a HostKeyAlias).
 */
export function appendKnownHost(file: string, name: string, key: Buffer, opts: { hash?: boolean } = {}): void {
  const dir = dirname(file);
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  const field = opts.hash === true ? hashHostName(name) : name.toLowerCase();
  const line = `${field} ${keyTypeOf(key)} ${key.toString("base64")}\n`;
  const existed = existsSync(file);
  const sep = existed && !endsWithNewline(file) ? "\n" : "";
  appendFileSync(file, sep + line, { mode: 0o600 });
  if (!existed) chmodSync(file, 0o600);
}

/** append() for host/port */
export function append(file: string, host: string, port: number, key: Buffer, opts: { hash?: boolean } = {}): void {
  appendKnownHost(file, knownHostName(host, port), key, opts);
}

function endsWithNewline(file: string): boolean {
  const fd = openSync(file, "r");
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return true;
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, size - 1);
    return b[0] === 0x0a;
  } finally {
    closeSync(fd);
  }
}
