-- Where each key was last used from, and its optional per-minute request limit.
ALTER TABLE api_keys ADD COLUMN last_used_from TEXT;
ALTER TABLE api_keys ADD COLUMN rate_limit_per_minute INTEGER;

-- Successful and failed verifications per key and hour (UTC), added to by every
-- instance's flush.
CREATE TABLE key_usage_hourly (
    key_id TEXT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    hour TIMESTAMP NOT NULL,
    succeeded BIGINT NOT NULL DEFAULT 0,
    failed BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, hour)
);
CREATE INDEX key_usage_hourly_hour_idx ON key_usage_hourly (hour);
