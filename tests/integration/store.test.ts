import { Database } from "bun:sqlite";
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { AgtmuxError } from "../../src/domain/errors.ts";
import { openDatabase } from "../../src/store/db.ts";
import { appliedMigrations, currentSchemaVersion, migrateDown, migrateUp } from "../../src/store/migrate.ts";
import { LATEST_SCHEMA_VERSION, MIGRATIONS } from "../../src/store/migrations.ts";
import { HOT_QUERIES } from "../../src/store/store.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tmpDb(): string {
  const d = mkdtempSync(join(process.env.AGTMUX_TEST_ROOT ?? "/tmp", "db-"));
  dirs.push(d);
  return join(d, "agtmux.db");
}
const tables = (db: Database): string[] =>
  db
    .query<{ name: string }, []>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
    .all()
    .map((r) => r.name);
const CONTRACT_TABLES = ["action_snapshots", "actions", "adapters", "event_inbox", "events", "panes", "runtime_source_cursors", "runtimes", "states", "targets"];

describe("migrations", () => {
  test("TC-001 fresh apply creates every contract table, rollback leaves nothing, re-apply is clean", () => {
    const path = tmpDb();
    const db = openDatabase(path, { now: 1 });
    expect(currentSchemaVersion(db)).toBe(LATEST_SCHEMA_VERSION);
    for (const t of CONTRACT_TABLES) expect(tables(db)).toContain(t);
    expect(db.query<{ journal_mode: string }, []>("PRAGMA journal_mode").get()?.journal_mode).toBe("wal");
    expect(db.query<{ foreign_keys: number }, []>("PRAGMA foreign_keys").get()?.foreign_keys).toBe(1);
    const before = db.query<{ sql: string }, []>("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name").all();

    expect(migrateDown(db, 0)).toEqual(MIGRATIONS.map((m) => m.version).toReversed());
    expect(tables(db)).toEqual(["schema_migrations"]);
    expect(db.query("SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%'").all()).toEqual([]);

    expect(migrateUp(db, { now: 2, path })).toEqual(MIGRATIONS.map((m) => m.version));
    const after = db.query<{ sql: string }, []>("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name").all();
    expect(after).toEqual(before);
    expect(db.query<{ integrity_check: string }, []>("PRAGMA integrity_check").get()?.integrity_check).toBe("ok");
    db.close();
    // reopening applies nothing
    const again = openDatabase(path, { now: 3 });
    expect(appliedMigrations(again).map((a) => a.version)).toEqual(MIGRATIONS.map((m) => m.version));
    again.close();
  });

  test("TC-001 refuses a database newer than the binary, or with a different migration", () => {
    const path = tmpDb();
    const db = openDatabase(path, { now: 1 });
    db.query("INSERT INTO schema_migrations (version, name, sha256, applied_at) VALUES (999, 'future', 'x', 0)").run();
    db.close();
    expect(() => openDatabase(path, { now: 2 })).toThrow(/schema version 999, newer than this agtmux/);

    const path2 = tmpDb();
    const db2 = openDatabase(path2, { now: 1 });
    db2.query("UPDATE schema_migrations SET sha256 = 'tampered' WHERE version = 1").run();
    db2.close();
    try {
      openDatabase(path2, { now: 2 });
      throw new Error("should have refused");
    } catch (err) {
      expect(err).toBeInstanceOf(AgtmuxError);
      expect((err as AgtmuxError).code).toBe("E_STORE");
      expect((err as AgtmuxError).message).toContain(path2);
    }
  });

  test("a file that is not a database is refused with a message naming it and what to do", async () => {
    const path = tmpDb();
    await Bun.write(path, "this is not sqlite ".repeat(100));
    expect(() => openDatabase(path, { now: 1 })).toThrow(new RegExp(`${path.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")} is corrupt.*move it aside`));
  });
});

