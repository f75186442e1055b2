/**
 * Migration runner: each migration applies in its own transaction and is
 * recorded with the sha256 of its up script. Refuses a DB that is newer than
 * this binary or whose recorded migrations differ from ours.
 */
import type { Database } from "bun:sqlite";
import { createHash } from "node:crypto";
import { AgtmuxError } from "../domain/errors.ts";
import { type Migration, MIGRATIONS } from "./migrations.ts";

const sha256 = (s: string): string => createHash("sha256").update(s).digest("hex");

interface Applied {
  version: number;
  name: string;
  sha256: string;
}

function ensureTable(db: Database): void {
  db.run(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, sha256 TEXT NOT NULL, applied_at INTEGER NOT NULL)`);
}

export function appliedMigrations(db: Database): Applied[] {
  ensureTable(db);
  return db.query<Applied, []>("SELECT version, name, sha256 FROM schema_migrations ORDER BY version").all();
}

export function currentSchemaVersion(db: Database): number {
  const rows = appliedMigrations(db);
  return rows.length === 0 ? 0 : (rows[rows.length - 1] as Applied).version;
}

/** Applies every pending migration; returns the versions applied. */
export function migrateUp(db: Database, opts: { now: number; path: string; migrations?: readonly Migration[]; to?: number }): number[] {
  const migrations = opts.migrations ?? MIGRATIONS;
  const known = new Map(migrations.map((m) => [m.version, m]));
  const latest = migrations.reduce((m, x) => Math.max(m, x.version), 0);
  const applied = appliedMigrations(db);
  for (const a of applied) {
    const m = known.get(a.version);
    if (a.version > latest || m === undefined) {
      throw new AgtmuxError(
        "E_STORE",
        `database ${opts.path} has schema version ${a.version}, newer than this agtmux knows (${latest}); upgrade agtmux, or move the file aside to start fresh`,
        { path: opts.path, db_version: a.version, binary_version: latest },
      );
    }
    if (m.name !== a.name || sha256(m.up) !== a.sha256) {
      throw new AgtmuxError(
        "E_STORE",
        `database ${opts.path}: migration ${a.version} (${a.name}) differs from the one this agtmux ships; use the agtmux that created it, or move the file aside`,
        { path: opts.path, version: a.version },
      );
    }
  }
  const done = new Set(applied.map((a) => a.version));
  const out: number[] = [];
  for (const m of migrations.toSorted((a, b) => a.version - b.version)) {
    if (done.has(m.version) || (opts.to !== undefined && m.version > opts.to)) continue;
    db.transaction(() => {
      db.run(m.up);
      db.query("INSERT INTO schema_migrations (version, name, sha256, applied_at) VALUES (?, ?, ?, ?)").run(
        m.version,
        m.name,
        sha256(m.up),
        opts.now,
      );
    })();
    out.push(m.version);
  }
  return out;
}

/** Rolls back to `target` (0 = empty schema), newest first. */
export function migrateDown(db: Database, target: number, migrations: readonly Migration[] = MIGRATIONS): number[] {
  const known = new Map(migrations.map((m) => [m.version, m]));
  const out: number[] = [];
  for (const a of appliedMigrations(db).toReversed()) {
    if (a.version <= target) break;
    const m = known.get(a.version);
    if (m === undefined) throw new AgtmuxError("E_STORE", `no down migration for version ${a.version}`);
    db.transaction(() => {
      db.run(m.down);
      db.query("DELETE FROM schema_migrations WHERE version = ?").run(a.version);
    })();
    out.push(a.version);
  }
  return out;
}
