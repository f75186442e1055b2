/** The daemon's GC pacing (src/daemon/gc-pacer.ts), on an injected clock and RSS. */
import { expect, test } from "bun:test";
import { GcPacer } from "../../src/daemon/gc-pacer.ts";

const MIB = 1024 * 1024;

function rig(gcMs = 5) {
  const s = { now: 0, rss: 60 * MIB, work: 0, gcs: [] as number[], freed: 0 };
  const pacer = new GcPacer(
    { paceMs: 1_000, growthBytes: 3 * MIB, maxShare: 0.01 },
    {
      now: () => s.now,
      rss: () => s.rss,
      work: () => s.work,
      gc: () => {
        s.gcs.push(s.now);
        s.now += gcMs;
        s.rss -= s.freed;
        s.freed = 0;
      },
    },
  );
  return { s, pacer };
}

test("one collection at start (start-up garbage), then none without work; after work, at most one per paceMs", () => {
  const { s, pacer } = rig();
  for (let t = 0; t < 3_000; t += 250) {
    s.now = t;
    pacer.tick();
  }
  expect(s.gcs).toEqual([0]);
  for (let t = 3_000; t < 6_000; t += 250) {
    s.now = t;
    s.work++;
    pacer.tick();
  }
  // the first tick with work collects; then one a second
  expect(s.gcs).toEqual([0, 3_000, 4_000, 5_000]);
  expect(pacer.stats).toEqual({ collections: 4, onGrowth: 0 });
});

test("a burst of garbage (RSS +3 MiB over its low point) is collected before the pace, the share cap still holds", () => {
  const { s, pacer } = rig(5);
  s.work = 1;
  pacer.tick(); // t=0: the paced one (5 ms: the next not before 500 ms)
  s.now = 250;
  s.work++;
  s.rss += 4 * MIB;
  s.freed = 4 * MIB;
  expect(pacer.tick()).toBe(false); // 250 < 500: the share cap
  s.now = 500;
  s.work++;
  expect(pacer.tick()).toBe(true); // grown, allowed
  expect(pacer.stats.onGrowth).toBe(1);
  expect(s.rss).toBe(60 * MIB);
  // growth below the threshold waits for the pace
  s.now = 750;
  s.work++;
  s.rss += 2 * MIB;
  expect(pacer.tick()).toBe(false);
  s.now = 1_510;
  s.work++;
  expect(pacer.tick()).toBe(true);
  expect(pacer.stats).toEqual({ collections: 3, onGrowth: 1 });
});

test("growth is measured from the low point since the last collection (memory given back later counts)", () => {
  const { s, pacer } = rig(1);
  s.work = 1;
  pacer.tick(); // t=0
  s.now = 250;
  s.rss -= 5 * MIB; // the allocator returned pages after the collection
  pacer.tick();
  s.now = 500;
  s.work++;
  s.rss += 3 * MIB; // +3 over the low point, still below the RSS right after the GC
  expect(pacer.tick()).toBe(true);
  expect(pacer.stats.onGrowth).toBe(1);
});
