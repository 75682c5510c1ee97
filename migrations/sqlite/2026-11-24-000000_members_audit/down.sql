DROP INDEX key_events_merchant_actor_idx;
DROP INDEX key_events_merchant_type_idx;
DROP INDEX api_keys_expiry_pending_idx;
DROP INDEX api_keys_grace_pending_idx;
ALTER TABLE api_keys DROP COLUMN first_use_recorded;
ALTER TABLE api_keys DROP COLUMN expiry_recorded_for;
ALTER TABLE api_keys DROP COLUMN grace_end_recorded;
ALTER TABLE users DROP COLUMN password_change_required;
ALTER TABLE memberships DROP COLUMN disabled_at;
