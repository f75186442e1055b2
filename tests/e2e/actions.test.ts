/**
 * Actions end to end (contracts §10, §11): the compiled daemon, a real tmux
 * server, `POST /v1/actions/{attach|send|view-output|kill}` and
 * `GET /v1/actions` over the Unix socket (and the CLI commands where they
 * exist). What a pane received is read back from files its process writes
 * (`cat > file`, a fake agent that logs every byte under its own pid), so
 * "delivered exactly once, to that process" is checked, not assumed.
 *
 * TC-027 send (text/keys/enter/paste, guards, serialization), TC-028
 * view-output, TC-025/TC-026 idempotency, TC-005/TC-022 stale runtimes after
 * pane reuse and attach, the restart-vs-send race, TC-030 kill, TC-031 audit
 * trail, TC-018/TC-032/TC-053 error envelopes and statuses.
 */
import { describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ActionResponse, ActionsResponse, AttachResult, KillResult, SendResult, ViewOutputResult } from "../../src/wire/actions.ts";
import type { ListResponse, PaneItem } from "../../src/wire/list.ts";
import { ROOT, runCli } from "../helpers/binary.ts";
import type { Sandbox } from "../helpers/sandbox.ts";
import { waitFor } from "../helpers/wait.ts";
import { e2eScope, expectErrorEnvelope, okAction, postAction, rawFetch, readText, waitFile, type SandboxTmux, tmuxScope, withDb } from "./lib.ts";

const scope = e2eScope("act");
const tmuxes = tmuxScope();
const CLI_ENV = { AGTMUX_NO_AUTOSTART: "1" };
const ESC = "\u001b";

let seq = 0;
/** a fresh request_ref ([A-Za-z0-9._:-]{8,128}) */
function rref(tag = "req"): string {
  seq++;
  return `${tag}-${process.pid}-${Date.now()}-${seq}`;
}

type ActType = "attach" | "send" | "view-output" | "kill";

async function act(sb: Sandbox, type: ActType | string, body: unknown, timeoutMs = 20_000): Promise<{ status: number; body: unknown; text: string }> {
  return await postAction(sb, type, body, timeoutMs);
}

async function ok<R>(sb: Sandbox, type: ActType, body: Record<string, unknown>): Promise<ActionResponse<R>> {
  return await okAction<R>(sb, type, body);
}

/** the action fails with this code and status, in the envelope (TC-018) */
async function fails(sb: Sandbox, type: ActType | string, body: unknown, code: string, status: number): Promise<Record<string, unknown>> {
  const r = await act(sb, type, body);
  if (r.status !== status) throw new Error(`expected ${status} ${code}, got ${r.status} ${r.text.slice(0, 600)}`);
  return expectErrorEnvelope(r.body, code).details;
}

async function panes(sb: Sandbox): Promise<PaneItem[]> {
  const r = await rawFetch(sb, "/v1/panes?all=1");
  if (r.status !== 200) throw new Error(`GET /v1/panes: ${r.status} ${r.text}`);
  return (r.body as ListResponse<PaneItem>).items;
}

