/**
 * TOML at the level of statements: which lines are table headers, key/value
 * pairs (a value may span lines: arrays, multi-line strings), comments or
 * blank. Enough to edit a user's config.toml line-wise without being fooled by
 * a `[` that starts a line inside a multi-line array or string, and to say
 * where a file is broken: `Bun.TOML.parse` (which decides validity) reports no
 * position.
 */
import { TextSyntaxError, positionAt } from "./json-text.ts";

export type TomlStatement =
  | { kind: "blank"; startLine: number; endLine: number }
  | { kind: "comment"; startLine: number; endLine: number; text: string }
  | { kind: "header"; startLine: number; endLine: number; key: string[]; arrayTable: boolean; comment: string | undefined }
  | { kind: "kv"; startLine: number; endLine: number; key: string[]; comment: string | undefined };

const BARE_KEY = /[A-Za-z0-9_-]+/y;
const VALUE_TOKEN = /[0-9A-Za-z_:.+-]+/y;
const DATE_WITH_SPACE = /\d{4}-\d{2}-\d{2} \d{2}:\d{2}[0-9A-Za-z_:.+-]*/y;
const SCALAR_FORMS = [
  /^(true|false)$/,
  /^[+-]?(0|[1-9](_?\d)*)$/,
  /^0x[0-9A-Fa-f](_?[0-9A-Fa-f])*$/,
  /^0o[0-7](_?[0-7])*$/,
  /^0b[01](_?[01])*$/,
  /^[+-]?(0|[1-9](_?\d)*)(\.\d(_?\d)*)?([eE][+-]?\d(_?\d)*)?$/,
  /^[+-]?(inf|nan)$/,
  /^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:\d{2})?)?$/,
  /^\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/,
];

