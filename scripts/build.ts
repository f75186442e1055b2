// Builds the agtmux single-file executable with Bun's compiler.
//
//   bun scripts/build.ts                 # dist/agtmux for this machine, then smoke-tests it
//   bun scripts/build.ts --all           # + dist/agtmux-{linux,darwin}-{x64,arm64}
//   bun scripts/build.ts --target linux-arm64 [--target ...]   # only these cross targets (+ host)
//   options: --no-smoke, --bytecode, --cli (use `bun build --compile` instead of Bun.build),
//            --npm-runtime (always take cross-target runtimes from `npm pack @oven/bun-*`)
//
// The version (package.json) and commit (git rev-parse --short HEAD) are baked in
// as process.env.AGTMUX_BUILD_VERSION / process.env.AGTMUX_BUILD_COMMIT. The
// executable never autoloads bunfig.toml, .env, tsconfig.json or package.json
// from the user's cwd.
//
// Cross targets: Bun downloads the target runtime itself (from the npm registry,
// into ~/.bun/install/cache or $BUN_INSTALL_CACHE_DIR). If that fails, this script
// fetches @oven/bun-<os>-<arch>@<bun version> with `npm pack` (which honours npm's
// registry config) into node_modules/.cache/agtmux-bun and passes the binary as
// compile.executablePath.

