import { describe, expect, test } from "bun:test";
import { AGENT_PATTERNS, identifyAgent, identifyAll, matchAgent } from "../../src/procs/agents.ts";
import { buildTable, parsePsOutput } from "../../src/procs/table.ts";
import { AGENT_TYPES, type AgentType, type ProcInfo } from "../../src/procs/types.ts";

const NM = "/usr/local/lib/node_modules";

const POSITIVE: [AgentType, string[], string?][] = [
  // claude
  ["claude", ["claude"]],
  ["claude", ["/home/u/.local/bin/claude", "--resume"]],
  ["claude", ["C:\\Users\\u\\bin\\claude.exe"]],
  ["claude", ["node", `${NM}/@anthropic-ai/claude-code/cli.js`]],
  ["claude", ["node", "--no-warnings", "--enable-source-maps", `${NM}/@anthropic-ai/claude-code/cli.mjs`, "-c"]],
  ["claude", ["/usr/bin/node20", "-r", "/tmp/hook.js", `${NM}/@anthropic-ai/claude-code/bin/claude`]],
  ["claude", ["bun", "run", "/home/u/.bun/install/global/node_modules/@anthropic-ai/claude-code/cli.js"]],
  ["claude", ["node", "/usr/local/bin/claude"]], // npm global bin symlink, run via its shebang
  ["claude", ["node", "/home/u/.pnpm/.pnpm/@anthropic-ai+claude-code@1.0.0/node_modules/@anthropic-ai/claude-code/cli.js"]],
  ["claude", ["npx", "@anthropic-ai/claude-code"]],
  ["claude", ["npx", "-y", "@anthropic-ai/claude-code@latest", "--help"]],
  ["claude", ["npx", "-p", "@anthropic-ai/claude-code", "claude"]],
  ["claude", ["node", "/usr/bin/npx", "--yes", "@anthropic-ai/claude-code"]],
  ["claude", ["npm exec @anthropic-ai/claude-code"]], // npm's process.title, one string
  ["claude", ["npm", "exec", "--", "@anthropic-ai/claude-code"]],
  ["claude", ["bunx", "@anthropic-ai/claude-code"]],
  ["claude", ["bun", "x", "@anthropic-ai/claude-code"]],
  ["claude", ["pnpm", "dlx", "@anthropic-ai/claude-code"]],
  ["claude", ["deno", "run", "-A", "npm:@anthropic-ai/claude-code"]],
  ["claude", [], "claude"], // comm only
  // codex
  ["codex", ["codex"]],
  ["codex", ["/opt/homebrew/bin/codex", "exec", "fix it"]],
  ["codex", ["node", `${NM}/@openai/codex/bin/codex.js`]],
  ["codex", [`${NM}/@openai/codex/vendor/x86_64-unknown-linux-musl/codex/codex`]],
  ["codex", [`${NM}/@openai/codex/bin/codex-x86_64-unknown-linux-musl`, "--full-auto"]],
  ["codex", ["codex-aarch64-apple-darwin"]],
  ["codex", ["nodejs", "/usr/local/bin/codex"]],
  ["codex", ["npx", "@openai/codex"]],
  // gemini
  ["gemini", ["gemini"]],
  ["gemini", ["node", `${NM}/@google/gemini-cli/dist/index.js`]],
  ["gemini", ["node", "--max-old-space-size=8192", `${NM}/@google/gemini-cli/bundle/gemini.js`]],
  ["gemini", ["npx", "@google/gemini-cli"]],
  // copilot
  ["copilot", ["copilot"]],
  ["copilot", ["node", `${NM}/@github/copilot/index.js`]],
  ["copilot", ["node", `${NM}/@github/copilot/npm-loader.js`, "--banner"]],
  ["copilot", ["npm", "exec", "@github/copilot"]],
  // cursor
  ["cursor", ["cursor-agent"]],
  ["cursor", ["/home/u/.local/bin/cursor-agent", "-p", "hi"]],
  ["cursor", ["/bin/bash", "/home/u/.local/share/cursor-agent/versions/2025.09.04-fc40cd1/cursor-agent"]],
  ["cursor", ["bash", "-euo", "pipefail", "/home/u/.local/bin/cursor-agent"]],
  ["cursor", ["/home/u/.local/share/cursor-agent/versions/2025.09.04-fc40cd1/node", "--use-system-ca", "/home/u/.local/share/cursor-agent/versions/2025.09.04-fc40cd1/index.js"]],
];

