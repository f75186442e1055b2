/**
 * Follows the local spool directory that `agtmux emit` appends to while the
 * daemon is unreachable. The active file is renamed aside (`drain-*.jsonl`)
 * and read from a byte offset kept in SQLite in the same transaction as the
 * events it yields: nothing applied twice, nothing lost across restarts.
 * Lines that are not valid events are moved to `rejected.jsonl`, not dropped.
 */
import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, readSync, readdirSync, renameSync, statSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import * as v from "valibot";
import { EnvelopeSchema } from "../domain/event.ts";
import { redactString } from "../domain/redact.ts";
import { SPOOL_ACTIVE_FILE, SPOOL_REJECTED_FILE } from "../wire/types.ts";
import type { DaemonContext } from "./context.ts";
import type { IngestItem } from "./ingest.ts";

/** A drained file is deleted once fully read and untouched for this long (late appenders). */
export const SPOOL_QUIET_MS = 2_000;
const MAX_LINES_PER_BATCH = 500;
const MAX_READ_BYTES = 4 * 1024 * 1024;

const SpoolLineSchema = v.object({ v: v.literal(1), queued_at: v.pipe(v.number(), v.integer()), event: v.unknown() });

export interface DrainResult {
  ingested: number;
  rejected: number;
}

export function drainSpool(ctx: DaemonContext, targetId = "host"): DrainResult {
  const dir = ctx.paths.spoolDir;
  if (!existsSync(dir)) return { ingested: 0, rejected: 0 };
  const active = join(dir, SPOOL_ACTIVE_FILE);
  try {
    if (statSync(active).size > 0) renameSync(active, join(dir, `drain-${Date.now()}-${process.pid}.jsonl`));
  } catch {
    // no active file
  }
  const out: DrainResult = { ingested: 0, rejected: 0 };
  const files = readdirSync(dir)
    .filter((f) => /^drain-\d+-\d+\.jsonl$/.test(f))
    .toSorted();
  for (const f of files) {
    const r = drainFile(ctx, targetId, join(dir, f), f);
    out.ingested += r.ingested;
    out.rejected += r.rejected;
  }
  return out;
}

function drainFile(ctx: DaemonContext, targetId: string, path: string, key: string): DrainResult {
  const out: DrainResult = { ingested: 0, rejected: 0 };
  for (;;) {
    const st = statSync(path);
    const offset = ctx.store.spoolOffset(targetId, key);
    const quiet = Date.now() - st.mtimeMs >= SPOOL_QUIET_MS;
    if (offset >= st.size) {
      if (quiet) {
        unlinkSync(path);
        ctx.store.tx(() => ctx.store.deleteSpoolOffset(targetId, key));
      }
      return out;
    }
    const len = Math.min(st.size - offset, MAX_READ_BYTES);
    const buf = Buffer.alloc(len);
    const fd = openSync(path, "r");
    try {
      readSync(fd, buf, 0, len, offset);
    } finally {
      closeSync(fd);
    }
    let end = buf.lastIndexOf(0x0a) + 1;
    if (end === 0) {
      // A torn last line (an emitter died mid-write) is given up on only once the file is quiet.
      if (!(quiet && offset + len === st.size)) return out;
      end = len;
    }
    const lines: string[] = [];
    let pos = 0;
    while (pos < end && lines.length < MAX_LINES_PER_BATCH) {
      const nl = buf.indexOf(0x0a, pos);
      const stop = nl === -1 || nl >= end ? end : nl;
      lines.push(buf.subarray(pos, stop).toString("utf8"));
      pos = Math.min(end, stop + 1);
    }
    const r = ingestSpoolLines(ctx, targetId, key, lines, offset + pos);
    out.rejected += r.rejected;
    out.ingested += r.ingested;
  }
}

/**
 * Ingests spool lines read from `key` and commits `newOffset` for it in the
 * same transaction. Lines from an ssh target's spool (`retarget`) are put on
 * that target: the VM's `agtmux emit` does not know the name the daemon gave
 * it. Bad lines and refused events are quarantined with why, never dropped.
 */
export function ingestSpoolLines(ctx: DaemonContext, targetId: string, key: string, lines: readonly string[], newOffset: number, retarget = false): DrainResult {
  const out: DrainResult = { ingested: 0, rejected: 0 };
  const items: IngestItem[] = [];
  for (const line of lines) {
    if (line.trim() === "") continue;
    const item = parseLine(line);
    if (item === null) {
      quarantine(ctx, retarget ? JSON.stringify({ target: targetId, file: key, line }) : line);
      out.rejected++;
    } else items.push(retarget ? onTarget(ctx, item, targetId) : item);
  }
  const results = ctx.ingestor.ingest(items, () => ctx.store.setSpoolOffset(targetId, key, newOffset, ctx.clock()));
  // Events the daemon refuses (ended runtime, unknown target) are kept, with why, not lost.
  results.forEach((r, i) => {
    const item = items[i];
    if (r.status !== "rejected" || item === undefined) return;
    quarantine(ctx, JSON.stringify({ v: 1, queued_at: item.queuedAt, event: item.envelope, error: r.error, ...(retarget ? { target: targetId } : {}) }));
    out.rejected++;
  });
  out.ingested += results.filter((r) => r.status !== "rejected").length;
  return out;
}

/** An event from a target's own spool belongs to that target; a runtime id that names another target's runtime is dropped. */
function onTarget(ctx: DaemonContext, item: IngestItem, targetId: string): IngestItem {
  const e = { ...item.envelope, target_id: targetId };
  if (e.runtime_id !== undefined && ctx.store.getRuntime(e.runtime_id)?.target_id !== targetId && e.pane_id !== undefined) delete e.runtime_id;
  return { ...item, envelope: e };
}

function parseLine(line: string): IngestItem | null {
  let obj: unknown;
  try {
    obj = JSON.parse(line);
  } catch {
    return null;
  }
  const l = v.safeParse(SpoolLineSchema, obj);
  if (!l.success) return null;
  const e = v.safeParse(EnvelopeSchema, l.output.event);
  if (!e.success) return null;
  return { envelope: e.output, queuedAt: l.output.queued_at };
}

function quarantine(ctx: DaemonContext, line: string): void {
  mkdirSync(ctx.paths.spoolDir, { recursive: true, mode: 0o700 });
  appendFileSync(join(ctx.paths.spoolDir, SPOOL_REJECTED_FILE), `${redactString(line)}\n`, { mode: 0o600 });
}
