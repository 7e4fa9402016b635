-- Background jobs (the retention purge, re-encoding old photos) run by one server at a time and,
-- for periodic ones, once per period for the whole cluster (docs/postgres.md). Used on
-- PostgreSQL; on SQLite (one server) the table stays empty.
CREATE TABLE job_leases (
    name         TEXT PRIMARY KEY,
    holder       TEXT NOT NULL,
    leased_until INTEGER NOT NULL,
    last_run_at  INTEGER NOT NULL
) STRICT;
