/**
 * "VMs" for the e2e tests: a real sshd on a loopback port (per-test host key,
 * tests/ssh/sshd.ts) whose sessions get their own HOME, TMUX_TMPDIR and
 * XDG_RUNTIME_DIR, plus a tmux server of their own under that TMUX_TMPDIR.
 * Processes "on the VM" (tmux, agents, hooks) run with the VM's env; the
 * daemon reaches the VM only over ssh.
 */
import { afterEach } from "bun:test";
import { copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { ensureBinary } from "../helpers/binary.ts";
import type { Sandbox } from "../helpers/sandbox.ts";
import { type SshClientHome, type Sshd, startSshd } from "../ssh/sshd.ts";
import { TcpProxy } from "../ssh/proxy.ts";

export interface Vm {
  name: string;
  sshd: Sshd;
  /** env of processes on the VM */
  env: Record<string, string | undefined>;
  /** fake agents (copies of sleep named like the agents) */
  bin: string;
  /** the agtmux binary the daemon runs there (the compiled one: same machine) */
  agtmux: string;
  /** tmux on the VM's default server; throws on failure */
  tmux(...args: string[]): Promise<string>;
  /** new-session -d with a fake agent; returns the pane id */
  newAgentPane(session: string, agent?: string): Promise<string>;
  /** `agtmux emit --hook <agent>` as a hook in that pane would run it (VM env, TMUX/TMUX_PANE) */
  hook(pane: string, agent: string, payload: Record<string, unknown>): Promise<{ code: number; stdout: string; stderr: string }>;
  /** a TCP forwarder in front of sshd, when the VM was made with { proxy: true } (the alias then points at it) */
  proxy: TcpProxy | null;
}

const live: Vm[] = [];
afterEach(async () => {
  for (const vm of live.splice(0)) {
    await vm.tmux("kill-server").catch(() => {});
    vm.proxy?.close();
    await vm.sshd.stop();
  }
});

export async function makeVm(
  name: string,
  opts: { client?: SshClientHome; proxy?: boolean; trustHostKey?: boolean; setEnv?: Record<string, string>; identityFile?: string } = {},
): Promise<Vm> {
  const sshd = await startSshd({
    aliases: [],
    ...(opts.client !== undefined ? { client: opts.client } : {}),
    ...(opts.setEnv !== undefined ? { setEnv: opts.setEnv } : {}),
    trustHostKey: false,
  });
  let proxy: TcpProxy | null = null;
  if (opts.proxy === true) {
    proxy = new TcpProxy(sshd.host, sshd.port);
    sshd.client.addHost(name, { hostName: sshd.host, port: proxy.port, ...(opts.identityFile !== undefined ? { identityFile: opts.identityFile } : {}) });
    if (opts.trustHostKey !== false) sshd.trustHostKey(proxy.port);
  } else {
    sshd.addAlias(name, opts.identityFile !== undefined ? { identityFile: opts.identityFile } : {});
    if (opts.trustHostKey !== false) sshd.trustHostKey();
  }
  const bin = join(sshd.dir, "bin");
  mkdirSync(bin, { recursive: true });
  for (const a of ["claude", "codex", "gemini"]) copyFileSync("/bin/sleep", join(bin, a));
  const env: Record<string, string | undefined> = {
    PATH: process.env.PATH,
    LANG: "C.UTF-8",
    HOME: sshd.vmHome,
    TMUX_TMPDIR: sshd.tmuxTmpDir,
    XDG_RUNTIME_DIR: sshd.runtimeDir,
    USER: "root",
  };
  const tmux = async (...args: string[]): Promise<string> => {
    const p = Bun.spawn(["tmux", "-f", "/dev/null", ...args], { env: env as Record<string, string>, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    if (code !== 0) throw new Error(`vm ${name}: tmux ${args.join(" ")} failed (${code}): ${err.trim()}`);
    return out;
  };
  const agtmux = ensureBinary();
  const vm: Vm = {
    name,
    sshd,
    env,
    bin,
    agtmux,
    proxy,
    tmux,
    async newAgentPane(session, agent = "claude") {
      return (await tmux("new-session", "-d", "-P", "-F", "#{pane_id}", "-s", session, "-x", "160", "-y", "40", join(bin, agent), "100000")).trim();
    },
    async hook(pane, agent, payload) {
      const info = (await tmux("display-message", "-p", "-t", pane, "#{socket_path},#{pid},0|#{pane_pid}")).trim();
      const [tmuxVar, panePid] = info.split("|");
      const p = Bun.spawn([agtmux, "emit", "--hook", agent, "--pid", panePid ?? ""], {
        env: { ...env, TMUX: tmuxVar, TMUX_PANE: pane } as Record<string, string>,
        stdin: new Blob([JSON.stringify(payload)]),
        stdout: "pipe",
        stderr: "pipe",
      });
      const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
      return { code, stdout, stderr };
    },
  };
  live.push(vm);
  return vm;
}

/** daemon env that finds the VMs' ssh config, keys and known_hosts (the client HOME of the harness) */
export function daemonEnvFor(vm: Vm): Record<string, string> {
  return { HOME: vm.sshd.client.home };
}

/** CLI env for commands that talk ssh themselves (bootstrap) */
export function cliEnvFor(sb: Sandbox, vm: Vm): Record<string, string | undefined> {
  return { ...sb.env, HOME: vm.sshd.client.home, AGTMUX_NO_AUTOSTART: "1" };
}

export function claudePayload(event: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { session_id: "s-1", transcript_path: "/nonexistent/t.jsonl", cwd: "/tmp", hook_event_name: event, ...extra };
}
