ALTER TABLE key_events DROP CONSTRAINT key_events_actor_type_check;
ALTER TABLE key_events ADD CONSTRAINT key_events_actor_type_check
    CHECK (actor_type IN ('user', 'support', 'cli', 'system'));
ALTER TABLE key_events DROP COLUMN actor_detail;
DROP TABLE idempotency_keys;
DROP TABLE management_tokens;
