/**
 * ssh_config(5) resolution for one destination, the way `ssh <alias>` would
 * see it: the user's ~/.ssh/config, then the system /etc/ssh/ssh_config
 * (the first value obtained for a keyword wins), Include expanded in place.
 * Parsing and Host/Match evaluation are the `ssh-config` package's;
 * Include, defaults, tokens and validation are here.
 *
 * Honoured: HostName, Port, User, IdentityFile (list), IdentitiesOnly,
 * IdentityAgent, ProxyJump (chains, recursive, loop-guarded), ConnectTimeout,
 * ServerAliveInterval/CountMax, UserKnownHostsFile, GlobalKnownHostsFile,
 * HashKnownHosts, HostKeyAlias, StrictHostKeyChecking (recorded only: the
 * executor's host-key policy is its own, see docs/ssh.md).
 * Not honoured: ProxyCommand (a config error: it would silently connect
 * elsewhere), `Match exec` (never run: the daemon does not execute shell
 * snippets from config files; such a block does not match), Match canonical,
 * CanonicalizeHostname.
 *
 * Nothing is read at import: HOME/USER come from the injected env map.
 */
import { readdirSync, readFileSync } from "node:fs";
import { hostname, userInfo } from "node:os";
import { dirname, isAbsolute, join } from "node:path";
import SSHConfig, { type Line, LineType } from "ssh-config";
import { ExecError } from "../executor.ts";

export type Env = Record<string, string | undefined>;

export interface ResolveOptions {
  env: Env;
  /** default `<HOME>/.ssh/config`; null: none */
  configPath?: string | null;
  /** default /etc/ssh/ssh_config; null: none */
  systemConfigPath?: string | null;
}

/** `[user@]host[:port]` (a ProxyJump element) or a destination */
export interface Destination {
  user?: string;
  host: string;
  port?: number;
}

export interface ResolvedHost {
  /** the name looked up in the config (the alias, or a jump host's host part) */
  alias: string;
  hostName: string;
  port: number;
  user: string;
  /** expanded paths, in order; the defaults when none is configured */
  identityFiles: string[];
  identityFilesConfigured: boolean;
  identitiesOnly: boolean;
  /** the agent socket to use (IdentityAgent, else SSH_AUTH_SOCK); undefined: no agent */
  agentSocket: string | undefined;
  /** ProxyJump as configured (not yet resolved); empty: direct */
  proxyJump: Destination[];
  connectTimeoutMs: number | undefined;
  serverAliveIntervalMs: number | undefined;
  serverAliveCountMax: number | undefined;
  userKnownHostsFiles: string[];
  globalKnownHostsFiles: string[];
  strictHostKeyChecking: string | undefined;
  hashKnownHosts: boolean;
  hostKeyAlias: string | undefined;
}

const DEFAULT_IDENTITIES = ["id_ed25519", "id_ecdsa", "id_rsa"];
const MAX_INCLUDE_DEPTH = 16;
const MAX_JUMP_DEPTH = 10;

function configError(message: string): ExecError {
  return new ExecError("config", `ssh config: ${message}`, "ssh");
}

/** the local user: USER, then LOGNAME, then the passwd entry */
export function localUser(env: Env): string {
  const u = env.USER ?? env.LOGNAME;
  if (u !== undefined && u !== "") return u;
  try {
    return userInfo().username;
  } catch {
    return "root";
  }
}

function homeOf(env: Env): string {
  const home = env.HOME;
  if (home === undefined || home === "") {
    try {
      return userInfo().homedir;
    } catch {
      throw configError("HOME is not set");
    }
  }
  return home;
}

/**
 * `[user@]host[:port]`, `[user@][v6addr]:port` or `ssh://[user@]host[:port]`.
 * A plain destination (not a jump element) takes no `:port` except in the URI
 * form, as with ssh.
 */
export function parseDestination(s: string, opts: { allowPort: boolean } = { allowPort: true }): Destination {
  let rest = s.trim();
  let allowPort = opts.allowPort;
  if (rest.startsWith("ssh://")) {
    rest = rest.slice("ssh://".length).replace(/\/$/, "");
    allowPort = true;
  }
  const out: Destination = { host: "" };
  const at = rest.lastIndexOf("@");
  if (at >= 0) {
    out.user = rest.slice(0, at);
    rest = rest.slice(at + 1);
    if (out.user === "") throw configError(`empty user in ${JSON.stringify(s)}`);
  }
  if (allowPort) {
    const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(rest);
    const hp = /^([^:]+):(\d+)$/.exec(rest);
    if (v6 !== null) {
      rest = v6[1] ?? "";
      if (v6[2] !== undefined) out.port = parsePort(v6[2], s);
    } else if (hp !== null) {
      rest = hp[1] ?? "";
      out.port = parsePort(hp[2] ?? "", s);
    }
  }
  if (rest === "" || /[\s/]/.test(rest)) throw configError(`invalid host in ${JSON.stringify(s)}`);
  out.host = rest;
  return out;
}

