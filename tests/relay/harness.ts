/**
 * Running `agtmux relay` for real (a child process from the sources, through
 * LocalExecutor.stream, exactly as the daemon does over ssh) against an
 * isolated "VM" env (HOME/XDG_* in a temp dir).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { appendToSpool } from "../../src/client/spool.ts";
import { type RelayClientOptions, RelayClient, type SpoolBatch } from "../../src/relay/client.ts";
import { type DaemonOp, parseRelayMessage, type RelayMessage, type RelayMessageOf } from "../../src/relay/protocol.ts";
import { LocalExecutor, type StreamHandle } from "../../src/targets/executor.ts";
import { type Sandbox, sandbox } from "../helpers/sandbox.ts";
import { waitFor } from "../helpers/wait.ts";

export const ROOT = join(import.meta.dir, "..", "..");
export const MAIN = join(ROOT, "src", "cli", "main.ts");

export function relayArgv(...flags: string[]): string[] {
  return [process.execPath, MAIN, "relay", ...flags];
}

export interface Vm {
  sb: Sandbox;
  spoolDir: string;
  exec: LocalExecutor;
  /** appends one spool line (event.id = id) the way `agtmux emit` does */
  emit(id: string, extra?: Record<string, unknown>): void;
  cleanup(): void;
}

export function vm(env: Record<string, string | undefined> = {}): Vm {
  const sb = sandbox("relay");
  Object.assign(sb.env, env);
  const spoolDir = sb.paths.spoolDir;
  return {
    sb,
    spoolDir,
    exec: new LocalExecutor("vm", sb.env),
    emit(id, extra = {}) {
      appendToSpool(spoolDir, { id, t: Date.now(), ...extra }, Date.now());
    },
    cleanup: () => sb.cleanup(),
  };
}

/** The event id inside a spool line (our test lines carry `event.id`). */
export function idOf(line: string): string {
  const o = JSON.parse(line) as { event?: { id?: unknown } };
  return typeof o.event?.id === "string" ? o.event.id : "";
}

/** A relay driven line by line (the protocol as raw messages). */
export class RawRelay {
  readonly msgs: RelayMessage[] = [];
  readonly invalid: string[] = [];
  readonly handle: StreamHandle;

  constructor(v: Vm, flags: string[] = []) {
    this.handle = v.exec.stream(relayArgv(...flags), {
      onLine: (l) => {
        const p = parseRelayMessage(l);
        if (p.ok) this.msgs.push(p.value);
        else this.invalid.push(l);
      },
    });
  }

  get pid(): number {
    const p = this.handle.pid;
    if (p === undefined) throw new Error("no pid");
    return p;
  }

  send(op: DaemonOp | string): void {
    this.handle.write(typeof op === "string" ? `${op}\n` : `${JSON.stringify(op)}\n`);
  }

  all<K extends RelayMessage["k"]>(k: K): RelayMessageOf<K>[] {
    return this.msgs.filter((m): m is RelayMessageOf<K> => m.k === k);
  }

  /** the first message of kind k (at index >= from) matching pred */
  next<K extends RelayMessage["k"]>(k: K, pred: (m: RelayMessageOf<K>) => boolean = () => true, opts: { from?: number; timeoutMs?: number } = {}): Promise<RelayMessageOf<K>> {
    return waitFor(() => this.msgs.slice(opts.from ?? 0).find((m): m is RelayMessageOf<K> => m.k === k && pred(m as RelayMessageOf<K>)), {
      timeoutMs: opts.timeoutMs ?? 10_000,
      intervalMs: 5,
      message: `relay message ${k}`,
    });
  }

  /** lines of every spool batch so far, in order */
  lines(): string[] {
    return this.all("spool").flatMap((b) => b.lines);
  }

  async close(): Promise<void> {
    this.handle.close();
    await this.handle.exited;
  }
}

export interface LogEntry {
  level: string;
  message: string;
  data: Record<string, unknown>;
}

/** The daemon's side of the spool in memory: committed offsets + everything ingested. */
export class FakeDaemon {
  offsets: Record<string, number> = {};
  readonly lines: string[] = [];
  /** at: performance.now() when onSpool ran */
  readonly batches: (SpoolBatch & { at: number })[] = [];
  readonly gone: string[] = [];
  readonly logs: LogEntry[] = [];
  readonly states: { up: boolean; reason: string; at: number }[] = [];
  readonly client: RelayClient;
  /** called inside onSpool (tests make it throw) */
  beforeCommit: ((b: SpoolBatch) => void) | null = null;

  constructor(v: Vm, opts: { flags?: string[]; argv?: string[] } & Partial<Omit<RelayClientOptions, "exec" | "argv" | "offsets" | "onSpool" | "onSpoolGone">> = {}) {
    const { flags, argv, ...rest } = opts;
    this.client = new RelayClient({
      targetId: "vm",
      exec: v.exec,
      argv: argv ?? relayArgv(...(flags ?? [])),
      offsets: () => ({ ...this.offsets }),
      onSpool: (b) => {
        this.beforeCommit?.(b);
        this.lines.push(...b.lines);
        this.batches.push({ ...b, at: performance.now() });
        this.offsets[b.file] = b.end;
      },
      onSpoolGone: (f) => {
        delete this.offsets[f];
        this.gone.push(f);
      },
      onLog: (level, message, data) => this.logs.push({ level, message, data }),
      backoffMs: [50, 100, 200],
      ...rest,
    });
    this.client.onState((up, reason) => this.states.push({ up, reason, at: Date.now() }));
  }

  ids(): string[] {
    return this.lines.map(idOf);
  }

  /** waits for the relay to be up (count: the n-th time it came up) */
  up(count = 1, timeoutMs = 15_000): Promise<true> {
    return waitFor(() => this.states.filter((s) => s.up).length >= count && this.client.connected, { timeoutMs, message: `relay up (#${count})` });
  }
}

/** A script that appends `n` spool lines (ids `<prefix>-<i>`) the way `agtmux emit` does, pausing now and then. */
export function writerArgv(dir: string, spoolDir: string, prefix: string, n: number, pauseEvery = 10, pauseMs = 5): string[] {
  const path = join(dir, "writer.ts");
  writeFileSync(
    path,
    `import { appendToSpool } from ${JSON.stringify(join(ROOT, "src", "client", "spool.ts"))};
const [dir, prefix, n, every, ms] = process.argv.slice(2);
for (let i = 0; i < Number(n); i++) {
  appendToSpool(dir, { id: prefix + "-" + i, t: Date.now() }, Date.now());
  if ((i + 1) % Number(every) === 0) await Bun.sleep(Number(ms));
}
`,
  );
  return [process.execPath, path, spoolDir, prefix, String(n), String(pauseEvery), String(pauseMs)];
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function waitGone(pid: number, timeoutMs = 5_000): Promise<true> {
  return waitFor(() => !alive(pid), { timeoutMs, message: `pid ${pid} gone` });
}

export function percentile(xs: readonly number[], p: number): number {
  const s = xs.toSorted((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
}
