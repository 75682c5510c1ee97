DROP TABLE key_requests;
ALTER TABLE key_policies DROP COLUMN test_keys_revealable;
DROP INDEX api_keys_merchant_environment;
ALTER TABLE api_keys DROP COLUMN sealed_secret;
ALTER TABLE api_keys DROP COLUMN last_used_agent;
ALTER TABLE api_keys DROP COLUMN allowed_ips;
ALTER TABLE api_keys DROP COLUMN environment;
