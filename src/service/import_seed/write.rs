//! Writing the plan, one collection (step) at a time: a document imported before is counted, not
//! written again, and one that changed since is reported, not overwritten.

use super::check::{Plan, Row};
use super::{COLLECTIONS, Report};
use crate::domain::Role;
use crate::storage::seed_import::{
    self as store, NewDaySummary, NewSeedSubject, NewSeedUser, SeedMail, SeedTeacherProfile,
};
use crate::storage::{Conn, audit};

enum Seen {
    New,
    Same,
    Changed,
}

fn seen<T>(conn: &Conn<'_>, collection: &str, r: &Row<T>) -> crate::storage::Result<Seen> {
    Ok(
        match store::imported_digest(conn, collection, &r.seed_id)? {
            None => Seen::New,
            Some(d) if d == r.digest => Seen::Same,
            Some(_) => Seen::Changed,
        },
    )
}

/// Write each row of `rows` that is new with `insert` (returning the rollcall row it became),
/// counting the others.
fn each<T>(
    conn: &Conn<'_>,
    collection: &'static str,
    rows: &[Row<T>],
    report: &mut Report,
    mut insert: impl FnMut(&Row<T>) -> crate::storage::Result<String>,
) -> anyhow::Result<()> {
    let c = report.collection(collection);
    c.read += rows.len();
    for r in rows {
        match seen(conn, collection, r)? {
            Seen::Same => c.already += 1,
            Seen::Changed => c.changed.push(r.seed_id.clone()),
            Seen::New => {
                let target = insert(r)?;
                store::remember(conn, collection, &r.seed_id, &target, &r.digest)?;
                c.imported += 1;
            }
        }
    }
    if c.imported > 0 {
        let detail = format!("{} {collection} document(s) imported", c.imported);
        audit::record(conn, None, "seed.import", Some(collection), &detail)?;
    }
    Ok(())
}

pub(super) fn write_all(conn: &Conn<'_>, plan: &Plan, report: &mut Report) -> anyhow::Result<()> {
    for step in 0..COLLECTIONS.len() {
        write_step(conn, step, plan, report)?;
    }
    Ok(())
}

/// Write collection `COLLECTIONS[step]` of the plan.
pub(super) fn write_step(
    conn: &Conn<'_>,
    step: usize,
    plan: &Plan,
    report: &mut Report,
) -> anyhow::Result<()> {
    match COLLECTIONS[step] {
        "users" => users(conn, plan, report),
        "teachers" => teachers(conn, plan, report),
        "students" => students(conn, plan, report),
        "subjects" => subjects(conn, plan, report),
        "attendance_daily" => days(conn, plan, report),
        _ => mails(conn, plan, report),
    }
}

fn users(conn: &Conn<'_>, plan: &Plan, report: &mut Report) -> anyhow::Result<()> {
    each(conn, "users", &plan.users, report, |r| {
        let u = &r.data;
        // Every account gets its role profile, whether or not the seed had one for it.
        store::insert_user(
            conn,
            &NewSeedUser {
                id: &r.seed_id,
                email: &u.email,
                name: &u.name,
                role: u.role,
                password_hash: u.legacy_hash.as_deref().unwrap_or(&plan.placeholder),
                college_name: &u.college,
                is_verified: u.verified,
                created_at: u.created,
            },
        )?;
        Ok(r.seed_id.clone())
    })
}

fn teachers(conn: &Conn<'_>, plan: &Plan, report: &mut Report) -> anyhow::Result<()> {
    each(conn, "teachers", &plan.teachers, report, |r| {
        let t = &r.data;
        store::set_teacher_profile(
            conn,
            &SeedTeacherProfile {
                user_id: &t.user,
                employee_id: &t.employee_id,
                phone: &t.phone,
                branch: &t.branch,
                department: t.department.as_deref(),
                avatar_url: t.avatar.as_deref(),
                settings: t.settings.as_deref(),
                schedule: t.schedule.as_deref(),
            },
        )?;
        Ok(t.user.clone())
    })
}

fn students(conn: &Conn<'_>, plan: &Plan, report: &mut Report) -> anyhow::Result<()> {
    each(conn, "students", &plan.students, report, |r| {
        let s = &r.data;
        store::set_student_profile(conn, &s.user, &s.roll, &s.branch, &s.year)?;
        Ok(s.user.clone())
    })
}

fn subjects(conn: &Conn<'_>, plan: &Plan, report: &mut Report) -> anyhow::Result<()> {
    each(conn, "subjects", &plan.subjects, report, |r| {
        let s = &r.data;
        store::insert_subject(
            conn,
            &NewSeedSubject {
                id: &r.seed_id,
                name: &s.name,
                code: &s.code,
                kind: s.kind.as_deref(),
                created_at: s.created,
                updated_at: s.updated,
                teachers: &s.teachers,
                enrolments: &s.enrolments,
            },
        )?;
        Ok(r.seed_id.clone())
    })
}

fn days(conn: &Conn<'_>, plan: &Plan, report: &mut Report) -> anyhow::Result<()> {
    each(conn, "attendance_daily", &plan.days, report, |r| {
        let d = &r.data;
        store::insert_day_summary(
            conn,
            &NewDaySummary {
                id: &r.seed_id,
                subject_id: &d.subject,
                date: &d.date,
                teacher_id: d.teacher.as_deref(),
                present: d.present,
                late: d.late,
                absent: d.absent,
                created_at: d.created,
            },
        )?;
        Ok(r.seed_id.clone())
    })
}

fn mails(conn: &Conn<'_>, plan: &Plan, report: &mut Report) -> anyhow::Result<()> {
    each(conn, "email_logs", &plan.mails, report, |r| {
        let m = &r.data;
        let ref_key = format!("seed:{}", r.seed_id);
        let rowid = store::insert_sent_mail(
            conn,
            &SeedMail {
                kind: &m.kind,
                recipient: &m.recipient,
                recipient_name: m.recipient_name.as_deref(),
                subject: &m.subject,
                sent: m.sent,
                error: m.error.as_deref(),
                sent_by: m.sent_by.as_deref(),
                at: m.at,
                meta: m.meta.as_deref(),
                ref_key: &ref_key,
            },
        )?;
        Ok(rowid.to_string())
    })
}

/// Imported students without a face sample.
pub(super) fn faces_needed(conn: &Conn<'_>, plan: &Plan) -> crate::storage::Result<usize> {
    let mut n = 0;
    for u in plan.users.iter().filter(|u| u.data.role == Role::Student) {
        if !store::has_face_samples(conn, &u.seed_id)? {
            n += 1;
        }
    }
    Ok(n)
}
