/** `agtmux setup-hooks` results for humans (under --json the reports are printed as they are). */
import type { AgentReport, FileReport } from "./setup.ts";

const NAMES = { claude: "Claude Code", codex: "Codex" } as const;

function fileLine(f: FileReport, dryRun: boolean): string {
  const verb = dryRun
    ? { created: "would create", updated: "would update", deleted: "would delete", unchanged: "unchanged" }[f.action]
    : { created: "created", updated: "updated", deleted: "deleted", unchanged: "unchanged" }[f.action];
  return `  ${verb.padEnd(12)} ${f.path}${f.backup === undefined ? "" : `   (backup: ${f.backup})`}`;
}

function list(xs: string[]): string {
  return xs.length <= 4 ? xs.join(", ") : `${xs.slice(0, 4).join(", ")} and ${xs.length - 4} more`;
}

export function formatReport(r: AgentReport): string {
  const out: string[] = [`${NAMES[r.agent]} (${r.scope} scope)${r.dry_run ? " — dry run, nothing written" : ""}:`];
  for (const f of r.files) out.push(fileLine(f, r.dry_run));
  const h = r.hooks;
  if (r.mode === "install") {
    if (h.added.length > 0) out.push(`  hooks: added for ${list(h.added)}`);
    if (h.updated.length > 0) out.push(`  hooks: updated in place for ${list(h.updated)}`);
    if (h.removed.length > 0) out.push(`  hooks: removed stale or duplicate entries for ${list(h.removed)}`);
    if (h.added.length + h.updated.length + h.removed.length === 0) out.push(`  hooks: all ${h.installed} already in place`);
    if (r.command !== undefined) out.push(`  command: ${r.command}`);
  } else {
    out.push(h.removed.length > 0 ? `  hooks: removed agtmux's entries for ${list(h.removed)}` : "  hooks: none of agtmux's were there");
  }
  const n = r.notify;
  if (n !== undefined) {
    const say: Record<typeof n.status, string> = {
      added: "notify set to agtmux",
      updated: "notify updated (new agtmux path)",
      unchanged: "notify already agtmux's",
      "kept-user": "notify: yours kept (see below)",
      "replaced-user": "notify: yours replaced by agtmux's (--force-notify; the old value is in the backup)",
      removed: "notify: agtmux's removed",
      absent: "notify: agtmux's was not set",
    };
    out.push(`  ${say[n.status]}`);
  }
  const t = r.trust;
  if (t !== undefined) {
    const say: Record<typeof t.status, string> = {
      verified: `trust: codex trusts all ${t.trusted.length} agtmux hooks${t.written.length > 0 ? ` (${t.written.length} trust entries written)` : ""}`,
      simulated: `trust: ${t.trusted.length} trust entries computed with codex`,
      skipped: "trust: skipped",
      incomplete: "trust: incomplete",
      failed: "trust: failed",
      removed: `trust: ${t.removed.length} agtmux trust entries removed`,
      none: "trust: no agtmux trust entries",
    };
    out.push(`  ${say[t.status]}`);
  }
  for (const w of r.warnings) out.push(`  warning: ${w}`);
  const nothing = r.files.every((f) => f.action === "unchanged");
  if (nothing && !r.dry_run) out.push("  nothing to change");
  return out.join("\n");
}

export function formatDiffs(reports: AgentReport[]): string {
  return reports
    .flatMap((r) => r.files.map((f) => f.diff ?? ""))
    .filter((d) => d !== "")
    .join("");
}
