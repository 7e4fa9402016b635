-- E-mail delivery. The worker leases the rows it is sending (claimed_until), so a second worker
-- or a restart never sends a row another attempt is still busy with; teacher notifications
-- record who sent them and their details for statistics; every user can switch topics off.

ALTER TABLE outbox ADD COLUMN claimed_until INTEGER;
ALTER TABLE outbox ADD COLUMN sent_by TEXT REFERENCES users (id) ON DELETE SET NULL;
ALTER TABLE outbox ADD COLUMN recipient_name TEXT;
-- A JSON object (the seed's log "metadata"), e.g. {"subject": "Maths", "date": "2026-02-15"}.
ALTER TABLE outbox ADD COLUMN meta TEXT;

CREATE INDEX outbox_sender ON outbox (sent_by, created_at) WHERE sent_by IS NOT NULL;

-- A missing row means "on": only switched-off (or explicitly switched-on) topics are stored.
CREATE TABLE mail_switches (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    topic      TEXT NOT NULL,
    enabled    INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, topic)
) STRICT;
