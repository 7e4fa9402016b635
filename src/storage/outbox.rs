//! The notification outbox: messages are enqueued in the transaction of the event that causes them.

use rusqlite::{Connection, params};

use super::{Result, now_unix};
use crate::domain::Id;

#[derive(Debug, Clone, Default)]
pub struct NewMessage<'a> {
    pub kind: &'a str,
    pub recipient: &'a str,
    pub subject: &'a str,
    pub body_text: &'a str,
    pub body_html: Option<&'a str>,
    /// The user the message concerns (for per-user switches and erasure).
    pub user: Option<&'a Id>,
    /// What caused it (a session id, ...): a message with the same kind, recipient and key is
    /// queued once however often its cause repeats.
    pub ref_key: Option<&'a str>,
}

/// Queue a message; `None` when the same (kind, recipient, ref_key) is already queued or sent.
pub fn enqueue(conn: &Connection, msg: &NewMessage<'_>) -> Result<Option<i64>> {
    let now = now_unix();
    let n = conn.execute(
        "INSERT INTO outbox (kind, recipient, subject, body_text, body_html, next_attempt_at, created_at, user_id, ref_key)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?8) ON CONFLICT DO NOTHING",
        params![
            msg.kind,
            msg.recipient,
            msg.subject,
            msg.body_text,
            msg.body_html,
            now,
            msg.user.map(Id::as_str),
            msg.ref_key
        ],
    )?;
    Ok((n > 0).then(|| conn.last_insert_rowid()))
}

/// Withdraw the pending (not yet sent) messages of `kind` about `user` caused by `ref_key`.
/// Returns how many were withdrawn.
pub fn withdraw(conn: &Connection, kind: &str, user: &Id, ref_key: &str) -> Result<usize> {
    Ok(conn.execute(
        "DELETE FROM outbox WHERE kind = ?1 AND user_id = ?2 AND ref_key = ?3 AND status = 'pending'",
        params![kind, user.as_str(), ref_key],
    )?)
}
