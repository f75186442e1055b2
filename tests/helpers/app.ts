/** The daemon's fetch handler in-process (no socket), over a harness store. */
import type { DaemonContext } from "../../src/daemon/context.ts";
import { silentLogger } from "../../src/daemon/log.ts";
import { createFetchHandler, type FetchHandler } from "../../src/daemon/server.ts";
import { resolvePaths } from "../../src/platform/paths.ts";
import type { Harness } from "./harness.ts";

export function app(h: Harness): { ctx: DaemonContext; fetch: FetchHandler; call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Response> } {
  const ctx: DaemonContext = {
    paths: resolvePaths(process.env),
    config: h.config,
    clock: h.clock.now,
    log: silentLogger,
    store: h.store,
    registry: h.registry,
    ingestor: h.ingestor,
    debug: h.debug,
    build: { version: "test", commit: "test" },
    startedAt: h.clock.nowMs,
    streamId: "stream-test",
    isShuttingDown: () => false,
    sourceHealth: new Map(),
  };
  const fetch = createFetchHandler(ctx);
  return {
    ctx,
    fetch,
    call(method, path, body, headers = {}) {
      const init: RequestInit = { method, headers: { ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers } };
      if (body !== undefined) init.body = typeof body === "string" ? body : JSON.stringify(body);
      return fetch(new Request(`http://agtmux${path}`, init));
    },
  };
}
