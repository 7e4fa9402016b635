//! The notification outbox: messages are enqueued in the transaction of the event that causes them;
//! the delivery worker leases due rows, sends them and records the outcome. Also the per-user
//! switches that stop a topic's messages from being queued at all.

use super::Conn;
use super::sql::{Row, args};

use super::{Result, now_unix};
use crate::domain::Id;
use crate::domain::outbox::Message;

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
    /// The teacher who sent it through the notification API.
    pub sent_by: Option<&'a Id>,
    /// The recipient's display name (used in the `To` header).
    pub recipient_name: Option<&'a str>,
    /// Details for the sender's statistics, a JSON object.
    pub meta: Option<&'a str>,
}

/// Queue a message; `None` when the same (kind, recipient, ref_key) is already queued or sent,
/// or when the user it concerns has switched its topic off.
pub fn enqueue(conn: &Conn<'_>, msg: &NewMessage<'_>) -> Result<Option<i64>> {
    if let (Some(user), Some(topic)) = (msg.user, topic_of(msg.kind))
        && !switch_on(conn, user, topic)?
    {
        return Ok(None);
    }
    let now = now_unix();
    // On a conflict nothing is inserted, so nothing is returned: `None`.
    conn.query_opt(
        "INSERT INTO outbox (kind, recipient, subject, body_text, body_html, next_attempt_at, created_at,
                             user_id, ref_key, sent_by, recipient_name, meta)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?8, ?9, ?10, ?11) ON CONFLICT DO NOTHING
         RETURNING id",
        args![
            msg.kind,
            msg.recipient,
            msg.subject,
            msg.body_text,
            msg.body_html,
            now,
            msg.user.map(Id::as_str),
            msg.ref_key,
            msg.sent_by.map(Id::as_str),
            msg.recipient_name,
            msg.meta,
        ],
        |r| r.get(0),
    )
}

/// Withdraw the pending (not yet sent) messages of `kind` about `user` caused by `ref_key`.
/// Returns how many were withdrawn.
pub fn withdraw(conn: &Conn<'_>, kind: &str, user: &Id, ref_key: &str) -> Result<usize> {
    conn.exec(
        "DELETE FROM outbox WHERE kind = ?1 AND user_id = ?2 AND ref_key = ?3 AND status = 'pending'",
        args![kind, user.as_str(), ref_key],
    )
}

/// Topics a user can switch off, by the seed's notification type names. Account mails
/// (verification, password reset) have no topic: they always go out.
pub const TOPICS: [&str; 5] = ["absence", "low_attendance", "assignment", "exam", "custom"];

/// Outbox kinds of the teacher notification API: `notify.<topic>`.
pub const TEACHER_KIND_PREFIX: &str = "notify.";

/// The switchable topic a message kind belongs to.
#[must_use]
pub fn topic_of(kind: &str) -> Option<&'static str> {
    let name = match kind {
        "attendance.absent" => "absence",
        other => other.strip_prefix(TEACHER_KIND_PREFIX)?,
    };
    TOPICS.iter().copied().find(|t| *t == name)
}

/// Whether `user` receives messages of `topic` (on unless switched off).
pub fn switch_on(conn: &Conn<'_>, user: &Id, topic: &str) -> Result<bool> {
    let enabled: Option<bool> = conn.query_opt(
        "SELECT enabled FROM mail_switches WHERE user_id = ?1 AND topic = ?2",
        args![user.as_str(), topic],
        |r| r.get(0),
    )?;
    Ok(enabled.unwrap_or(true))
}

/// Every topic with its switch for `user`.
pub fn switches(conn: &Conn<'_>, user: &Id) -> Result<Vec<(&'static str, bool)>> {
    TOPICS
        .iter()
        .map(|t| Ok((*t, switch_on(conn, user, t)?)))
        .collect()
}

/// Set one switch of `user`.
pub fn set_switch(conn: &Conn<'_>, user: &Id, topic: &str, enabled: bool) -> Result<()> {
    conn.exec(
        "INSERT INTO mail_switches (user_id, topic, enabled, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (user_id, topic) DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at",
        args![user.as_str(), topic, enabled, now_unix()],
    )?;
    Ok(())
}

/// A leased message, ready to send.
#[derive(Debug, Clone)]
pub struct Due {
    pub id: i64,
    pub kind: String,
    pub recipient: String,
    pub recipient_name: Option<String>,
    pub subject: String,
    pub body_text: String,
    pub body_html: Option<String>,
    /// Attempts before this one.
    pub attempts: u32,
    pub created_at: i64,
}

