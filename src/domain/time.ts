/** Time helpers. All internal times are integer epoch milliseconds. */

/** Injected clock: returns epoch ms. The daemon uses Date.now; tests use a fake. */
export type Clock = () => number;

export const systemClock: Clock = () => Date.now();

export class FakeClock {
  constructor(public nowMs: number) {}
  readonly now: Clock = () => this.nowMs;
  advance(ms: number): number {
    this.nowMs += ms;
    return this.nowMs;
  }
}

/** RFC 3339 with a timezone (Z or ±hh:mm), fractional seconds optional. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i;

export function isRfc3339(s: string): boolean {
  return RFC3339.test(s) && Number.isFinite(Date.parse(s)) && calendarValid(s);
}

/** Date.parse rolls 2024-02-30 over to March; refuse dates and times that do not exist. */
function calendarValid(s: string): boolean {
  const y = Number(s.slice(0, 4));
  const mo = Number(s.slice(5, 7));
  const d = Number(s.slice(8, 10));
  const h = Number(s.slice(11, 13));
  const mi = Number(s.slice(14, 16));
  const sec = Number(s.slice(17, 19));
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 59) return false;
  const daysInMonth = new Date(Date.UTC(y, mo, 0)).getUTCDate();
  return d <= daysInMonth;
}

export function parseRfc3339(s: string): number {
  if (!isRfc3339(s)) throw new Error(`not a valid RFC 3339 timestamp: ${s.slice(0, 40)}`);
  return Date.parse(s);
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

export function isoOrNull(ms: number | null | undefined): string | null {
  return ms == null ? null : iso(ms);
}

