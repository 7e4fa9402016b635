-- PostgreSQL twin of migrations/0014_invitations.sql.
CREATE TABLE invitations (
    user_id          TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    token_hash       TEXT NOT NULL UNIQUE,
    first_sent_at    BIGINT NOT NULL,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    accepted_at      BIGINT,
    invited_by       TEXT REFERENCES users (id) ON DELETE SET NULL,
    sent_count       BIGINT NOT NULL DEFAULT 1
);
