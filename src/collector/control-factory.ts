/** Wires tmux control-mode clients to the collector (one per session). */
import type { Logger } from "../daemon/log.ts";
import type { Executor } from "../targets/executor.ts";
import type { Tmux } from "../tmux/tmux.ts";
import type { ControlFactory } from "./topology.ts";

export function controlFactory(_exec: Executor, _tmux: Tmux, _log: Logger): ControlFactory | undefined {
  // filled in once src/tmux/control.ts lands
  return undefined;
}
