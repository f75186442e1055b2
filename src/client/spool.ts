/**
 * The emitter's fallback: when the daemon is unreachable, an event is
 * appended (one line, O_APPEND) to the spool file the daemon drains on start.
 */
import { appendFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { SPOOL_ACTIVE_FILE, type SpoolLine } from "../wire/types.ts";

export function appendToSpool(spoolDir: string, event: unknown, queuedAt: number, fileName = SPOOL_ACTIVE_FILE): string {
  mkdirSync(spoolDir, { recursive: true, mode: 0o700 });
  const line: SpoolLine = { v: 1, queued_at: queuedAt, event };
  const file = join(spoolDir, fileName);
  appendFileSync(file, `${JSON.stringify(line)}\n`, { mode: 0o600 });
  return file;
}
