/** `agtmux explain <ref>`: why a pane shows the state it shows. */
import { defineCommand } from "citty";
import { connect } from "../../client/autostart.ts";
import type { ExplainResponse } from "../../wire/explain.ts";
import { age, safe, stateText, type Style, styleFor } from "../render.ts";
import { cli, globalArgs } from "./common.ts";

const RULES: Record<string, string> = {
  no_agent: "no agent runs in this pane",
  target_down: "its target is down: nothing there can be trusted (unknown/target_unreachable)",
  no_signal: "the agent has sent no signal yet (unknown/no_signal)",
  all_stale: "every signal is older than its source's TTL (unknown/stale_signal)",
  precedence: "among the fresh signals of the highest confidence, the highest-precedence state wins (error > waiting_approval > waiting_input > running > completed > idle > unknown)",
};

export function renderExplain(st: Style, r: ExplainResponse): string {
  const p = r.pane;
  const out: string[] = [];
  out.push(`${p.ref}`);
  out.push(
    `  ${p.agent === null ? "no agent" : `${p.agent.type} pid ${p.agent.pid ?? "?"}, ${p.runtime_ref ?? ""}, epoch ${p.agent.pane_epoch ?? "?"}`}; target ${r.target.target} ${r.target.health}`,
  );
  if (r.resolved !== null) {
    out.push(`  state: ${stateText(st, r.resolved.state)}${r.resolved.reason_code !== null ? `/${r.resolved.reason_code}` : ""} (${r.resolved.confidence} confidence${r.resolved.source !== null ? `, from ${r.resolved.source}` : ""})`);
  }
  out.push(`  why: ${RULES[r.rule] ?? r.rule}`);
  if (r.candidates.length > 0) {
    out.push("  signals:");
    for (const c of r.candidates) {
      const fresh = c.fresh ? (c.ttl_s === null ? "fresh (holds until the next signal)" : `fresh (ttl ${c.ttl_s}s)`) : `stale since ${c.stale_at ?? "?"}`;
      const verdict = c.won ? "<- wins" : !c.fresh ? "(stale: ignored)" : !c.in_tier ? "(lower confidence: ignored while a better signal is fresh)" : "(lower precedence)";
      const demoted = c.effective_state !== c.state ? ` (${c.state}, demoted)` : "";
      out.push(`    ${c.source.padEnd(7)} ${stateText(st, c.effective_state)}${demoted}  ${c.confidence}  ${age(Math.round(c.age_s))} ago  ${fresh}  ${verdict}`);
    }
  }
  if (r.recent_events.length > 0) {
    out.push("  recent events:");
    for (const e of r.recent_events.slice(0, 10)) {
      out.push(`    ${age(Math.round(e.age_s)).padStart(4)} ago  ${e.source.padEnd(7)} ${safe(e.event_type)}  -> ${e.state ?? "-"} [${e.outcome}]`);
    }
  }
  if (r.unbound_events.length > 0) {
    out.push("  events not bound to this agent:");
    for (const e of r.unbound_events) out.push(`    ${e.event_id} ${e.source} ${e.status}${e.reason_code !== null ? ` (${e.reason_code})` : ""}`);
  }
  return out.join("\n");
}

export const explainCommand = defineCommand({
  meta: { name: "explain", description: "Why a pane shows its state: every signal, its age and freshness, and which one won" },
  args: { ...globalArgs, ref: { type: "positional", description: "pane:… or runtime:… (from `agtmux list panes --json`)", required: true } },
  async run(c) {
    const ctx = cli(c);
    const client = await connect(ctx.paths, ctx.env);
    const r = await client.explain(String(c.args.ref));
    ctx.out(ctx.json ? JSON.stringify(r) : renderExplain(styleFor(process.stdout, ctx.env), r));
    return 0;
  },
});
