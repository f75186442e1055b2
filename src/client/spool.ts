/**
 * The emitter's fallback: when the daemon is unreachable, an event is
 * appended (one line, O_APPEND) to the spool file the daemon drains on start.
 */
import { appendFileSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SPOOL_ACTIVE_FILE, type SpoolLine } from "../wire/types.ts";

export function appendToSpool(spoolDir: string, event: unknown, queuedAt: number, fileName = SPOOL_ACTIVE_FILE): string {
  mkdirSync(spoolDir, { recursive: true, mode: 0o700 });
  const line: SpoolLine = { v: 1, queued_at: queuedAt, event };
  const file = join(spoolDir, fileName);
  appendFileSync(file, `${JSON.stringify(line)}\n`, { mode: 0o600 });
  return file;
}

/**
 * An ssh target's agtmux home carries this marker (written by the relay and
 * by `target bootstrap`): there, `emit` appends to the spool at once (the
 * daemon on the user's machine follows it through the relay) and never tries
 * a local socket or starts a local daemon.
 */
export const RELAYED_MARKER = "relayed";

export function isRelayed(agtmuxHome: string): boolean {
  return existsSync(join(agtmuxHome, RELAYED_MARKER));
}

export function markRelayed(agtmuxHome: string, by: string): void {
  mkdirSync(agtmuxHome, { recursive: true, mode: 0o700 });
  writeFileSync(join(agtmuxHome, RELAYED_MARKER), `${by}\n`, { mode: 0o600 });
}
