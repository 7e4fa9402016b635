-- Subjects (the seed's "classes"), who teaches them, who is enrolled, and students' faces.
-- Times are unix seconds (UTC).

CREATE TABLE subjects (
    id         TEXT PRIMARY KEY CHECK (length(id) = 24),
    name       TEXT NOT NULL,
    -- Upper-cased at input; unique (the seed meant to index it and never did).
    code       TEXT NOT NULL UNIQUE,
    -- Core / Lab / Elective (the seed frontend colours them); NULL = Core.
    kind       TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

-- The seed's subjects.professor_ids: several teachers may share a subject.
CREATE TABLE subject_teachers (
    subject_id TEXT NOT NULL REFERENCES subjects (id) ON DELETE CASCADE,
    teacher_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    added_at   INTEGER NOT NULL,
    PRIMARY KEY (subject_id, teacher_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX subject_teachers_teacher ON subject_teachers (teacher_id);

-- Enrolment, stored once (the seed kept two copies that drifted apart). `verified` is the
-- teacher's approval: only verified enrolments are matched in attendance photos.
CREATE TABLE enrolments (
    subject_id  TEXT NOT NULL REFERENCES subjects (id) ON DELETE CASCADE,
    student_id  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    verified    INTEGER NOT NULL DEFAULT 0 CHECK (verified IN (0, 1)),
    enrolled_at INTEGER NOT NULL,
    PRIMARY KEY (subject_id, student_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX enrolments_student ON enrolments (student_id);

-- Biometric consent per student: faces are stored and matched only while it is given.
ALTER TABLE students ADD COLUMN consent_at INTEGER;
ALTER TABLE students ADD COLUMN consent_by TEXT;

-- One row per enrolment photo: the image lives in the data dir's content-addressed store
-- (faces/<sha256[0..2]>/<sha256>), the embedding here (128 little-endian f32 = 512 bytes).
CREATE TABLE face_samples (
    id           TEXT PRIMARY KEY CHECK (length(id) = 24),
    student_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    image_sha256 TEXT NOT NULL CHECK (length(image_sha256) = 64),
    content_type TEXT NOT NULL,
    embedding    BLOB NOT NULL CHECK (length(embedding) = 512),
    -- Detector box in the upright photo (l, t, r, b) and confidence.
    box_left     INTEGER NOT NULL,
    box_top      INTEGER NOT NULL,
    box_right    INTEGER NOT NULL,
    box_bottom   INTEGER NOT NULL,
    score        REAL NOT NULL,
    added_by     TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at   INTEGER NOT NULL
) STRICT;

CREATE INDEX face_samples_student ON face_samples (student_id, created_at);
CREATE INDEX face_samples_image ON face_samples (image_sha256);