/// Lease up to `limit` due pending messages until `now + lease_secs`, oldest due first. A lease
/// that ran out (its worker died mid-send) makes the row due again.
pub fn claim_due(conn: &Conn<'_>, now: i64, lease_secs: i64, limit: u32) -> Result<Vec<Due>> {
    let mut due = conn.query_all(
        // The outer conditions repeat the inner ones: on PostgreSQL a row another server
        // claimed while this statement waited for its lock is re-read and skipped, so no
        // message is claimed twice (SQLite runs one writer at a time anyway).
        "UPDATE outbox SET claimed_until = ?1
         WHERE id IN (SELECT id FROM outbox
                      WHERE status = 'pending' AND next_attempt_at <= ?2 AND COALESCE(claimed_until, 0) <= ?2
                      ORDER BY next_attempt_at, id LIMIT ?3)
           AND status = 'pending' AND COALESCE(claimed_until, 0) <= ?2
         RETURNING id, kind, recipient, recipient_name, subject, body_text, body_html, attempts, created_at",
        args![now + lease_secs, now, limit],
        |r| {
            Ok(Due {
                id: r.get(0)?,
                kind: r.get(1)?,
                recipient: r.get(2)?,
                recipient_name: r.get(3)?,
                subject: r.get(4)?,
                body_text: r.get(5)?,
                body_html: r.get(6)?,
                attempts: r.get(7)?,
                created_at: r.get(8)?,
            })
        },
    )?;
    due.sort_by_key(|d| d.id);
    Ok(due)
}

/// The relay accepted the message.
pub fn mark_sent(conn: &Conn<'_>, id: i64, now: i64) -> Result<()> {
    conn.exec(
        "UPDATE outbox SET status = 'sent', sent_at = ?2, attempts = attempts + 1, last_error = NULL,
                           claimed_until = NULL
         WHERE id = ?1",
        args![id, now],
    )?;
    Ok(())
}

/// An attempt failed: try again at `retry_at`, or give up (`None`: dead).
pub fn mark_failed(conn: &Conn<'_>, id: i64, error: &str, retry_at: Option<i64>) -> Result<()> {
    conn.exec(
        "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, claimed_until = NULL,
                           status = CASE WHEN CAST(?3 AS BIGINT) IS NULL THEN 'dead' ELSE 'pending' END,
                           next_attempt_at = COALESCE(?3, next_attempt_at)
         WHERE id = ?1",
        args![id, error, retry_at],
    )?;
    Ok(())
}

const ROW_COLUMNS: &str = "id, kind, recipient, recipient_name, subject, status, attempts, last_error, \
                           next_attempt_at, created_at, sent_at, sent_by, meta";

fn row(r: &Row<'_>) -> Result<Message> {
    Ok(Message {
        id: r.get(0)?,
        kind: r.get(1)?,
        recipient: r.get(2)?,
        recipient_name: r.get(3)?,
        subject: r.get(4)?,
        status: r.get(5)?,
        attempts: r.get(6)?,
        last_error: r.get(7)?,
        next_attempt_at: r.get(8)?,
        created_at: r.get(9)?,
        sent_at: r.get(10)?,
        sent_by: r.get(11)?,
        meta: r.get(12)?,
    })
}

/// Messages in `status`, newest first.
pub fn list(conn: &Conn<'_>, status: &str, limit: u32, offset: u32) -> Result<Vec<Message>> {
    conn.query_all(
        &format!(
            "SELECT {ROW_COLUMNS} FROM outbox WHERE status = ?1 ORDER BY id DESC LIMIT ?2 OFFSET ?3"
        ),
        args![status, limit, offset],
        row,
    )
}

/// The SQL condition selecting the messages in `state` (one of
/// [`STATES`](crate::domain::outbox::STATES)).
fn state_condition(state: &str) -> Option<&'static str> {
    Some(match state {
        "queued" => "status = 'pending' AND attempts = 0",
        "retrying" => "status = 'pending' AND attempts > 0",
        "sent" => "status = 'sent'",
        "dead" => "status = 'dead'",
        "pending" => "status = 'pending'",
        _ => return None,
    })
}

/// Messages in `state` (one of [`STATES`](crate::domain::outbox::STATES), or `pending` for
/// queued and retrying), newest first; an unknown state lists nothing.
pub fn list_in(conn: &Conn<'_>, state: &str, limit: u32, offset: u32) -> Result<Vec<Message>> {
    let Some(condition) = state_condition(state) else {
        return Ok(Vec::new());
    };
    conn.query_all(
        &format!(
            "SELECT {ROW_COLUMNS} FROM outbox WHERE {condition} ORDER BY id DESC LIMIT ?1 OFFSET ?2"
        ),
        args![limit, offset],
        row,
    )
}

