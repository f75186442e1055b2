/**
 * The action commands' pure parts (attach, send, view-output, kill, actions):
 * request bodies from flags (guards, durations, keys, stdin limit, exclusive
 * flags), the exit code of every error code (TC-053 style, against
 * docs/cli-actions.md), the attach command for each place the pane can be,
 * and the retry that reuses one request_ref. No daemon, no socket.
 */
import { describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REQUEST_REF_RE, actionHint, commonBody, isTransient, newRequestRef, parseIfState, postAction, repeatedFlag, requestedBy } from "../../src/cli/commands/action-common.ts";
import { actionSummary, parseLimit, renderActions } from "../../src/cli/commands/actions.ts";
import { commandLine, planAttach, planLine, sameServer, tmuxSocketArgs } from "../../src/cli/commands/attach.ts";
import { buildKillBody, describeKill, killQuestion } from "../../src/cli/commands/kill.ts";
import { STDIN_MAX_BYTES, buildSendBody, checkSendFlags, describeSend, readCapped } from "../../src/cli/commands/send.ts";
import { buildViewOutputBody } from "../../src/cli/commands/view-output.ts";
import type { ActionBodies, ActionResults } from "../../src/client/client.ts";
import { ACTION_EXIT, AgtmuxError, CONTRACT_ERROR_CODES, EXTRA_ERROR_CODES, type ErrorCode, actionExitCodeFor, exitCodeFor } from "../../src/domain/errors.ts";
import type { ActionResponse, ActionType, AttachResult } from "../../src/wire/actions.ts";

const REF = "pane:host/main/@1/%3";
const RT = "runtime:0123456789abcdef0123";
const fixed = (): string => "req-0000000001";

function usage(fn: () => unknown): AgtmuxError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AgtmuxError);
    expect((err as AgtmuxError).code).toBe("E_USAGE");
    return err as AgtmuxError;
  }
  throw new Error("expected a usage error");
}

describe("request ref and requested_by", () => {
  test("a generated request ref is a UUIDv7 the daemon accepts, time-ordered, new each time", () => {
    const a = newRequestRef();
    const b = newRequestRef();
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(REQUEST_REF_RE.test(a)).toBe(true);
    expect(a).not.toBe(b);
    expect(a.slice(0, 13) <= b.slice(0, 13)).toBe(true);
  });

  test("requested_by is <user>@<host> pid <pid>", () => {
    expect(requestedBy({ USER: "alice" }, 4242)).toMatch(/^alice@.+ pid 4242$/);
    expect(requestedBy({ LOGNAME: "bob" }, 1)).toMatch(/^bob@/);
    // without $USER: the passwd name (Bun's os.userInfo() may say "unknown")
    expect(requestedBy({}, 1)).not.toMatch(/^(unknown)?@/);
  });
});

