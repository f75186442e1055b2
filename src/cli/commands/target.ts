/** `agtmux target add|connect|list|remove|bootstrap` (contracts §7). */
import { defineCommand } from "citty";
import { connect } from "../../client/autostart.ts";
import type { AddTargetBody } from "../../client/client.ts";
import { AgtmuxError } from "../../domain/errors.ts";
import type { ProbeReport, TargetItem, TargetResponse } from "../../wire/list.ts";
import { age, paint, safe, styleFor, table } from "../render.ts";
import { bootstrapCommand } from "./target-bootstrap.ts";
import { cli, globalArgs } from "./common.ts";

const nameArg = { name: { type: "positional", description: "target name ([A-Za-z0-9._-], e.g. vm1)", required: true } } as const;

function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

function probeLine(p: ProbeReport | null): string {
  if (p === null) return "";
  const relay = p.status.relay === null ? "" : `, relay ${p.status.relay.up ? "up" : `down (${p.status.relay.detail})`}`;
  return ` — reached in ${p.latency_ms} ms: tmux ${p.tmux_version ?? "?"}, ${p.panes} pane(s)${relay}`;
}

const add = defineCommand({
  meta: { name: "add", description: "Add a target (a host to watch) and reach it once" },
  args: {
    ...globalArgs,
    ...nameArg,
    kind: { type: "string", description: "local or ssh", valueHint: "local|ssh", required: true },
    "ssh-target": { type: "string", description: "ssh host alias from ~/.ssh/config (or [user@]host[:port])", valueHint: "alias" },
    "tmux-socket": { type: "string", description: "the tmux server to watch there: a socket name (-L) or path (-S)", valueHint: "name|path" },
    "agtmux-path": { type: "string", description: "ssh: where the agtmux binary is on the target (default .local/bin/agtmux, see `target bootstrap`)", valueHint: "path" },
    "accept-new-host-key": { type: "boolean", description: "ssh: trust an unknown host key and add it to known_hosts (like StrictHostKeyChecking=accept-new); a changed key is always refused" },
    "no-connect": { type: "boolean", description: "store it without reaching it now (a VM that is off)" },
  },
  async run(c) {
    const ctx = cli(c);
    const a = c.args as Record<string, unknown>;
    const kind = str(a.kind);
    if (kind !== "local" && kind !== "ssh") throw new AgtmuxError("E_USAGE", "--kind must be local or ssh", { flag: "kind" });
    if (kind === "ssh" && str(a["ssh-target"]) === undefined) throw new AgtmuxError("E_USAGE", "an ssh target needs --ssh-target <alias>", { flag: "ssh-target" });
    const body: AddTargetBody = { name: str(a.name) ?? "", kind };
    const ssh = str(a["ssh-target"]);
    const sock = str(a["tmux-socket"]);
    const path = str(a["agtmux-path"]);
    if (ssh !== undefined) body.ssh_target = ssh;
    if (sock !== undefined) body.tmux_socket = sock;
    if (path !== undefined) body.agtmux_path = path;
    if (a["accept-new-host-key"] === true) body.accept_new_host_key = true;
    if (a["no-connect"] === true) body.connect = false;
    const client = await connect(ctx.paths, ctx.env);
    const r = await client.addTarget(body);
    ctx.out(ctx.json ? JSON.stringify(r) : `${r.created === false ? "target exists" : "added"} ${r.target.target} (${describe(r.target)})${probeLine(r.probe)}${relayHint(r)}`);
    return 0;
  },
});

function describe(t: TargetItem): string {
  return t.kind === "ssh" ? `ssh ${t.connection_ref ?? ""}${t.tmux_socket !== null ? `, tmux ${t.tmux_socket}` : ""}` : `local${t.tmux_socket !== null ? `, tmux ${t.tmux_socket}` : ""}`;
}

function relayHint(r: TargetResponse): string {
  const relay = r.probe?.status.relay;
  if (relay === undefined || relay === null || relay.up) return "";
  return `\nhint: hook events from ${r.target.target} need agtmux there: run \`agtmux target bootstrap ${r.target.target}\``;
}

