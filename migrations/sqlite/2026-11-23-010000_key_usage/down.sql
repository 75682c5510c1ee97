DROP TABLE key_usage_hourly;
ALTER TABLE api_keys DROP COLUMN rate_limit_per_minute;
ALTER TABLE api_keys DROP COLUMN last_used_from;
