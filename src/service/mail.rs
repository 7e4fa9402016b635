//! E-mail use-cases: the teacher notification API of the seed (absence, low attendance,
//! assignment, exam and custom messages, statistics, duplicate check), every user's switches,
//! and the administrators' view of messages that could not be delivered. Nothing here sends:
//! messages are queued in the outbox and the delivery worker sends them.

use std::collections::BTreeMap;

use crate::domain::outbox::Message;
use crate::domain::users::User;
use crate::domain::{Email, Id, Role};
use crate::notify::{parse_address, templates};
use crate::service::auth::AuthUser;
use crate::service::{Actor, Error, Result};
use crate::storage::outbox::{self, NewMessage, TEACHER_KIND_PREFIX, TOPICS};
use crate::storage::{Conn, Db, audit, now_unix, users};

/// Most recipients per request (the seed's limit).
pub const MAX_RECIPIENTS: usize = 200;
/// Longest single-line field (a subject, a name, a date).
const MAX_LINE: usize = 200;
/// Longest custom message body (the seed's limit).
const MAX_BODY: usize = 2000;

/// The outcome for one recipient, as the seed reports it.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub email: String,
    /// `queued` (in the outbox; the delivery worker sends it) or `failed` (not queued).
    pub status: &'static str,
    pub error: Option<String>,
}

/// The seed's `BulkEmailResponse`, truthful: nothing is sent inside the request, so `sent`
/// (delivered) is 0 and the accepted messages are counted in `queued`.
#[derive(Debug, Clone, Default)]
pub struct Bulk {
    pub total: usize,
    /// Delivered to the relay during the request: always 0 (the outbox worker delivers).
    pub sent: usize,
    /// Accepted into the outbox.
    pub queued: usize,
    pub failed: usize,
    pub details: Vec<Delivery>,
}

impl Bulk {
    fn push(&mut self, email: String, error: Option<String>) {
        self.total += 1;
        if error.is_some() {
            self.failed += 1;
        } else {
            self.queued += 1;
        }
        self.details.push(Delivery {
            email,
            status: if error.is_some() { "failed" } else { "queued" },
            error,
        });
    }
}

/// What a teacher sends to a list of students.
#[derive(Debug, Clone)]
pub enum Notice {
    Absence {
        subject: String,
        date: String,
        teacher_name: String,
    },
    Assignment {
        title: String,
        subject: String,
        due_date: String,
        teacher_name: String,
    },
    Exam {
        name: String,
        subject: String,
        date: String,
        time: String,
        venue: String,
    },
    Custom {
        title: String,
        body: String,
        teacher_name: String,
    },
}

impl Notice {
    fn topic(&self) -> &'static str {
        match self {
            Self::Absence { .. } => "absence",
            Self::Assignment { .. } => "assignment",
            Self::Exam { .. } => "exam",
            Self::Custom { .. } => "custom",
        }
    }

    fn validate(&self) -> Result<()> {
        let lines: Vec<(&str, &str)> = match self {
            Self::Absence {
                subject,
                date,
                teacher_name,
            } => vec![
                ("subject", subject),
                ("date", date),
                ("teacher_name", teacher_name),
            ],
            Self::Assignment {
                title,
                subject,
                due_date,
                teacher_name,
            } => vec![
                ("assignment_title", title),
                ("subject", subject),
                ("due_date", due_date),
                ("teacher_name", teacher_name),
            ],
            Self::Exam {
                name,
                subject,
                date,
                time,
                venue,
            } => vec![
                ("exam_name", name),
                ("subject", subject),
                ("exam_date", date),
                ("time", time),
                ("venue", venue),
            ],
            Self::Custom {
                title,
                body,
                teacher_name,
            } => {
                let n = body.trim().chars().count();
                if n == 0 || n > MAX_BODY {
                    return Err(Error::Invalid(format!(
                        "message_body must be 1 to {MAX_BODY} characters"
                    )));
                }
                vec![("message_title", title), ("teacher_name", teacher_name)]
            }
        };
        lines.into_iter().try_for_each(|(f, v)| line(f, v))
    }

    fn render(&self, name: &str) -> templates::Rendered {
        match self {
            Self::Absence {
                subject,
                date,
                teacher_name,
            } => templates::absence(name, subject, date, teacher_name),
            Self::Assignment {
                title,
                subject,
                due_date,
                teacher_name,
            } => templates::assignment(name, title, subject, due_date, teacher_name),
            Self::Exam {
                name: exam,
                subject,
                date,
                time,
                venue,
            } => templates::exam(
                name,
                &templates::Exam {
                    name: exam,
                    subject,
                    date,
                    time,
                    venue,
                },
            ),
            Self::Custom {
                title,
                body,
                teacher_name,
            } => templates::custom(name, title, body.trim(), teacher_name),
        }
    }

    /// The seed's log metadata.
    fn meta(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            Self::Absence { subject, date, .. } => json!({"subject": subject, "date": date}),
            Self::Assignment {
                title,
                subject,
                due_date,
                ..
            } => json!({"assignment_title": title, "subject": subject, "due_date": due_date}),
            Self::Exam {
                name,
                subject,
                date,
                time,
                venue,
            } => {
                json!({"exam_name": name, "subject": subject, "exam_date": date, "time": time, "venue": venue})
            }
            Self::Custom { title, .. } => json!({"message_title": title}),
        }
    }
}

