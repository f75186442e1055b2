/**
 * Which AI coding agent (if any) runs in a tmux pane, from a process-table
 * snapshot: walk the pane's process tree breadth-first from pane_pid and
 * report the agent process closest to the pane, so that a launcher and the
 * process it spawns (node …/codex.js → native codex) count once, as the
 * launcher.
 *
 * Matching is deliberately narrow. A process is an agent when
 *   1. its argv0 basename is one of the agent's names exactly
 *      (`claude`, `/usr/local/bin/codex`, `codex-x86_64-unknown-linux-musl`), or
 *   2. it is a node-like interpreter (node, nodejs, node20, bun, deno) whose
 *      first non-flag argument is a script under a known package
 *      (…/node_modules/@openai/codex/bin/codex.js), a script whose basename
 *      is an agent name (`node /usr/local/bin/claude`, the npm global-bin
 *      symlink form), or a path with a marker segment (…/cursor-agent/…), or
 *   3. it is a shell running a script (not `-c`) that fits the same rules
 *      (`bash …/cursor-agent`, the cursor CLI's launcher), or
 *   4. it is a package runner naming a known package
 *      (`npx @anthropic-ai/claude-code`, `npm exec`, `bunx`, `pnpm dlx`), or
 *   5. (Linux) its comm is one of the agent's comms (`claude`).
 * Nothing else: arguments of other programs (`less codex.log`, `vim
 * claude.md`, `grep claude`, `bash -c 'echo claude'`) and working
 * directories are never looked at.
 */
import type { AgentMatch, AgentType, ProcessTable, ProcInfo } from "./types.ts";

export interface AgentPattern {
  agent_type: AgentType;
  /** exact basenames of the executable or launcher script (".exe" is ignored) */
  basenames: readonly string[];
  /** basenames of native builds named with a suffix (codex-<target-triple>) */
  basenamePatterns?: readonly RegExp[];
  /** npm packages: a script under <pkg>/ run by an interpreter, or <pkg> named to a package runner */
  packages: readonly string[];
  /** a script path with one of these as a whole path segment (a versions dir) */
  pathSegments?: readonly string[];
  /** kernel comm values (Linux; ps snapshots have no comm) */
  comms?: readonly string[];
}

/** The data: extend here. Order matters only if two patterns could match the same process (first wins). */
export const AGENT_PATTERNS: readonly AgentPattern[] = [
  {
    agent_type: "claude",
    basenames: ["claude"],
    packages: ["@anthropic-ai/claude-code"],
    comms: ["claude"],
  },
  {
    agent_type: "codex",
    basenames: ["codex"],
    basenamePatterns: [/^codex-(?:x86_64|aarch64|arm64|armv7|i686)-[a-z0-9_]+(?:-[a-z0-9_]+)*$/],
    packages: ["@openai/codex"],
  },
  {
    agent_type: "gemini",
    basenames: ["gemini"],
    packages: ["@google/gemini-cli"],
  },
  {
    agent_type: "copilot",
    basenames: ["copilot"],
    packages: ["@github/copilot"],
  },
  {
    agent_type: "cursor",
    basenames: ["cursor-agent"],
    packages: [],
    pathSegments: ["cursor-agent"],
  },
];

/** node, nodejs, node20, node22.3, bun, deno (optionally .exe) */
const INTERPRETER = /^(node|nodejs|bun|deno)(?:-?v?\d+(?:\.\d+)*)?$/;
const SHELLS = new Set(["sh", "bash", "dash", "zsh", "ksh", "mksh", "fish"]);
/** package runners: basename → the subcommands that take a package (null: none needed) */
const RUNNERS = new Map<string, readonly string[] | null>([
  ["npx", null],
  ["pnpx", null],
  ["bunx", null],
  ["npm", ["exec", "x"]],
  ["pnpm", ["dlx", "exec"]],
  ["yarn", ["dlx"]],
]);
/** scripts that are package runners when an interpreter runs them (`node /usr/bin/npx …`) */
const RUNNER_SCRIPTS = new Map<string, string>([
  ["npx", "npx"],
  ["npx-cli.js", "npx"],
  ["npm", "npm"],
  ["npm-cli.js", "npm"],
  ["pnpm", "pnpm"],
  ["pnpm.cjs", "pnpm"],
  ["pnpm.js", "pnpm"],
  ["pnpx", "pnpx"],
  ["pnpx.cjs", "pnpx"],
  ["yarn", "yarn"],
  ["yarn.js", "yarn"],
  ["yarn.cjs", "yarn"],
]);

