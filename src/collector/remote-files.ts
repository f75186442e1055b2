/**
 * A FileReader over files on an ssh target: the relay there follows each file
 * asked for (inotify) and pushes appended bytes over the target's one ssh
 * connection; this keeps them until read. Reads are synchronous and never
 * touch the network: what has not arrived yet reads as "not yet" (null), and
 * the next tick of the follower picks it up.
 */
import { CATCH_UP_BYTES, type FileReader } from "./transcripts.ts";

/** What the mirror needs of the relay client. */
export interface TailSource {
  tail(
    path: string,
    offset: number,
    onData: (chunk: Uint8Array, at: number) => void,
    onError: (err: { message: string }) => void,
    opts: { onReset?(size: number): void },
  ): { stop(): void };
}

/** a path nobody asked about for this long is no longer followed */
const IDLE_MS = 60_000;
/** unread bytes kept per file before the mirror gives up and re-tails at the reader's offset */
const MAX_BUFFERED = 4 * 1024 * 1024;

interface Mirror {
  /** file offset of data[0] */
  start: number;
  data: Buffer;
  /** end of the data heard of (null: nothing heard yet) */
  size: number | null;
  handle: { stop(): void };
  usedAt: number;
  error: string | null;
}

export class RemoteFileMirror implements FileReader {
  private readonly files = new Map<string, Mirror>();
  /** change listeners per path (FileReader.watch): called when bytes arrive or the file was reset */
  private readonly listeners = new Map<string, Set<() => void>>();

  constructor(
    private readonly source: TailSource,
    private readonly now: () => number = Date.now,
  ) {}

  size(path: string): number | null {
    this.sweep();
    const m = this.files.get(path) ?? this.follow(path, -CATCH_UP_BYTES);
    m.usedAt = this.now();
    if (m.error !== null || m.size === null) return null;
    // what can be read: up to the end of what arrived
    return m.start + m.data.length;
  }

  read(path: string, offset: number, len: number): Uint8Array | null {
    const m = this.files.get(path);
    if (m === undefined) return null;
    m.usedAt = this.now();
    if (offset < m.start) {
      // the reader wants bytes from before what we hold (it restarted at an older offset): ask again from there
      this.refollow(path, offset);
      return null;
    }
    // what the reader is past is not needed again
    if (offset > m.start) {
      const drop = Math.min(offset - m.start, m.data.length);
      m.data = m.data.subarray(drop);
      m.start += drop;
    }
    if (offset > m.start) return null; // beyond what arrived
    return m.data.subarray(0, Math.min(len, m.data.length));
  }

  watch(path: string, onChange: () => void): { close(): void } {
    let set = this.listeners.get(path);
    if (set === undefined) this.listeners.set(path, (set = new Set()));
    const fn = (): void => onChange();
    set.add(fn);
    return {
      close: () => {
        set.delete(fn);
        if (set.size === 0 && this.listeners.get(path) === set) this.listeners.delete(path);
      },
    };
  }

  stop(): void {
    for (const m of this.files.values()) m.handle.stop();
    this.files.clear();
    this.listeners.clear();
  }

  private notify(path: string): void {
    for (const fn of this.listeners.get(path) ?? []) {
      try {
        fn();
      } catch {
        // a listener's failure is its own
      }
    }
  }

  private follow(path: string, offset: number): Mirror {
    const m: Mirror = { start: Math.max(0, offset), data: Buffer.alloc(0), size: null, handle: { stop() {} }, usedAt: this.now(), error: null };
    let first = true;
    m.handle = this.source.tail(
      path,
      offset,
      (chunk, at) => {
        if (this.files.get(path) !== m) return;
        m.error = null;
        m.size = at + chunk.length;
        if (first || at !== m.start + m.data.length) {
          // the first chunk says where the relay started (a negative offset is "the last N bytes")
          m.start = at;
          m.data = Buffer.from(chunk);
          first = false;
        } else {
          m.data = Buffer.concat([m.data, chunk]);
        }
        if (m.data.length > MAX_BUFFERED) this.refollow(path, m.start + m.data.length - MAX_BUFFERED);
        this.notify(path);
      },
      (err) => {
        if (this.files.get(path) !== m) return;
        m.error = err.message;
      },
      {
        onReset: () => {
          if (this.files.get(path) !== m) return;
          // shrank: truncated or replaced; the follower sees the smaller size and starts over
          m.start = 0;
          m.data = Buffer.alloc(0);
          m.size = 0;
          first = true;
          this.notify(path);
        },
      },
    );
    this.files.set(path, m);
    return m;
  }

  private refollow(path: string, offset: number): void {
    this.files.get(path)?.handle.stop();
    this.files.delete(path);
    this.follow(path, offset);
  }

  private sweep(): void {
    const now = this.now();
    for (const [p, m] of this.files) {
      if (now - m.usedAt < IDLE_MS) continue;
      m.handle.stop();
      this.files.delete(p);
    }
  }
}
