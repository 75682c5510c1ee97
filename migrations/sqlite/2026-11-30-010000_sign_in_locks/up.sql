-- An account (the email as typed at sign-in, whether or not it has an account) locked
-- after repeated failed password checks, for a short time. Its failures are counted
-- from the end of its latest lock.
CREATE TABLE sign_in_locks (
    id TEXT PRIMARY KEY NOT NULL,
    email TEXT NOT NULL,
    address TEXT NOT NULL,
    locked_at TIMESTAMP NOT NULL,
    locked_until TIMESTAMP NOT NULL
);
CREATE INDEX sign_in_locks_email_idx ON sign_in_locks (email, locked_until);

-- Only signed-in sessions are stored from now on: a visitor's CSRF token lives in a
-- signed cookie of its own, and the visitors' rows stored until now are of no use.
DELETE FROM sessions WHERE user_id IS NULL;
