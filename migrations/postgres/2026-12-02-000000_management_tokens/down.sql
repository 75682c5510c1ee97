ALTER TABLE key_events DROP COLUMN actor_detail;
DROP TABLE idempotency_keys;
DROP TABLE management_tokens;
