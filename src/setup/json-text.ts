/**
 * Strict JSON (RFC 8259) with source positions, and edits that change only the
 * bytes they must. `JSON.parse` gives neither positions for its errors nor the
 * offsets we need to add or take back one array element while leaving the
 * user's formatting (indentation, key order, line breaks) exactly as it was.
 */

export type JsonNode =
  | { kind: "object"; start: number; end: number; props: JsonProp[] }
  | { kind: "array"; start: number; end: number; items: JsonNode[] }
  | { kind: "scalar"; start: number; end: number };

export interface JsonProp {
  key: string;
  keyStart: number;
  /** the end of the value: the property spans keyStart..end */
  end: number;
  value: JsonNode;
}

export interface TextPosition {
  /** 1-based */
  line: number;
  /** 1-based, in characters (UTF-16 code units) */
  column: number;
}

export class TextSyntaxError extends Error {
  override readonly name = "TextSyntaxError";
  constructor(
    message: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(message);
  }
}

export function positionAt(text: string, offset: number): TextPosition {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

const WS = new Set([" ", "\t", "\n", "\r"]);
const NUMBER_RE = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

/** Parses `text` (a leading BOM is allowed) or throws TextSyntaxError with the position of the first problem. */
export function parseJsonText(text: string): JsonNode {
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  const fail = (msg: string, at = i): never => {
    const p = positionAt(text, at);
    throw new TextSyntaxError(msg, p.line, p.column);
  };
  const describe = (at: number): string => (at >= text.length ? "end of file" : `'${text[at]}'`);
  const skipWs = (): void => {
    while (i < text.length && WS.has(text[i] as string)) i++;
    if (text[i] === "/" && (text[i + 1] === "/" || text[i + 1] === "*")) fail("comments are not allowed in JSON");
  };
  const parseString = (): string => {
    const start = i;
    i++; // opening quote
    for (;;) {
      if (i >= text.length) fail("unterminated string", start);
      const c = text.charCodeAt(i);
      if (c === 34) {
        i++;
        break;
      }
      if (c === 10 || c === 13) fail("unterminated string (a line break inside a string must be written \\n)", start);
      if (c < 0x20) fail("control character in string (escape it)");
      if (c === 92) {
        const e = text[i + 1];
        if (e === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) fail("bad \\u escape");
          i += 6;
          continue;
        }
        if (e === undefined || !'"\\/bfnrt'.includes(e)) fail("bad escape in string");
        i += 2;
        continue;
      }
      i++;
    }
    return JSON.parse(text.slice(start, i)) as string;
  };
  const parseValue = (depth: number): JsonNode => {
    if (depth > 512) fail("nesting too deep");
    skipWs();
    const start = i;
    const c = text[i];
    if (c === "{") {
      i++;
      const props: JsonProp[] = [];
      skipWs();
      if (text[i] === "}") {
        i++;
        return { kind: "object", start, end: i, props };
      }
      for (;;) {
        skipWs();
        if (text[i] !== '"') fail(`expected a property name in double quotes, found ${describe(i)}`);
        const keyStart = i;
        const key = parseString();
        skipWs();
        if (text[i] !== ":") fail(`expected ':' after the property name, found ${describe(i)}`);
        i++;
        const value = parseValue(depth + 1);
        props.push({ key, keyStart, end: value.end, value });
        skipWs();
        if (text[i] === ",") {
          i++;
          skipWs();
          if (text[i] === "}") fail("trailing comma before '}'");
          continue;
        }
        if (text[i] === "}") {
          i++;
          return { kind: "object", start, end: i, props };
        }
        fail(`expected ',' or '}', found ${describe(i)}`);
      }
    }
    if (c === "[") {
      i++;
      const items: JsonNode[] = [];
      skipWs();
      if (text[i] === "]") {
        i++;
        return { kind: "array", start, end: i, items };
      }
      for (;;) {
        items.push(parseValue(depth + 1));
        skipWs();
        if (text[i] === ",") {
          i++;
          skipWs();
          if (text[i] === "]") fail("trailing comma before ']'");
          continue;
        }
        if (text[i] === "]") {
          i++;
          return { kind: "array", start, end: i, items };
        }
        fail(`expected ',' or ']', found ${describe(i)}`);
      }
    }
    if (c === '"') {
      parseString();
      return { kind: "scalar", start, end: i };
    }
    for (const lit of ["true", "false", "null"]) {
      if (text.startsWith(lit, i)) {
        i += lit.length;
        return { kind: "scalar", start, end: i };
      }
    }
    NUMBER_RE.lastIndex = i;
    const m = NUMBER_RE.exec(text);
    if (m !== null && m[0] !== "-") {
      i += m[0].length;
      return { kind: "scalar", start, end: i };
    }
    return fail(`unexpected ${describe(i)}`);
  };
  skipWs();
  if (i >= text.length) fail("the file is empty (expected a JSON object)");
  const root = parseValue(0);
  skipWs();
  if (i < text.length) fail(`unexpected ${describe(i)} after the end of the document`);
  return root;
}

