//! Append-only audit trail of security-relevant and destructive actions.

use super::Conn;
use super::sql::args;

use super::{Result, now_unix};
use crate::domain::Id;
use crate::domain::audit::{Entry, Filter};

pub fn record(
    conn: &Conn<'_>,
    actor: Option<&Id>,
    action: &str,
    target: Option<&str>,
    detail: &str,
) -> Result<()> {
    conn.exec(
        "INSERT INTO audit_log (at, actor_id, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        args![now_unix(), actor.map(Id::as_str), action, target, detail],
    )?;
    Ok(())
}

/// Entries matching `filter`, newest first.
pub fn list(conn: &Conn<'_>, filter: &Filter) -> Result<Vec<Entry>> {
    let (action_exact, action_prefix) = match filter.action.as_deref() {
        Some(a) if a.ends_with('.') => (None, Some(a.to_owned())),
        Some(a) => (Some(a.to_owned()), None),
        None => (None, None),
    };
    conn.query_all(
        "SELECT id, at, actor_id, action, target, detail FROM audit_log
         WHERE (CAST(?1 AS TEXT) IS NULL OR actor_id = ?1)
           AND (CAST(?2 AS TEXT) IS NULL OR action = ?2)
           AND (CAST(?3 AS TEXT) IS NULL OR substr(action, 1, length(?3)) = ?3)
           AND (CAST(?4 AS TEXT) IS NULL OR target = ?4)
           AND (CAST(?5 AS BIGINT) IS NULL OR at >= ?5)
           AND (CAST(?6 AS BIGINT) IS NULL OR at < ?6)
         ORDER BY id DESC LIMIT ?7 OFFSET ?8",
        args![
            filter.actor,
            action_exact,
            action_prefix,
            filter.target,
            filter.since,
            filter.until,
            filter.limit,
            filter.offset
        ],
        |r| {
            Ok(Entry {
                id: r.get(0)?,
                at: r.get(1)?,
                actor_id: r.get(2)?,
                action: r.get(3)?,
                target: r.get(4)?,
                detail: r.get(5)?,
            })
        },
    )
}
