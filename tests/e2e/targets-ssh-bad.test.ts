/**
 * ssh targets: bad input and resilience, end to end (compiled daemon, real
 * sshd VMs). Unknown alias, unknown host key (refused, then accepted
 * explicitly), changed host key (always refused), auth failure, a VM without
 * tmux or with tmux < 3.3 — each a clear per-target error, the host target
 * unaffected; TC-034 (20 flaps: no deadlock, no leaked connections, back
 * within 2 probes); `target bootstrap` (dry run, install, idempotent).
 */
import { describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli } from "../helpers/binary.ts";
import type { Sandbox } from "../helpers/sandbox.ts";
import { waitFor } from "../helpers/wait.ts";
import type { ListResponse, PaneItem, TargetResponse, TargetsResponse } from "../../src/wire/list.ts";
import { e2eScope, expectErrorEnvelope, rawFetch, tmuxScope } from "./lib.ts";
import { cliEnvFor, daemonEnvFor, makeVm, type Vm } from "./ssh-lib.ts";
import { generateKey, sshdAvailable } from "../ssh/sshd.ts";

const scope = e2eScope("sshbad");
const tmuxes = tmuxScope();

async function cli(sb: Sandbox, args: string[], env: Record<string, string | undefined> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return await runCli(sb, args, { env: { AGTMUX_NO_AUTOSTART: "1", ...env }, timeoutMs: 60_000 });
}

function addArgs(vm: Vm, extra: string[] = []): string[] {
  return ["target", "add", vm.name, "--kind", "ssh", "--ssh-target", vm.name, "--agtmux-path", vm.agtmux, ...extra, "--json"];
}

async function targets(sb: Sandbox): Promise<TargetsResponse> {
  return (await rawFetch(sb, "/v1/targets")).body as TargetsResponse;
}

/** the error envelope of a failed CLI call, with its details */
function failed(r: { code: number; stdout: string }, code: string): { message: string; details: Record<string, unknown> } {
  expect(r.code).toBe(1);
  return expectErrorEnvelope(JSON.parse(r.stdout), code);
}

async function hostStillFine(sb: Sandbox): Promise<void> {
  const r = (await rawFetch(sb, "/v1/panes?all=1")).body as ListResponse<PaneItem>;
  expect(r.items.some((p) => p.identity.target === "host")).toBe(true);
  expect(r.target_errors.filter((e) => e.target === "host")).toEqual([]);
}

/** a directory to put first in the VM's PATH: env and ps, plus what `extra` adds */
function vmBin(vm: Vm, extra: Record<string, string> = {}): string {
  const dir = join(vm.sshd.dir, "path");
  mkdirSync(dir, { recursive: true });
  for (const tool of ["env", "ps", "sed", "sh", "uname", "sha256sum"]) symlinkSync(`/usr/bin/${tool}`, join(dir, tool));
  for (const [name, script] of Object.entries(extra)) {
    writeFileSync(join(dir, name), script);
    chmodSync(join(dir, name), 0o755);
  }
  return dir;
}

