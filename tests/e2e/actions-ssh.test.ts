/**
 * Actions on an ssh target (contracts §6, §10): the compiled daemon drives a
 * real sshd "VM" on loopback (tests/e2e/ssh-lib.ts) whose tmux server runs
 * the panes. Text goes over ssh as argv quoted for the remote shell: what the
 * VM's pane reads (a file its `cat` writes) must be exactly what was sent.
 * send, view-output, kill (key), attach (kind ssh + the alias); a VM that went
 * down is E_TARGET_UNREACHABLE and nothing is typed, then or later.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { ActionResponse, AttachResult, KillResult, SendResult, ViewOutputResult } from "../../src/wire/actions.ts";
import type { ListResponse, PaneItem, TargetResponse } from "../../src/wire/list.ts";
import { runCli } from "../helpers/binary.ts";
import type { Sandbox } from "../helpers/sandbox.ts";
import { waitFor } from "../helpers/wait.ts";
import { sshdAvailable } from "../ssh/sshd.ts";
import { e2eScope, expectErrorEnvelope, okAction, postAction, rawFetch, waitFile, withDb } from "./lib.ts";
import { daemonEnvFor, makeVm, type Vm } from "./ssh-lib.ts";

const scope = e2eScope("actssh");

let seq = 0;
function rref(tag = "ssh"): string {
  seq++;
  return `${tag}-${process.pid}-${Date.now()}-${seq}`;
}

async function act(sb: Sandbox, type: string, body: unknown): Promise<{ status: number; body: unknown; text: string }> {
  return await postAction(sb, type, body, 40_000);
}

async function ok<R>(sb: Sandbox, type: string, body: Record<string, unknown>): Promise<ActionResponse<R>> {
  return await okAction<R>(sb, type, body);
}

async function vmPane(sb: Sandbox, vm: Vm, paneId: string, pred: (p: PaneItem) => boolean = () => true, timeoutMs = 20_000): Promise<PaneItem> {
  return await waitFor(
    async () => {
      const r = await rawFetch(sb, "/v1/panes?all=1");
      if (r.status !== 200) return null;
      const p = (r.body as ListResponse<PaneItem>).items.find((x) => x.identity.target === vm.name && x.identity.pane_id === paneId);
      return p !== undefined && pred(p) ? p : null;
    },
    { timeoutMs, intervalMs: 50, message: `${vm.name} ${paneId} listed` },
  );
}


function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

interface SshLab {
  sb: Sandbox;
  vm: Vm;
  dir: string;
  /** a window on the VM running argv; its pane id once the host's daemon lists it */
  window(argv: string[], name?: string): Promise<string>;
  /** a VM pane whose input goes verbatim to `file` */
  catPane(file: string, opts?: { echo?: boolean }): Promise<string>;
}

async function sshLab(): Promise<SshLab> {
  const sb = scope.box();
  const vm = await makeVm("vm1");
  const dir = join(vm.sshd.dir, "files");
  mkdirSync(dir, { recursive: true });
  await vm.tmux("new-session", "-d", "-s", "base", "-x", "160", "-y", "40", "sleep", "100000");
  await scope.daemon(sb, daemonEnvFor(vm));
  const add = await runCli(sb, ["target", "add", vm.name, "--kind", "ssh", "--ssh-target", vm.name, "--agtmux-path", vm.agtmux, "--json"], {
    env: { AGTMUX_NO_AUTOSTART: "1" },
    timeoutMs: 40_000,
  });
  if (add.code !== 0) throw new Error(`target add: ${add.code} ${add.stdout}${add.stderr}`);
  expect((JSON.parse(add.stdout) as TargetResponse).target).toMatchObject({ target: "vm1", kind: "ssh", health: "ok" });
  let n = 0;
  const l: SshLab = {
    sb,
    vm,
    dir,
    async window(argv, name) {
      n++;
      const id = (await vm.tmux("new-window", "-d", "-P", "-F", "#{pane_id}", "-t", "base:", "-n", name ?? `w${n}`, ...argv)).trim();
      await vmPane(sb, vm, id);
      return id;
    },
    async catPane(file, o = {}) {
      const id = await l.window(["sh", "-c", `stty ${o.echo === true ? "" : "-echo "}-icanon min 1; exec cat > ${shq(file)}`]);
      await waitFor(async () => (await vm.tmux("display-message", "-p", "-t", id, "#{pane_current_command}")).trim() === "cat", { timeoutMs: 5_000, message: `cat runs in ${id}` });
      return id;
    },
  };
  return l;
}

