-- Issue 15: keys restricted by address and environment, and a request log per key.
--
-- A key's environment: `live` keys are `kw_live_…`, `test` keys `kw_test_…`. Every key
-- issued before this is live. Each environment has its own list, count and limit.
ALTER TABLE api_keys ADD COLUMN environment TEXT NOT NULL DEFAULT 'live'
    CHECK (environment IN ('live', 'test'));
-- The addresses and CIDR ranges a key may be used from, canonical and separated by
-- spaces; empty means any address.
ALTER TABLE api_keys ADD COLUMN allowed_ips TEXT NOT NULL DEFAULT '';
-- The user agent of the key's last accepted request, beside last_used_from.
ALTER TABLE api_keys ADD COLUMN last_used_agent TEXT;
-- A test key's secret, sealed with a key derived from the pepper, so the Key Policy may
-- let it be revealed again. Always NULL for live keys.
ALTER TABLE api_keys ADD COLUMN sealed_secret TEXT;

CREATE INDEX api_keys_merchant_environment ON api_keys (merchant_id, environment, status);

-- Whether test keys may be revealed again (Stripe lets sandbox keys be); off by default.
ALTER TABLE key_policies ADD COLUMN test_keys_revealable BOOLEAN NOT NULL DEFAULT FALSE;

-- Recent verifications. Every refused request is a row of its own, under its request ID;
-- accepted ones are one row per key, client address and minute, with a count. Requests
-- whose key matches none are kept (key_id NULL) only for a merchant named by a valid
-- X-Merchant-Id. Written in the usage flush's batches, pruned by the sweep.
CREATE TABLE key_requests (
    id TEXT PRIMARY KEY,
    merchant_id TEXT NOT NULL REFERENCES merchants (id) ON DELETE CASCADE,
    key_id TEXT REFERENCES api_keys (id) ON DELETE CASCADE,
    -- The key as presented, masked (prefix, four characters, last four).
    presented_key TEXT NOT NULL DEFAULT '',
    -- The start of the minute: accepted rows are counted per key, address and minute.
    minute TIMESTAMP NOT NULL,
    first_at TIMESTAMP NOT NULL,
    last_at TIMESTAMP NOT NULL,
    -- `accepted`, or the API error code the request was answered with.
    outcome TEXT NOT NULL,
    -- The refused request's X-Request-Id; empty for accepted rows.
    request_id TEXT NOT NULL DEFAULT '',
    client_address TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT '',
    -- For forward-auth: the method and path the gateway reports.
    method TEXT NOT NULL DEFAULT '',
    path TEXT NOT NULL DEFAULT '',
    -- The fact the refusal rested on that the key row will not keep: the scope asked
    -- for, the allowlist at the time, the merchant named.
    detail TEXT NOT NULL DEFAULT '',
    count BIGINT NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX key_requests_bucket
    ON key_requests (key_id, minute, client_address, outcome, request_id);
CREATE INDEX key_requests_merchant ON key_requests (merchant_id, last_at);
CREATE INDEX key_requests_key ON key_requests (key_id, last_at);
CREATE INDEX key_requests_request_id ON key_requests (request_id);
-- A request whose key matched none is counted past the per-minute cap in one row per
-- merchant, minute, address and outcome (key_id is NULL there, which the bucket index
-- above never finds equal); the prune walks rows by their last request.
CREATE UNIQUE INDEX key_requests_unknown_bucket
    ON key_requests (merchant_id, minute, client_address, outcome)
    WHERE key_id IS NULL AND request_id = '';
CREATE INDEX key_requests_last_at ON key_requests (last_at);
