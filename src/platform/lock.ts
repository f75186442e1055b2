/**
 * Single-instance lock: flock(2) through bun:ffi on a file in the data dir.
 * The kernel drops the lock when the process dies, even on kill -9, so a
 * crashed daemon never leaves a stale lock. The holder's pid is written into
 * the file so a second daemon can name it.
 */
import { dlopen, FFIType } from "bun:ffi";
import { closeSync, ftruncateSync, openSync, readFileSync, writeSync } from "node:fs";

const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;

type FlockFn = (fd: number, op: number) => number;
let flockFn: FlockFn | undefined;

function libcPath(): string {
  if (process.platform === "darwin") return "libSystem.B.dylib";
  return "libc.so.6";
}

function flock(fd: number, op: number): number {
  if (flockFn === undefined) {
    const lib = dlopen(libcPath(), { flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 } });
    flockFn = (f, o) => lib.symbols.flock(f, o);
  }
  return flockFn(fd, op);
}

export interface HeldLock {
  path: string;
  release(): void;
}

export type LockResult = { ok: true; lock: HeldLock } | { ok: false; holderPid: number | null };

/** Tries once, without blocking. */
export function tryLock(path: string): LockResult {
  // node:fs opens with O_CLOEXEC, so children (tmux, ssh) never inherit the lock.
  const fd = openSync(path, "a+", 0o600);
  if (flock(fd, LOCK_EX | LOCK_NB) !== 0) {
    closeSync(fd);
    return { ok: false, holderPid: readHolderPid(path) };
  }
  ftruncateSync(fd, 0);
  writeSync(fd, `${process.pid}\n`, 0);
  let released = false;
  return {
    ok: true,
    lock: {
      path,
      release() {
        if (released) return;
        released = true;
        try {
          ftruncateSync(fd, 0);
        } catch {
          // best effort: the pid is only informative
        }
        flock(fd, LOCK_UN);
        closeSync(fd);
      },
    },
  };
}

/** True when some live process holds the lock (probe: try and release). */
export function isLocked(path: string): { locked: boolean; holderPid: number | null } {
  let r: LockResult;
  try {
    r = tryLock(path);
  } catch {
    return { locked: false, holderPid: null };
  }
  if (r.ok) {
    r.lock.release();
    return { locked: false, holderPid: null };
  }
  return { locked: true, holderPid: r.holderPid };
}

export function readHolderPid(path: string): number | null {
  try {
    const n = Number.parseInt(readFileSync(path, "utf8").trim(), 10);
    return Number.isFinite(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}
