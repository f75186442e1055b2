/**
 * Versioned migrations, embedded in the binary by text imports. Add a pair of
 * files `migrations/NNNN_name.{up,down}.sql` and list them here.
 */
import init_up from "../../migrations/0001_init.up.sql" with { type: "text" };
import init_down from "../../migrations/0001_init.down.sql" with { type: "text" };
import topology_up from "../../migrations/0002_topology.up.sql" with { type: "text" };
import topology_down from "../../migrations/0002_topology.down.sql" with { type: "text" };
import targets_up from "../../migrations/0003_targets.up.sql" with { type: "text" };
import targets_down from "../../migrations/0003_targets.down.sql" with { type: "text" };

export interface Migration {
  version: number;
  name: string;
  up: string;
  down: string;
}

export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: "init", up: init_up, down: init_down },
  { version: 2, name: "topology", up: topology_up, down: topology_down },
  { version: 3, name: "targets", up: targets_up, down: targets_down },
];

export const LATEST_SCHEMA_VERSION = MIGRATIONS.reduce((m, x) => Math.max(m, x.version), 0);
