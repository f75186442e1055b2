-- agtmux schema v1 (contracts §5). Times are integer epoch milliseconds.

CREATE TABLE targets (
  target_id         TEXT PRIMARY KEY CHECK (length(target_id) BETWEEN 1 AND 64),
  kind              TEXT NOT NULL CHECK (kind IN ('local', 'ssh')),
  -- only a non-secret reference (an ssh host alias), never credentials
  connection_ref    TEXT,
  tmux_socket       TEXT,
  health            TEXT NOT NULL DEFAULT 'ok' CHECK (health IN ('ok', 'degraded', 'down')),
  health_changed_at INTEGER,
  last_topology_at  INTEGER,
  created_at        INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL,
  CHECK (kind = 'local' OR connection_ref IS NOT NULL)
);

CREATE TABLE panes (
  target_id           TEXT NOT NULL REFERENCES targets(target_id) ON DELETE CASCADE,
  pane_id             TEXT NOT NULL CHECK (pane_id GLOB '%[0-9]*'),
  tmux_server_boot_id TEXT NOT NULL,
  session_id          TEXT,
  session_name        TEXT,
  window_id           TEXT,
  window_index        INTEGER,
  window_name         TEXT,
  pane_index          INTEGER,
  pane_pid            INTEGER,
  current_command     TEXT,
  current_path        TEXT,
  title               TEXT,
  is_active           INTEGER NOT NULL DEFAULT 0 CHECK (is_active IN (0, 1)),
  is_dead             INTEGER NOT NULL DEFAULT 0 CHECK (is_dead IN (0, 1)),
  width               INTEGER,
  height              INTEGER,
  first_seen_at       INTEGER NOT NULL,
  last_seen_at        INTEGER NOT NULL,
  PRIMARY KEY (target_id, pane_id)
);

CREATE TABLE runtimes (
  runtime_id          TEXT PRIMARY KEY CHECK (length(runtime_id) BETWEEN 16 AND 128),
  target_id           TEXT NOT NULL REFERENCES targets(target_id) ON DELETE CASCADE,
  tmux_server_boot_id TEXT NOT NULL,
  pane_id             TEXT NOT NULL CHECK (pane_id GLOB '%[0-9]*'),
  pane_epoch          INTEGER NOT NULL CHECK (pane_epoch >= 0),
  agent_type          TEXT NOT NULL,
  pid                 INTEGER CHECK (pid IS NULL OR pid > 0),
  pane_pid            INTEGER,
  started_at          INTEGER NOT NULL,
  ended_at            INTEGER,
  end_reason          TEXT,
  created_at          INTEGER NOT NULL,
  UNIQUE (target_id, tmux_server_boot_id, pane_id, pane_epoch),
  CHECK (ended_at IS NULL OR end_reason IS NOT NULL)
);
-- at most one active runtime per pane (contracts §4)
CREATE UNIQUE INDEX runtimes_one_active_per_pane ON runtimes(target_id, pane_id) WHERE ended_at IS NULL;
CREATE INDEX runtimes_by_pane ON runtimes(target_id, pane_id, pane_epoch DESC);

CREATE TABLE events (
  seq             INTEGER PRIMARY KEY,
  event_id        TEXT NOT NULL UNIQUE CHECK (length(event_id) > 0),
  runtime_id      TEXT REFERENCES runtimes(runtime_id) ON DELETE CASCADE,
  target_id       TEXT NOT NULL,
  pane_id         TEXT,
  source          TEXT NOT NULL CHECK (source IN ('hook', 'notify', 'wrapper', 'poller', 'daemon')),
  event_type      TEXT NOT NULL CHECK (length(event_type) > 0),
  dedupe_key      TEXT NOT NULL CHECK (length(trim(dedupe_key)) > 0),
  source_event_id TEXT,
  source_seq      INTEGER,
  event_time      INTEGER,
  ingested_at     INTEGER NOT NULL,
  effective_time  INTEGER NOT NULL,
  pid             INTEGER,
  start_hint      INTEGER,
  agent_type      TEXT,
  action_id       TEXT,
  norm_kind       TEXT NOT NULL CHECK (norm_kind IN ('state', 'heartbeat', 'synthetic')),
  norm_state      TEXT,
  norm_confidence TEXT,
  norm_reason     TEXT,
  outcome         TEXT NOT NULL CHECK (outcome IN ('applied', 'stale_order', 'heartbeat', 'ignored')),
  raw_payload     TEXT, -- redacted JSON; NULL after payload retention
  UNIQUE (runtime_id, source, dedupe_key),
  CHECK (source = 'daemon' OR runtime_id IS NOT NULL)
);
CREATE INDEX events_by_runtime_source ON events(runtime_id, source, ingested_at DESC);
CREATE INDEX events_by_ingested ON events(ingested_at DESC);
CREATE INDEX events_by_action ON events(action_id) WHERE action_id IS NOT NULL;

