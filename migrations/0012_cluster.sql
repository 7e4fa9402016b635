-- What several servers on one database must share (docs/postgres.md, "State outside the
-- database"). On SQLite (one server) the tables stay empty: the signing secret is a file in the
-- data directory and the per-address limits are counted in memory.

-- Secrets every server must agree on: the token-signing key when JWT_SECRET is not given.
CREATE TABLE server_secrets (
    name       TEXT PRIMARY KEY,
    value      BLOB NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

-- Per-address attempts (logins, registrations, recovery) within a sliding window, so that a limit
-- holds for the whole cluster, not per server.
CREATE TABLE client_attempts (
    id      INTEGER PRIMARY KEY,
    limiter TEXT NOT NULL,
    client  TEXT NOT NULL,
    at      INTEGER NOT NULL
) STRICT;

CREATE INDEX client_attempts_window ON client_attempts (limiter, client, at);
