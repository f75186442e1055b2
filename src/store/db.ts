/**
 * Opening the database: pragmas, integrity and writability checks, and
 * migrations. Failures become one E_STORE error that names the file and says
 * what to do.
 */
import { Database } from "bun:sqlite";
import { existsSync, statSync } from "node:fs";
import { AgtmuxError } from "../domain/errors.ts";
import { migrateUp } from "./migrate.ts";

export const BUSY_TIMEOUT_MS = 5_000;

export function openDatabase(path: string, opts: { now: number; migrate?: boolean }): Database {
  if (path !== ":memory:" && existsSync(path) && statSync(path).isDirectory()) {
    throw new AgtmuxError("E_STORE", `database path ${path} is a directory; remove it or set AGTMUX_HOME to another place`, { path });
  }
  let db: Database;
  try {
    db = new Database(path, { create: true, strict: true });
  } catch (err) {
    throw storeError(path, err);
  }
  try {
    db.run(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
    // Reading the schema fails fast on a file that is not a database.
    db.query("SELECT count(*) AS n FROM sqlite_master").get();
    if (path !== ":memory:") {
      const mode = db.query<{ journal_mode: string }, []>("PRAGMA journal_mode = WAL").get();
      if (mode?.journal_mode !== "wal") throw new Error(`could not enable WAL (journal_mode=${mode?.journal_mode})`);
    }
    db.run("PRAGMA synchronous = NORMAL");
    db.run("PRAGMA foreign_keys = ON");
    // Fails now, not on the first event, when the file or its directory is read-only.
    db.run("BEGIN IMMEDIATE");
    db.run("COMMIT");
    if (opts.migrate !== false) migrateUp(db, { now: opts.now, path });
    return db;
  } catch (err) {
    try {
      db.close();
    } catch {
      // already unusable
    }
    if (err instanceof AgtmuxError) throw err;
    throw storeError(path, err);
  }
}

function storeError(path: string, err: unknown): AgtmuxError {
  const msg = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: string } | null)?.code ?? "";
  if (/not a database|malformed|corrupt/i.test(msg) || code === "SQLITE_NOTADB" || code === "SQLITE_CORRUPT") {
    return new AgtmuxError(
      "E_STORE",
      `database ${path} is corrupt (${msg}); stop agtmux, move it aside (mv '${path}' '${path}.corrupt') and start again — a new one is created`,
      { path, cause: msg },
    );
  }
  if (/readonly|read-only|permission|unable to open|cannot open|access/i.test(msg) || code.startsWith("SQLITE_READONLY") || code === "SQLITE_CANTOPEN") {
    return new AgtmuxError(
      "E_STORE",
      `database ${path} cannot be opened for writing (${msg}); check that you own it and its directory is writable, or set AGTMUX_HOME to a writable directory`,
      { path, cause: msg },
    );
  }
  if (/disk is full|SQLITE_FULL/i.test(msg) || code === "SQLITE_FULL") {
    return new AgtmuxError("E_STORE", `database ${path}: disk is full (${msg}); free space and start again`, { path, cause: msg });
  }
  return new AgtmuxError("E_STORE", `database ${path} is unusable (${msg})`, { path, cause: msg });
}

/** Checkpoints the WAL into the main file and closes. */
export function closeDatabase(db: Database): void {
  try {
    db.run("PRAGMA wal_checkpoint(TRUNCATE)");
  } catch {
    // a checkpoint failure must not prevent closing
  }
  db.close();
}
