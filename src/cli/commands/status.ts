import { defineCommand } from "citty";
import { connect } from "../../client/autostart.ts";
import type { HealthResponse } from "../../wire/types.ts";
import { cli, globalArgs } from "./common.ts";

export function formatHealth(h: HealthResponse): string {
  const lines = [
    `agtmux ${h.version} (${h.commit}) — daemon pid ${h.pid}, up ${h.uptime_s}s, ${h.status}`,
    `socket   ${h.socket}`,
    `database ${h.db.path} (schema v${h.db.schema_version})`,
    `stream   ${h.stream_id}`,
    "targets:",
    ...h.targets.map((t) => `  ${t.target_id.padEnd(12)} ${t.kind.padEnd(6)} ${t.health}`),
  ];
  lines.push("adapters:", ...h.adapters.map((a) => `  ${a.id.padEnd(12)} ${a.contract_version.padEnd(6)} ${a.health.status}${a.health.detail !== undefined ? ` — ${a.health.detail}` : ""}`));
  if (h.debug) lines.push("debug mode: unredacted payloads are kept in memory only");
  return lines.join("\n");
}

export const statusCommand = defineCommand({
  meta: { name: "status", description: "Show what the daemon sees (starts it if needed)" },
  args: { ...globalArgs },
  async run(c) {
    const ctx = cli(c);
    const client = await connect(ctx.paths, ctx.env);
    const h = await client.health();
    ctx.out(ctx.json ? JSON.stringify(h) : formatHealth(h));
    return 0;
  },
});
