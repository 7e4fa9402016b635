-- Attendance: one session per subject, day and slot (the period of the day; 0 when the
-- school does not number them), and one record per enrolled student per session.
-- Summaries are always computed from the records, so confirming again cannot double count.
-- Times are unix seconds (UTC); `date` is the calendar day 'YYYY-MM-DD'.

CREATE TABLE attendance_sessions (
    id           TEXT PRIMARY KEY CHECK (length(id) = 24),
    subject_id   TEXT NOT NULL REFERENCES subjects (id) ON DELETE CASCADE,
    date         TEXT NOT NULL CHECK (length(date) = 10),
    slot         INTEGER NOT NULL DEFAULT 0,
    confirmed_by TEXT REFERENCES users (id) ON DELETE SET NULL,
    confirmed_at INTEGER,
    created_at   INTEGER NOT NULL,
    UNIQUE (subject_id, date, slot)
) STRICT;

CREATE INDEX attendance_sessions_date ON attendance_sessions (date);

CREATE TABLE attendance_records (
    session_id TEXT NOT NULL REFERENCES attendance_sessions (id) ON DELETE CASCADE,
    student_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status     TEXT NOT NULL CHECK (status IN ('present', 'late', 'excused', 'absent')),
    source     TEXT NOT NULL DEFAULT 'manual' CHECK (source IN ('photo', 'manual', 'correction')),
    -- Face distance when the decision came from a photo match.
    distance   REAL,
    PRIMARY KEY (session_id, student_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX attendance_records_student ON attendance_records (student_id, session_id);