/** polls until the daemon lists the pane (and the predicate holds) */
async function listed(sb: Sandbox, paneId: string, pred: (p: PaneItem) => boolean = () => true, message = `pane ${paneId} listed`, timeoutMs = 15_000): Promise<PaneItem> {
  let last: PaneItem | undefined;
  try {
    return await waitFor(
      async () => {
        last = (await panes(sb)).find((p) => p.identity.pane_id === paneId);
        return last !== undefined && pred(last) ? last : null;
      },
      { timeoutMs, intervalMs: 30, message },
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; last: ${JSON.stringify(last === undefined ? null : { agent: last.agent, state: last.state, runtime_ref: last.runtime_ref })}`, { cause: err });
  }
}


function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

interface Lab {
  sb: Sandbox;
  t: SandboxTmux;
  /** a directory for what panes write */
  dir: string;
  /** the fake agent that logs every byte it reads to <dir>/got-<its pid> */
  recorder: string;
  /** a new window running argv; returns its pane id once the daemon lists it */
  window(argv: string[], name?: string): Promise<string>;
  /** a pane whose input goes verbatim to `file` (`cat`; -icanon: no line limit; echo optional) */
  catPane(file: string, opts?: { echo?: boolean; canonical?: boolean; before?: string }): Promise<string>;
  pane(paneId: string): Promise<PaneItem>;
  panePid(paneId: string): Promise<number>;
  tmuxEnv(): Promise<Record<string, string>>;
  emit(paneId: string, state: string): Promise<void>;
}

const RECORDER = `#!/bin/bash
# a fake agent: every byte typed into it is appended to <dir>/got-<its pid>
out="$1/got-$$"
: > "$out"
stty -echo -icanon min 1 2>/dev/null
while IFS= read -r -s -d '' -n 1 c; do printf '%s' "$c" >> "$out"; done
`;

async function lab(opts: { daemon?: boolean } = {}): Promise<Lab> {
  const sb = scope.box();
  const t = tmuxes.tmux(sb);
  const dir = join(sb.dir, "files");
  mkdirSync(dir, { recursive: true });
  const agents = join(sb.dir, "agents");
  mkdirSync(agents, { recursive: true });
  const recorder = join(agents, "claude");
  writeFileSync(recorder, RECORDER);
  chmodSync(recorder, 0o755);
  // a session that keeps the server up whatever the tests do to their windows
  await t.newSession("base", ["sleep", "100000"]);
  if (opts.daemon !== false) await scope.daemon(sb);
  let n = 0;
  const l: Lab = {
    sb,
    t,
    dir,
    recorder,
    async window(argv, name) {
      n++;
      const id = (await t.run("new-window", "-d", "-P", "-F", "#{pane_id}", "-t", "base:", "-n", name ?? `w${n}`, ...argv)).trim();
      await listed(sb, id);
      return id;
    },
    async catPane(file, o = {}) {
      const modes = [o.echo === true ? "" : "-echo", o.canonical === true ? "" : "-icanon min 1"].filter((x) => x !== "").join(" ");
      const script = `${o.before ?? ""}${modes === "" ? "" : `stty ${modes}; `}exec cat > ${shq(file)}`;
      const id = await l.window(["sh", "-c", script]);
      // cat is running once the pane's command is cat (the stty before it ran)
      await waitFor(async () => (await t.run("display-message", "-p", "-t", id, "#{pane_current_command}")).trim() === "cat", { timeoutMs: 5_000, message: `cat runs in ${id}` });
      return id;
    },
    pane: (id) => listed(sb, id),
    async panePid(id) {
      return Number((await t.run("display-message", "-p", "-t", id, "#{pane_pid}")).trim());
    },
    async tmuxEnv() {
      const [socket, pid] = (await t.run("display-message", "-p", "#{socket_path} #{pid}")).trim().split(" ");
      return { TMUX: `${socket},${pid},0` };
    },
    async emit(paneId, state) {
      const r = await runCli(sb, ["emit", "--type", `state.${state}`, "--pane", paneId], { env: { ...CLI_ENV, ...(await l.tmuxEnv()) } });
      if (r.code !== 0) throw new Error(`emit ${state}: ${r.code} ${r.stderr}`);
    },
  };
  return l;
}

/** an agent pane: the fake claude (a copy of sleep) or the byte recorder; resolves once the daemon sees the agent */
async function agentPane(l: Lab, argv: string[]): Promise<{ pane: string; item: PaneItem }> {
  const pane = await l.window(argv);
  const item = await listed(l.sb, pane, (p) => p.agent?.type === "claude" && p.runtime_ref !== null, `agent in ${pane} identified`);
  return { pane, item };
}

describe("actions (compiled daemon, real tmux)", () => {
  test("TC-027 send --text lands literally: quotes, $(), backticks, unicode, tmux formats, leading dashes; keys and enter are tmux keys", async () => {
    const l = await lab();
    const out = join(l.dir, "literal");
    const pane = await l.catPane(out, { echo: true });
    const ref = (await l.pane(pane)).ref;
    const marker = join(l.dir, "pwned");
    const text = `echo "hi" 'q' $(touch ${marker}) \`touch ${marker}\` #{pane_id} %1 ~ & | < * ? \\ é ü 日本 ✓ 🙂 -x --`;
    const r = await ok<SendResult>(l.sb, "send", { request_ref: rref(), ref, text });
    expect(r).toMatchObject({ schema_version: 1, action_type: "send", replayed: false, result_code: "ok", result: { via: "keys", chars: [...text].length, keys: [], enter: false } });
    expect(r.action_id).toMatch(/^act-/);
    expect(typeof r.completed_at).toBe("string");
    expect(r.pane.identity.pane_id).toBe(pane);
    await waitFile(out, (s) => s === text, "the text, byte for byte");
    // a leading dash is text, not a flag
    await ok(l.sb, "send", { request_ref: rref(), ref, text: "-l -H 41" });
    await waitFile(out, (s) => s === `${text}-l -H 41`, "a text that looks like flags");
    // tab is allowed as text
    await ok(l.sb, "send", { request_ref: rref(), ref, text: "\tT" });
    await waitFile(out, (s) => s.endsWith("-l -H 41\tT"), "a tab");
    // keys: tmux key names, not their letters; enter: a CR (the tty makes it \n)
    await ok(l.sb, "send", { request_ref: rref(), ref, keys: ["Escape", "Up", "C-a", "F1", "x"], enter: true });
    const after = await waitFile(out, (s) => s.endsWith("\n"), "keys then Enter");
    const tail = after.slice(after.indexOf("\tT") + 2);
    expect(tail).toBe(`${ESC}${ESC}[A\u0001${ESC}OPx\n`);
    // the screen shows the echo (view-output), nothing ran
    const v = await ok<ViewOutputResult>(l.sb, "view-output", { request_ref: rref(), ref });
    expect(v.result.text).toContain("日本 ✓ 🙂");
    expect(existsSync(marker)).toBe(false);
  }, 60_000);

  test("TC-027 send --text ending in ';' or '\\;' lands exactly (tmux must not take it as a command separator)", async () => {
    const l = await lab();
    const out = join(l.dir, "semi");
    const pane = await l.catPane(out);
    const ref = (await l.pane(pane)).ref;
    await ok(l.sb, "send", { request_ref: rref(), ref, text: "ls;" });
    await ok(l.sb, "send", { request_ref: rref(), ref, text: "|" });
    await ok(l.sb, "send", { request_ref: rref(), ref, text: "find . -exec echo {} \\;" });
    await ok(l.sb, "send", { request_ref: rref(), ref, keys: [";"] });
    await ok(l.sb, "send", { request_ref: rref(), ref, text: "END" });
    const got = await waitFile(out, (s) => s.endsWith("END"), "the texts");
    expect(got).toBe("ls;|find . -exec echo {} \\;;END");
  }, 30_000);

  test("TC-027 paste: multiline and 1 MiB through a named buffer that is deleted after; control characters need paste; > 1 MiB refused", async () => {
    const l = await lab();
    const out = join(l.dir, "paste");
    const pane = await l.catPane(out);
    const ref = (await l.pane(pane)).ref;

    // control characters (newline, ESC, ^C, DEL) as typed text: refused, nothing typed
    for (const bad of ["two\nlines", `x${ESC}[31m`, "stop\u0003", "del\u007f", "cr\r"]) {
      const d = await fails(l.sb, "send", { request_ref: rref(), ref, text: bad }, "E_BAD_REQUEST", 400);
      expect(d.action_id).toMatch(/^act-/);
    }

    const multi = "line one\nline 'two' $(x)\n\tthree\n";
    const r = await ok<SendResult>(l.sb, "send", { request_ref: rref(), ref, text: multi, paste: true });
    expect(r.result).toMatchObject({ via: "paste", chars: [...multi].length });
    await waitFile(out, (s) => s === multi, "multiline paste");
    expect((await l.t.run("list-buffers", "-F", "#{buffer_name}")).trim()).toBe("");

    // 1 MiB (UTF-16 code units = the schema's limit): lines of 63 chars + \n, numbered
    const line = (i: number): string => `${String(i).padStart(6, "0")}:${"abcdefghijklmnopqrstuvwxyz0123456789".repeat(2).slice(0, 56)}\n`;
    const big = Array.from({ length: 16_384 }, (_, i) => line(i)).join("");
    expect(big.length).toBe(1024 * 1024);
    const t0 = performance.now();
    const rb = await ok<SendResult>(l.sb, "send", { request_ref: rref(), ref, text: big, paste: true });
    expect(rb.result).toMatchObject({ via: "paste", chars: big.length });
    await waitFile(out, (s) => s.length >= multi.length + big.length, "1 MiB arrived", 30_000);
    expect(readText(out)).toBe(multi + big);
    console.log(`[actions] 1 MiB paste: action ${Math.round(performance.now() - t0)} ms incl. delivery`);
    expect((await l.t.run("list-buffers", "-F", "#{buffer_name}")).trim()).toBe("");

    // over 4 KiB without paste: pasted anyway (send-keys arguments are not for megabytes)
    const long = "k".repeat(5000);
    const rl = await ok<SendResult>(l.sb, "send", { request_ref: rref(), ref, text: long });
    expect(rl.result.via).toBe("paste");
    await waitFile(out, (s) => s.endsWith(long), "5000 chars");
    // one char over 1 MiB: refused by the schema
    await fails(l.sb, "send", { request_ref: rref(), ref, text: `${big}x`, paste: true }, "E_BAD_REQUEST", 400);
    expect((await l.t.run("list-buffers", "-F", "#{buffer_name}")).trim()).toBe("");
  }, 90_000);

  test("TC-027 approval guard: text refused, keys need approve (then go through), force types anyway", async () => {
    const l = await lab();
    const { pane, item } = await agentPane(l, l.t.agent("claude"));
    await l.emit(pane, "waiting_approval");
    const waiting = await listed(l.sb, pane, (p) => p.state === "waiting_approval", "waiting_approval");
    expect(waiting.needs_action).toBe(true);
    const ref = item.ref;
    const screen = (): Promise<string> => l.t.run("capture-pane", "-p", "-t", pane);

    const d1 = await fails(l.sb, "send", { request_ref: rref(), ref, text: "yes please" }, "E_PRECONDITION_FAILED", 412);
    expect(d1.state).toBe("waiting_approval");
    await fails(l.sb, "send", { request_ref: rref(), ref, keys: ["y"] }, "E_PRECONDITION_FAILED", 412);
    await fails(l.sb, "send", { request_ref: rref(), ref, enter: true }, "E_PRECONDITION_FAILED", 412);
    // approve does not allow text
    await fails(l.sb, "send", { request_ref: rref(), ref, text: "typed", approve: true }, "E_PRECONDITION_FAILED", 412);
    expect((await screen()).trim()).toBe(""); // nothing typed (the fake agent prints nothing; the tty would echo)

    // keys with approve: delivered (the tty echoes them on the fake agent's screen)
    const r = await ok<SendResult>(l.sb, "send", { request_ref: rref(), ref: item.runtime_ref as string, keys: ["y"], approve: true });
    expect(r.result).toMatchObject({ via: "keys", keys: ["y"] });
    await waitFor(async () => (await screen()).includes("y"), { timeoutMs: 5_000, message: "approved key on screen" });
    // force: text too
    await ok(l.sb, "send", { request_ref: rref(), ref, text: "forced", force: true });
    await waitFor(async () => (await screen()).includes("yforced"), { timeoutMs: 5_000, message: "forced text on screen" });

    // once the agent runs again, text is fine
    await l.emit(pane, "running");
    await listed(l.sb, pane, (p) => p.state === "running", "running");
    await ok(l.sb, "send", { request_ref: rref(), ref, text: "-later" });
    await waitFor(async () => (await screen()).includes("yforced-later"), { timeoutMs: 5_000, message: "text after the approval" });
  }, 60_000);

  test("TC-027 draft guard: a half-typed input line is not typed over (text or enter); force sends; keys alone pass", async () => {
    const l = await lab();
    const out = join(l.dir, "draft");
    const pane = await l.catPane(out, { before: "printf '\\n  > half typed'; " });
    const ref = (await l.pane(pane)).ref;
    await waitFor(async () => (await l.t.run("capture-pane", "-p", "-t", pane)).includes("> half typed"), { timeoutMs: 5_000, message: "draft shown" });
    const d = await fails(l.sb, "send", { request_ref: rref(), ref, text: "over it" }, "E_PRECONDITION_FAILED", 412);
    expect(d.draft).toBe("half typed");
    expect(d.action_id).toMatch(/^act-/);
    await fails(l.sb, "send", { request_ref: rref(), ref, enter: true }, "E_PRECONDITION_FAILED", 412);
    await ok(l.sb, "send", { request_ref: rref(), ref, keys: ["a"] });
    await ok(l.sb, "send", { request_ref: rref(), ref, text: "forced", enter: true, force: true });
    expect(await waitFile(out, (s) => s.endsWith("\n"), "forced text")).toBe("aforced\n");

    // a dim placeholder after the glyph is not a draft
    const out2 = join(l.dir, "placeholder");
    const pane2 = await l.catPane(out2, { before: "printf '\\n> \\033[2mTry something\\033[0m'; " });
    await ok(l.sb, "send", { request_ref: rref(), ref: (await l.pane(pane2)).ref, text: "fine" });
    await waitFile(out2, (s) => s === "fine", "typed past a placeholder");
  }, 60_000);

  test("TC-027 10 concurrent sends to one pane are serialized: every text (with its Enter) arrives whole, none interleaved", async () => {
    const l = await lab();
    const out = join(l.dir, "conc");
    const pane = await l.catPane(out, { canonical: true });
    const ref = (await l.pane(pane)).ref;
    const texts = Array.from({ length: 10 }, (_, i) => `msg-${i}-${String.fromCharCode(97 + i).repeat(300)}-end${i}`);
    const t0 = performance.now();
    const rs = await Promise.all(texts.map((text) => act(l.sb, "send", { request_ref: rref("conc"), ref, text, enter: true })));
    const ms = performance.now() - t0;
    expect(rs.map((r) => r.status)).toEqual(texts.map(() => 200));
    const got = await waitFile(out, (s) => s.split("\n").length > texts.length, "10 lines");
    const lines = got.split("\n").slice(0, -1);
    expect(lines.toSorted()).toEqual(texts.toSorted());
    // one at a time: each holds the pane for its paced Enter (~120 ms)
    expect(ms).toBeGreaterThan(9 * 100);
    console.log(`[actions] 10 concurrent sends with Enter: ${Math.round(ms)} ms, arrival order ${lines.map((x) => x.slice(4, 5)).join("")}`);
  }, 60_000);

  test("TC-028 view-output: bounded by lines (default 200), ansi keeps colours; the audit keeps counts, not the text", async () => {
    const l = await lab();
    const pane = await l.window(["sh", "-c", "seq -f 'line-%03g' 1 500; exec cat"]);
    await waitFor(async () => (await l.t.run("capture-pane", "-p", "-t", pane)).includes("line-500"), { timeoutMs: 5_000, message: "500 lines printed" });
    const ref = (await l.pane(pane)).ref;
    const nums = (a: number, b: number): string[] => Array.from({ length: b - a + 1 }, (_, i) => `line-${String(a + i).padStart(3, "0")}`);

    const r50 = await ok<ViewOutputResult>(l.sb, "view-output", { request_ref: rref(), ref, lines: 50 });
    expect(r50.result).toMatchObject({ lines: 50, requested_lines: 50, ansi: false });
    expect(r50.result.text.split("\n")).toEqual(nums(451, 500));
    const rd = await ok<ViewOutputResult>(l.sb, "view-output", { request_ref: rref(), ref });
    expect(rd.result).toMatchObject({ lines: 200, requested_lines: 200 });
    expect(rd.result.text.split("\n")).toEqual(nums(301, 500));
    const r1 = await ok<ViewOutputResult>(l.sb, "view-output", { request_ref: rref(), ref, lines: 1 });
    expect(r1.result.text).toBe("line-500");
    const all = await ok<ViewOutputResult>(l.sb, "view-output", { request_ref: rref(), ref, lines: 5000 });
    expect(all.result.text.split("\n")).toEqual(nums(1, 500));
    expect(all.result).toMatchObject({ lines: 500, requested_lines: 5000 });
    await fails(l.sb, "view-output", { request_ref: rref(), ref, lines: 0 }, "E_BAD_REQUEST", 400);
    await fails(l.sb, "view-output", { request_ref: rref(), ref, lines: 100_001 }, "E_BAD_REQUEST", 400);

    const cpane = await l.window(["sh", "-c", "printf 'plain \\033[31mRED\\033[0m secret-sauce-1234\\n'; exec cat"]);
    await waitFor(async () => (await l.t.run("capture-pane", "-p", "-t", cpane)).includes("RED"), { timeoutMs: 5_000, message: "colour printed" });
    const cref = (await l.pane(cpane)).ref;
    const plain = await ok<ViewOutputResult>(l.sb, "view-output", { request_ref: rref(), ref: cref, lines: 5 });
    expect(plain.result.text).toBe("plain RED secret-sauce-1234");
    const colour = await ok<ViewOutputResult>(l.sb, "view-output", { request_ref: rref("ansi"), ref: cref, lines: 5, ansi: true });
    expect(colour.result.ansi).toBe(true);
    expect(colour.result.text).toContain(`${ESC}[31mRED`);

    // the audit trail: counts, never the captured text
    const list = (await rawFetch(l.sb, "/v1/actions?limit=20")).body as ActionsResponse;
    const rec = list.items.find((a) => a.action_id === colour.action_id);
    expect(rec).toMatchObject({ action_type: "view-output", result_code: "ok", payload: { ref: cref, lines: 5, ansi: true } });
    expect(rec?.result).toMatchObject({ result: { text: "", lines: 1, requested_lines: 5, ansi: true, text_omitted: true } });
    expect(JSON.stringify(list)).not.toContain("secret-sauce");
    expect(JSON.stringify(list)).not.toContain("line-4");
    const stored = withDb(l.sb.paths.db, (db) => db.query<{ n: number }, []>("SELECT count(*) AS n FROM actions WHERE result LIKE '%secret-sauce%' OR result LIKE '%line-45%'").get());
    expect(stored?.n).toBe(0);
  }, 60_000);

  test("TC-025 TC-026 idempotency: a replay answers the stored result (delivered once); another payload under the key is E_IDEMPOTENCY_CONFLICT; a failure replays as the same error", async () => {
    const l = await lab();
    const out = join(l.dir, "idem");
    const pane = await l.catPane(out, { canonical: true });
    const ref = (await l.pane(pane)).ref;
    const key = rref("idem");

    const first = await ok<SendResult>(l.sb, "send", { request_ref: key, ref, text: "only-once", enter: true });
    expect(first.replayed).toBe(false);
    const again = await ok<SendResult>(l.sb, "send", { request_ref: key, ref, text: "only-once", enter: true, requested_by: "someone else" });
    expect(again).toMatchObject({ action_id: first.action_id, replayed: true, result_code: "ok", completed_at: first.completed_at, result: first.result, pane: first.pane });
    // the same key for another action type is another action
    const view = await ok(l.sb, "view-output", { request_ref: key, ref });
    expect(view.action_id).not.toBe(first.action_id);

    // TC-026: same key, another payload
    const d = await fails(l.sb, "send", { request_ref: key, ref, text: "something else", enter: true }, "E_IDEMPOTENCY_CONFLICT", 409);
    expect(d.action_id).toBe(first.action_id);
    await fails(l.sb, "send", { request_ref: key, ref, text: "only-once" }, "E_IDEMPOTENCY_CONFLICT", 409);

    // a failed action replays as the same error with the same action_id
    const bad = rref("bad");
    const f1 = await fails(l.sb, "send", { request_ref: bad, ref, text: "a\nb" }, "E_BAD_REQUEST", 400);
    const f2 = await fails(l.sb, "send", { request_ref: bad, ref, text: "a\nb" }, "E_BAD_REQUEST", 400);
    expect(f2.action_id).toBe(f1.action_id);
    expect(f2.replayed).toBe(true);

    // two identical requests in flight at once: one action, one delivery
    const twin = rref("twin");
    const twins = await Promise.all([0, 1].map(() => act(l.sb, "send", { request_ref: twin, ref, text: "twin", enter: true })));
    expect(twins.map((x) => x.status)).toEqual([200, 200]);
    const ids = twins.map((x) => (x.body as ActionResponse).action_id);
    expect(ids[0]).toBe(ids[1] as string);
    // (the one that waited for the other's answer says replayed: false: it gets the same response object)
    console.log(`[actions] two identical in-flight sends: replayed ${twins.map((x) => (x.body as ActionResponse).replayed).join("/")}`);

    // a marker after everything: what came before it is all that was delivered
    await ok(l.sb, "send", { request_ref: rref(), ref, text: "marker", enter: true });
    const got = await waitFile(out, (s) => s.includes("marker\n"), "marker");
    expect(got).toBe("only-once\ntwin\nmarker\n");
    const n = withDb(l.sb.paths.db, (db) => db.query<{ n: number }, [string]>("SELECT count(*) AS n FROM actions WHERE request_ref = ?").get(key));
    expect(n?.n).toBe(2); // the send and the view-output
  }, 60_000);

  test("TC-005 TC-022 pane reuse: the old runtime is stale for send, attach and kill (by runtime ref and if_runtime); the new one works; a vanished pane is E_REF_NOT_FOUND", async () => {
    const l = await lab();
    const { pane, item: old } = await agentPane(l, l.t.agent("claude"));
    const oldRt = old.runtime_ref as string;
    const oldId = old.agent?.runtime_id as string;
    expect(oldRt).toBe(`runtime:${oldId}`);
    await l.t.run("respawn-pane", "-k", "-t", pane, ...l.t.agent("claude"));
    const fresh = await listed(l.sb, pane, (p) => p.runtime_ref !== null && p.runtime_ref !== oldRt, "the new runtime");
    expect(fresh.ref).toBe(old.ref); // same pane: same pane ref

    for (const type of ["send", "attach", "kill", "view-output"] as const) {
      const body = type === "send" ? { text: "x" } : {};
      const d = await fails(l.sb, type, { request_ref: rref(), ref: oldRt, ...body }, "E_RUNTIME_STALE", 409);
      expect(d.runtime_id).toBe(oldId);
      const g = await fails(l.sb, type, { request_ref: rref(), ref: old.ref, if_runtime: oldRt, ...body }, "E_RUNTIME_STALE", 409);
      expect(g).toMatchObject({ expected: oldId, actual: fresh.agent?.runtime_id });
      // the bare id works for if_runtime as well
      await fails(l.sb, type, { request_ref: rref(), ref: old.ref, if_runtime: oldId, ...body }, "E_RUNTIME_STALE", 409);
    }
    // the new runtime is fine
    const a = await ok<AttachResult>(l.sb, "attach", { request_ref: rref(), ref: fresh.runtime_ref as string, if_runtime: fresh.runtime_ref as string });
    expect(a.pane.runtime_id).toBe(fresh.agent?.runtime_id ?? null);

    // a runtime that ended a moment ago, before the daemon noticed: still stale (the fresh scan)
    const cur = fresh.runtime_ref as string;
    await l.t.run("respawn-pane", "-k", "-t", pane, ...l.t.agent("claude"));
    await fails(l.sb, "send", { request_ref: rref(), ref: cur, text: "x" }, "E_RUNTIME_STALE", 409);

    // a pane that vanished a moment ago: its pane ref is not found (by the fresh scan if not before)
    const gone = await l.catPane(join(l.dir, "gone"));
    const goneRef = (await l.pane(gone)).ref;
    await l.t.run("kill-pane", "-t", gone);
    await fails(l.sb, "send", { request_ref: rref(), ref: goneRef, text: "x" }, "E_REF_NOT_FOUND", 404);
    await fails(l.sb, "attach", { request_ref: rref(), ref: goneRef }, "E_REF_NOT_FOUND", 404);
  }, 60_000);

  test("TC-022 attach: selects the window and the pane on the target and says where to attach", async () => {
    const l = await lab();
    const w1 = await l.window(["sleep", "100000"], "one");
    const w2a = await l.window(["sleep", "100000"], "two");
    const w2b = (await l.t.run("split-window", "-d", "-P", "-F", "#{pane_id}", "-t", w2a, "sleep", "100000")).trim();
    await l.t.run("select-window", "-t", w1);
    const flags = async (p: string): Promise<string> => (await l.t.run("display-message", "-p", "-t", p, "#{window_active} #{pane_active}")).trim();
    expect(await flags(w2b)).toBe("0 0");
    const item = await listed(l.sb, w2b);
    const [sessionId, windowId] = (await l.t.run("display-message", "-p", "-t", w2b, "#{session_id} #{window_id}")).trim().split(" ");
    const r = await ok<AttachResult>(l.sb, "attach", { request_ref: rref(), ref: item.ref });
    expect(r.result).toEqual({ kind: "local", ssh_target: null, tmux_socket: r.result.tmux_socket, session_id: sessionId as string, window_id: windowId as string, pane_id: w2b });
    // the default server of the daemon's TMUX_TMPDIR: null (tmux's default) or that socket's path
    const socketPath = (await l.t.run("display-message", "-p", "#{socket_path}")).trim();
    if (r.result.tmux_socket !== null) expect(r.result.tmux_socket).toEqual({ path: socketPath });
    expect(await flags(w2b)).toBe("1 1");
    expect(await flags(w2a)).toBe("1 0");
    expect(await flags(w1)).toBe("0 1");
  }, 30_000);

  test("race: an agent restart (respawn-pane -k) against a send: the send is rejected or reaches the OLD process, never the new one", async () => {
    const l = await lab();
    const { pane, item } = await agentPane(l, [l.recorder, l.dir]);
    // 20 rounds of text + Enter (the Enter is paced ~120 ms after the text), then 20 of text alone
    // with the restart swept finely over the first milliseconds of the send's path
    const ROUNDS = 40;
    const outcomes: Record<string, number> = {};
    const rows: string[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const enter = i < 20;
      const delay = enter ? (i * 7) % 45 : (i - 20) % 20; // ms between starting the send and the restart
      const oldPid = await l.panePid(pane);
      // a view-output runs the daemon's fresh scan: it knows the current runtime right away (the
      // view-output itself fails closed, E_RUNTIME_STALE, when the runtime changed under it)
      await act(l.sb, "view-output", { request_ref: rref("nudge"), ref: item.ref, lines: 1 });
      const cur = await listed(l.sb, pane, (p) => p.agent?.pid === oldPid && p.runtime_ref !== null, `round ${i}: runtime of pid ${oldPid}`);
      const text = `round-${i}-payload`;
      const t0 = performance.now();
      const sendP = act(l.sb, "send", { request_ref: rref("race"), ref: cur.runtime_ref as string, text, enter });
      await Bun.sleep(delay);
      await l.t.run("respawn-pane", "-k", "-t", pane, l.recorder, l.dir);
      const r = await sendP;
      const ms = Math.round(performance.now() - t0);
      const newPid = await l.panePid(pane);
      expect(newPid).not.toBe(oldPid);
      // a marker typed straight into the new process: whatever the send put there comes before it
      const mark = `MARK${i}`;
      const newFile = join(l.dir, `got-${newPid}`);
      await waitFor(() => existsSync(newFile) || null, { timeoutMs: 5_000, message: "new recorder up" });
      await l.t.run("send-keys", "-t", pane, "-l", "--", mark);
      const gotNew = (await waitFile(newFile, (s) => s.includes(mark), `round ${i}: marker in the new process`)).slice(0, -mark.length);
      const oldAll = readText(join(l.dir, `got-${oldPid}`));
      const prev = `MARK${i - 1}`;
      const gotOld = oldAll.includes(prev) ? oldAll.slice(oldAll.indexOf(prev) + prev.length) : oldAll;
      const code = r.status === 200 ? "sent" : `rejected ${(r.body as { error?: { code?: string } })?.error?.code ?? r.status}`;
      const where = (s: string): string => [s.includes(text) ? "text" : "", s.includes("\n") ? "enter" : ""].filter((x) => x !== "").join("+") || "nothing";
      const outcome = `${enter ? "text+enter" : "text only"}: ${code}; old got ${where(gotOld)}; new got ${where(gotNew)}`;
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      rows.push(`${String(i).padStart(2)}: restart +${String(delay).padStart(2)} ms, answer after ${String(ms).padStart(3)} ms: ${outcome}`);
    }
    console.log(`[actions] restart-vs-send race, ${ROUNDS} rounds:\n  ${rows.join("\n  ")}\n  totals ${JSON.stringify(outcomes, null, 1)}`);
    const bad = Object.keys(outcomes).filter((k) => !k.endsWith("new got nothing") || !/: (sent|rejected E_RUNTIME_STALE|rejected E_REF_NOT_FOUND);/.test(k));
    expect(bad).toEqual([]);
  }, 120_000);

  test("TC-030 kill: signal mode needs a known pid (E_PID_UNAVAILABLE), INT/TERM reach the agent; a pid that is gone fails closed; key mode sends C-c", async () => {
    const l = await lab();
    // a plain shell pane: no agent, no pid
    const plain = await l.window(["sh", "-c", "exec sleep 100000"]);
    const plainRef = (await l.pane(plain)).ref;
    const d = await fails(l.sb, "kill", { request_ref: rref(), ref: plainRef, mode: "signal", signal: "TERM" }, "E_PID_UNAVAILABLE", 409);
    expect(d.action_id).toMatch(/^act-/);
    expect(pidAlive(await l.panePid(plain))).toBe(true);
    // TERM/KILL need signal mode
    await fails(l.sb, "kill", { request_ref: rref(), ref: plainRef, signal: "TERM" }, "E_BAD_REQUEST", 400);
    await fails(l.sb, "kill", { request_ref: rref(), ref: plainRef, mode: "key", signal: "KILL" }, "E_BAD_REQUEST", 400);

    // the fake agent runs under a shell that outlives it
    const under = (): string[] => ["sh", "-c", `${shq(l.t.agent("claude")[0] as string)} 100000; exec sleep 100000`];
    for (const signal of ["TERM", "INT", "KILL"] as const) {
      const { item } = await agentPane(l, under());
      const pid = item.agent?.pid as number;
      expect(pidAlive(pid)).toBe(true);
      const r = await ok<KillResult>(l.sb, "kill", { request_ref: rref(), ref: item.runtime_ref as string, mode: "signal", signal });
      expect(r.result).toEqual({ mode: "signal", signal, pid });
      await waitFor(() => !pidAlive(pid), { timeoutMs: 5_000, message: `pid ${pid} gone after ${signal}` });
      // the daemon sees the runtime end
      await listed(l.sb, item.identity.pane_id, (p) => p.agent === null, "runtime ended");
    }

    // a pid that is gone (killed behind the daemon's back, just now): fails closed, nothing signalled
    const { item } = await agentPane(l, under());
    const pid = item.agent?.pid as number;
    const shellPid = await l.panePid(item.identity.pane_id);
    process.kill(pid, "SIGKILL");
    const r = await act(l.sb, "kill", { request_ref: rref(), ref: item.runtime_ref as string, mode: "signal", signal: "TERM" });
    expect([409, 404]).toContain(r.status);
    const e = expectErrorEnvelope(r.body, r.status === 409 ? "E_RUNTIME_STALE" : "E_REF_NOT_FOUND");
    console.log(`[actions] kill --mode signal on a pid killed just before: ${e.code}: ${e.message}`);
    expect(e.details.action_id).toMatch(/^act-/);
    // the pane's shell (now `sleep`, same pid) was not signalled
    await waitFor(async () => (await l.t.run("display-message", "-p", "-t", item.identity.pane_id, "#{pane_current_command}")).trim() === "sleep", { timeoutMs: 5_000, message: "the shell went on" });
    expect(pidAlive(shellPid)).toBe(true);

    // key mode (the default): C-c to the pane's foreground process group
    const marker = join(l.dir, "int");
    const trap = await l.window(["sh", "-c", `trap 'echo got-INT >> ${shq(marker)}' INT; while :; do sleep 1; done`]);
    const k = await ok<KillResult>(l.sb, "kill", { request_ref: rref(), ref: (await l.pane(trap)).ref });
    expect(k.result).toEqual({ mode: "key", signal: "INT", pid: null });
    await waitFile(marker, (s) => s === "got-INT\n", "SIGINT from C-c");
  }, 90_000);

  test("TC-031 an action and its events: GET /v1/actions lists it with its result; the events table has action.<type>.requested and .completed/.failed with its action_id", async () => {
    const l = await lab();
    const out = join(l.dir, "audit");
    const pane = await l.catPane(out);
    const item = await l.pane(pane);
    const secret = "hunter2-not-for-the-audit";
    const sent = await ok<SendResult>(l.sb, "send", { request_ref: rref("audit"), ref: item.ref, text: secret, requested_by: "tester@host pid 1" });
    const failed = await fails(l.sb, "kill", { request_ref: rref("audit"), ref: item.ref, mode: "signal" }, "E_PID_UNAVAILABLE", 409);
    const failedId = failed.action_id as string;

    const list = (await rawFetch(l.sb, "/v1/actions")).body as ActionsResponse;
    expect(list.schema_version).toBe(1);
    const rec = list.items.find((a) => a.action_id === sent.action_id);
    expect(rec).toMatchObject({
      action_type: "send",
      ref: item.ref,
      target: "host",
      pane_id: pane,
      runtime_id: null,
      requested_by: "tester@host pid 1",
      result_code: "ok",
      result: { result: sent.result },
    });
    expect(rec?.payload).toMatchObject({ text_chars: secret.length });
    expect(JSON.stringify(list)).not.toContain(secret);
    const frec = list.items.find((a) => a.action_id === failedId);
    expect(frec).toMatchObject({ action_type: "kill", result_code: "E_PID_UNAVAILABLE" });
    // newest first
    expect(list.items.findIndex((a) => a.action_id === failedId)).toBeLessThan(list.items.findIndex((a) => a.action_id === sent.action_id));
    const one = (await rawFetch(l.sb, "/v1/actions?limit=1")).body as ActionsResponse;
    expect(one.items.map((a) => a.action_id)).toEqual([failedId]);

    const events = withDb(l.sb.paths.db, (db) =>
      db.query<{ event_type: string; action_id: string; source: string; target_id: string; pane_id: string }, [string, string]>("SELECT event_type, action_id, source, target_id, pane_id FROM events WHERE action_id IN (?, ?) ORDER BY seq").all(sent.action_id, failedId),
    );
    expect(events).toEqual([
      { event_type: "action.send.requested", action_id: sent.action_id, source: "daemon", target_id: "host", pane_id: pane },
      { event_type: "action.send.completed", action_id: sent.action_id, source: "daemon", target_id: "host", pane_id: pane },
      { event_type: "action.kill.requested", action_id: failedId, source: "daemon", target_id: "host", pane_id: pane },
      { event_type: "action.kill.failed", action_id: failedId, source: "daemon", target_id: "host", pane_id: pane },
    ]);
    const snap = withDb(l.sb.paths.db, (db) =>
      db.query<{ target_id: string; pane_id: string; ttl: number }, [string]>("SELECT s.target_id, s.pane_id, s.expires_at - s.observed_at AS ttl FROM actions a JOIN action_snapshots s ON s.snapshot_id = a.snapshot_id WHERE a.action_id = ?").get(sent.action_id),
    );
    expect(snap).toEqual({ target_id: "host", pane_id: pane, ttl: 30_000 });
    expect(readText(out)).toBe(secret);
  }, 30_000);

  test("TC-018 TC-032 TC-053 every error of the action API is the envelope with its stable code and the status docs/api.md gives", async () => {
    const l = await lab();
    const documented = docStatuses();
    const { pane, item } = await agentPane(l, l.t.agent("claude"));
    const plainPane = await l.window(["sleep", "100000"]);
    const plain = await l.pane(plainPane);
    await l.t.run("respawn-pane", "-k", "-t", pane, ...l.t.agent("claude"));
    await listed(l.sb, pane, (p) => p.runtime_ref !== null && p.runtime_ref !== item.runtime_ref, "new runtime");
    const used = rref("used");
    await ok(l.sb, "view-output", { request_ref: used, ref: plain.ref, lines: 1 });

    const seen = new Set<string>();
    const check = async (what: string, type: string, body: unknown, code: string, init?: RequestInit): Promise<void> => {
      const status = documented.get(code);
      if (status === undefined) throw new Error(`${code} has no HTTP status in docs/api.md`);
      const r = init === undefined ? await act(l.sb, type, body) : await rawFetch(l.sb, `/v1/actions/${type}`, init);
      if (r.status !== status || (r.body as { error?: { code?: string } })?.error?.code !== code) {
        throw new Error(`${what}: expected ${status} ${code}, got ${r.status} ${r.text.slice(0, 300)}`);
      }
      expectErrorEnvelope(r.body, code);
      seen.add(code);
    };
    const base = { ref: plain.ref };
    await check("not a ref", "send", { ...base, request_ref: rref(), ref: "nonsense", text: "x" }, "E_REF_INVALID");
    await check("bad pane ref", "attach", { ...base, request_ref: rref(), ref: "pane:host/main/1/%1" }, "E_REF_INVALID");
    await check("bad percent-encoding", "view-output", { ...base, request_ref: rref(), ref: "pane:host/%ZZ/@1/%1" }, "E_REF_INVALID_ENCODING");
    await check("no such pane", "send", { ...base, request_ref: rref(), ref: "pane:host/nosuch/@999/%999", text: "x" }, "E_REF_NOT_FOUND");
    await check("no such target", "attach", { ...base, request_ref: rref(), ref: "pane:elsewhere/s/@1/%1" }, "E_REF_NOT_FOUND");
    await check("unknown runtime", "kill", { ...base, request_ref: rref(), ref: "runtime:0123456789abcdef0123" }, "E_REF_NOT_FOUND");
    await check("ended runtime", "send", { ...base, request_ref: rref(), ref: item.runtime_ref, text: "x" }, "E_RUNTIME_STALE");
    await check("if_runtime", "attach", { ...base, request_ref: rref(), if_runtime: item.runtime_ref }, "E_RUNTIME_STALE");
    await check("if_state", "send", { ...base, request_ref: rref(), if_state: ["waiting_input"], text: "x" }, "E_PRECONDITION_FAILED");
    await check("if_updated_within", "view-output", { ...base, request_ref: rref(), if_updated_within_ms: 0 }, "E_PRECONDITION_FAILED");
    await check("reused key", "view-output", { request_ref: used, ref: plain.ref, lines: 2 }, "E_IDEMPOTENCY_CONFLICT");
    await check("no pid", "kill", { ...base, request_ref: rref(), mode: "signal" }, "E_PID_UNAVAILABLE");
    await check("no request_ref", "send", { ref: plain.ref, text: "x" }, "E_BAD_REQUEST");
    await check("short request_ref", "send", { request_ref: "abc", ref: plain.ref, text: "x" }, "E_BAD_REQUEST");
    await check("unknown field", "attach", { ...base, request_ref: rref(), extra: 1 }, "E_BAD_REQUEST");
    await check("nothing to send", "send", { ...base, request_ref: rref() }, "E_BAD_REQUEST");
    await check("bad key token", "send", { ...base, request_ref: rref(), keys: ["C-c; kill-server"] }, "E_BAD_REQUEST");
    await check("bad state", "attach", { ...base, request_ref: rref(), if_state: ["sleeping"] }, "E_BAD_REQUEST");
    await check("bad mode", "kill", { ...base, request_ref: rref(), mode: "nuke" }, "E_BAD_REQUEST");
    await check("not JSON", "send", null, "E_BAD_REQUEST", { method: "POST", headers: { "content-type": "application/json" }, body: "{nope" });
    await check("not JSON media", "send", null, "E_UNSUPPORTED_MEDIA_TYPE", { method: "POST", headers: { "content-type": "text/plain" }, body: JSON.stringify({ ...base, request_ref: rref() }) });
    await check("> 4 MiB body", "send", null, "E_PAYLOAD_TOO_LARGE", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ ...base, request_ref: rref(), text: "x".repeat(5 * 1024 * 1024) }) });
    await check("unknown action", "explode", { ...base, request_ref: rref() }, "E_NOT_FOUND");
    await check("GET on an action", "send", null, "E_METHOD_NOT_ALLOWED", { method: "GET" });
    const lim = await rawFetch(l.sb, "/v1/actions?limit=0");
    expect(lim.status).toBe(400);
    expectErrorEnvelope(lim.body, "E_BAD_REQUEST");
    const unk = await rawFetch(l.sb, "/v1/actions?since=1");
    expect(unk.status).toBe(400);
    expectErrorEnvelope(unk.body, "E_BAD_REQUEST");
    // nothing reached the panes
    expect((await l.t.run("capture-pane", "-p", "-t", plainPane)).trim()).toBe("");
    console.log(`[actions] error codes checked against docs/api.md: ${[...seen].toSorted().join(" ")}`);
  }, 60_000);
  test("E_SNAPSHOT_EXPIRED: sends queued behind others on one pane for more than 30 s are refused, not typed late", async () => {
    const l = await lab();
    const out = join(l.dir, "queue");
    const pane = await l.catPane(out, { canonical: true });
    const ref = (await l.pane(pane)).ref;
    // each send holds the pane for its paced Enter (~130 ms): 320 of them queue for longer than the snapshot's 30 s
    const N = 320;
    const texts = Array.from({ length: N }, (_, i) => `q${String(i).padStart(3, "0")}`);
    const t0 = performance.now();
    const rs = await Promise.all(texts.map((text) => act(l.sb, "send", { request_ref: rref("queue"), ref, text, enter: true }, 90_000)));
    const ms = Math.round(performance.now() - t0);
    const sent = texts.filter((_, i) => rs[i]?.status === 200);
    const expired = texts.filter((_, i) => rs[i]?.status === 409 && (rs[i]?.body as { error?: { code?: string } })?.error?.code === "E_SNAPSHOT_EXPIRED");
    console.log(`[actions] ${N} queued sends: ${sent.length} sent, ${expired.length} E_SNAPSHOT_EXPIRED, in ${ms} ms`);
    expect(sent.length + expired.length).toBe(N);
    expect(expired.length).toBeGreaterThan(0);
    const e = expectErrorEnvelope(rs[texts.indexOf(expired[0] as string)]?.body, "E_SNAPSHOT_EXPIRED");
    expect(e.details.action_id).toMatch(/^act-/);
    expect(Date.parse(e.details.expires_at as string)).toBeGreaterThan(0);
    // docs/api.md gives 409 for it
    expect(docStatuses().get("E_SNAPSHOT_EXPIRED")).toBe(409);
    // exactly the sent ones were typed, each whole; the expired ones never
    await ok(l.sb, "send", { request_ref: rref(), ref, text: "last", enter: true });
    const lines = (await waitFile(out, (x) => x.endsWith("last\n"), "all sent lines", 20_000)).split("\n").slice(0, -2);
    expect(lines.toSorted()).toEqual(sent.toSorted());
  }, 120_000);

  test("CLI: send (--text, --stdin, --key, --enter), view-output, kill --yes, attach --print, actions drive the same API; --json prints its answer; --request-ref replays", async () => {
    const l = await lab();
    const out = join(l.dir, "cli");
    const pane = await l.catPane(out);
    const ref = (await l.pane(pane)).ref;
    const cli = (args: string[], stdin?: string): ReturnType<typeof runCli> => runCli(l.sb, args, { env: CLI_ENV, timeoutMs: 30_000, ...(stdin === undefined ? {} : { stdin }) });

    const text = `a 'b' "c" $(touch /tmp/agtmux-cli-pwned) \`x\` ; | $HOME 日本`;
    const s1 = await cli(["send", ref, "--text", text, "--json"]);
    expect(s1).toMatchObject({ code: 0, stderr: "" });
    const r1 = JSON.parse(s1.stdout) as ActionResponse<SendResult>;
    expect(r1).toMatchObject({ schema_version: 1, action_type: "send", replayed: false, result_code: "ok", result: { via: "keys", chars: [...text].length, enter: false } });
    expect(r1.pane.identity.pane_id).toBe(pane);
    await waitFile(out, (s) => s === text, "--text, literally");
    expect(existsSync("/tmp/agtmux-cli-pwned")).toBe(false);
    const s2 = await cli(["send", ref, "--text=-l -H 41"]);
    expect(s2.code).toBe(0);
    expect(s2.stdout).toMatch(/^sent \d+ chars to pane:host\/base\/@\d+\/%\d+ .*\[act-/m);
    await waitFile(out, (s) => s.endsWith("-l -H 41"), "--text=-l -H 41");
    const s3 = await cli(["send", ref, "--stdin", "--enter"], "pasted one\npasted 'two'\n");
    expect(s3.code).toBe(0);
    await waitFile(out, (s) => s.endsWith("-l -H 41pasted one\npasted 'two'\n"), "--stdin pasted (one trailing newline dropped) + Enter");
    const s4 = await cli(["send", ref, "--key", "Escape", "--key", "x", "--json"]);
    expect((JSON.parse(s4.stdout) as ActionResponse<SendResult>).result).toMatchObject({ keys: ["Escape", "x"] });
    await waitFile(out, (s) => s.endsWith(`'two'\n${ESC}x`), "--key Escape --key x");
    // control characters without --paste: refused before anything is sent (E_USAGE, exit 2)
    const s5 = await cli(["send", ref, "--text", "two\nlines", "--json"]);
    expect(s5.code).toBe(2);
    expectErrorEnvelope(JSON.parse(s5.stdout), "E_USAGE");

    // --request-ref: a replay answers the stored result and types nothing
    const key = rref("clikey");
    const a = JSON.parse((await cli(["send", ref, "--text", "|once", "--request-ref", key, "--json"])).stdout) as ActionResponse;
    const b = JSON.parse((await cli(["send", ref, "--text", "|once", "--request-ref", key, "--json"])).stdout) as ActionResponse;
    expect(b).toMatchObject({ action_id: a.action_id, replayed: true });
    await ok(l.sb, "send", { request_ref: rref(), ref, text: "|end" });
    expect(await waitFile(out, (s) => s.endsWith("|end"), "marker")).toEndWith(`${ESC}x|once|end`);

    // view-output prints the lines
    const vpane = await l.window(["sh", "-c", "seq -f 'row-%02g' 1 30; exec cat"]);
    await waitFor(async () => (await l.t.run("capture-pane", "-p", "-t", vpane)).includes("row-30"), { timeoutMs: 5_000, message: "rows printed" });
    const v = await cli(["view-output", (await l.pane(vpane)).ref, "--lines", "3"]);
    expect(v).toMatchObject({ code: 0, stdout: "row-28\nrow-29\nrow-30\n" });
    const vj = JSON.parse((await cli(["view-output", (await l.pane(vpane)).ref, "--lines", "3", "--json"])).stdout) as ActionResponse<ViewOutputResult>;
    expect(vj.result).toMatchObject({ text: "row-28\nrow-29\nrow-30", lines: 3, requested_lines: 3 });

    // kill: no terminal and no --yes is a usage error and sends nothing; --yes sends C-c
    const marker = join(l.dir, "cli-int");
    const trap = await l.window(["sh", "-c", `trap 'echo got-INT >> ${shq(marker)}' INT; while :; do sleep 1; done`]);
    const trapRef = (await l.pane(trap)).ref;
    const k0 = await cli(["kill", trapRef, "--json"]);
    expect(k0.code).toBe(2);
    expectErrorEnvelope(JSON.parse(k0.stdout), "E_USAGE");
    const k1 = await cli(["kill", trapRef, "--yes", "--json"]);
    expect(k1.code).toBe(0);
    expect((JSON.parse(k1.stdout) as ActionResponse<KillResult>).result).toEqual({ mode: "key", signal: "INT", pid: null });
    expect(await waitFile(marker, (s) => s.length > 0, "C-c from the CLI")).toBe("got-INT\n");

    // attach --print: the daemon selected the pane; the CLI prints the command instead of running it
    await l.t.run("select-window", "-t", "base:0");
    const at = await cli(["attach", ref, "--print"]);
    expect(at.code).toBe(0);
    const sessionId = (await l.t.run("display-message", "-p", "-t", pane, "#{session_id}")).trim();
    expect(at.stdout).toContain("attach-session");
    expect(at.stdout).toContain(sessionId);
    expect((await l.t.run("display-message", "-p", "-t", pane, "#{window_active} #{pane_active}")).trim()).toBe("1 1");
    const aj = JSON.parse((await cli(["attach", ref, "--json"])).stdout) as ActionResponse<AttachResult> & { command?: { how: string; argv: string[] } };
    expect(aj.result).toMatchObject({ kind: "local", ssh_target: null, pane_id: pane, session_id: sessionId });
    expect(aj.command?.argv).toContain("attach-session");

    // actions --json is GET /v1/actions
    const list = JSON.parse((await cli(["actions", "--json", "--limit", "100"])).stdout) as ActionsResponse;
    const api = (await rawFetch(l.sb, "/v1/actions?limit=100")).body as ActionsResponse;
    expect({ ...list, generated_at: "" }).toEqual({ ...api, generated_at: "" });
    expect(list.items.find((x) => x.action_id === a.action_id)?.requested_by).toMatch(/@.+ pid \d+$/);
    const table = await cli(["actions"]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/send keys Escape x\s+pane:host\/base\/@\d+\/%\d+\s+ok/);
    expect(table.stdout).toMatch(/kill C-c\s+pane:host\/base\/@\d+\/%\d+\s+ok/);
    expect(table.stdout).not.toContain("pasted one"); // sizes, not text
  }, 90_000);

  test("TC-032 TC-053 the CLI's --json prints the API's error envelope (same code, message, details) and exits with the class docs/cli-actions.md gives", async () => {
    const l = await lab();
    const exits = docExitCodes();
    const { pane, item } = await agentPane(l, l.t.agent("claude"));
    const plain = await l.pane(await l.window(["sleep", "100000"]));
    await l.t.run("respawn-pane", "-k", "-t", pane, ...l.t.agent("claude"));
    await listed(l.sb, pane, (p) => p.runtime_ref !== null && p.runtime_ref !== item.runtime_ref, "new runtime");
    const used = rref("used");
    await ok(l.sb, "send", { request_ref: used, ref: plain.ref, text: "x" });

    const seen: string[] = [];
    /** the same request through the API and the CLI: the same envelope, the documented exit code */
    const same = async (code: string, api: { type: ActType; body: Record<string, unknown> }, argv: string[]): Promise<void> => {
      const r = await act(l.sb, api.type, { request_ref: rref(), ...api.body });
      const e = expectErrorEnvelope(r.body, code);
      const c = await runCli(l.sb, [...argv, "--json"], { env: CLI_ENV, timeoutMs: 30_000 });
      let env: unknown;
      try {
        env = JSON.parse(c.stdout);
      } catch {
        throw new Error(`agtmux ${argv.join(" ")} --json printed no JSON (exit ${c.code}): ${c.stdout}${c.stderr}`);
      }
      const ce = expectErrorEnvelope(env, code);
      const strip = (d: Record<string, unknown>): Record<string, unknown> => Object.fromEntries(Object.entries(d).filter(([k]) => k !== "action_id"));
      expect(ce.message).toBe(e.message);
      expect(strip(ce.details)).toEqual(strip(e.details));
      expect(c.code).toBe(exits.get(code) as number);
      seen.push(`${code}=${c.code}`);
    };
    await same("E_REF_INVALID", { type: "send", body: { ref: "pane:nope", text: "x" } }, ["send", "pane:nope", "--text", "x"]);
    await same("E_REF_INVALID_ENCODING", { type: "attach", body: { ref: "pane:host/%ZZ/@1/%1" } }, ["attach", "pane:host/%ZZ/@1/%1"]);
    await same("E_REF_NOT_FOUND", { type: "view-output", body: { ref: "pane:host/nosuch/@999/%999" } }, ["view-output", "pane:host/nosuch/@999/%999"]);
    await same("E_RUNTIME_STALE", { type: "send", body: { ref: item.runtime_ref, text: "x" } }, ["send", item.runtime_ref as string, "--text", "x"]);
    await same("E_RUNTIME_STALE", { type: "kill", body: { ref: item.ref, if_runtime: item.runtime_ref } }, ["kill", item.ref, "--if-runtime", item.runtime_ref as string, "--yes"]);
    await same("E_PRECONDITION_FAILED", { type: "send", body: { ref: plain.ref, text: "x", if_state: ["waiting_input"] } }, ["send", plain.ref, "--text", "x", "--if-state", "waiting_input"]);
    await same("E_PID_UNAVAILABLE", { type: "kill", body: { ref: plain.ref, mode: "signal", signal: "TERM" } }, ["kill", plain.ref, "--mode", "signal", "--signal", "TERM", "--yes"]);
    // what the daemon refuses as E_BAD_REQUEST the CLI refuses locally as E_USAGE: the same class (exit 2), nothing recorded
    const before = ((await rawFetch(l.sb, "/v1/actions?limit=1000")).body as ActionsResponse).items.length;
    for (const [code, argv] of [
      ["E_BAD_REQUEST", ["send", plain.ref, "--text", "a\u0007b"]],
      ["E_BAD_REQUEST", ["view-output", plain.ref, "--lines", "0"]],
      ["E_BAD_REQUEST", ["send", plain.ref, "--key", "C-c; kill-server"]],
    ] as const) {
      const u = await runCli(l.sb, [...argv, "--json"], { env: CLI_ENV });
      expectErrorEnvelope(JSON.parse(u.stdout), "E_USAGE");
      expect(u.code).toBe(exits.get(code) as number);
      expect(u.code).toBe(exits.get("E_USAGE") as number);
    }
    expect(((await rawFetch(l.sb, "/v1/actions?limit=1000")).body as ActionsResponse).items.length).toBe(before);
    seen.push(`E_USAGE/E_BAD_REQUEST=${exits.get("E_USAGE")}`);
    // a conflict names the stored action: the same details from both
    const api = await act(l.sb, "send", { request_ref: used, ref: plain.ref, text: "y" });
    const conflict = expectErrorEnvelope(api.body, "E_IDEMPOTENCY_CONFLICT");
    const c = await runCli(l.sb, ["send", plain.ref, "--text", "y", "--request-ref", used, "--json"], { env: CLI_ENV });
    expect(expectErrorEnvelope(JSON.parse(c.stdout), "E_IDEMPOTENCY_CONFLICT")).toEqual(conflict);
    expect(c.code).toBe(exits.get("E_IDEMPOTENCY_CONFLICT") as number);
    seen.push(`E_IDEMPOTENCY_CONFLICT=${c.code}`);
    // no daemon: exit 3 after the retries, the envelope on stdout
    await scope.stopAll();
    const t0 = performance.now();
    const down = await runCli(l.sb, ["send", plain.ref, "--text", "x", "--json"], { env: CLI_ENV, timeoutMs: 30_000 });
    expect(down.code).toBe(exits.get("E_DAEMON_UNREACHABLE") as number);
    expectErrorEnvelope(JSON.parse(down.stdout), "E_DAEMON_UNREACHABLE");
    seen.push(`E_DAEMON_UNREACHABLE=${down.code} (${Math.round(performance.now() - t0)} ms)`);
    console.log(`[actions] CLI exit codes: ${seen.join(" ")}`);
  }, 90_000);
});