function parsePort(v: string, where: string): number {
  const n = /^\d+$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw configError(`bad port ${JSON.stringify(v)} in ${where}`);
  return n;
}

interface TokenContext {
  home: string;
  localUser: string;
  hostName: string;
  alias: string;
  port: number;
  user: string;
}

/** `~`, `${VAR}` and %-tokens, as ssh expands IdentityFile/UserKnownHostsFile/IdentityAgent */
function expandPath(v: string, t: TokenContext, env: Env, keyword: string): string {
  let s = v;
  if (s === "~") s = t.home;
  else if (s.startsWith("~/")) s = join(t.home, s.slice(2));
  s = s.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
    const val = env[name];
    if (val === undefined) throw configError(`${keyword} ${v}: environment variable ${name} is not set`);
    return val;
  });
  return expandTokens(s, t, keyword);
}

function expandTokens(s: string, t: TokenContext, keyword: string): string {
  return s.replace(/%(.)/g, (_, c: string) => {
    switch (c) {
      case "%":
        return "%";
      case "d":
        return t.home;
      case "h":
        return t.hostName;
      case "n":
        return t.alias;
      case "p":
        return String(t.port);
      case "r":
        return t.user;
      case "u":
        return t.localUser;
      case "i":
        return String(process.getuid?.() ?? 0);
      case "l":
        return hostname();
      case "L":
        return hostname().split(".")[0] ?? "";
      default:
        throw configError(`${keyword} ${s}: unsupported token %${c}`);
    }
  });
}

/** Files an Include argument names: `~` expanded, relative to baseDir, `*`/`?` globbing per path segment, sorted. */
function includeFiles(pattern: string, baseDir: string, home: string): string[] {
  let p = pattern;
  if (p.startsWith("~/")) p = join(home, p.slice(2));
  if (!isAbsolute(p)) p = join(baseDir, p);
  const segs = p.split("/").filter((x) => x !== "");
  let paths = ["/"];
  for (const seg of segs) {
    const next: string[] = [];
    if (!/[*?]/.test(seg)) {
      for (const d of paths) next.push(join(d, seg));
    } else {
      const re = new RegExp(`^${seg.replace(/[.+^${}()|[\]\\]/g, "\\$&").replaceAll("*", ".*").replaceAll("?", ".")}$`);
      for (const d of paths) {
        let names: string[];
        try {
          names = readdirSync(d);
        } catch {
          continue;
        }
        for (const n of names.toSorted()) if (re.test(n) && !n.startsWith(".")) next.push(join(d, n));
      }
    }
    paths = next;
  }
  return paths;
}

function valuesOf(v: string | readonly { val: string }[]): string[] {
  if (typeof v === "string") return [v];
  return v.map((x) => x.val);
}

