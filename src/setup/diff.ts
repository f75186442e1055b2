/** A unified diff (3 lines of context) of two versions of a text file, for --dry-run. */

const CONTEXT = 3;
/** Above this many cells of the middle part, the middle is shown as replaced wholesale. */
const MAX_LCS_CELLS = 4_000_000;

type Op = { kind: " " | "-" | "+"; line: string };

function splitLines(text: string | null): string[] {
  if (text === null || text === "") return [];
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  return lines;
}

function diffOps(a: string[], b: string[]): Op[] {
  let pre = 0;
  while (pre < a.length && pre < b.length && a[pre] === b[pre]) pre++;
  let suf = 0;
  while (suf < a.length - pre && suf < b.length - pre && a[a.length - 1 - suf] === b[b.length - 1 - suf]) suf++;
  const am = a.slice(pre, a.length - suf);
  const bm = b.slice(pre, b.length - suf);
  const ops: Op[] = a.slice(0, pre).map((line) => ({ kind: " ", line }));
  if ((am.length + 1) * (bm.length + 1) > MAX_LCS_CELLS) {
    ops.push(...am.map((line): Op => ({ kind: "-", line })), ...bm.map((line): Op => ({ kind: "+", line })));
  } else {
    // LCS table from the end: lcs[i][j] = LCS length of am[i..] and bm[j..]
    const w = bm.length + 1;
    const lcs = new Uint32Array((am.length + 1) * w);
    for (let i = am.length - 1; i >= 0; i--) {
      for (let j = bm.length - 1; j >= 0; j--) {
        lcs[i * w + j] = am[i] === bm[j] ? (lcs[(i + 1) * w + j + 1] as number) + 1 : Math.max(lcs[(i + 1) * w + j] as number, lcs[i * w + j + 1] as number);
      }
    }
    let i = 0;
    let j = 0;
    while (i < am.length || j < bm.length) {
      if (i < am.length && j < bm.length && am[i] === bm[j]) {
        ops.push({ kind: " ", line: am[i] as string });
        i++;
        j++;
      } else if (i < am.length && (j >= bm.length || (lcs[(i + 1) * w + j] as number) >= (lcs[i * w + j + 1] as number))) {
        ops.push({ kind: "-", line: am[i] as string });
        i++;
      } else {
        ops.push({ kind: "+", line: bm[j] as string });
        j++;
      }
    }
  }
  ops.push(...a.slice(a.length - suf).map((line): Op => ({ kind: " ", line })));
  return ops;
}

/**
 * `--- a/<path>` / `+++ b/<path>` and hunks; "" when nothing changes. `null`
 * stands for a missing file (/dev/null). A missing final newline is marked
 * as diff(1) does.
 */
export function unifiedDiff(path: string, before: string | null, after: string | null): string {
  if (before === after) return "";
  const a = splitLines(before);
  const b = splitLines(after);
  const ops = diffOps(a, b);
  // where the final newline differs, the last lines differ too
  const noEolA = before !== null && before !== "" && !before.endsWith("\n");
  const noEolB = after !== null && after !== "" && !after.endsWith("\n");
  if (noEolA !== noEolB) {
    const last = ops.findLastIndex((o) => o.kind === " ");
    if (last >= 0 && last === ops.length - 1) {
      const line = (ops[last] as Op).line;
      ops.splice(last, 1, { kind: "-", line }, { kind: "+", line });
    }
  }
  const out = [`--- ${before === null ? "/dev/null" : `a${path}`}`, `+++ ${after === null ? "/dev/null" : `b${path}`}`];
  const changed = ops.map((o, idx) => (o.kind === " " ? -1 : idx)).filter((idx) => idx >= 0);
  let k = 0;
  while (k < changed.length) {
    const start = Math.max(0, (changed[k] as number) - CONTEXT);
    let end = Math.min(ops.length, (changed[k] as number) + CONTEXT + 1);
    while (k + 1 < changed.length && (changed[k + 1] as number) - CONTEXT <= end) {
      k++;
      end = Math.min(ops.length, (changed[k] as number) + CONTEXT + 1);
    }
    k++;
    let aLine = 1;
    let bLine = 1;
    for (let x = 0; x < start; x++) {
      if ((ops[x] as Op).kind !== "+") aLine++;
      if ((ops[x] as Op).kind !== "-") bLine++;
    }
    const hunk = ops.slice(start, end);
    const aCount = hunk.filter((o) => o.kind !== "+").length;
    const bCount = hunk.filter((o) => o.kind !== "-").length;
    out.push(`@@ -${aCount === 0 ? aLine - 1 : aLine},${aCount} +${bCount === 0 ? bLine - 1 : bLine},${bCount} @@`);
    hunk.forEach((o, idx) => {
      out.push(`${o.kind}${o.line}`);
      const isLastA = start + idx === ops.length - 1 || ops.slice(start + idx + 1).every((x) => x.kind === "+");
      const isLastB = start + idx === ops.length - 1 || ops.slice(start + idx + 1).every((x) => x.kind === "-");
      if (o.kind === "-" && noEolA && isLastA) out.push("\\ No newline at end of file");
      if (o.kind === "+" && noEolB && isLastB) out.push("\\ No newline at end of file");
      if (o.kind === " " && noEolA && noEolB && start + idx === ops.length - 1) out.push("\\ No newline at end of file");
    });
  }
  return `${out.join("\n")}\n`;
}
