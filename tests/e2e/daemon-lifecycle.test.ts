/**
 * Daemon lifecycle against the compiled binary: file modes, the single-instance
 * lock, start/status/stop, crash recovery, graceful shutdown under load,
 * /v1/health, and autostart.
 */
import { describe, expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { AgtmuxClient } from "../../src/client/client.ts";
import { AgtmuxError } from "../../src/domain/errors.ts";
import { isLocked } from "../../src/platform/lock.ts";
import { runCli } from "../helpers/binary.ts";
import { waitFor } from "../helpers/wait.ts";
import { envelope, storedIds, uid, e2eScope } from "./lib.ts";

const { box, daemon } = e2eScope("life");

const mode = (p: string): number => lstatSync(p).mode & 0o777;

describe("daemon files and lock", () => {
  test("socket is 0600 in a 0700 directory; data dir 0700; DB, WAL and lock private (too-open dirs are tightened)", async () => {
    const sb = box();
    // pre-existing, too-open directories are tightened
    for (const dir of [sb.paths.home, sb.paths.socketDir]) {
      mkdirSync(dir, { recursive: true });
      chmodSync(dir, 0o755);
    }
    const d = await daemon(sb);
    expect(lstatSync(sb.paths.socket).isSocket()).toBe(true);
    expect(mode(sb.paths.socket).toString(8)).toBe("600");
    expect(mode(sb.paths.socketDir).toString(8)).toBe("700");
    expect(mode(sb.paths.home).toString(8)).toBe("700");
    expect(d.health.db.path).toBe(sb.paths.db);
    for (const f of [sb.paths.db, `${sb.paths.db}-wal`, sb.paths.lock]) {
      expect(existsSync(f)).toBe(true);
      // not world-readable; in fact private to the owner
      expect({ file: f, mode: (mode(f) & 0o077).toString(8) }).toEqual({ file: f, mode: "0" });
    }
  });

  test("a socket directory owned by another user is refused", async () => {
    const sb = box();
    mkdirSync(sb.paths.socketDir, { recursive: true, mode: 0o700 });
    chownSync(sb.paths.socketDir, 65_534, 65_534);
    const r = await runCli(sb, ["daemon"], { timeoutMs: 10_000 });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(sb.paths.socketDir);
    expect(r.stderr).toContain("owned by another user");
    expect(existsSync(sb.paths.socket)).toBe(false);
    expect(statSync(sb.paths.socketDir).uid).toBe(65_534);
  });

  test("a second foreground daemon exits non-zero and names the pid holding the lock", async () => {
    const sb = box();
    const d = await daemon(sb);
    const r = await runCli(sb, ["daemon"], { timeoutMs: 10_000 });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`pid ${d.health.pid}`);
    expect(r.stderr).toContain("E_DAEMON_RUNNING");
    // the first one is unharmed: same pid answers, socket still there
    const h = await d.client.health();
    expect(h.pid).toBe(d.health.pid);
    expect(h.stream_id).toBe(d.health.stream_id);
    expect(lstatSync(sb.paths.socket).isSocket()).toBe(true);
  });

  test("daemon start is idempotent; status exits 0 when running and 3 when not; stop releases lock and socket", async () => {
    const sb = box();
    const notYet = await runCli(sb, ["daemon", "status"]);
    expect(notYet.code).toBe(3);
    expect(notYet.stdout).toContain("not running");

    const a = await runCli(sb, ["daemon", "start"]);
    expect(a.code).toBe(0);
    const pid = Number(/^started: agtmux daemon pid (\d+)/.exec(a.stdout)?.[1]);
    expect(pid).toBeGreaterThan(0);

    const b = await runCli(sb, ["daemon", "start"]);
    expect(b.code).toBe(0);
    expect(b.stdout).toMatch(/^already running: agtmux daemon pid \d+/);
    expect(Number(/pid (\d+)/.exec(b.stdout)?.[1])).toBe(pid);

    const s = await runCli(sb, ["daemon", "status"]);
    expect(s.code).toBe(0);
    expect(s.stdout).toContain(`daemon pid ${pid}`);
    const sj = await runCli(sb, ["daemon", "status", "--json"]);
    expect(sj.code).toBe(0);
    expect(JSON.parse(sj.stdout)).toMatchObject({ running: true, pid });
    expect(isLocked(sb.paths.lock)).toEqual({ locked: true, holderPid: pid });

    const stop = await runCli(sb, ["daemon", "stop"]);
    expect(stop.code).toBe(0);
    expect(stop.stdout).toContain(`stopped agtmux daemon (pid ${pid})`);
    expect(isLocked(sb.paths.lock).locked).toBe(false);
    expect(existsSync(sb.paths.socket)).toBe(false);

    const after = await runCli(sb, ["daemon", "status"]);
    expect(after.code).toBe(3);
    expect(after.stdout).toContain("not running");
    const again = await runCli(sb, ["daemon", "stop"]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("not running");
  });

  test("kill -9 recovery: stale socket removed, lock free, new pid and stream_id, acknowledged events kept", async () => {
    const sb = box();
    const d1 = await daemon(sb);
    const ev = envelope();
    const res = await d1.client.postEvents([ev]);
    expect(res.results[0]?.status).toBe("pending_bind");

    d1.proc.kill("SIGKILL");
    await d1.proc.exited;
    expect(d1.proc.signalCode).toBe("SIGKILL");
    // Bun.serve leaves the socket behind; the kernel dropped the flock
    expect(lstatSync(sb.paths.socket).isSocket()).toBe(true);
    expect(isLocked(sb.paths.lock).locked).toBe(false);
    const st = await runCli(sb, ["daemon", "status"]);
    expect(st.code).toBe(3);

    const d2 = await daemon(sb);
    expect(d2.health.pid).not.toBe(d1.health.pid);
    expect(d2.health.stream_id).not.toBe(d1.health.stream_id);
    expect(lstatSync(sb.paths.socket).isSocket()).toBe(true);
    expect(isLocked(sb.paths.lock)).toEqual({ locked: true, holderPid: d2.health.pid });
    expect(storedIds(sb.paths.db, [String(ev.event_id)]).has(String(ev.event_id))).toBe(true);
  });

  test("a regular file at the socket path: the daemon refuses to start and leaves the file alone", async () => {
    const sb = box();
    mkdirSync(sb.paths.socketDir, { recursive: true, mode: 0o700 });
    const content = "precious, not a socket\n";
    writeFileSync(sb.paths.socket, content);
    const before = statSync(sb.paths.socket);
    const r = await runCli(sb, ["daemon"], { timeoutMs: 10_000 });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(sb.paths.socket);
    expect(r.stderr).toContain("not a socket");
    const after = lstatSync(sb.paths.socket);
    expect(after.isFile()).toBe(true);
    expect(after.ino).toBe(before.ino);
    expect(readFileSync(sb.paths.socket, "utf8")).toBe(content);
    // and it did not keep the lock
    expect(isLocked(sb.paths.lock).locked).toBe(false);
  });
  test("a daemon for another data dir on the same socket refuses to start and leaves the live socket alone", async () => {
    const sb = box();
    const d = await daemon(sb);
    const ino = lstatSync(sb.paths.socket).ino;
    const otherHome = `${sb.dir}/other-home`;
    const r = await runCli(sb, ["daemon"], { env: { AGTMUX_HOME: otherHome }, timeoutMs: 10_000 });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("another agtmux daemon is serving");
    expect(r.stderr).toContain(sb.paths.socket);
    expect(lstatSync(sb.paths.socket).ino).toBe(ino);
    expect((await d.client.health()).pid).toBe(d.health.pid);
    // the loser let go of its own lock
    expect(isLocked(`${otherHome}/agtmuxd.lock`).locked).toBe(false);
  });

  test("a daemon that holds the lock but does not answer: status exits 3 and names the pid", async () => {
    const sb = box();
    const d = await daemon(sb);
    d.proc.kill("SIGSTOP");
    try {
      const r = await runCli(sb, ["daemon", "status"]);
      expect(r.code).toBe(3);
      expect(r.stdout).toContain(`pid ${d.health.pid}`);
      expect(r.stdout).toContain("does not answer");
    } finally {
      d.proc.kill("SIGCONT");
    }
    expect((await d.client.health()).pid).toBe(d.health.pid);
  });

});

describe("graceful shutdown", () => {
  test("SIGTERM during a burst of concurrent ingests loses no acknowledged event", async () => {
    const sb = box();
    const d = await daemon(sb);
    const client = new AgtmuxClient({ socket: sb.paths.socket });
    const acked = new Set<string>();
    const failures: Array<{ code: string; status?: unknown; afterExit: boolean }> = [];
    const badResults: unknown[] = [];
    let exited = false;
    const exit = d.proc.exited.then((c) => {
      exited = true;
      return c;
    });

    const WORKERS = 8;
    const BATCH = 20;
    const worker = async (w: number): Promise<void> => {
      for (let i = 0; ; i++) {
        const afterExit = exited;
        const batch = Array.from({ length: BATCH }, (_, k) => envelope({ event_id: `burst-${w}-${i}-${k}-${uid("b")}`, pane_id: `%${w + 1}` }));
        try {
          const res = await client.postEvents(batch, { timeoutMs: 10_000 });
          if (res.results.length !== BATCH) badResults.push({ length: res.results.length });
          for (const r of res.results) {
            if (r.status === "rejected") badResults.push(r);
            else acked.add(r.event_id);
          }
        } catch (err) {
          failures.push(
            err instanceof AgtmuxError ? { code: err.code, status: err.details.status, afterExit } : { code: `non-agtmux: ${String(err)}`, afterExit },
          );
          // stop once a request made after the daemon exited has failed
          if (afterExit) return;
          // shutting down: back off a little instead of spinning on refused connects
          await Bun.sleep(5);
        }
      }
    };
    const workers = Array.from({ length: WORKERS }, (_, w) => worker(w));

    const burstStart = Date.now();
    await waitFor(() => acked.size >= 2_000 && Date.now() - burstStart >= 300, { timeoutMs: 15_000, message: "2000 events acknowledged before SIGTERM" });
    const ackedBeforeTerm = acked.size;
    d.proc.kill("SIGTERM");
    const code = await exit;
    await Promise.all(workers);

    expect(code).toBe(0);
    expect(badResults).toEqual([]);
    expect(ackedBeforeTerm).toBeGreaterThanOrEqual(2_000);
    // every failure was a clean refusal, never a 500 (E_INTERNAL / E_STORE)
    const codes = new Set(failures.map((f) => f.code));
    for (const c of codes) expect(["E_DAEMON_UNREACHABLE", "E_SHUTTING_DOWN"]).toContain(c);
    expect(failures.filter((f) => f.afterExit).length).toBe(WORKERS);
    expect(failures.filter((f) => f.afterExit).every((f) => f.code === "E_DAEMON_UNREACHABLE")).toBe(true);

    // after a clean exit: socket removed, lock released, every acknowledged id on disk
    expect(existsSync(sb.paths.socket)).toBe(false);
    expect(isLocked(sb.paths.lock).locked).toBe(false);
    const stored = storedIds(sb.paths.db, acked);
    const missing = [...acked].filter((id) => !stored.has(id));
    expect({ acked: acked.size, missing: missing.slice(0, 10), missingCount: missing.length }).toEqual({ acked: acked.size, missing: [], missingCount: 0 });
    const err = await d.stderr();
    expect(err).not.toContain("internal error");
    expect(err).toContain("stopped");
  });
  test("SIGHUP is ignored; SIGINT shuts down gracefully (exit 0, socket and lock released)", async () => {
    const sb = box();
    const d = await daemon(sb);
    d.proc.kill("SIGHUP");
    // still the same daemon, still serving (the log line proves the signal arrived)
    await waitFor(() => d.proc.exitCode === null && d.client.ping(500), { timeoutMs: 2_000, message: "daemon answers after SIGHUP" });
    const ev = envelope();
    expect((await d.client.postEvents([ev])).results[0]?.status).toBe("pending_bind");
    expect((await d.client.health()).pid).toBe(d.health.pid);
    d.proc.kill("SIGINT");
    expect(await d.proc.exited).toBe(0);
    expect(existsSync(sb.paths.socket)).toBe(false);
    expect(isLocked(sb.paths.lock).locked).toBe(false);
    expect(storedIds(sb.paths.db, [String(ev.event_id)]).size).toBe(1);
    const err = await d.stderr();
    expect(err).toContain("SIGHUP ignored");
    expect(err).toContain('"reason":"SIGINT"');
  });
});

describe("health and autostart", () => {
  test("TC-040 GET /v1/health carries the documented fields", async () => {
    const sb = box();
    const d = await daemon(sb);
    const h = await d.client.health();
    expect(h.schema_version).toBe(1);
    expect(Number.isNaN(Date.parse(h.generated_at))).toBe(false);
    expect(h.generated_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/);
    expect(typeof h.version).toBe("string");
    expect(h.version.length).toBeGreaterThan(0);
    expect(h.pid).toBe(d.proc.pid);
    expect(typeof h.uptime_s).toBe("number");
    expect(h.uptime_s).toBeGreaterThanOrEqual(0);
    expect(typeof h.stream_id).toBe("string");
    expect(h.stream_id.length).toBeGreaterThan(0);
    expect(h.db.path).toBe(sb.paths.db);
    expect(Number.isInteger(h.db.schema_version)).toBe(true);
    expect(h.db.schema_version).toBeGreaterThanOrEqual(1);
    expect(h.socket).toBe(sb.paths.socket);
    expect(h.status).toBe("ok");
    expect(h.targets[0]?.target_id).toBe("host");
    expect(h.targets[0]?.kind).toBe("local");
    // stable within one daemon's life; uptime does not go backwards
    const h2 = await d.client.health();
    expect(h2.stream_id).toBe(h.stream_id);
    expect(h2.uptime_s).toBeGreaterThanOrEqual(h.uptime_s);
  });

  test("agtmux status autostarts a background daemon when none runs", async () => {
    const sb = box();
    expect(existsSync(sb.paths.socket)).toBe(false);
    const r = await runCli(sb, ["status"]);
    expect(r.code).toBe(0);
    const pid = Number(/daemon pid (\d+)/.exec(r.stdout)?.[1]);
    expect(pid).toBeGreaterThan(0);
    const h = await new AgtmuxClient({ socket: sb.paths.socket }).health();
    expect(h.pid).toBe(pid);
    expect(isLocked(sb.paths.lock)).toEqual({ locked: true, holderPid: pid });
    const stop = await runCli(sb, ["daemon", "stop"]);
    expect(stop.code).toBe(0);
    expect(isLocked(sb.paths.lock).locked).toBe(false);
    expect(existsSync(sb.paths.socket)).toBe(false);
  });

  test("TC-032 with AGTMUX_NO_AUTOSTART=1 agtmux status fails with exit 3 and E_DAEMON_UNREACHABLE", async () => {
    const sb = box();
    const env = { AGTMUX_NO_AUTOSTART: "1" };
    const r = await runCli(sb, ["status"], { env });
    expect(r.code).toBe(3);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("E_DAEMON_UNREACHABLE");
    expect(r.stderr).toContain(sb.paths.socket);
    const j = await runCli(sb, ["status", "--json"], { env });
    expect(j.code).toBe(3);
    const body = JSON.parse(j.stdout) as { schema_version: number; error: { code: string; details: Record<string, unknown> } };
    expect(body.schema_version).toBe(1);
    expect(body.error.code).toBe("E_DAEMON_UNREACHABLE");
    expect(body.error.details.socket).toBe(sb.paths.socket);
    // nothing was started
    expect(existsSync(sb.paths.socket)).toBe(false);
    expect(existsSync(sb.paths.lock) && isLocked(sb.paths.lock).locked).toBe(false);
  });
});
