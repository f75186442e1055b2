/**
 * The API v1 router: one fetch handler, usable in-process by tests and served
 * by Bun.serve on the Unix socket. Every failure answers with the error envelope.
 */
import { AgtmuxError } from "../domain/errors.ts";
import type { DaemonContext } from "./context.ts";
import { errorResponse } from "./http.ts";
import { getDebugEvents } from "./routes/debug.ts";
import { postEvents } from "./routes/events.ts";
import { getExplain } from "./routes/explain.ts";
import { getHealth } from "./routes/health.ts";
import { getPanes, getSessions, getTargets, getWindows } from "./routes/list.ts";
import { deleteTarget, getTarget, postConnect, postTarget } from "./routes/targets.ts";
import { getWatch } from "./routes/watch.ts";
import { getActions, postAction } from "./routes/actions.ts";

type Handler = (ctx: DaemonContext, req: Request, url: URL, params: Record<string, string>) => Response | Promise<Response>;

const ROUTES: Record<string, Partial<Record<string, Handler>>> = {
  "/v1/health": { GET: (ctx) => getHealth(ctx) },
  "/v1/events": { POST: (ctx, req) => postEvents(ctx, req) },
  "/v1/debug/events": { GET: (ctx, _req, url) => getDebugEvents(ctx, url) },
  "/v1/panes": { GET: (ctx, _req, url) => getPanes(ctx, url) },
  "/v1/windows": { GET: (ctx, _req, url) => getWindows(ctx, url) },
  "/v1/sessions": { GET: (ctx, _req, url) => getSessions(ctx, url) },
  "/v1/targets": { GET: (ctx) => getTargets(ctx), POST: (ctx, req) => postTarget(ctx, req) },
  "/v1/targets/{name}": { GET: (ctx, _req, _url, p) => getTarget(ctx, p.name ?? ""), DELETE: (ctx, _req, url, p) => deleteTarget(ctx, p.name ?? "", url) },
  "/v1/targets/{name}/connect": { POST: (ctx, req, _url, p) => postConnect(ctx, req, p.name ?? "") },
  "/v1/explain": { GET: (ctx, _req, url) => getExplain(ctx, url) },
  "/v1/watch": { GET: (ctx, req, url) => getWatch(ctx, req, url) },
  "/v1/actions": { GET: (ctx, _req, url) => getActions(ctx, url) },
  "/v1/actions/{type}": { POST: (ctx, req, _url, p) => postAction(ctx, req, p.type ?? "") },
};

/** `{name}` segments match one percent-decoded path segment. */
const PATTERNS = Object.keys(ROUTES)
  .filter((k) => k.includes("{"))
  .map((k) => ({ key: k, names: [...k.matchAll(/\{(\w+)\}/g)].map((m) => m[1] ?? ""), re: new RegExp(`^${k.replace(/\{\w+\}/g, "([^/]+)")}$`) }));

function match(path: string): { route: Partial<Record<string, Handler>> | undefined; params: Record<string, string> } {
  const exact = ROUTES[path];
  if (exact !== undefined) return { route: exact, params: {} };
  for (const p of PATTERNS) {
    const m = p.re.exec(path);
    if (m === null) continue;
    const params: Record<string, string> = {};
    p.names.forEach((n, i) => {
      let seg = m[i + 1] ?? "";
      try {
        seg = decodeURIComponent(seg);
      } catch {
        // left as is; the handler's validation names it
      }
      params[n] = seg;
    });
    return { route: ROUTES[p.key], params };
  }
  return { route: undefined, params: {} };
}

export interface FetchHandler {
  (req: Request): Promise<Response>;
  inFlight(): number;
}

export function createFetchHandler(ctx: DaemonContext): FetchHandler {
  let inFlight = 0;
  const handler = async (req: Request): Promise<Response> => {
    inFlight++;
    try {
      const url = new URL(req.url);
      const { route, params } = match(url.pathname.replace(/\/+$/, "") || "/");
      if (route === undefined) throw new AgtmuxError("E_NOT_FOUND", `no such endpoint: ${req.method} ${url.pathname.slice(0, 200)}`, {});
      // HEAD answers like GET (Bun drops the body)
      const h = route[req.method] ?? (req.method === "HEAD" ? route.GET : undefined);
      if (h === undefined) {
        const res = errorResponse(
          new AgtmuxError("E_METHOD_NOT_ALLOWED", `${req.method} is not allowed on ${url.pathname}`, { allow: Object.keys(route) }),
        );
        res.headers.set("allow", Object.keys(route).join(", "));
        return res;
      }
      if (ctx.isShuttingDown() && req.method !== "GET") {
        throw new AgtmuxError("E_SHUTTING_DOWN", "the daemon is shutting down; retry shortly", {});
      }
      return await h(ctx, req, url, params);
    } catch (err) {
      if (err instanceof AgtmuxError) return errorResponse(err);
      const code = (err as { code?: string } | null)?.code ?? "";
      if (code.startsWith("SQLITE_")) {
        ctx.log.error("store failure", { code, message: err instanceof Error ? err.message : String(err) });
        return errorResponse(new AgtmuxError("E_STORE", `the store refused the write (${code}); nothing was acknowledged`, { sqlite_code: code }));
      }
      ctx.log.error("internal error", { message: err instanceof Error ? err.message : String(err), stack: err instanceof Error ? err.stack : undefined });
      return errorResponse(new AgtmuxError("E_INTERNAL", "internal error", {}));
    } finally {
      inFlight--;
    }
  };
  return Object.assign(handler, { inFlight: () => inFlight });
}
