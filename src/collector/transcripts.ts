/**
 * Follows the Claude Code transcripts of a target's active Claude runtimes
 * (path from their hooks' `transcript_path`) and feeds their turn boundaries
 * into the ingestion path as `claude.transcript.*` events on the hook source:
 * the same stream as the hooks, ordered by the lines' own timestamps (same
 * host clock), so a later interrupt outranks an earlier hook and an older
 * line never does. Dedupe by line uuid makes re-reads (daemon restart,
 * catch-up) harmless.
 */
import { closeSync, type FSWatcher, openSync, readSync, statSync, watch } from "node:fs";
import { parseClaudeTranscriptLine, transcriptPathOf } from "../adapters/claude/transcript.ts";
import type { IngestItem, Ingestor } from "../daemon/ingest.ts";
import type { Logger } from "../daemon/log.ts";
import type { Envelope } from "../domain/event.ts";
import type { Clock } from "../domain/time.ts";
import type { Store } from "../store/store.ts";

export const TRANSCRIPT_POLL_MS = 1_000;
/** how far back a newly followed transcript is read (daemon restart, first hook) */
export const CATCH_UP_BYTES = 256 * 1024;
const MAX_READ_BYTES = 1024 * 1024;
/** how often a followed runtime's transcript path is looked up again (/clear starts a new file) */
const PATH_RECHECK_MS = 5_000;

/**
 * How the follower reads files: synchronously, by size and byte range. Local
 * targets read the file system; an ssh target reads a mirror the relay on the
 * VM keeps filled (src/collector/remote-files.ts). `null`: not there (yet).
 */
export interface FileReader {
  size(path: string): number | null;
  read(path: string, offset: number, len: number): Uint8Array | null;
  /**
   * Calls onChange (maybe spuriously, maybe coalesced) when the file may have
   * grown, so a line is read within milliseconds instead of at the next poll.
   * Optional and best effort: null when it cannot watch (no such file, no
   * inotify watches left); the poll still catches everything.
   */
  watch?(path: string, onChange: () => void): { close(): void } | null;
}

export const localFiles: FileReader = {
  size(path) {
    try {
      return statSync(path).size;
    } catch {
      return null;
    }
  },
  read(path, offset, len) {
    const buf = Buffer.alloc(len);
    let fd: number;
    try {
      fd = openSync(path, "r");
    } catch {
      return null;
    }
    try {
      const n = readSync(fd, buf, 0, len, offset);
      return buf.subarray(0, n);
    } finally {
      closeSync(fd);
    }
  },
  watch(path, onChange) {
    let w: FSWatcher;
    try {
      // inotify on Linux: IN_MODIFY on every append. A replaced file (rename)
      // leaves this watch on the old inode: the poll's path/size check and
      // the next follow() re-arm it.
      w = watch(path, { persistent: false }, () => onChange());
    } catch {
      return null;
    }
    w.on("error", () => w.close());
    return { close: () => w.close() };
  },
};

interface Follow {
  path: string;
  offset: number;
  /** started in the middle of the file: the first line read may be cut */
  midFile: boolean;
  /** change notifications for `path` (null: none armed; the poll covers it) */
  watcher: { close(): void } | null;
  /** path the watcher was armed for */
  watched: string | null;
}

export class ClaudeTranscriptFollower {
  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly follows = new Map<string, Follow>();
  /** per runtime: its transcript path and the newest hook event looked at for it */
  private readonly paths = new Map<string, { path: string | null; seq: number; at: number; checkedAt: number }>();
  /** runtimes whose transcript changed, read on the next turn of the event loop */
  private readonly due = new Set<string>();
  private dueScheduled = false;

  constructor(
    private readonly d: { targetId: string; store: Store; ingestor: Ingestor; clock: Clock; log: Logger; intervalMs?: number; files?: FileReader },
  ) {}

  start(): void {
    this.timer = setInterval(() => this.tick(), this.d.intervalMs ?? TRANSCRIPT_POLL_MS);
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    for (const f of this.follows.values()) f.watcher?.close();
    this.follows.clear();
    this.paths.clear();
    this.due.clear();
  }

  /** One pass over every active Claude runtime; returns the number of events fed. */
  tick(): number {
    let fed = 0;
    try {
      const active = this.d.store.activeRuntimesForTarget(this.d.targetId).filter((r) => r.agent_type === "claude");
      const live = new Set(active.map((r) => r.runtime_id));
      for (const [k, f] of this.follows) {
        if (live.has(k)) continue;
        f.watcher?.close();
        this.follows.delete(k);
      }
      for (const k of this.paths.keys()) if (!live.has(k)) this.paths.delete(k);
      for (const rt of active) fed += this.follow(rt.runtime_id);
    } catch (err) {
      this.d.log.debug("transcript follow failed", { message: err instanceof Error ? err.message : String(err) });
    }
    return fed;
  }

