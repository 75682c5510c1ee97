DROP TABLE rate_limit_instances;
DROP TABLE rate_limit_windows;
