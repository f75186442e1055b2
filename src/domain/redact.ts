/**
 * Secret redaction, applied to everything before it is stored (hook payloads,
 * captured text, ...). Pure: no IO, no clock, no randomness.
 *
 * Deterministic by design: dedupe keys are computed over redacted data, so the
 * same input must always give the same output, and redacting already-redacted
 * text must change nothing.
 *
 * How it works: a fixed list of detectors each report candidate [start, end)
 * ranges; overlapping ranges are merged (their union is redacted, named after
 * the most specific detector involved) and each merged range is replaced by
 * `[REDACTED:<kind>]`. Existing markers are never cut or re-reported. Regexes
 * are compiled once and have no nested unbounded quantifiers; the ones that
 * look for tokens start with a look-behind so that a match can only begin at a
 * token boundary, which keeps scanning linear on long inputs.
 */

/** Kinds reported by {@link findSecrets}, most specific first (merge priority). */
export const SECRET_KINDS = [
  "private_key",
  "jwt",
  "anthropic_key",
  "openai_key",
  "github_token",
  "slack_token",
  "google_api_key",
  "stripe_key",
  "aws_access_key_id",
  "aws_secret_access_key",
  "url_password",
  "bearer_token",
  "basic_auth",
  "secret_assignment",
  "high_entropy",
] as const;

export type SecretKind = (typeof SECRET_KINDS)[number];

export interface SecretMatch {
  kind: SecretKind;
  /** UTF-16 offset of the first redacted character. */
  start: number;
  /** UTF-16 offset just past the last redacted character. */
  end: number;
}

/** Marker for values dropped because of their object key (see {@link redactValue}). */
export const KEY_MARKER = "[REDACTED:key]";

const marker = (kind: string): string => `[REDACTED:${kind}]`;

/** An existing marker: never cut, never reported again. */
const MARKER_RE = /\[REDACTED:[a-z_]+\]/g;
const WHOLE_MARKER_RE = /^\[REDACTED:[a-z_]+\]$/;

// ---------------------------------------------------------------------------
// Key names
// ---------------------------------------------------------------------------

/** Whole words that make a key secret wherever they appear in it. */
const SECRET_WORDS = new Set([
  "auth",
  "authorization",
  "bearer",
  "cookies",
  "credential",
  "credentials",
  "secrets",
]);

/**
 * Words ending in one of these are secret too, which also covers fused
 * spellings ("apikey", "dbpassword", "githubtoken", "clientsecret"). Plurals
 * are deliberately absent: "tokens" / "max_tokens" are usage counters.
 */
const SECRET_SUFFIXES = [
  "password",
  "passwd",
  "passphrase",
  "secret",
  "token",
  "cookie",
  "apikey",
  "accesskey",
  "privatekey",
  "secretkey",
];

/** `<qualifier>_key` is secret ("api_key", "private_key"); a bare "key" is not. */
const KEY_QUALIFIERS = new Set([
  "api",
  "access",
  "private",
  "secret",
  "signing",
  "encryption",
  "master",
  "session",
  "ssh",
]);

/**
 * A key whose last word is one of these names metadata about a secret rather
 * than the secret itself ("token_count", "password_file", "access_key_id").
 */
const BENIGN_LAST_WORDS = new Set([
  "count",
  "counts",
  "type",
  "types",
  "id",
  "ids",
  "path",
  "paths",
  "file",
  "files",
  "filename",
  "dir",
  "name",
  "names",
  "length",
  "len",
  "size",
  "limit",
  "limits",
  "usage",
  "max",
  "min",
  "ttl",
  "expiry",
  "expires",
  "expiration",
  "url",
  "uri",
  "endpoint",
  "hint",
  "label",
  "prompt",
  "policy",
  "required",
  "enabled",
  "present",
  "provider",
  "source",
  "env",
  "format",
  "version",
  "kind",
  "mode",
  "method",
  "scheme",
]);

/** "x-api-key" / "AWS_SECRET_ACCESS_KEY" / "apiKey" / "APIKey" → lowercase words. */
function keyWords(key: string): string[] {
  return key
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1 $2")
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w.length > 0);
}

