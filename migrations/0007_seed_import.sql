-- Imports from the seed system (`rollcall import-seed`): which export document became which
-- row, with a digest of the document, so that importing the same export again inserts nothing
-- twice and a document that changed since is reported instead of overwritten.
-- The seed's per-day summaries become attendance sessions in slot -1 (live sessions use slots
-- 0..=99, so a later confirmation of the same day never merges with one) that have no
-- per-student records (the seed kept none): their counts go straight into attendance_counts,
-- which is what the day, month and total analytics read.

CREATE TABLE seed_imports (
    collection  TEXT NOT NULL,
    seed_id     TEXT NOT NULL CHECK (length(seed_id) = 24),
    -- The rollcall row it became (a users, subjects, attendance_sessions id, or an outbox id).
    target      TEXT NOT NULL,
    digest      TEXT NOT NULL CHECK (length(digest) = 64),
    imported_at INTEGER NOT NULL,
    PRIMARY KEY (collection, seed_id)
) STRICT, WITHOUT ROWID;
