/** `agtmux list panes|windows|sessions`: prints what the read API returns (JSON as is, or a table). */
import { defineCommand } from "citty";
import { connect } from "../../client/autostart.ts";
import type { ListQuery } from "../../client/client.ts";
import { renderPanes, renderSessions, renderWindows, styleFor } from "../render.ts";
import { cli, globalArgs } from "./common.ts";

const targetArgs = {
  target: { type: "string", description: "only this target (comma-separated for several)", valueHint: "name" },
  "all-targets": { type: "boolean", description: "every target (the default)" },
  "target-session": { type: "string", description: "one session: <target>/<percent-encoded session name>", valueHint: "target/session-enc" },
  session: { type: "string", description: "sessions with this name on any target", valueHint: "name" },
  sort: { type: "string", description: "sort order", valueHint: "key" },
} as const;

type Flags = Record<string, string | boolean | undefined>;

function baseQuery(a: Flags): ListQuery {
  const str = (k: string): string | undefined => (typeof a[k] === "string" ? (a[k] as string) : undefined);
  const target = str("target");
  return {
    target: target === undefined ? undefined : target.split(",").map((t) => t.trim()).filter((t) => t !== ""),
    all_targets: a["all-targets"] === true,
    target_session: str("target-session"),
    session: str("session"),
    sort: str("sort"),
  };
}

export const paneArgs = {
  ...globalArgs,
  ...targetArgs,
  state: { type: "string", description: "only this state", valueHint: "state" },
  agent: { type: "string", description: "only this agent (claude, codex, gemini, copilot, cursor)", valueHint: "type" },
  "needs-action": { type: "boolean", description: "only panes waiting for you (approval, input) or in error" },
  all: { type: "boolean", description: "include panes without an agent" },
  ref: { type: "string", description: "exactly the pane a ref names (pane:… or runtime:…)", valueHint: "ref" },
} as const;

export const listPanes = defineCommand({
  meta: { name: "panes", description: "Agent panes and their state (--all: every pane)" },
  args: paneArgs,
  async run(c) {
    const ctx = cli(c);
    const a = c.args as Flags;
    const client = await connect(ctx.paths, ctx.env);
    const r = await client.panes({
      ...baseQuery(a),
      state: typeof a.state === "string" ? a.state : undefined,
      agent: typeof a.agent === "string" ? a.agent : undefined,
      needs_action: a["needs-action"] === true,
      all: a.all === true,
      ref: typeof a.ref === "string" ? a.ref : undefined,
    });
    ctx.out(ctx.json ? JSON.stringify(r) : renderPanes(styleFor(process.stdout, ctx.env), r));
    return 0;
  },
});

const listWindows = defineCommand({
  meta: { name: "windows", description: "Windows with their top state and waiting/running counts" },
  args: { ...globalArgs, ...targetArgs, "with-agent-status": { type: "boolean", description: "add per-state and per-agent counts" } },
  async run(c) {
    const ctx = cli(c);
    const a = c.args as Flags;
    const client = await connect(ctx.paths, ctx.env);
    const r = await client.windows({ ...baseQuery(a), with_agent_status: a["with-agent-status"] === true });
    ctx.out(ctx.json ? JSON.stringify(r) : renderWindows(styleFor(process.stdout, ctx.env), r));
    return 0;
  },
});

const listSessions = defineCommand({
  meta: { name: "sessions", description: "Sessions (grouped per target, or merged by name across targets)" },
  args: {
    ...globalArgs,
    ...targetArgs,
    "agent-summary": { type: "boolean", description: "add per-state and per-agent counts" },
    "group-by": { type: "string", description: "target-session (default) or session-name", valueHint: "mode" },
  },
  async run(c) {
    const ctx = cli(c);
    const a = c.args as Flags;
    const client = await connect(ctx.paths, ctx.env);
    const r = await client.sessions({
      ...baseQuery(a),
      agent_summary: a["agent-summary"] === true,
      group_by: typeof a["group-by"] === "string" ? a["group-by"] : undefined,
    });
    ctx.out(ctx.json ? JSON.stringify(r) : renderSessions(styleFor(process.stdout, ctx.env), r));
    return 0;
  },
});

export const listCommand = defineCommand({
  meta: { name: "list", description: "List panes (the default), windows or sessions" },
  args: paneArgs,
  subCommands: { panes: listPanes, windows: listWindows, sessions: listSessions },
  run: (c) => listPanes.run?.(c),
});
