//! Administration of accounts: the first administrator, demo accounts, and what the school
//! office does with accounts (create them, with a password or an invitation; list, change the
//! role or name, delete).

use super::auth::{AuthUser, checked_profile, optional_text, required_text};
use super::images::ImageStore;
use super::invitations::Inviter;
use super::password::{self, HashPool};
use super::{Error, Result};
use crate::config::Settings;
use crate::domain::invitations::{Account, DeletionCounts};
use crate::domain::users::{Profile, User};
use crate::domain::{Email, Id, Role};
use crate::storage::accounts::{self, WithInvitation};
use crate::storage::users::{self, NewUser};
use crate::storage::{Conn, Db, audit, sessions, subjects};

/// Password of the accounts `--demo` creates.
pub const DEMO_PASSWORD: &str = "rollcall-demo";

pub struct NewAccount {
    pub role: Role,
    pub email: String,
    pub name: String,
    /// `None`: the account gets no password ([`password::NO_PASSWORD`]) and an invitation link
    /// to choose one.
    pub password: Option<String>,
    pub college_name: String,
    pub profile: Profile,
}

/// A student account cannot become staff, nor staff a student: a student's enrolments, face
/// samples and attendance records, and a teacher's profile and subjects, belong to the role.
pub const STUDENT_ROLE_FIXED: &str = "A student account cannot become a teacher or an \
     administrator, nor the reverse: enrolments, faces and attendance belong to the student role. \
     Create a new account instead (and delete this one if it is no longer needed)";
pub const LAST_ADMIN: &str =
    "This is the last administrator account: make another account an administrator first";
pub const SELF_DELETE: &str = "You cannot delete your own account; another administrator can";

/// Create a verified account of any role (administrators only): with the password given, or,
/// without one, with none and an invitation link mailed in the same transaction.
pub async fn create(
    db: &Db,
    hashing: &HashPool,
    inviter: &Inviter,
    admin: &AuthUser,
    new: NewAccount,
    now: i64,
) -> Result<Account> {
    let email = Email::parse(&new.email)
        .ok_or_else(|| Error::Invalid("email is not a valid e-mail address".into()))?;
    let name = required_text("name", &new.name, 100)?;
    let college_name = optional_text("college_name", &new.college_name, 200)?;
    let profile = checked_profile(new.profile)?;
    let hash = match new.password {
        Some(pw) => {
            password::check_policy(&pw).map_err(Error::Invalid)?;
            hashing.hash(pw).await?
        }
        None => password::NO_PASSWORD.to_owned(),
    };
    let invite = password::is_unset(&hash);
    let record = NewUser {
        email,
        name,
        role: new.role,
        password_hash: hash,
        college_name,
        is_verified: true,
        profile,
        created_by: Some(admin.id.clone()),
        roll_confirmed: true,
    };
    let actor = admin.id.clone();
    let inviter = inviter.clone();
    db.transaction(move |tx| {
        let user = match users::insert(tx, &record) {
            Ok(u) => u,
            Err(e) if e.is_unique_violation() => return Ok(None),
            Err(e) => return Err(e),
        };
        audit::record(
            tx,
            Some(&actor),
            "admin.create_user",
            Some(user.id.as_str()),
            if invite {
                format!("{}, invited", user.role)
            } else {
                user.role.to_string()
            }
            .as_str(),
        )?;
        if invite {
            inviter.queue(tx, &user, Some(&actor), now)?;
        }
        accounts::get(tx, &user.id)
    })
    .await?
    .map(account)
    .ok_or_else(|| Error::BadRequest("Email already registered".into()))
}

fn account((user, invitation): WithInvitation) -> Account {
    Account {
        has_password: !password::is_unset(&user.password_hash),
        user,
        invitation,
    }
}

/// Accounts, newest first, optionally of one role and with `q` (case-insensitive) in the name
/// or the e-mail address, each with its invitation.
pub async fn list(
    db: &Db,
    role: Option<Role>,
    q: Option<String>,
    limit: u32,
    offset: u32,
) -> Result<Vec<Account>> {
    let limit = limit.clamp(1, 500);
    let q = q
        .map(|q| optional_text("q", &q, 200))
        .transpose()?
        .filter(|q| !q.is_empty());
    let rows = db
        .run(move |c| accounts::list(c, role, q.as_deref(), limit, offset))
        .await?;
    Ok(rows.into_iter().map(account).collect())
}