/** Splits `text` into statements, or throws TextSyntaxError at the first lexical problem. */
export function tomlStatements(text: string): TomlStatement[] {
  let i = 0;
  let line = 0;
  const out: TomlStatement[] = [];
  const fail = (msg: string, at = i): never => {
    const p = positionAt(text, at);
    throw new TextSyntaxError(msg, p.line, p.column);
  };
  const describe = (at: number): string => (at >= text.length || text[at] === "\n" || text[at] === "\r" ? "end of line" : `'${text[at]}'`);
  const skipWs = (): void => {
    while (text[i] === " " || text[i] === "\t") i++;
  };
  const atEol = (): boolean => i >= text.length || text[i] === "\n" || (text[i] === "\r" && text[i + 1] === "\n");
  const newline = (): void => {
    if (i >= text.length) return;
    if (text[i] === "\r") i++;
    if (text[i] !== "\n") fail(`expected end of line, found ${describe(i)}`);
    i++;
    line++;
  };
  const comment = (): string | undefined => {
    if (text[i] !== "#") return undefined;
    const start = i;
    while (!atEol()) i++;
    return text.slice(start, i);
  };
  /** whitespace, newlines and comments (inside arrays) */
  const skipWsNl = (): void => {
    for (;;) {
      skipWs();
      if (text[i] === "#") comment();
      if (i < text.length && atEol()) {
        newline();
        continue;
      }
      return;
    }
  };
  const basicString = (): string => {
    const start = i;
    i++;
    for (;;) {
      if (atEol()) fail("unterminated string (a basic string cannot span lines; use \"\"\")", start);
      const c = text[i];
      if (c === '"') {
        i++;
        break;
      }
      if (c === "\\") {
        const e = text[i + 1] ?? "";
        if (e === "u" || e === "U") {
          const n = e === "u" ? 4 : 8;
          if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(text.slice(i + 2, i + 2 + n))) fail("bad unicode escape");
          i += 2 + n;
          continue;
        }
        if (!'btnfr"\\e'.includes(e) || e === "") fail(`bad escape '\\${e}'`);
        i += 2;
        continue;
      }
      i++;
    }
    const raw = text
      .slice(start, i)
      // TOML-only escapes (\U........, \e) and raw tabs, in JSON's terms
      .replace(/\\(U[0-9a-fA-F]{8}|e|[\s\S])|\t/g, (m: string, esc: string | undefined) => {
        if (esc === undefined) return "\\t";
        if (esc === "e") return "\\u001b";
        if (esc.length === 9) return JSON.stringify(String.fromCodePoint(Number.parseInt(esc.slice(1), 16))).slice(1, -1);
        return m;
      });
    try {
      return JSON.parse(raw) as string;
    } catch {
      return fail("invalid character in string", start);
    }
  };
  const literalString = (): string => {
    const start = i;
    i++;
    while (text[i] !== "'") {
      if (atEol()) fail("unterminated literal string", start);
      i++;
    }
    i++;
    return text.slice(start + 1, i - 1);
  };
  const multiline = (quote: string): void => {
    const start = i;
    const delim = quote.repeat(3);
    i += 3;
    for (;;) {
      if (i >= text.length) fail(`unterminated multi-line string (${delim})`, start);
      if (text[i] === "\\" && quote === '"') {
        if (text[i + 1] === "\n") line++;
        i += 2;
        continue;
      }
      if (text[i] === "\n") line++;
      if (text.startsWith(delim, i)) {
        i += 3;
        // up to two more quotes belong to the content
        if (text[i] === quote) i++;
        if (text[i] === quote) i++;
        return;
      }
      i++;
    }
  };
  const key = (): string[] => {
    const parts: string[] = [];
    for (;;) {
      skipWs();
      const c = text[i];
      if (c === '"') parts.push(basicString());
      else if (c === "'") parts.push(literalString());
      else {
        BARE_KEY.lastIndex = i;
        const m = BARE_KEY.exec(text);
        if (m === null) fail(`expected a key, found ${describe(i)}`);
        parts.push((m as RegExpExecArray)[0]);
        i += (m as RegExpExecArray)[0].length;
      }
      skipWs();
      if (text[i] !== ".") return parts;
      i++;
    }
  };
  const value = (depth: number): void => {
    if (depth > 256) fail("nesting too deep");
    const c = text[i];
    if (text.startsWith('"""', i)) return multiline('"');
    if (text.startsWith("'''", i)) return multiline("'");
    if (c === '"') {
      basicString();
      return;
    }
    if (c === "'") {
      literalString();
      return;
    }
    if (c === "[") {
      i++;
      for (;;) {
        skipWsNl();
        if (text[i] === "]") {
          i++;
          return;
        }
        value(depth + 1);
        skipWsNl();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "]") {
          i++;
          return;
        }
        fail(`expected ',' or ']' in array, found ${describe(i)}`);
      }
    }
    if (c === "{") {
      i++;
      // TOML 1.1 allows newlines and a trailing comma here; be as lenient as the parser may be
      for (;;) {
        skipWsNl();
        if (text[i] === "}") {
          i++;
          return;
        }
        key();
        if (text[i] !== "=") fail(`expected '=' in inline table, found ${describe(i)}`);
        i++;
        skipWs();
        value(depth + 1);
        skipWsNl();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "}") {
          i++;
          return;
        }
        fail(`expected ',' or '}' in inline table, found ${describe(i)}`);
      }
    }
    DATE_WITH_SPACE.lastIndex = i;
    const dm = DATE_WITH_SPACE.exec(text);
    VALUE_TOKEN.lastIndex = i;
    const m = dm ?? VALUE_TOKEN.exec(text);
    if (m === null) fail(`expected a value, found ${describe(i)}`);
    const tok = (m as RegExpExecArray)[0];
    if (!SCALAR_FORMS.some((re) => re.test(tok))) fail(`invalid value '${tok}'`);
    i += tok.length;
  };

  while (i < text.length) {
    const startLine = line;
    skipWs();
    if (atEol()) {
      out.push({ kind: "blank", startLine, endLine: startLine });
      newline();
      continue;
    }
    if (text[i] === "#") {
      const c = comment() as string;
      out.push({ kind: "comment", startLine, endLine: startLine, text: c });
      newline();
      continue;
    }
    if (text[i] === "[") {
      const arrayTable = text[i + 1] === "[";
      i += arrayTable ? 2 : 1;
      const k = key();
      if (text[i] !== "]" || (arrayTable && text[i + 1] !== "]")) fail(`expected '${arrayTable ? "]]" : "]"}' to close the table header, found ${describe(i)}`);
      i += arrayTable ? 2 : 1;
      skipWs();
      const c = comment();
      if (!atEol()) fail(`unexpected ${describe(i)} after the table header`);
      out.push({ kind: "header", startLine, endLine: line, key: k, arrayTable, comment: c });
      newline();
      continue;
    }
    const k = key();
    if (text[i] !== "=") fail(`expected '=' after the key, found ${describe(i)}`);
    i++;
    skipWs();
    if (atEol()) fail("missing value after '='");
    value(0);
    skipWs();
    const c = comment();
    if (!atEol()) fail(`unexpected ${describe(i)} after the value`);
    out.push({ kind: "kv", startLine, endLine: line, key: k, comment: c });
    newline();
  }
  return out;
}

export interface TomlProblem {
  message: string;
  line: number;
  column: number;
}

/**
 * Validates with Bun's parser; when it fails, says where: the lexer's position
 * for syntax errors, else the first statement whose inclusion breaks the
 * document (duplicate keys, a table redefined, ...).
 */
export function tomlProblem(text: string): TomlProblem | undefined {
  let bunMessage: string;
  try {
    Bun.TOML.parse(text);
    return undefined;
  } catch (err) {
    bunMessage = (err instanceof Error ? err.message : String(err)).replace(/^TOML Parse error:\s*/, "");
  }
  let stmts: TomlStatement[];
  try {
    stmts = tomlStatements(text);
  } catch (err) {
    if (err instanceof TextSyntaxError) return { message: err.message, line: err.line, column: err.column };
    throw err;
  }
  const lines = text.split("\n");
  for (const s of stmts) {
    if (s.kind === "blank" || s.kind === "comment") continue;
    try {
      Bun.TOML.parse(lines.slice(0, s.endLine + 1).join("\n"));
    } catch {
      const l = lines[s.startLine] ?? "";
      return { message: bunMessage, line: s.startLine + 1, column: l.length - l.trimStart().length + 1 };
    }
  }
  return { message: bunMessage, line: 1, column: 1 };
}

/** A TOML basic string for `s` (JSON's escapes are a subset of TOML's). */
export function tomlString(s: string): string {
  return JSON.stringify(s).replace(/\u007f/g, "\\u007f");
}
