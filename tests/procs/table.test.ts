import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildTable, descendants, parseCmdline, parsePsOutput, parseStat, psArgv, readProcTable, readProcTableVia } from "../../src/procs/table.ts";
import type { ProcInfo } from "../../src/procs/types.ts";
import type { ExecOptions, ExecResult, Executor } from "../../src/targets/executor.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tmp(prefix: string): string {
  const d = mkdtempSync(join(process.env.AGTMUX_TEST_ROOT ?? "/tmp", prefix));
  dirs.push(d);
  return d;
}

/** A /proc/PID/stat line with the 52 fields of a modern kernel. */
function statLine(pid: number, comm: string, state: string, ppid: number, starttime: number): string {
  const rest: (string | number)[] = [state, ppid, pid, pid, 0, -1, 4194304, 100, 0, 0, 0, 5, 3, 0, 0, 20, 0, 1, 0, starttime, 2998272, 405];
  while (rest.length < 50) rest.push(0);
  return `${pid} (${comm}) ${rest.join(" ")}\n`;
}

const BTIME = 1_795_497_811;

function fakeProc(): string {
  const root = tmp("fakeproc-");
  writeFileSync(join(root, "stat"), `cpu  1 2 3 4\ncpu0 1 2 3 4\nintr 12345 0 0\nctxt 999\nbtime ${BTIME}\nprocesses 4242\n`);
  const proc = (pid: number, stat: string | null, cmdline: string | null): void => {
    const d = join(root, String(pid));
    mkdirSync(d);
    if (stat !== null) writeFileSync(join(d, "stat"), stat);
    if (cmdline !== null) writeFileSync(join(d, "cmdline"), cmdline);
  };
  proc(1, statLine(1, "init", "S", 0, 5), "/sbin/init\0splash\0");
  proc(2, statLine(2, "kthreadd", "S", 0, 5), "");
  proc(100, statLine(100, "bash", "S", 1, 12_345), "-bash\0");
  // comm with spaces and ')' — only the last ')' ends it
  proc(101, statLine(101, "tmux: server) (x", "S", 100, 12_346), "tmux\0new-session\0-d\0");
  proc(102, statLine(102, "my prog ) 1", "R", 100, 20_001), "/opt/my prog/bin/x\0--flag\0a b\0");
  // node that rewrote process.title: title, then the zeroed rest of the old argv area
  proc(103, statLine(103, "claude", "S", 100, 30_000), "claude\0\0\0\0\0\0\0\0");
  proc(104, statLine(104, "defunct", "Z", 100, 30_100), "");
  // vanished mid-read: stat but no cmdline, and a dir with nothing at all
  proc(105, statLine(105, "gone", "S", 100, 30_200), null);
  proc(106, null, null);
  // garbage stat
  proc(107, "107 no-parens S 1\n", "x\0");
  mkdirSync(join(root, "self"));
  mkdirSync(join(root, "sys"));
  return root;
}

