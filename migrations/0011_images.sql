-- Photos kept in the database rather than as files in the data directory: face samples' and
-- attendance drafts' photos (content-addressed, named by the SHA-256 of their bytes, shared by
-- every row showing the same bytes) and teachers' avatars. Used on PostgreSQL, where several
-- servers share the database and no server's own disk may hold what another one serves
-- (docs/postgres.md §2). A SQLite server keeps them as files under <data_dir>/faces and
-- <data_dir>/avatars, as before, and leaves these tables empty: one schema for both backends.
--
-- An image row is written in the transaction that inserts the first row naming it (a face
-- sample or a draft photo), and deleted, like a file, only once no face sample and no draft
-- photo names it any more.
CREATE TABLE images (
    sha256     TEXT PRIMARY KEY CHECK (length(sha256) = 64),
    bytes      BLOB NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

-- Avatars are served at /avatars/<name>; the name is the SHA-256 of the re-encoded JPEG plus
-- its extension. Never deleted, as their files never were.
CREATE TABLE avatars (
    name         TEXT PRIMARY KEY,
    content_type TEXT NOT NULL,
    bytes        BLOB NOT NULL,
    created_at   INTEGER NOT NULL
) STRICT;
