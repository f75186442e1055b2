/**
 * TC-014 (local part): `agtmux target add|connect|list|remove` against the
 * compiled binary, with a second local tmux server as the added target, and
 * the bad input around them (names, duplicates, removing host, unknown names,
 * removal without confirmation).
 */
import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { runCli } from "../helpers/binary.ts";
import type { Sandbox } from "../helpers/sandbox.ts";
import { waitFor } from "../helpers/wait.ts";
import type { ListResponse, PaneItem, RemoveTargetResponse, TargetResponse, TargetsResponse } from "../../src/wire/list.ts";
import { e2eScope, expectErrorEnvelope, rawFetch, tmuxScope } from "./lib.ts";

const scope = e2eScope("targets-local");
const tmuxes = tmuxScope();
const CLI_ENV = { AGTMUX_NO_AUTOSTART: "1" };
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function cli(sb: Sandbox, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return await runCli(sb, args, { env: CLI_ENV });
}

async function json<T>(sb: Sandbox, args: string[]): Promise<T> {
  const r = await cli(sb, [...args, "--json"]);
  if (r.code !== 0) throw new Error(`agtmux ${args.join(" ")} exited ${r.code}: ${r.stdout}${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

describe("TC-014 targets (local)", () => {
  test("TC-014 add a second local tmux server, see both in one list, connect, list, remove", async () => {
    const sb = scope.box();
    const t = tmuxes.tmux(sb);
    await t.newSession("main", t.agent("claude"));
    const second = join(sb.dir, "second.sock");
    await t.run("-S", second, "new-session", "-d", "-s", "other side; $(x)", ...t.agent("codex"));
    cleanups.push(async () => {
      await t.run("-S", second, "kill-server").catch(() => {});
    });
    await scope.daemon(sb);

    const added = await json<TargetResponse>(sb, ["target", "add", "lab2", "--kind", "local", "--tmux-socket", second]);
    expect(added.created).toBe(true);
    expect(added.target).toMatchObject({ target: "lab2", kind: "local", tmux_socket: second, connection_ref: null, health: "ok" });
    expect(added.probe).toMatchObject({ target: "lab2", ok: true, panes: 1 });
    expect(added.probe?.tmux_version).toMatch(/^\d/);

    // both targets in one list, each with its agent
    const all = await waitFor(
      async () => {
        const r = await json<ListResponse<PaneItem>>(sb, ["list", "panes"]);
        return r.items.length === 2 ? r : null;
      },
      { timeoutMs: 8_000, message: "panes of both targets listed" },
    );
    expect(all.items.map((p) => [p.identity.target, p.identity.session_name, p.agent?.type]).toSorted()).toEqual([
      ["host", "main", "claude"],
      ["lab2", "other side; $(x)", "codex"],
    ]);
    expect(all).toMatchObject({ partial: false, requested_targets: ["host", "lab2"], responded_targets: ["host", "lab2"] });
    const only = await json<ListResponse<PaneItem>>(sb, ["list", "panes", "--target", "lab2"]);
    expect(only.items.map((p) => p.identity.target)).toEqual(["lab2"]);

    // adding the same spec again is a no-op; another spec under the name is refused
    const again = await json<TargetResponse>(sb, ["target", "add", "lab2", "--kind", "local", "--tmux-socket", second]);
    expect(again.created).toBe(false);
    const clash = await cli(sb, ["target", "add", "lab2", "--kind", "local", "--tmux-socket", "elsewhere", "--json"]);
    expect(clash.code).toBe(1);
    expectErrorEnvelope(JSON.parse(clash.stdout), "E_TARGET_EXISTS");

    const connected = await json<TargetResponse>(sb, ["target", "connect", "lab2"]);
    expect(connected.probe).toMatchObject({ ok: true, panes: 1 });

    const list = await json<TargetsResponse>(sb, ["target", "list"]);
    expect(list.items.map((x) => x.target)).toEqual(["host", "lab2"]);
    expect(list.items[1]?.status).toMatchObject({ running: true, connected: true, relay: null });
    const table = await cli(sb, ["target", "list"]);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain("lab2");
    expect(table.stdout).toContain("local");

    // removal needs confirmation: without a TTY and --yes it refuses (usage, exit 2)
    const refused = await cli(sb, ["target", "remove", "lab2"]);
    expect(refused.code).toBe(2);
    const removed = await json<RemoveTargetResponse>(sb, ["target", "remove", "lab2", "--yes"]);
    expect(removed).toMatchObject({ target: "lab2", removed: true, panes_forgotten: 1 });
    const after = await json<ListResponse<PaneItem>>(sb, ["list", "panes"]);
    expect(after.items.map((p) => p.identity.target)).toEqual(["host"]);
    expect(after.requested_targets).toEqual(["host"]);
  });

  test("TC-014 bad input: odd names, unknown targets, host cannot be removed, schema errors", async () => {
    const sb = scope.box();
    await scope.daemon(sb);
    for (const bad of ["a b", "x;rm", "-rf", "é", "a".repeat(65)]) {
      const r = await rawFetch(sb, "/v1/targets", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: bad, kind: "local" }) });
      expect(r.status).toBe(400);
      expectErrorEnvelope(r.body, "E_BAD_REQUEST");
    }
    const noAlias = await rawFetch(sb, "/v1/targets", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: "vm", kind: "ssh" }) });
    expectErrorEnvelope(noAlias.body, "E_BAD_REQUEST");
    const dashAlias = await rawFetch(sb, "/v1/targets", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "vm", kind: "ssh", ssh_target: "-oProxyCommand=touch /tmp/x" }),
    });
    expectErrorEnvelope(dashAlias.body, "E_BAD_REQUEST");
    const extra = await rawFetch(sb, "/v1/targets", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: "vm", kind: "local", password: "x" }) });
    expectErrorEnvelope(extra.body, "E_BAD_REQUEST");

    const unknown = await cli(sb, ["target", "connect", "nope", "--json"]);
    expect(unknown.code).toBe(1);
    expectErrorEnvelope(JSON.parse(unknown.stdout), "E_REF_NOT_FOUND");
    const gone = await rawFetch(sb, "/v1/targets/nope", { method: "DELETE" });
    expect(gone.status).toBe(404);
    const host = await cli(sb, ["target", "remove", "host", "--yes", "--json"]);
    expectErrorEnvelope(JSON.parse(host.stdout), "E_BAD_REQUEST");
    const usage = await cli(sb, ["target", "add", "x", "--kind", "ftp"]);
    expect(usage.code).toBe(2);
    const list = await json<TargetsResponse>(sb, ["target", "list"]);
    expect(list.items.map((x) => x.target)).toEqual(["host"]);
  });
});
