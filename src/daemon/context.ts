/** Everything the daemon's parts need, passed explicitly (no module singletons). */
import type { AdapterRegistry } from "../adapters/registry.ts";
import type { DaemonConfig } from "../domain/config.ts";
import type { Clock } from "../domain/time.ts";
import type { Paths } from "../platform/paths.ts";
import type { Store } from "../store/store.ts";
import type { DebugBuffer } from "./debug-buffer.ts";
import type { Ingestor } from "./ingest.ts";
import type { Logger } from "./log.ts";
import type { TargetManager } from "./targets.ts";
import type { WatchHub } from "./watch-hub.ts";

export interface BuildInfo {
  version: string;
  commit: string;
}

export interface DaemonContext {
  paths: Paths;
  config: DaemonConfig;
  clock: Clock;
  log: Logger;
  store: Store;
  registry: AdapterRegistry;
  ingestor: Ingestor;
  debug: DebugBuffer;
  build: BuildInfo;
  startedAt: number;
  /** new per daemon start (watch cursors name it) */
  streamId: string;
  /** true once shutdown began: new requests get E_SHUTTING_DOWN */
  isShuttingDown(): boolean;
  /** health of the native sources the daemon runs for an adapter (by adapter id) */
  sourceHealth: Map<string, () => { status: "ok" | "degraded" | "down"; detail?: string }>;
  /** the running target workers (set once the daemon serves) */
  targets?: TargetManager;
  /** the watch stream (set once the daemon serves) */
  watch?: WatchHub;
}