import { existsSync, mkdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const ROOT = join(import.meta.dir, "..");
const DIST = join(ROOT, "dist");
const ENTRY = join(ROOT, "src", "cli", "main.ts");
const HOST_OUT = join(DIST, "agtmux");
const RUNTIME_CACHE = join(ROOT, "node_modules", ".cache", "agtmux-bun");

type CompileTarget = Bun.Build.CompileTarget;

interface CrossTarget {
  name: string; // suffix of dist/agtmux-<name>
  target: CompileTarget;
  npmPackage: string; // @oven/bun-<os>-<arch>
}

const CROSS_TARGETS: CrossTarget[] = [
  { name: "linux-x64", target: "bun-linux-x64", npmPackage: "@oven/bun-linux-x64" },
  { name: "linux-arm64", target: "bun-linux-arm64", npmPackage: "@oven/bun-linux-aarch64" },
  { name: "darwin-x64", target: "bun-darwin-x64", npmPackage: "@oven/bun-darwin-x64" },
  { name: "darwin-arm64", target: "bun-darwin-arm64", npmPackage: "@oven/bun-darwin-aarch64" },
];

interface Options {
  all: boolean;
  targets: string[];
  smoke: boolean;
  bytecode: boolean;
  cli: boolean;
  npmRuntime: boolean;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = { all: false, targets: [], smoke: true, bytecode: false, cli: false, npmRuntime: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? "";
    if (a === "--all") opts.all = true;
    else if (a === "--no-smoke") opts.smoke = false;
    else if (a === "--bytecode") opts.bytecode = true;
    else if (a === "--cli") opts.cli = true;
    else if (a === "--npm-runtime") opts.npmRuntime = true;
    else if (a === "--target") opts.targets.push(argv[++i] ?? "");
    else if (a.startsWith("--target=")) opts.targets.push(a.slice("--target=".length));
    else if (a === "-h" || a === "--help") {
      console.log("usage: bun scripts/build.ts [--all] [--target NAME]... [--no-smoke] [--bytecode] [--cli] [--npm-runtime]");
      console.log(`targets: ${CROSS_TARGETS.map((t) => t.name).join(", ")}`);
      process.exit(0);
    } else {
      fail(`unknown argument: ${a}`);
    }
  }
  for (const t of opts.targets) {
    if (!CROSS_TARGETS.some((c) => c.name === t)) fail(`unknown target ${t} (known: ${CROSS_TARGETS.map((c) => c.name).join(", ")})`);
  }
  return opts;
}

function fail(msg: string): never {
  console.error(`[build] error: ${msg}`);
  process.exit(1);
}

function log(msg: string): void {
  console.log(`[build] ${msg}`);
}

function spawn(cmd: string[], cwd = ROOT): { ok: boolean; stdout: string; stderr: string; code: number | null } {
  try {
    const r = Bun.spawnSync({ cmd, cwd, stdout: "pipe", stderr: "pipe" });
    return { ok: r.exitCode === 0, stdout: r.stdout.toString(), stderr: r.stderr.toString(), code: r.exitCode };
  } catch (err) {
    return { ok: false, stdout: "", stderr: err instanceof Error ? err.message : String(err), code: null };
  }
}

function readVersion(): string {
  const pkg: unknown = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
  if (typeof pkg === "object" && pkg !== null && "version" in pkg && typeof pkg.version === "string") return pkg.version;
  return fail("package.json has no version");
}

function readCommit(): string {
  const r = spawn(["git", "rev-parse", "--short", "HEAD"]);
  const sha = r.stdout.trim();
  return r.ok && sha !== "" ? sha : "unknown";
}

function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

function rel(p: string): string {
  return relative(ROOT, p) || ".";
}

interface CompileJob {
  outfile: string;
  target?: CompileTarget;
  executablePath?: string;
}

function formatError(err: unknown): string {
  // Bun.inspect shows a BuildMessage/ResolveMessage with its source line and position.
  if (err instanceof AggregateError) return err.errors.map((e) => Bun.inspect(e, { colors: false })).join("\n");
  return err instanceof Error ? err.message : String(err);
}

async function compileWithApi(job: CompileJob, define: Record<string, string>, opts: Options): Promise<void> {
  const compileOpts: Bun.CompileBuildOptions = {
    outfile: job.outfile,
    autoloadBunfig: false,
    autoloadDotenv: false,
    autoloadTsconfig: false,
    autoloadPackageJson: false,
  };
  if (job.target) compileOpts.target = job.target;
  if (job.executablePath) compileOpts.executablePath = job.executablePath;
  const result = await Bun.build({
    entrypoints: [ENTRY],
    compile: compileOpts,
    target: "bun",
    minify: true,
    sourcemap: "linked",
    bytecode: opts.bytecode,
    define,
  });
  if (!result.success) {
    throw new Error(result.logs.map((l) => Bun.inspect(l, { colors: false })).join("\n") || "Bun.build failed");
  }
}

function compileWithCli(job: CompileJob, define: Record<string, string>, opts: Options): void {
  const cmd = [
    process.execPath,
    "build",
    "--compile",
    "--target",
    job.target ?? "bun",
    "--minify",
    "--sourcemap=linked",
    "--no-compile-autoload-dotenv",
    "--no-compile-autoload-bunfig",
    ...Object.entries(define).flatMap(([k, v]) => ["--define", `${k}=${v}`]),
    ...(opts.bytecode ? ["--bytecode"] : []),
    ...(job.executablePath ? ["--compile-executable-path", job.executablePath] : []),
    ENTRY,
    "--outfile",
    job.outfile,
  ];
  const r = spawn(cmd);
  if (!r.ok) throw new Error(`${r.stderr}${r.stdout}`.trim() || `bun build exited ${r.code}`);
}

async function compile(job: CompileJob, define: Record<string, string>, opts: Options): Promise<void> {
  rmSync(job.outfile, { force: true });
  if (opts.cli) compileWithCli(job, define, opts);
  else await compileWithApi(job, define, opts);
  if (!existsSync(job.outfile)) throw new Error(`compiler reported success but ${rel(job.outfile)} is missing`);
  // The sourcemap is embedded in the executable (compressed); the sidecar .map is not needed.
  rmSync(`${job.outfile}.map`, { force: true });
}

/** Gets the target's Bun runtime from the npm registry via `npm pack`, cached. */
function npmRuntime(t: CrossTarget): string {
  const version = Bun.version;
  const dir = join(RUNTIME_CACHE, `${t.npmPackage.replace("@oven/", "")}-${version}`);
  const bin = join(dir, "package", "bin", "bun");
  if (existsSync(bin)) return bin;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const spec = `${t.npmPackage}@${version}`;
  log(`fetching ${spec} with npm pack`);
  const pack = spawn(["npm", "pack", spec, "--pack-destination", dir, "--json", "--silent"], dir);
  if (!pack.ok) throw new Error(`npm pack ${spec} failed: ${pack.stderr.trim()}`);
  const tgz = new Bun.Glob("*.tgz").scanSync({ cwd: dir }).next().value;
  if (typeof tgz !== "string") throw new Error(`npm pack ${spec} produced no tarball`);
  const untar = spawn(["tar", "-xzf", join(dir, tgz), "-C", dir], dir);
  if (!untar.ok) throw new Error(`extracting ${tgz} failed: ${untar.stderr.trim()}`);
  rmSync(join(dir, tgz), { force: true });
  if (!existsSync(bin)) throw new Error(`${spec} has no package/bin/bun`);
  return bin;
}

function smokeTest(version: string): void {
  const r = spawn([HOST_OUT, "--version"], DIST);
  const out = `${r.stdout}${r.stderr}`.trim();
  if (!r.ok) fail(`smoke test: ${rel(HOST_OUT)} --version exited ${r.code}: ${out}`);
  if (!out.includes(version)) fail(`smoke test: ${rel(HOST_OUT)} --version printed "${out}", expected it to contain ${version}`);
  log(`smoke test ok: ${rel(HOST_OUT)} --version -> ${out.split("\n")[0]}`);
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const started = performance.now();
  const version = readVersion();
  const commit = readCommit();
  const define = {
    "process.env.AGTMUX_BUILD_VERSION": JSON.stringify(version),
    "process.env.AGTMUX_BUILD_COMMIT": JSON.stringify(commit),
  };
  mkdirSync(DIST, { recursive: true });
  log(`agtmux ${version} (${commit}) with bun ${Bun.version} via ${opts.cli ? "bun build --compile" : "Bun.build"}`);

  const t0 = performance.now();
  try {
    await compile({ outfile: HOST_OUT }, define, opts);
  } catch (err) {
    fail(`compiling ${rel(HOST_OUT)} failed:\n${formatError(err)}`);
  }
  log(`${rel(HOST_OUT)}  ${mib(statSync(HOST_OUT).size)}  ${((performance.now() - t0) / 1000).toFixed(2)}s`);
  if (opts.smoke) smokeTest(version);

  const cross = opts.all ? CROSS_TARGETS : CROSS_TARGETS.filter((t) => opts.targets.includes(t.name));
  const failures: string[] = [];
  for (const t of cross) {
    const outfile = join(DIST, `agtmux-${t.name}`);
    const tt = performance.now();
    let how = "bun download";
    try {
      if (opts.npmRuntime) {
        how = "npm pack";
        await compile({ outfile, target: t.target, executablePath: npmRuntime(t) }, define, opts);
      } else {
        try {
          await compile({ outfile, target: t.target }, define, opts);
        } catch (err) {
          log(`${t.target}: Bun could not provide the runtime (${formatError(err).split("\n").find((l) => l.startsWith("error:")) ?? formatError(err).split("\n")[0]}); falling back to npm pack`);
          how = "npm pack";
          await compile({ outfile, target: t.target, executablePath: npmRuntime(t) }, define, opts);
        }
      }
      log(`${rel(outfile)}  ${mib(statSync(outfile).size)}  ${((performance.now() - tt) / 1000).toFixed(2)}s  (runtime: ${how})`);
    } catch (err) {
      failures.push(t.name);
      console.error(`[build] error: ${t.target} failed:\n${formatError(err)}`);
    }
  }

  log(`done in ${((performance.now() - started) / 1000).toFixed(2)}s`);
  if (failures.length > 0) fail(`cross-compilation failed for: ${failures.join(", ")}`);
}

await main();
