/**
 * Real processes: executables named like the agents (copies of sleep) and
 * node-run package scripts, each under its own bash "pane" (a non-interactive
 * shell fed commands on stdin, the way a pane's shell runs what is typed), then
 * the /proc and ps snapshots must find them, agree with each other, and leave
 * a plain shell alone.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { identifyAgent, identifyAll } from "../../src/procs/agents.ts";
import { descendants, readProcTable, readProcTableVia, snapshotProcesses } from "../../src/procs/table.ts";
import type { AgentMatch, AgentType, ProcessTable } from "../../src/procs/types.ts";
import { LocalExecutor } from "../../src/targets/executor.ts";
import { waitFor } from "../helpers/wait.ts";

const LINUX = process.platform === "linux" && existsSync("/proc/self/stat");
const NODE = Bun.which("node");
const SLEEP = Bun.which("sleep") ?? "/bin/sleep";

const q = (s: string): string => `'${s.replaceAll("'", `'\\''`)}'`;

interface Pane {
  name: string;
  pid: number;
  /** Date.now() just before the command was handed to the shell */
  t0: number;
  proc: Bun.Subprocess<"pipe", "ignore", "ignore">;
  run(line: string): void;
}

const panes: Pane[] = [];
let root = "";

function startPane(name: string): Pane {
  const proc = Bun.spawn(["bash", "--norc", "--noprofile", "-s"], { stdin: "pipe", stdout: "ignore", stderr: "ignore", cwd: root });
  const pane: Pane = {
    name,
    pid: proc.pid,
    t0: 0,
    proc,
    run(line) {
      pane.t0 = Date.now();
      proc.stdin.write(`${line}\n`);
      void proc.stdin.flush();
    },
  };
  panes.push(pane);
  return pane;
}

function exe(path: string, from: string = SLEEP): string {
  mkdirSync(dirname(path), { recursive: true });
  copyFileSync(from, path);
  chmodSync(path, 0o755);
  return path;
}
function file(path: string, text: string, mode = 0o644): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text, { mode });
  return path;
}

/** waits until identifyAgent on a fresh /proc snapshot returns a match satisfying ok */
async function agentIn(pane: Pane, ok: (m: AgentMatch, t: ProcessTable) => boolean): Promise<{ m: AgentMatch; t: ProcessTable; found: number }> {
  return waitFor(
    () => {
      const t = readProcTable();
      const m = identifyAgent(t, pane.pid);
      return m !== null && ok(m, t) ? { m, t, found: Date.now() } : null;
    },
    { timeoutMs: 10_000, message: `agent in pane ${pane.name}` },
  );
}

const byName = (name: string): Pane => {
  const p = panes.find((x) => x.name === name);
  if (p === undefined) throw new Error(`no pane ${name}`);
  return p;
};

