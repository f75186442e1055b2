/**
 * agtmux's additions to Codex's config.toml, made line-wise so that the
 * user's comments, ordering and formatting stay exactly as they were:
 *
 *   # >>> agtmux notify (managed: agtmux setup-hooks) >>>      (before the first table)
 *   notify = ["/path/agtmux", "emit", "--hook", "codex", "--source", "notify"]
 *   # <<< agtmux notify <<<
 *   …
 *   # >>> agtmux (managed: agtmux setup-hooks) >>>             (at the end)
 *   [hooks.state."/home/u/.codex/hooks.json:stop:0:0"] # agtmux-managed
 *   trusted_hash = "sha256:…"
 *   # <<< agtmux <<<
 *
 * Every trust table carries its own `# agtmux-managed` tag, because Codex
 * rewrites config.toml with toml_edit when the user trusts a hook in its TUI
 * and appends new `[hooks.state."…"]` tables after the last existing one,
 * i.e. inside agtmux's block: untagged tables there are the user's and stay.
 * Each edit is checked by parsing the result with Bun.TOML.parse and
 * comparing it with the intended change to the parsed original.
 */
import { unusableConfig } from "./files.ts";
import { TextSyntaxError } from "./json-text.ts";
import { isAgtmuxNotify } from "./spec.ts";
import { type TomlStatement, tomlProblem, tomlStatements, tomlString } from "./toml-text.ts";
import { AgtmuxError } from "../domain/errors.ts";

export const NOTIFY_BEGIN = "# >>> agtmux notify (managed: agtmux setup-hooks) >>>";
export const NOTIFY_END = "# <<< agtmux notify <<<";
export const TRUST_BEGIN = "# >>> agtmux (managed: agtmux setup-hooks) >>>";
export const TRUST_END = "# <<< agtmux <<<";
export const MANAGED_TAG = "# agtmux-managed";
const MANAGED_TAG_RE = /^#\s*agtmux-managed\b/;

type TomlTable = Record<string, unknown>;

export interface TrustEntry {
  key: string;
  hash: string;
}

interface Doc {
  text: string;
  lines: string[];
  eol: string;
  stmts: TomlStatement[];
  value: TomlTable;
}

/** Parses (refusing, with line and column, a file that is not valid TOML). */
export function parseCodexConfig(text: string, path: string): Doc {
  const problem = tomlProblem(text);
  if (problem !== undefined) throw unusableConfig(path, "invalid TOML", problem.message, problem);
  let stmts: TomlStatement[];
  try {
    stmts = tomlStatements(text);
  } catch (err) {
    // Bun accepted it but our statement lexer did not: refuse rather than guess
    if (err instanceof TextSyntaxError) throw unusableConfig(path, "agtmux cannot edit this TOML safely", err.message, err);
    throw err;
  }
  return {
    text,
    lines: text.split("\n"),
    eol: text.includes("\r\n") ? "\r\n" : "\n",
    stmts,
    value: Bun.TOML.parse(text) as TomlTable,
  };
}

/** Lines as the file writes them (CRLF files get CRLF lines). */
function own(doc: Doc, lines: string[]): string[] {
  return doc.eol === "\r\n" ? lines.map((l) => `${l}\r`) : lines;
}

function isBlank(line: string | undefined): boolean {
  return line !== undefined && line.trim() === "";
}

function commentIs(s: TomlStatement, marker: string): boolean {
  return s.kind === "comment" && s.text.trim() === marker;
}

interface Block {
  begin: number;
  end: number;
}

function findBlock(doc: Doc, path: string, begin: string, end: string): Block | undefined {
  const b = doc.stmts.find((s) => commentIs(s, begin));
  if (b === undefined) return undefined;
  const e = doc.stmts.find((s) => s.startLine > b.startLine && commentIs(s, end));
  if (e === undefined) {
    throw unusableConfig(path, "agtmux's block is incomplete", `the line "${begin}" has no matching "${end}" (restore it, or delete the block)`, { line: b.startLine + 1, column: 1 });
  }
  return { begin: b.startLine, end: e.startLine };
}

/** Deletes lines begin..end and one blank line next to them (the separator agtmux added). */
function cutBlock(lines: string[], begin: number, end: number): string[] {
  const out = [...lines.slice(0, begin), ...lines.slice(end + 1)];
  const lastIndex = out.length - 1; // the "" after a final newline is not a blank line
  if (begin < lastIndex && isBlank(out[begin])) out.splice(begin, 1);
  else if (begin > 0 && isBlank(out[begin - 1])) out.splice(begin - 1, 1);
  return out;
}

