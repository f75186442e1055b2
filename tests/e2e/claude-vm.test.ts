/**
 * The real Claude Code CLI (pinned, tests/agents) on an ssh target: a "VM" is
 * a real sshd on loopback with its own HOME, TMUX_TMPDIR and tmux server
 * (tests/e2e/ssh-lib.ts). Claude runs in the VM's tmux against the fake
 * Anthropic API, with agtmux's hooks installed there by `agtmux setup-hooks`;
 * its hooks (`agtmux emit --hook claude`) spool on the VM, the relay the
 * daemon started over ssh streams them back, and the HOST's list shows the
 * VM's pane go idle -> waiting_approval -> running -> completed from those
 * hooks (source hook, confidence high), not from the screen poller.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ExplainResponse } from "../../src/wire/explain.ts";
import type { ListResponse, PaneItem, TargetResponse, TargetsResponse } from "../../src/wire/list.ts";
import { CLAUDE_BIN, isIdleScreen, labApiKey } from "../agents/claude/harness.ts";
import { type FakeAnthropic, bash, hold, startFakeAnthropic, text } from "../fakes/anthropic.ts";
import { runCli } from "../helpers/binary.ts";
import type { Sandbox } from "../helpers/sandbox.ts";
import { waitFor } from "../helpers/wait.ts";
import { sshdAvailable } from "../ssh/sshd.ts";
import { e2eScope, rawFetch } from "./lib.ts";
import { daemonEnvFor, makeVm, type Vm } from "./ssh-lib.ts";

const HAVE_CLAUDE = existsSync(CLAUDE_BIN);
const scope = e2eScope("cvm");

/** what this file started besides the sandbox/daemon (e2eScope) and the VM (ssh-lib): stopped after each test */
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).toReversed()) await c().catch(() => {});
});

