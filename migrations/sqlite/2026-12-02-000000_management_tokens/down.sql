CREATE TABLE key_events_without_tokens (
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
INSERT INTO key_events_without_tokens
    (id, merchant_id, key_id, event_type, actor_type, actor_id, actor_name, details, client_address, user_agent, created_at)
    SELECT id, merchant_id, key_id, event_type, actor_type, actor_id, actor_name, details, client_address, user_agent, created_at
    FROM key_events;
DROP TABLE key_events;
ALTER TABLE key_events_without_tokens RENAME TO key_events;
CREATE INDEX key_events_merchant_idx ON key_events (merchant_id, created_at);
CREATE INDEX key_events_key_idx ON key_events (key_id, created_at);
CREATE INDEX key_events_merchant_type_idx ON key_events (merchant_id, event_type, created_at);
CREATE INDEX key_events_merchant_actor_idx ON key_events (merchant_id, actor_id, created_at);
DROP TABLE idempotency_keys;
DROP TABLE management_tokens;