/** Appends `block` at the end, after a blank line when the file has content. */
function appendBlock(lines: string[], block: string[]): string[] {
  const out = [...lines];
  if (out.at(-1) !== "") out.push(""); // no final newline: add one
  const body = out.slice(0, -1);
  const hasContent = body.some((l) => !isBlank(l));
  return [...body, ...(hasContent ? [""] : []), ...block, ""];
}

/** Prunes empty tables (so "defined nothing" and "an empty [table]" compare equal). */
function pruned(x: unknown): unknown {
  if (x === null || typeof x !== "object" || Array.isArray(x) || x instanceof Date) return x;
  const out: TomlTable = {};
  for (const [k, v] of Object.entries(x as TomlTable)) {
    const p = pruned(v);
    if (p !== null && typeof p === "object" && !Array.isArray(p) && !(p instanceof Date) && Object.keys(p).length === 0) continue;
    out[k] = p;
  }
  return out;
}

/** The edit must parse, and parse to exactly the intended change. */
function verified(before: Doc, after: string, path: string, mutate: (v: TomlTable) => void): string {
  const expected = structuredClone(before.value);
  mutate(expected);
  let actual: unknown;
  try {
    actual = Bun.TOML.parse(after);
  } catch (err) {
    throw new AgtmuxError("E_INTERNAL", `agtmux's edit of ${path} would not parse (${err instanceof Error ? err.message : String(err)}); nothing was written`, { file: path });
  }
  if (!Bun.deepEquals(pruned(actual), pruned(expected), true)) {
    throw new AgtmuxError("E_INTERNAL", `agtmux's edit of ${path} would change more than agtmux's own settings; nothing was written`, { file: path });
  }
  return after;
}

function table(v: TomlTable, key: string): TomlTable | undefined {
  const t = v[key];
  return t !== null && typeof t === "object" && !Array.isArray(t) && !(t instanceof Date) ? (t as TomlTable) : undefined;
}

function hooksState(v: TomlTable): TomlTable | undefined {
  const h = table(v, "hooks");
  return h === undefined ? undefined : table(h, "state");
}

// ---------------------------------------------------------------------------
// notify

export type NotifyStatus =
  /** agtmux's notify written */
  | "added"
  /** agtmux's notify rewritten (another agtmux path) */
  | "updated"
  | "unchanged"
  /** the user has another notify: left alone */
  | "kept-user"
  /** the user's notify replaced (--force-notify); the old value is in the backup */
  | "replaced-user"
  /** remove: agtmux's notify taken out */
  | "removed"
  /** remove: there was none */
  | "absent";

export interface NotifyEdit {
  text: string;
  status: NotifyStatus;
  /** the user's notify, when there is one */
  previous?: unknown;
}

function notifyLine(argv: readonly string[]): string {
  return `notify = [${argv.map(tomlString).join(", ")}]`;
}

function firstHeader(doc: Doc): number | undefined {
  return doc.stmts.find((s) => s.kind === "header")?.startLine;
}

/** Inserts the notify block before the first table header (and the comments right above it), or at the end. */
function insertNotify(doc: Doc, argv: readonly string[]): string[] {
  const block = own(doc, [NOTIFY_BEGIN, notifyLine(argv), NOTIFY_END]);
  const h = firstHeader(doc);
  if (h === undefined) return appendBlock(doc.lines, block);
  let at = h;
  while (at > 0 && doc.stmts.some((s) => s.kind === "comment" && s.startLine === at - 1)) at--;
  return [...doc.lines.slice(0, at), ...block, own(doc, [""])[0] as string, ...doc.lines.slice(at)];
}

