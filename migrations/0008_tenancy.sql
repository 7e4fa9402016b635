-- Whose students and faces are whose (the security issue's tenancy rules).
--
-- `students.created_by`: the staff member who created the account. A teacher may enrol in their
-- subject the students they created, or students in no other teacher's class; anyone else needs
-- the student (joining the subject themselves) or an administrator.
-- `students.roll_confirmed`: roll numbers come from staff. A roll typed at self-registration is
-- kept for display (0) but never matched when a teacher adds students by roll, until staff set it.
-- `face_samples.approved`: a photo a student uploaded of themselves is matched in class photos
-- only once a teacher of theirs or an administrator approved it (ROLLCALL_REVIEW_SELF_UPLOADS);
-- every existing sample was added under the old rules and stays approved.

ALTER TABLE students ADD COLUMN created_by TEXT REFERENCES users (id) ON DELETE SET NULL;
ALTER TABLE students ADD COLUMN roll_confirmed INTEGER NOT NULL DEFAULT 1 CHECK (roll_confirmed IN (0, 1));

ALTER TABLE face_samples ADD COLUMN approved INTEGER NOT NULL DEFAULT 1 CHECK (approved IN (0, 1));
ALTER TABLE face_samples ADD COLUMN approved_by TEXT REFERENCES users (id) ON DELETE SET NULL;
