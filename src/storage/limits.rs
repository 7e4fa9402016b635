//! Authentication counters kept in the database, so that they are exact under concurrent
//! requests (each is read and written inside one IMMEDIATE transaction) and survive a restart:
//! login attempts per account, and account-recovery events (reset codes issued, wrong codes).

use super::Conn;
use super::sql::args;

use super::Result;
use crate::domain::Id;

/// An account's login attempts since its last success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginThrottle {
    pub failures: i64,
    pub blocked_until: i64,
    pub forget_at: i64,
}

pub fn login_throttle(conn: &Conn<'_>, account: &str) -> Result<Option<LoginThrottle>> {
    conn.query_opt(
        "SELECT failures, blocked_until, forget_at FROM login_throttle WHERE account = ?1",
        args![account],
        |r| {
            Ok(LoginThrottle {
                failures: r.get(0)?,
                blocked_until: r.get(1)?,
                forget_at: r.get(2)?,
            })
        },
    )
}

pub fn put_login_throttle(conn: &Conn<'_>, account: &str, t: LoginThrottle) -> Result<()> {
    conn.exec(
        "INSERT INTO login_throttle (account, failures, blocked_until, forget_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (account) DO UPDATE SET failures = excluded.failures,
             blocked_until = excluded.blocked_until, forget_at = excluded.forget_at",
        args![account, t.failures, t.blocked_until, t.forget_at],
    )?;
    Ok(())
}

/// Forget an account's attempts (a successful login or a password reset).
pub fn clear_login_throttle(conn: &Conn<'_>, account: &str) -> Result<()> {
    conn.exec(
        "DELETE FROM login_throttle WHERE account = ?1",
        args![account],
    )?;
    Ok(())
}

/// Drop the rows of accounts that have been quiet long enough (keeps the table small when
/// many addresses are tried once).
pub fn forget_quiet_accounts(conn: &Conn<'_>, now: i64) -> Result<usize> {
    conn.exec(
        "DELETE FROM login_throttle WHERE forget_at <= ?1",
        args![now],
    )
}

/// What a recovery event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoveryEvent {
    /// A reset code was issued (and its e-mail queued).
    CodeIssued,
    /// A wrong reset code was presented.
    WrongCode,
}

impl RecoveryEvent {
    fn as_str(self) -> &'static str {
        match self {
            Self::CodeIssued => "code_issued",
            Self::WrongCode => "wrong_code",
        }
    }
}

/// How many `kind` events the user has had after `since` (a window of the last N seconds).
pub fn count_recovery(conn: &Conn<'_>, user: &Id, kind: RecoveryEvent, since: i64) -> Result<i64> {
    conn.query_one(
        "SELECT COUNT(*) FROM recovery_events WHERE user_id = ?1 AND kind = ?2 AND at > ?3",
        args![user.as_str(), kind.as_str(), since],
        |r| r.get(0),
    )
}

/// Record one event, and drop the user's events of that kind at or before `keep_since`.
pub fn record_recovery(
    conn: &Conn<'_>,
    user: &Id,
    kind: RecoveryEvent,
    at: i64,
    keep_since: i64,
) -> Result<()> {
    conn.exec(
        "DELETE FROM recovery_events WHERE user_id = ?1 AND kind = ?2 AND at <= ?3",
        args![user.as_str(), kind.as_str(), keep_since],
    )?;
    conn.exec(
        "INSERT INTO recovery_events (user_id, kind, at) VALUES (?1, ?2, ?3)",
        args![user.as_str(), kind.as_str(), at],
    )?;
    Ok(())
}
