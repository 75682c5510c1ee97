-- A member can be disabled in one merchant without touching their other memberships.
ALTER TABLE memberships ADD COLUMN disabled_at TIMESTAMP;

-- An account made with a one-time password must choose its own at first sign-in.
ALTER TABLE users ADD COLUMN password_change_required BOOLEAN NOT NULL DEFAULT FALSE;

-- Events nobody clicks for ("grace ended", "expired") are recorded once: the sweep marks
-- the key in the same transaction as the event. A renewed key may expire again, so the
-- expiry mark holds the expiry it was recorded for.
ALTER TABLE api_keys ADD COLUMN grace_end_recorded BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE api_keys ADD COLUMN expiry_recorded_for TIMESTAMP;
CREATE INDEX api_keys_grace_pending_idx ON api_keys (grace_ends_at) WHERE status = 'rotated';
CREATE INDEX api_keys_expiring_idx ON api_keys (expires_at) WHERE status IN ('active', 'disabled');

-- The audit log filters a merchant's events by type and actor.
CREATE INDEX key_events_merchant_type_idx ON key_events (merchant_id, event_type, created_at);
CREATE INDEX key_events_merchant_actor_idx ON key_events (merchant_id, actor_id, created_at);
