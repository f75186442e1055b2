/**
 * Where agtmux keeps its socket and data. Resolved from an explicit env map
 * (never read at import time) so tests isolate by constructing.
 *
 * socket: --socket | AGTMUX_SOCKET | $XDG_RUNTIME_DIR/agtmux/agtmuxd.sock
 *         | ~/.local/state/agtmux/agtmuxd.sock
 * data:   AGTMUX_HOME | $XDG_STATE_HOME/agtmux | ~/.local/state/agtmux
 * config: AGTMUX_CONFIG | $XDG_CONFIG_HOME/agtmux/config.toml | ~/.config/agtmux/config.toml
 */
import { homedir } from "node:os";
import { dirname, join } from "node:path";

export interface Paths {
  socket: string;
  socketDir: string;
  home: string;
  db: string;
  lock: string;
  log: string;
  spoolDir: string;
  config: string;
}

export type Env = Record<string, string | undefined>;

export function resolvePaths(env: Env, overrides: { socket?: string | undefined } = {}): Paths {
  const home = env.HOME !== undefined && env.HOME !== "" ? env.HOME : homedir();
  const stateBase = nonEmpty(env.XDG_STATE_HOME) ?? join(home, ".local", "state");
  const dataHome = nonEmpty(env.AGTMUX_HOME) ?? join(stateBase, "agtmux");
  const runtimeDir = nonEmpty(env.XDG_RUNTIME_DIR);
  const socket =
    nonEmpty(overrides.socket) ??
    nonEmpty(env.AGTMUX_SOCKET) ??
    (runtimeDir !== undefined ? join(runtimeDir, "agtmux", "agtmuxd.sock") : join(home, ".local", "state", "agtmux", "agtmuxd.sock"));
  const configBase = nonEmpty(env.XDG_CONFIG_HOME) ?? join(home, ".config");
  return {
    socket,
    socketDir: dirname(socket),
    home: dataHome,
    db: join(dataHome, "agtmux.db"),
    lock: join(dataHome, "agtmuxd.lock"),
    log: join(dataHome, "agtmuxd.log"),
    spoolDir: join(dataHome, "spool"),
    config: nonEmpty(env.AGTMUX_CONFIG) ?? join(configBase, "agtmux", "config.toml"),
  };
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s === "" ? undefined : s;
}
