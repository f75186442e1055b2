/**
 * A real OpenSSH sshd for tests: one per "VM", on a free loopback port, with
 * its own host key, an authorized_keys holding a per-test client key, and
 * `SetEnv HOME=... TMUX_TMPDIR=... XDG_RUNTIME_DIR=...` so each VM has its own
 * HOME and tmux server even though every session logs in as root (sshd's
 * SetEnv overrides HOME for exec sessions; the cwd stays the passwd home).
 *
 * The client side is set up the way a user has it: a client HOME with
 * ~/.ssh/config (`Host vm1` -> 127.0.0.1, Port, User root, IdentityFile,
 * UserKnownHostsFile), ~/.ssh/known_hosts and the client key, so tests name
 * targets by alias. sshd runs in the foreground (-D) as our child; stop() or
 * stopAllSshd() (afterAll) ends it.
 */
import { appendFileSync, chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { tempDir } from "../tmux/harness.ts";
import { waitFor } from "../helpers/wait.ts";

export const SSHD = "/usr/sbin/sshd";

/** false only when /usr/sbin/sshd is missing (npm test installs openssh-server) */
export function sshdAvailable(): boolean {
  return existsSync(SSHD) && Bun.which("ssh-keygen") !== null;
}

export interface ClientKey {
  path: string;
  /** the .pub line */
  publicKey: string;
}

export interface HostEntry {
  hostName?: string;
  port?: number;
  user?: string;
  /** default: the harness client key; null: no IdentityFile line */
  identityFile?: string | null;
  /** extra config lines, e.g. "ProxyJump jump1" */
  extra?: string[];
}

export interface SshdOptions {
  /** aliases written to the client ssh_config for this server, default ["vm1"] */
  aliases?: string[];
  /** write the host key into the client's known_hosts (default true) */
  trustHostKey?: boolean;
  /** extra sshd_config lines */
  sshdConfig?: string[];
  /** extra variables for the VM's sessions (sshd takes only the first SetEnv line, so they go into the harness's) */
  setEnv?: Record<string, string>;
  /** share the client side (HOME, config, key) with another server (ProxyJump tests) */
  client?: SshClientHome;
}

/** The client's HOME with ~/.ssh/{config,known_hosts,id_ed25519}; shared by servers of one test. */
export class SshClientHome {
  readonly home: string;
  readonly sshDir: string;
  readonly configPath: string;
  readonly knownHostsPath: string;
  readonly key: ClientKey;

  constructor() {
    this.home = tempDir("ssh-client-");
    this.sshDir = join(this.home, ".ssh");
    mkdirSync(this.sshDir, { recursive: true, mode: 0o700 });
    this.configPath = join(this.sshDir, "config");
    this.knownHostsPath = join(this.sshDir, "known_hosts");
    writeFileSync(this.configPath, "", { mode: 0o600 });
    this.key = generateKey(join(this.sshDir, "id_ed25519"));
  }

  /** env for an SshExecutor: this HOME, USER root, no agent unless given */
  env(extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
    return { HOME: this.home, USER: "root", ...extra };
  }

  /** appends a `Host` block to ~/.ssh/config */
  addHost(alias: string, h: HostEntry): void {
    const lines = [`Host ${alias}`];
    if (h.hostName !== undefined) lines.push(`  HostName ${h.hostName}`);
    if (h.port !== undefined) lines.push(`  Port ${h.port}`);
    lines.push(`  User ${h.user ?? "root"}`);
    const id = h.identityFile === undefined ? this.key.path : h.identityFile;
    if (id !== null) lines.push(`  IdentityFile ${id}`);
    lines.push(`  UserKnownHostsFile ${this.knownHostsPath}`);
    for (const l of h.extra ?? []) lines.push(`  ${l}`);
    appendFileSync(this.configPath, `${lines.join("\n")}\n\n`);
  }

  /** records a host key line for [host]:port in known_hosts */
  trust(port: number, hostPublicKey: string, host = "127.0.0.1"): void {
    const [type, b64] = hostPublicKey.trim().split(/\s+/);
    appendFileSync(this.knownHostsPath, `${port === 22 ? host : `[${host}]:${port}`} ${type} ${b64}\n`, { mode: 0o600 });
  }

  knownHosts(): string {
    return existsSync(this.knownHostsPath) ? readFileSync(this.knownHostsPath, "utf8") : "";
  }

  clearKnownHosts(): void {
    writeFileSync(this.knownHostsPath, "", { mode: 0o600 });
  }
}

export function generateKey(path: string, opts: { passphrase?: string; type?: "ed25519" | "rsa" } = {}): ClientKey {
  rmSync(path, { force: true });
  rmSync(`${path}.pub`, { force: true });
  const r = Bun.spawnSync(["ssh-keygen", "-q", "-t", opts.type ?? "ed25519", "-N", opts.passphrase ?? "", "-C", "agtmux-test", "-f", path], { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`ssh-keygen failed: ${r.stderr.toString()}`);
  return { path, publicKey: readFileSync(`${path}.pub`, "utf8").trim() };
}

const running = new Set<Sshd>();

export class Sshd {
  readonly dir: string;
  readonly host = "127.0.0.1";
  port = 0;
  /** the VM's HOME (SetEnv), TMUX_TMPDIR and XDG_RUNTIME_DIR */
  readonly vmHome: string;
  readonly tmuxTmpDir: string;
  readonly runtimeDir: string;
  readonly hostKeyPath: string;
  readonly authorizedKeysPath: string;
  readonly logPath: string;
  readonly client: SshClientHome;
  private proc: Bun.Subprocess<"ignore", "ignore", "ignore"> | undefined;
  private hostKey!: ClientKey;

  private extraEnv: Record<string, string>;

  constructor(private readonly opts: SshdOptions = {}) {
    this.extraEnv = { ...opts.setEnv };
    this.dir = tempDir("sshd-");
    this.vmHome = join(this.dir, "home");
    this.tmuxTmpDir = join(this.dir, "tmux");
    this.runtimeDir = join(this.dir, "run");
    for (const d of [this.vmHome, this.tmuxTmpDir, this.runtimeDir]) mkdirSync(d, { recursive: true, mode: 0o700 });
    this.hostKeyPath = join(this.dir, "ssh_host_ed25519_key");
    this.authorizedKeysPath = join(this.dir, "authorized_keys");
    this.logPath = join(this.dir, "sshd.log");
    this.client = opts.client ?? new SshClientHome();
    this.hostKey = generateKey(this.hostKeyPath);
    writeFileSync(this.authorizedKeysPath, `${this.client.key.publicKey}\n`, { mode: 0o600 });
  }

  /** the host key's .pub line */
  get hostPublicKey(): string {
    return this.hostKey.publicKey;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** env an executor should use for this server's client side */
  env(extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
    return this.client.env(extra);
  }

  /** more variables for the VM's sessions, from the next start() on */
  setEnvExtra(vars: Record<string, string>): void {
    this.extraEnv = { ...this.extraEnv, ...vars };
  }

  authorize(publicKey: string): void {
    appendFileSync(this.authorizedKeysPath, `${publicKey.trim()}\n`);
  }

  /** Starts sshd (on the same port as before when restarted) and waits for its banner. */
  async start(): Promise<void> {
    if (this.running) return;
    mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
    const fixedPort = this.port !== 0;
    for (let attempt = 0; ; attempt++) {
      if (!fixedPort) this.port = await freePort();
      this.writeConfig();
      const proc = Bun.spawn([SSHD, "-D", "-f", join(this.dir, "sshd_config"), "-E", this.logPath], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
      this.proc = proc;
      running.add(this);
      try {
        await waitFor(() => proc.exitCode !== null || proc.signalCode !== null ? Promise.reject(new Error("sshd exited")) : banner(this.host, this.port), { timeoutMs: 5000, intervalMs: 10, message: `sshd on port ${this.port}` });
        return;
      } catch (err) {
        proc.kill("SIGKILL");
        await proc.exited;
        running.delete(this);
        this.proc = undefined;
        // a restart on a port still in TIME_WAIT or taken meanwhile: try again (a fresh port only for a first start)
        if (attempt >= 5) throw new Error(`sshd did not start: ${err instanceof Error ? err.message : String(err)}; log: ${this.log()}`, { cause: err });
        if (fixedPort) await Bun.sleep(100);
      }
    }
  }

  /**
   * Stops sshd and every session it forked (sshd leaves established sessions
   * running when its listener exits; a stopped "VM" must drop them too).
   */
  async stop(): Promise<void> {
    const p = this.proc;
    if (p === undefined) return;
    this.proc = undefined;
    running.delete(this);
    const sessions = descendants(p.pid);
    p.kill("SIGTERM");
    const done = await Promise.race([p.exited.then(() => true), Bun.sleep(2000).then(() => false)]);
    if (!done) {
      p.kill("SIGKILL");
      await p.exited;
    }
    for (const pid of sessions) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone already
      }
    }
  }

  /** A new host key (restarting sshd if it runs): the client's known_hosts entry now mismatches. */
  async rotateHostKey(): Promise<void> {
    const wasRunning = this.running;
    await this.stop();
    this.hostKey = generateKey(this.hostKeyPath);
    if (wasRunning) await this.start();
  }

  /** writes `Host <alias>` for this server into the client config and (optionally) trusts its host key */
  addAlias(alias: string, h: Omit<HostEntry, "hostName" | "port"> = {}): void {
    this.client.addHost(alias, { hostName: this.host, port: this.port, ...h });
  }

  trustHostKey(port = this.port): void {
    this.client.trust(port, this.hostPublicKey, this.host);
  }

  log(): string {
    return existsSync(this.logPath) ? readFileSync(this.logPath, "utf8") : "";
  }

  private writeConfig(): void {
    const lines = [
      `Port ${this.port}`,
      `ListenAddress ${this.host}`,
      `HostKey ${this.hostKeyPath}`,
      `PidFile ${join(this.dir, "sshd.pid")}`,
      `AuthorizedKeysFile ${this.authorizedKeysPath}`,
      "StrictModes no",
      "UsePAM no",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PermitRootLogin prohibit-password",
      // SFTP starts in the VM's HOME (as it would in the passwd home of a real VM's user)
      `Subsystem sftp internal-sftp -d ${this.vmHome}`,
      "LogLevel ERROR",
      "MaxStartups 100:30:200",
      "PrintMotd no",
      `SetEnv HOME=${this.vmHome} TMUX_TMPDIR=${this.tmuxTmpDir} XDG_RUNTIME_DIR=${this.runtimeDir}${Object.entries(this.extraEnv)
        .map(([k, v]) => ` ${k}=${v}`)
        .join("")}`,
      ...(this.opts.sshdConfig ?? []),
    ];
    writeFileSync(join(this.dir, "sshd_config"), `${lines.join("\n")}\n`, { mode: 0o600 });
  }
}

/**
 * Creates and starts an sshd; by default writes `Host vm1` for it into the
 * client config and trusts its host key.
 */
export async function startSshd(opts: SshdOptions = {}): Promise<Sshd> {
  const s = new Sshd(opts);
  await s.start();
  for (const a of opts.aliases ?? ["vm1"]) s.addAlias(a);
  if (opts.trustHostKey !== false) s.trustHostKey();
  return s;
}

/** afterAll: stops every sshd and ssh-agent this process started */
export async function stopAllSshd(): Promise<void> {
  await Promise.all([...running].map((s) => s.stop()));
  for (const a of agents) a.kill("SIGTERM");
  await Promise.all([...agents].map((a) => a.exited));
  agents.clear();
}

/** a real ssh-agent on a private socket holding the given keys */
export interface Agent {
  sock: string;
  stop(): Promise<void>;
}

const agents = new Set<Bun.Subprocess>();

/** starts `ssh-agent -D -a <sock>` (our child) and ssh-adds the keys; stopped by stop() or stopAllSshd() */
export async function startAgent(keyPaths: readonly string[]): Promise<Agent> {
  const dir = tempDir("agent-");
  const sock = join(dir, "agent.sock");
  const proc = Bun.spawn(["ssh-agent", "-D", "-a", sock], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
  agents.add(proc);
  const stop = async (): Promise<void> => {
    agents.delete(proc);
    proc.kill("SIGTERM");
    await proc.exited;
  };
  try {
    const env = { ...process.env, SSH_AUTH_SOCK: sock };
    // the socket file appears before the agent listens: ask it (ssh-add -l exits 2 while it cannot connect)
    await waitFor(() => existsSync(sock) && Bun.spawnSync(["ssh-add", "-l"], { env, stdout: "ignore", stderr: "ignore" }).exitCode !== 2, { timeoutMs: 5000, message: "ssh-agent listening" });
    for (const k of keyPaths) {
      chmodSync(k, 0o600);
      const r = Bun.spawnSync(["ssh-add", k], { env, stdout: "pipe", stderr: "pipe" });
      if (r.exitCode !== 0) throw new Error(`ssh-add ${k}: ${r.stderr.toString()}`);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { sock, stop };
}

async function freePort(): Promise<number> {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = l.port;
  l.stop(true);
  return port;
}

/** resolves true once something on host:port sends an SSH banner */
function banner(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (v: boolean): void => {
      s.destroy();
      resolve(v);
    };
    s.setTimeout(1000, () => done(false));
    s.once("data", (d: Buffer) => done(d.toString("latin1").startsWith("SSH-")));
    s.once("error", () => done(false));
  });
}

/** every process below pid (from /proc), children first listed before their own children */
export function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      // pid (comm) state ppid ...: comm may hold spaces and parentheses
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      parent.set(Number(name), ppid);
    } catch {
      // exited meanwhile
    }
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const p = queue.shift() as number;
    for (const [child, pp] of parent) {
      if (pp === p) {
        out.push(child);
        queue.push(child);
      }
    }
  }
  return out;
}
