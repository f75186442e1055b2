/**
 * agtmux's hooks in a Claude-format hooks file (Claude Code's settings.json,
 * Codex's hooks.json): `{"hooks": {"<Event>": [{"matcher"?, "hooks": [{"type":
 * "command", "command", "timeout"}]}]}}`.
 *
 * Install appends one matcher group of agtmux's own per event (never merged
 * into the user's groups), updates agtmux's existing entries in place (an
 * upgrade that moved the binary), drops duplicates and entries for events no
 * longer installed. Remove takes out exactly agtmux's entries. Both edit the
 * text, not a re-serialisation, so everything else keeps its bytes; taking
 * back what install added gives the original file byte for byte.
 */
import * as v from "valibot";
import { type JsonNode, TextSyntaxError, appendItem, positionAt, appendProperty, nodeAt, parseJsonText, removeItem, removeProperty, replaceValue } from "./json-text.ts";
import { unusableConfig } from "./files.ts";
import { type HookSpec, isAgtmuxHookCommand } from "./spec.ts";

const HookHandlerSchema = v.looseObject({ type: v.optional(v.string()), command: v.optional(v.string()) });
const MatcherGroupSchema = v.looseObject({ matcher: v.optional(v.string()), hooks: v.optional(v.array(HookHandlerSchema)) });
/** The part of the file agtmux reads; everything else is the user's and passes through untouched. */
export const HooksFileSchema = v.looseObject({ hooks: v.optional(v.record(v.string(), v.array(MatcherGroupSchema))) });
type HooksFile = v.InferOutput<typeof HooksFileSchema>;

export interface HookHandler {
  type: "command";
  command: string;
  timeout: number;
}
export interface MatcherGroup {
  matcher?: string;
  hooks: HookHandler[];
}

export interface HooksEdit {
  /** the new text; null = the file held only agtmux's hooks: delete it */
  text: string | null;
  changed: boolean;
  /** events that got agtmux's hook */
  added: string[];
  /** events whose agtmux hook was rewritten (command, timeout, matcher) */
  updated: string[];
  /** events agtmux's hook (or a duplicate of it) was taken out of */
  removed: string[];
}

export function desiredHandler(spec: HookSpec, command: string): HookHandler {
  return { type: "command", command, timeout: spec.timeoutS };
}

export function desiredGroup(spec: HookSpec, event: string, command: string): MatcherGroup {
  const hooks = [desiredHandler(spec, command)];
  return spec.matcherEvents.has(event) ? { matcher: "*", hooks } : { hooks };
}

interface Doc {
  text: string;
  root: JsonNode & { kind: "object" };
  value: HooksFile;
}

/** Parses and validates; a file agtmux cannot read is refused with its position. */
export function parseHooksFile(text: string, path: string): Doc {
  let root: JsonNode;
  try {
    root = parseJsonText(text);
  } catch (err) {
    if (err instanceof TextSyntaxError) throw unusableConfig(path, "invalid JSON", err.message, err);
    throw err;
  }
  if (root.kind !== "object") throw unusableConfig(path, "unexpected content", "the top level must be a JSON object", positionOf(text, root));
  const parsed = v.safeParse(HooksFileSchema, JSON.parse(text));
  if (!parsed.success) {
    const issue = parsed.issues[0];
    const keys = (issue.path ?? []).map((p) => p.key).filter((k): k is string | number => typeof k === "string" || typeof k === "number");
    // the deepest node that exists: a missing key is reported at its parent
    let node: JsonNode | undefined;
    for (let n = keys.length; n >= 0 && node === undefined; n--) node = nodeAt(root, keys.slice(0, n));
    const where = keys.map((k) => (typeof k === "number" ? `[${k}]` : `.${k}`)).join("");
    throw unusableConfig(path, "unexpected content", `${where === "" ? "the file" : where.slice(where.startsWith(".") ? 1 : 0)}: ${issue.message}`, positionOf(text, node ?? root));
  }
  return { text, root, value: parsed.output };
}

function positionOf(text: string, node: JsonNode): { line: number; column: number } {
  return positionAt(text, node.start);
}

interface Entry {
  event: string;
  group: number;
  hook: number;
}

function entriesIn(value: HooksFile, event: string): Entry[] {
  const out: Entry[] = [];
  (value.hooks?.[event] ?? []).forEach((g, gi) => {
    (g.hooks ?? []).forEach((h, hi) => {
      if (isAgtmuxHookCommand(h.command)) out.push({ event, group: gi, hook: hi });
    });
  });
  return out;
}

function obj(node: JsonNode | undefined): (JsonNode & { kind: "object" }) | undefined {
  return node?.kind === "object" ? node : undefined;
}
function arr(node: JsonNode | undefined): (JsonNode & { kind: "array" }) | undefined {
  return node?.kind === "array" ? node : undefined;
}