/** interpreter options whose value is the next argument (the `--opt=value` form needs no entry) */
const INTERPRETER_VALUE_FLAGS = new Set([
  "-r",
  "--require",
  "--import",
  "--loader",
  "--experimental-loader",
  "-C",
  "--conditions",
  "--title",
  "--inspect-port",
  "--debug-port",
  "--env-file",
  "--input-type",
  "--cwd",
  "--preload",
  "--config",
  "-c",
  "--import-map",
  "--location",
  "--seed",
  "--cert",
  "--lock",
]);
/** interpreter options meaning "no script file" */
const INTERPRETER_EVAL_FLAGS = new Set(["-e", "--eval", "-p", "--print", "-i", "--interactive", "--test", "--check"]);
const SHELL_VALUE_FLAGS = new Set(["-o", "+o", "-O", "+O", "--rcfile", "--init-file"]);
const RUNNER_VALUE_FLAGS = new Set(["--prefix", "--cache", "--registry", "--userconfig", "-w", "--workspace", "--cwd", "--node-options"]);

export function basename(path: string): string {
  const p = path.replaceAll("\\", "/");
  const b = p.slice(p.lastIndexOf("/") + 1);
  return b.toLowerCase().endsWith(".exe") ? b.slice(0, -4) : b;
}

function byBasename(name: string): AgentType | null {
  for (const pat of AGENT_PATTERNS) {
    if (pat.basenames.includes(name)) return pat.agent_type;
    if (pat.basenamePatterns?.some((re) => re.test(name)) === true) return pat.agent_type;
  }
  return null;
}

/** A script run by an interpreter or shell: agent name, package dir, or marker segment. */
function byScript(path: string): AgentType | null {
  const byName = byBasename(basename(path));
  if (byName !== null) return byName;
  const p = `/${path.replaceAll("\\", "/")}`;
  for (const pat of AGENT_PATTERNS) {
    if (pat.packages.some((pkg) => p.includes(`/${pkg}/`))) return pat.agent_type;
    if (pat.pathSegments?.some((seg) => p.includes(`/${seg}/`)) === true) return pat.agent_type;
  }
  return null;
}

/** "npm:@scope/name@1.2.3" → "@scope/name" */
function packageName(spec: string): string {
  const s = spec.startsWith("npm:") ? spec.slice(4) : spec;
  const at = s.indexOf("@", 1);
  return at > 0 ? s.slice(0, at) : s;
}

function byPackageSpec(spec: string): AgentType | null {
  const name = packageName(spec);
  for (const pat of AGENT_PATTERNS) if (pat.packages.includes(name)) return pat.agent_type;
  return null;
}

/** args after a runner (and its subcommand): the package named by -p/--package or the first non-flag arg */
function matchRunnerArgs(args: readonly string[]): AgentType | null {
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? "";
    if (a === "--") {
      const next = args[i + 1];
      return next === undefined ? null : byPackageSpec(next);
    }
    if (a === "-p" || a === "--package") {
      const hit = byPackageSpec(args[i + 1] ?? "");
      if (hit !== null) return hit;
      i++;
      continue;
    }
    if (a.startsWith("--package=")) {
      const hit = byPackageSpec(a.slice("--package=".length));
      if (hit !== null) return hit;
      continue;
    }
    if (a === "-c" || a === "--call") return null; // a shell command string
    if (RUNNER_VALUE_FLAGS.has(a)) {
      i++;
      continue;
    }
    if (a.startsWith("-")) continue;
    return byPackageSpec(a);
  }
  return null;
}

function matchRunner(runner: string, args: readonly string[]): AgentType | null {
  const subcommands = RUNNERS.get(runner);
  if (subcommands === undefined) return null;
  if (subcommands === null) return matchRunnerArgs(args);
  // npm exec …, pnpm dlx …: the first non-flag word must be such a subcommand
  const i = args.findIndex((a) => !a.startsWith("-"));
  const sub = i < 0 ? undefined : args[i];
  if (sub === undefined || !subcommands.includes(sub)) return null;
  return matchRunnerArgs(args.slice(i + 1));
}

function matchInterpreter(interp: string, args: readonly string[]): AgentType | null {
  let subcommandSeen = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? "";
    if (a === "--") {
      const next = args[i + 1];
      return next === undefined ? null : matchScript(next, args.slice(i + 2));
    }
    if (INTERPRETER_EVAL_FLAGS.has(a)) return null;
    if (INTERPRETER_VALUE_FLAGS.has(a)) {
      i++;
      continue;
    }
    if (a.startsWith("-")) continue;
    // bun run x.js, deno run x.ts; bun x <pkg> is a runner
    if (!subcommandSeen && (interp === "bun" || interp === "deno")) {
      if (a === "run") {
        subcommandSeen = true;
        continue;
      }
      if (interp === "bun" && a === "x") return matchRunnerArgs(args.slice(i + 1));
    }
    return matchScript(a, args.slice(i + 1));
  }
  return null;
}