/**
 * Does an object key / assignment name denote a secret value? Case-insensitive;
 * "password", "api_key", "apiKey", "set-cookie", "session_token" are secret;
 * "token_count", "tokens", "max_tokens", "session_id", "transcript_path" are
 * not. "pwd" is deliberately not secret: in environment dumps PWD is the
 * working directory.
 */
export function isSecretKey(key: string): boolean {
  const words = keyWords(key);
  const last = words[words.length - 1];
  if (last === undefined || BENIGN_LAST_WORDS.has(last)) return false;
  let prev = "";
  for (const w of words) {
    if (SECRET_WORDS.has(w)) return true;
    if (SECRET_SUFFIXES.some((suffix) => w.endsWith(suffix))) return true;
    if (w === "key" && KEY_QUALIFIERS.has(prev)) return true;
    prev = w;
  }
  return false;
}

// ---------------------------------------------------------------------------
// Detectors
// ---------------------------------------------------------------------------

type Push = (start: number, end: number) => void;
type Detector = (s: string, push: Push) => void;

const hasUpperLowerDigit = (t: string): boolean => /[A-Z]/.test(t) && /[a-z]/.test(t) && /[0-9]/.test(t);

/**
 * Plausible credential after "Bearer"/"Basic": at least 8 characters and not a
 * plain (optionally capitalised) word, so prose like "Bearer authentication"
 * is left alone.
 */
const looksLikeToken = (t: string): boolean => t.length >= 8 && !/^[A-Za-z][a-z]*$/.test(t);

interface RegexDetectorOptions {
  /** Capture group holding the secret; default is the whole match. Needs the `d` flag. */
  group?: number;
  /** Extra validation of the redacted text. */
  accept?: (secret: string) => boolean;
}

function regexDetector(re: RegExp, options: RegexDetectorOptions = {}): Detector {
  const { group, accept } = options;
  return (s, push) => {
    // matchAll works on a clone of `re`, so the shared regex carries no state.
    for (const m of s.matchAll(re)) {
      let start = m.index;
      let end = start + m[0].length;
      if (group !== undefined) {
        const span = m.indices?.[group];
        if (span === undefined) continue;
        [start, end] = span;
      }
      if (accept === undefined || accept(s.slice(start, end))) push(start, end);
    }
  };
}

