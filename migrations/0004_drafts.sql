-- Attendance drafts: photos a teacher marked with `save`, merged per subject, day and slot
-- until the teacher confirms (the draft is then deleted with its photos) or discards them.
-- Faces keep their embedding so the draft is re-matched against the current gallery on every
-- read, and the teacher's own choice of student for a face (`assigned_to`) wins.

CREATE TABLE attendance_drafts (
    id         TEXT PRIMARY KEY CHECK (length(id) = 24),
    subject_id TEXT NOT NULL REFERENCES subjects (id) ON DELETE CASCADE,
    date       TEXT NOT NULL CHECK (length(date) = 10),
    slot       INTEGER NOT NULL DEFAULT 0,
    created_by TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (subject_id, date, slot)
) STRICT;

-- The photo itself lives in the content-addressed image store, like enrolment photos.
CREATE TABLE draft_photos (
    draft_id     TEXT NOT NULL REFERENCES attendance_drafts (id) ON DELETE CASCADE,
    photo        INTEGER NOT NULL CHECK (photo >= 1),
    image_sha256 TEXT NOT NULL CHECK (length(image_sha256) = 64),
    content_type TEXT NOT NULL,
    width        INTEGER NOT NULL,
    height       INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (draft_id, photo)
) STRICT, WITHOUT ROWID;

CREATE INDEX draft_photos_image ON draft_photos (image_sha256);

CREATE TABLE draft_faces (
    draft_id       TEXT NOT NULL,
    photo          INTEGER NOT NULL,
    face           INTEGER NOT NULL CHECK (face >= 0),
    box_left       INTEGER NOT NULL,
    box_top        INTEGER NOT NULL,
    box_right      INTEGER NOT NULL,
    box_bottom     INTEGER NOT NULL,
    detector_score REAL NOT NULL,
    embedding      BLOB NOT NULL CHECK (length(embedding) = 512),
    -- The teacher's choice: a student, or NULL (left to matching).
    assigned_to    TEXT REFERENCES users (id) ON DELETE SET NULL,
    PRIMARY KEY (draft_id, photo, face),
    FOREIGN KEY (draft_id, photo) REFERENCES draft_photos (draft_id, photo) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

-- Outbox rows know whom they concern and what caused them, so an event that happens again
-- (confirming a session twice) queues a message once, and a correction can withdraw one that
-- has not been sent.
ALTER TABLE outbox ADD COLUMN user_id TEXT REFERENCES users (id) ON DELETE SET NULL;
ALTER TABLE outbox ADD COLUMN ref_key TEXT;
CREATE UNIQUE INDEX outbox_once ON outbox (kind, recipient, ref_key) WHERE ref_key IS NOT NULL;
