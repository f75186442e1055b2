import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { ExecOptions, ExecResult, Executor, StreamHandle } from "../../src/targets/executor.ts";
import { LocalExecutor } from "../../src/targets/executor.ts";
import { isMissingTarget, makeFormat, parseRecords, parseVersion, Tmux } from "../../src/tmux/tmux.ts";
import { TmuxError, type TmuxErrorKind } from "../../src/tmux/types.ts";
import { waitFor } from "../helpers/wait.ts";
import { fakeBinary, RecordingExecutor, removeTempDirs, startTmuxServer, tempDir, type TmuxServer, uniqueSocketName } from "./harness.ts";

const servers: TmuxServer[] = [];
async function server(opts: Parameters<typeof startTmuxServer>[0] = {}): Promise<TmuxServer> {
  const s = await startTmuxServer(opts);
  servers.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.kill()));
});
afterAll(removeTempDirs);

async function tmuxError(p: Promise<unknown>): Promise<TmuxError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof TmuxError) return err;
    throw err;
  }
  throw new Error("expected a TmuxError");
}

async function expectKind(p: Promise<unknown>, kind: TmuxErrorKind): Promise<TmuxError> {
  const err = await tmuxError(p);
  expect(err.kind).toBe(kind);
  return err;
}


describe("version", () => {
  test("parses the forms tmux -V prints", () => {
    expect(parseVersion("tmux 3.3a\n")).toEqual({ raw: "tmux 3.3a", major: 3, minor: 3 });
    expect(parseVersion("tmux 3.4")).toEqual({ raw: "tmux 3.4", major: 3, minor: 4 });
    expect(parseVersion("tmux next-3.4")).toEqual({ raw: "tmux next-3.4", major: 3, minor: 4 });
    expect(parseVersion("tmux 3.5-rc")).toEqual({ raw: "tmux 3.5-rc", major: 3, minor: 5 });
    expect(parseVersion("tmux 3.2a")).toMatchObject({ major: 3, minor: 2 });
    expect(parseVersion("tmux 10.12")).toMatchObject({ major: 10, minor: 12 });
    for (const bad of ["", "tmux", "tmux master", "screen 4.0", "tmux 3", "tmux 3.x"]) expect(() => parseVersion(bad)).toThrow(TmuxError);
  });

  test("the installed tmux is >= 3.3", async () => {
    const v = await new Tmux(new LocalExecutor("test"), { name: uniqueSocketName() }).version();
    expect(v.raw).toMatch(/^tmux /);
    expect(v.major * 100 + v.minor).toBeGreaterThanOrEqual(303);
  });

  test("a tmux older than 3.3 is too_old", async () => {
    const bin = fakeBinary("tmux", '#!/bin/sh\necho "tmux 3.2a"\n');
    const err = await expectKind(new Tmux(new LocalExecutor("test"), { name: "x" }, { bin }).version(), "too_old");
    expect(err.message).toContain("3.2a");
  });

  test("an unrecognised -V output is a parse error", async () => {
    const bin = fakeBinary("tmux", '#!/bin/sh\necho "hello"\n');
    await expectKind(new Tmux(new LocalExecutor("test"), { name: "x" }, { bin }).version(), "parse");
  });
});