describe.skipIf(!sshdAvailable())("ssh targets: bad input", () => {
  test("unknown alias, unknown host key (refused, then accepted explicitly), changed host key (always refused), auth failure: clear errors, nothing stored, host unaffected", async () => {
    const sb = scope.box();
    const host = tmuxes.tmux(sb);
    await host.newSession("local", host.agent("claude"));
    const vm = await makeVm("vm1", { trustHostKey: false });
    await scope.daemon(sb, daemonEnvFor(vm));

    // an alias that resolves nowhere
    const nowhere = await cli(sb, ["target", "add", "ghost", "--kind", "ssh", "--ssh-target", "ghost.invalid", "--json"]);
    const e1 = failed(nowhere, "E_TARGET_UNREACHABLE");
    expect(e1.message).toContain("ghost");
    expect(e1.details.target).toBe("ghost");

    // unknown host key: refused with its fingerprint and what to do
    const unknown = await cli(sb, addArgs(vm));
    const e2 = failed(unknown, "E_TARGET_UNREACHABLE");
    expect(e2.details.reason).toBe("host_key_unknown");
    expect(e2.message).toMatch(/SHA256:[A-Za-z0-9+/]{43}/);
    expect(e2.message).toContain("--accept-new-host-key");
    expect((await targets(sb)).items.map((t) => t.target)).toEqual(["host"]);
    // accepted explicitly: recorded in known_hosts, then it works
    const accepted = await cli(sb, addArgs(vm, ["--accept-new-host-key"]));
    expect(accepted.code).toBe(0);
    expect((JSON.parse(accepted.stdout) as TargetResponse).probe?.ok).toBe(true);
    expect(vm.sshd.client.knownHosts().trim().split("\n")).toHaveLength(1);

    // the VM's host key changes: refused, even when asked to accept new keys
    await vm.sshd.rotateHostKey();
    const changed = await cli(sb, ["target", "connect", "vm1", "--accept-new-host-key", "--json"]);
    const e3 = failed(changed, "E_TARGET_UNREACHABLE");
    expect(e3.details.reason).toBe("host_key_mismatch");
    expect(e3.message).toMatch(/CHANGED|changed/);
    expect(vm.sshd.client.knownHosts().trim().split("\n")).toHaveLength(1);
    await waitFor(async () => (await targets(sb)).items.find((t) => t.target === "vm1")?.last_error !== null, { timeoutMs: 15_000, message: "vm1 shows its error" });

    // a key the VM does not accept
    const other = generateKey(join(vm.sshd.dir, "other_key"));
    const vm2 = await makeVm("vm2", { client: vm.sshd.client, identityFile: other.path });
    const denied = await cli(sb, ["target", "add", "vm2", "--kind", "ssh", "--ssh-target", "vm2", "--agtmux-path", vm2.agtmux, "--json"]);
    const e4 = failed(denied, "E_TARGET_UNREACHABLE");
    expect(e4.details.reason).toBe("auth_failed");
    expect(e4.message).toContain("root@");
    await hostStillFine(sb);
  }, 90_000);

  test("a VM without tmux, and one with tmux < 3.3: clear per-target errors, the other targets unaffected", async () => {
    const sb = scope.box();
    const host = tmuxes.tmux(sb);
    await host.newSession("local", host.agent("claude"));
    // VMs whose sessions get a PATH without tmux, and one whose tmux says it is 3.2a
    const bare2 = await makeVm("bare2");
    const bareBin = vmBin(bare2);
    await bare2.sshd.stop();
    const old2 = await makeVm("old2", { client: bare2.sshd.client });
    const oldBin = vmBin(old2, { tmux: "#!/bin/sh\n/usr/bin/tmux \"$@\" | /usr/bin/sed 's/3\\.3a/3.2a/g'\n" });
    await old2.newAgentPane("ancient");
    await old2.sshd.stop();
    bare2.sshd.setEnvExtra({ PATH: bareBin });
    old2.sshd.setEnvExtra({ PATH: oldBin });
    await bare2.sshd.start();
    await old2.sshd.start();
    await scope.daemon(sb, daemonEnvFor(bare2));

    const r1 = await cli(sb, ["target", "add", "bare2", "--kind", "ssh", "--ssh-target", "bare2", "--agtmux-path", bare2.agtmux, "--json"]);
    const e1 = failed(r1, "E_TARGET_UNREACHABLE");
    expect(e1.message).toMatch(/tmux/);
    expect(e1.message).toMatch(/not found|command not found/);
    const r2 = await cli(sb, ["target", "add", "old2", "--kind", "ssh", "--ssh-target", "old2", "--agtmux-path", old2.agtmux, "--json"]);
    const e2 = failed(r2, "E_TARGET_UNREACHABLE");
    expect(e2.message).toContain("3.2a");
    expect(e2.message).toContain(">= 3.3");
    expect((await targets(sb)).items.map((t) => t.target)).toEqual(["host"]);
    await hostStillFine(sb);
  }, 90_000);

  test("TC-034 a target that flaps 20 times: no deadlock, one connection afterwards, no leaked descriptors, back within 2 probes, reads never wait on it", async () => {
    const sb = scope.box();
    const host = tmuxes.tmux(sb);
    await host.newSession("local", host.agent("claude"));
    const vm = await makeVm("vm1", { proxy: true });
    const p1 = await vm.newAgentPane("remote");
    const d = await scope.daemon(sb, daemonEnvFor(vm));
    expect((await cli(sb, addArgs(vm))).code).toBe(0);
    const steady = async (): Promise<void> => {
      await waitFor(
        async () => {
          const t = (await targets(sb)).items.find((x) => x.target === "vm1");
          return t?.health === "ok" && t.last_error === null && t.status?.relay?.up === true && vm.proxy?.liveConnections === 1;
        },
        { timeoutMs: 30_000, message: "vm1 ok, relay up, one connection" },
      );
    };
    await steady();
    const fds = (): number => readdirSync(`/proc/${d.proc.pid}/fd`).length;
    const fdsBefore = fds();

    let slowest = 0;
    for (let i = 0; i < 20; i++) {
      vm.proxy?.reset();
      if (i % 4 === 0) vm.proxy?.blackhole();
      const t0 = performance.now();
      const r = await rawFetch(sb, "/v1/panes?all=1");
      slowest = Math.max(slowest, performance.now() - t0);
      expect(r.status).toBe(200);
      await Bun.sleep(i % 5 === 0 ? 400 : 60); // some flaps land mid-reconnect
      vm.proxy?.resume();
    }
    const t1 = performance.now();
    await steady();
    const recoveredMs = performance.now() - t1;
    // reads answered from the store while the target flapped
    expect(slowest).toBeLessThan(1_000);
    // contracts §6: back after 2 good probes (2 s scan interval) + the ssh handshake + relay hello, with margin
    expect(recoveredMs).toBeLessThan(15_000);
    const t = (await targets(sb)).items.find((x) => x.target === "vm1");
    expect(t?.status?.ssh?.channels_open).toBeLessThanOrEqual(3);
    await waitFor(() => fds() <= fdsBefore + 2, { timeoutMs: 10_000, message: `daemon fds back to ~${fdsBefore} (now ${fds()})` });
    const r = (await rawFetch(sb, "/v1/panes?all=1")).body as ListResponse<PaneItem>;
    expect(r.items.find((p) => p.identity.target === "vm1" && p.identity.pane_id === p1)).toBeDefined();
    expect(r.partial).toBe(false);
  }, 120_000);

  test("target bootstrap: --dry-run says what it would do and writes nothing; then installs the binary, marks the VM and sets up hooks; a second run uploads nothing", async () => {
    const sb = scope.box();
    const vm = await makeVm("vm1");
    await scope.daemon(sb, daemonEnvFor(vm));
    const remote = join(vm.sshd.vmHome, "opt", "agtmux bin", "agtmux");
    expect((await cli(sb, ["target", "add", "vm1", "--kind", "ssh", "--ssh-target", "vm1", "--agtmux-path", remote, "--json"])).code).toBe(0);
    // the relay cannot start yet: the target says how to fix it
    const before = (await targets(sb)).items.find((t) => t.target === "vm1");
    expect(before?.status?.relay?.up).toBe(false);

    const env = cliEnvFor(sb, vm);
    mkdirSync(join(vm.sshd.vmHome, ".claude"), { recursive: true }); // Claude Code is "installed" there
    const dry = await cli(sb, ["target", "bootstrap", "vm1", "--dry-run", "--json"], env);
    expect(dry.code).toBe(0);
    const plan = JSON.parse(dry.stdout) as { dry_run: boolean; uploaded: boolean; platform: { os: string; arch: string }; steps: Array<{ step: string; done: boolean }> };
    expect(plan).toMatchObject({ dry_run: true, uploaded: false, platform: { os: "linux" } });
    expect(plan.steps.map((s) => s.step)).toEqual(["detect", "upload", "mark", "setup-hooks"]);
    expect(existsSync(remote)).toBe(false);

    const done = await cli(sb, ["target", "bootstrap", "vm1", "--json"], env);
    if (done.code !== 0) throw new Error(`bootstrap failed: ${done.stdout}${done.stderr}`);
    const rep = JSON.parse(done.stdout) as { uploaded: boolean; remote_version: string; sha256: string };
    expect(rep.uploaded).toBe(true);
    expect(rep.remote_version).toMatch(/^agtmux /);
    expect(existsSync(remote)).toBe(true);
    expect(existsSync(join(vm.sshd.vmHome, ".local/state/agtmux/relayed"))).toBe(true);
    // the VM's Claude settings run the uploaded binary's emit for every hook
    const settings = readFileSync(join(vm.sshd.vmHome, ".claude", "settings.json"), "utf8");
    expect(settings).toContain(`'${remote}' emit --hook claude`);
    await waitFor(async () => (await targets(sb)).items.find((t) => t.target === "vm1")?.status?.relay?.up === true, { timeoutMs: 20_000, message: "relay up after bootstrap" });

    const again = await cli(sb, ["target", "bootstrap", "vm1", "--json"], env);
    expect(again.code).toBe(0);
    expect((JSON.parse(again.stdout) as { uploaded: boolean }).uploaded).toBe(false);
  }, 120_000);
});