/// One account with its invitation.
pub async fn get(db: &Db, id: Id) -> Result<Account> {
    db.run(move |c| accounts::get(c, &id))
        .await?
        .map(account)
        .ok_or_else(|| Error::NotFound("User not found".into()))
}

/// Send a new invitation link (the earlier one stops working): 404 for an unknown account,
/// 409 when the account already has a password (chosen through a link or otherwise).
pub async fn invite(
    db: &Db,
    inviter: &Inviter,
    admin: &AuthUser,
    id: Id,
    now: i64,
) -> Result<Account> {
    let (actor, inviter) = (admin.id.clone(), inviter.clone());
    db.transaction(move |tx| {
        let Some(user) = users::by_id(tx, &id)? else {
            return Err(Error::NotFound("User not found".into()));
        };
        if !password::is_unset(&user.password_hash) {
            return Err(Error::Conflict(
                "This account already has a password: nothing to invite. To help someone who \
                 forgot it, they use \"Forgot password\""
                    .into(),
            ));
        }
        inviter.queue(tx, &user, Some(&actor), now)?;
        accounts::get(tx, &id)?.ok_or_else(|| Error::NotFound("User not found".into()))
    })
    .await
    .map(account)
}

/// What an administrator may change about an account.
#[derive(Debug, Default)]
pub struct Changes {
    pub role: Option<Role>,
    pub name: Option<String>,
}

/// Change an account's role and/or name. Teacher and administrator swap freely (an
/// administrator who was a teacher keeps their profile and subjects; one who becomes a teacher
/// gets a profile); to or from student is refused (409, [`STUDENT_ROLE_FIXED`]); the last
/// administrator is never demoted (409, [`LAST_ADMIN`]). A role change ends the account's
/// sessions. Decided under the write lock, so concurrent changes cannot demote every admin.
pub async fn update(db: &Db, admin: &AuthUser, id: Id, changes: Changes) -> Result<Account> {
    let name = changes
        .name
        .map(|n| required_text("name", &n, 100))
        .transpose()?;
    let actor = admin.id.clone();
    let role = changes.role;
    db.transaction(move |tx| {
        let Some(user) = users::by_id(tx, &id)? else {
            return Err(Error::NotFound("User not found".into()));
        };
        let mut done = Vec::new();
        if let Some(role) = role.filter(|r| *r != user.role) {
            if role == Role::Student || user.role == Role::Student {
                return Err(Error::Conflict(STUDENT_ROLE_FIXED.into()));
            }
            if user.role == Role::Admin && users::count_role(tx, Role::Admin)? <= 1 {
                return Err(Error::Conflict(LAST_ADMIN.into()));
            }
            accounts::set_role(tx, &id, role)?;
            let ended = sessions::revoke_all_for_user(tx, &id)?;
            done.push(format!(
                "role {} -> {role}, {ended} sessions ended",
                user.role
            ));
        }
        if let Some(name) = name.filter(|n| *n != user.name) {
            accounts::set_name(tx, &id, &name)?;
            done.push("name".to_owned());
        }
        if !done.is_empty() {
            audit::record(
                tx,
                Some(&actor),
                "admin.update_user",
                Some(id.as_str()),
                &done.join("; "),
            )?;
        }
        accounts::get(tx, &id)?.ok_or_else(|| Error::NotFound("User not found".into()))
    })
    .await
    .map(account)
}

/// What deleting an account would remove, and why it cannot be deleted (if so).
#[derive(Debug, Clone)]
pub struct DeletionPreview {
    pub account: Account,
    pub counts: DeletionCounts,
    /// `Some(reason)`: the delete would be refused (409) for this reason.
    pub refused: Option<String>,
}