export function setNotify(text: string, path: string, argv: readonly string[], force: boolean): NotifyEdit {
  const doc = parseCodexConfig(text, path);
  const block = findBlock(doc, path, NOTIFY_BEGIN, NOTIFY_END);
  const want = [...argv];
  const setIt = (v: TomlTable): void => {
    v.notify = want;
  };
  if (block !== undefined) {
    if (Bun.deepEquals(doc.value.notify, want, true)) return { text, status: "unchanged" };
    const lines = [...doc.lines.slice(0, block.begin + 1), ...own(doc, [notifyLine(argv)]), ...doc.lines.slice(block.end)];
    return { text: verified(doc, lines.join("\n"), path, setIt), status: "updated" };
  }
  if (doc.value.notify === undefined) return { text: verified(doc, insertNotify(doc, argv).join("\n"), path, setIt), status: "added" };
  if (Bun.deepEquals(doc.value.notify, want, true)) return { text, status: "unchanged", previous: doc.value.notify };
  if (!force) return { text, status: "kept-user", previous: doc.value.notify };
  // --force-notify: take out the user's top-level `notify = …` statement, then add ours
  const h = firstHeader(doc) ?? Number.POSITIVE_INFINITY;
  const stmt = doc.stmts.find((s) => s.kind === "kv" && s.startLine < h && s.key.length === 1 && s.key[0] === "notify");
  if (stmt === undefined) {
    throw unusableConfig(path, "cannot replace notify", "notify is set in a form agtmux does not edit (set it by hand, or remove it and run again)");
  }
  const without = [...doc.lines.slice(0, stmt.startLine), ...doc.lines.slice(stmt.endLine + 1)];
  const stripped = parseCodexConfig(without.join("\n"), path);
  const lines = insertNotify(stripped, argv);
  return { text: verified(doc, lines.join("\n"), path, setIt), status: "replaced-user", previous: doc.value.notify };
}

export function removeNotify(text: string, path: string): NotifyEdit {
  const doc = parseCodexConfig(text, path);
  const block = findBlock(doc, path, NOTIFY_BEGIN, NOTIFY_END);
  if (block === undefined) return { text, status: "absent", ...(isAgtmuxNotify(doc.value.notify) ? { previous: doc.value.notify } : {}) };
  const body = doc.stmts.filter((s) => s.startLine > block.begin && s.startLine < block.end && s.kind !== "blank" && s.kind !== "comment");
  if (body.some((s) => !(s.kind === "kv" && s.key.length === 1 && s.key[0] === "notify"))) {
    throw unusableConfig(path, "agtmux's notify block holds other settings", "move them out of the block, then run again", { line: block.begin + 1, column: 1 });
  }
  const lines = cutBlock(doc.lines, block.begin, block.end);
  return { text: verified(doc, lines.join("\n"), path, (v) => delete v.notify), status: "removed" };
}

// ---------------------------------------------------------------------------
// hook trust: [hooks.state."<key>"] trusted_hash = "<hash>"

export interface TrustEdit {
  text: string;
  /** keys whose trusted_hash agtmux wrote */
  written: string[];
  /** keys already trusted with the current hash */
  unchanged: string[];
  /** keys agtmux's tables were removed for */
  removed: string[];
  /** keys agtmux could not write (set by the user in a form agtmux does not edit) */
  skipped: string[];
}

interface TableSpan {
  key: string;
  managed: boolean;
  header: number;
  /** last line of the table's own key/value pairs */
  last: number;
  /** the trusted_hash statement, if any */
  hashStmt: TomlStatement | undefined;
}

/** `[hooks.state."<key>"]` tables with the lines of their key/value pairs. */
function stateTables(doc: Doc): TableSpan[] {
  const out: TableSpan[] = [];
  doc.stmts.forEach((s, idx) => {
    if (s.kind !== "header" || s.arrayTable || s.key.length !== 3 || s.key[0] !== "hooks" || s.key[1] !== "state") return;
    let last = s.endLine;
    let hashStmt: TomlStatement | undefined;
    for (let j = idx + 1; j < doc.stmts.length; j++) {
      const t = doc.stmts[j] as TomlStatement;
      if (t.kind === "kv") {
        last = t.endLine;
        if (t.key.length === 1 && t.key[0] === "trusted_hash") hashStmt = t;
        continue;
      }
      if (t.kind === "blank") continue;
      break;
    }
    out.push({ key: s.key[2] as string, managed: s.comment !== undefined && MANAGED_TAG_RE.test(s.comment.trim()), header: s.startLine, last, hashStmt });
  });
  return out;
}

function managedTable(doc: Doc, e: TrustEntry): string[] {
  return own(doc, [`[hooks.state.${tomlString(e.key)}] ${MANAGED_TAG}`, `trusted_hash = ${tomlString(e.hash)}`]);
}

/** Deletes the given tables (and the block, once it holds nothing else). */
function dropTables(doc: Doc, path: string, spans: TableSpan[]): string[] {
  let lines = [...doc.lines];
  for (const t of spans.toSorted((a, b) => b.header - a.header)) lines.splice(t.header, t.last - t.header + 1);
  const after = parseCodexConfig(lines.join("\n"), path);
  const block = findBlock(after, path, TRUST_BEGIN, TRUST_END);
  if (block !== undefined && after.stmts.every((s) => s.startLine <= block.begin || s.startLine >= block.end || s.kind === "blank")) {
    lines = cutBlock(after.lines, block.begin, block.end);
  }
  return lines;
}