describe.skipIf(!sshdAvailable())("actions on an ssh target (real sshd on loopback)", () => {
  test("send (literal text, paste, keys, enter), view-output, kill key and attach on a VM's pane, over ssh", async () => {
    const l = await sshLab();
    const out = join(l.dir, "typed");
    const pane = await l.catPane(out, { echo: true });
    const item = await vmPane(l.sb, l.vm, pane);
    expect(item.ref).toMatch(/^pane:vm1\//);
    const pwned = join(l.dir, "pwned");

    // shell metacharacters must survive the remote shell's quoting: they arrive as written
    const text = `a'b"c $(touch ${pwned}) \`touch ${pwned}\` $HOME ; & | > ${pwned} * \\ #{pane_id} é 日本 🙂`;
    const r = await ok<SendResult>(l.sb, "send", { request_ref: rref(), ref: item.ref, text });
    expect(r.result).toMatchObject({ via: "keys", chars: [...text].length });
    expect(r.pane.identity).toMatchObject({ target: "vm1", pane_id: pane });
    await waitFile(out, (s) => s === text, "the text, byte for byte, on the VM");
    expect(existsSync(pwned)).toBe(false);

    const multi = "\nline 'one'\n$(two)\n";
    const p = await ok<SendResult>(l.sb, "send", { request_ref: rref(), ref: item.ref, text: multi, paste: true });
    expect(p.result.via).toBe("paste");
    await waitFile(out, (s) => s === text + multi, "pasted lines");
    expect((await l.vm.tmux("list-buffers", "-F", "#{buffer_name}")).trim()).toBe("");
    await ok(l.sb, "send", { request_ref: rref(), ref: item.ref, keys: ["Escape", "x"], enter: true });
    await waitFile(out, (s) => s === `${text}${multi}\u001bx\n`, "keys and Enter");

    const v = await ok<ViewOutputResult>(l.sb, "view-output", { request_ref: rref(), ref: item.ref, lines: 3 });
    expect(v.result.lines).toBeLessThanOrEqual(3);
    expect(v.result.text).toContain("$(two)");

    // kill (key mode): C-c reaches the VM pane's foreground process group
    const marker = join(l.dir, "int");
    const trap = await l.window(["sh", "-c", `trap 'echo got-INT >> ${shq(marker)}' INT; while :; do sleep 1; done`]);
    const k = await ok<KillResult>(l.sb, "kill", { request_ref: rref(), ref: (await vmPane(l.sb, l.vm, trap)).ref });
    expect(k.result).toEqual({ mode: "key", signal: "INT", pid: null });
    await waitFile(marker, (s) => s === "got-INT\n", "SIGINT on the VM");

    // attach: the window and pane are selected on the VM; the answer names the ssh alias
    await l.vm.tmux("select-window", "-t", "base:0");
    const flags = async (id: string): Promise<string> => (await l.vm.tmux("display-message", "-p", "-t", id, "#{window_active} #{pane_active}")).trim();
    expect((await flags(pane)).startsWith("0")).toBe(true);
    const a = await ok<AttachResult>(l.sb, "attach", { request_ref: rref(), ref: item.ref });
    const [sessionId, windowId] = (await l.vm.tmux("display-message", "-p", "-t", pane, "#{session_id} #{window_id}")).trim().split(" ");
    expect(a.result).toMatchObject({ kind: "ssh", ssh_target: "vm1", session_id: sessionId, window_id: windowId, pane_id: pane });
    expect(await flags(pane)).toBe("1 1");
    // the CLI's command for it: ssh -t to the alias, tmux attach there
    const printed = await runCli(l.sb, ["attach", item.ref, "--print"], { env: { AGTMUX_NO_AUTOSTART: "1" }, timeoutMs: 30_000 });
    expect(printed.code).toBe(0);
    expect(printed.stdout).toMatch(/^ssh -t -- vm1 .*attach-session/m);
    expect(printed.stdout).toContain(sessionId as string);

    // a fake agent on the VM: its runtime ref works, signal mode reaches it over ssh
    const agentPane = await l.window([join(l.vm.bin, "claude"), "100000"]);
    const agent = await vmPane(l.sb, l.vm, agentPane, (x) => x.agent?.type === "claude" && x.agent.pid !== null);
    const pid = agent.agent?.pid as number;
    const s = await ok<KillResult>(l.sb, "kill", { request_ref: rref(), ref: agent.runtime_ref as string, mode: "signal", signal: "TERM" });
    expect(s.result).toEqual({ mode: "signal", signal: "TERM", pid });
    await waitFor(() => !existsSync(`/proc/${pid}`) || readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z "), { timeoutMs: 5_000, message: `VM pid ${pid} gone` });
  }, 90_000);

  test("a VM that goes down: E_TARGET_UNREACHABLE, nothing typed (then or after it is back); back up, sends work again", async () => {
    const l = await sshLab();
    const out = join(l.dir, "down");
    const pane = await l.catPane(out);
    const item = await vmPane(l.sb, l.vm, pane);
    await ok(l.sb, "send", { request_ref: rref(), ref: item.ref, text: "before|" });
    await waitFile(out, (s) => s === "before|", "a send while up");

    await l.vm.sshd.stop();
    const t0 = performance.now();
    const r = await act(l.sb, "send", { request_ref: rref(), ref: item.ref, text: "while-down|", enter: true });
    const ms = Math.round(performance.now() - t0);
    expect(r.status).toBe(503);
    const e = expectErrorEnvelope(r.body, "E_TARGET_UNREACHABLE");
    expect(e.details.target).toBe("vm1");
    console.log(`[actions-ssh] send to a VM whose sshd is down: ${r.status} ${e.code} after ${ms} ms: ${e.message}`);
    // the other actions fail the same way; force_stale does not get around a dead connection
    for (const type of ["view-output", "attach", "kill"]) {
      const x = await act(l.sb, type, { request_ref: rref(), ref: item.ref });
      expect(x.status).toBe(503);
      expectErrorEnvelope(x.body, "E_TARGET_UNREACHABLE");
    }
    const forced = await act(l.sb, "send", { request_ref: rref(), ref: item.ref, text: "forced-while-down|", force_stale: true });
    expect(forced.status).toBe(503);
    expectErrorEnvelope(forced.body, "E_TARGET_UNREACHABLE");
    // the CLI: the same envelope on stdout, exit 6 (docs/cli-actions.md)
    const c = await runCli(l.sb, ["send", item.ref, "--text", "cli-while-down|", "--json"], { env: { AGTMUX_NO_AUTOSTART: "1" }, timeoutMs: 40_000 });
    expect(c.code).toBe(6);
    expect(expectErrorEnvelope(JSON.parse(c.stdout), "E_TARGET_UNREACHABLE").details.target).toBe("vm1");
    const failed = withDb(l.sb.paths.db, (db) => db.query<{ n: number }, []>("SELECT count(*) AS n FROM actions WHERE target_id = 'vm1' AND result_code = 'E_TARGET_UNREACHABLE'").get());
    expect(failed?.n).toBeGreaterThanOrEqual(1);

    // back up: the next send arrives, and nothing from the outage came before it
    await l.vm.sshd.start();
    const after = await waitFor(
      async () => {
        const x = await act(l.sb, "send", { request_ref: rref("after"), ref: item.ref, text: "after" });
        return x.status === 200 ? x : null;
      },
      { timeoutMs: 40_000, intervalMs: 500, message: "sends work again once sshd is back" },
    );
    expect(after.status).toBe(200);
    expect(await waitFile(out, (s) => s.endsWith("after"), "the send after recovery")).toBe("before|after");
  }, 120_000);
});