describe("errors", () => {
  test("no server: no_server, hasServer() false, killServer() is a no-op", async () => {
    const tmux = new Tmux(new LocalExecutor("test"), { name: uniqueSocketName() });
    expect(await tmux.hasServer()).toBe(false);
    const err = await expectKind(tmux.snapshot(), "no_server");
    expect(err.stderr).toMatch(/error connecting to|no server running/);
    await expectKind(tmux.listSessions(), "no_server");
    await expectKind(tmux.capturePane("%0", { lines: 10, ansi: false }), "no_server");
    await tmux.killServer();
  });

  test("no server on a -S path (missing file, and a file that is not a socket)", async () => {
    const dir = tempDir("sock-");
    for (const path of [join(dir, "missing"), fakeBinary("not-a-socket", "")]) {
      const tmux = new Tmux(new LocalExecutor("test"), { path });
      expect(await tmux.hasServer()).toBe(false);
      await expectKind(tmux.snapshot(), "no_server");
    }
  });

  test("after kill-server: no_server", async () => {
    const s = await server();
    expect(await s.tmux.hasServer()).toBe(true);
    await s.tmux.killServer();
    expect(await s.tmux.hasServer()).toBe(false);
    await expectKind(s.tmux.snapshot(), "no_server");
  });

  test("missing binary: not_found", async () => {
    const tmux = new Tmux(new LocalExecutor("test"), { name: "x" }, { bin: "/nonexistent/tmux" });
    await expectKind(tmux.version(), "not_found");
    await expectKind(tmux.snapshot(), "not_found");
    await expectKind(tmux.hasServer(), "not_found");
  });

  test("a tmux that hangs: timeout", async () => {
    const bin = fakeBinary("tmux", "#!/bin/sh\nexec sleep 30\n");
    const tmux = new Tmux(new LocalExecutor("test"), { name: "x" }, { bin, timeoutMs: 300 });
    const t0 = performance.now();
    await expectKind(tmux.snapshot(), "timeout");
    await expectKind(tmux.version(), "timeout");
    expect(performance.now() - t0).toBeLessThan(5_000);
  });

  test("garbage output: parse", async () => {
    const bin = fakeBinary("tmux", "#!/bin/sh\necho garbage\n");
    await expectKind(new Tmux(new LocalExecutor("test"), { name: "x" }, { bin }).snapshot(), "parse");
  });

  test("other failures keep stderr: failed", async () => {
    const s = await server();
    const err = await expectKind(s.tmux.capturePane("%999", { lines: 5, ansi: false }), "failed");
    expect(err.stderr).toContain("can't find pane");
    expect(isMissingTarget(err)).toBe(true);
    // guarded input to a pane that is gone sends nothing and says so (no error: the condition is false)
    expect(await s.tmux.guardedInput("%999", 1, { keys: ["x"] })).toBe(false);
  });

  test("ids are validated before anything runs", async () => {
    const rec = new RecordingExecutor();
    const tmux = new Tmux(rec, { name: "x" });
    expect(tmux.capturePane("0", { lines: 1, ansi: false })).rejects.toThrow(TypeError);
    expect(tmux.guardedInput("%1; kill-server", 1, { keys: ["x"] })).rejects.toThrow(TypeError);
    expect(tmux.guardedInput("%1", 1, { text: "x", bracketed: false, bufferName: "a;b" })).rejects.toThrow(TypeError);
    expect(() => tmux.controlArgv("main")).toThrow(TypeError);
    expect(() => new Tmux(rec, { name: "a", path: "/b" })).toThrow(TypeError);
    expect(rec.execs).toEqual([]);
  });
});

/** Answers `list-panes -F <format>` by substituting the given rows' values into the caller's format. */
class FormatEchoExecutor implements Executor {
  readonly targetId = "fake";
  readonly kind = "local" as const;
  constructor(private readonly rows: Array<Record<string, string>>) {}
  async exec(argv: readonly string[]): Promise<ExecResult> {
    const fmt = argv[argv.indexOf("-F") + 1] ?? "";
    const stdout = this.rows.map((r) => `${fmt.replace(/#\{([a-z_]+)\}/g, (_m, k: string) => r[k] ?? "")}\n`).join("");
    return { code: 0, stdout, stderr: "" };
  }
  stream(): StreamHandle {
    throw new Error("not used");
  }
  async close(): Promise<void> {}
}

const ROW: Record<string, string> = {
  pid: "42",
  start_time: "1700000000",
  version: "3.3a",
  session_id: "$0",
  session_name: "s",
  session_created: "1700000001",
  session_attached: "0",
  window_id: "@0",
  window_index: "0",
  window_name: "w",
  window_active: "1",
  window_zoomed_flag: "0",
  pane_id: "%0",
  pane_index: "0",
  pane_active: "1",
  pane_dead: "0",
  pane_pid: "4242",
  pane_current_command: "bash",
  pane_current_path: "/",
  pane_title: "t",
  pane_width: "80",
  pane_height: "24",
};

