/**
 * argv -> the one command string an ssh exec request carries. sshd hands that
 * string to the user's login shell (`$SHELL -c <string>`), so every argument
 * is quoted for a POSIX shell (sh, dash, bash, zsh, ksh): the remote program
 * then receives exactly our argv. csh/tcsh and fish quote differently (fish
 * treats `\\` inside single quotes as an escape; csh expands `!` and rejects
 * newlines inside quotes): a target whose login shell is one of those is not
 * supported.
 */
import { ExecError } from "../executor.ts";

/** characters that never need quoting (no `=`: a leading `K=V` word would be an assignment; no `~`, `*`, `?`, `[`, `#`, `!`, `{`) */
const SAFE_WORD = /^[A-Za-z0-9_@%+:,./-]+$/;
/** reserved words of sh/bash/zsh/ksh: unquoted as the first word they would start a compound command */
const RESERVED = new Set(["if", "then", "else", "elif", "fi", "do", "done", "case", "esac", "while", "until", "for", "in", "function", "select", "time", "coproc", "repeat", "foreach", "end", "nocorrect", "noglob"]);
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * POSIX single-quote quoting: `'...'`, each `'` inside written as `'\''`.
 * Words made only of characters with no meaning to the shell are left bare
 * (readable logs); the empty string becomes `''`.
 */
export function shellQuote(arg: string): string {
  if (arg.includes("\0")) throw new ExecError("spawn_failed", "an argument contains a NUL byte (cannot be passed to a remote command)", arg.slice(0, arg.indexOf("\0")));
  if (SAFE_WORD.test(arg) && !RESERVED.has(arg)) return arg;
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

/**
 * The program word: `~/bin/x` becomes `"$HOME"/'bin/x'` so a program installed
 * under the remote login directory can be named without knowing its absolute
 * path. Only the program (argv[0]) gets this; every other argument, including
 * one that starts with `~`, reaches the program literally.
 */
function quoteProgram(prog: string): string {
  if (prog.startsWith("~/")) {
    const rest = prog.slice(2);
    return rest === "" ? `"$HOME"/` : `"$HOME"/${shellQuote(rest)}`;
  }
  return shellQuote(prog);
}

/**
 * The command string for argv (+ env). Environment variables travel as a
 * leading `env` invocation, never as ssh "env" requests (sshd drops those
 * unless AcceptEnv allows them): a defined value becomes `'K=V'`, an
 * undefined one `-u K` (unset, as LocalExecutor does for `{K: undefined}`):
 *
 *   env -u TMUX -- 'LANG=C.UTF-8' tmux -L x list-panes
 *
 * `env -u` is in GNU coreutils, BSD/macOS and busybox env.
 */
export function remoteCommand(argv: readonly string[], env?: Record<string, string | undefined>): string {
  const [prog, ...args] = argv;
  if (prog === undefined || prog === "") throw new ExecError("spawn_failed", "empty argv", "");
  const words: string[] = [];
  const entries = Object.entries(env ?? {});
  if (entries.length > 0) {
    const unset: string[] = [];
    const set: string[] = [];
    for (const [k, v] of entries) {
      if (!ENV_NAME.test(k)) throw new ExecError("spawn_failed", `invalid environment variable name: ${JSON.stringify(k)}`, prog);
      if (v === undefined) unset.push("-u", k);
      else set.push(shellQuote(`${k}=${v}`));
    }
    // env would take a program name containing `=` for one more assignment
    if (prog.includes("=")) throw new ExecError("spawn_failed", `program name contains '=' (cannot be run through env): ${JSON.stringify(prog)}`, prog);
    words.push("env", ...unset, "--", ...set);
  }
  words.push(quoteProgram(prog), ...args.map(shellQuote));
  return words.join(" ");
}