describe.skipIf(!LINUX || NODE === null)("live processes", () => {
  let claudeBin = "";
  let codexBin = "";
  let cursorBin = "";
  let codexJs = "";
  let launcherJs = "";
  let nativeCodex = "";
  let cursorLauncher = "";

  beforeAll(() => {
    root = mkdtempSync(join(process.env.AGTMUX_TEST_ROOT ?? "/tmp", "procs-live-"));
    claudeBin = exe(join(root, "bin/claude"));
    codexBin = exe(join(root, "bin/codex"));
    cursorBin = exe(join(root, "bin/cursor-agent"));
    codexJs = file(join(root, "plain/node_modules/@openai/codex/bin/codex.js"), "setInterval(() => {}, 1e9);\n");
    nativeCodex = exe(join(root, "launcher/node_modules/@openai/codex/vendor/x86_64-unknown-linux-musl/codex/codex"));
    launcherJs = file(
      join(root, "launcher/node_modules/@openai/codex/bin/codex.js"),
      [
        'const { spawn } = require("node:child_process");',
        'const path = require("node:path");',
        'spawn(path.join(__dirname, "../vendor/x86_64-unknown-linux-musl/codex/codex"), ["1000"], { stdio: "ignore" });',
        "setInterval(() => {}, 1e9);",
        "",
      ].join("\n"),
    );
    // the cursor CLI's layout: a bash launcher in a versions dir starting node on index.js
    const versions = join(root, "share/cursor-agent/versions/2025.09.04-fc40cd1");
    file(join(versions, "index.js"), "setInterval(() => {}, 1e9);\n");
    cursorLauncher = file(join(versions, "cursor-agent"), `#!/bin/bash\n${q(NODE ?? "node")} "$(dirname "$0")/index.js" "$@"\nexit $?\n`, 0o755);
    file(join(root, "claude.md"), "# notes\n");

    startPane("claude").run(`${q(claudeBin)} 1000`);
    startPane("codex").run(`${q(codexBin)} 1000`);
    startPane("cursor").run(`${q(cursorBin)} 1000`);
    startPane("codex-node").run(`${q(NODE ?? "node")} ${q(codexJs)}`);
    startPane("codex-launcher").run(`${q(NODE ?? "node")} ${q(launcherJs)}`);
    startPane("cursor-launcher").run(q(cursorLauncher));
    startPane("plain");
    startPane("busy").run(`tail -f ${q(join(root, "claude.md"))} & ${q(SLEEP)} 1000`);
  });

  afterAll(async () => {
    // only processes this file started: the pane shells and what they spawned
    const t = readProcTable();
    const kids = panes.flatMap((p) => descendants(t, p.pid));
    for (const pid of kids.toReversed()) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    for (const p of panes) p.proc.kill("SIGKILL");
    await Promise.all(panes.map((p) => p.proc.exited));
    if (root !== "") rmSync(root, { recursive: true, force: true });
  });

  const direct: [string, AgentType, () => string][] = [
    ["claude", "claude", () => claudeBin],
    ["codex", "codex", () => codexBin],
    ["cursor", "cursor", () => cursorBin],
  ];
  for (const [pane, agent, bin] of direct) {
    test(`a copy of sleep named like the ${agent} binary is found, with its start time`, async () => {
      const p = byName(pane);
      const { m, t, found } = await agentIn(p, () => true);
      expect(m.agent_type).toBe(agent);
      expect(m.argv).toEqual([bin(), "1000"]);
      expect(t.byPid.get(m.pid)?.ppid).toBe(p.pid);
      expect(t.byPid.get(m.pid)?.comm).toBe(pane === "cursor" ? "cursor-agent" : pane);
      // /proc start times are btime (whole seconds, truncated) + ticks: up to 1 s early, never late
      expect(m.started_at).toBeGreaterThanOrEqual(p.t0 - 1000);
      expect(m.started_at).toBeLessThanOrEqual(found);
      console.log(`[procs] ${pane}: pid ${m.pid} started_at - spawn = ${m.started_at - p.t0} ms`);
    });
  }

  test("node running …/@openai/codex/bin/codex.js is codex, the node pid", async () => {
    const p = byName("codex-node");
    const { m, t } = await agentIn(p, () => true);
    expect(m).toMatchObject({ agent_type: "codex", argv: [NODE, codexJs] });
    expect(t.byPid.get(m.pid)?.ppid).toBe(p.pid);
    expect(m.started_at).toBeGreaterThanOrEqual(p.t0 - 1000);
  });

  test("the codex.js launcher and its native `codex` child count once, as the launcher", async () => {
    const p = byName("codex-launcher");
    const { m, t } = await agentIn(p, (_m, tt) => descendants(tt, p.pid).some((pid) => tt.byPid.get(pid)?.argv[0] === nativeCodex));
    const kids = descendants(t, p.pid);
    expect(kids).toHaveLength(2);
    const native = kids.find((pid) => t.byPid.get(pid)?.argv[0] === nativeCodex);
    expect(native).toBeDefined();
    expect(m).toMatchObject({ agent_type: "codex", argv: [NODE, launcherJs] });
    expect(t.byPid.get(m.pid)?.ppid).toBe(p.pid);
    expect(t.byPid.get(native ?? -1)?.ppid).toBe(m.pid);
    // the native child alone is codex too: it is only reported when asked from below the launcher
    expect(identifyAgent(t, m.pid)?.pid).toBe(m.pid);
    expect(identifyAgent(t, native ?? -1)).toMatchObject({ agent_type: "codex", pid: native });
  });

  test("the cursor bash launcher in a versions dir is cursor, reported once as the launcher", async () => {
    const p = byName("cursor-launcher");
    const { m, t } = await agentIn(p, (_m, tt) => descendants(tt, p.pid).length >= 2);
    expect(m.agent_type).toBe("cursor");
    expect(m.argv).toEqual(["/bin/bash", cursorLauncher]);
    expect(t.byPid.get(m.pid)?.ppid).toBe(p.pid);
  });

  test("a plain shell, and a shell running `tail -f claude.md` and sleep, give null", async () => {
    const plain = byName("plain");
    const busy = byName("busy");
    const t = await waitFor(
      () => {
        const tt = readProcTable();
        return descendants(tt, busy.pid).length >= 2 && tt.byPid.has(plain.pid) ? tt : null;
      },
      { message: "busy pane children" },
    );
    expect(identifyAgent(t, plain.pid)).toBeNull();
    expect(identifyAgent(t, busy.pid)).toBeNull();
    expect(descendants(t, busy.pid).map((pid) => t.byPid.get(pid)?.argv[0]).toSorted()).toEqual([SLEEP, "tail"]);
  });

  test("identifyAll over one /proc snapshot and the ps snapshot (LocalExecutor) agree on pid, ppid, argv and agent", async () => {
    // every pane settled (the launcher panes have their children)
    await waitFor(() => {
      const t = readProcTable();
      return panes.every((p) => p.name === "plain" || descendants(t, p.pid).length >= (/launcher|busy/.test(p.name) ? 2 : 1));
    });
    const procT = readProcTable();
    const psT = await readProcTableVia(new LocalExecutor("host"));
    const pids = panes.map((p) => p.pid);
    const fromProc = identifyAll(procT, pids);
    const fromPs = identifyAll(psT, pids);
    for (const p of panes) {
      const a = fromProc.get(p.pid);
      const b = fromPs.get(p.pid);
      expect(a === null ? null : { agent_type: a?.agent_type, pid: a?.pid, argv: a?.argv }).toEqual(b === null ? null : { agent_type: b?.agent_type, pid: b?.pid, argv: b?.argv });
      if (a !== null && a !== undefined && b !== null && b !== undefined) {
        // ps: lstart whole seconds (truncated); /proc: 10 ms; both from the boot time
        expect(Math.abs(a.started_at - b.started_at)).toBeLessThan(2000);
      }
      for (const pid of [p.pid, ...descendants(procT, p.pid)]) {
        const x = procT.byPid.get(pid);
        const y = psT.byPid.get(pid);
        expect(y).toBeDefined();
        expect(y?.ppid).toBe(x?.ppid ?? -1);
        expect(y?.argv).toEqual(x?.argv ?? []);
      }
    }
    expect([...fromProc.values()].map((m) => m?.agent_type ?? null)).toEqual(["claude", "codex", "cursor", "codex", "codex", "cursor", null, null]);
  });

  test("cost of one snapshot (printed, not asserted)", async () => {
    const n = 20;
    const procMs: number[] = [];
    let size = 0;
    for (let i = 0; i < n; i++) {
      const s = performance.now();
      size = readProcTable().byPid.size;
      procMs.push(performance.now() - s);
    }
    const exec = new LocalExecutor("host");
    const psMs: number[] = [];
    for (let i = 0; i < 5; i++) {
      const s = performance.now();
      await readProcTableVia(exec);
      psMs.push(performance.now() - s);
    }
    const med = (xs: number[]): string => (xs.toSorted((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0).toFixed(2);
    console.log(`[procs] ${size} processes: /proc scan median ${med(procMs)} ms (n=${n}), ps scan median ${med(psMs)} ms (n=${psMs.length})`);
    expect(size).toBeGreaterThan(0);
  });

  test("snapshotProcesses picks /proc for a local Linux executor", async () => {
    const t = await snapshotProcesses(new LocalExecutor("host"));
    expect(t.byPid.get(process.pid)?.comm).toBeDefined(); // comm only comes from /proc
  });
});