/// A single-line text field: required, at most [`MAX_LINE`] characters, no control characters
/// (it may end up in a mail header).
fn line(field: &str, value: &str) -> Result<()> {
    let v = value.trim();
    if v.is_empty() {
        return Err(Error::Invalid(format!("{field} is required")));
    }
    if v.chars().count() > MAX_LINE || v.chars().any(char::is_control) {
        return Err(Error::Invalid(format!(
            "{field} must be one line of at most {MAX_LINE} characters"
        )));
    }
    Ok(())
}

/// Refuse a list of addresses that is too long or holds one that cannot be mailed.
fn check_addresses<'a>(field: &str, emails: impl Iterator<Item = &'a str>) -> Result<()> {
    for (i, e) in emails.enumerate() {
        parse_address(e).map_err(|why| Error::Invalid(format!("{field}[{i}]: {why}")))?;
    }
    Ok(())
}

fn teacher_only(sender: &AuthUser, message: &str) -> Result<()> {
    if sender.role == Role::Teacher {
        Ok(())
    } else {
        Err(Error::Forbidden(message.into()))
    }
}

/// What a recipient who is not one of the sender's students is told: the same whether or not
/// the address belongs to an account, so the answer reveals nothing about who is registered.
pub const NOT_YOUR_STUDENT: &str = "Not one of your students";

/// The student behind `raw` if they are enrolled in a subject `teacher` teaches.
fn own_student(conn: &Conn<'_>, teacher: &Id, raw: &str) -> crate::storage::Result<Option<User>> {
    let Some(email) = Email::parse(raw) else {
        return Ok(None);
    };
    let Some(user) = users::by_email(conn, &email)?.filter(|u| u.role == Role::Student) else {
        return Ok(None);
    };
    Ok(crate::storage::subjects::teaches_student(conn, teacher, &user.id)?.then_some(user))
}

/// Queue `notice` for each of the teacher's students among `emails` (students enrolled in a
/// subject they teach); any other address is reported failed ([`NOT_YOUR_STUDENT`]), as are
/// students who switched the topic off.
pub async fn notify_students(
    db: &Db,
    sender: &AuthUser,
    emails: Vec<String>,
    notice: Notice,
) -> Result<Bulk> {
    teacher_only(sender, "Only teachers can send notifications")?;
    if emails.len() > MAX_RECIPIENTS {
        return Err(Error::Invalid(format!(
            "student_emails: at most {MAX_RECIPIENTS} recipients at once"
        )));
    }
    check_addresses("student_emails", emails.iter().map(String::as_str))?;
    notice.validate()?;
    let teacher = sender.id.clone();
    db.transaction(move |tx| {
        let topic = notice.topic();
        let kind = format!("{TEACHER_KIND_PREFIX}{topic}");
        let meta = notice.meta().to_string();
        let mut bulk = Bulk::default();
        for raw in emails {
            let Some(student) = own_student(tx, &teacher, &raw)? else {
                bulk.push(raw, Some(NOT_YOUR_STUDENT.into()));
                continue;
            };
            let m = notice.render(&student.name);
            let queued = outbox::enqueue(
                tx,
                &NewMessage {
                    kind: &kind,
                    recipient: student.email.as_str(),
                    subject: &m.subject,
                    body_text: &m.text,
                    body_html: Some(&m.html),
                    user: Some(&student.id),
                    sent_by: Some(&teacher),
                    recipient_name: Some(&student.name),
                    meta: Some(&meta),
                    ..NewMessage::default()
                },
            )?;
            let error = queued
                .is_none()
                .then(|| format!("Student has turned off {topic} e-mails"));
            bulk.push(raw, error);
        }
        Ok::<_, Error>(bulk)
    })
    .await
}

/// One low-attendance warning (the seed sends these without looking the address up).
#[derive(Debug, Clone)]
pub struct Warning {
    pub student_email: String,
    pub student_name: String,
    pub subject: String,
    pub attendance_percentage: f64,
    pub threshold: i64,
}