/** code -> HTTP status from the tables in docs/api.md ("| E_X | 409 | …" and "| E_A, E_B | 400/409 | …") */
function docStatuses(): Map<string, number> {
  const md = readFileSync(join(ROOT, "docs", "api.md"), "utf8");
  const out = new Map<string, number>();
  for (const row of md.split("\n")) {
    const m = /^\|\s*(E_[A-Z_, E]+?)\s*\|\s*([0-9/]+)\s*\|/.exec(row);
    if (m === null) continue;
    const codes = (m[1] as string).split(/\s*,\s*/);
    const statuses = (m[2] as string).split("/").map(Number);
    if (codes.length !== statuses.length) throw new Error(`docs/api.md row does not pair codes and statuses: ${row}`);
    codes.forEach((c, i) => {
      if (!out.has(c)) out.set(c, statuses[i] as number);
    });
  }
  return out;
}

/** error code -> exit code from the table in docs/cli-actions.md ("| 4 | … | E_REF_INVALID, … |") */
function docExitCodes(): Map<string, number> {
  const md = readFileSync(join(ROOT, "docs", "cli-actions.md"), "utf8");
  const out = new Map<string, number>();
  for (const row of md.split("\n")) {
    const m = /^\|\s*(\d+)\s*\|[^|]*\|\s*(E_[A-Z_, E]+?)\s*\|\s*$/.exec(row);
    if (m === null) continue;
    for (const c of (m[2] as string).split(/\s*,\s*/)) out.set(c, Number(m[1]));
  }
  if (out.size < 20) throw new Error(`docs/cli-actions.md: only ${out.size} codes in the exit-code table`);
  return out;
}
