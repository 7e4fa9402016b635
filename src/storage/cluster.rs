//! What several servers on one PostgreSQL database share beyond the school's rows
//! (docs/postgres.md): secrets they must agree on, and per-address attempt windows.

use super::sql::args;
use super::{Conn, Result};

/// The secret `name`: the stored one, or `fresh` stored now if there is none. Two servers
/// starting together store one value and both read it.
pub fn secret_or_insert(conn: &Conn<'_>, name: &str, fresh: &[u8], now: i64) -> Result<Vec<u8>> {
    conn.exec(
        "INSERT INTO server_secrets (name, value, created_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (name) DO NOTHING",
        args![name, fresh, now],
    )?;
    conn.query_one(
        "SELECT value FROM server_secrets WHERE name = ?1",
        args![name],
        |r| r.get(0),
    )
}

/// The attempts of `client` under `limiter` after `since`, oldest first (their times).
pub fn attempts(conn: &Conn<'_>, limiter: &str, client: &str, since: i64) -> Result<Vec<i64>> {
    conn.query_all(
        "SELECT at FROM client_attempts WHERE limiter = ?1 AND client = ?2 AND at > ?3
         ORDER BY at, id",
        args![limiter, client, since],
        |r| r.get(0),
    )
}

/// Count one attempt, forgetting every client's attempts under `limiter` at or before
/// `forget_until` (so the table holds one window's attempts, however many addresses try once).
pub fn add_attempt(
    conn: &Conn<'_>,
    limiter: &str,
    client: &str,
    at: i64,
    forget_until: i64,
) -> Result<()> {
    conn.exec(
        "DELETE FROM client_attempts WHERE limiter = ?1 AND at <= ?2",
        args![limiter, forget_until],
    )?;
    conn.exec(
        "INSERT INTO client_attempts (limiter, client, at) VALUES (?1, ?2, ?3)",
        args![limiter, client, at],
    )?;
    Ok(())
}

/// Give back the newest attempt of `client` under `limiter`.
pub fn undo_attempt(conn: &Conn<'_>, limiter: &str, client: &str) -> Result<()> {
    conn.exec(
        "DELETE FROM client_attempts WHERE id IN (
             SELECT id FROM client_attempts WHERE limiter = ?1 AND client = ?2
             ORDER BY at DESC, id DESC LIMIT 1)",
        args![limiter, client],
    )?;
    Ok(())
}
