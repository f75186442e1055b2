/**
 * The watch stream's retained window (RetainedDeltas): deltas sealed in
 * deflated blocks must read back exactly as they went in, and trimming by
 * count and by age must keep exactly the deltas a plain array would.
 */
import { describe, expect, test } from "bun:test";
import { type Delta, RETAIN_BLOCK, RetainedDeltas } from "../../src/daemon/watch-hub.ts";
import type { WatchScope } from "../../src/wire/watch.ts";
import { mulberry32, seedFromEnv } from "../helpers/rng.ts";

const SCOPES: WatchScope[] = ["panes", "windows", "sessions"];

function delta(sequence: number, at: number): Delta {
  const scope = SCOPES[sequence % 3] as WatchScope;
  const identity = { target: "host", session_name: "main", window_id: `@${sequence % 7}`, pane_id: `%${sequence % 11}` };
  return {
    sequence,
    scope,
    at,
    changes:
      sequence % 5 === 0
        ? [{ op: "delete", identity }]
        : [{ op: "upsert", identity, item: { identity, state: "running", state_version: sequence, title: `t${sequence}`, size: { width: 160, height: null }, needs_action: false } as never }],
  };
}

describe("RetainedDeltas", () => {
  test("sealed blocks read back equal to what went in; after() starts right after any cursor, inside or across blocks", () => {
    const r = new RetainedDeltas();
    const all: Delta[] = [];
    for (let s = 1; s <= 5 * RETAIN_BLOCK + 7; s++) {
      const d = delta(s, 1_000 + s);
      all.push(structuredClone(d));
      r.push(d);
    }
    r.seal();
    expect(r.unsealed).toBe(7);
    expect(r.sealedBytes).toBeGreaterThan(0);
    expect(r.size).toBe(all.length);
    expect(r.oldest).toBe(1);
    for (const cursor of [0, 1, RETAIN_BLOCK - 1, RETAIN_BLOCK, RETAIN_BLOCK + 1, 3 * RETAIN_BLOCK + 5, all.length - 1, all.length]) {
      expect(r.after(cursor)).toEqual(all.filter((d) => d.sequence > cursor));
    }
  });

  test("a sequence that does not follow the newest one is refused", () => {
    const r = new RetainedDeltas();
    r.push(delta(1, 0));
    expect(() => r.push(delta(3, 0))).toThrow(/sequence 3 after 1/);
  });

  test("trim by count and by age keeps what a plain array keeps, sealed or not (random pushes, seals and trims)", () => {
    const seed = seedFromEnv("AGTMUX_SEED_RETAINED", 20261124);
    const rnd = mulberry32(seed);
    for (let round = 0; round < 20; round++) {
      const r = new RetainedDeltas();
      let model: Delta[] = [];
      let seq = 0;
      let now = 0;
      const maxCount = 1 + Math.floor(rnd() * 4 * RETAIN_BLOCK);
      const ageMs = 50 + Math.floor(rnd() * 5_000);
      for (let step = 0; step < 2_000; step++) {
        const x = rnd();
        now += Math.floor(rnd() * 20);
        if (x < 0.8) {
          const d = delta(++seq, now);
          model.push(structuredClone(d));
          r.push(d);
        } else if (x < 0.9) r.seal();
        else now += Math.floor(rnd() * ageMs);
        // what the hub does after every flush
        const cutoff = now - ageMs;
        r.trim(maxCount, cutoff);
        let drop = 0;
        while (drop < model.length && (model.length - drop > maxCount || (model[drop] as Delta).at < cutoff)) drop++;
        model = model.slice(drop);
        expect({ seed, round, step, size: Math.max(0, r.size), oldest: r.oldest }).toEqual({ seed, round, step, size: model.length, oldest: model[0]?.sequence });
        if (step % 97 === 0) {
          const cursor = (model[0]?.sequence ?? seq) - 1 + Math.floor(rnd() * (model.length + 1));
          expect(r.after(cursor)).toEqual(model.filter((d) => d.sequence > cursor));
        }
      }
      expect(r.after(0)).toEqual(model);
    }
  });

  test("everything trimmed away, then new deltas: the window starts at the new one", () => {
    const r = new RetainedDeltas();
    for (let s = 1; s <= 2 * RETAIN_BLOCK; s++) r.push(delta(s, s));
    r.seal();
    r.trim(10_000, Number.POSITIVE_INFINITY);
    expect(r.size).toBe(0);
    expect(r.oldest).toBeUndefined();
    expect(r.after(0)).toEqual([]);
    r.push(delta(2 * RETAIN_BLOCK + 1, 1_000));
    expect(r.oldest).toBe(2 * RETAIN_BLOCK + 1);
    expect(r.after(0).map((d) => d.sequence)).toEqual([2 * RETAIN_BLOCK + 1]);
  });
});
