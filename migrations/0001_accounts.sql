-- Accounts, sessions, one-time codes, the notification outbox and the audit log.
-- Times are unix seconds (UTC) unless a column name says otherwise.

CREATE TABLE users (
    id            TEXT PRIMARY KEY CHECK (length(id) = 24),
    email         TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'teacher', 'student')),
    password_hash TEXT NOT NULL,
    college_name  TEXT NOT NULL DEFAULT '',
    is_verified   INTEGER NOT NULL DEFAULT 0 CHECK (is_verified IN (0, 1)),
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;

CREATE INDEX users_role ON users (role);

CREATE TABLE teachers (
    user_id     TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    employee_id TEXT NOT NULL DEFAULT '',
    phone       TEXT NOT NULL DEFAULT '',
    branch      TEXT NOT NULL DEFAULT '',
    department  TEXT,
    avatar_url  TEXT,
    -- The teacher's UI preferences as the seed frontend sends them (JSON object); NULL = defaults.
    settings    TEXT,
    -- The teacher's timetable, holidays and exams (JSON object, seed Schedule model); NULL = {}.
    schedule    TEXT
) STRICT;

CREATE TABLE students (
    user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    roll    TEXT NOT NULL DEFAULT '',
    branch  TEXT NOT NULL DEFAULT '',
    year    TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE TABLE email_verifications (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX email_verifications_user ON email_verifications (user_id);

CREATE TABLE password_resets (
    user_id         TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    otp_hash        TEXT NOT NULL,
    expires_at      INTEGER NOT NULL,
    failed_attempts INTEGER NOT NULL DEFAULT 0
) STRICT;

-- One row per login; access tokens carry its id, refresh tokens rotate within it.
CREATE TABLE auth_sessions (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER,
    client     TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX auth_sessions_user ON auth_sessions (user_id);

CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES auth_sessions (id) ON DELETE CASCADE,
    issued_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT;

CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

-- Messages are written here in the same transaction as the event that causes them;
-- a delivery worker sends them.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    kind            TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body_text       TEXT NOT NULL,
    body_html       TEXT,
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER
) STRICT;

CREATE INDEX outbox_due ON outbox (status, next_attempt_at);

CREATE TABLE audit_log (
    id       INTEGER PRIMARY KEY,
    at       INTEGER NOT NULL,
    actor_id TEXT,
    action   TEXT NOT NULL,
    target   TEXT,
    detail   TEXT
) STRICT;
