DROP INDEX management_tokens_request_id;
ALTER TABLE management_tokens DROP COLUMN request_id;
