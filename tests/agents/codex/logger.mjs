#!/usr/bin/env node
// Test logger for Codex hooks and `notify` (plain Node ESM, no dependencies).
//   hook:   logger.mjs hook <Event> <log.jsonl>            (payload JSON on stdin)
//   notify: logger.mjs notify - <log.jsonl> <payload-json>  (Codex appends the JSON as the last argv)
// Appends one JSON line: {kind, event, time, timeMs, pid, ppid, parents, argv, env, cwd, stdin|payload}.
// Prints nothing on stdout (hook stdout can be interpreted by Codex) and always exits 0.
import { appendFileSync, readFileSync } from "node:fs";

const [kind = "?", name = "?", logFile, ...rest] = process.argv.slice(2);

function parse(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The ancestry from /proc (Linux): [{pid, comm, ppid, argv0}] up to 5 levels above this process. */
function parents() {
  const out = [];
  let pid = process.ppid;
  for (let i = 0; i < 5 && pid > 1; i++) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const close = stat.lastIndexOf(")");
      const comm = stat.slice(stat.indexOf("(") + 1, close);
      const ppid = Number(stat.slice(close + 2).split(" ")[1]);
      const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
      out.push({ pid, comm, ppid, argv: argv.slice(0, 4) });
      pid = ppid;
    } catch {
      break;
    }
  }
  return out;
}

try {
  const now = Date.now();
  const env = {};
  for (const k of Object.keys(process.env).toSorted()) {
    if (k === "TMUX" || k === "TMUX_PANE" || k.startsWith("CODEX_")) env[k] = process.env[k];
  }
  const line = { kind, event: name, time: new Date(now).toISOString(), timeMs: now, pid: process.pid, ppid: process.ppid, parents: parents(), argv: process.argv.slice(2), env, cwd: process.cwd() };
  if (kind === "hook") {
    let text = "";
    try {
      text = readFileSync(0, "utf8");
    } catch {
      // no stdin
    }
    line.stdin = parse(text);
  } else {
    const payload = parse(rest[rest.length - 1] ?? "");
    line.payload = payload;
    if (payload !== null && typeof payload === "object" && typeof payload.type === "string") line.event = payload.type;
  }
  if (logFile) appendFileSync(logFile, `${JSON.stringify(line)}\n`);
} catch {
  // never fail the agent
}
process.exit(0);