// PEM private keys. Scanned by hand rather than with one lazy regex so that
// many BEGIN lines without an END stay linear.
const PEM_BEGIN_RE = /-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----/g;
const PEM_END_RE = /-----END [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----/g;
/**
 * Body of a truncated key (no END line): following lines made only of base64
 * or legacy encryption headers. Newlines may be real or JSON-escaped (`\n`).
 */
const PEM_BODY_RE = /(?:(?:\r?\n|(?:\\r)?\\n)(?:[A-Za-z0-9+/=]+(?![^\r\n\\])|Proc-Type:[^\r\n\\]*|DEK-Info:[^\r\n\\]*)?)*/y;

const findPrivateKeys: Detector = (s, push) => {
  if (!s.includes("PRIVATE KEY")) return;
  let endMissing = false; // once an END search fails, every later one would too
  PEM_BEGIN_RE.lastIndex = 0;
  for (let m = PEM_BEGIN_RE.exec(s); m !== null; m = PEM_BEGIN_RE.exec(s)) {
    const start = m.index;
    let end = start + m[0].length;
    let closed = false;
    if (!endMissing) {
      PEM_END_RE.lastIndex = end;
      const e = PEM_END_RE.exec(s);
      if (e === null) endMissing = true;
      else {
        end = e.index + e[0].length;
        closed = true;
      }
    }
    if (!closed) {
      // A truncated key (e.g. `head` of a key file) is still a secret.
      PEM_BODY_RE.lastIndex = end;
      const body = PEM_BODY_RE.exec(s);
      if (body !== null) end += body[0].length;
    }
    push(start, end);
    PEM_BEGIN_RE.lastIndex = end;
  }
};

/** Values after a secret key that are clearly not secrets (types, literals). */
const PLACEHOLDER_VALUES = new Set([
  "any",
  "bool",
  "boolean",
  "false",
  "nil",
  "none",
  "null",
  "number",
  "object",
  "optional",
  "required",
  "str",
  "string",
  "true",
  "undefined",
  "unknown",
]);

// Assignments: `name = value`, `name: value`, `"name": "value"`,
// `\"name\":\"value\"`, `--name=value` and `--name value`. The regex matches
// only the name and the separator; the value is then read with VALUE_RE.
// Matching the value in the same regex would let a rejected match ("Note: ...")
// swallow a real assignment inside its value ("Note: password=...").
//
// The separator is a single `:`/`=` (or `:=`), never `==`, `::` or `=>`. An
// auth scheme word after it is kept ("Authorization: Bearer <redacted>"), and
// is never itself taken as the value.
const ASSIGNMENT_HEAD_RE =
  /(?<![A-Za-z0-9_.-])([A-Za-z0-9_.-]+)\\?["']?[ \t]*(?::=|[:=](?![:=]))[ \t]*(?:(?:Bearer|Basic|Token|Digest)[ \t]+)?/gi;
/** `--password hunter2`: the value may not start with `-` (that is the next flag). */
const FLAG_HEAD_RE = /(?<![A-Za-z0-9_.-])(--?[A-Za-z][A-Za-z0-9_-]*)[ \t]+(?=[^\s-])/g;
/**
 * A value: double-quoted (with JSON escapes), single-quoted, JSON-escaped
 * quotes, or unquoted up to whitespace, a quote, a bracket or one of `,;&|`.
 * A `[` never starts a value, so an existing marker is not re-matched.
 */
const VALUE_RE = /"((?:[^"\\\r\n]|\\.)*)"|'([^'\r\n]*)'|\\"([^"\\\r\n]*)\\"|([^\s"'`,;&|<>(){}[\]\\]+)/dy;
const UNQUOTED_GROUP = 4;
/** A Cookie header holds several `name=value;` pairs: redact to end of line. */
const COOKIE_TAIL_RE = /[^\r\n"'\\]*/y;

function assignmentDetector(head: RegExp): Detector {
  return (s, push) => {
    // A value starting inside an already-read value is not read again: it
    // would end at the same place, and re-reading "a=a=a=..." is quadratic.
    let readUntil = 0;
    for (const m of s.matchAll(head)) {
      const name = m[1];
      const at = m.index + m[0].length;
      if (name === undefined || at < readUntil || !isSecretKey(name)) continue;
      // "scheme://user:password@host" is the url_password detector's job.
      if (s.startsWith("://", m.index - 3)) continue;
      VALUE_RE.lastIndex = at;
      const v = VALUE_RE.exec(s);
      if (v === null) continue;
      readUntil = at + v[0].length;
      let group = 1;
      while (group < UNQUOTED_GROUP && v[group] === undefined) group++;
      const value = v[group];
      const span = v.indices?.[group];
      if (value === undefined || span === undefined || value === "") continue;
      if (PLACEHOLDER_VALUES.has(value.toLowerCase())) continue;
      const quoted = group !== UNQUOTED_GROUP;
      // `$TOKEN`, `${TOKEN}`, `$(cat file)` refer to a secret, they are not one;
      // `token = getToken()` is a call, not a literal.
      if (!quoted && (value.startsWith("$") || s[span[1]] === "(")) continue;
      let end = span[1];
      if (!quoted && /cookies?$/i.test(name)) {
        COOKIE_TAIL_RE.lastIndex = end;
        end += COOKIE_TAIL_RE.exec(s)?.[0].length ?? 0;
        readUntil = end;
      }
      push(span[0], end);
    }
  };
}

const findAssignments = assignmentDetector(ASSIGNMENT_HEAD_RE);
const findFlagValues = assignmentDetector(FLAG_HEAD_RE);

// Long high-entropy tokens. `=` only as trailing base64 padding, so that in
// `NAME=value` the name and the value are judged separately.
const HIGH_ENTROPY_RE = /(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{32,}(?:={1,2}(?![A-Za-z0-9+/_=-]))?/g;
const HIGH_ENTROPY_MIN_BITS = 4.2;
/**
 * Long identifiers that are not secrets: Anthropic/OpenAI object ids (used to
 * correlate events, so they must survive) and Subresource-Integrity hashes.
 */
const NON_SECRET_ID_RE = /^(?:toolu_|srvtoolu_|msg_|req_|call_|resp_|chatcmpl-|sha(?:1|256|384|512)-)/;
/** Word-like chunks: "Components", "index", "IMG" (but not "aB", "Xq"). */
const WORD_CHUNK_RE = /[A-Z]?[a-z]{3,}|[A-Z]{3,}(?![a-z])/g;
/** In paths also "The", "Src"; a whole segment of <= 3 chars ("go", "UI", "v2") counts as a word. */
const PATH_WORD_CHUNK_RE = /[A-Z][a-z]{2,}|[a-z]{3,}|[A-Z]{3,}(?![a-z])/g;
/** Runs of one shape: a (capitalised) word, an all-caps run, a number, one symbol. */
const SHAPE_RUN_RE = /[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+|[^A-Za-z0-9/]/g;
/**
 * Paths and identifiers ("/Users/Alice/Photos2023/Summer", "FooBarV2Impl") are
 * mostly made of word-like chunks; random base64 rarely is. Measured on random
 * base64: a 32-char token is taken for words ~0.3% of the time, 40 chars
 * ~0.15%, 64 chars ~0.03%. That miss rate is the price of keeping file paths.
 */
const WORDY_RATIO = 0.8;
/** Paths like "/In380/Module2161/OK600" have long same-shape runs; random base64 averages < 2. */
const PATH_MEAN_RUN = 3;

function shannonEntropy(t: string): number {
  const counts = new Map<number, number>();
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i);
    counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  let bits = 0;
  for (const n of counts.values()) {
    const p = n / t.length;
    bits -= p * Math.log2(p);
  }
  return bits;
}

function letterCount(t: string): number {
  let n = 0;
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i) | 0x20; // ASCII lower-case
    if (c >= 0x61 && c <= 0x7a) n++;
  }
  return n;
}

function lettersInChunks(t: string, chunk: RegExp): number {
  let n = 0;
  for (const m of t.matchAll(chunk)) n += m[0].length;
  return n;
}

function isWordy(t: string): boolean {
  const letters = letterCount(t);
  if (letters === 0) return false;
  const segments = t.split("/");
  if (segments.length < 3) return lettersInChunks(t, WORD_CHUNK_RE) / letters >= WORDY_RATIO;
  // Two or more slashes: judge it as a path, segment by segment.
  let inWords = 0;
  for (const seg of segments) inWords += seg.length <= 3 ? letterCount(seg) : lettersInChunks(seg, PATH_WORD_CHUNK_RE);
  if (inWords / letters >= WORDY_RATIO) return true;
  let runs = 0;
  let runChars = 0;
  for (const m of t.matchAll(SHAPE_RUN_RE)) {
    runs++;
    runChars += m[0].length;
  }
  return runs > 0 && runChars / runs >= PATH_MEAN_RUN;
}

/** Hex-only strings (git SHAs, sha256) never pass: they lack upper+lower. */
function isHighEntropySecret(t: string): boolean {
  return (
    hasUpperLowerDigit(t) &&
    !NON_SECRET_ID_RE.test(t) &&
    shannonEntropy(t) >= HIGH_ENTROPY_MIN_BITS &&
    !isWordy(t)
  );
}

/** Same order as SECRET_KINDS: on overlap the earlier kind names the marker. */
const DETECTORS: ReadonlyArray<readonly [SecretKind, Detector]> = [
  ["private_key", findPrivateKeys],
  [
    "jwt",
    regexDetector(/(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g),
  ],
  ["anthropic_key", regexDetector(/(?<![A-Za-z0-9])sk-ant-[A-Za-z0-9_-]{20,}/g)],
  [
    "openai_key",
    // Real keys are random base62/64; requiring all three character classes
    // spares names like "sk-learn-contrib-helpers".
    regexDetector(/(?<![A-Za-z0-9])sk-(?!ant-)(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}/g, {
      accept: hasUpperLowerDigit,
    }),
  ],
  [
    "github_token",
    regexDetector(/(?<![A-Za-z0-9])(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})/g),
  ],
  ["slack_token", regexDetector(/(?<![A-Za-z0-9])xox[abprs]-[A-Za-z0-9-]{10,}/g)],
  ["google_api_key", regexDetector(/(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])/g)],
  ["stripe_key", regexDetector(/(?<![A-Za-z0-9])(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{20,}/g)],
  ["aws_access_key_id", regexDetector(/(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])/g)],
  [
    "aws_secret_access_key",
    // aws_secret_access_key = ..., AWS_SECRET_ACCESS_KEY=..., "SecretAccessKey": "..."
    regexDetector(
      /(?<![A-Za-z0-9])(?:aws[_.-]?)?secret[_.-]?(?:access[_.-]?)?key\\?["']?[ \t]*[:=][ \t]*\\?["']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])/dgi,
      { group: 1 },
    ),
  ],
  [
    "url_password",
    // scheme://user:PASSWORD@host keeps scheme, user and host. The password may
    // contain unescaped "@" (greedy up to the last one before the host).
    regexDetector(/(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*:\/\/[^\s:/@"'<>]*:([^\s/?#"'<>]+)@/dg, { group: 1 }),
  ],
  [
    "bearer_token",
    regexDetector(/(?<![A-Za-z0-9_])Bearer[ \t]+([A-Za-z0-9._~+/-]+=*)/dgi, { group: 1, accept: looksLikeToken }),
  ],
  [
    "basic_auth",
    regexDetector(/(?<![A-Za-z0-9_])Basic[ \t]+([A-Za-z0-9+/]+={0,2})/dgi, {
      group: 1,
      accept: looksLikeToken,
    }),
  ],
  [
    "secret_assignment",
    (s, push) => {
      findAssignments(s, push);
      findFlagValues(s, push);
    },
  ],
  ["high_entropy", regexDetector(HIGH_ENTROPY_RE, { accept: isHighEntropySecret })],
];

// ---------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------

interface Candidate {
  start: number;
  end: number;
  /** Index into DETECTORS; lower is more specific. */
  rank: number;
}

/** [start, end) ranges of existing markers, sorted and disjoint. */
function markerRanges(s: string): Array<[number, number]> {
  if (!s.includes("[REDACTED:")) return [];
  return Array.from(s.matchAll(MARKER_RE), (m): [number, number] => [m.index, m.index + m[0].length]);
}

/** Index of the marker containing `pos`, or -1 (binary search; markers are sorted). */
function markerAt(markers: ReadonlyArray<readonly [number, number]>, pos: number): number {
  let lo = 0;
  let hi = markers.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const m = markers[mid];
    if (m === undefined) return -1;
    if (m[0] > pos) hi = mid - 1;
    else if (m[1] <= pos) lo = mid + 1;
    else return mid;
  }
  return -1;
}

/**
 * Trim a candidate so it neither starts nor ends inside an existing marker:
 * marker text is not secret, and cutting a marker in half would garble it.
 */
function clipToMarkers(
  markers: ReadonlyArray<readonly [number, number]>,
  start: number,
  end: number,
): [number, number] {
  for (let i = markerAt(markers, start); i >= 0 && start < end; i = markerAt(markers, start)) {
    start = markers[i]?.[1] ?? end;
  }
  for (let i = markerAt(markers, end - 1); i >= 0 && start < end; i = markerAt(markers, end - 1)) {
    end = markers[i]?.[0] ?? start;
  }
  return [start, end];
}

/**
 * Secrets in `s` (one pass of every detector): sorted, non-overlapping ranges.
 * Overlapping detections are merged into their union, named after the most
 * specific detector involved. Existing `[REDACTED:...]` markers are never
 * reported.
 */
export function findSecrets(s: string, skip?: ReadonlySet<string>): SecretMatch[] {
  const markers = markerRanges(s);
  const candidates: Candidate[] = [];
  DETECTORS.forEach(([kind, detect], rank) => {
    if (skip?.has(kind) === true) return;
    detect(s, (start, end) => {
      if (markers.length > 0) [start, end] = clipToMarkers(markers, start, end);
      if (end > start) candidates.push({ start, end, rank });
    });
  });
  if (candidates.length === 0) return [];

  candidates.sort((a, b) => a.start - b.start || b.end - a.end || a.rank - b.rank);
  const merged: Candidate[] = [];
  for (const c of candidates) {
    const last = merged[merged.length - 1];
    if (last !== undefined && c.start < last.end) {
      last.end = Math.max(last.end, c.end);
      last.rank = Math.min(last.rank, c.rank);
    } else {
      merged.push({ ...c });
    }
  }
  return merged.map(({ start, end, rank }) => ({ kind: DETECTORS[rank]?.[0] ?? "high_entropy", start, end }));
}

function replaceRanges(s: string, found: readonly SecretMatch[]): string {
  let out = "";
  let pos = 0;
  for (const f of found) {
    out += s.slice(pos, f.start) + marker(f.kind);
    pos = f.end;
  }
  return out + s.slice(pos);
}

/**
 * Upper bound on redaction passes. Each pass strictly shrinks the unredacted
 * text; in practice the second pass finds nothing.
 */
const MAX_PASSES = 4;

/**
 * Replace every secret in free text with `[REDACTED:<kind>]`.
 *
 * Removing a secret can change how its neighbours look (an entropy run gets
 * shorter, a URL loses the "/" that hid its password), so passes repeat until
 * nothing more is found. That makes redaction idempotent, which dedupe relies
 * on: redacting already-redacted text changes nothing.
 */
export function redactString(s: string, skip?: ReadonlySet<string>): string {
  let out = s;
  for (let pass = 0; pass < MAX_PASSES; pass++) {
    const found = findSecrets(out, skip);
    if (found.length === 0) break;
    out = replaceRanges(out, found);
  }
  return out;
}

/**
 * Deep copy of a JSON value with secrets removed. Strings go through
 * {@link redactString}. Under a key for which {@link isSecretKey} holds, a
 * non-empty string or a number becomes {@link KEY_MARKER} (also inside arrays
 * under that key); objects under such keys are recursed, not dropped. Object
 * keys themselves are kept as they are.
 */
export function redactValue(v: unknown): unknown {
  return redactNode(v, false, new Set());
}

const CIRCULAR_MARKER = "[Circular]";

/**
 * Values under path-like keys (transcript_path, cwd, file_path, …) are file
 * system paths that agents and agtmux must be able to follow: random temp
 * directory names look like entropy, so only the explicit secret patterns
 * apply there.
 */
const PATH_KEY_RE = /^(cwd|pwd|path|file|dir|directory|filename)$|(_|-)(path|dir|directory|file|filename)$|(Path|Dir|Directory|File)$/;
const PATH_SKIP: ReadonlySet<string> = new Set(["high_entropy"]);

function redactNode(v: unknown, secretKey: boolean, ancestors: Set<object>, pathKey = false): unknown {
  if (typeof v === "string") {
    if (secretKey && v !== "" && !WHOLE_MARKER_RE.test(v)) return KEY_MARKER;
    return pathKey ? redactString(v, PATH_SKIP) : redactString(v);
  }
  if (typeof v === "number") return secretKey ? KEY_MARKER : v;
  if (v === null || typeof v !== "object") return v;
  if (ancestors.has(v)) return CIRCULAR_MARKER;
  ancestors.add(v);
  try {
    if (Array.isArray(v)) return v.map((item: unknown) => redactNode(item, secretKey, ancestors, pathKey));
    const toJSON: unknown = (v as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === "function") {
      return redactNode((toJSON as (this: unknown) => unknown).call(v), secretKey, ancestors, pathKey);
    }
    // Object.fromEntries defines own properties, so a "__proto__" key from
    // JSON.parse stays data instead of becoming the copy's prototype.
    return Object.fromEntries(
      Object.entries(v).map(([key, item]) => [key, redactNode(item, isSecretKey(key), ancestors, PATH_KEY_RE.test(key))]),
    );
  } finally {
    ancestors.delete(v);
  }
}

/**
 * Redact a JSON document (re-serialised compactly); text that is not JSON is
 * treated as free text. Should the parsed value be too deep to walk, the raw
 * text is redacted instead, which still catches every textual pattern.
 */
export function redactJson(text: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return redactString(text);
  }
  try {
    return JSON.stringify(redactValue(parsed));
  } catch {
    return redactString(text);
  }
}
