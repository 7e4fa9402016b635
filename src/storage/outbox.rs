//! The notification outbox: messages are enqueued in the transaction of the event that causes them.

use rusqlite::{Connection, params};

use super::{Result, now_unix};

#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    pub kind: &'a str,
    pub recipient: &'a str,
    pub subject: &'a str,
    pub body_text: &'a str,
    pub body_html: Option<&'a str>,
}

pub fn enqueue(conn: &Connection, msg: &NewMessage<'_>) -> Result<i64> {
    let now = now_unix();
    conn.execute(
        "INSERT INTO outbox (kind, recipient, subject, body_text, body_html, next_attempt_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
        params![msg.kind, msg.recipient, msg.subject, msg.body_text, msg.body_html, now],
    )?;
    Ok(conn.last_insert_rowid())
}
