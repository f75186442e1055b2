/**
 * Reference grammar (contracts §7): runtime:/pane: refs, RFC 3986 session-name
 * encoding, --target-session. Part of TC-024 (names with `/`, `%`, spaces
 * round-trip through refs and filters).
 */
import { describe, expect, test } from "bun:test";
import { AgtmuxError } from "../../src/domain/errors.ts";
import {
  decodeSessionName,
  encodeSessionName,
  formatPaneRef,
  formatRuntimeRef,
  formatTargetSession,
  parseRef,
  parseTargetSession,
} from "../../src/domain/refs.ts";
import { computeRuntimeId } from "../../src/domain/runtime.ts";
import { mulberry32, pick, seedFromEnv } from "../helpers/rng.ts";

/** The strict RFC 3986 encoder, as an independent oracle: everything but ALPHA / DIGIT / "-" / "." / "_" / "~" is %XX (uppercase). */
function rfc3986(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${(c.codePointAt(0) ?? 0).toString(16).toUpperCase()}`);
}

const CANONICAL = /^(?:[A-Za-z0-9\-._~]|%[0-9A-F]{2})*$/;

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof AgtmuxError) return err.code;
    return `non-agtmux error: ${String(err)}`;
  }
  return "no error";
}

const NAMES: ReadonlyArray<[label: string, name: string]> = [
  ["slash", "ops/deploy"],
  ["percent", "100%"],
  ["literal escape-looking text", "a%2Fb"],
  ["spaces", "my session name"],
  ["emoji (astral)", "🚀 deploy 👩‍💻"],
  ["leading dash", "-leading"],
  ["double quotes", '"quoted"'],
  ["single quote", "it's"],
  ["tab", "tab\there"],
  ["combining char (NFD é)", "cafe\u0301"],
  ["precomposed é (NFC)", "caf\u00e9"],
  ["CJK", "日本語セッション"],
  ["empty", ""],
  ["unreserved only", "Az09-._~"],
  ["reserved gen-delims", ":/?#[]@"],
  ["sub-delims", "!$&'()*+,;="],
  ["newline and CR", "a\nb\rc"],
  ["NUL", "nul\u0000byte"],
  ["backslash", "C:\\path"],
  ["max BMP + astral max", "\uFFFD\u{10FFFF}"],
];

describe("session-name encoding (RFC 3986)", () => {
  test.each(NAMES)("TC-024 pane ref round-trips a session name with %s", (_label, name) => {
    const ident = { target: "host", session_name: name, window_id: "@12", pane_id: "%34" };
    const ref = formatPaneRef(ident);
    const enc = encodeSessionName(name);
    expect(ref).toBe(`pane:host/${enc}/@12/%34`);
    expect(enc).toMatch(CANONICAL);
    expect(enc).toBe(rfc3986(name));
    expect(decodeSessionName(enc, ref)).toBe(name);
    expect(parseRef(ref)).toEqual({ kind: "pane", ...ident });
    // the same encoding in --target-session
    const ts = formatTargetSession("vm-1.example_2", name);
    expect(ts).toBe(`vm-1.example_2/${enc}`);
    expect(parseTargetSession(ts)).toEqual({ target: "vm-1.example_2", session_name: name });
  });

  test("TC-024 known encodings: exactly the unreserved set stays literal, hex is uppercase", () => {
    expect(encodeSessionName("a b")).toBe("a%20b");
    expect(encodeSessionName("a/b")).toBe("a%2Fb");
    expect(encodeSessionName("100%")).toBe("100%25");
    expect(encodeSessionName("~._-")).toBe("~._-");
    expect(encodeSessionName("é")).toBe("%C3%A9");
    expect(encodeSessionName("e\u0301")).toBe("e%CC%81");
    expect(encodeSessionName("🚀")).toBe("%F0%9F%9A%80");
    expect(encodeSessionName("\t")).toBe("%09");
    expect(encodeSessionName("\u007f")).toBe("%7F");
    expect(encodeSessionName("")).toBe("");
  });

  test("TC-024 every ASCII character: unreserved literal, everything else %XX", () => {
    for (let c = 0; c < 128; c++) {
      const ch = String.fromCharCode(c);
      const unreserved = /[A-Za-z0-9\-._~]/.test(ch);
      const expected = unreserved ? ch : `%${c.toString(16).toUpperCase().padStart(2, "0")}`;
      expect(`${c}:${encodeSessionName(ch)}`).toBe(`${c}:${expected}`);
      expect(decodeSessionName(expected, "x")).toBe(ch);
    }
  });

  test("TC-024 decoding accepts lowercase hex and over-encoded unreserved characters", () => {
    expect(decodeSessionName("caf%c3%a9", "x")).toBe("café");
    expect(decodeSessionName("%41%7e", "x")).toBe("A~");
    expect(parseRef("pane:host/%6d%61%69%6E/@1/%2")).toEqual({ kind: "pane", target: "host", session_name: "main", window_id: "@1", pane_id: "%2" });
  });

  test("TC-024 a session name starting with U+FEFF (BOM) round-trips", () => {
    // regression: TextDecoder strips a leading BOM unless ignoreBOM is set
    const name = "\uFEFFfoo";
    expect(encodeSessionName(name)).toBe("%EF%BB%BFfoo");
    expect(decodeSessionName(encodeSessionName(name), "x")).toBe(name);
    const ref = formatPaneRef({ target: "host", session_name: name, window_id: "@1", pane_id: "%1" });
    expect(parseRef(ref)).toMatchObject({ session_name: name });
  });
});

describe("ref grammar", () => {
  test("TC-024 runtime refs: 16..128 chars of [A-Za-z0-9._:-]", () => {
    const real = computeRuntimeId({ target_id: "host", boot_id: "b1", pane_id: "%1", pane_epoch: 0, agent_type: "claude", started_at_ns: 1n });
    expect(parseRef(formatRuntimeRef(real))).toEqual({ kind: "runtime", runtime_id: real });
    for (const id of ["a".repeat(16), "Z".repeat(128), "rt-0123456789abcdef", "a.b_c:d-e0123456789", "::::::::::::::::", "----------------"]) {
      expect(parseRef(`runtime:${id}`)).toEqual({ kind: "runtime", runtime_id: id });
      expect(formatRuntimeRef(id)).toBe(`runtime:${id}`);
    }
  });

  const INVALID: readonly string[] = [
    "",
    "runtime",
    "runtime:",
    "runtime:short",
    `runtime:${"a".repeat(15)}`,
    `runtime:${"a".repeat(129)}`,
    "runtime:abcdefgh ijklmnopq",
    "runtime:abcdefghijklmnop/",
    "runtime:abcdefghijklmnop%",
    "runtime:ééééééééééééééééé",
    "RUNTIME:abcdefghijklmnopq",
    " runtime:abcdefghijklmnopq",
    "runtime:abcdefghijklmnopq\n",
    "pane:",
    "pane:host",
    "pane:host/main",
    "pane:host/main/@1",
    "pane:host/main/@1/",
    "pane:host/main/@1/%",
    "pane:host/main/@x/%1",
    "pane:host/main/@/%1",
    "pane:host/main/@-1/%1",
    "pane:host/main/1/%1",
    "pane:host/main/@1/1",
    "pane:host/main/@1/%x",
    "pane:host/main/@1/%1/",
    "pane:host/main/@1/%1/extra",
    "pane:host/main/@1/%1\n",
    "pane:/main/@1/%1",
    "pane:ho st/main/@1/%1",
    "pane:host:22/main/@1/%1",
    "pane:host/ops/deploy/@1/%1", // raw '/' in the session name adds a segment
    "pane:host/main/%1/@1", // ids swapped
    "PANE:host/main/@1/%1",
    "window:host/main/@1",
    "session:host/main",
    "host/main/@1/%1",
    "%1",
    "@1",
  ];
  test.each(INVALID.map((s) => [JSON.stringify(s), s]))("TC-018 E_REF_INVALID: %s", (_l, s) => {
    expect(codeOf(() => parseRef(s))).toBe("E_REF_INVALID");
  });

  test("TC-018 E_REF_INVALID details echo the input, truncated to 200 chars", () => {
    const long = `pane:${"x".repeat(5000)}`;
    try {
      parseRef(long);
      throw new Error("expected a throw");
    } catch (err) {
      expect(err).toBeInstanceOf(AgtmuxError);
      const e = err as AgtmuxError;
      expect(e.code).toBe("E_REF_INVALID");
      expect(e.details).toEqual({ ref: long.slice(0, 200) });
      expect(e.message.length).toBeLessThan(400);
    }
  });

  const BAD_ENCODING: readonly string[] = [
    "pane:host/%G1/@1/%1",
    "pane:host/%4/@1/%1",
    "pane:host/a%/@1/%1",
    "pane:host/%%41/@1/%1",
    "pane:host/%4G/@1/%1",
    "pane:host/my session/@1/%1", // raw space
    "pane:host/tab\there/@1/%1", // raw tab
    "pane:host/caf\u00e9/@1/%1", // raw non-ASCII
    "pane:host/🚀/@1/%1",
    "pane:host/del\u007f/@1/%1",
    "pane:host/%C3%28/@1/%1", // invalid continuation byte
    "pane:host/%C3/@1/%1", // truncated sequence
    "pane:host/%FF/@1/%1",
    "pane:host/%C0%AF/@1/%1", // overlong '/'
    "pane:host/%ED%A0%80/@1/%1", // UTF-16 surrogate
    "pane:host/%F4%90%80%80/@1/%1", // beyond U+10FFFF
    "pane:host/%80/@1/%1", // lone continuation byte
  ];
  test.each(BAD_ENCODING.map((s) => [JSON.stringify(s), s]))("TC-018 E_REF_INVALID_ENCODING: %s", (_l, s) => {
    expect(codeOf(() => parseRef(s))).toBe("E_REF_INVALID_ENCODING");
  });

  test("TC-018 E_REF_INVALID_ENCODING carries the whole ref in details", () => {
    try {
      parseRef("pane:host/%C3%28/@1/%1");
      throw new Error("expected a throw");
    } catch (err) {
      expect(err).toBeInstanceOf(AgtmuxError);
      expect((err as AgtmuxError).details).toEqual({ ref: "pane:host/%C3%28/@1/%1" });
    }
  });

  test("TC-024 --target-session parses <target>/<session-enc>", () => {
    expect(parseTargetSession("host/main")).toEqual({ target: "host", session_name: "main" });
    expect(parseTargetSession("vm1/ops%2Fdeploy%20100%25")).toEqual({ target: "vm1", session_name: "ops/deploy 100%" });
    expect(parseTargetSession("host/%F0%9F%9A%80")).toEqual({ target: "host", session_name: "🚀" });
    expect(parseTargetSession("host/")).toEqual({ target: "host", session_name: "" });
    expect(parseTargetSession("a.b_c-d/x")).toEqual({ target: "a.b_c-d", session_name: "x" });
    for (const bad of ["", "host", "/main", "host/a/b", "ho st/main", "host:1/main", "pane:host/main/@1/%1"]) {
      expect(`${JSON.stringify(bad)} -> ${codeOf(() => parseTargetSession(bad))}`).toBe(`${JSON.stringify(bad)} -> E_REF_INVALID`);
    }
    for (const bad of ["host/%G1", "host/a b", "host/%C3%28", "host/%4", "host/é"]) {
      expect(`${JSON.stringify(bad)} -> ${codeOf(() => parseTargetSession(bad))}`).toBe(`${JSON.stringify(bad)} -> E_REF_INVALID_ENCODING`);
    }
  });
});

describe("property: encode/decode", () => {
  // Code point pool: ASCII (incl. controls), Latin-1, combining marks, CJK, astral
  // (emoji, U+10000, U+10FFFF). U+FEFF is covered by its own test above.
  const RANGES: ReadonlyArray<[number, number]> = [
    [0x00, 0x7f],
    [0x20, 0x7e],
    [0x20, 0x7e],
    [0x80, 0xff],
    [0x300, 0x36f],
    [0x4e00, 0x4eff],
    [0xe000, 0xe0ff],
    [0xfff0, 0xfffd],
    [0x1f300, 0x1f6ff],
    [0x10000, 0x100ff],
    [0x10fff0, 0x10ffff],
  ];
  const SPECIAL = ["%", "/", " ", "\t", "-", "~", "%25", "@", "%", "'", '"'];

  function randomName(rnd: () => number): string {
    const len = Math.floor(rnd() * 24);
    let s = "";
    for (let i = 0; i < len; i++) {
      if (rnd() < 0.15) {
        s += pick(SPECIAL, rnd);
        continue;
      }
      const [lo, hi] = pick(RANGES, rnd);
      s += String.fromCodePoint(lo + Math.floor(rnd() * (hi - lo + 1)));
    }
    return s;
  }

  test("TC-024 random strings (incl. astral): decode(encode(s)) === s, encoding only [A-Za-z0-9-._~%]", () => {
    const seed = seedFromEnv("AGTMUX_SEED_REFS", 0x24_0001);
    console.log(`refs-grammar property seed=${seed}`);
    const rnd = mulberry32(seed);
    for (let i = 0; i < 2000; i++) {
      const name = randomName(rnd);
      const enc = encodeSessionName(name);
      const ctx = `seed=${seed} i=${i} name=${JSON.stringify(name)}`;
      if (!/^[A-Za-z0-9\-._~%]*$/.test(enc) || !CANONICAL.test(enc)) throw new Error(`non-canonical encoding ${enc} (${ctx})`);
      if (enc !== rfc3986(name)) throw new Error(`encoding ${enc} differs from RFC 3986 ${rfc3986(name)} (${ctx})`);
      if (decodeSessionName(enc, "x") !== name) throw new Error(`decode(encode) mismatch (${ctx})`);
      const ident = { target: "t", session_name: name, window_id: `@${i}`, pane_id: `%${i * 7}` };
      const parsed = parseRef(formatPaneRef(ident));
      if (parsed.kind !== "pane" || parsed.session_name !== name || parsed.window_id !== ident.window_id || parsed.pane_id !== ident.pane_id) {
        throw new Error(`pane ref round trip failed (${ctx})`);
      }
      if (parseTargetSession(formatTargetSession("t", name)).session_name !== name) throw new Error(`target-session round trip failed (${ctx})`);
    }
  });

  test("TC-024 random %XX byte strings decode exactly like a strict UTF-8 decoder, or fail with E_REF_INVALID_ENCODING", () => {
    const seed = seedFromEnv("AGTMUX_SEED_REFS_BYTES", 0x24_0002);
    console.log(`refs-grammar bytes property seed=${seed}`);
    const rnd = mulberry32(seed);
    const oracle = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
    let valid = 0;
    let invalid = 0;
    for (let i = 0; i < 2000; i++) {
      const len = 1 + Math.floor(rnd() * 8);
      const bytes: number[] = [];
      for (let j = 0; j < len; j++) {
        // bias towards UTF-8 lead/continuation bytes so that both outcomes are common
        const r = rnd();
        bytes.push(r < 0.3 ? 0x20 + Math.floor(rnd() * 0x5f) : r < 0.6 ? 0x80 + Math.floor(rnd() * 0x40) : Math.floor(rnd() * 256));
      }
      const enc = bytes.map((b) => `%${b.toString(16).padStart(2, "0")}`).join("");
      let expected: string | null;
      try {
        expected = oracle.decode(new Uint8Array(bytes));
      } catch {
        expected = null;
      }
      const ctx = `seed=${seed} i=${i} enc=${enc}`;
      if (expected === null) {
        invalid++;
        const code = codeOf(() => decodeSessionName(enc, enc));
        if (code !== "E_REF_INVALID_ENCODING") throw new Error(`expected E_REF_INVALID_ENCODING, got ${code} (${ctx})`);
      } else {
        valid++;
        const got = decodeSessionName(enc, enc);
        if (got !== expected) throw new Error(`decoded ${JSON.stringify(got)}, expected ${JSON.stringify(expected)} (${ctx})`);
        if (decodeSessionName(encodeSessionName(got), "x") !== got) throw new Error(`re-encode round trip failed (${ctx})`);
      }
    }
    expect(valid).toBeGreaterThan(100);
    expect(invalid).toBeGreaterThan(100);
  });
});
