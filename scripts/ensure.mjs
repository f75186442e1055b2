#!/usr/bin/env node
// Makes sure a machine can build and test agtmux: Node dependencies (npm ci),
// a working Bun binary, and the system packages the integration/e2e tests use
// (tmux, openssh-server). Plain Node ESM, no dependencies.
//
//   node scripts/ensure.mjs              # deps + system packages
//   node scripts/ensure.mjs deps         # only node_modules + bun
//   node scripts/ensure.mjs system [pkg...]
//
// Every child process is spawned with an argv array (never a shell string).

import { spawnSync } from "node:child_process";
import { existsSync, statSync, utimesSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
export const BUN = join(ROOT, "node_modules", ".bin", process.platform === "win32" ? "bun.exe" : "bun");

const DEFAULT_SYSTEM_PACKAGES = ["tmux", "openssh-server"];
const INSTALL_TIMEOUT_MS = 15 * 60 * 1000;

function log(msg) {
  console.log(`[ensure] ${msg}`);
}

function mtimeMs(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}

/** spawnSync with an argv array; returns { ok, status, stdout, stderr, error }. */
export function run(cmd, args, opts = {}) {
  const res = spawnSync(cmd, args, {
    cwd: opts.cwd ?? ROOT,
    env: opts.env ?? process.env,
    stdio: opts.stdio ?? "pipe",
    encoding: "utf8",
    timeout: opts.timeout,
  });
  return {
    ok: !res.error && res.status === 0,
    status: res.status,
    signal: res.signal,
    stdout: res.stdout ?? "",
    stderr: res.stderr ?? "",
    error: res.error,
  };
}

function bunWorks() {
  const r = run(BUN, ["--version"], { timeout: 30_000 });
  return r.ok ? r.stdout.trim() : undefined;
}

/** Why node_modules needs (re)installing, or undefined if it is up to date. */
function nodeDepsStale() {
  const nm = join(ROOT, "node_modules");
  if (!existsSync(nm)) return "node_modules is missing";
  const hidden = mtimeMs(join(nm, ".package-lock.json"));
  if (hidden === undefined) return "node_modules/.package-lock.json is missing";
  const lock = mtimeMs(join(ROOT, "package-lock.json"));
  if (lock !== undefined && lock > hidden) return "package-lock.json is newer than node_modules";
  if (lock === undefined) {
    const pkg = mtimeMs(join(ROOT, "package.json"));
    if (pkg !== undefined && pkg > hidden) return "package.json is newer than node_modules (no lockfile)";
  }
  return undefined;
}

/**
 * Installs node_modules when missing or stale (npm ci, or npm install without a
 * lockfile), then checks that node_modules/.bin/bun runs; if it does not (npm
 * skipped bun's postinstall), runs bun's own install.js. Throws on failure.
 */
export function ensureNodeDeps() {
  const why = nodeDepsStale();
  if (why) {
    const hasLock = existsSync(join(ROOT, "package-lock.json"));
    const npm = process.platform === "win32" ? "npm.cmd" : "npm";
    const npmRun = (verb, stdio) => {
      log(`${why}: running npm ${verb}`);
      return run(npm, [verb, "--no-audit", "--no-fund"], { stdio, timeout: INSTALL_TIMEOUT_MS });
    };
    let verb = hasLock ? "ci" : "install";
    // npm ci's output is kept back: on failure it is mostly a usage dump.
    let r = npmRun(verb, verb === "ci" ? ["ignore", "pipe", "pipe"] : "inherit");
    if (!r.ok && verb === "ci") {
      // `npm ci` refuses a lockfile that lacks optional platform packages the
      // registry does not serve (e.g. some @oxlint/binding-* here); `npm install`
      // resolves the same pinned versions and tolerates that.
      const lines = `${r.stderr}\n${r.stdout}`.split("\n").filter((l) => /^npm error \S/.test(l) && !/^npm error (code|Usage|Options|aliases|Run |Clean install|\[|A complete log)/.test(l));
      for (const l of lines.slice(0, 4)) console.log(`  ${l}`);
      if (lines.length > 4) console.log(`  ... (${lines.length - 4} more)`);
      if (r.error) console.log(`  ${r.error.message}`);
      log("npm ci failed; falling back to npm install");
      verb = "install";
      r = npmRun(verb, "inherit");
    }
    if (!r.ok) {
      throw new Error(`npm ${verb} failed (${r.error?.message ?? `exit ${r.status ?? r.signal}`})`);
    }
    // npm may write package-lock.json after node_modules/.package-lock.json;
    // mark node_modules as fresh so the next run does not reinstall.
    const hidden = join(ROOT, "node_modules", ".package-lock.json");
    if (existsSync(hidden)) {
      const now = new Date();
      utimesSync(hidden, now, now);
    }
  } else {
    log("node_modules is up to date");
  }

  let version = bunWorks();
  if (!version) {
    const installJs = join(ROOT, "node_modules", "bun", "install.js");
    log("node_modules/.bin/bun does not run; running node node_modules/bun/install.js");
    if (existsSync(installJs)) {
      run(process.execPath, [installJs], { stdio: "inherit", cwd: join(ROOT, "node_modules", "bun"), timeout: INSTALL_TIMEOUT_MS });
    }
    version = bunWorks();
    if (!version) throw new Error("node_modules/.bin/bun --version still fails after running bun's install.js");
  }
  log(`bun ${version}`);
  return version;
}

const CHECKS = {
  tmux: () => run("tmux", ["-V"], { timeout: 10_000 }).ok,
  "openssh-server": () => existsSync("/usr/sbin/sshd"),
  "openssh-client": () => run("ssh", ["-V"], { timeout: 10_000 }).ok,
};

function isInstalled(pkg) {
  const check = CHECKS[pkg];
  if (check) return check();
  const r = run("dpkg-query", ["-W", "-f=${Status}", pkg], { timeout: 10_000 });
  return r.ok && r.stdout.includes("install ok installed");
}

function onPath(cmd) {
  return run("sh", ["-c", 'command -v "$1"', "sh", cmd], { timeout: 10_000 }).ok;
}

/**
 * Installs missing Debian packages with apt-get (sudo -n when not root).
 * Never throws: if it cannot install, it says so and returns; the tests that
 * need the package will fail loudly on their own.
 * Returns { missing: string[] } listing what is still missing afterwards.
 */
export function ensureSystemPackages(pkgs = DEFAULT_SYSTEM_PACKAGES) {
  const missing = pkgs.filter((p) => !isInstalled(p));
  if (missing.length === 0) {
    log(`system packages present: ${pkgs.join(", ")}`);
    return { missing: [] };
  }
  log(`missing system packages: ${missing.join(", ")}`);

  if (process.platform !== "linux" || !onPath("apt-get")) {
    log(`cannot install ${missing.join(", ")}: no apt-get on this machine; install them by hand (tests that need them will fail)`);
    return { missing };
  }

  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  let prefix = [];
  if (!isRoot) {
    if (!onPath("sudo")) {
      log(`cannot install ${missing.join(", ")}: not root and no sudo; install them by hand (tests that need them will fail)`);
      return { missing };
    }
    prefix = ["sudo", "-n", "env", "DEBIAN_FRONTEND=noninteractive"];
  }
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const apt = (args) => {
    const argv = [...prefix, "apt-get", ...args];
    log(`$ ${argv.join(" ")}`);
    return run(argv[0], argv.slice(1), { env, stdio: "inherit", timeout: INSTALL_TIMEOUT_MS }).ok;
  };
  const install = () => apt(["install", "-y", "--no-install-recommends", ...missing]);

  if (!install()) {
    log("apt-get install failed; running apt-get update and retrying");
    apt(["update"]);
    install();
  }

  const still = missing.filter((p) => !isInstalled(p));
  if (still.length > 0) {
    log(`could not install ${still.join(", ")}; continuing (tests that need them will fail)`);
  } else {
    log(`installed ${missing.join(", ")}`);
  }
  return { missing: still };
}

export const AGENTS_DIR = join(ROOT, "tests", "agents");
export const CLAUDE_BIN = join(AGENTS_DIR, "node_modules", "@anthropic-ai", "claude-code", "bin", "claude.exe");
export const CODEX_BIN = join(AGENTS_DIR, "node_modules", ".bin", "codex");

/**
 * The real agent CLIs the e2e tests drive, pinned in tests/agents/package.json,
 * installed into tests/agents/node_modules. Claude Code's install script is
 * blocked by npm here, so its `install.cjs` is run by hand when the binary is
 * not in place. Never throws; returns what works.
 */
export function ensureAgentClis() {
  const lock = join(AGENTS_DIR, "package-lock.json");
  const marker = join(AGENTS_DIR, "node_modules", ".package-lock.json");
  const stale = !existsSync(marker) || (mtimeMs(lock) ?? 0) > (mtimeMs(marker) ?? 0) || (mtimeMs(join(AGENTS_DIR, "package.json")) ?? 0) > (mtimeMs(marker) ?? 0);
  if (stale) {
    log("installing the agent CLIs (tests/agents)");
    const args = existsSync(lock) ? ["ci", "--no-audit", "--no-fund"] : ["install", "--no-audit", "--no-fund"];
    let r = run("npm", args, { cwd: AGENTS_DIR, stdio: "inherit", timeout: INSTALL_TIMEOUT_MS });
    if (!r.ok && args[0] === "ci") r = run("npm", ["install", "--no-audit", "--no-fund"], { cwd: AGENTS_DIR, stdio: "inherit", timeout: INSTALL_TIMEOUT_MS });
    if (!r.ok) log("could not install the agent CLIs; the tests that drive them will fail");
  }
  const version = (bin) => {
    const r = run(bin, ["--version"], { timeout: 60_000 });
    return r.ok ? r.stdout.trim() : undefined;
  };
  let claude = existsSync(CLAUDE_BIN) ? version(CLAUDE_BIN) : undefined;
  if (claude === undefined) {
    const pkg = join(AGENTS_DIR, "node_modules", "@anthropic-ai", "claude-code");
    if (existsSync(join(pkg, "install.cjs"))) {
      log("placing the Claude Code binary (node install.cjs)");
      run("node", ["install.cjs"], { cwd: pkg, stdio: "inherit", timeout: INSTALL_TIMEOUT_MS });
      claude = existsSync(CLAUDE_BIN) ? version(CLAUDE_BIN) : undefined;
    }
  }
  const codex = existsSync(CODEX_BIN) ? version(CODEX_BIN) : undefined;
  log(`agent CLIs: claude ${claude ?? "MISSING"}, codex ${codex ?? "MISSING"}`);
  return { claude, codex };
}

function main(argv) {
  const [what = "all", ...rest] = argv;
  if (what === "deps" || what === "all") ensureNodeDeps();
  if (what === "system" || what === "all") ensureSystemPackages(rest.length > 0 ? rest : DEFAULT_SYSTEM_PACKAGES);
  if (what === "agents" || what === "all") ensureAgentClis();
  if (!["deps", "system", "agents", "all"].includes(what)) {
    console.error("usage: node scripts/ensure.mjs [all|deps|agents|system [pkg...]]");
    process.exit(2);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    main(process.argv.slice(2));
  } catch (err) {
    console.error(`[ensure] ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
}
