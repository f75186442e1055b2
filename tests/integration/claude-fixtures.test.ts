/**
 * TC-015: Claude Code signal normalization on payloads recorded from the real
 * CLI (tests/fixtures/claude/<version>/<scenario>: hooks.jsonl + transcript.jsonl),
 * replayed in order (each step's state), then shuffled with duplicates (the
 * final state never depends on arrival order). Reproduce with AGTMUX_SEED.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { claudeAdapter } from "../../src/adapters/claude/index.ts";
import { parseClaudeTranscriptLine } from "../../src/adapters/claude/transcript.ts";
import { AdapterRegistry, coreAdapter } from "../../src/adapters/registry.ts";
import type { Envelope } from "../../src/domain/event.ts";
import type { State } from "../../src/domain/model.ts";
import type { IngestItem } from "../../src/daemon/ingest.ts";
import { harness } from "../helpers/harness.ts";
import { mulberry32, seedFromEnv, shuffle } from "../helpers/rng.ts";

const VERSION = "2.1.330";
const DIR = join(import.meta.dir, "..", "fixtures", "claude", VERSION);

/** distinct states in order, and the final one (after all signals of the scenario) */
const EXPECTED: Record<string, State[]> = {
  "plain-turn": ["idle", "running", "completed"],
  "bash-approve": ["idle", "running", "waiting_approval", "running", "completed"],
  "bash-reject": ["idle", "running", "waiting_approval", "idle"],
  "bash-reject-escape": ["idle", "running", "waiting_approval", "idle"],
  interrupt: ["idle", "running", "idle", "running", "idle"],
  "interrupt-tool": ["idle", "running", "idle"],
  "bash-fails": ["idle", "running", "completed"],
  "bash-blocked-sleep": ["idle", "running", "completed"],
  "api-error-400": ["idle", "running", "error"],
  "api-error-500-exhausted": ["idle", "running", "error"],
  "api-error-529-exhausted": ["idle", "running", "error"],
  "api-error-500-retry": ["idle", "running", "completed"],
  "idle-notification": ["idle", "running", "completed", "waiting_input"],
  "idle-notification-default": ["idle", "running", "completed", "waiting_input"],
  "api-error-500-default-retries": ["idle", "running", "error"],
  // a question fires PermissionRequest and Notification(permission_prompt) like an approval
  "ask-user-question": ["idle", "running", "waiting_input", "running", "completed"],
  "auto-mode-bash": ["idle", "running", "completed"],
  "clear-command": ["idle", "running", "completed", "idle"],
  "ctrl-c-twice": ["idle", "running", "completed", "idle"],
  "exit-command": ["idle", "running", "completed", "idle"],
  "idle-no-turn": ["idle"],
  "kill-sighup": ["idle", "running", "completed", "idle"],
  "kill-sigkill": ["idle", "running", "completed"],
  "kill-sigterm-running": ["idle", "running", "idle"],
  "kill-sigterm": ["idle", "running", "completed", "idle"],
  "multi-turn": ["idle", "running", "completed", "running", "completed"],
  resume: ["idle", "running", "completed", "idle", "running", "completed"],
  "side-requests": ["idle", "running", "completed"],
  subagent: ["idle", "running", "completed", "running", "completed"],
};

interface Recorded {
  at: number;
  envelope: Envelope;
}

function load(scenario: string): Recorded[] {
  const out: Recorded[] = [];
  const hooks = readFileSync(join(DIR, scenario, "hooks.jsonl"), "utf8").trim().split("\n").filter((l) => l !== "");
  hooks.forEach((line, i) => {
    const h = JSON.parse(line) as { event: string; time: string; stdin: Record<string, unknown> };
    const at = Date.parse(h.time);
    out.push({
      at,
      envelope: {
        event_id: `${scenario}-hook-${i}`,
        event_type: `claude.${String(h.stdin.hook_event_name ?? h.event)}`,
        source: "hook",
        dedupe_key: `${scenario}-hook-${i}`,
        event_time: h.time,
        target_id: "host",
        pane_id: "%1",
        agent_type: "claude",
        raw_payload: h.stdin,
      },
    });
  });
  const tpath = join(DIR, scenario, "transcript.jsonl");
  if (existsSync(tpath)) {
    for (const line of readFileSync(tpath, "utf8").split("\n")) {
      const sig = parseClaudeTranscriptLine(line);
      if (sig === null) continue;
      out.push({
        at: sig.at,
        envelope: {
          event_id: `tr-${sig.uuid}`,
          event_type: `claude.${sig.kind}`,
          source: "hook",
          dedupe_key: `transcript:${sig.uuid}`,
          event_time: new Date(sig.at).toISOString(),
          target_id: "host",
          pane_id: "%1",
          agent_type: "claude",
          raw_payload: { kind: sig.kind },
        },
      });
    }
  }
  return out.toSorted((a, b) => a.at - b.at);
}

