/**
 * The relay's spool stream: `agtmux relay` run for real as a child process
 * (from the sources) on an isolated "VM" env, driven raw or through
 * RelayClient with an in-memory daemon (committed offsets in a map).
 */
import { afterEach, describe, expect, test } from "bun:test";
import { appendFileSync, closeSync, existsSync, openSync, readdirSync, renameSync, rmSync, statSync, truncateSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { SPOOL_QUIET_MS } from "../../src/daemon/spool-reader.ts";
import { SPOOL_ACTIVE_FILE } from "../../src/wire/types.ts";
import { waitFor } from "../helpers/wait.ts";
import { FakeDaemon, idOf, percentile, RawRelay, type Vm, vm, waitGone, writerArgv } from "./harness.ts";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).toReversed()) await c();
});

function newVm(): Vm {
  const v = vm();
  cleanups.push(() => v.cleanup());
  return v;
}

function raw(v: Vm, flags: string[] = []): RawRelay {
  const r = new RawRelay(v, flags);
  cleanups.push(() => r.close());
  return r;
}

function daemon(v: Vm, opts: ConstructorParameters<typeof FakeDaemon>[1] = {}): FakeDaemon {
  const d = new FakeDaemon(v, opts);
  cleanups.push(() => d.client.stop());
  return d;
}

function spoolLine(id: string): string {
  return `${JSON.stringify({ v: 1, queued_at: Date.now(), event: { id } })}\n`;
}

function drainFiles(v: Vm): string[] {
  return existsSync(v.spoolDir) ? readdirSync(v.spoolDir).filter((f) => f.startsWith("drain-")) : [];
}