/// Queue low-attendance warnings to the teacher's own students (others: [`NOT_YOUR_STUDENT`]).
pub async fn warn_low_attendance(
    db: &Db,
    sender: &AuthUser,
    warnings: Vec<Warning>,
) -> Result<Bulk> {
    teacher_only(sender, "Only teachers can send notifications")?;
    if warnings.len() > MAX_RECIPIENTS {
        return Err(Error::BadRequest(format!(
            "Cannot send more than {MAX_RECIPIENTS} warnings at once"
        )));
    }
    for (i, w) in warnings.iter().enumerate() {
        parse_address(&w.student_email)
            .map_err(|why| Error::Invalid(format!("[{i}].student_email: {why}")))?;
        line(&format!("[{i}].student_name"), &w.student_name)?;
        line(&format!("[{i}].subject"), &w.subject)?;
        if !(w.attendance_percentage.is_finite()
            && (0.0..=100.0).contains(&w.attendance_percentage))
        {
            return Err(Error::Invalid(format!(
                "[{i}].attendance_percentage must be between 0 and 100"
            )));
        }
        if !(0..=100).contains(&w.threshold) {
            return Err(Error::Invalid(format!(
                "[{i}].threshold must be between 0 and 100"
            )));
        }
    }
    let teacher = sender.id.clone();
    db.transaction(move |tx| {
        let kind = format!("{TEACHER_KIND_PREFIX}low_attendance");
        let mut bulk = Bulk::default();
        for w in warnings {
            // Only the teacher's own students, at the address of their account.
            let Some(user) = own_student(tx, &teacher, &w.student_email)? else {
                bulk.push(w.student_email, Some(NOT_YOUR_STUDENT.into()));
                continue;
            };
            let recipient = user.email.to_string();
            let m = templates::low_attendance(
                w.student_name.trim(),
                w.subject.trim(),
                w.attendance_percentage,
                w.threshold,
            );
            let meta = serde_json::json!({"subject": w.subject.trim(),
                "attendance_percentage": w.attendance_percentage, "threshold": w.threshold})
            .to_string();
            let queued = outbox::enqueue(
                tx,
                &NewMessage {
                    kind: &kind,
                    recipient: &recipient,
                    subject: &m.subject,
                    body_text: &m.text,
                    body_html: Some(&m.html),
                    user: Some(&user.id),
                    sent_by: Some(&teacher),
                    recipient_name: Some(w.student_name.trim()),
                    meta: Some(&meta),
                    ..NewMessage::default()
                },
            )?;
            let error = queued
                .is_none()
                .then(|| "Student has turned off low_attendance e-mails".to_owned());
            bulk.push(w.student_email, error);
        }
        Ok::<_, Error>(bulk)
    })
    .await
}

/// One notification type's messages by delivery state.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    /// Accepted by the relay.
    pub sent: usize,
    /// Waiting in the outbox (never tried, or retrying after failed attempts).
    pub queued: usize,
    /// Given up on (dead).
    pub failed: usize,
}

/// A teacher's notifications over a window, newest first.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub total_sent: usize,
    pub total_queued: usize,
    pub total_failed: usize,
    pub by_type: BTreeMap<String, Counts>,
    /// The newest ten.
    pub recent: Vec<Message>,
}

/// Counts each message by its real state: sent once the relay accepted it, queued while it
/// waits in the outbox, failed once it is dead.
pub async fn stats(db: &Db, sender: &AuthUser, days: i64) -> Result<Stats> {
    teacher_only(sender, "Only teachers can view statistics")?;
    if !(1..=365).contains(&days) {
        return Err(Error::Invalid("days must be between 1 and 365".into()));
    }
    let teacher = sender.id.clone();
    let since = now_unix() - days * 86_400;
    let rows = db.run(move |c| outbox::sent_by(c, &teacher, since)).await?;
    let mut stats = Stats::default();
    for r in &rows {
        let counts = stats.by_type.entry(notification_type(&r.kind)).or_default();
        match r.status.as_str() {
            "sent" => {
                counts.sent += 1;
                stats.total_sent += 1;
            }
            "dead" => {
                counts.failed += 1;
                stats.total_failed += 1;
            }
            _ => {
                counts.queued += 1;
                stats.total_queued += 1;
            }
        }
    }
    stats.recent = rows.into_iter().take(10).collect();
    Ok(stats)
}

/// The seed's notification type of an outbox kind (`notify.absence` -> `absence`).
#[must_use]
pub fn notification_type(kind: &str) -> String {
    kind.strip_prefix(TEACHER_KIND_PREFIX)
        .unwrap_or(kind)
        .to_owned()
}

