//! Notifications caused by attendance, queued in the outbox inside the transaction of their
//! cause (the delivery worker sends them later). Each is keyed by its cause, so confirming a
//! session again never queues a second copy, and a correction withdraws an unsent one.

use crate::storage::Conn;

use crate::domain::{AttendanceStatus, Id};
use crate::notify::templates;
use crate::storage::Result;
use crate::storage::outbox::{self, NewMessage};

/// Outbox kind of an absence notice to a student.
pub const ABSENCE: &str = "attendance.absent";

/// What an attendance notice needs to say.
pub struct SessionInfo<'a> {
    pub session: &'a Id,
    pub subject_name: &'a str,
    pub subject_code: &'a str,
    pub date: &'a str,
    pub slot: i64,
}

/// Bring the absence notices of one student in one session in line with their status: queued
/// (once) when absent, withdrawn if still unsent when not. Returns whether one was queued now.
pub fn absence(
    conn: &Conn<'_>,
    info: &SessionInfo<'_>,
    student: &Id,
    status: Option<AttendanceStatus>,
) -> Result<bool> {
    let key = info.session.as_str();
    if status != Some(AttendanceStatus::Absent) {
        outbox::withdraw(conn, ABSENCE, student, key)?;
        return Ok(false);
    }
    let Some(who) = crate::storage::users::by_id(conn, student)? else {
        return Ok(false);
    };
    let (email, name) = (who.email.as_str(), who.name);
    let m = templates::attendance_absent(
        &name,
        info.subject_name,
        info.subject_code,
        info.date,
        info.slot,
    );
    Ok(outbox::enqueue(
        conn,
        &NewMessage {
            kind: ABSENCE,
            recipient: email,
            subject: &m.subject,
            body_text: &m.text,
            body_html: Some(&m.html),
            recipient_name: Some(&name),
            user: Some(student),
            ref_key: Some(key),
            ..NewMessage::default()
        },
    )?
    .is_some())
}