describe("format parsing", () => {
  test("fields may contain newlines, tabs, separators without the nonce", async () => {
    const weird = "a\nb\tc\u001e\u001f\u001d\n%0 $1 @2 \\033";
    const tmux = new Tmux(new FormatEchoExecutor([{ ...ROW, session_name: weird, pane_current_path: weird, pane_title: weird }]), { name: "x" });
    const snap = await tmux.snapshot();
    expect(snap.panes).toHaveLength(1);
    expect(snap.panes[0]).toMatchObject({ session_name: weird, pane_current_path: weird, pane_title: weird });
    expect(snap.server).toEqual({ pid: 42, started_at: 1_700_000_000_000, boot_id: "42-1700000000", version: "3.3a" });
    expect(snap.panes[0]?.session_created).toBe(1_700_000_001_000);
  });

  test("malformed ids, numbers and flags are parse errors", async () => {
    const bad: Array<Record<string, string>> = [
      { session_id: "0" },
      { session_id: "$0x" },
      { window_id: "%0" },
      { pane_id: "@1" },
      { pane_id: "" },
      { pane_width: "80.5" },
      { pane_width: "-1" },
      { pane_height: "" },
      { window_index: "1e3" },
      { pid: "" },
      { start_time: "soon" },
      { pane_active: "yes" },
      { pane_dead: "" },
      { version: "" },
    ];
    for (const b of bad) {
      const err = await tmuxError(new Tmux(new FormatEchoExecutor([{ ...ROW, ...b }]), { name: "x" }).snapshot());
      expect(`${JSON.stringify(b)} → ${err.kind}`).toBe(`${JSON.stringify(b)} → parse`);
    }
  });

  test("two server identities in one output: parse", async () => {
    await expectKind(new Tmux(new FormatEchoExecutor([ROW, { ...ROW, pid: "43", pane_id: "%1" }]), { name: "x" }).snapshot(), "parse");
  });

  test("dead panes report no pid; pid 0 / empty is null", async () => {
    const tmux = new Tmux(
      new FormatEchoExecutor([
        { ...ROW, pane_id: "%0", pane_dead: "1" },
        { ...ROW, pane_id: "%1", pane_index: "1", pane_pid: "0" },
      ]),
      { name: "x" },
    );
    expect((await tmux.snapshot()).panes.map((p) => p.pane_pid)).toEqual([null, null]);
  });

  test("records: exact field count, terminator required, nonce differs per call", () => {
    const spec = makeFormat(["a", "b"]);
    expect(spec.nonce).toMatch(/^[0-9a-f]{12}$/);
    expect(makeFormat(["a"]).nonce).not.toBe(spec.nonce);
    const rec = (...f: string[]) => f.join(spec.fieldSep) + spec.recordEnd;
    expect(parseRecords("", spec, 2)).toEqual([]);
    expect(parseRecords(rec("1", "x\ny") + rec("2", ""), spec, 2)).toEqual([
      ["1", "x\ny"],
      ["2", ""],
    ]);
    expect(() => parseRecords(rec("1"), spec, 2)).toThrow(TmuxError);
    expect(() => parseRecords(rec("1", "2", "3"), spec, 2)).toThrow(TmuxError);
    expect(() => parseRecords(rec("1", "2") + "trailing", spec, 2)).toThrow(TmuxError);
    expect(() => parseRecords(rec("1", "2").slice(0, -1), spec, 2)).toThrow(TmuxError);
    // separators of another call (another nonce) are plain data
    const other = makeFormat(["a", "b"]);
    expect(parseRecords(rec(`x${other.fieldSep}y`, "z"), spec, 2)).toEqual([[`x${other.fieldSep}y`, "z"]]);
  });
});