/// Whether the teacher queued a message of this type to this address within the window.
pub async fn is_duplicate(
    db: &Db,
    sender: &AuthUser,
    notification_type: &str,
    recipient: &str,
    within_hours: i64,
) -> Result<bool> {
    teacher_only(sender, "Only teachers can check duplicates")?;
    if !(1..=168).contains(&within_hours) {
        return Err(Error::Invalid(
            "within_hours must be between 1 and 168".into(),
        ));
    }
    let teacher = sender.id.clone();
    let kind = format!("{TEACHER_KIND_PREFIX}{}", notification_type.trim());
    let recipient = recipient.trim().to_owned();
    let since = now_unix() - within_hours * 3600;
    Ok(db
        .run(move |c| outbox::sent_recently(c, &teacher, &kind, &recipient, since))
        .await?)
}

/// The caller's e-mail switches, every topic listed.
pub async fn switches(db: &Db, user: &Id) -> Result<BTreeMap<String, bool>> {
    let user = user.clone();
    let list = db.run(move |c| outbox::switches(c, &user)).await?;
    Ok(list.into_iter().map(|(t, on)| (t.to_owned(), on)).collect())
}

/// Change some of the caller's switches; returns all of them.
pub async fn set_switches(
    db: &Db,
    user: &Id,
    changes: BTreeMap<String, bool>,
) -> Result<BTreeMap<String, bool>> {
    if let Some(unknown) = changes.keys().find(|k| !TOPICS.contains(&k.as_str())) {
        return Err(Error::Invalid(format!(
            "unknown notification type {unknown:?}; known: {}",
            TOPICS.join(", ")
        )));
    }
    let id = user.clone();
    db.transaction(move |tx| {
        for (topic, on) in &changes {
            outbox::set_switch(tx, &id, topic, *on)?;
        }
        Ok::<_, Error>(())
    })
    .await?;
    switches(db, user).await
}

/// Outbox messages in `state` (`queued`, `retrying`, `sent`, `dead`, or `pending` for the
/// first two), newest first.
/// A page of the outbox's messages in `state`, newest first, and how many messages are in each
/// state, read from one snapshot so the two agree while the worker sends.
pub async fn list_messages(
    db: &Db,
    state: &'static str,
    limit: u32,
    offset: u32,
) -> Result<(Vec<Message>, [i64; 4])> {
    let limit = limit.clamp(1, 500);
    Ok(db
        .run(move |c| {
            c.snapshot(|c| {
                Ok::<_, crate::storage::StorageError>((
                    outbox::list_in(c, state, limit, offset)?,
                    outbox::state_counts(c)?,
                ))
            })
        })
        .await?)
}

/// One outbox message as its recipient reads it: its row, text body and HTML body.
pub struct MessageWithBody {
    pub row: Message,
    pub body_text: String,
    pub body_html: Option<String>,
}

/// Read one message with its body (administrators only; audited as `outbox.view`). Without an
/// SMTP relay this is how a reset code or a verification link reaches its owner: they are never
/// logged.
pub async fn read_message(db: &Db, admin: &AuthUser, id: i64) -> Result<MessageWithBody> {
    let actor = admin.id.clone();
    db.transaction(move |tx| {
        let (Some(row), Some((body_text, body_html))) =
            (outbox::get(tx, id)?, outbox::body(tx, id)?)
        else {
            return Ok::<_, Error>(None);
        };
        audit::record(
            tx,
            Some(&actor),
            "outbox.view",
            Some(&id.to_string()),
            &row.kind,
        )?;
        Ok(Some(MessageWithBody {
            row,
            body_text,
            body_html,
        }))
    })
    .await?
    .ok_or_else(|| Error::NotFound("Message not found".into()))
}

/// Give a dead message a fresh set of attempts.
pub async fn retry_message(db: &Db, by: Actor<'_>, id: i64) -> Result<Message> {
    let (actor, detail) = (by.id(), by.detail(""));
    let row = db
        .transaction(move |tx| {
            let n = outbox::retry_dead(tx, Some(id), now_unix())?;
            if n > 0 {
                audit::record(
                    tx,
                    actor.as_ref(),
                    "outbox.retry",
                    Some(&id.to_string()),
                    &detail,
                )?;
            }
            let row = outbox::get(tx, id)?;
            Ok::<_, Error>((n, row))
        })
        .await?;
    match row {
        (_, None) => Err(Error::NotFound("Message not found".into())),
        (0, Some(r)) => Err(Error::Conflict(format!(
            "Only a dead message can be retried; this one is {}",
            r.status
        ))),
        (_, Some(r)) => Ok(r),
    }
}

/// Give every dead message a fresh set of attempts; returns how many.
pub async fn retry_all_dead(db: &Db, by: Actor<'_>) -> Result<usize> {
    let actor = by.id();
    let by = by.detail("");
    db.transaction(move |tx| {
        let n = outbox::retry_dead(tx, None, now_unix())?;
        let detail = if by.is_empty() {
            n.to_string()
        } else {
            format!("{n}; {by}")
        };
        audit::record(tx, actor.as_ref(), "outbox.retry_all", None, &detail)?;
        Ok::<_, Error>(n)
    })
    .await
}
