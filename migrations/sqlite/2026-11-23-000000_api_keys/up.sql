CREATE TABLE api_keys (
    id TEXT PRIMARY KEY NOT NULL,
    merchant_id TEXT NOT NULL REFERENCES merchants (id) ON DELETE CASCADE,
    lineage_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    scopes TEXT NOT NULL DEFAULT '',
    key_hash TEXT NOT NULL UNIQUE,
    masked_key TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'disabled', 'rotated', 'revoked', 'deleted')),
    lifetime_days INTEGER,
    expires_at TIMESTAMP,
    grace_ends_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    created_by TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    updated_by TEXT NOT NULL,
    disabled_at TIMESTAMP,
    disabled_by TEXT,
    revoked_at TIMESTAMP,
    revoked_by TEXT,
    deleted_at TIMESTAMP,
    deleted_by TEXT,
    last_used_at TIMESTAMP,
    -- The one-time value of the form that made this version: a form sent twice at
    -- once makes one key.
    request_id TEXT UNIQUE,
    UNIQUE (lineage_id, version)
);
CREATE INDEX api_keys_merchant_idx ON api_keys (merchant_id, status);
-- One current (active or disabled) version per lineage, and live names unique per merchant.
CREATE UNIQUE INDEX api_keys_current_version_key ON api_keys (lineage_id) WHERE status IN ('active', 'disabled');
CREATE UNIQUE INDEX api_keys_live_name_key ON api_keys (merchant_id, lower(name)) WHERE status IN ('active', 'disabled');

-- Append-only: no code path updates or deletes an event.
CREATE TABLE key_events (
    id TEXT PRIMARY KEY NOT NULL,
    merchant_id TEXT NOT NULL REFERENCES merchants (id) ON DELETE CASCADE,
    key_id TEXT REFERENCES api_keys (id),
    event_type TEXT NOT NULL,
    actor_type TEXT NOT NULL CHECK (actor_type IN ('user', 'support', 'cli', 'system')),
    actor_id TEXT,
    actor_name TEXT NOT NULL,
    details TEXT NOT NULL DEFAULT '{}',
    client_address TEXT,
    user_agent TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX key_events_merchant_idx ON key_events (merchant_id, created_at);
CREATE INDEX key_events_key_idx ON key_events (key_id, created_at);

CREATE TABLE key_policies (
    merchant_id TEXT PRIMARY KEY NOT NULL REFERENCES merchants (id) ON DELETE CASCADE,
    max_active_keys INTEGER NOT NULL,
    default_grace TEXT NOT NULL,
    name_required BOOLEAN NOT NULL,
    revoke_only_disabled BOOLEAN NOT NULL,
    delete_only_inactive BOOLEAN NOT NULL,
    scopes_editable BOOLEAN NOT NULL,
    max_lifetime_days INTEGER,
    updated_at TIMESTAMP NOT NULL,
    updated_by TEXT NOT NULL
);