/// Why `admin` may not delete `user`, if so.
fn refusal(tx: &Conn<'_>, admin: &Id, user: &User) -> Result<Option<&'static str>> {
    if &user.id == admin {
        return Ok(Some(SELF_DELETE));
    }
    if user.role == Role::Admin && users::count_role(tx, Role::Admin)? <= 1 {
        return Ok(Some(LAST_ADMIN));
    }
    Ok(None)
}

/// What `DELETE /api/admin/users/{id}` would remove now.
pub async fn deletion_preview(db: &Db, admin: &AuthUser, id: Id) -> Result<DeletionPreview> {
    let actor = admin.id.clone();
    db.run(move |c| {
        let Some(found) = accounts::get(c, &id)? else {
            return Err(Error::NotFound("User not found".into()));
        };
        let counts = accounts::deletion_counts(c, &id, &found.0.email)?;
        let refused = refusal(c, &actor, &found.0)?.map(str::to_owned);
        Ok(DeletionPreview {
            account: account(found),
            counts,
            refused,
        })
    })
    .await
}

/// Delete an account and what the preview lists, in one transaction: its sessions, invitation,
/// queued mails, teacher profile and subject memberships, or (a student, through the same
/// code as `DELETE /api/students/{id}`) its face samples, enrolments and attendance records.
/// Subjects it was the only teacher of stay, without a teacher. Audited as
/// `admin.delete_user`; 409 for oneself and for the last administrator. Returns what was
/// removed.
pub async fn delete(
    db: &Db,
    images: &ImageStore,
    admin: &AuthUser,
    id: Id,
) -> Result<DeletionCounts> {
    let actor = admin.id.clone();
    let (counts, shas) = db
        .transaction(move |tx| {
            let Some(user) = users::by_id(tx, &id)? else {
                return Err(Error::NotFound("User not found".into()));
            };
            if let Some(reason) = refusal(tx, &actor, &user)? {
                return Err(Error::Conflict(reason.into()));
            }
            let counts = accounts::deletion_counts(tx, &id, &user.email)?;
            accounts::withdraw_queued_mails(tx, &id, &user.email)?;
            let shas = if user.role == Role::Student {
                super::students::delete_in(tx, &id)?
            } else {
                accounts::delete(tx, &id)?;
                Vec::new()
            };
            audit::record(
                tx,
                Some(&actor),
                "admin.delete_user",
                Some(id.as_str()),
                &format!(
                    "{} {} <{}>: {} sessions, {} face samples, {} attendance records, \
                     {} enrolments, {} subjects taught ({} left without a teacher), {} queued mails",
                    user.role,
                    user.name,
                    user.email,
                    counts.sessions,
                    counts.face_samples,
                    counts.attendance_records,
                    counts.enrolments,
                    counts.subjects_taught,
                    counts.subjects_left_without_teacher.len(),
                    counts.queued_mails
                ),
            )?;
            Ok((counts, shas))
        })
        .await?;
    images.remove_unreferenced(db, shas).await?;
    Ok(counts)
}

/// Mark an account's e-mail as verified (an administrator vouches for it; useful offline).
pub async fn verify(db: &Db, admin: &AuthUser, id: Id) -> Result<()> {
    let actor = admin.id.clone();
    let found = db
        .transaction(move |tx| {
            let ok = users::set_verified(tx, &id)?;
            if ok {
                audit::record(tx, Some(&actor), "admin.verify_user", Some(id.as_str()), "")?;
            }
            Ok::<_, Error>(ok)
        })
        .await?;
    if found {
        Ok(())
    } else {
        Err(Error::NotFound("User not found".into()))
    }
}

/// End every session of an account (lost laptop, left the school).
pub async fn revoke_sessions(db: &Db, admin: &AuthUser, id: Id) -> Result<usize> {
    let actor = admin.id.clone();
    let n = db
        .transaction(move |tx| {
            if users::by_id(tx, &id)?.is_none() {
                return Ok::<_, Error>(None);
            }
            let n = sessions::revoke_all_for_user(tx, &id)?;
            audit::record(
                tx,
                Some(&actor),
                "admin.revoke_sessions",
                Some(id.as_str()),
                &n.to_string(),
            )?;
            Ok(Some(n))
        })
        .await?;
    n.ok_or_else(|| Error::NotFound("User not found".into()))
}

/// What start-up created, for the operator's console.
#[derive(Debug, Default)]
pub struct Bootstrap {
    pub admin: Option<(String, Option<String>)>,
    pub demo: Vec<(Role, String)>,
}

/// The key that signs tokens: `JWT_SECRET` when given; else, on SQLite, the data directory's
/// `jwt_secret` file (created on first start); on PostgreSQL, the one stored in the database
/// (created by the first server), so every server on it signs and checks alike. Its fingerprint
/// (never the key) is logged, so an operator can see that all servers agree.
pub fn signing_secret(db: &Db, settings: &Settings) -> anyhow::Result<Vec<u8>> {
    let secret = if settings.jwt_secret.is_none()
        && settings.database_url != crate::config::DatabaseUrl::Sqlite
    {
        let fresh: [u8; 32] = rand::random();
        db.transaction_blocking(|c| {
            crate::storage::cluster::secret_or_insert(c, "jwt", &fresh, crate::storage::now_unix())
        })?
    } else {
        crate::config::load_or_create_secret(settings)?
    };
    anyhow::ensure!(secret.len() >= 32, "the signing secret is too short");
    let fingerprint = super::tokens::sha256_hex(&hex::encode(&secret));
    tracing::info!(
        fingerprint = &fingerprint[..8],
        "token signing key (the fingerprint is the same on every server that shares it)"
    );
    Ok(secret)
}

/// On a database without an administrator, create one (from settings, or with a one-time
/// password); with `--demo` on an empty database, also a demo teacher and student.
pub fn bootstrap(db: &Db, settings: &Settings) -> anyhow::Result<Bootstrap> {
    let mut report = Bootstrap::default();
    let (admins, everyone) = db.run_blocking(|c| {
        let admins = users::count_role(c, Role::Admin)?;
        let all = users::count(c)?;
        Ok::<_, crate::storage::StorageError>((admins, all))
    })?;
    let demo = settings.demo && everyone == 0;
    let mut accounts = Vec::new();
    if admins == 0 {
        let email = Email::parse(&settings.admin_email)
            .ok_or_else(|| anyhow::anyhow!("ROLLCALL_ADMIN_EMAIL is not a valid e-mail address"))?;
        let (pw, shown) = match (&settings.admin_password, demo) {
            (Some(pw), _) => (pw.expose().to_owned(), None),
            (None, true) => (DEMO_PASSWORD.to_owned(), None),
            (None, false) => {
                let pw = password::generate();
                (pw.clone(), Some(pw))
            }
        };
        password::check_policy(&pw).map_err(|e| anyhow::anyhow!("ROLLCALL_ADMIN_PASSWORD: {e}"))?;
        accounts.push((
            Role::Admin,
            email,
            "Administrator".to_owned(),
            pw,
            Profile::default(),
        ));
        report.admin = Some((settings.admin_email.clone(), shown));
    }
    if demo {
        for (role, email, name) in [
            (Role::Teacher, "teacher@demo.rollcall.local", "Demo Teacher"),
            (Role::Student, "student@demo.rollcall.local", "Demo Student"),
        ] {
            let email = Email::parse(email).ok_or_else(|| anyhow::anyhow!("bad demo e-mail"))?;
            let profile = Profile {
                roll: if role == Role::Student {
                    "DEMO-001".into()
                } else {
                    String::new()
                },
                ..Profile::default()
            };
            accounts.push((
                role,
                email.clone(),
                name.to_owned(),
                DEMO_PASSWORD.to_owned(),
                profile,
            ));
            report.demo.push((role, email.to_string()));
        }
    }
    let mut records = Vec::new();
    for (role, email, name, pw, profile) in accounts {
        records.push(NewUser {
            email,
            name,
            role,
            password_hash: password::hash(&pw)?,
            college_name: String::new(),
            is_verified: true,
            profile,
            created_by: None,
            roll_confirmed: true,
        });
    }
    // Decided again under the write lock: another server starting on the same database
    // (PostgreSQL) may have bootstrapped it since the counts above; then this one adds nothing.
    let created = db.transaction_blocking(|tx| {
        if users::count_role(tx, Role::Admin)? != admins || users::count(tx)? != everyone {
            return Ok::<_, crate::storage::StorageError>(None);
        }
        let mut created = Vec::new();
        for record in &records {
            let user = users::insert(tx, record)?;
            audit::record(
                tx,
                None,
                "bootstrap.create_user",
                Some(user.id.as_str()),
                record.role.as_str(),
            )?;
            created.push((record.role, user.id));
        }
        Ok(Some(created))
    })?;
    let Some(created) = created else {
        tracing::info!("another server created the first accounts meanwhile");
        return Ok(Bootstrap::default());
    };
    if demo {
        demo_class(db, &created)?;
    }
    Ok(report)
}

/// A subject for the demo teacher with the demo student enrolled, so the web page has a class
/// to show on first start.
fn demo_class(db: &Db, created: &[(Role, Id)]) -> anyhow::Result<()> {
    let of = |role: Role| {
        created
            .iter()
            .find(|(r, _)| *r == role)
            .map(|(_, id)| id.clone())
    };
    let (Some(teacher), Some(student)) = (of(Role::Teacher), of(Role::Student)) else {
        return Ok(());
    };
    db.transaction_blocking(move |tx| {
        let subject = subjects::insert(tx, "Demo class", "DEMO-101", None)?;
        subjects::add_teacher(tx, &subject.id, &teacher)?;
        subjects::enrol(tx, &subject.id, &student, true)?;
        Ok::<_, Error>(())
    })?;
    Ok(())
}
