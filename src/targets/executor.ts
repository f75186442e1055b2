/**
 * The execution boundary every tmux read/write and process query goes
 * through (contracts §6). Argv only: never a shell string. The local
 * implementation is here; the ssh2 one arrives with multi-target support and
 * honours the same contract (remote args shell-quoted).
 */

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  timeoutMs: number;
  stdin?: string;
  env?: Record<string, string | undefined>;
}

export interface StreamHandle {
  /** write to the process's stdin */
  write(data: string): void;
  /** end stdin and terminate the process */
  close(): void;
  readonly pid: number | undefined;
  /** resolves with the exit code (null if killed by a signal) */
  readonly exited: Promise<number | null>;
}

export interface StreamOptions {
  onLine(line: string): void;
  env?: Record<string, string | undefined>;
}

/**
 * not_found/spawn_failed/timeout: the command; the rest: the transport to the
 * target (ssh). `unreachable` covers refused/reset/blackholed connections.
 */
export type ExecErrorKind =
  | "not_found"
  | "timeout"
  | "spawn_failed"
  | "unreachable"
  | "connect_timeout"
  | "auth_failed"
  | "host_key_unknown"
  | "host_key_mismatch"
  | "config";

export class ExecError extends Error {
  constructor(
    readonly kind: ExecErrorKind,
    message: string,
    readonly argv0: string,
  ) {
    super(message);
    this.name = "ExecError";
  }
}

export interface Executor {
  readonly targetId: string;
  readonly kind: "local" | "ssh";
  exec(argv: readonly string[], opts: ExecOptions): Promise<ExecResult>;
  /** a long-lived process whose stdout is delivered line by line (tmux control mode, the relay) */
  stream(argv: readonly string[], opts: StreamOptions): StreamHandle;
  /** releases the transport (the ssh connection); local: nothing to do */
  close(): Promise<void>;
}

/** Runs argv directly with Bun.spawn. */
export class LocalExecutor implements Executor {
  readonly kind = "local" as const;
  constructor(
    readonly targetId: string,
    private readonly baseEnv: Record<string, string | undefined> = process.env,
  ) {}

  async close(): Promise<void> {}

  async exec(argv: readonly string[], opts: ExecOptions): Promise<ExecResult> {
    const [cmd] = argv;
    if (cmd === undefined) throw new ExecError("spawn_failed", "empty argv", "");
    let proc: Bun.Subprocess<"pipe" | "ignore", "pipe", "pipe">;
    try {
      proc = Bun.spawn([...argv], {
        env: cleanEnv({ ...this.baseEnv, ...opts.env }),
        stdin: opts.stdin === undefined ? "ignore" : "pipe",
        stdout: "pipe",
        stderr: "pipe",
      });
    } catch (err) {
      const code = (err as { code?: string } | null)?.code;
      if (code === "ENOENT") throw new ExecError("not_found", `${cmd}: command not found`, cmd);
      throw new ExecError("spawn_failed", `${cmd}: ${err instanceof Error ? err.message : String(err)}`, cmd);
    }
    if (opts.stdin !== undefined && proc.stdin !== undefined && typeof proc.stdin !== "number") {
      proc.stdin.write(opts.stdin);
      void proc.stdin.end();
    }
    // On timeout: kill, and stop waiting for the pipes too (a grandchild may hold them open).
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        proc.kill("SIGKILL");
        reject(new ExecError("timeout", `${cmd} timed out after ${opts.timeoutMs} ms`, cmd));
      }, opts.timeoutMs);
    });
    try {
      const [stdout, stderr, code] = await Promise.race([
        Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]),
        timeout,
      ]);
      return { code, stdout, stderr };
    } finally {
      clearTimeout(timer);
    }
  }

  stream(argv: readonly string[], opts: StreamOptions): StreamHandle {
    const [cmd] = argv;
    if (cmd === undefined) throw new ExecError("spawn_failed", "empty argv", "");
    let proc: Bun.Subprocess<"pipe", "pipe", "ignore">;
    try {
      proc = Bun.spawn([...argv], { env: cleanEnv({ ...this.baseEnv, ...opts.env }), stdin: "pipe", stdout: "pipe", stderr: "ignore" });
    } catch (err) {
      const code = (err as { code?: string } | null)?.code;
      if (code === "ENOENT") throw new ExecError("not_found", `${cmd}: command not found`, cmd);
      throw new ExecError("spawn_failed", `${cmd}: ${err instanceof Error ? err.message : String(err)}`, cmd);
    }
    void (async () => {
      const decoder = new TextDecoder();
      let buf = "";
      for await (const chunk of proc.stdout) {
        buf += decoder.decode(chunk, { stream: true });
        let nl = buf.indexOf("\n");
        while (nl >= 0) {
          opts.onLine(buf.slice(0, nl));
          buf = buf.slice(nl + 1);
          nl = buf.indexOf("\n");
        }
      }
      if (buf !== "") opts.onLine(buf);
    })().catch(() => {});
    return {
      pid: proc.pid,
      exited: proc.exited.then((c) => (proc.signalCode !== null ? null : c)),
      write(data) {
        try {
          proc.stdin.write(data);
          void proc.stdin.flush();
        } catch {
          // the process is gone; exited will tell
        }
      },
      close() {
        try {
          void proc.stdin.end();
        } catch {
          // already closed
        }
        proc.kill("SIGTERM");
      },
    };
  }
}

function cleanEnv(env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}