/** The node at a path of property names / array indexes, if there is one. */
export function nodeAt(root: JsonNode, path: readonly (string | number)[]): JsonNode | undefined {
  let n: JsonNode | undefined = root;
  for (const seg of path) {
    if (n === undefined) return undefined;
    if (n.kind === "object" && typeof seg === "string") {
      // the last duplicate wins, as in JSON.parse
      n = n.props.findLast((p) => p.key === seg)?.value;
    } else if (n.kind === "array" && typeof seg === "number") {
      n = n.items[seg];
    } else {
      return undefined;
    }
  }
  return n;
}

// ---------------------------------------------------------------------------
// Edits. Each returns the new text; callers re-parse before the next edit.

/** The indentation unit the file uses (first indented line), default two spaces. */
export function detectIndent(text: string): string {
  const m = /\n([ \t]+)\S/.exec(text);
  if (m === null) return "  ";
  const ws = m[1] as string;
  return ws.startsWith("\t") ? "\t" : ws;
}

function lineIndentAt(text: string, offset: number): string {
  const lineStart = text.lastIndexOf("\n", offset - 1) + 1;
  return /^[ \t]*/.exec(text.slice(lineStart))?.[0] ?? "";
}

/** The whitespace before `offset` on its line, when only whitespace precedes it there. */
function ownLineIndent(text: string, offset: number): string | undefined {
  const lineStart = text.lastIndexOf("\n", offset - 1) + 1;
  const before = text.slice(lineStart, offset);
  return /^[ \t]*$/.test(before) ? before : undefined;
}

/** `value` pretty-printed with `unit`, continuation lines prefixed with `base`. */
export function renderJson(value: unknown, unit: string, base: string): string {
  return JSON.stringify(value, null, unit).replace(/\n/g, `\n${base}`);
}

function isMultiline(text: string, node: JsonNode): boolean {
  return text.slice(node.start, node.end).includes("\n");
}

/** Replaces text[start..end]; inserted line breaks follow the file's (CRLF files stay CRLF). */
function splice(text: string, start: number, end: number, insert: string): string {
  const eol = text.includes("\r\n") ? insert.replace(/\r?\n/g, "\r\n") : insert;
  return text.slice(0, start) + eol + text.slice(end);
}

/** Appends `"key": value` as the last property of `obj`. */
export function appendProperty(text: string, obj: JsonNode & { kind: "object" }, key: string, value: unknown): string {
  const unit = detectIndent(text);
  const last = obj.props.at(-1);
  if (last === undefined) {
    const base = lineIndentAt(text, obj.start);
    const inner = base + unit;
    return splice(text, obj.start + 1, obj.end - 1, `\n${inner}${JSON.stringify(key)}: ${renderJson(value, unit, inner)}\n${base}`);
  }
  if (!isMultiline(text, obj)) return splice(text, last.end, last.end, `, ${JSON.stringify(key)}: ${JSON.stringify(value)}`);
  const ind = ownLineIndent(text, last.keyStart) ?? lineIndentAt(text, obj.start) + unit;
  return splice(text, last.end, last.end, `,\n${ind}${JSON.stringify(key)}: ${renderJson(value, unit, ind)}`);
}

/** Appends `value` as the last element of `arr`. */
export function appendItem(text: string, arr: JsonNode & { kind: "array" }, value: unknown): string {
  const unit = detectIndent(text);
  const last = arr.items.at(-1);
  if (last === undefined) {
    const base = lineIndentAt(text, arr.start);
    const inner = base + unit;
    return splice(text, arr.start + 1, arr.end - 1, `\n${inner}${renderJson(value, unit, inner)}\n${base}`);
  }
  if (!isMultiline(text, arr)) return splice(text, last.end, last.end, `, ${JSON.stringify(value)}`);
  const ind = ownLineIndent(text, last.start) ?? lineIndentAt(text, arr.start) + unit;
  return splice(text, last.end, last.end, `,\n${ind}${renderJson(value, unit, ind)}`);
}

/** Replaces one value, rendered at the indentation of the line it starts on. */
export function replaceValue(text: string, node: JsonNode, value: unknown): string {
  const unit = detectIndent(text);
  const rendered = isMultiline(text, node) ? renderJson(value, unit, lineIndentAt(text, node.start)) : JSON.stringify(value);
  return splice(text, node.start, node.end, rendered);
}

interface Span {
  start: number;
  end: number;
}

function removeFromList(text: string, container: JsonNode, spans: Span[], index: number): string {
  const span = spans[index];
  if (span === undefined) return text;
  if (spans.length === 1) return splice(text, container.start + 1, container.end - 1, "");
  const prev = spans[index - 1];
  if (prev !== undefined) return splice(text, prev.end, span.end, "");
  const next = spans[index + 1] as Span;
  return splice(text, span.start, next.start, "");
}

/** Removes element `index` of `arr` with its separator, leaving its neighbours' formatting alone. */
export function removeItem(text: string, arr: JsonNode & { kind: "array" }, index: number): string {
  return removeFromList(text, arr, arr.items, index);
}

/** Removes property `index` of `obj` with its separator. */
export function removeProperty(text: string, obj: JsonNode & { kind: "object" }, index: number): string {
  return removeFromList(
    text,
    obj,
    obj.props.map((p) => ({ start: p.keyStart, end: p.end })),
    index,
  );
}
