-- Analytics: each session's counts per status, kept by triggers on attendance_records in the
-- same transaction as the records themselves (a confirmation that replaces a session's records,
-- a correction, a cascade from a deleted session or subject). A figure over a year of a school's
-- sessions then reads one small row per session instead of every record. `subject_id` and
-- `date` are copied from the session (neither ever changes) so that the per-day scan of a
-- subject is one covering-index range. The triggers never rely on a conflict clause (`INSERT OR
-- IGNORE`): an outer upsert (a correction) would override it.

CREATE TABLE attendance_counts (
    session_id TEXT PRIMARY KEY REFERENCES attendance_sessions (id) ON DELETE CASCADE,
    subject_id TEXT NOT NULL,
    date       TEXT NOT NULL,
    present    INTEGER NOT NULL DEFAULT 0,
    late       INTEGER NOT NULL DEFAULT 0,
    excused    INTEGER NOT NULL DEFAULT 0,
    absent     INTEGER NOT NULL DEFAULT 0
) STRICT, WITHOUT ROWID;

CREATE INDEX attendance_counts_subject_day
    ON attendance_counts (subject_id, date, present, late, excused, absent);

INSERT INTO attendance_counts (session_id, subject_id, date, present, late, excused, absent)
SELECT a.id, a.subject_id, a.date,
       SUM(r.status = 'present'), SUM(r.status = 'late'),
       SUM(r.status = 'excused'), SUM(r.status = 'absent')
FROM attendance_sessions a JOIN attendance_records r ON r.session_id = a.id
GROUP BY a.id;

CREATE TRIGGER attendance_counts_insert AFTER INSERT ON attendance_records
BEGIN
    INSERT INTO attendance_counts (session_id, subject_id, date)
        SELECT id, subject_id, date FROM attendance_sessions WHERE id = NEW.session_id
        AND NOT EXISTS (SELECT 1 FROM attendance_counts WHERE session_id = NEW.session_id);
    UPDATE attendance_counts SET
        present = present + (NEW.status = 'present'),
        late    = late    + (NEW.status = 'late'),
        excused = excused + (NEW.status = 'excused'),
        absent  = absent  + (NEW.status = 'absent')
    WHERE session_id = NEW.session_id;
END;

CREATE TRIGGER attendance_counts_delete AFTER DELETE ON attendance_records
BEGIN
    UPDATE attendance_counts SET
        present = present - (OLD.status = 'present'),
        late    = late    - (OLD.status = 'late'),
        excused = excused - (OLD.status = 'excused'),
        absent  = absent  - (OLD.status = 'absent')
    WHERE session_id = OLD.session_id;
END;

CREATE TRIGGER attendance_counts_update AFTER UPDATE OF session_id, status ON attendance_records
BEGIN
    UPDATE attendance_counts SET
        present = present - (OLD.status = 'present'),
        late    = late    - (OLD.status = 'late'),
        excused = excused - (OLD.status = 'excused'),
        absent  = absent  - (OLD.status = 'absent')
    WHERE session_id = OLD.session_id;
    INSERT INTO attendance_counts (session_id, subject_id, date)
        SELECT id, subject_id, date FROM attendance_sessions WHERE id = NEW.session_id
        AND NOT EXISTS (SELECT 1 FROM attendance_counts WHERE session_id = NEW.session_id);
    UPDATE attendance_counts SET
        present = present + (NEW.status = 'present'),
        late    = late    + (NEW.status = 'late'),
        excused = excused + (NEW.status = 'excused'),
        absent  = absent  + (NEW.status = 'absent')
    WHERE session_id = NEW.session_id;
END;
