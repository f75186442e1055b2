/**
 * Daemon logging through consola: JSON lines (one object per line) to stderr,
 * which `daemon start` points at the log file; a human format when stderr is a
 * terminal. Repeats are never collapsed (throttle: 0).
 */
import { type ConsolaReporter, createConsola, LogLevels } from "consola";

export interface Logger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  debug(msg: string, fields?: Record<string, unknown>): void;
}

export function createLogger(opts: { json: boolean; level?: "debug" | "info"; write?: (line: string) => void }): Logger {
  const write = opts.write ?? ((line: string) => process.stderr.write(line));
  const reporter: ConsolaReporter = {
    log(obj) {
      const [msg, fields] = obj.args as [string, Record<string, unknown> | undefined];
      if (opts.json) {
        write(`${JSON.stringify({ time: obj.date.toISOString(), level: obj.type, msg, ...fields })}\n`);
      } else {
        const extra = fields === undefined ? "" : ` ${JSON.stringify(fields)}`;
        write(`${obj.date.toISOString()} ${obj.type.padEnd(5)} ${msg}${extra}\n`);
      }
    },
  };
  const c = createConsola({
    level: opts.level === "debug" ? LogLevels.debug : LogLevels.info,
    reporters: [reporter],
    throttle: 0,
  });
  return {
    info: (m, f) => c.info(m, f),
    warn: (m, f) => c.warn(m, f),
    error: (m, f) => c.error(m, f),
    debug: (m, f) => c.debug(m, f),
  };
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {}, debug() {} };
