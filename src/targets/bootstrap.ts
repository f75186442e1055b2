/**
 * `agtmux target bootstrap <name>`: puts the right agtmux binary on an ssh
 * target and sets up its agents' hooks there, over the target's one ssh
 * connection (exec channels + SFTP). Idempotent: a binary with the same
 * SHA-256 is not uploaded again, setup-hooks is idempotent itself.
 *
 * Steps: detect OS/arch (`uname -sm`) → pick the local binary built for it
 * (`bun build --compile --target=bun-<os>-<arch>`: `npm run build:all` makes
 * dist/agtmux-<os>-<arch>) → compare hashes → upload to a temp name and
 * rename (a cut upload never leaves half a binary) → `agtmux version` there →
 * `agtmux relay --mark` (hooks there spool for the relay, never start a
 * daemon) → `agtmux setup-hooks --yes` there.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { AgtmuxError } from "../domain/errors.ts";
import { ExecError, type ExecResult } from "./executor.ts";

export interface BootstrapTransport {
  exec(argv: readonly string[], opts: { timeoutMs: number }): Promise<ExecResult>;
  sftpUpload(localPath: string, remotePath: string, mode: number): Promise<void>;
}

export interface Platform {
  os: "linux" | "darwin";
  arch: "x64" | "arm64";
}

export function parseUname(out: string): Platform {
  const [sys, machine] = out.trim().split(/\s+/);
  const os = sys === "Linux" ? "linux" : sys === "Darwin" ? "darwin" : null;
  const arch = machine === "x86_64" || machine === "amd64" ? "x64" : machine === "aarch64" || machine === "arm64" ? "arm64" : null;
  if (os === null || arch === null) {
    throw new AgtmuxError("E_BAD_REQUEST", `unsupported target platform "${out.trim()}" (agtmux runs on Linux and macOS, x86_64 and arm64)`, { uname: out.trim() });
  }
  return { os, arch };
}

/** Where a binary for `p` may be found locally, best first. */
export function binaryCandidates(p: Platform, o: { execPath: string; compiled: boolean; repoDist: string | null; env: Record<string, string | undefined> }): string[] {
  const name = `agtmux-${p.os}-${p.arch}`;
  const out: string[] = [];
  const dir = o.env.AGTMUX_BINARIES;
  if (dir !== undefined && dir !== "") out.push(join(dir, name));
  const here = process.platform === p.os && process.arch === p.arch;
  if (o.compiled && here) out.push(o.execPath);
  if (o.compiled) out.push(join(dirname(o.execPath), name));
  if (o.repoDist !== null) {
    out.push(join(o.repoDist, name));
    if (here) out.push(join(o.repoDist, "agtmux"));
  }
  return out;
}

export interface BootstrapStep {
  step: string;
  detail: string;
  /** false in --dry-run, or when nothing needed doing */
  done: boolean;
}

export interface BootstrapReport {
  target: string;
  platform: Platform;
  local_binary: string;
  remote_path: string;
  sha256: string;
  uploaded: boolean;
  dry_run: boolean;
  remote_version: string | null;
  steps: BootstrapStep[];
  /** what setup-hooks printed there (its diff in --dry-run) */
  setup_hooks_output: string;
}

