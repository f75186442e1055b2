/**
 * Argument dispatch on top of citty's definitions and parser. We own the
 * exit path: citty's runMain exits 1 for everything and ignores unknown
 * flags; here unknown flags are usage errors (exit 2) with a suggestion.
 */
import { type ArgsDef, type CommandDef, parseArgs, renderUsage } from "citty";
import { AgtmuxError } from "../domain/errors.ts";

/**
 * The shape dispatch needs from any citty command. (CommandDef<T> is
 * contravariant in T, so commands with different args share no common type.)
 */
export interface AnyCommand {
  meta?: unknown;
  args?: unknown;
  subCommands?: unknown;
  run?: (ctx: never) => unknown;
}

async function resolveValue<T>(v: T | Promise<T> | (() => T) | (() => Promise<T>) | undefined): Promise<T | undefined> {
  if (typeof v === "function") return await (v as () => T | Promise<T>)();
  return await v;
}

/** Walks sub-commands by leading positional words. */
export async function findCommand(root: AnyCommand, argv: string[]): Promise<{ cmd: AnyCommand; chain: AnyCommand[]; rest: string[] }> {
  let cmd = root;
  const chain: AnyCommand[] = [root];
  let rest = argv;
  for (;;) {
    const subs = (await resolveValue(cmd.subCommands)) as Record<string, unknown> | undefined;
    const first = rest.find((a) => !a.startsWith("-"));
    const idx = first === undefined ? -1 : rest.indexOf(first);
    // only descend when the word comes before any flag that could take it as a value
    if (subs === undefined || first === undefined || idx !== 0 || !(first in subs)) break;
    const next = await resolveValue(subs[first] as AnyCommand | (() => AnyCommand) | undefined);
    if (next === undefined) break;
    cmd = next as AnyCommand;
    chain.push(cmd);
    rest = rest.slice(idx + 1);
  }
  return { cmd, chain, rest };
}

export async function parseStrict(cmd: AnyCommand, rest: string[]): Promise<Record<string, unknown> & { _: string[] }> {
  const def: ArgsDef = ((await resolveValue(cmd.args)) as ArgsDef | undefined) ?? {};
  const known = new Set<string>();
  for (const [name, a] of Object.entries(def)) {
    if (a.type === "positional") continue;
    known.add(name);
    const aliases = (a as { alias?: string | string[] }).alias;
    for (const al of Array.isArray(aliases) ? aliases : aliases === undefined ? [] : [aliases]) known.add(al);
  }
  const stringFlags = new Set<string>();
  for (const [name, a] of Object.entries(def)) {
    if (a.type !== "string") continue;
    stringFlags.add(name);
    const aliases = (a as { alias?: string | string[] }).alias;
    for (const al of Array.isArray(aliases) ? aliases : aliases === undefined ? [] : [aliases]) stringFlags.add(al);
  }
  for (let i = 0; i < rest.length; i++) {
    const tok = rest[i] as string;
    if (tok === "--") break;
    if (!tok.startsWith("-") || tok === "-") continue;
    const name = tok.replace(/^--?/, "").split("=")[0] ?? "";
    // `--text "-l -H"`: the value of a string flag is data, never a flag
    if (stringFlags.has(name) && !tok.includes("=")) {
      i++;
      continue;
    }
    const base = name.startsWith("no-") ? name.slice(3) : name;
    if (!known.has(name) && !known.has(base) && !known.has(camel(name))) {
      const suggestion = closest(name, [...known]);
      throw new AgtmuxError("E_USAGE", `unknown flag --${name}${suggestion === undefined ? "" : ` (did you mean --${suggestion}?)`}`, {
        flag: name,
      });
    }
  }
  const parsed = parseArgs(rest, def) as Record<string, unknown> & { _: string[] };
  const positionals = Object.entries(def).filter(([, a]) => a.type === "positional");
  const extra = parsed._.length - positionals.length;
  if (extra > 0 && (await resolveValue(cmd.subCommands)) !== undefined) {
    throw new AgtmuxError("E_USAGE", `unknown command: ${parsed._[0]}`, { command: parsed._[0] });
  }
  for (const [name, a] of positionals) {
    if (a.required === true && (parsed[name] === undefined || parsed[name] === "")) {
      throw new AgtmuxError("E_USAGE", `missing argument <${name}>`, { argument: name });
    }
  }
  return parsed;
}

export async function usage(cmd: AnyCommand, parent?: AnyCommand): Promise<string> {
  return renderUsage(cmd as unknown as CommandDef<ArgsDef>, parent as unknown as CommandDef<ArgsDef> | undefined);
}

function camel(s: string): string {
  return s.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
}

function closest(word: string, options: string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const o of options) {
    const d = distance(word, o);
    if (d < bestD) {
      bestD = d;
      best = o;
    }
  }
  return best;
}

function distance(a: string, b: string): number {
  const dp = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) (dp[0] as number[])[j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = dp[i] as number[];
      const prev = dp[i - 1] as number[];
      row[j] = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return (dp[a.length] as number[])[b.length] as number;
}
