/**
 * Hook-to-visible latency: a hook fires (`agtmux emit --hook claude` spawned
 * exactly as Claude Code runs it, with TMUX/TMUX_PANE and the payload on
 * stdin) -> the new state is in the API (GET /v1/panes, polled every 2 ms).
 * >= 200 transitions over 10 fake-claude panes in a real tmux server watched by
 * the compiled daemon. Also reports the emit process's own wall time (spawn
 * to exit: mostly process start-up). Goal: p95 < 100 ms locally.
 * Writes bench/out/hook-latency.json.
 *
 * Flags: --transitions=250 --panes=10 --no-build
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AgtmuxClient } from "../src/client/client.ts";
import type { ListResponse, PaneItem } from "../src/wire/list.ts";
import { BenchTmux, BIN, benchBox, machineInfo, ROOT, run, type Stats, stats, until, CLAUDE_HOOK_CYCLE } from "./lib.ts";

const argv = process.argv.slice(2);
const opt = (name: string, dflt: string): string => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
const TRANSITIONS = Number(opt("transitions", "250"));
const PANES = Number(opt("panes", "10"));
const OUT = join(import.meta.dir, "out");


async function main(): Promise<number> {
  if (!argv.includes("--no-build")) {
    const b = await run([process.execPath, join(ROOT, "scripts", "build.ts"), "--no-smoke"], process.env);
    if (b.code !== 0) throw new Error(`build failed: ${b.stderr}`);
  }
  const box = benchBox();
  const tmux = new BenchTmux(box);
  let daemon: Bun.Subprocess | undefined;
  try {
    await tmux.newSession("bench", tmux.agent("claude"));
    for (let i = 1; i < PANES; i++) await tmux.run("new-window", "-d", "-t", "bench", ...tmux.agent("claude"));
    const serverPid = Number((await tmux.run("display-message", "-p", "#{pid}")).trim());
    const socketPath = (await tmux.run("display-message", "-p", "#{socket_path}")).trim();
    daemon = Bun.spawn([BIN, "daemon"], { env: box.env as Record<string, string>, stdout: "ignore", stderr: "ignore" });
    const client = new AgtmuxClient({ socket: box.socket });
    const panes = await until(
      async () => {
        const r = await client.panes().catch(() => null);
        return r !== null && r.items.length === PANES ? r.items : null;
      },
      15_000,
      "daemon lists every agent pane",
    );
    const emitEnv = (pane: string): Record<string, string> =>
      ({ ...box.env, TMUX: `${socketPath},${serverPid},0`, TMUX_PANE: pane }) as Record<string, string>;
    const total: number[] = [];
    const emitWall: number[] = [];
    const step = new Map<string, number>();
    for (let i = 0; i < TRANSITIONS; i++) {
      const pane = panes[i % panes.length] as PaneItem;
      const k = step.get(pane.identity.pane_id) ?? 0;
      step.set(pane.identity.pane_id, k + 1);
      const [hook, want, extra] = CLAUDE_HOOK_CYCLE[k % CLAUDE_HOOK_CYCLE.length] as [string, string, Record<string, unknown>];
      const payload = JSON.stringify({ session_id: "bench", hook_event_name: hook, cwd: "/tmp", ...extra });
      const t0 = performance.now();
      const p = Bun.spawn([BIN, "emit", "--hook", "claude"], { env: emitEnv(pane.identity.pane_id), stdin: new Blob([payload]), stdout: "ignore", stderr: "ignore" });
      let emitted = Number.NaN;
      void p.exited.then(() => (emitted = performance.now() - t0));
      await until(
        async () => {
          const r: ListResponse<PaneItem> | null = await client.panes({ ref: pane.ref }).catch(() => null);
          const item = r?.items[0];
          return item !== undefined && item.state === want && (item.state_version ?? 0) > 0 ? item : null;
        },
        5_000,
        `pane ${pane.identity.pane_id} -> ${want}`,
        2,
      );
      total.push(performance.now() - t0);
      await p.exited;
      emitWall.push(Number.isNaN(emitted) ? performance.now() - t0 : emitted);
    }
    const result = {
      name: "hook-latency",
      generated_at: new Date().toISOString(),
      machine: await machineInfo(box.env),
      transitions: TRANSITIONS,
      panes: PANES,
      hook_to_visible_ms: stats(total),
      emit_process_ms: stats(emitWall),
      goal: { p95_ms: 100 },
      samples_ms: total.map((x) => Math.round(x * 100) / 100),
    };
    mkdirSync(OUT, { recursive: true });
    writeFileSync(join(OUT, "hook-latency.json"), `${JSON.stringify(result, null, 2)}\n`);
    const f = (s: Stats): string => `p50 ${s.p50.toFixed(1)}  p95 ${s.p95.toFixed(1)}  p99 ${s.p99.toFixed(1)}  max ${s.max.toFixed(1)} ms`;
    console.log(`hook -> visible (${TRANSITIONS} transitions, ${PANES} panes): ${f(result.hook_to_visible_ms)}`);
    console.log(`  of which the emit process (spawn to exit): ${f(result.emit_process_ms)}`);
    console.log(`  goal p95 < 100 ms: ${result.hook_to_visible_ms.p95 < 100 ? "met" : "NOT met"}`);
    console.log(`wrote ${join(OUT, "hook-latency.json")}`);
    return 0;
  } finally {
    daemon?.kill("SIGTERM");
    await daemon?.exited;
    await tmux.kill();
    box.cleanup();
  }
}

process.exit(await main());
