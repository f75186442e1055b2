/**
 * SVG charts with Vega-Lite + Vega, rendered headless (renderer "none" +
 * toSVG: no canvas, no native modules, no browser). The two packages live in
 * bench/package.json, not in the project's dependencies: the first plot
 * installs them into bench/node_modules (npm, ~25 MB, a few seconds); any
 * failure just skips the plot.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { run } from "./lib.ts";

interface VegaView {
  toSVG(): Promise<string>;
  finalize(): void;
}
interface VegaModule {
  parse(spec: unknown): unknown;
  View: new (runtime: unknown, opts: { renderer: "none" }) => VegaView;
}
interface VegaLiteModule {
  compile(spec: unknown): { spec: unknown };
}

async function importBoth(): Promise<{ vega: VegaModule; vl: VegaLiteModule }> {
  // variable specifiers: optional packages, resolved from bench/node_modules at run time
  const vegaName: string = "vega";
  const vlName: string = "vega-lite";
  const vega = (await import(vegaName)) as VegaModule;
  const vl = (await import(vlName)) as VegaLiteModule;
  return { vega, vl };
}

async function loadVega(install: boolean): Promise<{ vega: VegaModule; vl: VegaLiteModule } | string> {
  const dir = import.meta.dir;
  if (!existsSync(join(dir, "node_modules", "vega-lite")) && install) {
    const npm = await run(["npm", existsSync(join(dir, "package-lock.json")) ? "ci" : "install", "--prefix", dir, "--no-audit", "--no-fund", "--loglevel=error"], process.env, 180_000).catch(
      (err: unknown) => ({ code: 1, stdout: "", stderr: err instanceof Error ? err.message : String(err) }),
    );
    if (npm.code !== 0) return `npm install of vega/vega-lite into bench/ failed: ${npm.stderr.trim().split("\n").at(-1) ?? ""}`;
  }
  try {
    return await importBoth();
  } catch (err) {
    return `vega/vega-lite not available (${err instanceof Error ? err.message : String(err)}); run: npm install --prefix bench`;
  }
}

/** Renders a Vega-Lite spec to an SVG string, or returns why it could not. */
export async function renderSvg(spec: Record<string, unknown>, opts: { install: boolean }): Promise<{ svg: string } | { skipped: string }> {
  const lib = await loadVega(opts.install);
  if (typeof lib === "string") return { skipped: lib };
  const view = new lib.vega.View(lib.vega.parse(lib.vl.compile(spec).spec), { renderer: "none" });
  try {
    return { svg: await view.toSVG() };
  } finally {
    view.finalize();
  }
}
