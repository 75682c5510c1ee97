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

-- Who a token-made change was made through: "created by Ana Lima" beside "token deploy";
-- and the actor check lets a token in.
ALTER TABLE key_events ADD COLUMN actor_detail TEXT;
ALTER TABLE key_events DROP CONSTRAINT key_events_actor_type_check;
ALTER TABLE key_events ADD CONSTRAINT key_events_actor_type_check
    CHECK (actor_type IN ('user', 'support', 'cli', 'system', 'token'));