/// How many messages are in each of [`STATES`](crate::domain::outbox::STATES), in that order.
pub fn state_counts(conn: &Conn<'_>) -> Result<[i64; 4]> {
    conn.query_one(
        "SELECT COUNT(*) FILTER (WHERE status = 'pending' AND attempts = 0),
                COUNT(*) FILTER (WHERE status = 'pending' AND attempts > 0),
                COUNT(*) FILTER (WHERE status = 'sent'), COUNT(*) FILTER (WHERE status = 'dead')
         FROM outbox",
        args![],
        |r| Ok([r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?]),
    )
}

pub fn get(conn: &Conn<'_>, id: i64) -> Result<Option<Message>> {
    conn.query_opt(
        &format!("SELECT {ROW_COLUMNS} FROM outbox WHERE id = ?1"),
        args![id],
        row,
    )
}

/// A message's text and HTML bodies (what the recipient reads).
pub fn body(conn: &Conn<'_>, id: i64) -> Result<Option<(String, Option<String>)>> {
    conn.query_opt(
        "SELECT body_text, body_html FROM outbox WHERE id = ?1",
        args![id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// Give dead messages (all, or the one `id`) a fresh set of attempts, due now. Returns how many.
pub fn retry_dead(conn: &Conn<'_>, id: Option<i64>, now: i64) -> Result<usize> {
    conn.exec(
        "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = ?2, claimed_until = NULL
         WHERE status = 'dead' AND (CAST(?1 AS BIGINT) IS NULL OR id = ?1)",
        args![id, now],
    )
}

/// Messages a teacher sent through the notification API since `since`, newest first.
pub fn sent_by(conn: &Conn<'_>, teacher: &Id, since: i64) -> Result<Vec<Message>> {
    conn.query_all(
        &format!("SELECT {ROW_COLUMNS} FROM outbox WHERE sent_by = ?1 AND created_at >= ?2 ORDER BY id DESC"),
        args![teacher.as_str(), since],
        row,
    )
}

/// Whether `teacher` queued (or sent) a message of `kind` to `recipient` since `since`.
pub fn sent_recently(
    conn: &Conn<'_>,
    teacher: &Id,
    kind: &str,
    recipient: &str,
    since: i64,
) -> Result<bool> {
    conn.query_one(
        "SELECT EXISTS (SELECT 1 FROM outbox WHERE sent_by = ?1 AND kind = ?2 AND lower(recipient) = lower(?3)
                        AND status IN ('pending', 'sent') AND created_at >= ?4)",
        args![teacher.as_str(), kind, recipient, since],
        |r| r.get(0),
    )
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::*;

    fn db() -> Connection {
        Conn::test_database()
    }

    fn queue(conn: &Conn<'_>, to: &str) -> i64 {
        enqueue(
            conn,
            &NewMessage {
                kind: "notify.custom",
                recipient: to,
                subject: "s",
                body_text: "b",
                ..NewMessage::default()
            },
        )
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("not queued"))
    }

    /// A leased message is not handed out again until its lease runs out (its worker died
    /// mid-send): then it is, so it is sent at least once.
    #[test]
    fn a_lease_hides_a_message_until_it_runs_out() {
        let raw = db();
        let conn = Conn::new(&raw);
        let now = now_unix();
        let id = queue(&conn, "a@school.test");
        let first = claim_due(&conn, now, 100, 10).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(first.iter().map(|d| d.id).collect::<Vec<_>>(), vec![id]);
        assert!(
            claim_due(&conn, now + 99, 100, 10)
                .unwrap_or_else(|e| panic!("{e}"))
                .is_empty()
        );
        let again = claim_due(&conn, now + 100, 100, 10).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again.len(), 1);
        mark_sent(&conn, id, now + 101).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            claim_due(&conn, now + 10_000, 100, 10)
                .unwrap_or_else(|e| panic!("{e}"))
                .is_empty()
        );
    }

    #[test]
    fn failures_wait_for_their_retry_time_and_dead_messages_can_be_retried() {
        let raw = db();
        let conn = Conn::new(&raw);
        let now = now_unix();
        let id = queue(&conn, "b@school.test");
        claim_due(&conn, now, 100, 1).unwrap_or_else(|e| panic!("{e}"));
        mark_failed(&conn, id, "connection refused", Some(now + 60))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            claim_due(&conn, now + 59, 100, 1)
                .unwrap_or_else(|e| panic!("{e}"))
                .is_empty()
        );
        let due = claim_due(&conn, now + 60, 100, 1).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(due.first().map(|d| d.attempts), Some(1));
        mark_failed(&conn, id, "550 no such user", None).unwrap_or_else(|e| panic!("{e}"));
        let row = get(&conn, id)
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("gone"));
        assert_eq!((row.status.as_str(), row.attempts), ("dead", 2));
        assert_eq!(row.last_error.as_deref(), Some("550 no such user"));
        assert!(
            claim_due(&conn, now + 10_000, 100, 1)
                .unwrap_or_else(|e| panic!("{e}"))
                .is_empty()
        );
        assert_eq!(
            retry_dead(&conn, Some(id), now + 5).unwrap_or_else(|e| panic!("{e}")),
            1
        );
        assert_eq!(
            retry_dead(&conn, Some(id), now + 5).unwrap_or_else(|e| panic!("{e}")),
            0
        );
        let due = claim_due(&conn, now + 5, 100, 1).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(due.first().map(|d| d.attempts), Some(0));
    }

    /// A message whose (kind, recipient, ref_key) is already queued is not queued again, and the
    /// state counts and the sender's recent-message check see what is there.
    #[test]
    fn a_repeated_cause_queues_once_and_counts_follow_the_states() {
        let raw = db();
        let conn = Conn::new(&raw);
        let teacher = Id::generate();
        conn.exec(
            "INSERT INTO users (id, email, name, role, password_hash, created_at, updated_at)
             VALUES (?1, 't@school.test', 'T', 'teacher', 'x', 0, 0)",
            args![teacher.as_str()],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let msg = NewMessage {
            kind: "notify.exam",
            recipient: "Pupil@School.test",
            subject: "s",
            body_text: "b",
            ref_key: Some("exam-1"),
            sent_by: Some(&teacher),
            ..NewMessage::default()
        };
        let first = enqueue(&conn, &msg).unwrap_or_else(|e| panic!("{e}"));
        assert!(first.is_some());
        assert_eq!(enqueue(&conn, &msg).unwrap_or_else(|e| panic!("{e}")), None);
        let other = queue(&conn, "d@school.test");
        assert!(first < Some(other));
        let now = now_unix();
        assert!(
            sent_recently(
                &conn,
                &teacher,
                "notify.exam",
                "pupil@school.TEST",
                now - 60
            )
            .unwrap_or_else(|e| panic!("{e}"))
        );
        assert!(
            !sent_recently(
                &conn,
                &teacher,
                "notify.custom",
                "pupil@school.test",
                now - 60
            )
            .unwrap_or_else(|e| panic!("{e}"))
        );
        assert_eq!(
            state_counts(&conn).unwrap_or_else(|e| panic!("{e}")),
            [2, 0, 0, 0]
        );
        mark_failed(&conn, other, "timeout", Some(now)).unwrap_or_else(|e| panic!("{e}"));
        if let Some(id) = first {
            mark_sent(&conn, id, now).unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!(
            state_counts(&conn).unwrap_or_else(|e| panic!("{e}")),
            [0, 1, 1, 0]
        );
        mark_failed(&conn, other, "550", None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            state_counts(&conn).unwrap_or_else(|e| panic!("{e}")),
            [0, 0, 1, 1]
        );
    }

    #[test]
    fn a_switched_off_topic_is_not_queued() {
        let raw = db();
        let conn = Conn::new(&raw);
        let user = Id::generate();
        conn.exec(
            "INSERT INTO users (id, email, name, role, password_hash, created_at, updated_at)
             VALUES (?1, 'c@school.test', 'C', 'student', 'x', 0, 0)",
            args![user.as_str()],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        set_switch(&conn, &user, "absence", false).unwrap_or_else(|e| panic!("{e}"));
        let msg = |kind| NewMessage {
            kind,
            recipient: "c@school.test",
            subject: "s",
            body_text: "b",
            user: Some(&user),
            ..NewMessage::default()
        };
        let queued = |kind| enqueue(&conn, &msg(kind)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(queued("attendance.absent"), None);
        assert_eq!(queued("notify.absence"), None);
        assert!(queued("notify.exam").is_some());
        assert!(
            queued("password_reset").is_some(),
            "account mail has no switch"
        );
    }
}
