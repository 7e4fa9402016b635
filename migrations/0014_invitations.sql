-- Invitations: an account the school office creates without a password gets a single-use link
-- to choose one (README "Invitations"). One row per account: sending a new link replaces the
-- token, so an earlier link stops working. Only a keyed hash of the token is stored.
CREATE TABLE invitations (
    user_id          TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    token_hash       TEXT NOT NULL UNIQUE,
    -- When the first link was sent, and when the current one was.
    first_sent_at    INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    -- Set when the link was used to choose a password; the token is then spent.
    accepted_at      INTEGER,
    invited_by       TEXT REFERENCES users (id) ON DELETE SET NULL,
    -- Links sent so far (the first one and every resend).
    sent_count       INTEGER NOT NULL DEFAULT 1
) STRICT;
