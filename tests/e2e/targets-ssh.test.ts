/**
 * ssh targets end to end: the compiled daemon, real sshd "VMs" on loopback
 * (own host key, HOME, tmux server), agents and hooks running on the VMs.
 * TC-014 (ssh), TC-010 (remote), TC-023/TC-043 (partial results), TC-040
 * (mixed local/ssh flows, everything through the executor), TC-041
 * (reconnect + pane churn across targets), and hook events that cross a
 * disconnect and a daemon restart exactly once.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { runCli } from "../helpers/binary.ts";
import type { Sandbox } from "../helpers/sandbox.ts";
import { waitFor } from "../helpers/wait.ts";
import type { ListResponse, PaneItem, TargetResponse, TargetsResponse } from "../../src/wire/list.ts";
import type { HealthResponse } from "../../src/wire/types.ts";
import { e2eScope, expectErrorEnvelope, rawFetch, tmuxScope, withDb } from "./lib.ts";
import { claudePayload, daemonEnvFor, makeVm, type Vm } from "./ssh-lib.ts";
import { sshdAvailable } from "../ssh/sshd.ts";

const scope = e2eScope("ssh");
const tmuxes = tmuxScope();
const CLI_ENV = { AGTMUX_NO_AUTOSTART: "1" };

async function cli(sb: Sandbox, args: string[], env: Record<string, string | undefined> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return await runCli(sb, args, { env: { ...CLI_ENV, ...env }, timeoutMs: 40_000 });
}

async function json<T>(sb: Sandbox, args: string[]): Promise<T> {
  const r = await cli(sb, [...args, "--json"]);
  if (r.code !== 0) throw new Error(`agtmux ${args.join(" ")} exited ${r.code}: ${r.stdout}${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

async function panes(sb: Sandbox, query = "all=1"): Promise<ListResponse<PaneItem>> {
  const r = await rawFetch(sb, `/v1/panes?${query}`);
  if (r.status !== 200) throw new Error(`GET /v1/panes: ${r.status} ${r.text}`);
  return r.body as ListResponse<PaneItem>;
}

async function until(sb: Sandbox, ok: (r: ListResponse<PaneItem>) => boolean, message: string, timeoutMs = 15_000): Promise<ListResponse<PaneItem>> {
  return await waitFor(
    async () => {
      const r = await panes(sb);
      return ok(r) ? r : null;
    },
    { timeoutMs, intervalMs: 50, message },
  );
}

function pane(r: ListResponse<PaneItem>, target: string, paneId: string): PaneItem | undefined {
  return r.items.find((p) => p.identity.target === target && p.identity.pane_id === paneId);
}

async function addVm(sb: Sandbox, vm: Vm, extra: string[] = []): Promise<TargetResponse> {
  return await json<TargetResponse>(sb, ["target", "add", vm.name, "--kind", "ssh", "--ssh-target", vm.name, "--agtmux-path", vm.agtmux, ...extra]);
}

async function relayUp(sb: Sandbox, name: string): Promise<void> {
  await waitFor(
    async () => {
      const r = (await rawFetch(sb, "/v1/targets")).body as TargetsResponse;
      return r.items.find((t) => t.target === name)?.status?.relay?.up === true;
    },
    { timeoutMs: 15_000, message: `relay on ${name} up` },
  );
}

describe.skipIf(!sshdAvailable())("ssh targets (real sshd on loopback)", () => {
  test("TC-014 TC-040 add an ssh target: its panes and the host's in one list, remote hooks give real states, connect/list/remove", async () => {
    const sb = scope.box();
    const host = tmuxes.tmux(sb);
    await host.newSession("local", host.agent("codex"));
    const vm = await makeVm("vm1");
    const p1 = await vm.newAgentPane("work; $(touch /tmp/agtmux-pwned) 'q'");
    await scope.daemon(sb, daemonEnvFor(vm));

    const added = await addVm(sb, vm);
    expect(added).toMatchObject({ created: true, target: { target: "vm1", kind: "ssh", connection_ref: "vm1", agtmux_path: vm.agtmux, health: "ok" } });
    expect(added.probe).toMatchObject({ ok: true, panes: 1 });
    expect(added.probe?.status.ssh?.connects).toBe(1);

    const both = await until(sb, (r) => r.items.length === 2 && pane(r, "vm1", p1)?.agent?.type === "claude", "host + vm1 panes, vm1's agent identified");
    expect(both).toMatchObject({ partial: false, requested_targets: ["host", "vm1"], responded_targets: ["host", "vm1"] });
    expect(pane(both, "vm1", p1)?.identity.session_name).toBe("work; $(touch /tmp/agtmux-pwned) 'q'");
    expect(existsSync("/tmp/agtmux-pwned")).toBe(false);

    // a hook on the VM -> the VM's spool -> the relay -> the daemon: a real state, not unknown
    await relayUp(sb, "vm1");
    const h = await vm.hook(p1, "claude", claudePayload("PermissionRequest", { tool_name: "Bash", tool_input: { command: "echo '$(rm -rf ~)'; \"x\"\n" } }));
    expect(h).toMatchObject({ code: 0, stdout: "" });
    const waiting = await until(sb, (r) => pane(r, "vm1", p1)?.state === "waiting_approval", "vm1 pane waiting_approval");
    expect(pane(waiting, "vm1", p1)).toMatchObject({ state: "waiting_approval", agent: { type: "claude" } });
    // the VM has no daemon of its own: the hook spooled there and nothing was left behind once applied
    expect(existsSync(join(vm.env.HOME ?? "", ".local/state/agtmux/agtmuxd.sock"))).toBe(false);

    const vmOnly = await json<ListResponse<PaneItem>>(sb, ["list", "panes", "--target", "vm1"]);
    expect(vmOnly.items.map((p) => p.identity.target)).toEqual(["vm1"]);
    const table = await cli(sb, ["list", "panes"]);
    expect(table.stdout).toContain("vm1 / work;");
    expect(table.stdout).toContain("waiting");

    const connected = await json<TargetResponse>(sb, ["target", "connect", "vm1"]);
    expect(connected.probe).toMatchObject({ ok: true, panes: 1 });
    const list = await json<TargetsResponse>(sb, ["target", "list"]);
    const t = list.items.find((x) => x.target === "vm1");
    expect(t?.status?.relay?.up).toBe(true);
    expect(t?.tmux_version).toMatch(/^3\./);
    const tlist = await cli(sb, ["target", "list"]);
    expect(tlist.stdout).toMatch(/vm1\s+ssh\s+vm1/);

    // TC-040: /v1/health lists both targets ok
    const health = (await rawFetch(sb, "/v1/health")).body as HealthResponse;
    expect(health.targets.map((x) => [x.target_id, x.kind, x.health])).toEqual([
      ["host", "local", "ok"],
      ["vm1", "ssh", "ok"],
    ]);

    const removed = await cli(sb, ["target", "remove", "vm1", "--yes", "--json"]);
    expect(removed.code).toBe(0);
    const after = await panes(sb);
    expect(after.items.every((p) => p.identity.target === "host")).toBe(true);
  }, 60_000);

  test("TC-010 TC-023 TC-043 a VM that goes down: partial results, its panes unknown/target_unreachable, the host untouched; back when it recovers", async () => {
    const sb = scope.box();
    const host = tmuxes.tmux(sb);
    await host.newSession("local", host.agent("claude"));
    const vm = await makeVm("vm1");
    const p1 = await vm.newAgentPane("remote");
    await scope.daemon(sb, daemonEnvFor(vm));
    await addVm(sb, vm);
    await relayUp(sb, "vm1");
    await vm.hook(p1, "claude", claudePayload("UserPromptSubmit", { prompt: "go" }));
    await until(sb, (r) => pane(r, "vm1", p1)?.state === "running", "vm1 running");
    const hostBefore = (await panes(sb)).items.find((p) => p.identity.target === "host");

    await vm.sshd.stop();
    const down = await until(sb, (r) => pane(r, "vm1", p1)?.state === "unknown", "vm1's pane goes unknown", 40_000);
    expect(pane(down, "vm1", p1)).toMatchObject({ state: "unknown", reason_code: "target_unreachable", confidence: "low" });
    expect(down).toMatchObject({ partial: true, requested_targets: ["host", "vm1"], responded_targets: ["host"] });
    expect(down.target_errors).toHaveLength(1);
    expect(down.target_errors[0]).toMatchObject({ target: "vm1", code: "E_TARGET_UNREACHABLE", health: "down" });
    const hostDuring = down.items.find((p) => p.identity.target === "host");
    expect(hostDuring?.state).toBe(hostBefore?.state);
    const table = await cli(sb, ["list", "panes"]);
    expect(table.stdout).toMatch(/! vm1: unreachable \(since \d+s\)/);
    const conn = await cli(sb, ["target", "connect", "vm1", "--json"]);
    expect(conn.code).toBe(1);
    expectErrorEnvelope(JSON.parse(conn.stdout), "E_TARGET_UNREACHABLE");

    await vm.sshd.start();
    const back = await until(sb, (r) => r.partial === false && pane(r, "vm1", p1)?.state === "running", "vm1 back with its state", 40_000);
    expect(back.target_errors).toEqual([]);
  }, 120_000);

  test("TC-041 hooks during a disconnect and across a daemon restart arrive exactly once; pane churn while down converges", async () => {
    const sb = scope.box();
    const vm = await makeVm("vm1", { proxy: true });
    const p1 = await vm.newAgentPane("one");
    const d1 = await scope.daemon(sb, daemonEnvFor(vm));
    await addVm(sb, vm);
    await relayUp(sb, "vm1");
    await until(sb, (r) => pane(r, "vm1", p1) !== undefined, "vm1 pane listed");

    // the network drops mid-stream: hooks keep spooling on the VM; panes come and go there
    vm.proxy?.blackhole();
    const r1 = await vm.hook(p1, "claude", claudePayload("UserPromptSubmit", { prompt: "during outage" }));
    expect(r1.code).toBe(0);
    const p2 = await vm.newAgentPane("two");
    await vm.tmux("kill-session", "-t", "one");
    await vm.hook(p2, "claude", claudePayload("PermissionRequest", { tool_name: "Bash" }));
    vm.proxy?.reset();
    vm.proxy?.resume();
    const converged = await until(sb, (r) => pane(r, "vm1", p2)?.state === "waiting_approval" && pane(r, "vm1", p1) === undefined, "vm1 converged after reconnect", 40_000);
    expect(converged.items.filter((p) => p.identity.target === "vm1").map((p) => p.identity.pane_id)).toEqual([p2]);

    // daemon down: hooks spool on the VM; the new daemon resumes at the committed offsets
    await d1.proc.kill("SIGTERM");
    await d1.proc.exited;
    await vm.hook(p2, "claude", claudePayload("UserPromptSubmit", { prompt: "while the daemon was down" }));
    await scope.daemon(sb, daemonEnvFor(vm));
    await until(sb, (r) => pane(r, "vm1", p2)?.state === "running", "the event spooled while the daemon was down is applied", 30_000);
    // exactly once: p2's two hooks are stored once each, whatever the disconnect and the restart replayed
    const counts = withDb(sb.paths.db, (db) =>
      db
        .query<{ event_type: string; n: number }, [string]>(
          "SELECT e.event_type, count(*) AS n FROM events e JOIN runtimes r ON r.runtime_id = e.runtime_id WHERE r.target_id = 'vm1' AND r.pane_id = ? AND e.source = 'hook' GROUP BY e.event_type ORDER BY 1",
        )
        .all(p2),
    );
    expect(counts).toEqual([
      { event_type: "claude.PermissionRequest", n: 1 },
      { event_type: "claude.UserPromptSubmit", n: 1 },
    ]);
    // drained files are deleted on the VM once applied
    const spool = join(vm.env.HOME ?? "", ".local/state/agtmux/spool");
    await waitFor(() => readdirSync(spool).filter((f) => f.startsWith("drain-")).length === 0, { timeoutMs: 15_000, message: "VM drain files deleted" });
  }, 120_000);
});
