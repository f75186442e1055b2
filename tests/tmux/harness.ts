/**
 * An isolated tmux server for tests and benchmarks: a fresh `-L` socket name
 * under this process's TMUX_TMPDIR (set privately by tests/helpers/preload.ts),
 * no config file (`-f /dev/null`), one detached 200x50 session.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ExecOptions, type ExecResult, type Executor, LocalExecutor, type StreamHandle, type StreamOptions } from "../../src/targets/executor.ts";
import { Tmux, type TmuxOptions } from "../../src/tmux/tmux.ts";
import type { TmuxSocket } from "../../src/tmux/types.ts";

export interface TmuxServer {
  socket: TmuxSocket;
  tmux: Tmux;
  /** argv for a tmux command on this server */
  tmuxArgv(...args: string[]): string[];
  /** runs a tmux command on this server; resolves with stdout, throws on a non-zero exit */
  run(...args: string[]): Promise<string>;
  kill(): Promise<void>;
}

export interface StartOptions {
  /** name of the first session, default "main" */
  session?: string;
  /** command (argv) of the first pane, default the shell */
  command?: string[];
  width?: number;
  height?: number;
  tmux?: TmuxOptions;
}

let seq = 0;

export function uniqueSocketName(prefix = "t"): string {
  return `${prefix}-${process.pid}-${++seq}-${crypto.randomUUID().slice(0, 8)}`;
}

export async function startTmuxServer(opts: StartOptions & { exec?: Executor } = {}): Promise<TmuxServer> {
  if (process.env.TMUX_TMPDIR === undefined) throw new Error("TMUX_TMPDIR is not set (tests/helpers/preload.ts sets it)");
  const socket: TmuxSocket = { name: uniqueSocketName() };
  const exec = opts.exec ?? new LocalExecutor("test");
  const tmux = new Tmux(exec, socket, opts.tmux);
  const tmuxArgv = (...args: string[]): string[] => ["tmux", "-L", socket.name as string, "-f", "/dev/null", ...args];
  const run = async (...args: string[]): Promise<string> => {
    const r = await exec.exec(tmuxArgv(...args), { timeoutMs: 15_000, env: { TMUX: undefined, TMUX_PANE: undefined } });
    if (r.code !== 0) throw new Error(`tmux ${args.join(" ")} failed (${r.code}): ${r.stderr.trim()}`);
    return r.stdout;
  };
  await run("new-session", "-d", "-s", opts.session ?? "main", "-x", String(opts.width ?? 200), "-y", String(opts.height ?? 50), ...(opts.command ?? []));
  // tmux 3.3a leaves its socket file behind: remove it with the server
  const socketPath = join(process.env.TMUX_TMPDIR, `tmux-${process.getuid?.() ?? 0}`, socket.name as string);
  return {
    socket,
    tmux,
    tmuxArgv,
    run,
    kill: async () => {
      await tmux.killServer();
      rmSync(socketPath, { force: true });
    },
  };
}

/** Wraps an executor and records every exec/stream argv and every stdin write of a stream. */
export class RecordingExecutor implements Executor {
  readonly targetId: string;
  readonly kind: "local" | "ssh";
  readonly execs: string[][] = [];
  readonly streams: string[][] = [];
  readonly writes: string[] = [];
  constructor(private readonly inner: Executor = new LocalExecutor("test")) {
    this.targetId = inner.targetId;
    this.kind = inner.kind;
  }
  exec(argv: readonly string[], opts: ExecOptions): Promise<ExecResult> {
    this.execs.push([...argv]);
    return this.inner.exec(argv, opts);
  }
  stream(argv: readonly string[], opts: StreamOptions): StreamHandle {
    this.streams.push([...argv]);
    const h = this.inner.stream(argv, opts);
    const writes = this.writes;
    return {
      get pid() {
        return h.pid;
      },
      exited: h.exited,
      write(data) {
        writes.push(data);
        h.write(data);
      },
      close: () => h.close(),
    };
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

const tempDirs: string[] = [];

/** A fresh directory under the test process's root; removed by removeTempDirs(). */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(process.env.AGTMUX_TEST_ROOT ?? tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const d of tempDirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** Writes an executable script (a fake tmux) into a fresh temp dir; returns its path. */
export function fakeBinary(name: string, script: string): string {
  const dir = tempDir("fakebin-");
  const path = join(dir, name);
  writeFileSync(path, script, { mode: 0o755 });
  chmodSync(path, 0o755);
  return path;
}
