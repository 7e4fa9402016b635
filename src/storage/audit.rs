//! Append-only audit trail of security-relevant and destructive actions.

use rusqlite::{Connection, params};

use super::{Result, now_unix};
use crate::domain::Id;

pub fn record(
    conn: &Connection,
    actor: Option<&Id>,
    action: &str,
    target: Option<&str>,
    detail: &str,
) -> Result<()> {
    conn.execute(
        "INSERT INTO audit_log (at, actor_id, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![now_unix(), actor.map(Id::as_str), action, target, detail],
    )?;
    Ok(())
}
