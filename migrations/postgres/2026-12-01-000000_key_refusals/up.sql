-- Each key's latest refused attempt (a disabled, revoked or deleted key, a missing
-- scope…) and the error code it was answered with, upserted by every instance's flush.
-- Last Used (api_keys.last_used_at) moves only on accepted requests. A table of its own:
-- api_keys is at the column count diesel's tables allow.
CREATE TABLE key_refusals (
    key_id TEXT PRIMARY KEY REFERENCES api_keys (id) ON DELETE CASCADE,
    refused_at TIMESTAMP NOT NULL,
    code TEXT NOT NULL
);