describe("common body: ref, request ref, guards", () => {
  test("no guards: request_ref, ref, requested_by only", () => {
    expect(commonBody({ ref: REF }, { newRef: fixed, requestedBy: "u@h pid 1" })).toEqual({ request_ref: "req-0000000001", ref: REF, requested_by: "u@h pid 1" });
  });

  test("every guard maps to its field; durations become ms", () => {
    const b = commonBody({ ref: REF, "if-runtime": RT, "if-state": "waiting_input, waiting_approval,waiting_input", "if-updated-within": "1m30s", "force-stale": true }, { newRef: fixed });
    expect(b).toEqual({ request_ref: "req-0000000001", ref: REF, if_runtime: RT, if_state: ["waiting_input", "waiting_approval"], if_updated_within_ms: 90_000, force_stale: true });
    expect(commonBody({ ref: REF, "if-updated-within": "500ms" }, { newRef: fixed }).if_updated_within_ms).toBe(500);
    expect(commonBody({ ref: REF, "if-updated-within": "10" }, { newRef: fixed }).if_updated_within_ms).toBe(10_000);
    expect(commonBody({ ref: REF, "if-runtime": "0123456789abcdef0123" }, { newRef: fixed }).if_runtime).toBe("0123456789abcdef0123");
  });

  test("--request-ref is used as given (idempotent replays); a malformed one is a usage error", () => {
    expect(commonBody({ ref: REF, "request-ref": "01HZX5-my-script-run-7" }).request_ref).toBe("01HZX5-my-script-run-7");
    usage(() => commonBody({ ref: REF, "request-ref": "short" }));
    usage(() => commonBody({ ref: REF, "request-ref": "has space in it" }));
  });

  test("bad guards are usage errors naming the flag", () => {
    expect(usage(() => commonBody({ ref: REF, "if-state": "busy" })).message).toContain("--if-state");
    usage(() => commonBody({ ref: REF, "if-state": " , " }));
    expect(usage(() => commonBody({ ref: REF, "if-updated-within": "soon" })).details.flag).toBe("if-updated-within");
    usage(() => commonBody({ ref: REF, "if-updated-within": "31d" }));
    usage(() => commonBody({ ref: REF, "if-updated-within": "800h" }));
    usage(() => commonBody({ ref: REF, "if-runtime": "short" }));
    usage(() => commonBody({ ref: "" }));
  });

  test("parseIfState keeps order and drops duplicates", () => {
    expect(parseIfState("idle,running,idle")).toEqual(["idle", "running"]);
  });

  test("repeatedFlag collects every --key in order (citty keeps only the last)", () => {
    expect(repeatedFlag([REF, "--key", "C-c", "--enter", "--key=Escape", "--key", "Up"], "key")).toEqual(["C-c", "Escape", "Up"]);
    expect(repeatedFlag([REF, "--keys", "x", "--", "--key", "y"], "key")).toEqual([]);
  });
});

