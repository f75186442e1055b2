#!/usr/bin/env node
// `npm test`: ensure deps -> ensure system packages -> typecheck -> lint -> build
// -> bun test (extra args pass through: `npm test -- tests/unit`).
//
// Each failed pre-step (typecheck, lint, build) counts as one failure. If the
// build fails, bun test is skipped and that counts as one more failure; if only
// typecheck/lint failed, bun test still runs. The last line printed is always
// exactly `N passed, N failed`. Exit status is non-zero if anything failed.
//
// Env: AGTMUX_TEST_SKIP_INSTALL=1 skips the two ensure steps.
//      AGTMUX_TEST_TIMEOUT_MIN   overall bun test time limit in minutes (default 75).

import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { BUN, ROOT, ensureAgentClis, ensureNodeDeps, ensureSystemPackages } from "./ensure.mjs";

const extraArgs = process.argv.slice(2);
const skipInstall = process.env.AGTMUX_TEST_SKIP_INSTALL === "1";
const TMP = join(ROOT, ".tmp");
const JUNIT = join(TMP, "junit.xml");
const bin = (name) => join(ROOT, "node_modules", ".bin", name);

let passed = 0;
let failed = 0;
const results = [];

function fmtSecs(ms) {
  return `${(ms / 1000).toFixed(1)}s`;
}

/** Runs fn() as a named, timed step; fn returns true/false or throws. */
async function step(name, fn) {
  console.log(`\n==> ${name}`);
  const t0 = Date.now();
  let ok;
  let note = "";
  try {
    const r = await fn();
    ok = typeof r === "object" && r !== null ? r.ok : r !== false;
    note = typeof r === "object" && r !== null && r.note ? ` (${r.note})` : "";
  } catch (err) {
    ok = false;
    console.error(`${name}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const took = Date.now() - t0;
  console.log(`<== ${name}: ${ok ? "ok" : "FAILED"} in ${fmtSecs(took)}${note}`);
  results.push({ name, ok, took });
  return ok;
}

function runInherit(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: ROOT, stdio: "inherit" });
  if (r.error) throw r.error;
  return r.status === 0;
}

function finish() {
  console.log("\n--- steps ---");
  for (const r of results) console.log(`${r.ok ? "ok    " : "FAILED"}  ${r.name.padEnd(12)} ${fmtSecs(r.took)}`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed > 0 ? 1 : 0);
}

const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g"); // colour codes

/** Parses bun's console summary (` 12 pass`, ` 0 fail`, ` 1 error`, ...); last block wins. */
function parseConsoleSummary(text) {
  const counts = {};
  let seen = false;
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*(\d+)\s+(pass|fail|skip|todo|error|errors)\s*$/.exec(line.replace(ANSI, ""));
    if (!m) continue;
    const key = m[2] === "errors" ? "error" : m[2];
    if (key === "pass" && seen && "pass" in counts) {
      // a second summary block: start over
      for (const k of Object.keys(counts)) delete counts[k];
    }
    counts[key] = Number(m[1]);
    seen = true;
  }
  return seen ? counts : undefined;
}

function parseJunit(path) {
  if (!existsSync(path)) return undefined;
  const xml = readFileSync(path, "utf8");
  const m = /<testsuites\b([^>]*)>/.exec(xml);
  if (!m) return undefined;
  const attr = (n) => Number(new RegExp(`\\b${n}="(\\d+)"`).exec(m[1])?.[1] ?? "0");
  const tests = attr("tests");
  const failures = attr("failures") + attr("errors");
  const skipped = attr("skipped");
  return { pass: Math.max(0, tests - failures - skipped), fail: failures, skip: skipped };
}

function runBunTest() {
  mkdirSync(TMP, { recursive: true });
  rmSync(JUNIT, { force: true });
  const args = ["test", "--timeout=30000", "--reporter=junit", `--reporter-outfile=${JUNIT}`, ...extraArgs];
  console.log(`$ bun ${args.join(" ")}`);
  const limitMin = Number(process.env.AGTMUX_TEST_TIMEOUT_MIN ?? "75");
  return new Promise((resolve) => {
    const child = spawn(BUN, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    const keep = (chunk) => {
      out += chunk;
      if (out.length > 4_000_000) out = out.slice(-1_000_000);
    };
    child.stdout.setEncoding("utf8");
    child.stderr.setEncoding("utf8");
    child.stdout.on("data", (c) => {
      process.stdout.write(c);
      keep(c);
    });
    child.stderr.on("data", (c) => {
      process.stderr.write(c);
      keep(c);
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      console.error(`bun test exceeded ${limitMin} min; killing it`);
      child.kill("SIGKILL");
    }, limitMin * 60_000);
    child.on("error", (err) => {
      clearTimeout(timer);
      console.error(`could not start bun test: ${err.message}`);
      resolve({ code: -1, out, timedOut });
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : -1), out, timedOut });
    });
  });
}

async function testStep() {
  const { code, out, timedOut } = await runBunTest();
  if (/No tests found!|did not match any test files/.test(out) && !parseConsoleSummary(out)) {
    console.log("bun test found no test files");
    return { ok: true, note: "no tests found" };
  }
  const cons = parseConsoleSummary(out);
  const junit = parseJunit(JUNIT);
  let pass = 0;
  let fail = 0;
  if (cons) {
    // The console summary also counts errors thrown between tests (bun adds them to
    // "fail" and to "error"), which junit misses.
    pass = cons.pass ?? 0;
    fail = Math.max(cons.fail ?? 0, cons.error ?? 0);
  } else if (junit) {
    pass = junit.pass;
    fail = junit.fail;
  }
  if (junit && junit.fail > fail) fail = junit.fail;
  if ((code !== 0 || timedOut) && fail === 0) {
    console.error(`bun test exited ${code}${timedOut ? " (timed out)" : ""} without reporting a failed test; counting one failure`);
    fail = 1;
  }
  passed += pass;
  failed += fail;
  return { ok: fail === 0 && code === 0, note: `${pass} passed, ${fail} failed` };
}

async function main() {
  if (skipInstall) {
    console.log("AGTMUX_TEST_SKIP_INSTALL=1: skipping dependency checks");
  } else {
    if (!(await step("deps", () => ensureNodeDeps()))) {
      failed += 1;
      finish();
    }
    await step("system", () => {
      const { missing } = ensureSystemPackages(["tmux", "openssh-server"]);
      return { ok: true, note: missing.length > 0 ? `still missing: ${missing.join(", ")}` : "" };
    });
    await step("agents", () => {
      const { claude, codex } = ensureAgentClis();
      return { ok: true, note: `claude ${claude ?? "missing"}, codex ${codex ?? "missing"}` };
    });
  }

  if (!(await step("typecheck", () => runInherit(bin("tsc"), ["--noEmit", "-p", "."])))) failed += 1;
  if (!(await step("lint", () => runInherit(bin("oxlint"), ["-c", ".oxlintrc.json", "src", "tests", "scripts", "bench"])))) failed += 1;
  const built = await step("build", () => runInherit(BUN, ["scripts/build.ts"]));
  if (!built) {
    failed += 1;
    console.log("\nbuild failed: skipping bun test (counted as one more failure)");
    failed += 1;
    results.push({ name: "test", ok: false, took: 0 });
    finish();
  }
  await step("test", testStep);
  finish();
}

main().catch((err) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  failed += 1;
  finish();
});