CREATE TABLE event_inbox (
  inbox_id    INTEGER PRIMARY KEY,
  event_id    TEXT NOT NULL UNIQUE,
  target_id   TEXT NOT NULL REFERENCES targets(target_id) ON DELETE CASCADE,
  pane_id     TEXT NOT NULL CHECK (pane_id GLOB '%[0-9]*'),
  source      TEXT NOT NULL CHECK (source IN ('hook', 'notify', 'wrapper', 'poller')),
  dedupe_key  TEXT NOT NULL CHECK (length(trim(dedupe_key)) > 0),
  pid         INTEGER,
  start_hint  INTEGER,
  ingested_at INTEGER NOT NULL,
  effective_time INTEGER NOT NULL,
  status      TEXT NOT NULL CHECK (status IN ('pending_bind', 'bound', 'dropped_unbound')),
  reason_code TEXT CHECK (reason_code IN ('bind_no_candidate', 'bind_ambiguous', 'bind_ttl_expired')),
  runtime_id  TEXT REFERENCES runtimes(runtime_id) ON DELETE SET NULL,
  envelope    TEXT NOT NULL, -- redacted envelope JSON, applied once bound
  resolved_at INTEGER,
  UNIQUE (target_id, pane_id, source, dedupe_key),
  CHECK ((status = 'dropped_unbound') = (reason_code IS NOT NULL)),
  CHECK (status = 'pending_bind' OR resolved_at IS NOT NULL)
);
CREATE INDEX event_inbox_status ON event_inbox(status, ingested_at);

CREATE TABLE runtime_source_cursors (
  runtime_id          TEXT NOT NULL REFERENCES runtimes(runtime_id) ON DELETE CASCADE,
  source              TEXT NOT NULL CHECK (source IN ('hook', 'notify', 'wrapper', 'poller')),
  -- order key of the newest applied state-bearing event (contracts §3)
  last_source_seq     INTEGER,
  last_effective_time INTEGER,
  last_ingested_at    INTEGER,
  last_event_id       TEXT,
  -- that event's transition: the source's candidate
  cand_state          TEXT,
  cand_confidence     TEXT CHECK (cand_confidence IN ('high', 'medium', 'low')),
  cand_reason         TEXT,
  last_seen_at        INTEGER NOT NULL,
  PRIMARY KEY (runtime_id, source),
  CHECK ((last_event_id IS NULL) = (cand_state IS NULL))
) WITHOUT ROWID;

CREATE TABLE states (
  target_id     TEXT NOT NULL REFERENCES targets(target_id) ON DELETE CASCADE,
  pane_id       TEXT NOT NULL CHECK (pane_id GLOB '%[0-9]*'),
  runtime_id    TEXT REFERENCES runtimes(runtime_id) ON DELETE SET NULL,
  state         TEXT NOT NULL CHECK (state IN ('running', 'waiting_input', 'waiting_approval', 'completed', 'idle', 'error', 'unknown')),
  reason_code   TEXT,
  confidence    TEXT NOT NULL CHECK (confidence IN ('high', 'medium', 'low')),
  state_source  TEXT,
  state_version INTEGER NOT NULL CHECK (state_version >= 1),
  last_seen_at  INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL,
  -- when the reconciler must look again (demotion / TTL expiry); NULL = never
  next_check_at INTEGER,
  PRIMARY KEY (target_id, pane_id),
  CHECK (state <> 'unknown' OR reason_code IS NOT NULL)
);
CREATE INDEX states_by_updated ON states(updated_at DESC);
CREATE INDEX states_by_state ON states(state, updated_at DESC);
CREATE INDEX states_by_next_check ON states(next_check_at) WHERE next_check_at IS NOT NULL;

CREATE TABLE action_snapshots (
  snapshot_id   TEXT PRIMARY KEY,
  target_id     TEXT NOT NULL REFERENCES targets(target_id) ON DELETE CASCADE,
  pane_id       TEXT NOT NULL,
  runtime_id    TEXT REFERENCES runtimes(runtime_id) ON DELETE SET NULL,
  state         TEXT,
  state_version INTEGER NOT NULL,
  observed_at   INTEGER NOT NULL,
  expires_at    INTEGER NOT NULL,
  nonce         TEXT NOT NULL UNIQUE,
  CHECK (expires_at > observed_at)
);

CREATE TABLE actions (
  action_id    TEXT PRIMARY KEY,
  action_type  TEXT NOT NULL CHECK (action_type IN ('attach', 'send', 'view-output', 'kill')),
  request_ref  TEXT NOT NULL CHECK (length(request_ref) > 0),
  request_hash TEXT NOT NULL,
  ref          TEXT NOT NULL,
  target_id    TEXT,
  pane_id      TEXT,
  runtime_id   TEXT,
  snapshot_id  TEXT REFERENCES action_snapshots(snapshot_id) ON DELETE SET NULL,
  requested_by TEXT,
  payload      TEXT, -- redacted
  result_code  TEXT,
  result       TEXT, -- redacted
  created_at   INTEGER NOT NULL,
  completed_at INTEGER,
  UNIQUE (action_type, request_ref)
);
CREATE INDEX actions_by_created ON actions(created_at DESC);

CREATE TABLE adapters (
  adapter_id       TEXT PRIMARY KEY,
  agent_type       TEXT NOT NULL,
  contract_version TEXT NOT NULL,
  capabilities     TEXT NOT NULL, -- JSON
  enabled          INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
  health           TEXT,
  updated_at       INTEGER NOT NULL
);

-- byte offsets of followed spool files, so nothing is applied twice or lost
CREATE TABLE spool_offsets (
  target_id   TEXT NOT NULL,
  spool_path  TEXT NOT NULL,
  byte_offset INTEGER NOT NULL CHECK (byte_offset >= 0),
  updated_at  INTEGER NOT NULL,
  PRIMARY KEY (target_id, spool_path)
) WITHOUT ROWID;
