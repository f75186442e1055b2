-- Local visibility (issue 3): tmux server identity per target, window/session
-- flags on panes, and an index for the grouped pane listing.
ALTER TABLE targets ADD COLUMN tmux_boot_id TEXT;
ALTER TABLE targets ADD COLUMN tmux_server_pid INTEGER;
ALTER TABLE targets ADD COLUMN tmux_version TEXT;
-- the last collector error (tmux missing, too old, ...); NULL when fine
ALTER TABLE targets ADD COLUMN last_error TEXT;
ALTER TABLE targets ADD COLUMN last_error_code TEXT;

ALTER TABLE panes ADD COLUMN session_created INTEGER;
ALTER TABLE panes ADD COLUMN session_attached INTEGER NOT NULL DEFAULT 0;
ALTER TABLE panes ADD COLUMN window_active INTEGER NOT NULL DEFAULT 0 CHECK (window_active IN (0, 1));
ALTER TABLE panes ADD COLUMN window_zoomed INTEGER NOT NULL DEFAULT 0 CHECK (window_zoomed IN (0, 1));

CREATE INDEX panes_by_session ON panes(target_id, session_name, window_index, pane_index);
