-- Photos kept in the database rather than as files in a server's data directory (see
-- migrations/0011_images.sql, the SQLite twin, which leaves these tables empty): face samples'
-- and attendance drafts' photos, content-addressed by the SHA-256 of their bytes, and
-- teachers' avatars. Every server on the database reads and writes the same rows, so none
-- keeps a photo another one needs (docs/postgres.md §2).
CREATE TABLE images (
    sha256     TEXT PRIMARY KEY CHECK (length(sha256) = 64),
    bytes      BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);

-- JPEG and WebP do not compress: stored out of line uncompressed (no CPU spent on a vain
-- attempt), which also lets substr() read the head of a photo without fetching all of it.
ALTER TABLE images ALTER COLUMN bytes SET STORAGE EXTERNAL;

CREATE TABLE avatars (
    name         TEXT PRIMARY KEY,
    content_type TEXT NOT NULL,
    bytes        BYTEA NOT NULL,
    created_at   BIGINT NOT NULL
);

ALTER TABLE avatars ALTER COLUMN bytes SET STORAGE EXTERNAL;
