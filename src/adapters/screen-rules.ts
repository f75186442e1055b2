/**
 * Pane-text patterns as data (one JSON file per agent, with the CLI versions
 * they were verified against and captured-screen fixtures in tests/fixtures).
 * First matching rule wins; only the bottom lines of the screen are read.
 */
import * as v from "valibot";
import { STATES } from "../domain/model.ts";
import type { PaneScreen, PollResult } from "./registry.ts";

const RuleSchema = v.object({
  state: v.picklist(STATES),
  name: v.string(),
  all: v.optional(v.array(v.string())),
  any: v.optional(v.array(v.string())),
  none: v.optional(v.array(v.string())),
  /** match against the pane title instead of the screen */
  title: v.optional(v.boolean()),
});

export const ScreenRulesSchema = v.object({
  agent: v.string(),
  verified: v.array(v.string()),
  bottom_lines: v.pipe(v.number(), v.integer(), v.minValue(1)),
  rules: v.array(RuleSchema),
});

interface CompiledRule {
  state: PollResult["state"];
  name: string;
  all: RegExp[];
  any: RegExp[];
  none: RegExp[];
  title: boolean;
}

export interface ScreenMatcher {
  verified: readonly string[];
  poll(screen: PaneScreen): PollResult | null;
}

export function compileScreenRules(data: unknown): ScreenMatcher {
  const parsed = v.parse(ScreenRulesSchema, data);
  const re = (xs: readonly string[] | undefined): RegExp[] => (xs ?? []).map((x) => new RegExp(x, "m"));
  const rules: CompiledRule[] = parsed.rules.map((r) => ({ state: r.state, name: r.name, all: re(r.all), any: re(r.any), none: re(r.none), title: r.title === true }));
  return {
    verified: parsed.verified,
    poll(screen) {
      const lines = screen.text.split("\n");
      const bottom = lines.slice(-parsed.bottom_lines).join("\n");
      for (const r of rules) {
        const hay = r.title ? screen.title : bottom;
        if (r.all.every((x) => x.test(hay)) && (r.any.length === 0 || r.any.some((x) => x.test(hay))) && !r.none.some((x) => x.test(hay))) {
          return { state: r.state, pattern: `${parsed.agent}:${r.name}`, confidence: "low" };
        }
      }
      return null;
    },
  };
}
