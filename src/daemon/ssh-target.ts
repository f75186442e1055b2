/**
 * An ssh target's worker: everything over ONE persistent ssh2 connection.
 * - topology: `tmux list-panes -a` + one `ps` per scan, on exec channels;
 * - the relay (`agtmux relay` on the target, on one long-lived channel):
 *   the target's spool as a stream (offsets committed here, per file, with
 *   the events), tmux control-mode notifications, transcript tails and the
 *   Codex app-server, all read there by the same binary;
 * - health from the scans (contracts §6) — a relay that is down makes the
 *   target's hook events late, not its topology wrong, so it shows as the
 *   relay's own status.
 */
import { RemoteFileMirror } from "../collector/remote-files.ts";
import { DEFAULT_REMOTE_AGTMUX } from "../domain/target.ts";
import { readProcTableVia } from "../procs/table.ts";
import { RelayClient } from "../relay/client.ts";
import { SshExecutor } from "../targets/ssh/executor.ts";
import type { WorkerStatus } from "../wire/list.ts";
import { ingestSpoolLines } from "./spool-reader.ts";
import { CollectingWorker, type Transport, type WorkerFactory, tmuxSocketOf } from "./targets.ts";

/** ps over ssh: the command timeout, not the local 10 s */
const PS_TIMEOUT_MS = 5_000;
/** `target add|connect` wait this long for the relay to say hello */
const RELAY_WAIT_MS = 3_000;

export const sshWorker: WorkerFactory = (ctx, row, env) => {
  const { log, store } = ctx;
  const id = row.target_id;
  const alias = row.connection_ref ?? id;
  const exec = new SshExecutor({
    targetId: id,
    alias,
    env,
    log: {
      debug: (m, f) => log.debug(m, { target: id, ...f }),
      info: (m, f) => log.info(m, { target: id, ...f }),
      warn: (m, f) => log.warn(m, { target: id, ...f }),
    },
  });
  const argv = [row.agtmux_path ?? DEFAULT_REMOTE_AGTMUX, "relay", ...(row.tmux_socket !== null ? ["--tmux-socket", row.tmux_socket] : [])];
  let worker: CollectingWorker | undefined;
  const relay = new RelayClient({
    targetId: id,
    exec,
    argv,
    clock: ctx.clock,
    offsets: () => store.spoolOffsets(id),
    onSpool: (b) => {
      const r = ingestSpoolLines(ctx, id, b.file, b.lines, b.end, true);
      if (r.rejected > 0) log.warn("spool lines from a target rejected", { target: id, file: b.file, rejected: r.rejected });
    },
    onSpoolGone: (file) => store.tx(() => store.deleteSpoolOffset(id, file)),
    onLog: (level, message, data) => log[level === "warn" ? "warn" : level === "info" ? "info" : "debug"](`relay: ${message}`, { target: id, ...data }),
  });
  relay.onState((up, reason) => {
    log.info(up ? "relay up" : "relay down", { target: id, reason });
    // the relay brings control-mode notifications: rescan when it comes and goes
    worker?.requestScan(up ? "relay-up" : "relay-down");
  });
  // ssh back after a drop: the relay restarts at once instead of after the backoff it built up meanwhile
  exec.onState((state) => {
    if (state === "connected") relay.transportUp();
  });
  const files = new RemoteFileMirror(relay, ctx.clock);
  const codex = relay.codexSource();
  const transport: Transport = {
    exec,
    readProcs: () => readProcTableVia(exec, { timeoutMs: PS_TIMEOUT_MS }),
    control: relay.controlFactory(),
    files,
    codex: { source: codex, readLastTurn: (path) => relay.readLastTurnRemote(path) },
    start(w) {
      worker = w;
      relay.start();
    },
    async stop() {
      files.stop();
      await relay.stop();
    },
    async reconnect(opts) {
      // a live connection is kept (the relay streams on it); a dead one, or a host key to accept, connects anew
      if (!exec.stats.connected || opts.acceptNewHostKey === true) {
        await exec.close();
        await exec.connect(opts);
      }
      // not started yet (`target add` probes before the worker runs): start() launches it, and the
      // report after start says whether it came up. One launched a moment ago is waited for, not restarted.
      if (!relay.connected && relay.running) {
        if (!relay.launching) relay.restart("connect requested");
        // the report says whether hook events flow: give the relay its hello
        const deadline = Date.now() + RELAY_WAIT_MS;
        while (!relay.connected && Date.now() < deadline) await Bun.sleep(25);
      }
    },
    status(): Partial<WorkerStatus> {
      const s = exec.stats;
      const r = relay.stats;
      const hello = relay.hello;
      return {
        connected: s.connected,
        relay: {
          up: relay.connected,
          detail: relay.connected ? `pid ${hello?.pid ?? "?"} on ${hello?.os ?? "?"}/${hello?.arch ?? "?"}` : (relay.lastError ?? "starting"),
          version: hello?.version ?? null,
          restarts: r.restarts,
          lines: r.lines,
        },
        ssh: { connects: s.connects, reconnects: s.reconnects, channels_open: s.channelsOpen, last_error: s.lastError?.message ?? null },
      };
    },
  };
  return new CollectingWorker(ctx, row, transport, tmuxSocketOf(row.tmux_socket, env, false), { codex: true });
};