describe("snapshot (real tmux)", () => {
  test("sessions, windows, panes: ids, indices, flags, server info — in one process", async () => {
    const rec = new RecordingExecutor();
    const s = await server({ exec: rec, session: "alpha", command: ["sleep", "1000"] });
    // explicit window names: automatic-rename would race with the panes' exec of sleep
    await s.run("rename-window", "-t", "alpha:0", "first");
    await s.run("new-window", "-d", "-t", "alpha:", "-n", "second", "sleep", "1000");
    await s.run("split-window", "-d", "-t", "alpha:1", "sleep", "1000");
    await s.run("split-window", "-d", "-t", "alpha:1", "sleep", "1000");
    await s.run("new-session", "-d", "-s", "beta", "-n", "zoomed", "-x", "120", "-y", "40", "sleep", "1000");
    await s.run("split-window", "-t", "beta:0", "sleep", "1000");
    await s.run("resize-pane", "-Z", "-t", "beta:0.1");
    await s.run("set-option", "-g", "remain-on-exit", "on");
    await s.run("new-window", "-d", "-t", "beta:", "-n", "dies", "true");
    const deadId = (await s.run("display-message", "-p", "-t", "beta:dies", "#{pane_id}")).trim();
    await waitFor(async () => (await s.run("display-message", "-p", "-t", deadId, "#{pane_dead}")).trim() === "1", { message: "pane dead" });

    // every live pane has exec'd sleep (under load a pane can briefly still be the forked tmux)
    await waitFor(async () => (await s.tmux.snapshot()).panes.every((p) => p.pane_dead || p.pane_current_command === "sleep"), { message: "panes running sleep" });

    const before = rec.execs.length;
    const snap = await s.tmux.snapshot();
    expect(rec.execs.length - before).toBe(1);
    expect(rec.execs[before]?.slice(1, 6)).toEqual(["-u", "-L", s.socket.name as string, "list-panes", "-a"]);

    const [pid, start, version] = (await s.run("display-message", "-p", "#{pid} #{start_time} #{version}")).trim().split(" ");
    expect(snap.server).toEqual({ pid: Number(pid), started_at: Number(start) * 1000, boot_id: `${pid}-${start}`, version: version as string });
    expect(Math.abs(snap.server.started_at - Date.now())).toBeLessThan(60_000);

    const rows = snap.panes.map((p) => `${p.session_id} ${p.session_name} ${p.window_id} ${p.window_index} ${p.window_name} ${p.pane_index} w${+p.window_active}z${+p.window_zoomed}a${+p.pane_active}d${+p.pane_dead}`);
    expect(rows).toEqual([
      "$0 alpha @0 0 first 0 w1z0a1d0",
      "$0 alpha @1 1 second 0 w0z0a1d0",
      "$0 alpha @1 1 second 1 w0z0a0d0",
      "$0 alpha @1 1 second 2 w0z0a0d0",
      "$1 beta @2 0 zoomed 0 w1z1a0d0",
      "$1 beta @2 0 zoomed 1 w1z1a1d0",
      "$1 beta @3 1 dies 0 w0z0a1d1",
    ]);
    expect(new Set(snap.panes.map((p) => p.pane_id)).size).toBe(7);
    for (const p of snap.panes) {
      expect(p.pane_id).toMatch(/^%\d+$/);
      expect(p.session_created).toBeGreaterThan(Date.now() - 60_000);
      expect(p.session_attached).toBe(0);
      if (p.pane_dead) {
        expect(p.pane_id).toBe(deadId);
        expect(p.pane_pid).toBeNull();
      } else {
        expect(p.pane_pid).toBeGreaterThan(1);
        expect(p.pane_current_command).toBe("sleep");
        expect(p.pane_current_path).toBe(process.cwd());
      }
    }
    const beta = snap.panes.filter((p) => p.session_name === "beta" && !p.pane_dead);
    // zoomed: the zoomed pane fills the window
    expect(beta.find((p) => p.pane_active)).toMatchObject({ pane_width: 120, pane_height: 40 });

    // respawn-pane revives the dead pane
    await s.run("respawn-pane", "-t", deadId, "sleep", "1000");
    const again = await waitFor(async () => (await s.tmux.snapshot()).panes.find((p) => p.pane_id === deadId && p.pane_current_command === "sleep"));
    expect(again.pane_dead).toBe(false);
    expect(again.pane_pid).toBeGreaterThan(1);
  }, 15_000);

  test("a window linked into several sessions is reported once, under the lowest session id", async () => {
    const s = await server({ session: "zzz", command: ["sleep", "1000"] });
    await s.run("new-session", "-d", "-s", "aaa", "sleep", "1000");
    await s.run("split-window", "-d", "-t", "zzz:0", "sleep", "1000");
    await s.run("link-window", "-s", "zzz:0", "-t", "aaa:5");
    const raw = (await s.run("list-panes", "-a", "-F", "#{session_id} #{pane_id}")).trim().split("\n");
    expect(raw).toHaveLength(5);
    const snap = await s.tmux.snapshot();
    expect(snap.panes.map((p) => `${p.session_id} ${p.session_name} ${p.window_index} ${p.pane_id}`)).toEqual(["$0 zzz 0 %0", "$0 zzz 0 %2", "$1 aaa 0 %1"]);
  });

  test("session/window names and pane titles round-trip exactly (display -p shows the same)", async () => {
    const s = await server({ command: ["sleep", "1000"] });
    // printable names are kept byte for byte
    const plain = ["a/b", "100%", "with spaces", "🎉 party", `q"uo'te`, "-leading", "#[fg=red]", "semi;colon", "  "];
    // tmux 3.3a stores these escaped (vis): tab, newline, ESC, backslash, invalid UTF-8; ':' and '.' become '_'
    const escaped: Array<[string, string]> = [
      ["tab\there", "tab\\there"],
      ["new\nline", "new\\nline"],
      ["esc\u001b[31m", "esc\\033[31m"],
      ["back\\slash", "back\\\\slash"],
      ["colon:dot.", "colon_dot_"],
      // new-session -s expands formats once; the stored "#{pane_id}" is then printed literally
      ["##{pane_id}", "#{pane_id}"],
    ];
    const wanted = [...plain.map((n): [string, string] => [n, n]), ...escaped];
    for (const [name] of wanted) await s.run("new-session", "-d", "-s", name, "sleep", "1000");
    const sessions = await s.tmux.listSessions();
    const snap = await s.tmux.snapshot();
    for (const [i, [, stored]] of wanted.entries()) {
      const sid = `$${i + 1}`;
      expect(sessions.find((x) => x.session_id === sid)?.session_name).toBe(stored);
      expect(snap.panes.find((p) => p.session_id === sid)?.session_name).toBe(stored);
      // what display -p prints (its trailing newline removed) is what we return
      expect((await s.run("display-message", "-p", "-t", sid, "#{session_name}")).slice(0, -1)).toBe(stored);
      // and the returned name works as an exact target ("=name:" in a pane-target context)
      expect((await s.run("display-message", "-p", "-t", `=${stored}:`, "#{session_id}")).trim()).toBe(sid);
    }
    // (invalid UTF-8 cannot be passed in a JS argv; tmux 3.3a stores it octal-escaped too, e.g. "\\377")

    // window names: same escaping as session names
    await s.run("rename-window", "-t", "$0:0", "w/%\t🎉 -x\n");
    expect(snap.panes.length).toBeGreaterThan(0);
    const w = (await s.tmux.snapshot()).panes.find((p) => p.session_id === "$0");
    expect(w?.window_name).toBe("w/%\\t🎉 -x\\n");
    expect((await s.run("display-message", "-p", "-t", "$0:0", "#{window_name}")).slice(0, -1)).toBe(w?.window_name as string);

    // pane titles: printable, kept as is (tmux refuses titles with control characters)
    const title = `t/% "q" 'x' 🎉 -y \\z`;
    await s.run("select-pane", "-t", "$0:0.0", "-T", title);
    expect((await s.tmux.snapshot()).panes.find((p) => p.session_id === "$0")?.pane_title).toBe(title);
  }, 15_000);

  test("pane_current_path and pane_current_command are raw (newline, tab, backslash) and still parse", async () => {
    const s = await server({ command: ["sleep", "1000"] });
    const dir = join(tempDir("cwd-"), "d\tir\nx\\y \u001e\u001f\u001d %1");
    mkdirSync(dir);
    const comm = "s\tl\np\\z";
    const exe = join(tempDir("bin-"), comm);
    copyFileSync("/bin/sleep", exe);
    const paneId = (await s.run("new-window", "-d", "-P", "-F", "#{pane_id}", "-c", dir, exe, "1000")).trim();
    // (window_name is not checked: automatic-rename runs on tmux's own timer, which a loaded machine may not reach in time)
    const pane = await waitFor(async () => (await s.tmux.snapshot()).panes.find((p) => p.pane_id === paneId && p.pane_current_command === comm));
    expect(pane.pane_current_path).toBe(dir);
  });

  test("a server without sessions (exit-empty off): empty panes, server info still there", async () => {
    const s = await server({ command: ["sleep", "1000"] });
    await s.run("set-option", "-s", "exit-empty", "off");
    await s.run("kill-session", "-t", "$0");
    const snap = await s.tmux.snapshot();
    expect(snap.panes).toEqual([]);
    expect(snap.server.pid).toBeGreaterThan(1);
    expect(await s.tmux.listSessions()).toEqual([]);
    expect(await s.tmux.hasServer()).toBe(true);
  });

  test("server killed mid-scan (SIGTERM and SIGKILL while snapshots run): a snapshot or a TmuxError, never a crash", async () => {
    const outcomes = new Map<string, number>();
    for (const signal of ["SIGTERM", "SIGKILL"] as const) {
      const s = await server({ command: ["sleep", "1000"] });
      const batch: string[] = [];
      for (let i = 0; i < 300; i++) batch.push("new-window", "-d", "sleep", "1000", ";");
      await s.run(...batch.slice(0, -1));
      const pid = Number((await s.run("display-message", "-p", "#{pid}")).trim());
      // snapshot loops until the server is reported gone
      const loops = Array.from({ length: 4 }, async () => {
        for (;;) {
          try {
            const snap = await s.tmux.snapshot();
            expect(snap.panes).toHaveLength(301);
            outcomes.set("ok", (outcomes.get("ok") ?? 0) + 1);
          } catch (err) {
            expect(err).toBeInstanceOf(TmuxError);
            const kind = (err as TmuxError).kind;
            expect(["no_server", "failed", "parse"]).toContain(kind);
            outcomes.set(kind, (outcomes.get(kind) ?? 0) + 1);
            if (kind === "no_server") return;
          }
        }
      });
      await waitFor(() => (outcomes.get("ok") ?? 0) >= 2, { message: "some snapshots before the kill" });
      process.kill(pid, signal);
      await Promise.all(loops);
      await expectKind(s.tmux.snapshot(), "no_server");
    }
    expect(outcomes.get("no_server")).toBeGreaterThanOrEqual(8);
  }, 20_000);

  test("1,000 panes: one snapshot, one process", async () => {
    const rec = new RecordingExecutor();
    const s = await server({ exec: rec, command: ["sleep", "1000"] });
    // 100 windows x 10 panes, created in a few tmux invocations
    const windows: string[] = ["@0"];
    const nw: string[] = [];
    for (let i = 1; i < 100; i++) nw.push("new-window", "-d", "-P", "-F", "#{window_id}", "sleep", "1000", ";");
    windows.push(...(await s.run(...nw.slice(0, -1))).trim().split("\n"));
    expect(windows).toHaveLength(100);
    for (let chunk = 0; chunk < 4; chunk++) {
      const sp: string[] = [];
      for (const w of windows.slice(chunk * 25, chunk * 25 + 25)) for (let j = 0; j < 9; j++) sp.push("split-window", "-d", "-h", "-l", "5", "-t", w, "sleep", "1000", ";");
      await s.run(...sp.slice(0, -1));
    }
    const before = rec.execs.length;
    const t0 = performance.now();
    const snap = await s.tmux.snapshot();
    const ms = performance.now() - t0;
    expect(rec.execs.length - before).toBe(1);
    expect(snap.panes).toHaveLength(1000);
    expect(new Set(snap.panes.map((p) => p.pane_id)).size).toBe(1000);
    expect(new Set(snap.panes.map((p) => p.window_id)).size).toBe(100);
    expect(snap.panes.every((p) => !p.pane_dead && p.pane_pid !== null && p.pane_width > 0)).toBe(true);
    console.log(`snapshot of 1000 panes: ${ms.toFixed(0)} ms`);
  }, 30_000);
});

