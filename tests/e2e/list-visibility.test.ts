/**
 * What `agtmux` / `agtmux list …` show, against the compiled binary and a real
 * tmux server on the sandbox's default socket (the one the daemon watches):
 * agent panes grouped by target/session, TC-021 (CLI --json is the API's JSON,
 * the table is drawn from the same data), TC-024 (awkward session names
 * round-trip through filters and refs), how fast a new pane shows up, a tmux
 * server that goes away and comes back, and colour only when asked for.
 */
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { type CliResult, ensureBinary, runCli } from "../helpers/binary.ts";
import type { Sandbox } from "../helpers/sandbox.ts";
import { waitFor } from "../helpers/wait.ts";
import type { ListResponse, PaneItem, SessionItem, SessionNameItem, WindowItem } from "../../src/wire/list.ts";
import { e2eScope, expectErrorEnvelope, hasAnsi, rawFetch, type SandboxTmux, stripVolatile, tmuxScope } from "./lib.ts";

const scope = e2eScope("list");
const tmuxes = tmuxScope();

/** CLI env: never autostart a second daemon behind the test's back; no colour unless a test asks. */
const CLI_ENV = { AGTMUX_NO_AUTOSTART: "1" };

async function cli(sb: Sandbox, args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  return await runCli(sb, args, { env: { ...CLI_ENV, ...env } });
}

async function cliJson<T>(sb: Sandbox, args: string[]): Promise<T> {
  const r = await cli(sb, [...args, "--json"]);
  if (r.code !== 0) throw new Error(`agtmux ${args.join(" ")} --json exited ${r.code}: ${r.stdout}${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

async function api<T>(sb: Sandbox, path: string): Promise<T> {
  const r = await rawFetch(sb, path);
  if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${r.text}`);
  return r.body as T;
}

const panesJson = (sb: Sandbox, args: string[] = []): Promise<ListResponse<PaneItem>> => cliJson(sb, ["list", "panes", ...args]);

/** RFC 3986 percent-encoding written independently of src/domain/refs.ts (only A-Za-z0-9-._~ stay literal). */
function pctEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Polls GET /v1/panes?all=1 until `ok` holds. */
async function untilPanes(sb: Sandbox, ok: (r: ListResponse<PaneItem>) => boolean, message: string, timeoutMs = 8_000): Promise<ListResponse<PaneItem>> {
  return await waitFor(
    async () => {
      const r = await api<ListResponse<PaneItem>>(sb, "/v1/panes?all=1");
      return ok(r) ? r : null;
    },
    { timeoutMs, message },
  );
}

/** The pane-id tokens of a rendered pane table, in order. */
function paneIdsInTable(text: string): string[] {
  return text
    .split("\n")
    .filter((l) => l.startsWith("  "))
    .map((l) => /\s(%\d+)\*?\s/.exec(l)?.[1])
    .filter((x): x is string => x !== undefined);
}

