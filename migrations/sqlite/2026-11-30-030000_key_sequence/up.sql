-- The order keys were stored in, so a verifier can read only the digests stored since it
-- last looked (api::known). SQLite commits one writer at a time, so rowid order is commit
-- order; a trigger copies it, as a column added to a table cannot alias rowid.
ALTER TABLE api_keys ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
UPDATE api_keys SET seq = rowid;
CREATE INDEX api_keys_seq_idx ON api_keys (seq);
CREATE TRIGGER api_keys_seq AFTER INSERT ON api_keys BEGIN
    UPDATE api_keys SET seq = NEW.rowid WHERE rowid = NEW.rowid;
END;
