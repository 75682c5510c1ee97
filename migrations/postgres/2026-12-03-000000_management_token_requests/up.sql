-- The one-time value of the New Management Token form that made each token: a form sent
-- twice at once (a double click, two tabs racing) makes one token, never two.
ALTER TABLE management_tokens ADD COLUMN request_id TEXT;
CREATE UNIQUE INDEX management_tokens_request_id ON management_tokens (request_id);
