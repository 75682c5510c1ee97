DROP TABLE key_policies;
DROP TABLE key_events;
DROP TABLE api_keys;