describe("send body", () => {
  const common = { request_ref: "req-0000000001", ref: REF };

  test("--text is literal; --enter appends Enter; --paste pastes", () => {
    expect(buildSendBody({ text: "echo $HOME `id` $(rm -rf /)" }, [], common)).toEqual({ ...common, text: "echo $HOME `id` $(rm -rf /)" });
    expect(buildSendBody({ text: "yes", enter: true }, [], common)).toEqual({ ...common, text: "yes", enter: true });
    expect(buildSendBody({ text: "a\nb", paste: true }, [], common)).toEqual({ ...common, text: "a\nb", paste: true });
    expect(buildSendBody({ text: "tab\there" }, [], common).text).toBe("tab\there");
  });

  test("--text with newlines or control characters needs --paste", () => {
    expect(usage(() => buildSendBody({ text: "a\nb" }, [], common)).message).toContain("--paste");
    usage(() => buildSendBody({ text: "bell\u0007" }, [], common));
    usage(() => buildSendBody({ text: "del\u007f" }, [], common));
  });

  test("--stdin pastes the text read, one trailing newline dropped", () => {
    expect(buildSendBody({ stdin: true, enter: true }, [], common, "line 1\nline 2\n")).toEqual({ ...common, text: "line 1\nline 2", paste: true, enter: true });
    expect(buildSendBody({ stdin: true }, [], common, "x\r\n").text).toBe("x");
    expect(buildSendBody({ stdin: true }, [], common, "x\n\n").text).toBe("x\n");
    usage(() => buildSendBody({ stdin: true }, [], common, ""));
    usage(() => buildSendBody({ stdin: true }, [], common, "\n"));
    // empty stdin with --enter: just the Enter
    expect(buildSendBody({ stdin: true, enter: true }, [], common, "")).toEqual({ ...common, enter: true });
  });

  test("keys: validated with KEY_RE, sent in order; --enter alone; --approve/--force pass through", () => {
    expect(buildSendBody({ approve: true }, ["Down", "Enter"], common)).toEqual({ ...common, keys: ["Down", "Enter"], approve: true });
    expect(buildSendBody({ enter: true }, [], common)).toEqual({ ...common, enter: true });
    expect(buildSendBody({ text: "hi", force: true }, [], common)).toEqual({ ...common, text: "hi", force: true });
    for (const k of ["C-c", "Escape", "M-x", "S-Up", "C-M-a", "F12", "1", "y", "BSpace", "Tab"]) expect(() => checkSendFlags({}, [k])).not.toThrow();
    for (const k of ["hello", "C-", "F13", "", "Ctrl-C", "Esc"]) expect(usage(() => checkSendFlags({}, [k])).details.flag).toBe("key");
    usage(() => checkSendFlags({}, Array.from({ length: 65 }, () => "a")));
  });

  test("exactly one of --text/--stdin, or keys/--enter alone", () => {
    usage(() => checkSendFlags({ text: "a", stdin: true }, []));
    usage(() => checkSendFlags({ text: "a" }, ["Enter"]));
    usage(() => checkSendFlags({ stdin: true }, ["C-c"]));
    expect(usage(() => checkSendFlags({}, [])).message).toContain("nothing to send");
    usage(() => checkSendFlags({ text: "" }, []));
    usage(() => checkSendFlags({ paste: true, enter: true }, []));
  });

  test("stdin: up to 1 MiB, more is refused without reading it all; UTF-8 only", async () => {
    const stream = (chunks: Uint8Array[]): ReadableStream<Uint8Array> =>
      new ReadableStream({
        start(c) {
          for (const ch of chunks) c.enqueue(ch);
          c.close();
        },
      });
    const mib = new Uint8Array(STDIN_MAX_BYTES).fill(0x61);
    expect((await readCapped(stream([mib.subarray(0, 1000), mib.subarray(1000)]))).length).toBe(STDIN_MAX_BYTES);
    let pulled = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(c) {
        pulled++;
        c.enqueue(new Uint8Array(64 * 1024).fill(0x62));
      },
    });
    const err = await readCapped(endless).catch((e: unknown) => e);
    expect((err as AgtmuxError).code).toBe("E_USAGE");
    expect((err as AgtmuxError).message).toContain("1 MiB");
    expect(pulled).toBeLessThan(40);
    // "é" split across two chunks decodes whole
    expect(await readCapped(stream([new Uint8Array([0x68, 0xc3]), new Uint8Array([0xa9, 0x0a])]))).toBe("hé\n");
    expect(((await readCapped(stream([new Uint8Array([0xff, 0xfe])])).catch((e: unknown) => e)) as AgtmuxError).code).toBe("E_USAGE");
  });

  test("describeSend", () => {
    expect(describeSend({ via: "keys", chars: 12, keys: [], enter: true })).toBe("sent 12 chars + Enter");
    expect(describeSend({ via: "paste", chars: 1, keys: [], enter: false })).toBe("pasted 1 char");
    expect(describeSend({ via: "keys", chars: 0, keys: ["C-c", "Escape"], enter: false })).toBe("sent keys C-c Escape");
    expect(describeSend({ via: "none", chars: 0, keys: [], enter: true })).toBe("sent Enter");
  });
});

describe("kill and view-output bodies", () => {
  const common = { request_ref: "req-0000000001", ref: REF };

  test("kill: mode key by default; --signal TERM|KILL needs --mode signal", () => {
    expect(buildKillBody({}, common)).toEqual({ ...common, mode: "key" });
    expect(buildKillBody({ mode: "signal", signal: "sigterm" }, common)).toEqual({ ...common, mode: "signal", signal: "TERM" });
    expect(buildKillBody({ mode: "signal" }, common)).toEqual({ ...common, mode: "signal" });
    expect(buildKillBody({ signal: "INT" }, common)).toEqual({ ...common, mode: "key", signal: "INT" });
    expect(usage(() => buildKillBody({ signal: "TERM" }, common)).message).toContain("--mode signal");
    usage(() => buildKillBody({ mode: "key", signal: "KILL" }, common));
    usage(() => buildKillBody({ mode: "pid" }, common));
    usage(() => buildKillBody({ mode: "signal", signal: "HUP" }, common));
  });

  test("kill: the question names the agent and the pane", () => {
    expect(killQuestion({ ...common, mode: "key" }, { ref: REF, agent: "claude", pid: 42, command: "node" })).toBe(`Interrupt claude in ${REF} (C-c)?`);
    expect(killQuestion({ ...common, mode: "signal", signal: "TERM" }, { ref: REF, agent: "codex", pid: 42, command: "node" })).toBe(`Send SIGTERM to codex (pid 42) in ${REF}?`);
    expect(killQuestion({ ...common, mode: "key" }, { ref: REF, agent: null, pid: null, command: "zsh" })).toBe(`Interrupt zsh (no agent) in ${REF} (C-c)?`);
    expect(describeKill({ mode: "signal", signal: "KILL", pid: 7 })).toBe("sent SIGKILL to pid 7 in");
    expect(describeKill({ mode: "key", signal: "INT", pid: null })).toBe("sent C-c to");
  });

  test("view-output: 200 lines by default, --lines 1..100000, --ansi", () => {
    expect(buildViewOutputBody({}, common)).toEqual({ ...common, lines: 200 });
    expect(buildViewOutputBody({ lines: "50", ansi: true }, common)).toEqual({ ...common, lines: 50, ansi: true });
    for (const bad of ["0", "-5", "1.5", "abc", "100001", ""]) usage(() => buildViewOutputBody({ lines: bad }, common));
  });

  test("actions --limit", () => {
    expect(parseLimit({})).toBe(50);
    expect(parseLimit({ limit: "5" })).toBe(5);
    usage(() => parseLimit({ limit: "0" }));
    usage(() => parseLimit({ limit: "x" }));
  });
});