const NEGATIVE: [string[], string?][] = [
  [["vim", "claude.md"]],
  [["nvim", "/home/u/claude/CLAUDE.md"]],
  [["code", "claude.md"]],
  [["grep", "claude"]],
  [["rg", "-n", "codex", "src"]],
  [["less", "codex.log"]],
  [["tail", "-f", "gemini.txt"]],
  [["man", "copilot"]],
  [["less", "/home/u/.local/share/cursor-agent/versions/x/index.js"]],
  [["-bash"], "bash"], // a shell whose cwd is ~/claude: cwd is never looked at
  [["bash", "-c", "echo claude"]],
  [["bash", "-lc", "claude"]],
  [["bash", "--norc", "-i"]],
  [["bash", "-s"]],
  [["bash", "-o", "pipefail", "/home/u/bin/deploy.sh", "claude"]],
  [["zsh"]],
  [["node"]],
  [["node", "-e", "require('@anthropic-ai/claude-code')"]],
  [["node", "claude.js"]],
  [["node", "/home/u/src/codex-notes/index.js"]],
  [["node", "/home/u/src/my-claude-code/cli.js"]],
  [["node", `${NM}/@anthropic-ai/sdk/index.js`]],
  [["node", `${NM}/npm/bin/npm-cli.js`, "install", "@anthropic-ai/claude-code"]],
  [["npm", "install", "-g", "@openai/codex"]],
  [["npm", "view", "@google/gemini-cli"]],
  [["npx", "prettier", "claude.md"]],
  [["npx", "-c", "claude"]],
  [["git", "commit", "-m", "codex"]],
  [["python3", "/home/u/claude/tool.py"]],
  [["claudette"]],
  [["codex-notes"]],
  [["gemini.txt"]],
  [["tmux", "new", "-s", "claude"]],
  [["sshd: u@pts/0"]],
  [[], "kworker/0:1"],
  [[""]],
];

describe("AGENT_PATTERNS", () => {
  test("covers every agent type once", () => {
    expect(AGENT_PATTERNS.map((p) => p.agent_type).toSorted()).toEqual([...AGENT_TYPES].toSorted());
  });

  for (const [agent, argv, comm] of POSITIVE) {
    test(`${agent} ← ${JSON.stringify(argv)}${comm === undefined ? "" : ` comm=${comm}`}`, () => {
      expect(matchAgent(comm === undefined ? { argv } : { argv, comm })).toBe(agent);
    });
  }

  for (const [argv, comm] of NEGATIVE) {
    test(`none ← ${JSON.stringify(argv)}${comm === undefined ? "" : ` comm=${comm}`}`, () => {
      expect(matchAgent(comm === undefined ? { argv } : { argv, comm })).toBeNull();
    });
  }
});

const proc = (pid: number, ppid: number, argv: string[], started_at = pid * 1000): ProcInfo => ({ pid, ppid, started_at, argv });

