/**
 * Test isolation (bunfig.toml preload): a private HOME/XDG tree and
 * TMUX_TMPDIR for this test process, no agent or tmux env leaking in from the
 * developer's shell, UTC and no colour.
 */
import { afterAll } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = mkdtempSync(join(tmpdir(), "agtmux-test-"));
for (const d of ["home", "run", "state", "config", "tmux"]) mkdirSync(join(root, d), { recursive: true, mode: 0o700 });
process.env.HOME = join(root, "home");
process.env.XDG_RUNTIME_DIR = join(root, "run");
process.env.XDG_STATE_HOME = join(root, "state");
process.env.XDG_CONFIG_HOME = join(root, "config");
process.env.TMUX_TMPDIR = join(root, "tmux");
process.env.TZ = "UTC";
process.env.NO_COLOR = "1";
process.env.AGTMUX_TEST_ROOT = root;
for (const k of Object.keys(process.env)) {
  if (/^(TMUX|TMUX_PANE|AGTMUX_(SOCKET|HOME|CONFIG|DEBUG|TARGET|NO_AUTOSTART)|ANTHROPIC_.*|OPENAI_.*|CLAUDE.*|CODEX_.*|GEMINI_.*)$/.test(k)) {
    delete process.env[k];
  }
}

// Leave nothing behind in /tmp (sandboxes live under this root). A preloaded
// afterAll runs once after every test file of this process (process "exit"
// handlers do not run under bun test 1.4.5).
afterAll(() => rmSync(root, { recursive: true, force: true }));
