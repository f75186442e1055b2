/**
 * Summary of a Chrome-format .cpuprofile as Bun writes it (`--cpu-prof`,
 * given to the compiled binary through BUN_OPTIONS). JSC's sampler records a
 * sample only while JavaScript runs, so samples × interval is JS CPU time;
 * native work outside JS (GC, syscalls of the event loop, SQLite's C code
 * when not called from JS) is not in it. Bun's own `--cpu-prof-md` charges
 * the wall-clock gap before each sample to that sample's function, which on
 * a mostly idle daemon reads as seconds of "self time" that are really idle:
 * this counts samples instead.
 */
import { readFileSync } from "node:fs";

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: Node[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface FnRow {
  fn: string;
  where: string;
  self_samples: number;
  self_pct: number;
  total_samples: number;
  total_pct: number;
}

export interface CpuSummary {
  wall_s: number;
  samples: number;
  /** sampling interval in ms (the median time delta) */
  interval_ms: number;
  /** samples × interval: JS time on the CPU */
  js_cpu_ms: number;
  js_cpu_pct_of_core: number;
  top_self: FnRow[];
  top_total: FnRow[];
  /** self samples per source file (bundled code by its source path) */
  by_file: Array<{ file: string; self_samples: number; self_pct: number }>;
}

const where = (n: Node): string => {
  const url = n.callFrame.url.replace(/^file:\/\//, "");
  if (url === "") return "[native code]";
  return `${url}:${n.callFrame.lineNumber + 1}`;
};
const fileOf = (n: Node): string => {
  const url = n.callFrame.url.replace(/^file:\/\//, "");
  return url === "" ? "[native code]" : url;
};

export function summarizeCpuProfile(path: string, top = 25): CpuSummary {
  const p = JSON.parse(readFileSync(path, "utf8")) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // self hits per node: from samples[] when present (exact), else hitCount
  const hits = new Map<number, number>();
  if (p.samples !== undefined && p.samples.length > 0) for (const s of p.samples) hits.set(s, (hits.get(s) ?? 0) + 1);
  else for (const n of p.nodes) if ((n.hitCount ?? 0) > 0) hits.set(n.id, n.hitCount ?? 0);
  const samples = [...hits.values()].reduce((a, b) => a + b, 0);
  const deltas = (p.timeDeltas ?? []).filter((d) => d > 0).toSorted((a, b) => a - b);
  const interval = deltas.length > 0 ? (deltas[Math.floor(deltas.length / 2)] ?? 1000) / 1000 : 1;
  // a native frame is named with its nearest JS caller ("readFileSync <- src/procs/table.ts:111"): which native call, from where
  const callerOf = (id: number): string => {
    for (let cur = parent.get(id); cur !== undefined; cur = parent.get(cur)) {
      const m = byId.get(cur);
      if (m !== undefined && m.callFrame.url !== "") return where(m);
    }
    return "?";
  };
  const key = (n: Node): string => `${n.callFrame.functionName || "(anonymous)"}\u0000${n.callFrame.url === "" ? `[native] <- ${callerOf(n.id)}` : where(n)}`;
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const files = new Map<string, number>();
  for (const [id, h] of hits) {
    const n = byId.get(id);
    if (n === undefined) continue;
    self.set(key(n), (self.get(key(n)) ?? 0) + h);
    files.set(fileOf(n), (files.get(fileOf(n)) ?? 0) + h);
    // inclusive: once per distinct function on the stack (recursion counted once)
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const m = byId.get(cur);
      if (m === undefined) break;
      const k = key(m);
      if (seen.has(k)) continue;
      seen.add(k);
      total.set(k, (total.get(k) ?? 0) + h);
    }
  }
  const pct = (x: number): number => (samples === 0 ? 0 : Math.round((x / samples) * 1000) / 10);
  const row = (k: string): FnRow => {
    const [fn = "", w = ""] = k.split("\u0000");
    const s = self.get(k) ?? 0;
    const t = total.get(k) ?? 0;
    return { fn, where: w, self_samples: s, self_pct: pct(s), total_samples: t, total_pct: pct(t) };
  };
  const wall = (p.endTime - p.startTime) / 1e6;
  const jsMs = samples * interval;
  return {
    wall_s: Math.round(wall * 10) / 10,
    samples,
    interval_ms: interval,
    js_cpu_ms: Math.round(jsMs),
    js_cpu_pct_of_core: wall > 0 ? Math.round((jsMs / 1000 / wall) * 1000) / 10 : 0,
    top_self: [...self.keys()]
      .toSorted((a, b) => (self.get(b) ?? 0) - (self.get(a) ?? 0))
      .slice(0, top)
      .map(row),
    top_total: [...total.keys()]
      .filter((k) => !k.startsWith("(root)"))
      .toSorted((a, b) => (total.get(b) ?? 0) - (total.get(a) ?? 0))
      .slice(0, top)
      .map(row),
    by_file: [...files.entries()].toSorted((a, b) => b[1] - a[1]).map(([file, s]) => ({ file, self_samples: s, self_pct: pct(s) })),
  };
}

/** A markdown rendering of the summary (written next to the .cpuprofile). */
export function cpuSummaryMarkdown(s: CpuSummary, title: string): string {
  const lines = [
    `# ${title}`,
    "",
    `${s.samples} samples at ${s.interval_ms} ms over ${s.wall_s} s of wall time: ~${s.js_cpu_ms} ms of JavaScript on the CPU (${s.js_cpu_pct_of_core} % of one core). Samples are taken only while JS runs; GC and native work outside JS are not in them.`,
    "",
    "## Self time by function",
    "",
    "| self % | self samples | total % | function | where |",
    "|---:|---:|---:|---|---|",
    ...s.top_self.map((r) => `| ${r.self_pct} | ${r.self_samples} | ${r.total_pct} | \`${r.fn}\` | ${r.where} |`),
    "",
    "## Inclusive time by function",
    "",
    "| total % | total samples | function | where |",
    "|---:|---:|---|---|",
    ...s.top_total.map((r) => `| ${r.total_pct} | ${r.total_samples} | \`${r.fn}\` | ${r.where} |`),
    "",
    "## Self time by file",
    "",
    "| self % | samples | file |",
    "|---:|---:|---|",
    ...s.by_file.slice(0, 20).map((f) => `| ${f.self_pct} | ${f.self_samples} | ${f.file} |`),
    "",
  ];
  return lines.join("\n");
}

if (import.meta.main) {
  const path = process.argv[2];
  if (path === undefined) {
    console.error("usage: bun bench/cpuprofile.ts <file.cpuprofile>");
    process.exit(2);
  }
  console.log(cpuSummaryMarkdown(summarizeCpuProfile(path), path));
}