/** Takes one agtmux hook out; an emptied group, event and `hooks` object go with it. */
function removeEntry(doc: Doc, e: Entry, dropEmptyHooks: boolean): string {
  const { text, root } = doc;
  const hooksObj = obj(nodeAt(root, ["hooks"])) as JsonNode & { kind: "object" };
  const events = arr(nodeAt(root, ["hooks", e.event])) as JsonNode & { kind: "array" };
  const handlers = arr(nodeAt(root, ["hooks", e.event, e.group, "hooks"]));
  if (handlers !== undefined && handlers.items.length > 1) return removeItem(text, handlers, e.hook);
  if (events.items.length > 1) return removeItem(text, events, e.group);
  if (hooksObj.props.length > 1 || !dropEmptyHooks) return removeProperty(text, hooksObj, hooksObj.props.findLastIndex((p) => p.key === e.event));
  return removeProperty(text, root, root.props.findLastIndex((p) => p.key === "hooks"));
}

/**
 * Installs (or, `remove`, takes out) agtmux's hooks. `before` null = no file.
 * Throws AgtmuxError E_BAD_REQUEST (with line and column) for a file it cannot read.
 */
export function editHooksFile(before: string | null, path: string, spec: HookSpec, command: string, mode: "install" | "remove"): HooksEdit {
  const result: HooksEdit = { text: before, changed: false, added: [], updated: [], removed: [] };
  const empty = before === null || before.trim() === "";
  if (mode === "remove" && empty) return result;
  let doc = parseHooksFile(empty ? "{}\n" : before, path);
  const step = (next: string): void => {
    doc = parseHooksFile(next, path);
    result.changed = true;
  };

  if (mode === "install") {
    if (obj(nodeAt(doc.root, ["hooks"])) === undefined) {
      const all = Object.fromEntries(spec.events.map((e) => [e, [desiredGroup(spec, e, command)]]));
      step(appendProperty(doc.text, doc.root, "hooks", all));
      result.added.push(...spec.events);
    }
    for (const event of spec.events) {
      const want = desiredGroup(spec, event, command);
      const hooksObj = obj(nodeAt(doc.root, ["hooks"])) as JsonNode & { kind: "object" };
      const list = arr(nodeAt(doc.root, ["hooks", event]));
      if (list === undefined) {
        step(appendProperty(doc.text, hooksObj, event, [want]));
        result.added.push(event);
        continue;
      }
      const found = entriesIn(doc.value, event);
      const first = found[0];
      if (first === undefined) {
        step(appendItem(doc.text, list, want));
        result.added.push(event);
        continue;
      }
      const group = doc.value.hooks?.[event]?.[first.group];
      if ((group?.hooks ?? []).length === 1) {
        // agtmux's own group: the whole group is ours to set
        if (!Bun.deepEquals(group, want, true)) {
          step(replaceValue(doc.text, nodeAt(doc.root, ["hooks", event, first.group]) as JsonNode, want));
          result.updated.push(event);
        }
      } else {
        // our handler inside a group of the user's: only the handler is ours
        const handler = group?.hooks?.[first.hook];
        const wantHandler = desiredHandler(spec, command);
        if (!Bun.deepEquals(handler, wantHandler, true)) {
          step(replaceValue(doc.text, nodeAt(doc.root, ["hooks", event, first.group, "hooks", first.hook]) as JsonNode, wantHandler));
          result.updated.push(event);
        }
      }
      // duplicates (last first, so earlier positions stay valid)
      let dups = entriesIn(doc.value, event).slice(1);
      while (dups.length > 0) {
        step(removeEntry(doc, dups.at(-1) as Entry, false));
        if (!result.removed.includes(event)) result.removed.push(event);
        dups = entriesIn(doc.value, event).slice(1);
      }
    }
  }

  // agtmux hooks on events not (or no longer) installed; every one of them on remove
  const keep = new Set(mode === "install" ? spec.events : []);
  for (const event of Object.keys(doc.value.hooks ?? {})) {
    if (keep.has(event)) continue;
    let found = entriesIn(doc.value, event);
    while (found.length > 0) {
      step(removeEntry(doc, found.at(-1) as Entry, mode === "remove"));
      if (!result.removed.includes(event)) result.removed.push(event);
      found = entriesIn(doc.value, event);
    }
  }

  if (!result.changed) return result;
  result.text = mode === "remove" && doc.root.props.length === 0 ? null : doc.text;
  return result;
}

/** How many agtmux hooks the file holds (for status lines). */
export function countAgtmuxHooks(text: string | null, path: string): number {
  if (text === null || text.trim() === "") return 0;
  const doc = parseHooksFile(text, path);
  return Object.keys(doc.value.hooks ?? {}).reduce((n, e) => n + entriesIn(doc.value, e).length, 0);
}