const connectCmd = defineCommand({
  meta: { name: "connect", description: "Reach a target now (reconnect over ssh), scan it and report" },
  args: {
    ...globalArgs,
    ...nameArg,
    "accept-new-host-key": { type: "boolean", description: "ssh: trust an unknown host key (a changed key is always refused)" },
  },
  async run(c) {
    const ctx = cli(c);
    const a = c.args as Record<string, unknown>;
    const client = await connect(ctx.paths, ctx.env);
    const r = await client.connectTarget(str(a.name) ?? "", a["accept-new-host-key"] === true ? { accept_new_host_key: true } : {});
    ctx.out(ctx.json ? JSON.stringify(r) : `connected ${r.target.target} (${describe(r.target)})${probeLine(r.probe)}${relayHint(r)}`);
    return 0;
  },
});

const list = defineCommand({
  meta: { name: "list", description: "Targets with their health" },
  args: { ...globalArgs },
  async run(c) {
    const ctx = cli(c);
    const client = await connect(ctx.paths, ctx.env);
    const r = await client.targets();
    if (ctx.json) {
      ctx.out(JSON.stringify(r));
      return 0;
    }
    const st = styleFor(process.stdout, ctx.env);
    const now = Date.parse(r.generated_at);
    const ago = (iso: string | null): string => (iso === null ? "-" : age(Math.max(0, Math.round((now - Date.parse(iso)) / 1000))));
    const rows: string[][] = [["TARGET", "KIND", "CONNECTION", "TMUX", "HEALTH", "SINCE", "PANES/SCAN", "RELAY", "LAST ERROR"]];
    for (const t of r.items) {
      const health = t.health === "ok" ? paint(st, "32", "ok") : paint(st, t.health === "down" ? "31" : "33", t.health);
      const relay = t.status?.relay === null || t.status?.relay === undefined ? "-" : t.status.relay.up ? "up" : `down: ${t.status.relay.detail}`;
      rows.push([
        t.target,
        t.kind,
        t.kind === "ssh" ? safe(t.connection_ref) : "-",
        `${t.tmux_version ?? "?"}${t.tmux_socket !== null ? ` (${safe(t.tmux_socket)})` : ""}`,
        health,
        ago(t.health_changed_at),
        t.status === null ? "-" : `${t.status.last_scan_ms} ms`,
        safe(relay).slice(0, 40),
        t.last_error === null ? "" : safe(`${t.last_error.message} (${ago(t.last_error.since)})`).slice(0, 80),
      ]);
    }
    ctx.out(table(rows).join("\n"));
    return 0;
  },
});

async function confirm(question: string): Promise<boolean> {
  if (process.stdin.isTTY !== true) return false;
  process.stderr.write(`${question} [y/N] `);
  for await (const line of console) return /^y(es)?$/i.test(line.trim());
  return false;
}

const remove = defineCommand({
  meta: { name: "remove", description: "Stop watching a target and forget what was seen there" },
  args: { ...globalArgs, ...nameArg, yes: { type: "boolean", alias: "y", description: "do not ask" } },
  async run(c) {
    const ctx = cli(c);
    const a = c.args as Record<string, unknown>;
    const name = str(a.name) ?? "";
    const client = await connect(ctx.paths, ctx.env);
    if (a.yes !== true) {
      const panes = await client.panes({ target: [name], all: true });
      const ok = await confirm(`Remove target ${name} and forget its ${panes.summary.panes} pane(s)?`);
      if (!ok) {
        if (process.stdin.isTTY !== true) throw new AgtmuxError("E_USAGE", `not removing ${name} without confirmation: pass --yes`, { flag: "yes" });
        ctx.err("not removed");
        return 1;
      }
    }
    const r = await client.removeTarget(name);
    ctx.out(ctx.json ? JSON.stringify(r) : `removed ${r.target} (${r.panes_forgotten} pane(s) forgotten)`);
    return 0;
  },
});

export const targetCommand = defineCommand({
  meta: { name: "target", description: "Hosts to watch: the local tmux server and VMs over ssh" },
  subCommands: { add, connect: connectCmd, list, remove, bootstrap: bootstrapCommand },
});