describe("identifyAgent", () => {
  test("the codex node launcher and its native child count once, as the launcher (ps snapshot)", () => {
    const t = parsePsOutput(
      [
        "  500     1 Ss   Tue Nov 24 05:30:00 2026 -bash",
        "  610   500 Sl+  Tue Nov 24 05:38:18 2026 node /home/u/.nvm/versions/node/v22.1.0/lib/node_modules/@openai/codex/bin/codex.js --full-auto",
        "  611   610 Sl+  Tue Nov 24 05:38:19 2026 /home/u/.nvm/versions/node/v22.1.0/lib/node_modules/@openai/codex/vendor/x86_64-unknown-linux-musl/codex/codex --full-auto",
        "  640   611 S+   Tue Nov 24 05:39:00 2026 /bin/bash -c rg claude",
        "  641   640 S+   Tue Nov 24 05:39:00 2026 rg claude",
      ].join("\n"),
    );
    expect(identifyAgent(t, 500)).toEqual({
      agent_type: "codex",
      pid: 610,
      started_at: Date.UTC(2026, 10, 24, 5, 38, 18),
      argv: ["node", "/home/u/.nvm/versions/node/v22.1.0/lib/node_modules/@openai/codex/bin/codex.js", "--full-auto"],
    });
    // asked from the launcher itself or the native child, still the closest one
    expect(identifyAgent(t, 610)?.pid).toBe(610);
    expect(identifyAgent(t, 611)?.pid).toBe(611);
    expect(identifyAgent(t, 640)).toBeNull();
  });

  test("the pane process itself can be the agent; a sub-agent under it does not win", () => {
    const t = buildTable([proc(10, 1, ["claude"]), proc(11, 10, ["bash", "-c", "codex exec x"]), proc(12, 11, ["codex", "exec", "x"])], 0);
    expect(identifyAgent(t, 10)).toMatchObject({ agent_type: "claude", pid: 10 });
  });

  test("deeper agents are found (time, sudo-less wrappers); same depth: earliest started wins", () => {
    const t = buildTable(
      [
        proc(20, 1, ["-zsh"]),
        proc(21, 20, ["/usr/bin/time", "gemini"]),
        proc(22, 21, ["gemini"]),
        proc(30, 1, ["bash"]),
        proc(31, 30, ["copilot"], 5000),
        proc(32, 30, ["claude"], 4000),
      ],
      0,
    );
    expect(identifyAgent(t, 20)).toMatchObject({ agent_type: "gemini", pid: 22 });
    expect(identifyAgent(t, 30)).toMatchObject({ agent_type: "claude", pid: 32 });
  });

  test("a plain shell, a shell running non-agents, and an unknown pid give null", () => {
    const t = buildTable(
      [
        proc(40, 1, ["-bash"]),
        proc(50, 1, ["bash"]),
        proc(51, 50, ["vim", "claude.md"]),
        proc(52, 50, ["tail", "-f", "gemini.txt"]),
        proc(53, 50, ["bash", "-c", "echo claude"]),
      ],
      0,
    );
    expect(identifyAgent(t, 40)).toBeNull();
    expect(identifyAgent(t, 50)).toBeNull();
    expect(identifyAgent(t, 9999)).toBeNull();
  });

  test("cycle-safe", () => {
    const t = buildTable([proc(60, 62, ["bash"]), proc(61, 60, ["bash"]), proc(62, 61, ["bash"])], 0);
    expect(identifyAgent(t, 60)).toBeNull();
  });

  test("identifyAll: one table, many panes, same answers as one by one", () => {
    const t = buildTable(
      [
        proc(1, 0, ["init"]),
        proc(100, 1, ["tmux"]),
        proc(110, 100, ["bash"]),
        proc(111, 110, ["claude"]),
        proc(120, 100, ["bash"]),
        proc(130, 100, ["zsh"]),
        proc(131, 130, ["node", `${NM}/@github/copilot/index.js`]),
      ],
      0,
    );
    const all = identifyAll(t, [110, 120, 130, 404]);
    expect([...all.keys()]).toEqual([110, 120, 130, 404]);
    expect(all.get(110)).toMatchObject({ agent_type: "claude", pid: 111 });
    expect(all.get(120)).toBeNull();
    expect(all.get(130)).toMatchObject({ agent_type: "copilot", pid: 131 });
    expect(all.get(404)).toBeNull();
    for (const pid of [110, 120, 130, 404]) expect(all.get(pid)).toEqual(identifyAgent(t, pid));
  });
});
