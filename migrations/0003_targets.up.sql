-- Multi-target (issue 5): where the agtmux binary lives on an ssh target (the
-- relay and the hooks run it there), and since when the target's last error holds.
ALTER TABLE targets ADD COLUMN agtmux_path TEXT;
ALTER TABLE targets ADD COLUMN last_error_at INTEGER;
