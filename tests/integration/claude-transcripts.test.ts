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