function replay(recorded: Recorded[], order: Recorded[], now: number): { states: State[]; final: State | undefined } {
  const h = harness({ registry: new AdapterRegistry([coreAdapter, claudeAdapter]), now: (recorded[0]?.at ?? 0) - 60_000 });
  h.startRuntime("%1", { agent: "claude", pid: 4242, startedAt: (recorded[0]?.at ?? 0) - 30_000 });
  const states: State[] = [];
  for (const r of order) {
    h.clock.nowMs = Math.max(h.clock.nowMs, r.at);
    const item: IngestItem = { envelope: r.envelope, queuedAt: r.at };
    h.ingestor.ingest([item]);
    const s = h.store.getState("host", "%1")?.state;
    if (s !== undefined && s !== "unknown" && states[states.length - 1] !== s) states.push(s);
  }
  h.clock.nowMs = now;
  h.ingestor.refreshAll();
  const final = h.store.getState("host", "%1")?.state;
  h.close();
  return { states, final };
}

describe(`Claude Code ${VERSION} fixtures`, () => {
  const scenarios = readdirSync(DIR).filter((d) => existsSync(join(DIR, d, "hooks.jsonl")));

  test("every recorded scenario has an expectation", () => {
    expect(scenarios.filter((s) => EXPECTED[s] === undefined)).toEqual([]);
  });

  for (const scenario of Object.keys(EXPECTED)) {
    test(`TC-015 ${scenario}: in order, the states an operator sees; shuffled with duplicates, the same end`, () => {
      if (!existsSync(join(DIR, scenario, "hooks.jsonl"))) throw new Error(`fixture missing: ${scenario}`);
      const rec = load(scenario);
      const expected = EXPECTED[scenario] as State[];
      const end = (rec[rec.length - 1]?.at ?? 0) + 1_000; // before the 120 s completed -> idle demotion
      const inOrder = replay(rec, rec, end);
      expect(inOrder.states).toEqual(expected);
      expect(inOrder.final).toBe(expected[expected.length - 1] as State);
      const seed = seedFromEnv("TC015_SEED", Date.now());
      const rnd = mulberry32(seed);
      for (let k = 0; k < 20; k++) {
        const dup = [...rec, ...rec.filter(() => rnd() < 0.3)];
        const r = replay(rec, shuffle(dup, rnd), end);
        if (r.final !== inOrder.final) throw new Error(`${scenario}: shuffle ${k} (seed ${seed}) ended ${r.final}, in order ${inOrder.final}`);
      }
    });
  }

  test("TC-015 unknown hook events from a newer CLI degrade to unknown, never invent a state", () => {
    const reg = new AdapterRegistry([coreAdapter, claudeAdapter]);
    const ev = { event_id: "x", event_type: "claude.SomethingNew", source: "hook", dedupe_key: "x", event_time: "2026-11-24T10:00:00Z", target_id: "host", pane_id: "%1", raw_payload: {} } as Envelope;
    expect(reg.normalize(ev)).toMatchObject({ state: "unknown", reason_code: "unsupported_signal" });
    expect(reg.normalize({ ...ev, event_type: "claude.Notification", raw_payload: { notification_type: "brand_new" } })).toMatchObject({ state: "unknown" });
    expect(reg.normalize({ ...ev, event_type: "claude.PreToolUse", raw_payload: { tool_name: "AskUserQuestion" } })).toMatchObject({ state: "waiting_input" });
  });
});
