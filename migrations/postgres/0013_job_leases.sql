-- PostgreSQL twin of migrations/0013_job_leases.sql.
CREATE TABLE job_leases (
    name         TEXT PRIMARY KEY,
    holder       TEXT NOT NULL,
    leased_until BIGINT NOT NULL,
    last_run_at  BIGINT NOT NULL
);
