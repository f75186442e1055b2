/** Identifiers and the recommended dedupe key (contracts §3). */
import { createHash } from "node:crypto";

/** JSON with object keys sorted, so equal payloads hash equally. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== "object") return JSON.stringify(v) ?? "null";
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .toSorted();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(",")}}`;
}

export function sha256Hex(s: string): string {
  return createHash("sha256").update(s).digest("hex");
}

/** sha256(source ":" source_event_id-or-empty ":" payload hash ":" normalized event_type). */
export function recommendedDedupeKey(source: string, sourceEventId: string | undefined, payload: unknown, eventType: string): string {
  const payloadHash = sha256Hex(canonicalJson(payload ?? null));
  return sha256Hex(`${source}:${sourceEventId ?? ""}:${payloadHash}:${eventType.trim().toLowerCase()}`);
}

/** Time-ordered unique id (UUIDv7). */
export function newEventId(): string {
  return Bun.randomUUIDv7();
}