describe("capture and guarded input", () => {
  test("text (a trailing ';' included) and keys reach a pane that still runs the given process, capture it back; another pid gets nothing", async () => {
    const s = await server({ command: ["cat"] });
    const pane = "%0";
    const pid = Number((await s.run("display-message", "-p", "-t", pane, "#{pane_pid}")).trim());
    const line = `-x hello 'w' "q" $HOME ; %1 \\;`;
    expect(await s.tmux.guardedInput(pane, pid + 100_000, { text: "never", bracketed: false, bufferName: "agtmux-t0" })).toBe(false);
    expect(await s.tmux.guardedInput(pane, pid, { text: line, bracketed: false, bufferName: "agtmux-t1" })).toBe(true);
    expect(await s.tmux.guardedInput(pane, pid, { keys: ["Enter"] })).toBe(true);
    const out = await waitFor(async () => {
      const c = await s.tmux.capturePane(pane, { lines: 50, ansi: false });
      return c.split("\n").filter((l) => l === line).length === 2 ? c : null;
    });
    // trailing blank rows dropped, no final newline; the refused text never arrived; no buffer left
    expect(out.endsWith("\\;")).toBe(true);
    expect(out).not.toContain("never");
    expect((await s.run("list-buffers")).trim()).toBe("");
    expect(await s.tmux.guardedInput(pane, pid, { keys: [] })).toBe(true);
    expect(await s.tmux.capturePane(pane, { lines: 1, ansi: false })).toBe(line);
  });

  test("capture with ansi keeps colour escapes, without does not", async () => {
    const s = await server({ command: ["sleep", "1000"] });
    await s.run("set-option", "-g", "remain-on-exit", "on");
    const pane = (await s.run("new-window", "-d", "-P", "-F", "#{pane_id}", "printf", "plain\\n\u001b[31mRED\u001b[0m\\nlast\\n")).trim();
    await waitFor(async () => (await s.run("display-message", "-p", "-t", pane, "#{pane_dead}")).trim() === "1");
    // the pane can be dead before tmux has read the rest of its output from the pty
    const plain = await waitFor(async () => {
      const c = await s.tmux.capturePane(pane, { lines: 100, ansi: false });
      return c.includes("last") ? c : null;
    });
    // remain-on-exit adds a "Pane is dead" line at the bottom
    expect(plain.split("\n").slice(0, 3)).toEqual(["plain", "RED", "last"]);
    const ansi = await s.tmux.capturePane(pane, { lines: 100, ansi: true });
    expect(ansi).toContain("\u001b[31mRED");
    expect(plain).not.toContain("\u001b");
  });
});

