ALTER TABLE targets DROP COLUMN last_error_at;
ALTER TABLE targets DROP COLUMN agtmux_path;
