-- Management tokens: what automation (a deploy pipeline, Terraform, a script) uses to
-- manage a merchant's keys through /api/v1. Like keys, only a peppered digest and a
-- masked form are stored; the token is shown once.
CREATE TABLE management_tokens (
    id TEXT PRIMARY KEY,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    name TEXT NOT NULL,
    scopes TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    masked_token TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    created_by TEXT NOT NULL,
    created_by_id TEXT,
    expires_at TIMESTAMP,
    last_used_at TIMESTAMP,
    last_used_from TEXT,
    revoked_at TIMESTAMP,
    revoked_by TEXT,
    -- The one-time value of the New Management Token form that made the token: a form
    -- sent twice at once (a double click, two tabs racing) makes one token, never two.
    request_id TEXT
);
CREATE UNIQUE INDEX management_tokens_request_id ON management_tokens (request_id);
CREATE INDEX management_tokens_merchant ON management_tokens (merchant_id, created_at);

-- What a POST sent with an Idempotency-Key answered, so a retry answers the same
-- without changing anything again. A key's plaintext is never stored here.
CREATE TABLE idempotency_keys (
    token_id TEXT NOT NULL REFERENCES management_tokens (id) ON DELETE CASCADE,
    idempotency_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status_code INTEGER,
    response_body TEXT,
    location TEXT,
    created_at TIMESTAMP NOT NULL,
    -- When the attempt now running began: one that has run longer than any request can
    -- (its instance died) is given up, so a retry need not wait out the 24 hours.
    attempted_at TIMESTAMP NOT NULL,
    PRIMARY KEY (token_id, idempotency_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- A change made with a token is recorded with the actor type 'token' and whom the token
-- acts for ("created by Ana Lima", in actor_detail). SQLite cannot change a CHECK
-- constraint in place, so the table is rebuilt with its rows and indexes (nothing
-- references key_events).
CREATE TABLE key_events_with_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    merchant_id TEXT NOT NULL REFERENCES merchants (id) ON DELETE CASCADE,
    key_id TEXT REFERENCES api_keys (id),
    event_type TEXT NOT NULL,
    actor_type TEXT NOT NULL CHECK (actor_type IN ('user', 'support', 'cli', 'system', 'token')),
    actor_id TEXT,
    actor_name TEXT NOT NULL,
    details TEXT NOT NULL DEFAULT '{}',
    client_address TEXT,
    user_agent TEXT,
    created_at TIMESTAMP NOT NULL,
    actor_detail TEXT
);
INSERT INTO key_events_with_tokens
    (id, merchant_id, key_id, event_type, actor_type, actor_id, actor_name, details, client_address, user_agent, created_at, actor_detail)
    SELECT id, merchant_id, key_id, event_type, actor_type, actor_id, actor_name, details, client_address, user_agent, created_at, NULL
    FROM key_events;
DROP TABLE key_events;
ALTER TABLE key_events_with_tokens RENAME TO key_events;
CREATE INDEX key_events_merchant_idx ON key_events (merchant_id, created_at);
CREATE INDEX key_events_key_idx ON key_events (key_id, created_at);
CREATE INDEX key_events_merchant_type_idx ON key_events (merchant_id, event_type, created_at);
CREATE INDEX key_events_merchant_actor_idx ON key_events (merchant_id, actor_id, created_at);
