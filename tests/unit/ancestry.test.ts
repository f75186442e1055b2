/** Which agent a hook runs under, read from a fake /proc tree. */
import { afterEach, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { findAgentAncestor, hookOrigin } from "../../src/procs/ancestry.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function fakeProc(procs: Array<{ pid: number; ppid: number; comm: string; argv: string[]; start?: number }>): string {
  const root = mkdtempSync(join(process.env.AGTMUX_TEST_ROOT ?? "/tmp", "proc-"));
  dirs.push(root);
  writeFileSync(join(root, "stat"), "cpu 0 0 0\nbtime 1795000000\n");
  for (const p of procs) {
    mkdirSync(join(root, String(p.pid)));
    const rest = ["S", String(p.ppid), ...Array<string>(17).fill("0"), String(p.start ?? 100)];
    writeFileSync(join(root, String(p.pid), "stat"), `${p.pid} (${p.comm}) ${rest.join(" ")}`);
    writeFileSync(join(root, String(p.pid), "cmdline"), `${p.argv.join("\0")}\0`);
  }
  return root;
}

test("a hook under a node launcher + native child reports the launcher (the pane's runtime)", () => {
  const root = fakeProc([
    { pid: 10, ppid: 1, comm: "bash", argv: ["bash"] },
    { pid: 20, ppid: 10, comm: "node", argv: ["node", "/usr/lib/node_modules/@openai/codex/bin/codex.js"] },
    { pid: 30, ppid: 20, comm: "codex", argv: ["/usr/lib/node_modules/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex", "--no-daemon"] },
    { pid: 40, ppid: 30, comm: "agtmux", argv: ["agtmux", "emit", "--hook", "codex"] },
  ]);
  expect(findAgentAncestor(30, "codex", root)).toMatchObject({ agent_type: "codex", pid: 20, started_at: 1795000000 * 1000 + 1000 });
});

test("a hook under Codex's shared app-server daemon is not attributed, whatever its parents", () => {
  const root = fakeProc([
    { pid: 10, ppid: 1, comm: "bash", argv: ["bash"] },
    { pid: 20, ppid: 10, comm: "node", argv: ["node", "/usr/lib/node_modules/@openai/codex/bin/codex.js"] },
    { pid: 30, ppid: 20, comm: "codex", argv: ["/x/codex"] },
    { pid: 50, ppid: 30, comm: "codex", argv: ["/home/u/.codex/packages/app-server-daemon/bin/codex", "app-server", "--listen", "unix://"] },
  ]);
  expect(findAgentAncestor(50, "codex", root)).toBeNull();
  expect(hookOrigin(50, "codex", root)).toEqual({ kind: "shared-daemon", pid: 50 });
});

test("Claude: the claude.exe process under a shell", () => {
  const root = fakeProc([
    { pid: 10, ppid: 1, comm: "bash", argv: ["bash"] },
    { pid: 20, ppid: 10, comm: "claude.exe", argv: ["/opt/claude/bin/claude.exe"] },
    { pid: 21, ppid: 20, comm: "sh", argv: ["sh", "-c", "agtmux emit --hook claude"] },
  ]);
  expect(findAgentAncestor(21, "claude", root)).toMatchObject({ pid: 20 });
  expect(findAgentAncestor(21, "codex", root)).toBeNull();
});
