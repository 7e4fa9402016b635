//! Invitation links: one row per account holding the keyed hash of its current token (a new
//! link replaces the old one), when it runs out and whether it was used.

use super::sql::{Row, args};
use super::{Conn, Result};
use crate::domain::Id;
use crate::domain::invitations::Invitation;

const COLUMNS: &str =
    "user_id, first_sent_at, created_at, expires_at, accepted_at, invited_by, sent_count";

pub(super) fn from_row_at(row: &Row<'_>, at: usize) -> Result<Invitation> {
    Ok(Invitation {
        user_id: Id::from_db(row.get(at)?),
        first_sent_at: row.get(at + 1)?,
        sent_at: row.get(at + 2)?,
        expires_at: row.get(at + 3)?,
        accepted_at: row.get(at + 4)?,
        invited_by: row.get::<Option<String>>(at + 5)?.map(Id::from_db),
        sent_count: row.get(at + 6)?,
    })
}

/// Store a fresh link for `user`: the first one, or one replacing every earlier link (which
/// stops working at once, accepted or not).
pub fn put(
    conn: &Conn<'_>,
    user: &Id,
    token_hash: &str,
    now: i64,
    expires_at: i64,
    by: Option<&Id>,
) -> Result<()> {
    conn.exec(
        "INSERT INTO invitations (user_id, token_hash, first_sent_at, created_at, expires_at,
                                  accepted_at, invited_by, sent_count)
         VALUES (?1, ?2, ?3, ?3, ?4, NULL, ?5, 1)
         ON CONFLICT (user_id) DO UPDATE SET token_hash = excluded.token_hash,
             created_at = excluded.created_at, expires_at = excluded.expires_at,
             accepted_at = NULL, invited_by = excluded.invited_by,
             sent_count = invitations.sent_count + 1",
        args![
            user.as_str(),
            token_hash,
            now,
            expires_at,
            by.map(Id::as_str)
        ],
    )?;
    Ok(())
}

/// The account's current invitation, if it was ever invited.
pub fn of_user(conn: &Conn<'_>, user: &Id) -> Result<Option<Invitation>> {
    conn.query_opt(
        &format!("SELECT {COLUMNS} FROM invitations WHERE user_id = ?1"),
        args![user.as_str()],
        |r| from_row_at(r, 0),
    )
}

/// The invitation whose current token hashes to `token_hash`.
pub fn by_token_hash(conn: &Conn<'_>, token_hash: &str) -> Result<Option<Invitation>> {
    conn.query_opt(
        &format!("SELECT {COLUMNS} FROM invitations WHERE token_hash = ?1"),
        args![token_hash],
        |r| from_row_at(r, 0),
    )
}

/// Spend the token: true when it was the account's current, unused and unexpired one at `now`
/// (exactly one of two concurrent uses gets true).
pub fn accept(conn: &Conn<'_>, user: &Id, token_hash: &str, now: i64) -> Result<bool> {
    Ok(conn.exec(
        "UPDATE invitations SET accepted_at = ?3
         WHERE user_id = ?1 AND token_hash = ?2 AND accepted_at IS NULL AND expires_at > ?3",
        args![user.as_str(), token_hash, now],
    )? == 1)
}