describe("/proc parsing", () => {
  test("parseStat takes comm up to the LAST ')' and counts fields after it", () => {
    expect(parseStat(statLine(42, "a) b (c))", "S", 7, 123_456))).toEqual({ pid: 42, comm: "a) b (c))", state: "S", ppid: 7, starttime: 123_456 });
    expect(parseStat("26003 (head) R 25994 25994 25641 0 -1 4194304 102 0 0 0 0 0 0 0 20 0 1 0 174387 2998272 405 18446744073709551615 0")).toEqual({
      pid: 26003,
      comm: "head",
      state: "R",
      ppid: 25994,
      starttime: 174_387,
    });
    expect(parseStat("1 (x) S 0 1 2")).toBeNull(); // truncated
    expect(parseStat("garbage")).toBeNull();
  });

  test("parseCmdline splits on NUL and drops trailing empties", () => {
    expect(parseCmdline("node\0/x/codex.js\0--yolo\0")).toEqual(["node", "/x/codex.js", "--yolo"]);
    expect(parseCmdline("claude\0\0\0\0")).toEqual(["claude"]);
    expect(parseCmdline("a\0\0b\0")).toEqual(["a", "", "b"]);
    expect(parseCmdline("")).toEqual([]);
    expect(parseCmdline("sshd: user@pts/0")).toEqual(["sshd: user@pts/0"]);
  });

  test("readProcTable over a fake tree: one pass, vanished and zombie entries skipped, start times in epoch ms", () => {
    const root = fakeProc();
    const t = readProcTable({ procRoot: root, now: 777 });
    expect(t.taken_at).toBe(777);
    expect([...t.byPid.keys()].toSorted((a, b) => a - b)).toEqual([1, 2, 100, 101, 102, 103]);
    expect(t.byPid.get(101)).toEqual({ pid: 101, ppid: 100, started_at: BTIME * 1000 + 123_460, argv: ["tmux", "new-session", "-d"], comm: "tmux: server) (x" });
    expect(t.byPid.get(102)?.comm).toBe("my prog ) 1");
    expect(t.byPid.get(102)?.argv).toEqual(["/opt/my prog/bin/x", "--flag", "a b"]);
    expect(t.byPid.get(102)?.started_at).toBe(BTIME * 1000 + 200_010);
    expect(Number.isInteger(t.byPid.get(102)?.started_at)).toBe(true);
    expect(t.byPid.get(103)?.argv).toEqual(["claude"]);
    expect(t.byPid.get(2)).toMatchObject({ argv: [], comm: "kthreadd" });
    expect(t.children.get(100)).toEqual([101, 102, 103]);
    expect(t.children.get(0)).toEqual([1, 2]);
    expect(descendants(t, 1)).toEqual([100, 101, 102, 103]);
  });

  test("clockTicks override", () => {
    const root = fakeProc();
    const t = readProcTable({ procRoot: root, clockTicks: 1000 });
    expect(t.byPid.get(102)?.started_at).toBe(BTIME * 1000 + 20_001);
  });

  test("a procRoot without btime is an error, not a silent empty table", () => {
    const root = tmp("nobtime-");
    writeFileSync(join(root, "stat"), "cpu 1 2 3\n");
    expect(() => readProcTable({ procRoot: root })).toThrow(/btime/);
  });
});

const P = (pid: number, ppid: number, argv: string[] = ["x"]): ProcInfo => ({ pid, ppid, started_at: pid, argv });

describe("descendants", () => {
  test("breadth-first, excludes the root, unknown root gives []", () => {
    const t = buildTable([P(1, 0), P(10, 1), P(11, 1), P(20, 10), P(21, 11), P(30, 20)], 0);
    expect(descendants(t, 1)).toEqual([10, 11, 20, 21, 30]);
    expect(descendants(t, 20)).toEqual([30]);
    expect(descendants(t, 30)).toEqual([]);
    expect(descendants(t, 999)).toEqual([]);
  });

  test("cycle-safe (pid reuse can make a snapshot loop)", () => {
    const t = buildTable([P(5, 7), P(6, 5), P(7, 6), P(8, 8)], 0);
    expect(descendants(t, 5)).toEqual([6, 7]);
    expect(descendants(t, 8)).toEqual([]);
  });
});

const PS_SAMPLE = [
  "    1     0 Ss   Tue Nov 24 05:23:31 2026 /sbin/init splash",
  "    2     0 S    Tue Nov 24 05:23:31 2026 [kthreadd]",
  "   12     2 I<   Tue Nov 24 05:23:31 2026 [kworker/R-rcu_gp]",
  "  500     1 Ss   Tue Nov  4 09:05:07 2026 -bash",
  "  610   500 Sl+  Tue Nov 24 05:38:18 2026 node /home/u/.nvm/versions/node/v22.1.0/lib/node_modules/@openai/codex/bin/codex.js --full-auto",
  "  611   610 Sl+  Tue Nov 24 05:38:19 2026 /home/u/.nvm/versions/node/v22.1.0/lib/node_modules/@openai/codex/vendor/x86_64-unknown-linux-musl/codex/codex --full-auto",
  "  612   611 Z+   Tue Nov 24 05:38:20 2026 [rg] <defunct>",
  "  700     1 S    Wed Dec 31 23:59:59 2025 /Users/Jane Doe/bin/tool  --x",
  "this line is not ps output",
  "",
].join("\n");

