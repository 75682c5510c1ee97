-- Rate limits counted for every instance together when no Redis is configured (on
-- Postgres; SQLite runs one instance and keeps the tables empty). Each instance adds
-- what it admitted to its scope's one-minute window (a key, a client address) every
-- sync, reads the total back, and splits what is left with the instances alive, which
-- it learns from their heartbeats. Windows are unix milliseconds at a minute's start.
CREATE TABLE rate_limit_windows (
    scope TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    hits BIGINT NOT NULL,
    PRIMARY KEY (scope, window_start)
);

CREATE TABLE rate_limit_instances (
    instance_id TEXT PRIMARY KEY,
    seen_at BIGINT NOT NULL
);