  /** a watched transcript changed: read it soon (coalesced per turn of the event loop) */
  private changed(runtimeId: string): void {
    if (this.timer === undefined) return; // stopped
    this.due.add(runtimeId);
    if (this.dueScheduled) return;
    this.dueScheduled = true;
    setImmediate(() => {
      this.dueScheduled = false;
      const ids = [...this.due];
      this.due.clear();
      for (const id of ids) {
        if (!this.follows.has(id)) continue;
        try {
          this.follow(id);
        } catch (err) {
          this.d.log.debug("transcript follow failed", { message: err instanceof Error ? err.message : String(err) });
        }
      }
    });
  }

  /**
   * The runtime's transcript path: from the newest hook payload that names one.
   * Looked up again every PATH_RECHECK_MS, reading only the hook events stored
   * since the last look (a full read of the newest 20 payloads per runtime, 10
   * times a second with 50 Claude panes, was 7 % of the daemon's CPU under load).
   */
  private pathFor(runtimeId: string, now: number): { path: string | null; rechecked: boolean } {
    let s = this.paths.get(runtimeId);
    if (s !== undefined && now - s.checkedAt < PATH_RECHECK_MS) return { path: s.path, rechecked: false };
    if (s === undefined) {
      // first look: since 0, i.e. the newest 20
      s = { path: null, seq: 0, at: 0, checkedAt: now };
      this.paths.set(runtimeId, s);
    }
    const rows = this.d.store.hookPayloadsForRuntimeSince(runtimeId, s.at, 20);
    s.checkedAt = now;
    let found: string | null = null;
    for (const r of rows) {
      // newest first; rows at the same ingested_at as the last look come again
      if (r.seq <= s.seq) continue;
      if (found !== null || r.raw_payload === null) continue;
      try {
        found = transcriptPathOf(JSON.parse(r.raw_payload));
      } catch {
        // not JSON
      }
    }
    for (const r of rows) {
      if (r.seq <= s.seq) continue;
      s.seq = r.seq;
      s.at = Math.max(s.at, r.ingested_at);
    }
    if (found !== null) s.path = found;
    return { path: s.path, rechecked: true };
  }

  private follow(runtimeId: string): number {
    let f = this.follows.get(runtimeId);
    // the path comes from the runtime's hook payloads: looked up on first sight, then every few seconds
    const { path, rechecked: recheck } = this.pathFor(runtimeId, this.d.clock());
    if (path === null) return 0;
    const files = this.d.files ?? localFiles;
    const size = files.size(path);
    if (size === null) return 0;
    if (f === undefined || f.path !== path) {
      const offset = Math.max(0, size - CATCH_UP_BYTES);
      f?.watcher?.close();
      f = { path, offset, midFile: offset > 0, watcher: null, watched: null };
      this.follows.set(runtimeId, f);
    }
    if (this.timer !== undefined && (f.watched !== path || (recheck && f.watcher === null))) {
      // (re)arm change notifications: new path, or a watch that could not be armed before
      f.watcher?.close();
      f.watcher = files.watch?.(path, () => this.changed(runtimeId)) ?? null;
      f.watched = path;
    }
    if (size < f.offset) {
      f.offset = 0; // truncated or replaced
      f.midFile = false;
      f.watched = null; // a replaced file is a new inode: re-arm the watch at the next pass
    }
    if (size === f.offset) return 0;
    const got = files.read(path, f.offset, Math.min(size - f.offset, MAX_READ_BYTES));
    if (got === null) return 0;
    const buf = Buffer.from(got.buffer, got.byteOffset, got.byteLength);
    const end = buf.lastIndexOf(0x0a) + 1;
    if (end === 0) return 0; // no complete line yet
    const lines = buf.subarray(0, end).toString("utf8").split("\n");
    if (f.midFile) lines.shift();
    f.midFile = false;
    f.offset += end;
    const now = this.d.clock();
    const items: IngestItem[] = [];
    for (const line of lines) {
      const sig = parseClaudeTranscriptLine(line);
      if (sig === null) continue;
      const at = Math.min(sig.at, now);
      const envelope: Envelope = {
        event_id: `tr-${runtimeId.slice(3, 19)}-${sig.uuid}`,
        event_type: `claude.${sig.kind}`,
        source: "hook",
        dedupe_key: `transcript:${sig.uuid}`,
        event_time: new Date(at).toISOString(),
        runtime_id: runtimeId,
        agent_type: "claude",
        raw_payload: { transcript_line: sig.uuid, kind: sig.kind },
      };
      items.push({ envelope, queuedAt: at });
    }
    if (items.length === 0) return 0;
    this.d.ingestor.ingest(items);
    return items.length;
  }
}
