DROP TRIGGER api_keys_seq;
DROP INDEX api_keys_seq_idx;
ALTER TABLE api_keys DROP COLUMN seq;
