/**
 * `agtmux target bootstrap <name> [--dry-run]`: installs agtmux on an ssh
 * target and sets up its agents' hooks there (src/targets/bootstrap.ts), over
 * one ssh connection made by this process with the same config, agent and
 * known_hosts the daemon uses. Then asks the daemon to reconnect, so the relay
 * starts with the new binary.
 */
import { defineCommand } from "citty";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { connect } from "../../client/autostart.ts";
import { selfCommand } from "../../client/autostart.ts";
import { AgtmuxError } from "../../domain/errors.ts";
import { DEFAULT_REMOTE_AGTMUX } from "../../domain/target.ts";
import type { TargetResponse } from "../../wire/list.ts";
import { cli, globalArgs } from "./common.ts";

export const bootstrapCommand = defineCommand({
  meta: { name: "bootstrap", description: "Install agtmux on an ssh target (binary for its OS/arch over SFTP) and set up its agents' hooks there" },
  args: {
    ...globalArgs,
    name: { type: "positional", description: "target name", required: true },
    "dry-run": { type: "boolean", description: "say what it would do (and show setup-hooks' diff when agtmux is already there)" },
  },
  async run(c) {
    const ctx = cli(c);
    const a = c.args as { name?: string; "dry-run"?: boolean };
    const name = a.name ?? "";
    const dryRun = a["dry-run"] === true;
    const client = await connect(ctx.paths, ctx.env);
    const t = await client.request<TargetResponse>("GET", `/v1/targets/${encodeURIComponent(name)}`);
    if (t.target.kind !== "ssh" || t.target.connection_ref === null) {
      throw new AgtmuxError("E_BAD_REQUEST", `${name} is a ${t.target.kind} target: bootstrap is for ssh targets`, { target: name });
    }
    // ssh2 loads only for the commands that talk ssh
    const { SshExecutor } = await import("../../targets/ssh/executor.ts");
    const { binaryCandidates, bootstrap } = await import("../../targets/bootstrap.ts");
    const exec = new SshExecutor({ targetId: name, alias: t.target.connection_ref, env: ctx.env });
    const compiled = selfCommand().length === 1;
    const repoDist = compiled ? null : join(import.meta.dir, "..", "..", "..", "dist");
    try {
      const report = await bootstrap(exec, {
        target: name,
        remotePath: t.target.agtmux_path ?? DEFAULT_REMOTE_AGTMUX,
        dryRun,
        candidates: (p) => binaryCandidates(p, { execPath: process.execPath, compiled, repoDist: repoDist !== null && existsSync(repoDist) ? repoDist : null, env: ctx.env }),
      });
      if (!dryRun) await client.connectTarget(name).catch(() => null);
      if (ctx.json) ctx.out(JSON.stringify({ schema_version: 1, ...report }));
      else {
        ctx.out(`${dryRun ? "would bootstrap" : "bootstrapped"} ${name} (${report.platform.os}/${report.platform.arch}):`);
        for (const s of report.steps) ctx.out(`  ${s.done ? "✓" : dryRun ? "·" : "="} ${s.step}: ${s.detail}`);
        if (dryRun && report.setup_hooks_output !== "") ctx.out(report.setup_hooks_output);
      }
      return 0;
    } finally {
      await exec.close();
    }
  },
});
