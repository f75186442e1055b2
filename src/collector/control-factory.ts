/** Wires tmux control-mode clients to the collector (one per session). */
import type { Logger } from "../daemon/log.ts";
import { ControlClient } from "../tmux/control.ts";
import type { Tmux } from "../tmux/tmux.ts";
import type { ControlFactory } from "./topology.ts";

/** Notifications that can mean a topology change (everything but output and messages). */
const IGNORED = new Set(["output", "message", "pause", "continue", "config-error"]);

export function controlFactory(tmux: Tmux, log: Logger): ControlFactory {
  // every attached client can carry the target's read-only queries (Tmux.setChannel); one is used at a time
  const attached = new Set<ControlClient>();
  const pickChannel = (): void => {
    const c = [...attached].find((x) => x.attached) ?? null;
    tmux.setChannel(c);
  };
  return (sessionId, onEvent, onExit) => {
    const c = new ControlClient(tmux, sessionId, {
      onNotification: (n) => {
        if (!IGNORED.has(n.kind)) onEvent(n.kind);
      },
      onExit: (e) => {
        attached.delete(c);
        pickChannel();
        if (e.reason !== "stopped") log.debug("control client ended", { session: sessionId, reason: e.reason, message: e.message });
        onExit();
      },
    });
    void c.start().then(
      () => {
        attached.add(c);
        if (!tmux.hasChannel) pickChannel();
      },
      (err: unknown) => {
        log.debug("control client did not attach", { session: sessionId, message: err instanceof Error ? err.message : String(err) });
      },
    );
    return c;
  };
}