/** the first non-flag argument of an interpreter: a script (or npm:<pkg> for deno) */
function matchScript(script: string, rest: readonly string[]): AgentType | null {
  if (script.startsWith("npm:")) return byPackageSpec(script);
  const runner = RUNNER_SCRIPTS.get(basename(script));
  if (runner !== undefined) return matchRunner(runner, rest);
  return byScript(script);
}

function matchShell(args: readonly string[]): AgentType | null {
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? "";
    if (a === "--") {
      const next = args[i + 1];
      return next === undefined ? null : byScript(next);
    }
    if (SHELL_VALUE_FLAGS.has(a)) {
      i++;
      continue;
    }
    if (a.startsWith("--")) continue;
    if (a.startsWith("-") || a.startsWith("+")) {
      const cluster = a.slice(1);
      if (cluster.includes("c") || cluster.includes("s")) return null; // -c string / -s stdin: no script
      if (cluster.endsWith("o") || cluster.endsWith("O")) i++; // -euo pipefail
      continue;
    }
    return byScript(a);
  }
  return null;
}

function matchArgv(argv: readonly string[]): AgentType | null {
  const argv0 = argv[0];
  if (argv0 === undefined || argv0 === "") return null;
  const base = basename(argv0);
  const direct = byBasename(base);
  if (direct !== null) return direct;
  const args = argv.slice(1);
  const interp = INTERPRETER.exec(base)?.[1];
  if (interp !== undefined) return matchInterpreter(interp, args);
  if (SHELLS.has(base)) return matchShell(args);
  if (RUNNERS.has(base)) return matchRunner(base, args);
  return null;
}

/**
 * The agent a single process is, or null. A process that rewrote its title
 * into one string with spaces ("npm exec @openai/codex", via process.title)
 * is also tried split on spaces, which is also how ps snapshots see it.
 */
export function matchAgent(proc: Pick<ProcInfo, "argv"> & { comm?: string | undefined }): AgentType | null {
  const hit = matchArgv(proc.argv);
  if (hit !== null) return hit;
  const only = proc.argv.length === 1 ? proc.argv[0] : undefined;
  if (only?.includes(" ") === true) {
    const split = matchArgv(only.split(" ").filter((s) => s !== ""));
    if (split !== null) return split;
  }
  if (proc.comm !== undefined) {
    for (const pat of AGENT_PATTERNS) if (pat.comms?.includes(proc.comm) === true) return pat.agent_type;
  }
  return null;
}

/**
 * The agent running in a pane: pane_pid itself or its descendants,
 * breadth-first, the one closest to the pane (the topmost launcher). Among
 * agents at the same depth the earliest started (then lowest pid) wins.
 * null when none (a plain shell) or pane_pid is not in the table.
 */
export function identifyAgent(table: ProcessTable, panePid: number, cache?: Map<number, AgentType | null>): AgentMatch | null {
  if (!table.byPid.has(panePid)) return null;
  const seen = new Set<number>([panePid]);
  let level = [panePid];
  while (level.length > 0) {
    let best: { proc: ProcInfo; agent_type: AgentType } | null = null;
    const next: number[] = [];
    for (const pid of level) {
      const proc = table.byPid.get(pid);
      if (proc === undefined) continue;
      let agent = cache?.get(pid);
      if (agent === undefined) {
        agent = matchAgent(proc);
        cache?.set(pid, agent);
      }
      if (agent !== null && (best === null || proc.started_at < best.proc.started_at || (proc.started_at === best.proc.started_at && proc.pid < best.proc.pid))) {
        best = { proc, agent_type: agent };
      }
      for (const child of table.children.get(pid) ?? []) {
        if (seen.has(child)) continue;
        seen.add(child);
        next.push(child);
      }
    }
    if (best !== null) return { agent_type: best.agent_type, pid: best.proc.pid, started_at: best.proc.started_at, argv: best.proc.argv };
    level = next;
  }
  return null;
}

/** identifyAgent for many panes over one snapshot; each process is matched at most once. */
export function identifyAll(table: ProcessTable, panePids: readonly number[]): Map<number, AgentMatch | null> {
  const cache = new Map<number, AgentType | null>();
  const out = new Map<number, AgentMatch | null>();
  for (const pid of panePids) out.set(pid, identifyAgent(table, pid, cache));
  return out;
}