describe("constraints", () => {
  function fresh(): Database {
    const db = openDatabase(":memory:", { now: 1 });
    db.run("INSERT INTO targets (target_id, kind, created_at, updated_at) VALUES ('host', 'local', 0, 0)");
    db.run(
      "INSERT INTO runtimes (runtime_id, target_id, tmux_server_boot_id, pane_id, pane_epoch, agent_type, pid, started_at, created_at) VALUES ('rt-0000000000000000a', 'host', 'b', '%1', 0, 'claude', 10, 0, 0)",
    );
    return db;
  }
  const rejects = (db: Database, sql: string, pattern: RegExp): void => {
    expect(() => db.run(sql)).toThrow(pattern);
  };

  test("TC-002 PK / UNIQUE / FK / CHECK constraints reject invalid writes", () => {
    const db = fresh();
    // duplicate pane instance epoch
    rejects(
      db,
      "INSERT INTO runtimes (runtime_id, target_id, tmux_server_boot_id, pane_id, pane_epoch, agent_type, started_at, ended_at, end_reason, created_at) VALUES ('rt-0000000000000000b', 'host', 'b', '%1', 0, 'claude', 0, 1, 'x', 0)",
      /UNIQUE/,
    );
    // FK: unknown target
    rejects(
      db,
      "INSERT INTO runtimes (runtime_id, target_id, tmux_server_boot_id, pane_id, pane_epoch, agent_type, started_at, created_at) VALUES ('rt-0000000000000000c', 'nope', 'b', '%2', 0, 'claude', 0, 0)",
      /FOREIGN KEY/,
    );
    // pane id shape
    rejects(
      db,
      "INSERT INTO runtimes (runtime_id, target_id, tmux_server_boot_id, pane_id, pane_epoch, agent_type, started_at, created_at) VALUES ('rt-0000000000000000d', 'host', 'b', '3', 0, 'claude', 0, 0)",
      /CHECK/,
    );
    const ev = (id: string, dk: string) =>
      `INSERT INTO events (event_id, runtime_id, target_id, pane_id, source, event_type, dedupe_key, ingested_at, effective_time, norm_kind, outcome) VALUES ('${id}', 'rt-0000000000000000a', 'host', '%1', 'hook', 'state.running', '${dk}', 0, 0, 'state', 'applied')`;
    db.run(ev("e1", "k1"));
    rejects(db, ev("e2", "k1"), /UNIQUE/); // (runtime, source, dedupe_key)
    rejects(db, ev("e1", "k2"), /UNIQUE/); // event_id
    rejects(db, ev("e3", "  "), /CHECK/); // empty dedupe key
    rejects(
      db,
      "INSERT INTO events (event_id, runtime_id, target_id, source, event_type, dedupe_key, ingested_at, effective_time, norm_kind, outcome) VALUES ('e4', NULL, 'host', 'hook', 'x', 'k', 0, 0, 'state', 'applied')",
      /CHECK/,
    ); // external events are bound
    rejects(
      db,
      "INSERT INTO events (event_id, runtime_id, target_id, source, event_type, dedupe_key, ingested_at, effective_time, norm_kind, outcome) VALUES ('e5', 'rt-0000000000000000a', 'host', 'carrier-pigeon', 'x', 'k5', 0, 0, 'state', 'applied')",
      /CHECK/,
    );
    const inbox = (id: string, dk: string, status = "pending_bind", reason = "NULL") =>
      `INSERT INTO event_inbox (event_id, target_id, pane_id, source, dedupe_key, ingested_at, effective_time, status, reason_code, envelope, resolved_at) VALUES ('${id}', 'host', '%1', 'hook', '${dk}', 0, 0, '${status}', ${reason}, '{}', ${status === "pending_bind" ? "NULL" : "1"})`;
    db.run(inbox("i1", "k1"));
    rejects(db, inbox("i2", "k1"), /UNIQUE/);
    rejects(db, inbox("i3", "k3", "dropped_unbound"), /CHECK/); // dropped needs a reason
    rejects(db, inbox("i4", "k4", "pending_bind", "'bind_ambiguous'"), /CHECK/);
    rejects(db, inbox("i5", "k5", "dropped_unbound", "'bored'"), /CHECK/);
    // states
    const state = (s: string, reason: string, conf = "high") =>
      `INSERT INTO states (target_id, pane_id, runtime_id, state, reason_code, confidence, state_version, last_seen_at, updated_at) VALUES ('host', '%9', NULL, '${s}', ${reason}, '${conf}', 1, 0, 0)`;
    rejects(db, state("sleeping", "NULL"), /CHECK/);
    rejects(db, state("unknown", "NULL"), /CHECK/); // unknown needs a reason
    rejects(db, state("running", "NULL", "certain"), /CHECK/);
    db.run(state("unknown", "'no_signal'"));
    rejects(db, state("running", "NULL"), /UNIQUE|PRIMARY/);
    // cursors need a real runtime
    rejects(db, "INSERT INTO runtime_source_cursors (runtime_id, source, last_seen_at) VALUES ('rt-missing-000000000', 'hook', 0)", /FOREIGN KEY/);
    // actions idempotency key, snapshots expiry
    const action = (id: string) =>
      `INSERT INTO actions (action_id, action_type, request_ref, request_hash, ref, created_at) VALUES ('${id}', 'send', 'req-1', 'h', 'pane:host/s/@1/%1', 0)`;
    db.run(action("a1"));
    rejects(db, action("a2"), /UNIQUE/);
    rejects(
      db,
      "INSERT INTO action_snapshots (snapshot_id, target_id, pane_id, state_version, observed_at, expires_at, nonce) VALUES ('s1', 'host', '%1', 1, 10, 10, 'n')",
      /CHECK/,
    );
    // ssh targets need a connection reference
    rejects(db, "INSERT INTO targets (target_id, kind, created_at, updated_at) VALUES ('vm1', 'ssh', 0, 0)", /CHECK/);
    db.close();
  });

  test("TC-003 concurrent active-runtime inserts on one pane: at most one wins", async () => {
    const path = tmpDb();
    const db = openDatabase(path, { now: 1 });
    db.run("INSERT INTO targets (target_id, kind, created_at, updated_at) VALUES ('host', 'local', 0, 0)");
    db.close();
    const startAt = Date.now() + 400;
    const procs = Array.from({ length: 6 }, (_, i) =>
      Bun.spawn([process.execPath, join(import.meta.dir, "..", "fixtures", "race-runtime.ts"), path, String(i), String(startAt)], { stdout: "pipe", stderr: "pipe" }),
    );
    const outs = await Promise.all(procs.map(async (p) => (await new Response(p.stdout).text()).trim()));
    expect(outs.filter((o) => o === "ok")).toHaveLength(1);
    expect(outs.filter((o) => o === "conflict")).toHaveLength(5);
    const check = new Database(path, { readonly: true });
    expect(check.query<{ n: number }, []>("SELECT count(*) AS n FROM runtimes WHERE ended_at IS NULL").get()?.n).toBe(1);
    check.close();
  });
});

describe("query plans", () => {
  function planProblems(db: Database, sql: string): string[] {
    const params = Object.fromEntries([...sql.matchAll(/\$(\w+)/g)].map((m) => [m[1] as string, m[1] === "limit" ? 10 : "x"]));
    const details = db.query<{ detail: string }, [Record<string, string | number>]>(`EXPLAIN QUERY PLAN ${sql}`).all(params).map((p) => p.detail);
    return details.filter((d) => (d.startsWith("SCAN ") && !/USING (COVERING )?INDEX|USING INTEGER PRIMARY KEY/.test(d)) || /TEMP B-TREE/.test(d));
  }

  test("TC-013 every hot query is index-backed (EXPLAIN QUERY PLAN)", () => {
    const db = openDatabase(":memory:", { now: 1 });
    // the checker itself notices a full scan and a sort without an index
    expect(planProblems(db, "SELECT * FROM events WHERE event_type = $x")).not.toEqual([]);
    expect(planProblems(db, "SELECT * FROM states ORDER BY confidence")).not.toEqual([]);
    for (const [name, sql] of Object.entries(HOT_QUERIES)) {
      expect({ name, problems: planProblems(db, sql) }).toEqual({ name, problems: [] });
    }
    db.close();
  });
});