describe("ps parsing", () => {
  test("psArgv: one ps call under env with C locale and UTC", () => {
    const argv = psArgv();
    expect(argv.slice(0, 4)).toEqual(["env", "LC_ALL=C", "TZ=UTC0", "ps"]);
    expect(argv).toContain("pid=,ppid=,stat=,lstart=,args=");
    expect(argv.some((a) => a.includes(" "))).toBe(false);
  });

  test("parsePsOutput: pid/ppid/argv, lstart as UTC, kernel threads as comm, zombies and junk dropped", () => {
    const t = parsePsOutput(PS_SAMPLE, { now: 5 });
    expect(t.taken_at).toBe(5);
    expect([...t.byPid.keys()]).toEqual([1, 2, 12, 500, 610, 611, 700]);
    expect(t.byPid.get(610)).toEqual({
      pid: 610,
      ppid: 500,
      started_at: Date.UTC(2026, 10, 24, 5, 38, 18),
      argv: ["node", "/home/u/.nvm/versions/node/v22.1.0/lib/node_modules/@openai/codex/bin/codex.js", "--full-auto"],
    });
    expect(t.byPid.get(500)?.started_at).toBe(Date.UTC(2026, 10, 4, 9, 5, 7));
    expect(t.byPid.get(2)).toMatchObject({ argv: [], comm: "kthreadd" });
    expect(t.byPid.get(12)).toMatchObject({ argv: [], comm: "kworker/R-rcu_gp" });
    // documented limitation: args are space-joined by ps, so a path with a space splits
    expect(t.byPid.get(700)?.argv).toEqual(["/Users/Jane", "Doe/bin/tool", "--x"]);
    expect(t.byPid.get(700)?.started_at).toBe(Date.UTC(2025, 11, 31, 23, 59, 59));
    expect(t.children.get(500)).toEqual([610]);
    expect(t.children.get(610)).toEqual([611]);
    expect(t.children.has(611)).toBe(false);
    expect(descendants(t, 500)).toEqual([610, 611]);
  });

  test("localTime reads lstart in this process's zone (TZ=UTC under the test preload)", () => {
    const t = parsePsOutput(PS_SAMPLE, { localTime: true });
    expect(t.byPid.get(610)?.started_at).toBe(new Date(2026, 10, 24, 5, 38, 18).getTime());
  });

  test("readProcTableVia runs psArgv through the executor with LC_ALL/TZ and surfaces failures", async () => {
    const calls: { argv: readonly string[]; opts: ExecOptions }[] = [];
    const fake = (result: ExecResult): Executor => ({
      targetId: "fake",
      kind: "ssh",
      exec(argv, opts) {
        calls.push({ argv, opts });
        return Promise.resolve(result);
      },
      stream() {
        throw new Error("not used");
      },
      close: () => Promise.resolve(),
    });
    const t = await readProcTableVia(fake({ code: 0, stdout: PS_SAMPLE, stderr: "" }), { now: 9 });
    expect(t.byPid.size).toBe(7);
    expect(calls[0]?.argv).toEqual(psArgv());
    expect(calls[0]?.opts.env).toEqual({ LC_ALL: "C", TZ: "UTC0" });
    expect(calls[0]?.opts.timeoutMs).toBeGreaterThan(0);
    await expect(readProcTableVia(fake({ code: 1, stdout: "", stderr: "ps: illegal option" }))).rejects.toThrow(/ps on fake exited 1: ps: illegal option/);
    await expect(readProcTableVia(fake({ code: 0, stdout: "garbage\n", stderr: "" }))).rejects.toThrow(/no processes/);
  });
});
