-- An invitation to join a merchant is addressed to an email, whatever account exists
-- behind it (if any): the account with that email accepts or declines it after signing
-- in, so nobody joins a merchant without consent and the admin learns nothing about
-- the account until it has accepted.
CREATE TABLE invitations (
    id TEXT PRIMARY KEY NOT NULL,
    merchant_id TEXT NOT NULL REFERENCES merchants (id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'developer', 'viewer')),
    invited_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    -- The "expired" event is recorded once: the invitation is marked in its transaction.
    expiry_recorded BOOLEAN NOT NULL DEFAULT FALSE
);
-- One invitation per email and merchant at a time.
CREATE UNIQUE INDEX invitations_merchant_email_key ON invitations (merchant_id, email);
-- The invitee's invitations, counted on every page they open.
CREATE INDEX invitations_email_idx ON invitations (email);
-- The sweep's expiries to record.
CREATE INDEX invitations_expires_idx ON invitations (expires_at);
