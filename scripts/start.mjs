#!/usr/bin/env node
// `npm start`: make sure deps are installed, rebuild dist/agtmux if it is missing
// or older than its sources, start the daemon (idempotent: the CLI does nothing
// if it is already running), then show `agtmux status` and the pane list (`agtmux`; extra args pass through:
// `npm start -- --json`).

import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { BUN, ROOT, ensureNodeDeps } from "./ensure.mjs";

const AGTMUX = join(ROOT, "dist", "agtmux");
const SOURCES = ["src", "migrations", "package.json", "package-lock.json", "scripts/build.ts"];

function newestMtime(path) {
  let st;
  try {
    st = statSync(path);
  } catch {
    return 0;
  }
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs; // catches deleted files
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

function needsBuild() {
  if (!existsSync(AGTMUX)) return "dist/agtmux is missing";
  const built = statSync(AGTMUX).mtimeMs;
  for (const src of SOURCES) {
    if (newestMtime(join(ROOT, src)) > built) return `${src} changed since the last build`;
  }
  return undefined;
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: ROOT, stdio: "inherit" });
  if (r.error) {
    console.error(`[start] could not run ${cmd}: ${r.error.message}`);
    return 1;
  }
  return r.status ?? 1;
}

try {
  ensureNodeDeps();
} catch (err) {
  console.error(`[start] ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}

const why = needsBuild();
if (why) {
  console.log(`[start] ${why}: building`);
  const code = run(BUN, ["scripts/build.ts"]);
  if (code !== 0) process.exit(code);
}

const started = run(AGTMUX, ["daemon", "start"]);
if (started !== 0) {
  console.error(`[start] agtmux daemon start exited ${started}`);
  process.exit(started);
}
// what the daemon sees: its health, then the agent panes (extra args go to the pane list)
const health = run(AGTMUX, ["status"]);
process.exit(health !== 0 ? health : run(AGTMUX, process.argv.slice(2)));