function readConfigFile(path: string, required: boolean): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as { code?: string } | null)?.code;
    if (code === "ENOENT" || (!required && code === "ENOTDIR")) return undefined;
    throw configError(`cannot read ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function parseConfig(text: string, file: string): SSHConfig {
  try {
    return SSHConfig.parse(text);
  } catch (err) {
    throw configError(`${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function newConfig(lines: readonly Line[]): SSHConfig {
  const c = new SSHConfig();
  c.push(...lines);
  return c;
}

/**
 * Replaces each Include with the lines of the files it names. An Include
 * inside a Host/Match block puts the included file's leading directives into
 * that block; Host/Match blocks of the included file follow the enclosing
 * block (an approximation of ssh's nesting, which evaluates them under the
 * enclosing condition too).
 */
function expandIncludes(lines: readonly Line[], baseDir: string, home: string, depth: number): Line[] {
  if (depth > MAX_INCLUDE_DEPTH) throw configError(`Include nested more than ${MAX_INCLUDE_DEPTH} deep`);
  const out: Line[] = [];
  for (const line of lines) {
    if (line.type !== LineType.DIRECTIVE) {
      out.push(line);
      continue;
    }
    if (/^include$/i.test(line.param)) {
      out.push(...included(valuesOf(line.value), baseDir, home, depth));
      continue;
    }
    if ("config" in line) {
      const inner: Line[] = [];
      const hoisted: Line[] = [];
      for (const sub of line.config) {
        if (sub.type === LineType.DIRECTIVE && /^include$/i.test(sub.param)) {
          const inc = included(valuesOf(sub.value), baseDir, home, depth);
          const firstSection = inc.findIndex((l) => l.type === LineType.DIRECTIVE && "config" in l);
          inner.push(...(firstSection < 0 ? inc : inc.slice(0, firstSection)));
          if (firstSection >= 0) hoisted.push(...inc.slice(firstSection));
        } else {
          inner.push(sub);
        }
      }
      line.config = newConfig(inner);
      out.push(line, ...hoisted);
      continue;
    }
    out.push(line);
  }
  return out;
}

function included(patterns: readonly string[], baseDir: string, home: string, depth: number): Line[] {
  const out: Line[] = [];
  for (const pat of patterns) {
    for (const file of includeFiles(pat, baseDir, home)) {
      const text = readConfigFile(file, false);
      if (text === undefined) continue;
      out.push(...expandIncludes(parseConfig(text, file), baseDir, home, depth + 1));
    }
  }
  return out;
}

/** the merged, Include-expanded config: user file first, then the system file */
function loadConfig(opts: ResolveOptions, home: string): SSHConfig {
  const lines: Line[] = [];
  const userPath = opts.configPath === undefined ? join(home, ".ssh", "config") : opts.configPath;
  if (userPath !== null) {
    const text = readConfigFile(userPath, true);
    if (text !== undefined) lines.push(...expandIncludes(parseConfig(text, userPath), join(home, ".ssh"), home, 0));
  }
  const sysPath = opts.systemConfigPath === undefined ? "/etc/ssh/ssh_config" : opts.systemConfigPath;
  if (sysPath !== null) {
    const text = readConfigFile(sysPath, true);
    // each file parses on its own, so a Host block left open at the end of the user file ends there, as in ssh
    if (text !== undefined) lines.push(...expandIncludes(parseConfig(text, sysPath), dirname(sysPath), home, 0));
  }
  return newConfig(lines);
}

type Computed = Record<string, string | string[]>;

function one(c: Computed, key: string): string | undefined {
  const v = c[key];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(" ") : v;
}

function list(c: Computed, key: string): string[] | undefined {
  const v = c[key];
  if (v === undefined) return undefined;
  // multi-value keywords arrive split (quotes respected); IdentityFile arrives one entry per line
  return (Array.isArray(v) ? v : [v]).filter((x) => x !== "");
}

function yesNo(v: string | undefined, keyword: string, alias: string): boolean | undefined {
  if (v === undefined) return undefined;
  const l = v.toLowerCase();
  if (l === "yes" || l === "true") return true;
  if (l === "no" || l === "false") return false;
  throw configError(`${keyword} ${JSON.stringify(v)} for ${alias}: expected yes or no`);
}

function seconds(v: string | undefined, keyword: string, alias: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw configError(`${keyword} ${JSON.stringify(v)} for ${alias}: expected whole seconds`);
  return Number(v) * 1000;
}

function integer(v: string | undefined, keyword: string, alias: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw configError(`${keyword} ${JSON.stringify(v)} for ${alias}: expected a number`);
  return Number(v);
}

function parseJumps(v: string | undefined): Destination[] {
  if (v === undefined || v.toLowerCase() === "none") return [];
  return v
    .split(",")
    .map((x) => x.trim())
    .filter((x) => x !== "")
    .map((x) => parseDestination(x));
}

/**
 * The settings for one destination (its ProxyJump left unresolved: see
 * resolveChain). `dest.user`/`dest.port` (from `user@host`, `host:port` of a
 * jump element or an ssh:// URI) win over the config, as command-line values
 * do in ssh.
 */
export function resolveHost(dest: Destination | string, opts: ResolveOptions, config?: SSHConfig): ResolvedHost {
  const d = typeof dest === "string" ? parseDestination(dest, { allowPort: false }) : dest;
  const env = opts.env;
  const home = homeOf(env);
  const cfg = config ?? loadConfig(opts, home);
  let c: Computed;
  try {
    c = cfg.compute(d.user === undefined ? { Host: d.host } : { Host: d.host, User: d.user }, { ignoreCase: true, matchExec: false });
  } catch (err) {
    throw configError(`evaluating Host/Match for ${d.host}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const alias = d.host;
  const lu = localUser(env);
  const portCfg = one(c, "port");
  const port = d.port ?? (portCfg === undefined ? 22 : parsePort(portCfg, `Port for ${alias}`));
  const user = d.user ?? one(c, "user") ?? lu;
  const hostNameRaw = one(c, "hostname");
  const hostName = hostNameRaw === undefined ? alias : expandTokens(hostNameRaw, { home, localUser: lu, hostName: alias, alias, port, user }, "HostName");
  const t: TokenContext = { home, localUser: lu, hostName, alias, port, user };

  const proxyCommand = one(c, "proxycommand");
  const proxyJumpRaw = one(c, "proxyjump");
  if (proxyJumpRaw === undefined && proxyCommand !== undefined && proxyCommand.toLowerCase() !== "none") {
    throw configError(`ProxyCommand (for ${alias}) is not supported; use ProxyJump`);
  }

  const idCfg = list(c, "identityfile")?.filter((f) => f.toLowerCase() !== "none");
  const identityFilesConfigured = idCfg !== undefined && idCfg.length > 0;
  const identityFiles = identityFilesConfigured ? idCfg.map((f) => expandPath(f, t, env, "IdentityFile")) : DEFAULT_IDENTITIES.map((f) => join(home, ".ssh", f));

  const agentCfg = one(c, "identityagent");
  let agentSocket: string | undefined;
  if (agentCfg === undefined || agentCfg === "SSH_AUTH_SOCK") agentSocket = env.SSH_AUTH_SOCK === "" ? undefined : env.SSH_AUTH_SOCK;
  else if (agentCfg.toLowerCase() === "none") agentSocket = undefined;
  else if (agentCfg.startsWith("$")) agentSocket = env[agentCfg.slice(1)];
  else agentSocket = expandPath(agentCfg, t, env, "IdentityAgent");

  const ukh = list(c, "userknownhostsfile");
  const gkh = list(c, "globalknownhostsfile");
  const hostKeyAlias = one(c, "hostkeyalias");

  return {
    alias,
    hostName,
    port,
    user,
    identityFiles,
    identityFilesConfigured,
    identitiesOnly: yesNo(one(c, "identitiesonly"), "IdentitiesOnly", alias) ?? false,
    agentSocket,
    proxyJump: parseJumps(proxyJumpRaw),
    connectTimeoutMs: seconds(one(c, "connecttimeout"), "ConnectTimeout", alias),
    serverAliveIntervalMs: seconds(one(c, "serveraliveinterval"), "ServerAliveInterval", alias),
    serverAliveCountMax: integer(one(c, "serveralivecountmax"), "ServerAliveCountMax", alias),
    userKnownHostsFiles: (ukh ?? ["~/.ssh/known_hosts", "~/.ssh/known_hosts2"]).filter((f) => f.toLowerCase() !== "none").map((f) => expandPath(f, t, env, "UserKnownHostsFile")),
    globalKnownHostsFiles: (gkh ?? ["/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"]).filter((f) => f.toLowerCase() !== "none").map((f) => expandPath(f, t, env, "GlobalKnownHostsFile")),
    strictHostKeyChecking: one(c, "stricthostkeychecking"),
    hashKnownHosts: yesNo(one(c, "hashknownhosts"), "HashKnownHosts", alias) ?? false,
    hostKeyAlias: hostKeyAlias === undefined || hostKeyAlias.toLowerCase() === "none" ? undefined : hostKeyAlias,
  };
}

/**
 * Every hop to reach `destination`, jump hosts first, the destination last.
 * `ProxyJump a,b` means: reach b through a, then the destination through b;
 * the last element's own ProxyJump is ignored (the chain before it wins),
 * the first element's own ProxyJump is followed, as `ssh -J` does.
 */
export function resolveChain(destination: string, opts: ResolveOptions): ResolvedHost[] {
  const home = homeOf(opts.env);
  const cfg = loadConfig(opts, home);
  const walk = (dest: Destination, jumpsOverride: Destination[] | undefined, path: string[]): ResolvedHost[] => {
    if (path.includes(dest.host)) throw configError(`ProxyJump loop: ${[...path, dest.host].join(" -> ")}`);
    if (path.length > MAX_JUMP_DEPTH) throw configError(`ProxyJump chain longer than ${MAX_JUMP_DEPTH}: ${path.join(" -> ")}`);
    const host = resolveHost(dest, opts, cfg);
    const jumps = jumpsOverride ?? host.proxyJump;
    const last = jumps[jumps.length - 1];
    if (last === undefined) return [host];
    const before = jumps.slice(0, -1);
    return [...walk(last, before.length > 0 ? before : undefined, [...path, dest.host]), host];
  };
  return walk(parseDestination(destination, { allowPort: false }), undefined, []);
}
