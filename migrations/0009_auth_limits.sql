-- Authentication limits that must be exact under concurrent requests and survive a restart.
-- Times are unix seconds.

-- Login attempts per account, keyed by the e-mail as typed (trimmed, lower case), whether or not
-- an account has it, so that the limits never tell which addresses exist. An attempt is counted
-- before its password is checked; a successful login deletes the row.
CREATE TABLE login_throttle (
    account       TEXT PRIMARY KEY,
    -- attempts counted since the last success (or since the row was forgotten)
    failures      INTEGER NOT NULL CHECK (failures >= 0),
    -- no attempt is checked before this time
    blocked_until INTEGER NOT NULL,
    -- quiet until then: the row is dropped and the account starts afresh
    forget_at     INTEGER NOT NULL
) STRICT;

CREATE INDEX login_throttle_forget ON login_throttle (forget_at);

-- Account recovery per account, across reset codes: codes issued (capped per hour) and wrong
-- codes presented (capped per day).
CREATE TABLE recovery_events (
    id      INTEGER PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind    TEXT NOT NULL CHECK (kind IN ('code_issued', 'wrong_code')),
    at      INTEGER NOT NULL
) STRICT;

CREATE INDEX recovery_events_user ON recovery_events (user_id, kind, at);