describe("relay spool stream", () => {
  test("hello lists the renamed events.jsonl; start offsets resume exactly where the daemon committed", async () => {
    const v = newVm();
    for (const id of ["a1", "a2", "a3"]) v.emit(id);
    const r1 = raw(v);
    r1.send({ op: "start", spool: {} });
    const h1 = await r1.next("hello");
    expect(h1.v).toBe(1);
    expect(h1.files).toHaveLength(1);
    expect(existsSync(join(v.spoolDir, SPOOL_ACTIVE_FILE))).toBe(false);
    const d1 = h1.files[0]?.file as string;
    expect(d1).toMatch(/^drain-\d+-\d+\.jsonl$/);
    const b1 = await r1.next("spool");
    expect(b1).toMatchObject({ file: d1, start: 0, end: h1.files[0]?.size });
    expect(b1.lines.map(idOf)).toEqual(["a1", "a2", "a3"]);
    await r1.close();

    v.emit("a4");
    const firstLineEnd = Buffer.byteLength(b1.lines[0] as string) + 1;
    const r2 = raw(v);
    r2.send({ op: "start", spool: { [d1]: firstLineEnd } });
    const h2 = await r2.next("hello");
    expect(h2.files.map((f) => f.file)).toContain(d1);
    expect(h2.files).toHaveLength(2);
    await waitFor(() => r2.lines().length >= 3, { message: "a2, a3, a4" });
    expect(r2.lines().map(idOf).toSorted()).toEqual(["a2", "a3", "a4"]);
    expect(r2.all("spool").find((b) => b.file === d1)?.start).toBe(firstLineEnd);
  });

  test("5,000 lines from 4 concurrent writers while the relay is killed 4 times: every line exactly once, then the drain files are deleted", async () => {
    const v = newVm();
    const d = daemon(v, { flags: ["--heartbeat", "500"] });
    d.client.start();
    await d.up(1);
    const writers = [0, 1, 2, 3].map((w) => Bun.spawn(writerArgv(v.sb.dir, v.spoolDir, `w${w}`, 1_250, 10, 8), { stdout: "ignore", stderr: "inherit" }));
    for (let k = 1; k <= 4; k++) {
      // kill it mid-stream (possibly mid-batch), wait for the next one to be up
      await waitFor(() => d.lines.length >= k * 700, { timeoutMs: 15_000, message: `${k * 700} lines` });
      const pid = d.client.hello?.pid as number;
      process.kill(pid, "SIGKILL");
      await waitGone(pid);
      await d.up(k + 1);
    }
    expect(await Promise.all(writers.map((w) => w.exited))).toEqual([0, 0, 0, 0]);
    await waitFor(() => d.lines.length >= 5_000, { timeoutMs: 15_000, message: "5,000 lines" });
    const ids = d.ids();
    expect(new Set(ids).size).toBe(ids.length); // nothing twice
    expect(ids).toHaveLength(5_000); // nothing missing
    // within a file each writer's lines arrive in the order written (across files a late append,
    // into a file renamed between a writer's open and its write, can come after later lines)
    const files = new Set(d.batches.map((b) => b.file));
    for (const f of files) {
      const inFile = d.batches.filter((b) => b.file === f).flatMap((b) => b.lines.map(idOf));
      for (const w of [0, 1, 2, 3]) {
        const mine = inFile.filter((i) => i.startsWith(`w${w}-`)).map((i) => Number(i.split("-")[1]));
        expect(mine).toEqual(mine.toSorted((a, b) => a - b));
      }
    }
    expect(d.client.stats.restarts).toBe(4);
    // fully committed + quiet: the daemon asks, the relay deletes, the daemon forgets the offsets
    await waitFor(() => drainFiles(v).length === 0 && Object.keys(d.offsets).length === 0, { timeoutMs: 15_000, message: "drain files deleted" });
    expect(d.gone.length).toBeGreaterThan(0);
    console.log(`5,000 lines in ${d.batches.length} batches over ${d.gone.length} drain files, ${d.client.stats.restarts} relay restarts`);
  }, 45_000);

  test("events.jsonl renamed aside while an emitter keeps appending to its old fd: both halves arrive, once", async () => {
    const v = newVm();
    const d = daemon(v);
    d.client.start();
    await d.up(1);
    const fd = openSync(join(v.spoolDir, SPOOL_ACTIVE_FILE), "a");
    cleanups.push(() => closeSync(fd));
    writeSync(fd, spoolLine("old-1"));
    await waitFor(() => d.ids().includes("old-1"), { message: "old-1" });
    expect(existsSync(join(v.spoolDir, SPOOL_ACTIVE_FILE))).toBe(false); // renamed aside under the open fd
    writeSync(fd, spoolLine("old-2"));
    v.emit("new-1");
    await waitFor(() => d.ids().includes("old-2") && d.ids().includes("new-1"), { message: "old-2 and new-1" });
    expect(d.ids().toSorted()).toEqual(["new-1", "old-1", "old-2"]);
    const fileOf = (id: string): string | undefined => d.batches.find((b) => b.lines.some((l) => idOf(l) === id))?.file;
    expect(fileOf("old-2")).toBe(fileOf("old-1")); // the late append went to the renamed file
    expect(fileOf("new-1")).not.toBe(fileOf("old-1"));
  });

  test("the spool dir removed and made again: the relay watches the new one", async () => {
    const v = newVm();
    const d = daemon(v);
    d.client.start();
    await d.up(1);
    rmSync(v.spoolDir, { recursive: true, force: true });
    v.emit("after-rm-1"); // appendToSpool makes the dir again
    await waitFor(() => d.ids().includes("after-rm-1"), { message: "after-rm-1" });
    v.emit("after-rm-2");
    await waitFor(() => d.ids().includes("after-rm-2"), { message: "after-rm-2" });
    expect(d.ids()).toEqual(["after-rm-1", "after-rm-2"]);
  });

  test("a torn last line waits for the file to be quiet; a line completed in time arrives whole", async () => {
    const v = newVm();
    const r = raw(v);
    r.send({ op: "start", spool: {} });
    await r.next("hello");
    const active = join(v.spoolDir, SPOOL_ACTIVE_FILE);
    // completed in time
    const whole = spoolLine("late-half");
    appendFileSync(active, whole.slice(0, 10));
    const drain = await waitFor(() => !existsSync(active) && drainFiles(v)[0], { message: "renamed aside" });
    appendFileSync(join(v.spoolDir, drain), whole.slice(10));
    const b = await r.next("spool", (m) => m.lines.length > 0);
    expect(b.lines.map(idOf)).toEqual(["late-half"]);
    // never completed: the emitter died mid-write
    appendFileSync(active, '{"v":1,"queued_at":1,"event":{"id":"torn"');
    const written = Date.now();
    const t = await r.next("spool", (m) => m.lines.some((l) => l.includes('"torn"')), { timeoutMs: 8_000 });
    expect(t.lines).toEqual(['{"v":1,"queued_at":1,"event":{"id":"torn"']);
    expect(Date.now() - written).toBeGreaterThanOrEqual(SPOOL_QUIET_MS - 100);
    expect(t.end).toBe(statSync(join(v.spoolDir, t.file)).size);
  });

  test("truncation and replacement of a drain file -> spool_reset, then it is read again from 0", async () => {
    const v = newVm();
    for (const id of ["t1", "t2", "t3"]) v.emit(id);
    const r = raw(v);
    r.send({ op: "start", spool: {} });
    const h = await r.next("hello");
    const file = h.files[0]?.file as string;
    const first = await r.next("spool");
    const path = join(v.spoolDir, file);
    // truncated under us, then written again
    truncateSync(path, 0);
    appendFileSync(path, spoolLine("x1"));
    const reset = await r.next("spool_reset");
    expect(reset).toMatchObject({ file, had: first.end });
    await waitFor(() => r.lines().some((l) => idOf(l) === "x1"), { message: "x1" });
    expect(r.all("spool").find((b) => b.lines.some((l) => idOf(l) === "x1"))?.start).toBe(0);
    // rotated: another file renamed over it (bigger than the offset: only the inode tells)
    const n = r.msgs.length;
    const tmp = join(v.spoolDir, "rotate.tmp");
    writeFileSync(tmp, spoolLine("y1") + spoolLine("y2") + spoolLine("y3"));
    renameSync(tmp, path);
    const reset2 = await r.next("spool_reset", () => true, { from: n });
    expect(reset2.file).toBe(file);
    await waitFor(() => r.lines().filter((l) => idOf(l).startsWith("y")).length === 3, { message: "y1..y3" });
    const ys = r.all("spool").filter((b) => b.lines.some((l) => idOf(l) === "y1"));
    expect(ys[0]?.start).toBe(0);
  });

  test("a committed drain file truncated to 0: the reset is committed at 0 and the empty file deleted", async () => {
    const v = newVm();
    const d = daemon(v);
    v.emit("z1");
    d.client.start();
    await d.up(1);
    await waitFor(() => d.ids().includes("z1"), { message: "z1" });
    const file = d.batches[0]?.file as string;
    truncateSync(join(v.spoolDir, file), 0);
    await waitFor(() => d.batches.some((b) => b.file === file && b.start === 0 && b.end === 0), { message: "offset 0 committed" });
    expect(d.logs.some((l) => l.message.includes("shrank"))).toBe(true);
    await waitFor(() => !existsSync(join(v.spoolDir, file)) && d.gone.includes(file) && d.offsets[file] === undefined, { timeoutMs: 10_000, message: "deleted" });
    expect(d.ids()).toEqual(["z1"]);
  });

  test("spool_delete deletes only a quiet file whose size is unchanged", async () => {
    const v = newVm();
    v.emit("d1");
    const r = raw(v);
    r.send({ op: "start", spool: {} });
    const h = await r.next("hello");
    const { file, size } = h.files[0] as { file: string; size: number };
    await r.next("spool");
    const path = join(v.spoolDir, file);
    let seq = 0;
    /** ops are handled in order: a ping answered means the op before it was handled */
    const settle = async (): Promise<void> => {
      const id = ++seq;
      r.send({ op: "rpc", id, method: "ping" });
      await r.next("rpc_result", (m) => m.id === id);
    };
    r.send({ op: "spool_delete", file, size }); // just renamed: not quiet yet
    await settle();
    expect(existsSync(path)).toBe(true);
    await waitFor(() => Date.now() - statSync(path).ctimeMs > SPOOL_QUIET_MS + 50, { timeoutMs: 5_000, message: "quiet" });
    r.send({ op: "spool_delete", file, size: size + 1 }); // the daemon saw another size
    await settle();
    expect(existsSync(path)).toBe(true);
    r.send({ op: "spool_delete", file: "../../etc/passwd", size }); // not a drain file name: invalid
    await r.next("log", (m) => m.message.includes("invalid"));
    r.send({ op: "spool_delete", file, size });
    await r.next("spool_deleted", (m) => m.file === file);
    expect(existsSync(path)).toBe(false);
    expect(r.all("spool_deleted")).toHaveLength(1);
  });

  test("committed offsets of files the relay no longer has are forgotten; a failing ingest restarts the relay and loses nothing", async () => {
    const v = newVm();
    const d = daemon(v);
    d.offsets = { "drain-1000-1.jsonl": 123 };
    let failures = 1;
    d.beforeCommit = () => {
      if (failures-- > 0) throw new Error("SQLITE_BUSY");
    };
    v.emit("f1");
    d.client.start();
    await d.up(1);
    expect(d.gone).toContain("drain-1000-1.jsonl");
    await waitFor(() => d.ids().includes("f1"), { timeoutMs: 10_000, message: "f1 after the restart" });
    expect(d.ids()).toEqual(["f1"]);
    expect(d.client.stats.restarts).toBeGreaterThanOrEqual(1);
    expect(d.states.some((s) => !s.up && s.reason.includes("SQLITE_BUSY"))).toBe(true);
  });

  test("latency from append to onSpool (printed; only correctness asserted)", async () => {
    const v = newVm();
    const d = daemon(v);
    d.client.start();
    await d.up(1);
    const sentAt = new Map<string, number>();
    for (let i = 0; i < 200; i++) {
      const id = `lat-${i}`;
      sentAt.set(id, performance.now());
      v.emit(id);
      await Bun.sleep(5);
    }
    await waitFor(() => d.lines.length >= 200, { message: "200 lines" });
    expect(d.ids()).toEqual([...sentAt.keys()]);
    const lat = d.batches.flatMap((b) => b.lines.map((l) => b.at - (sentAt.get(idOf(l)) ?? Number.NaN)));
    console.log(`relay append->onSpool latency over ${lat.length} lines: p50 ${percentile(lat, 50).toFixed(1)} ms, p95 ${percentile(lat, 95).toFixed(1)} ms, max ${Math.max(...lat).toFixed(1)} ms`);
    expect(lat.every((x) => Number.isFinite(x))).toBe(true);
  });
});
