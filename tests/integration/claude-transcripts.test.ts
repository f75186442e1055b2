/** The Claude transcript follower on a real transcript recorded from the CLI. */
import { afterEach, expect, test } from "bun:test";
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { claudeAdapter } from "../../src/adapters/claude/index.ts";
import { AdapterRegistry, coreAdapter } from "../../src/adapters/registry.ts";
import { ClaudeTranscriptFollower } from "../../src/collector/transcripts.ts";
import { silentLogger } from "../../src/daemon/log.ts";
import { type Harness, harness } from "../helpers/harness.ts";

const FIXTURE = join(import.meta.dir, "..", "fixtures", "claude", "2.1.330", "interrupt", "transcript.jsonl");
let h: Harness | undefined;
const dirs: string[] = [];
afterEach(() => {
  h?.close();
  h = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

test("follows the transcript a hook named: interrupts become idle, re-reads are deduped, a restart catches up", () => {
  const dir = mkdtempSync(join(process.env.AGTMUX_TEST_ROOT ?? "/tmp", "tr-"));
  dirs.push(dir);
  const path = join(dir, "session.jsonl");
  const lines = readFileSync(FIXTURE, "utf8").trim().split("\n");
  const firstTs = lines.map((l) => (JSON.parse(l) as { timestamp?: string }).timestamp).find((t) => t !== undefined) as string;
  h = harness({ registry: new AdapterRegistry([coreAdapter, claudeAdapter]), now: Date.parse(firstTs) - 5_000 });
  const rt = h.startRuntime("%1", { agent: "claude", startedAt: Date.parse(firstTs) - 10_000 });
  h.ingestor.ingest([{ envelope: h.ev({ event_type: "claude.SessionStart", runtime_id: rt, raw_payload: { hook_event_name: "SessionStart", transcript_path: path } }) }]);
  writeFileSync(path, `${lines.slice(0, 6).join("\n")}\n`);
  h.clock.nowMs = Date.parse(firstTs) + 120_000;
  const follower = new ClaudeTranscriptFollower({ targetId: "host", store: h.store, ingestor: h.ingestor, clock: h.clock.now, log: silentLogger });
  const first = follower.tick();
  expect(first).toBeGreaterThan(0);
  appendFileSync(path, `${lines.slice(6).join("\n")}\n`);
  follower.tick();
  expect(h.store.getState("host", "%1")?.state).toBe("idle");
  const kinds = h.store.eventsForRuntime(rt, "hook", 50).map((e) => e.event_type);
  expect(kinds).toContain("claude.transcript.interrupted");
  expect(kinds).toContain("claude.transcript.prompt");
  // a new follower (daemon restart) re-reads: nothing is applied twice
  const before = h.store.countEvents();
  new ClaudeTranscriptFollower({ targetId: "host", store: h.store, ingestor: h.ingestor, clock: h.clock.now, log: silentLogger }).tick();
  expect(h.store.countEvents()).toBe(before);
});

test("a line appended to a followed transcript is read at once (inotify), not at the next poll", async () => {
  const dir = mkdtempSync(join(process.env.AGTMUX_TEST_ROOT ?? "/tmp", "tr-"));
  dirs.push(dir);
  const path = join(dir, "session.jsonl");
  h = harness({ registry: new AdapterRegistry([coreAdapter, claudeAdapter]), now: Date.now() - 5_000 });
  const rt = h.startRuntime("%1", { agent: "claude", startedAt: Date.now() - 10_000 });
  h.ingestor.ingest([{ envelope: h.ev({ event_type: "claude.SessionStart", runtime_id: rt, raw_payload: { hook_event_name: "SessionStart", transcript_path: path } }) }]);
  writeFileSync(path, "");
  h.clock.nowMs = Date.now();
  // the poll would come only after a minute: whatever is read sooner came from the change notification
  const follower = new ClaudeTranscriptFollower({ targetId: "host", store: h.store, ingestor: h.ingestor, clock: h.clock.now, log: silentLogger, intervalMs: 60_000 });
  follower.start();
  try {
    follower.tick(); // first sight: the follow starts and its watch is armed
    const line = (uuid: string, o: Record<string, unknown>): string => `${JSON.stringify({ uuid, timestamp: new Date(h?.clock.nowMs ?? 0).toISOString(), ...o })}\n`;
    appendFileSync(path, line("u1", { type: "user", message: { role: "user", content: "do it" } }));
    const deadline = Date.now() + 5_000;
    while (h.store.getState("host", "%1")?.state !== "running" && Date.now() < deadline) await Bun.sleep(5);
    expect(h.store.getState("host", "%1")?.state).toBe("running");
    h.clock.nowMs += 1_000;
    appendFileSync(path, line("u2", { type: "system", subtype: "turn_duration", durationMs: 900 }));
    while (h.store.getState("host", "%1")?.state !== "completed" && Date.now() < deadline) await Bun.sleep(5);
    expect(h.store.getState("host", "%1")?.state).toBe("completed");
  } finally {
    follower.stop();
  }
});

test("a new transcript path in a later hook (/clear, resume) is followed after the recheck; lookups read only the hooks stored since the last one", () => {
  const dir = mkdtempSync(join(process.env.AGTMUX_TEST_ROOT ?? "/tmp", "tr-"));
  dirs.push(dir);
  const lines = readFileSync(FIXTURE, "utf8").trim().split("\n");
  const firstTs = lines.map((l) => (JSON.parse(l) as { timestamp?: string }).timestamp).find((t) => t !== undefined) as string;
  h = harness({ registry: new AdapterRegistry([coreAdapter, claudeAdapter]), now: Date.parse(firstTs) - 5_000 });
  const hh = h;
  const rt = hh.startRuntime("%1", { agent: "claude", startedAt: Date.parse(firstTs) - 10_000 });
  const a = join(dir, "a.jsonl");
  const b = join(dir, "b.jsonl");
  hh.ingestor.ingest([{ envelope: hh.ev({ event_type: "claude.SessionStart", runtime_id: rt, raw_payload: { hook_event_name: "SessionStart", transcript_path: a } }) }]);
  writeFileSync(a, `${lines.slice(0, 6).join("\n")}\n`);
  writeFileSync(b, "");
  hh.clock.nowMs = Date.parse(firstTs) + 120_000;
  const follower = new ClaudeTranscriptFollower({ targetId: "host", store: hh.store, ingestor: hh.ingestor, clock: hh.clock.now, log: silentLogger });
  expect(follower.tick()).toBeGreaterThan(0);
  // hooks without a path (transcript-derived events are stored as hook events too) keep the path
  const hook = (payload: Record<string, unknown>) => {
    hh.clock.nowMs += 1_000;
    hh.ingestor.ingest([{ envelope: hh.ev({ event_type: "claude.Notification", runtime_id: rt, raw_payload: payload }) }]);
  };
  hook({ hook_event_name: "Notification" });
  hh.clock.nowMs += 6_000;
  appendFileSync(a, `${lines.slice(6).join("\n")}\n`);
  expect(follower.tick()).toBeGreaterThan(0); // still reading a
  // a SessionStart naming b (after /clear); b holds the same session under new uuids
  hook({ hook_event_name: "SessionStart", transcript_path: b });
  const renamed = lines.map((l) => {
    const o = JSON.parse(l) as Record<string, unknown>;
    if (typeof o.uuid === "string") o.uuid = `${o.uuid}-b`;
    return JSON.stringify(o);
  });
  appendFileSync(b, `${renamed.join("\n")}\n`);
  // within the recheck interval a is still the one followed
  expect(follower.tick()).toBe(0);
  hh.clock.nowMs += 6_000;
  expect(follower.tick()).toBeGreaterThan(0);
  expect(hh.store.eventsForRuntime(rt, "hook", 100).filter((e) => e.dedupe_key.endsWith("-b")).length).toBeGreaterThan(0);
});
