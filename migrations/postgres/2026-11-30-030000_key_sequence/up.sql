-- The order keys were stored in, so a verifier can read only the digests stored since it
-- last looked (api::known). Transactions may commit out of this order: every insert holds
-- a shared advisory lock until it commits, and a reader takes it exclusively before
-- reading the newest value (db::keys::settled_seq).
ALTER TABLE api_keys ADD COLUMN seq BIGINT GENERATED ALWAYS AS IDENTITY;
CREATE INDEX api_keys_seq_idx ON api_keys (seq);