describe("exit codes of the action commands (TC-053 style)", () => {
  const ALL: ErrorCode[] = [...CONTRACT_ERROR_CODES, ...EXTRA_ERROR_CODES];
  const DOCUMENTED = new Set([0, 1, 2, 3, 4, 5, 6, 7, 8, 130]);

  test("the classes of the brief", () => {
    const want: Partial<Record<ErrorCode, number>> = {
      E_USAGE: 2,
      E_DAEMON_UNREACHABLE: 3,
      E_REF_INVALID: 4,
      E_REF_INVALID_ENCODING: 4,
      E_REF_NOT_FOUND: 4,
      E_REF_AMBIGUOUS: 4,
      E_RUNTIME_STALE: 5,
      E_PRECONDITION_FAILED: 5,
      E_SNAPSHOT_EXPIRED: 5,
      E_TARGET_UNREACHABLE: 6,
      E_IDEMPOTENCY_CONFLICT: 7,
      E_PID_UNAVAILABLE: 8,
      E_INTERNAL: 1,
      E_STORE: 1,
    };
    for (const [code, exit] of Object.entries(want)) expect([code, actionExitCodeFor(code as ErrorCode)]).toEqual([code, exit]);
    expect(ACTION_EXIT.interrupted).toBe(130);
  });

  test("every defined error code has a documented exit code, and docs/cli-actions.md lists it with that code", () => {
    const doc = readFileSync(join(import.meta.dir, "..", "..", "docs", "cli-actions.md"), "utf8");
    // the table rows: | <exit> | <meaning> | <codes> |
    const rows = doc.split("\n").filter((l) => /^\|\s*\d+\s*\|/.test(l));
    expect(rows.length).toBeGreaterThan(5);
    for (const code of ALL) {
      const exit = actionExitCodeFor(code);
      expect(DOCUMENTED.has(exit)).toBe(true);
      const row = rows.find((r) => new RegExp(`\\b${code}\\b`).test(r));
      expect([code, row === undefined ? null : Number(/^\|\s*(\d+)/.exec(row)?.[1])]).toEqual([code, exit]);
    }
  });

  test("other commands keep their exit codes", () => {
    for (const code of ALL) expect(exitCodeFor(code)).toBe(code === "E_USAGE" ? 2 : code === "E_DAEMON_UNREACHABLE" ? 3 : 1);
  });

  test("hints for the refusals", () => {
    const h = (code: ErrorCode, details: Record<string, unknown> = {}): string => actionHint(new AgtmuxError(code, "m", details)) ?? "";
    expect(h("E_RUNTIME_STALE")).toContain("list again: the agent changed");
    expect(h("E_SNAPSHOT_EXPIRED")).toContain("retry");
    expect(h("E_PID_UNAVAILABLE")).toContain("--mode key");
    expect(h("E_IDEMPOTENCY_CONFLICT")).toContain("new request ref");
    expect(h("E_PRECONDITION_FAILED", { state: "waiting_approval" })).toContain("--approve");
    expect(h("E_PRECONDITION_FAILED", { draft: "half" })).toContain("--force");
    expect(h("E_PRECONDITION_FAILED", { expected: ["idle"], actual: "running" })).toContain("guard");
    expect(h("E_TARGET_UNREACHABLE", { target: "vm1" })).toContain("agtmux target connect vm1");
    expect(actionHint(new AgtmuxError("E_PRECONDITION_FAILED", "m", { expected: ["idle"] }), { command: "send", ref: REF })).toContain(`--ref ${REF}`);
    expect(actionHint(new AgtmuxError("E_USAGE", "m", {}), { command: "kill" })).toBe("agtmux kill --help");
  });
});