describe("interface", () => {
  test("argv: explicit socket, -L default when none is given", () => {
    const e = new LocalExecutor("t");
    expect(new Tmux(e, { name: "n" }).argv("ls")).toEqual(["tmux", "-u", "-L", "n", "ls"]);
    expect(new Tmux(e, { path: "/p/s" }, { bin: "/usr/bin/tmux" }).argv("ls")).toEqual(["/usr/bin/tmux", "-u", "-S", "/p/s", "ls"]);
    expect(new Tmux(e, {}).argv("ls")).toEqual(["tmux", "-u", "-L", "default", "ls"]);
    expect(new Tmux(e, { name: "n" }).controlArgv("$3")).toEqual(["tmux", "-u", "-L", "n", "-N", "-C", "attach-session", "-r", "-f", "read-only,ignore-size,no-output", "-t", "$3"]);
  });

  test("every call carries a timeout and no TMUX/TMUX_PANE", async () => {
    const seen: ExecOptions[] = [];
    const exec: Executor = {
      targetId: "x",
      kind: "local",
      exec: async (_argv, opts) => {
        seen.push(opts);
        return { code: 1, stdout: "", stderr: "no server running on /x" };
      },
      stream: () => {
        throw new Error("unused");
      },
      close: async () => {},
    };
    const tmux = new Tmux(exec, { name: "n" }, { timeoutMs: 1234 });
    await tmux.hasServer();
    await tmux.snapshot().catch(() => {});
    await tmux.version().catch(() => {});
    expect(seen).toHaveLength(3);
    for (const o of seen) {
      expect(o.timeoutMs).toBe(1234);
      expect(o.env).toEqual({ TMUX: undefined, TMUX_PANE: undefined });
    }
  });
});
