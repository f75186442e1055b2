/**
 * TC-040: mixed local/ssh flows through the API, with every tmux read and
 * process query of a target going through that target's executor (here a
 * recording executor standing in for the ssh transport, over a real tmux
 * server), and /v1/health stable while targets come and go.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { CollectingWorker, TargetManager, type WorkerFactory } from "../../src/daemon/targets.ts";
import { readProcTableVia } from "../../src/procs/table.ts";
import { LocalExecutor } from "../../src/targets/executor.ts";
import type { ListResponse, PaneItem, TargetResponse } from "../../src/wire/list.ts";
import type { HealthResponse } from "../../src/wire/types.ts";
import { app } from "../helpers/app.ts";
import { harness } from "../helpers/harness.ts";
import { waitFor } from "../helpers/wait.ts";
import { RecordingExecutor, startTmuxServer, type TmuxServer } from "../tmux/harness.ts";

const servers: TmuxServer[] = [];
const managers: TargetManager[] = [];
afterEach(async () => {
  for (const m of managers.splice(0)) await m.stopAll();
  for (const s of servers.splice(0)) await s.kill().catch(() => {});
});

describe("TC-040 targets through their executor", () => {
  test("TC-040 an ssh-kind target's topology and process reads all go through its executor; health stays stable while targets are added and removed", async () => {
    const vmServer = await startTmuxServer({ session: "remote; $(x)", command: ["sleep", "1000"] });
    servers.push(vmServer);
    const h = harness();
    const a = app(h);
    const recorders = new Map<string, RecordingExecutor>();
    const fakeSsh: WorkerFactory = (ctx, row) => {
      const rec = new RecordingExecutor(new LocalExecutor(row.target_id));
      recorders.set(row.target_id, rec);
      return new CollectingWorker(ctx, row, { exec: rec, readProcs: () => readProcTableVia(rec) }, vmServer.socket, { codex: false });
    };
    const noLocal: WorkerFactory = () => {
      throw new Error("no local worker in this test");
    };
    const m = new TargetManager(a.ctx, process.env, { local: noLocal, ssh: fakeSsh });
    managers.push(m);
    a.ctx.targets = m;

    const healthBefore = (await (await a.call("GET", "/v1/health")).json()) as HealthResponse;
    const res = await a.call("POST", "/v1/targets", { name: "vm9", kind: "ssh", ssh_target: "vm9" });
    expect(res.status).toBe(201);
    const body = (await res.json()) as TargetResponse;
    expect(body.probe).toMatchObject({ ok: true, panes: 1 });

    const listed = await waitFor(
      async () => {
        const r = (await (await a.call("GET", "/v1/panes?all=1&target=vm9")).json()) as ListResponse<PaneItem>;
        return r.items.length === 1 ? r : null;
      },
      { timeoutMs: 5_000, message: "vm9's pane listed" },
    );
    expect(listed.items[0]?.identity.session_name).toBe("remote; $(x)");

    const rec = recorders.get("vm9");
    expect(rec).toBeDefined();
    const calls = rec?.execs ?? [];
    // topology: list-panes over the executor; processes: one ps over the executor (never /proc, never a local spawn)
    expect(calls.some((c) => c[0] === "tmux" && c.includes("list-panes"))).toBe(true);
    expect(calls.some((c) => c.includes("ps"))).toBe(true);
    for (const c of calls) expect(c[0] === "tmux" || (c[0] === "env" && c.includes("ps"))).toBe(true);

    // /v1/health answers the same way while targets come and go
    for (let i = 0; i < 10; i++) {
      const name = `tmp${i}`;
      const add = await a.call("POST", "/v1/targets", { name, kind: "ssh", ssh_target: name, connect: false });
      expect(add.status).toBe(201);
      const hh = (await (await a.call("GET", "/v1/health")).json()) as HealthResponse;
      expect(hh.stream_id).toBe(healthBefore.stream_id);
      expect(hh.targets.map((t) => t.target_id)).toContain(name);
      const del = await a.call("DELETE", `/v1/targets/${name}`);
      expect(del.status).toBe(200);
    }
    const hAfter = (await (await a.call("GET", "/v1/health")).json()) as HealthResponse;
    expect(hAfter.targets.map((t) => [t.target_id, t.health])).toEqual([
      ["host", "ok"],
      ["vm9", "ok"],
    ]);
    expect(m.list().map((w) => w.id)).toEqual(["vm9"]);
  });
});
