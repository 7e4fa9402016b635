-- Where each face sample came from, shown to the teacher next to it:
--   upload   an enrolment photo (POST /api/students/upload-face)
--   teacher  a face the teacher assigned in an attendance draft and asked to enrol
--   learned  a face of a confirmed draft the teacher vouched for (assigned, or accepted while
--            uncertain) and the server added by itself (ROLLCALL_LEARN_FROM_CONFIRM)
--   import   a photo enrolled from a folder by `rollcall enroll` / `import-seed --faces`
-- Rows from before this column cannot be told apart (a draft assignment's crop looks like an
-- upload to the database): they are recorded as `upload`.
ALTER TABLE face_samples ADD COLUMN source TEXT NOT NULL DEFAULT 'upload'
    CHECK (source IN ('upload', 'teacher', 'learned', 'import'));