describe("attach command", () => {
  const local = (o: Partial<AttachResult> = {}): AttachResult => ({ kind: "local", ssh_target: null, tmux_socket: null, session_id: "$1", window_id: "@2", pane_id: "%3", ...o });

  test("outside tmux: attach-session to the session, on the target's socket", () => {
    const p = planAttach(local({ tmux_socket: { path: "/tmp/my socks/s" } }), { env: {}, target: "host", uid: 1000, serverPid: 77 });
    expect(p.how).toBe("attach");
    expect(p.command).toEqual({ argv: ["tmux", "-S", "/tmp/my socks/s", "attach-session", "-t", "$1"], unsetEnv: [] });
    expect(p.needsTty).toBe(true);
    expect(planLine(p)).toBe("tmux -S '/tmp/my socks/s' attach-session -t '$1'");
    expect(planAttach(local({ tmux_socket: { name: "work" } }), { env: {}, target: "host", uid: 1000, serverPid: null }).command.argv).toEqual(["tmux", "-L", "work", "attach-session", "-t", "$1"]);
    expect(planAttach(local({ session_id: null }), { env: {}, target: "host", uid: 1000, serverPid: null }).command.argv).toEqual(["tmux", "attach-session", "-t", "%3"]);
  });

  test("inside tmux on the same server (by server pid): switch-client to the pane", () => {
    const p = planAttach(local(), { env: { TMUX: "/tmp/tmux-1000/default,77,0" }, target: "host", uid: 1000, serverPid: 77 });
    expect(p).toEqual({ how: "switch-client", command: { argv: ["tmux", "switch-client", "-t", "%3"], unsetEnv: [] }, fallback: null, needsTty: false, note: null });
  });

  test("inside tmux on the same server (by socket, pid unknown)", () => {
    const env = { TMUX: "/run/t/tmux-1000/work,0,0", TMUX_TMPDIR: "/run/t/" };
    expect(sameServer(local({ tmux_socket: { name: "work" } }), env, { uid: 1000, serverPid: null })).toBe(true);
    expect(sameServer(local({ tmux_socket: { path: "/run/t/tmux-1000/work" } }), env, { uid: 1000, serverPid: null })).toBe(true);
    expect(sameServer(local({ tmux_socket: { name: "other" } }), env, { uid: 1000, serverPid: null })).toBe(false);
    expect(planAttach(local({ tmux_socket: { name: "work" } }), { env, target: "host", uid: 1000, serverPid: null }).how).toBe("switch-client");
    // a symlinked TMUX_TMPDIR: tmux's socket is under the resolved directory
    const realpath = (p: string): string => p.replace(/^\/link\//, "/run/t/");
    expect(sameServer(local({ tmux_socket: { name: "work" } }), { TMUX: "/run/t/tmux-1000/work,0,0", TMUX_TMPDIR: "/link" }, { uid: 1000, serverPid: null, realpath })).toBe(true);
  });

  test("inside another tmux server: a nested attach with TMUX unset", () => {
    const p = planAttach(local({ tmux_socket: { path: "/tmp/other" } }), { env: { TMUX: "/tmp/tmux-1000/default,77,0" }, target: "host", uid: 1000, serverPid: 99 });
    expect(p.how).toBe("nested-attach");
    expect(p.command).toEqual({ argv: ["tmux", "-S", "/tmp/other", "attach-session", "-t", "$1"], unsetEnv: ["TMUX", "TMUX_PANE"] });
    expect(planLine(p)).toBe("env -u TMUX -u TMUX_PANE tmux -S /tmp/other attach-session -t '$1'");
  });

  test("inside tmux, cannot tell: switch-client first, a nested attach if that fails", () => {
    const p = planAttach(local(), { env: { TMUX: "/tmp/tmux-1000/x,77,0" }, target: "host", uid: 1000, serverPid: null });
    expect(p.how).toBe("switch-client");
    expect(p.fallback).toEqual({ argv: ["tmux", "attach-session", "-t", "$1"], unsetEnv: ["TMUX", "TMUX_PANE"] });
    expect(planLine(p)).toBe("tmux switch-client -t %3 || env -u TMUX -u TMUX_PANE tmux attach-session -t '$1'");
  });

  test("ssh target: ssh -t -- <alias> '<remote tmux attach>' (also from inside tmux)", () => {
    const r: AttachResult = { kind: "ssh", ssh_target: "vm1", tmux_socket: { path: "/home/u/my socks/$(touch pwned)/s'q" }, session_id: "$4", window_id: "@1", pane_id: "%9" };
    const p = planAttach(r, { env: { TMUX: "/tmp/tmux-1000/default,77,0" }, target: "vm1", uid: 1000, serverPid: null });
    expect(p.how).toBe("ssh");
    expect(p.command.argv.slice(0, 4)).toEqual(["ssh", "-t", "--", "vm1"]);
    expect(p.command.argv[4]).toBe(`tmux -S '/home/u/my socks/$(touch pwned)/s'\\''q' attach-session -t '$4'`);
    // an ssh target without an alias is reached by its name
    expect(planAttach({ ...r, ssh_target: null, tmux_socket: { name: "a b" } }, { env: {}, target: "vm2", uid: 0, serverPid: null }).command.argv).toEqual(["ssh", "-t", "--", "vm2", "tmux -L 'a b' attach-session -t '$4'"]);
    expect(tmuxSocketArgs(null)).toEqual([]);
  });

  test("the remote command, run by a POSIX shell, hands tmux exactly our argv", () => {
    const dir = mkdtempSync("/tmp/attach-q-");
    try {
      const fake = join(dir, "tmux");
      writeFileSync(fake, '#!/bin/sh\nfor a in "$@"; do printf "%s\\0" "$a"; done\n');
      chmodSync(fake, 0o755);
      const sock = `${dir}/my socks/$(touch ${dir}/pwned)/\`id\`/it's "q" \\ ; & | *`;
      const r: AttachResult = { kind: "ssh", ssh_target: "vm1", tmux_socket: { path: sock }, session_id: "$12", window_id: "@1", pane_id: "%9" };
      const remote = planAttach(r, { env: {}, target: "vm1", uid: 0, serverPid: null }).command.argv[4] as string;
      const out = Bun.spawnSync(["sh", "-c", remote], { env: { PATH: `${dir}:/usr/bin:/bin` }, cwd: dir });
      expect(out.exitCode).toBe(0);
      expect(out.stdout.toString().split("\0").slice(0, -1)).toEqual(["-S", sock, "attach-session", "-t", "$12"]);
      expect(existsSync(join(dir, "pwned"))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("commandLine quotes what a shell would expand", () => {
    expect(commandLine({ argv: ["tmux", "-S", "/x y/$(z)", "attach-session", "-t", "$1"], unsetEnv: [] })).toBe("tmux -S '/x y/$(z)' attach-session -t '$1'");
  });
});

describe("retry reuses the request ref", () => {
  type Call = { type: ActionType; body: unknown };
  function fake(failures: AgtmuxError[]): { calls: Call[]; action: <T extends ActionType>(type: T, body: ActionBodies[T]) => Promise<ActionResponse<ActionResults[T]>> } {
    const calls: Call[] = [];
    return {
      calls,
      action: async <T extends ActionType>(type: T, body: ActionBodies[T]) => {
        calls.push({ type, body: structuredClone(body) });
        const f = failures.shift();
        if (f !== undefined) throw f;
        return { schema_version: 1, action_id: "act-1", request_ref: body.request_ref, replayed: calls.length > 1 } as unknown as ActionResponse<ActionResults[T]>;
      },
    };
  }
  const down = (): AgtmuxError => new AgtmuxError("E_DAEMON_UNREACHABLE", "not reachable", {});
  const body = { request_ref: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", ref: REF, text: "hi", enter: true };

  test("a daemon restart: retried with the same body and request_ref, answer returned", async () => {
    const f = fake([down(), new AgtmuxError("E_SHUTTING_DOWN", "going", {})]);
    const slept: number[] = [];
    const r = await postAction(f, "send", body, { sleep: async (ms) => void slept.push(ms) });
    expect(r.action_id).toBe("act-1");
    expect(f.calls.length).toBe(3);
    for (const c of f.calls) expect(c).toEqual({ type: "send", body });
    expect(slept).toEqual([250, 750]);
  });

  test("up to 3 retries, then the last error", async () => {
    const f = fake([down(), down(), down(), down(), down()]);
    const err = await postAction(f, "send", body, { sleep: async () => {} }).catch((e: unknown) => e);
    expect((err as AgtmuxError).code).toBe("E_DAEMON_UNREACHABLE");
    expect(f.calls.length).toBe(4);
    expect(new Set(f.calls.map((c) => (c.body as { request_ref: string }).request_ref)).size).toBe(1);
  });

  test("refusals and recorded failures are not retried", async () => {
    for (const e of [
      new AgtmuxError("E_PRECONDITION_FAILED", "moved", { action_id: "act-1" }),
      new AgtmuxError("E_RUNTIME_STALE", "changed", {}),
      new AgtmuxError("E_INTERNAL", "recorded", { action_id: "act-2" }),
      new AgtmuxError("E_IDEMPOTENCY_CONFLICT", "other payload", {}),
    ]) {
      const f = fake([e]);
      const err = await postAction(f, "kill", { request_ref: body.request_ref, ref: REF }, { sleep: async () => {} }).catch((x: unknown) => x);
      expect(err).toBe(e);
      expect(f.calls.length).toBe(1);
    }
    expect(isTransient(new AgtmuxError("E_INTERNAL", "daemon answered HTTP 502", { status: 502 }))).toBe(true);
  });
});

describe("audit table", () => {
  test("WHEN, ACTION, REF, RESULT, BY", () => {
    const out = renderActions(
      { color: false },
      {
        schema_version: 1,
        generated_at: "2026-11-24T10:00:10Z",
        items: [
          { action_id: "act-2", action_type: "send", request_ref: "r2", ref: REF, target: "host", pane_id: "%3", runtime_id: null, requested_by: "alice@box pid 9", payload: { ref: REF, text_chars: 12, enter: true }, result_code: "E_PRECONDITION_FAILED", result: null, created_at: "2026-11-24T10:00:05Z", completed_at: "2026-11-24T10:00:05Z" },
          { action_id: "act-1", action_type: "kill", request_ref: "r1", ref: "pane:host/x\u001b[31m/@1/%4", target: "host", pane_id: "%4", runtime_id: null, requested_by: null, payload: { mode: "signal", signal: "TERM" }, result_code: null, result: null, created_at: "2026-11-24T10:00:00Z", completed_at: null },
        ],
      },
    );
    const lines = out.split("\n");
    expect(lines[0]?.trim().split(/\s{2,}/)).toEqual(["WHEN", "ACTION", "REF", "RESULT", "BY"]);
    expect(lines[1]).toContain("2026-11-24 10:00:05");
    expect(lines[1]).toContain("send 12 chars+Enter");
    expect(lines[1]).toContain("E_PRECONDITION_FAILED");
    expect(lines[1]).toContain("alice@box pid 9");
    expect(lines[2]).toContain("kill signal TERM");
    expect(lines[2]).toContain("running");
    expect(lines[2]).toContain("\\x1b[31m");
    expect(actionSummary({ action_type: "view-output", payload: { lines: 50 } } as never)).toBe("view-output 50 lines");
  });
});
