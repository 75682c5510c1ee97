-- A member can be disabled in one merchant without touching their other memberships.
ALTER TABLE memberships ADD COLUMN disabled_at TIMESTAMP;

-- An account made with a one-time password must choose its own at first sign-in.
ALTER TABLE users ADD COLUMN password_change_required BOOLEAN NOT NULL DEFAULT FALSE;

-- Events nobody clicks for ("grace ended", "expired", "first used") are recorded once:
-- the key is marked in the same transaction as the event. A renewed key may expire
-- again, so the expiry mark holds the expiry it was recorded for.
ALTER TABLE api_keys ADD COLUMN grace_end_recorded BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE api_keys ADD COLUMN expiry_recorded_for TIMESTAMP;
ALTER TABLE api_keys ADD COLUMN first_use_recorded BOOLEAN NOT NULL DEFAULT FALSE;

-- What lapsed or was used before history recorded it is not recorded now, long after.
UPDATE api_keys SET grace_end_recorded = TRUE WHERE status = 'rotated' AND grace_ends_at <= (CURRENT_TIMESTAMP AT TIME ZONE 'UTC');
UPDATE api_keys SET expiry_recorded_for = expires_at WHERE expires_at <= (CURRENT_TIMESTAMP AT TIME ZONE 'UTC');
UPDATE api_keys SET first_use_recorded = TRUE WHERE last_used_at IS NOT NULL;

-- Only lapses still to record: the sweep's queries repeat these conditions word for word
-- so that both databases use the indexes.
CREATE INDEX api_keys_grace_pending_idx ON api_keys (grace_ends_at)
    WHERE status = 'rotated' AND NOT grace_end_recorded;
CREATE INDEX api_keys_expiry_pending_idx ON api_keys (expires_at)
    WHERE status IN ('active', 'disabled') AND (expiry_recorded_for IS NULL OR expiry_recorded_for <> expires_at);

-- The audit log filters a merchant's events by type and actor.
CREATE INDEX key_events_merchant_type_idx ON key_events (merchant_id, event_type, created_at);
CREATE INDEX key_events_merchant_actor_idx ON key_events (merchant_id, actor_id, created_at);
