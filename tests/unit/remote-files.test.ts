/**
 * RemoteFileMirror: the transcript follower's FileReader for ssh targets,
 * fed by the relay's tail pushes (a fake TailSource here: pure logic).
 */
import { describe, expect, test } from "bun:test";
import { RemoteFileMirror, type TailSource } from "../../src/collector/remote-files.ts";
import { CATCH_UP_BYTES } from "../../src/collector/transcripts.ts";

interface Tail {
  path: string;
  offset: number;
  stopped: boolean;
  data(s: string, at: number): void;
  reset(): void;
  error(m: string): void;
}

function fakeSource(): { source: TailSource; tails: Tail[] } {
  const tails: Tail[] = [];
  const source: TailSource = {
    tail(path, offset, onData, onError, opts) {
      const t: Tail = {
        path,
        offset,
        stopped: false,
        data: (s, at) => onData(new TextEncoder().encode(s), at),
        reset: () => opts.onReset?.(0),
        error: (m) => onError({ message: m }),
      };
      tails.push(t);
      return {
        stop() {
          t.stopped = true;
        },
      };
    },
  };
  return { source, tails };
}

const text = (u: Uint8Array | null): string | null => (u === null ? null : new TextDecoder().decode(u));

describe("RemoteFileMirror", () => {
  test("first look starts a tail at the last CATCH_UP_BYTES; nothing is known until data arrives; then reads come from what arrived", () => {
    const { source, tails } = fakeSource();
    const m = new RemoteFileMirror(source);
    expect(m.size("/t.jsonl")).toBeNull();
    expect(tails).toHaveLength(1);
    expect(tails[0]?.offset).toBe(-CATCH_UP_BYTES);
    tails[0]?.data("a\nb\n", 1000);
    expect(m.size("/t.jsonl")).toBe(1004);
    expect(text(m.read("/t.jsonl", 1000, 100))).toBe("a\nb\n");
    tails[0]?.data("c\n", 1004);
    expect(m.size("/t.jsonl")).toBe(1006);
    // the reader moved on: what it is past is dropped, the rest stays
    expect(text(m.read("/t.jsonl", 1004, 100))).toBe("c\n");
    expect(m.read("/t.jsonl", 2000, 10)).toBeNull();
    expect(tails).toHaveLength(1);
  });

  test("a read from before what is held re-tails from there; a reset starts over at 0; an error reads as not there", () => {
    const { source, tails } = fakeSource();
    const m = new RemoteFileMirror(source);
    m.size("/t");
    tails[0]?.data("xyz\n", 500);
    expect(m.read("/t", 100, 10)).toBeNull();
    expect(tails[0]?.stopped).toBe(true);
    expect(tails[1]?.offset).toBe(100);
    tails[1]?.data("from100\n", 100);
    expect(text(m.read("/t", 100, 7))).toBe("from100");
    tails[1]?.reset();
    expect(m.size("/t")).toBe(0);
    tails[1]?.data("new\n", 0);
    expect(text(m.read("/t", 0, 10))).toBe("new\n");
    tails[1]?.error("ENOENT");
    expect(m.size("/t")).toBeNull();
  });

  test("a path nobody asks about for a minute is no longer followed; stop() ends every tail", () => {
    let now = 0;
    const { source, tails } = fakeSource();
    const m = new RemoteFileMirror(source, () => now);
    m.size("/a");
    now = 30_000;
    m.size("/b");
    now = 70_000;
    m.size("/b"); // sweeps /a (idle 70 s), keeps /b (used 40 s ago)
    expect(tails.map((t) => [t.path, t.stopped])).toEqual([
      ["/a", true],
      ["/b", false],
    ]);
    m.stop();
    expect(tails.every((t) => t.stopped)).toBe(true);
  });
  test("watch: a listener hears every arrival and reset of its path, none after close or stop", () => {
    const { source, tails } = fakeSource();
    const m = new RemoteFileMirror(source);
    const heard: string[] = [];
    const w = m.watch("/t.jsonl", () => heard.push("t"));
    m.watch("/other.jsonl", () => heard.push("other"));
    expect(m.size("/t.jsonl")).toBeNull();
    tails[0]?.data("a\n", 0);
    tails[0]?.data("b\n", 2);
    tails[0]?.reset();
    expect(heard).toEqual(["t", "t", "t"]);
    w.close();
    tails[0]?.data("c\n", 0);
    expect(heard).toEqual(["t", "t", "t"]);
    const w2 = m.watch("/t.jsonl", () => heard.push("t2"));
    m.stop();
    tails[0]?.data("d\n", 2);
    expect(heard).toEqual(["t", "t", "t"]);
    w2.close();
  });
});