function sha256File(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

async function run(t: BootstrapTransport, argv: readonly string[], timeoutMs = 30_000): Promise<ExecResult> {
  return await t.exec(argv, { timeoutMs });
}

/** sha256sum (GNU) or shasum -a 256 (macOS); "" when the file is missing or neither tool exists (then we upload anyway). */
async function remoteSha256(t: BootstrapTransport, path: string): Promise<string> {
  for (const argv of [["sha256sum", "--", path], ["shasum", "-a", "256", "--", path]]) {
    try {
      const r = await run(t, argv, 60_000);
      return r.code === 0 ? (r.stdout.trim().split(/\s+/)[0] ?? "") : "";
    } catch (err) {
      if (err instanceof ExecError && err.kind === "not_found") continue;
      throw err;
    }
  }
  return "";
}

export async function bootstrap(
  t: BootstrapTransport,
  o: { target: string; remotePath: string; dryRun: boolean; candidates: (p: Platform) => string[] },
): Promise<BootstrapReport> {
  const steps: BootstrapStep[] = [];
  const uname = await run(t, ["uname", "-sm"], 10_000);
  if (uname.code !== 0) throw new AgtmuxError("E_TARGET_UNREACHABLE", `${o.target}: uname failed: ${uname.stderr.trim()}`, { target: o.target });
  const platform = parseUname(uname.stdout);
  steps.push({ step: "detect", detail: `${platform.os}/${platform.arch}`, done: true });
  const tried = o.candidates(platform);
  const local = tried.find((p) => existsSync(p) && statSync(p).isFile());
  if (local === undefined) {
    throw new AgtmuxError("E_BAD_REQUEST", `no agtmux binary for ${platform.os}/${platform.arch} here: build it with \`npm run build:all\` (or point AGTMUX_BINARIES at a directory holding agtmux-${platform.os}-${platform.arch})`, {
      platform,
      tried,
    });
  }
  const sha = sha256File(local);
  const remoteSha = await remoteSha256(t, o.remotePath);
  const needUpload = remoteSha !== sha;
  steps.push({
    step: "upload",
    detail: needUpload ? `${local} (${(statSync(local).size / 1048576).toFixed(1)} MiB, sha256 ${sha.slice(0, 12)}) -> ${o.remotePath}` : `${o.remotePath} is already this binary (sha256 ${sha.slice(0, 12)})`,
    done: needUpload && !o.dryRun,
  });
  if (needUpload && !o.dryRun) {
    await t.sftpUpload(local, o.remotePath, 0o755);
    const got = await remoteSha256(t, o.remotePath);
    if (got !== "" && got !== sha) throw new AgtmuxError("E_TARGET_UNREACHABLE", `${o.target}: the uploaded binary's sha256 differs (${got.slice(0, 12)} != ${sha.slice(0, 12)})`, { target: o.target });
  }
  let remoteVersion: string | null = null;
  let hooksOut = "";
  const installed = !o.dryRun || !needUpload;
  if (installed) {
    const ver = await run(t, [o.remotePath, "version"], 30_000);
    if (ver.code !== 0) throw new AgtmuxError("E_TARGET_UNREACHABLE", `${o.target}: ${o.remotePath} does not run there (exit ${ver.code}): ${(ver.stderr || ver.stdout).trim().slice(0, 300)}`, { target: o.target });
    remoteVersion = ver.stdout.trim();
    steps.push({ step: "verify", detail: remoteVersion, done: true });
  }
  steps.push({ step: "mark", detail: "hooks there spool for the relay; no daemon is started there", done: !o.dryRun });
  if (!o.dryRun) {
    const mark = await run(t, [o.remotePath, "relay", "--mark"], 30_000);
    if (mark.code !== 0) throw new AgtmuxError("E_TARGET_UNREACHABLE", `${o.target}: marking the target failed: ${mark.stderr.trim().slice(0, 300)}`, { target: o.target });
  }
  if (installed) {
    const hooks = await run(t, [o.remotePath, "setup-hooks", ...(o.dryRun ? ["--dry-run"] : ["--yes"])], 60_000);
    hooksOut = `${hooks.stdout}${hooks.stderr}`.trim();
    if (hooks.code === 2 && /found neither/.test(hooksOut)) {
      // no agent installed there yet: not an error; bootstrap again after installing one
      steps.push({ step: "setup-hooks", detail: "no Claude Code or Codex found there yet: run bootstrap again after installing one", done: false });
      return { target: o.target, platform, local_binary: local, remote_path: o.remotePath, sha256: sha, uploaded: needUpload && !o.dryRun, dry_run: o.dryRun, remote_version: remoteVersion, steps, setup_hooks_output: hooksOut };
    }
    if (hooks.code !== 0) throw new AgtmuxError("E_TARGET_UNREACHABLE", `${o.target}: setup-hooks failed there (exit ${hooks.code}): ${hooksOut.slice(0, 500)}`, { target: o.target });
    steps.push({ step: "setup-hooks", detail: o.dryRun ? "would change (see diff)" : "hooks installed", done: !o.dryRun });
  } else {
    steps.push({ step: "setup-hooks", detail: `would run ${o.remotePath} setup-hooks --yes after the upload`, done: false });
  }
  return { target: o.target, platform, local_binary: local, remote_path: o.remotePath, sha256: sha, uploaded: needUpload && !o.dryRun, dry_run: o.dryRun, remote_version: remoteVersion, steps, setup_hooks_output: hooksOut };
}
