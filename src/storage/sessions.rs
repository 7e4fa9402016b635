//! Login sessions and their rotating refresh tokens (stored as SHA-256 hashes only).

use super::Conn;
use super::sql::args;

use super::{Result, now_unix};
use crate::domain::Id;

pub fn create(conn: &Conn<'_>, id: &str, user: &Id, expires_at: i64, client: &str) -> Result<()> {
    conn.exec(
        "INSERT INTO auth_sessions (id, user_id, created_at, expires_at, client) VALUES (?1, ?2, ?3, ?4, ?5)",
        args![id, user.as_str(), now_unix(), expires_at, client],
    )?;
    Ok(())
}

/// True when the session exists, belongs to `user`, is not revoked and not expired at `now`.
pub fn is_active(conn: &Conn<'_>, id: &str, user: &Id, now: i64) -> Result<bool> {
    Ok(conn
        .query_opt(
            "SELECT 1 FROM auth_sessions
             WHERE id = ?1 AND user_id = ?2 AND revoked_at IS NULL AND expires_at > ?3",
            args![id, user.as_str(), now],
            |_| Ok(()),
        )?
        .is_some())
}

pub fn revoke(conn: &Conn<'_>, id: &str) -> Result<bool> {
    let n = conn.exec(
        "UPDATE auth_sessions SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
        args![id, now_unix()],
    )?;
    Ok(n > 0)
}

pub fn revoke_all_for_user(conn: &Conn<'_>, user: &Id) -> Result<usize> {
    conn.exec(
        "UPDATE auth_sessions SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
        args![user.as_str(), now_unix()],
    )
}

pub fn insert_refresh(conn: &Conn<'_>, hash: &str, session: &str, expires_at: i64) -> Result<()> {
    conn.exec(
        "INSERT INTO refresh_tokens (token_hash, session_id, issued_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
        args![hash, session, now_unix(), expires_at],
    )?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct RefreshToken {
    pub session_id: String,
    pub user_id: Id,
    pub expires_at: i64,
    pub used: bool,
    pub session_revoked: bool,
}

pub fn refresh_by_hash(conn: &Conn<'_>, hash: &str) -> Result<Option<RefreshToken>> {
    conn.query_opt(
            "SELECT r.session_id, s.user_id, r.expires_at, r.used_at IS NOT NULL, s.revoked_at IS NOT NULL
             FROM refresh_tokens r JOIN auth_sessions s ON s.id = r.session_id
             WHERE r.token_hash = ?1",
            args![hash],
            |r| {
                Ok(RefreshToken {
                    session_id: r.get(0)?,
                    user_id: Id::from_db(r.get(1)?),
                    expires_at: r.get(2)?,
                    used: r.get(3)?,
                    session_revoked: r.get(4)?,
                })
            },
        )
}

/// Mark a refresh token used; false if it was already used (a concurrent or replayed refresh).
pub fn mark_refresh_used(conn: &Conn<'_>, hash: &str) -> Result<bool> {
    let n = conn.exec(
        "UPDATE refresh_tokens SET used_at = ?2 WHERE token_hash = ?1 AND used_at IS NULL",
        args![hash, now_unix()],
    )?;
    Ok(n > 0)
}