/** The text without SGR escapes. */
function stripSgr(s: string): string {
  // oxlint-disable-next-line no-control-regex -- stripping SGR escapes is the point
  return s.replace(/\u001b\[[0-9;]*m/g, "");
}

/**
 * A mixed topology: session "dev" (a shell, a claude split, a codex window),
 * session "ops" (gemini, and a shell window), session "solo" (cursor-agent).
 * Returns once the daemon sees all 6 panes with their 4 agents.
 */
async function mixedTopology(sb: Sandbox, t: SandboxTmux): Promise<void> {
  await t.newSession("dev");
  await t.run("split-window", "-t", "dev", ...t.agent("claude"));
  await t.run("new-window", "-d", "-t", "dev", "-n", "cx", ...t.agent("codex"));
  await t.newSession("ops", t.agent("gemini"));
  await t.run("new-window", "-d", "-t", "ops", "-n", "sh");
  await t.newSession("solo", t.agent("cursor-agent"));
}

async function seeMixed(sb: Sandbox): Promise<ListResponse<PaneItem>> {
  return await untilPanes(sb, (r) => r.summary.panes === 6 && r.summary.agent_panes === 4, "daemon sees 6 panes, 4 of them agents");
}

describe("agtmux list: visibility (compiled binary + real tmux)", () => {
  test("bare `agtmux` autostarts the daemon and lists the agent panes grouped by target/session; a shell pane only with --all", async () => {
    const sb = scope.box();
    const t = tmuxes.tmux(sb);
    await t.newSession("work");
    const claudePane = (await t.run("split-window", "-P", "-F", "#{pane_id}", "-t", "work", ...t.agent("claude"))).trim();
    await t.newSession("other", t.agent("codex"));
    const shellPane = (await t.run("list-panes", "-t", "work", "-F", "#{pane_id} #{pane_current_command}")).split("\n").find((l) => l !== "" && !l.includes("claude"))?.split(" ")[0] as string;
    // the agents exec'd (the pane's process is named claude/codex), so the daemon's first scan identifies them
    await waitFor(async () => (await t.run("list-panes", "-a", "-F", "#{pane_current_command}")).split("\n").filter((c) => c === "claude" || c === "codex").length === 2, {
      message: "fake agents running",
    });

    // no daemon yet: bare `agtmux` starts one, which scans before it answers
    const r = await runCli(sb, []);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines).toContain("host / other");
    expect(lines).toContain("host / work");
    const workAt = lines.indexOf("host / work");
    const row = lines.find((l) => l.includes(claudePane)) as string;
    expect(lines.indexOf(row)).toBeGreaterThan(workAt); // grouped under its session
    expect(row).toMatch(/\sclaude\s+unknown\s+\d+s\s+no_signal$/);
    expect(lines.some((l) => /\scodex\s+unknown\s/.test(l))).toBe(true);
    expect(r.stdout).not.toContain(shellPane);
    expect(lines.at(-1)).toBe("2 agent panes · 2 unknown · 3 panes in 2 sessions");

    const all = await cli(sb, ["list", "panes", "--all"]);
    expect(all.code).toBe(0);
    const shellRow = all.stdout.split("\n").find((l) => l.includes(` ${shellPane} `) || l.includes(` ${shellPane}* `));
    expect(shellRow).toBeDefined();
    expect(shellRow).toMatch(/\s-\s+-$/); // no state, no age: not an agent pane
    expect(paneIdsInTable(all.stdout).toSorted()).toEqual([claudePane, shellPane, paneIdsInTable(r.stdout).find((p) => p !== claudePane) as string].toSorted());

    // `agtmux` and `agtmux list panes` are the same command
    const listed = await cli(sb, ["list", "panes"]);
    expect(listed.stdout.replace(/\d+s /g, "Ns ")).toBe(r.stdout.replace(/\d+s /g, "Ns "));
  });

  test("TC-021 CLI --json equals GET /v1/… for the same query (panes, windows, sessions); the table shows the same rows", async () => {
    const sb = scope.box();
    const t = tmuxes.tmux(sb);
    await mixedTopology(sb, t);
    await scope.daemon(sb);
    const seen = await seeMixed(sb);
    // one agent waits for input, so the state/needs-action filters have something to find
    const claude = seen.items.find((p) => p.agent?.type === "claude") as PaneItem;
    const emitted = await cli(sb, ["emit", "--type", "state.waiting_input", "--source", "hook", "--pane", claude.identity.pane_id]);
    expect(emitted.code).toBe(0);
    await untilPanes(sb, (r) => r.items.some((p) => p.identity.pane_id === claude.identity.pane_id && p.state === "waiting_input"), "claude pane is waiting_input");

    type Case = { cli: string[]; query: string };
    const cases: Record<"panes" | "windows" | "sessions", Case[]> = {
      panes: [
        { cli: [], query: "" },
        { cli: ["--all"], query: "all=1" },
        { cli: ["--all", "--sort", "agent"], query: "all=1&sort=agent" },
        { cli: ["--sort", "state"], query: "sort=state" },
        { cli: ["--sort", "updated"], query: "sort=updated" },
        { cli: ["--all", "--sort", "session"], query: "all=1&sort=session" },
        { cli: ["--agent", "codex"], query: "agent=codex" },
        { cli: ["--state", "unknown"], query: "state=unknown" },
        { cli: ["--needs-action"], query: "needs_action=1" },
        { cli: ["--session", "ops", "--all"], query: "session=ops&all=1" },
        { cli: ["--target-session", "host/dev"], query: "target_session=host%2Fdev" },
        { cli: ["--target", "host", "--all"], query: "target=host&all=1" },
        { cli: ["--all-targets"], query: "all_targets=1" },
        { cli: ["--ref", claude.ref], query: `ref=${encodeURIComponent(claude.ref)}` },
        { cli: ["--ref", claude.runtime_ref as string], query: `ref=${encodeURIComponent(claude.runtime_ref as string)}` },
      ],
      windows: [
        { cli: [], query: "" },
        { cli: ["--with-agent-status"], query: "with_agent_status=1" },
        { cli: ["--sort", "state"], query: "sort=state" },
        { cli: ["--session", "dev", "--with-agent-status"], query: "session=dev&with_agent_status=1" },
        { cli: ["--target", "host", "--sort", "session"], query: "target=host&sort=session" },
      ],
      sessions: [
        { cli: [], query: "" },
        { cli: ["--agent-summary"], query: "agent_summary=1" },
        { cli: ["--group-by", "session-name"], query: "group_by=session-name" },
        { cli: ["--group-by", "session-name", "--agent-summary", "--sort", "state"], query: "group_by=session-name&agent_summary=1&sort=state" },
        { cli: ["--sort", "session"], query: "sort=session" },
        { cli: ["--target-session", "host/ops", "--agent-summary"], query: "target_session=host%2Fops&agent_summary=1" },
      ],
    };
    let compared = 0;
    for (const [kind, list] of Object.entries(cases) as Array<[keyof typeof cases, Case[]]>) {
      for (const c of list) {
        const path = `/v1/${kind}${c.query === "" ? "" : `?${c.query}`}`;
        // API, CLI, API: when both API reads agree the state did not move, and the CLI must equal them
        const { cliBody, apiBody } = await waitFor(
          async () => {
            const before = stripVolatile(await api<unknown>(sb, path));
            const fromCli = stripVolatile(await cliJson<unknown>(sb, ["list", kind, ...c.cli]));
            const after = stripVolatile(await api<unknown>(sb, path));
            return Bun.deepEquals(before, after) ? { cliBody: fromCli, apiBody: after } : null;
          },
          { timeoutMs: 10_000, message: `stable read of ${path}` },
        );
        expect({ path, body: cliBody }).toEqual({ path, body: apiBody });
        compared++;

        // the human table is drawn from the same items
        const body = apiBody as ListResponse<unknown>;
        const table = await cli(sb, ["list", kind, ...c.cli]);
        expect(table.code).toBe(0);
        expect(hasAnsi(table.stdout)).toBe(false);
        const lines = table.stdout.trimEnd().split("\n");
        const s = body.summary;
        expect(lines.at(-1)).toStartWith(`${s.agent_panes} agent pane${s.agent_panes === 1 ? "" : "s"}`);
        expect(lines.at(-1)).toEndWith(s.needs_action > 0 ? `${s.needs_action} need${s.needs_action === 1 ? "s" : ""} you` : `in ${s.sessions} session${s.sessions === 1 ? "" : "s"}`);
        if (kind === "panes") {
          const items = body.items as PaneItem[];
          expect({ path, ids: paneIdsInTable(table.stdout) }).toEqual({ path, ids: items.map((p) => p.identity.pane_id) });
          for (const p of items) {
            const row = lines.find((l) => new RegExp(`\\s${p.identity.pane_id}\\*?\\s`).test(l)) as string;
            expect(row).toContain(p.agent?.type ?? (p.current_command as string));
            expect(row).toContain(p.state ?? " - ");
          }
        } else if (kind === "windows") {
          const items = body.items as WindowItem[];
          const rows = lines.slice(1, 1 + items.length);
          expect(lines[0]).toStartWith("TARGET/SESSION");
          expect({ path, n: lines.length }).toEqual({ path, n: items.length + 2 });
          items.forEach((w, i) => {
            expect(rows[i]).toStartWith(`${w.identity.target}/${w.identity.session_name} `);
            expect(rows[i]).toContain(` ${w.identity.window_id}`);
            expect(rows[i]).toContain(w.top_state ?? "-");
          });
        } else if (body.filters.group_by === "session-name") {
          const items = body.items as SessionNameItem[];
          const rows = lines.slice(1, -1).filter((l) => !l.startsWith("  └"));
          expect(rows.map((l) => l.split(/\s{2,}/)[0])).toEqual(items.map((x) => x.identity.session_name));
        } else {
          const items = body.items as SessionItem[];
          const rows = lines.slice(1, -1);
          expect(rows.map((l) => (l.split(/\s{2,}/)[0] as string).replace(/ \(attached\)$/, ""))).toEqual(items.map((x) => `${x.identity.target}/${x.identity.session_name}`));
          items.forEach((x, i) => expect((rows[i] as string).split(/\s{2,}/).slice(1, 4)).toEqual([String(x.windows), String(x.panes), String(x.agent_panes)]));
        }
      }
    }
    expect(compared).toBe(26);
  }, 90_000);

  test("TC-024 session names with /, %, spaces, emoji and a leading dash round-trip through --target-session, --session and refs", async () => {
    const sb = scope.box();
    const t = tmuxes.tmux(sb);
    const names = ["a/b", "100%", "with spaces", "🚀 rocket", "-leading", "x:y.z"];
    for (const n of names) await t.newSession(n, t.agent("claude"));
    // tmux 3.3a replaces ':' and '.' in session names with '_' (they separate target parts)
    const listed = (await t.run("list-sessions", "-F", "#{session_name}")).trimEnd().split("\n").toSorted();
    expect(listed).toEqual(["-leading", "100%", "a/b", "with spaces", "x_y_z", "🚀 rocket"].toSorted());
    const sessions = listed;
    await scope.daemon(sb);
    await untilPanes(sb, (r) => r.summary.agent_panes === sessions.length, `${sessions.length} agent panes`);

    const refs = new Map<string, PaneItem>();
    for (const name of sessions) {
      const enc = pctEncode(name);
      const bySession = await panesJson(sb, [`--target-session=host/${enc}`, "--all"]);
      expect({ name, sessions: bySession.items.map((p) => p.identity.session_name) }).toEqual({ name, sessions: [name] });
      const pane = bySession.items[0] as PaneItem;
      expect(pane.agent?.type).toBe("claude");
      expect(pane.ref).toBe(`pane:host/${enc}/${pane.identity.window_id}/${pane.identity.pane_id}`);
      expect(bySession.summary.sessions).toBe(1);
      // lower-case hex decodes the same
      const lower = await panesJson(sb, [`--target-session=host/${enc.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase())}`]);
      expect(lower.items.map((p) => p.identity.pane_id)).toEqual([pane.identity.pane_id]);

      const byName = await panesJson(sb, [`--session=${name}`]);
      expect({ name, panes: byName.items.map((p) => p.identity.pane_id) }).toEqual({ name, panes: [pane.identity.pane_id] });
      // space-separated form too (a string flag's value is data, even when it starts with '-')
      const spaced = await panesJson(sb, ["--session", name]);
      expect(spaced.items.map((p) => p.identity.pane_id)).toEqual([pane.identity.pane_id]);

      // the ref copied from --json names exactly this pane, in JSON and in the table
      const byRef = await panesJson(sb, ["--ref", pane.ref]);
      expect(byRef.items.map((p) => [p.identity.session_name, p.identity.pane_id])).toEqual([[name, pane.identity.pane_id]]);
      const byRuntime = await panesJson(sb, ["--ref", pane.runtime_ref as string]);
      expect(byRuntime.items.map((p) => p.identity.pane_id)).toEqual([pane.identity.pane_id]);
      const human = await cli(sb, ["list", "panes", "--ref", pane.ref]);
      expect(human.code).toBe(0);
      expect(human.stdout.split("\n")[0]).toBe(`host / ${name}`);
      expect(paneIdsInTable(human.stdout)).toEqual([pane.identity.pane_id]);
      refs.set(name, pane);
    }
    // an unknown flag is still a usage error
    const dash = await cli(sb, ["list", "panes", "--sesion", "x", "--json"]);
    expect(dash.code).toBe(2);
    expectErrorEnvelope(JSON.parse(dash.stdout), "E_USAGE");

    // bad encodings: exit 1 and E_REF_INVALID_ENCODING, in --json as the error envelope
    const slash = refs.get("a/b") as PaneItem;
    const badRefs = [
      `pane:host/a%ZZb/${slash.identity.window_id}/${slash.identity.pane_id}`, // not hex
      `pane:host/100%/${slash.identity.window_id}/${slash.identity.pane_id}`, // truncated escape
      `pane:host/100%2/${slash.identity.window_id}/${slash.identity.pane_id}`,
      `pane:host/%C3%28/${slash.identity.window_id}/${slash.identity.pane_id}`, // invalid UTF-8
      `pane:host/%F0%9F%9A/${slash.identity.window_id}/${slash.identity.pane_id}`, // truncated UTF-8
      `pane:host/with spaces/${slash.identity.window_id}/${slash.identity.pane_id}`, // must be encoded
      `pane:host/🚀%20rocket/${slash.identity.window_id}/${slash.identity.pane_id}`,
    ];
    for (const ref of badRefs) {
      const r = await cli(sb, ["list", "panes", "--ref", ref, "--json"]);
      expect({ ref, code: r.code }).toEqual({ ref, code: 1 });
      expectErrorEnvelope(JSON.parse(r.stdout), "E_REF_INVALID_ENCODING");
      const h = await cli(sb, ["list", "panes", "--ref", ref]);
      expect(h.code).toBe(1);
      expect(h.stdout).toBe("");
      expect(h.stderr).toContain("[E_REF_INVALID_ENCODING]");
    }
    for (const ts of ["host/100%", "host/a%2", "host/%FF"]) {
      const r = await cli(sb, ["list", "panes", `--target-session=${ts}`, "--json"]);
      expect({ ts, code: r.code }).toEqual({ ts, code: 1 });
      expectErrorEnvelope(JSON.parse(r.stdout), "E_REF_INVALID_ENCODING");
    }

    // well-formed refs that match nothing: E_REF_NOT_FOUND, exit 1
    const rocket = refs.get("🚀 rocket") as PaneItem;
    const notFound = [
      "pane:host/nosuch/@1/%1",
      `pane:host/${pctEncode("🚀 rocket")}/${rocket.identity.window_id}/%99999`, // right session, no such pane
      `pane:host/${pctEncode("a/b")}/${rocket.identity.window_id}/${rocket.identity.pane_id}`, // a pane of another session
      `pane:host/a%2Fxb/${slash.identity.window_id}/${slash.identity.pane_id}`, // a session that does not exist ("a/xb")
      "runtime:rt-00000000000000000000000000000000",
    ];
    for (const ref of notFound) {
      const r = await cli(sb, ["list", "panes", "--ref", ref, "--json"]);
      expect({ ref, code: r.code }).toEqual({ ref, code: 1 });
      expectErrorEnvelope(JSON.parse(r.stdout), "E_REF_NOT_FOUND");
    }
    const unknownTarget = await cli(sb, ["list", "panes", "--target-session=nosuch/a%2Fb", "--json"]);
    expect(unknownTarget.code).toBe(1);
    expectErrorEnvelope(JSON.parse(unknownTarget.stdout), "E_REF_NOT_FOUND");
    // a well-formed target-session naming no session is an empty list, not an error
    const noSession = await panesJson(sb, ["--target-session=host/nosuch", "--all"]);
    expect(noSession.items).toEqual([]);
  }, 60_000);

  test("a new agent pane (split-window) shows in `list panes --json` within 3 s", async () => {
    const sb = scope.box();
    const t = tmuxes.tmux(sb);
    await t.newSession("main", t.agent("claude"));
    await scope.daemon(sb);
    await untilPanes(sb, (r) => r.summary.agent_panes === 1, "first agent pane");
    const timings: number[] = [];
    for (let i = 0; i < 3; i++) {
      const before = new Set((await panesJson(sb)).items.map((p) => p.identity.pane_id));
      const t0 = performance.now();
      const split = t.run("split-window", "-d", "-P", "-F", "#{pane_id}", "-t", "main", ...t.agent("claude"));
      const seen = await waitFor(
        async () => {
          const r = await panesJson(sb);
          return r.items.find((p) => !before.has(p.identity.pane_id) && p.agent?.type === "claude");
        },
        { timeoutMs: 3_000, intervalMs: 1, message: "the new agent pane is listed" },
      );
      timings.push(performance.now() - t0);
      expect(seen.identity.pane_id).toBe((await split).trim());
      expect(seen).toMatchObject({ state: "unknown", reason_code: "no_signal" });
    }
    console.log(`new pane visible via CLI after ${timings.map((ms) => `${ms.toFixed(0)} ms`).join(", ")} (each includes one CLI process round trip)`);
    for (const ms of timings) expect(ms).toBeLessThan(3_000);
  }, 30_000);

  test("the tmux server exits while the daemon runs: no panes, status still answers; a new server is picked up", async () => {
    const sb = scope.box();
    const t = tmuxes.tmux(sb);
    await t.newSession("first", t.agent("claude"));
    await t.run("new-window", "-t", "first");
    await scope.daemon(sb);
    await untilPanes(sb, (r) => r.summary.panes === 2 && r.summary.agent_panes === 1, "2 panes");

    await t.kill();
    const gone = await waitFor(
      async () => {
        const r = await panesJson(sb, ["--all"]);
        return r.items.length === 0 ? r : null;
      },
      { timeoutMs: 8_000, message: "panes gone after kill-server" },
    );
    expect(gone.summary).toMatchObject({ sessions: 0, windows: 0, panes: 0, agent_panes: 0 });
    expect(gone.partial).toBe(false); // no server is an empty topology, not a failure
    expect(gone.target_errors).toEqual([]);
    const bare = await cli(sb, []);
    expect(bare.code).toBe(0);
    expect(bare.stdout).toStartWith("No tmux panes found.");
    for (const kind of ["windows", "sessions"]) {
      const r = await cliJson<ListResponse<unknown>>(sb, ["list", kind]);
      expect(r.items).toEqual([]);
    }
    const status = await cli(sb, ["status"]);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/host\s+local\s+ok/);
    const statusJson = JSON.parse((await cli(sb, ["status", "--json"])).stdout) as { status: string };
    expect(statusJson.status).toBe("ok");

    // a new server on the same socket: the periodic scan finds it (no control client is left to tell us)
    const t0 = performance.now();
    await t.newSession("second", t.agent("codex"));
    const back = await waitFor(
      async () => {
        const r = await panesJson(sb);
        return r.items.length === 1 ? r : null;
      },
      { timeoutMs: 15_000, intervalMs: 50, message: "the new server's agent pane is listed" },
    );
    console.log(`new tmux server picked up after ${(performance.now() - t0).toFixed(0)} ms`);
    expect(back.items[0]?.identity.session_name).toBe("second");
    expect(back.items[0]?.agent?.type).toBe("codex");
    expect(back.summary.sessions).toBe(1);
    // and its control client makes the next change fast again
    await t.run("split-window", "-d", "-t", "second", ...t.agent("gemini"));
    await waitFor(async () => (await panesJson(sb)).items.length === 2, { timeoutMs: 3_000, message: "split on the new server listed" });
  }, 40_000);

  test("a session nobody attached to is not shown as attached (the daemon's own control clients do not count)", async () => {
    const sb = scope.box();
    const t = tmuxes.tmux(sb);
    await t.newSession("lonely", t.agent("claude"));
    await scope.daemon(sb);
    await untilPanes(sb, (r) => r.summary.agent_panes === 1, "agent pane");
    // wait for the daemon's read-only control client, then make a change so the daemon rescans
    await waitFor(async () => (await t.run("list-clients", "-F", "#{client_control_mode}")).includes("1"), { message: "daemon control client attached" });
    await t.run("rename-window", "-t", "lonely", "renamed");
    const r = await untilPanes(sb, (x) => x.items.some((p) => p.window_name === "renamed"), "rename seen");
    // regression: the daemon's own control client used to count as an attached client
    expect(r.items[0]?.session_attached).toBe(0);
    const sessions = await cli(sb, ["list", "sessions"]);
    expect(sessions.stdout).not.toContain("(attached)");
  });

  test("no ANSI escapes without a TTY or with NO_COLOR; FORCE_COLOR=1 colours the states; --json is never coloured", async () => {
    const sb = scope.box();
    const t = tmuxes.tmux(sb);
    await t.newSession("paint", t.agent("claude"));
    await t.run("new-window", "-t", "paint");
    await scope.daemon(sb);
    await untilPanes(sb, (r) => r.summary.agent_panes === 1 && r.summary.panes === 2, "panes");
    const GREY_UNKNOWN = "\u001b[90munknown\u001b[0m";
    const commands = [[], ["list", "panes", "--all"], ["list", "windows", "--with-agent-status"], ["list", "sessions", "--agent-summary"], ["list", "sessions", "--group-by", "session-name"]];
    for (const args of commands) {
      // no TTY (a pipe), no NO_COLOR: plain
      const plain = await cli(sb, args, { NO_COLOR: undefined, FORCE_COLOR: undefined });
      expect({ args, ansi: hasAnsi(plain.stdout + plain.stderr) }).toEqual({ args, ansi: false });
      expect(plain.stdout).toContain("unknown");
      for (const env of [{ NO_COLOR: "1" }, { NO_COLOR: "1", FORCE_COLOR: "1" }, { NO_COLOR: undefined, FORCE_COLOR: "0" }]) {
        const r = await cli(sb, args, env);
        expect({ args, env, ansi: hasAnsi(r.stdout) }).toEqual({ args, env, ansi: false });
        expect(r.stdout.replace(/\d+s /g, "Ns ")).toBe(plain.stdout.replace(/\d+s /g, "Ns ")); // same text
      }
      const forced = await cli(sb, args, { NO_COLOR: undefined, FORCE_COLOR: "1" });
      expect(forced.code).toBe(0);
      expect({ args, coloured: forced.stdout.includes(GREY_UNKNOWN) }).toEqual({ args, coloured: true });
      // stripped of its escapes it is the plain table (trailing blanks aside: see the next test)
      const unpainted = stripSgr(forced.stdout).replace(/[ ]+$/gm, "");
      expect(unpainted.replace(/\d+s /g, "Ns ")).toBe(plain.stdout.replace(/\d+s /g, "Ns "));
      const json = await cli(sb, [...(args.length === 0 ? ["list", "panes"] : args), "--json"], { NO_COLOR: undefined, FORCE_COLOR: "1" });
      expect(hasAnsi(json.stdout)).toBe(false);
    }

    // a real terminal (script(1) gives the CLI a pty): coloured by default, plain with NO_COLOR or TERM=dumb
    if (existsSync("/usr/bin/script")) {
      const viaPty = async (env: Record<string, string | undefined>): Promise<string> => {
        const p = Bun.spawn(["script", "-qfec", `'${ensureBinary()}' list panes`, "/dev/null"], {
          env: { ...sb.env, ...CLI_ENV, FORCE_COLOR: undefined, TERM: "xterm-256color", ...env } as Record<string, string | undefined> as Record<string, string>,
          stdin: "ignore",
          stdout: "pipe",
          stderr: "pipe",
        });
        const [out, code] = await Promise.all([new Response(p.stdout).text(), p.exited]);
        expect(code).toBe(0);
        expect(out).toContain("unknown");
        return out;
      };
      expect((await viaPty({ NO_COLOR: undefined })).includes(GREY_UNKNOWN)).toBe(true);
      expect(hasAnsi(await viaPty({ NO_COLOR: "1" }))).toBe(false);
      expect(hasAnsi(await viaPty({ NO_COLOR: undefined, TERM: "dumb" }))).toBe(false);
    }
  }, 60_000);

  test("coloured tables end their lines like plain ones (no trailing blanks before an empty painted cell)", async () => {
    const sb = scope.box();
    const t = tmuxes.tmux(sb);
    await t.newSession("paint");
    await scope.daemon(sb);
    await untilPanes(sb, (r) => r.summary.panes === 1, "the shell pane");
    const forced = await cli(sb, ["list", "panes", "--all"], { NO_COLOR: undefined, FORCE_COLOR: "1" });
    const row = stripSgr(forced.stdout).split("\n").find((l) => l.includes("%0")) as string;
    // regression: an empty coloured last cell used to keep the padding
    expect(row).toBe(row.trimEnd());
  });
});