/**
 * Makes config.toml trust exactly `entries` for the hooks file this scope
 * owns (`ownsKey`): stale agtmux tables of that scope go, tables for other
 * scopes and the user's stay. A key the user already has a table for gets
 * its trusted_hash updated in that table.
 */
export function setTrust(text: string, path: string, entries: readonly TrustEntry[], ownsKey: (key: string) => boolean): TrustEdit {
  const result: TrustEdit = { text, written: [], unchanged: [], removed: [], skipped: [] };
  let doc = parseCodexConfig(text, path);
  const original = doc;
  const wanted = new Map(entries.map((e) => [e.key, e.hash]));

  const stale = stateTables(doc).filter((t) => t.managed && ownsKey(t.key) && !wanted.has(t.key));
  if (stale.length > 0) {
    doc = parseCodexConfig(dropTables(doc, path, stale).join("\n"), path);
    result.removed.push(...stale.map((t) => t.key));
  }

  const fresh: TrustEntry[] = [];
  for (const e of entries) {
    const current = table(hooksState(doc.value) ?? {}, e.key);
    if (current?.trusted_hash === e.hash) {
      result.unchanged.push(e.key);
      continue;
    }
    const span = stateTables(doc).find((t) => t.key === e.key);
    if (span === undefined) {
      if (current !== undefined) {
        result.skipped.push(e.key); // defined with dotted keys or inline: not ours to restructure
        continue;
      }
      fresh.push(e);
      continue;
    }
    const line = own(doc, [`trusted_hash = ${tomlString(e.hash)}`])[0] as string;
    const lines = [...doc.lines];
    if (span.hashStmt !== undefined) {
      const indent = /^[ \t]*/.exec(lines[span.hashStmt.startLine] ?? "")?.[0] ?? "";
      lines.splice(span.hashStmt.startLine, span.hashStmt.endLine - span.hashStmt.startLine + 1, indent + line);
    } else {
      lines.splice(span.header + 1, 0, line);
    }
    doc = parseCodexConfig(lines.join("\n"), path);
    result.written.push(e.key);
  }

  if (fresh.length > 0) {
    const tables = fresh.flatMap((e) => managedTable(doc, e));
    const block = findBlock(doc, path, TRUST_BEGIN, TRUST_END);
    const lines =
      block === undefined
        ? appendBlock(doc.lines, [...own(doc, [TRUST_BEGIN]), ...tables, ...own(doc, [TRUST_END])])
        : [...doc.lines.slice(0, block.end), ...tables, ...doc.lines.slice(block.end)];
    doc = parseCodexConfig(lines.join("\n"), path);
    result.written.push(...fresh.map((e) => e.key));
  }

  if (doc.text === text) return result;
  result.text = verified(original, doc.text, path, (v) => {
    const hooks = (table(v, "hooks") ?? (v.hooks = {})) as TomlTable;
    const state = (table(hooks, "state") ?? (hooks.state = {})) as TomlTable;
    for (const k of result.removed) delete state[k];
    for (const k of result.written) state[k] = { ...table(state, k), trusted_hash: wanted.get(k) };
  });
  return result;
}

/** Takes out agtmux's trust tables for the keys `ownsKey` accepts (and the block once empty). */
export function removeTrust(text: string, path: string, ownsKey: (key: string) => boolean): TrustEdit {
  const result: TrustEdit = { text, written: [], unchanged: [], removed: [], skipped: [] };
  const doc = parseCodexConfig(text, path);
  const ours = stateTables(doc).filter((t) => t.managed && ownsKey(t.key));
  if (ours.length === 0) {
    // an empty block left behind (e.g. after a scope's tables were removed by hand)
    const block = findBlock(doc, path, TRUST_BEGIN, TRUST_END);
    if (block === undefined || doc.stmts.some((s) => s.startLine > block.begin && s.startLine < block.end && s.kind !== "blank")) return result;
  }
  result.removed.push(...ours.map((t) => t.key));
  result.text = verified(doc, dropTables(doc, path, ours).join("\n"), path, (v) => {
    const state = hooksState(v);
    if (state !== undefined) for (const k of result.removed) delete state[k];
  });
  return result;
}

/** Every agtmux-managed trust key in the file (all scopes). */
export function managedTrustKeys(text: string, path: string): string[] {
  return stateTables(parseCodexConfig(text, path))
    .filter((t) => t.managed)
    .map((t) => t.key);
}