async function cliJson<T>(sb: Sandbox, args: string[], env: Record<string, string | undefined> = {}): Promise<T> {
  const r = await runCli(sb, [...args, "--json"], { env: { AGTMUX_NO_AUTOSTART: "1", ...env }, timeoutMs: 40_000 });
  if (r.code !== 0) throw new Error(`agtmux ${args.join(" ")} exited ${r.code}: ${r.stdout}${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** runs a process "on the VM" (the VM's env only) and throws on failure */
async function onVm(vm: Vm, argv: string[], extraEnv: Record<string, string> = {}): Promise<string> {
  const p = Bun.spawn(argv, { env: { ...vm.env, ...extraEnv } as Record<string, string>, cwd: vm.env.HOME ?? "/", stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => p.kill("SIGKILL"), 20_000);
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(timer);
  if (code !== 0) throw new Error(`on ${vm.name}: ${argv.join(" ")} exited ${code}: ${out}${err}`);
  return out;
}

function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** claude's pid: the child of the pane's shell running claude.exe */
function claudePidUnder(panePid: number): number | undefined {
  const comm = (p: number): string => {
    try {
      return readFileSync(`/proc/${p}/comm`, "utf8").trim();
    } catch {
      return "";
    }
  };
  if (comm(panePid).startsWith("claude")) return panePid;
  try {
    const kids = readFileSync(`/proc/${panePid}/task/${panePid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
    return kids.find((c) => comm(c).startsWith("claude"));
  } catch {
    return undefined;
  }
}

/** live processes whose env says they are a hook of this claude (CLAUDE_PID) */
function hookProcesses(claudePid: number): number[] {
  const mark = `CLAUDE_PID=${claudePid}`;
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/environ`, "utf8").split("\0").includes(mark) && pidAlive(Number(name))) out.push(Number(name));
    } catch {
      // exited meanwhile, or not ours to read
    }
  }
  return out;
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * Claude's HOME on the VM, as tests/agents/claude/harness.ts prepares one: onboarding done, the
 * project trusted, the fake API key approved; permissions in "default" mode (a write asks).
 */
function prepareClaudeHome(home: string, apiKey: string): string {
  const project = join(home, "project");
  mkdirSync(project, { recursive: true });
  mkdirSync(join(home, ".claude"), { recursive: true });
  writeFileSync(join(project, "README.md"), "# vm project\n");
  const real = realpathSync(project);
  const claudeJson = {
    numStartups: 1,
    installMethod: "npm",
    autoUpdates: false,
    theme: "dark",
    hasCompletedOnboarding: true,
    lastOnboardingVersion: "2.1.330",
    lastReleaseNotesSeen: "2.1.330",
    customApiKeyResponses: { approved: [apiKey.slice(-20)], rejected: [] },
    projects: {
      [real]: { allowedTools: [], hasTrustDialogAccepted: true, hasCompletedProjectOnboarding: true, projectOnboardingSeenCount: 1 },
    },
  };
  writeFileSync(join(home, ".claude.json"), `${JSON.stringify(claudeJson, null, 2)}\n`);
  writeFileSync(join(home, ".claude", "settings.json"), `${JSON.stringify({ permissions: { defaultMode: "default" } }, null, 2)}\n`);
  return real;
}

describe.skipIf(!HAVE_CLAUDE || !sshdAvailable())("Claude Code on an ssh target (real CLI, real sshd)", () => {
  test("ssh target: real Claude Code on a VM asks for approval; the host sees waiting_approval from its hooks, then running and completed", async () => {
    const fake: FakeAnthropic = await startFakeAnthropic({
      script: [
        bash("echo hello-from-vm > out.txt && cat out.txt", "Write and show a file"), // asks: a write
        hold(text("The command printed hello-from-vm."), "t1"),
      ],
    });
    cleanups.push(() => fake.stop());
    const sb = scope.box();
    const vm = await makeVm("vm1");
    const home = vm.env.HOME as string;
    const apiKey = labApiKey();
    const project = prepareClaudeHome(home, apiKey);

    // on the VM: agtmux's hooks in ~/.claude/settings.json, and the machine marked as relayed
    await onVm(vm, [vm.agtmux, "setup-hooks", "claude", "--yes"]);
    const settings = JSON.parse(readFileSync(join(home, ".claude", "settings.json"), "utf8")) as { hooks?: Record<string, unknown>; permissions?: unknown };
    expect(settings.permissions).toEqual({ defaultMode: "default" });
    expect(JSON.stringify(settings.hooks?.PermissionRequest)).toContain("emit --hook claude");
    await onVm(vm, [vm.agtmux, "relay", "--mark"]);

    const tmp = join(vm.sshd.dir, "tmp");
    mkdirSync(tmp, { recursive: true });
    // Claude's pane: an interactive shell in the VM's tmux server, with the env the harness gives claude
    const claudeEnv: Record<string, string> = {
      HOME: home,
      PATH: vm.env.PATH ?? "/usr/bin:/bin",
      SHELL: "/bin/bash",
      LANG: "C.UTF-8",
      LC_ALL: "C.UTF-8",
      TERM: "tmux-256color",
      PS1: "vm$ ",
      ANTHROPIC_BASE_URL: fake.url,
      ANTHROPIC_API_KEY: apiKey,
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
      DISABLE_AUTOUPDATER: "1",
      DISABLE_TELEMETRY: "1",
      DISABLE_ERROR_REPORTING: "1",
      // claude's scratch files (e.g. /tmp/claude-<uid>/...) stay inside the VM's directory
      TMPDIR: tmp,
    };
    const envArgs = Object.entries(claudeEnv).flatMap(([k, v]) => ["-e", `${k}=${v}`]);
    const p1 = (
      await vm.tmux("new-session", "-d", "-P", "-F", "#{pane_id}", "-s", "claude", "-x", "120", "-y", "40", "-c", project, ...envArgs, "bash", "--noprofile", "--norc", "-i")
    ).trim();
    const panePid = Number((await vm.tmux("display-message", "-p", "-t", p1, "#{pane_pid}")).trim());
    let claudePid: number | undefined;
    cleanups.push(async () => {
      // Claude runs its SessionEnd hook (`agtmux emit`) as it exits on SIGHUP: wait for it and its
      // hooks, so none runs after the VM's HOME (and its relay marker) is gone
      await vm.tmux("kill-session", "-t", "claude").catch(() => "");
      if (claudePid === undefined) return;
      const pid = claudePid;
      const left = (): number[] => [...(pidAlive(pid) ? [pid] : []), ...hookProcesses(pid)];
      await waitFor(() => left().length === 0, { timeoutMs: 10_000, intervalMs: 50, message: `claude pid ${pid} and its hooks exited` }).catch(() => {
        for (const p of left()) {
          try {
            process.kill(p, "SIGKILL");
          } catch {
            // gone already
          }
        }
      });
    });
    const screen = (): Promise<string> => vm.tmux("capture-pane", "-p", "-J", "-t", p1);
    const waitScreen = async (ok: (s: string) => boolean, message: string, timeoutMs = 30_000): Promise<string> => {
      try {
        return await waitFor(async () => {
          const s = await screen();
          return ok(s) ? s : null;
        }, { timeoutMs, intervalMs: 100, message });
      } catch (err) {
        console.log(`SCREEN (${vm.name} ${p1}):\n${await screen().catch(() => "")}`);
        console.log("REQUESTS:", JSON.stringify(fake.requests.map((r) => [r.kind, r.path, r.reply])));
        throw err;
      }
    };

    // the host's daemon, and the VM as an ssh target
    await scope.daemon(sb, daemonEnvFor(vm));
    const added = await cliJson<TargetResponse>(sb, ["target", "add", "vm1", "--kind", "ssh", "--ssh-target", "vm1", "--agtmux-path", vm.agtmux]);
    expect(added).toMatchObject({ created: true, target: { target: "vm1", kind: "ssh", health: "ok" } });
    await waitFor(
      async () => ((await rawFetch(sb, "/v1/targets")).body as TargetsResponse).items.find((t) => t.target === "vm1")?.status?.relay?.up === true,
      { timeoutMs: 15_000, message: "relay on vm1 up" },
    );

    const vmPane = async (): Promise<PaneItem | undefined> => {
      const r = await rawFetch(sb, "/v1/panes?all=1");
      if (r.status !== 200) throw new Error(`GET /v1/panes: ${r.status} ${r.text}`);
      return (r.body as ListResponse<PaneItem>).items.find((p) => p.identity.target === "vm1" && p.identity.pane_id === p1);
    };
    const explain = async (ref: string): Promise<ExplainResponse> => {
      const r = await rawFetch(sb, `/v1/explain?ref=${encodeURIComponent(ref)}`);
      if (r.status !== 200) throw new Error(`GET /v1/explain: ${r.status} ${r.text}`);
      return r.body as ExplainResponse;
    };
    /** polls the host's list until the VM's claude pane is in this state, from a hook, with high confidence */
    const hostSees = async (state: string, timeoutMs = 30_000): Promise<PaneItem> => {
      let last: PaneItem | undefined;
      try {
        return await waitFor(
          async () => {
            last = await vmPane();
            return last?.agent?.type === "claude" && last.state === state && last.state_source === "hook" && last.confidence === "high" ? last : null;
          },
          { timeoutMs, intervalMs: 100, message: `host sees vm1 ${p1} ${state} (hook, high)` },
        );
      } catch (err) {
        if (last !== undefined) console.log(JSON.stringify(await explain(last.ref).catch((e: unknown) => String(e)), null, 2));
        console.log(`SCREEN (${vm.name} ${p1}):\n${await screen().catch(() => "")}`);
        throw new Error(
          `${(err as Error).message}; last seen: ${JSON.stringify({ agent: last?.agent?.type, state: last?.state, source: last?.state_source, reason: last?.reason_code, confidence: last?.confidence })}`,
          { cause: err },
        );
      }
    };

    // start claude on the VM as a user would, in the pane's shell
    await waitScreen((s) => s.includes("vm$"), "the pane's shell prompt", 10_000);
    await vm.tmux("send-keys", "-t", p1, "-l", shellQuote(CLAUDE_BIN));
    await vm.tmux("send-keys", "-t", p1, "Enter");
    await waitScreen(isIdleScreen, "claude idle prompt on the VM");
    claudePid = claudePidUnder(panePid);
    expect(claudePid).toBeGreaterThan(0);
    const idle = await hostSees("idle"); // SessionStart through the relay
    expect(idle.agent?.pid).toBe(claudePid as number);

    // a prompt whose tool call needs approval
    const prompt = "Run the command";
    await vm.tmux("send-keys", "-t", p1, "-l", prompt);
    await waitScreen((s) => s.includes(prompt), "typed prompt shown", 5_000);
    await Bun.sleep(150);
    await vm.tmux("send-keys", "-t", p1, "Enter");
    await waitScreen((s) => /Do you want to proceed\?/.test(s), "permission dialog on the VM");

    const waiting = await hostSees("waiting_approval", 60_000);
    expect(waiting).toMatchObject({ identity: { target: "vm1", pane_id: p1 }, state: "waiting_approval", state_source: "hook", confidence: "high", needs_action: true });
    const why = await explain(waiting.ref);
    expect(why.resolved).toMatchObject({ state: "waiting_approval", source: "hook" });
    expect(why.candidates.find((c) => c.won)?.source).toBe("hook");
    expect(why.recent_events.some((e) => e.source === "hook" && e.event_type === "claude.PermissionRequest" && e.outcome === "applied")).toBe(true);
    // the VM has no daemon of its own: its hooks spooled for the relay
    expect(existsSync(join(home, ".local/state/agtmux/agtmuxd.sock"))).toBe(false);
    expect(existsSync(join(vm.env.XDG_RUNTIME_DIR as string, "agtmux/agtmuxd.sock"))).toBe(false);

    // approve on the VM (a key sent within ~100 ms of the dialog's first paint is dropped)
    await Bun.sleep(300);
    await vm.tmux("send-keys", "-t", p1, "Enter");
    await hostSees("running");
    await fake.waitForRequest((r) => r.kind === "main" && r.mainIndex === 1, 30_000);
    expect(readFileSync(join(project, "out.txt"), "utf8")).toBe("hello-from-vm\n");
    fake.release("t1");
    const done = await hostSees("completed");
    expect(done.needs_action).toBe(false);
    await waitScreen(isIdleScreen, "claude idle again on the VM");
  }, 120_000);
});
