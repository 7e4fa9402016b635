//! Administration of accounts: the first administrator, demo accounts, and admin-created users.

use super::auth::{AuthUser, checked_profile, optional_text, required_text};
use super::password::{self, HashPool};
use super::{Error, Result};
use crate::config::Settings;
use crate::domain::users::{Profile, User};
use crate::domain::{Email, Id, Role};
use crate::storage::users::{self, NewUser};
use crate::storage::{Db, audit, sessions, subjects};

/// Password of the accounts `--demo` creates.
pub const DEMO_PASSWORD: &str = "rollcall-demo";

pub struct NewAccount {
    pub role: Role,
    pub email: String,
    pub name: String,
    pub password: Option<String>,
    pub college_name: String,
    pub profile: Profile,
}

#[derive(Debug)]
pub struct Created {
    pub user: User,
    /// Present when the server generated the password; shown once, never stored in clear.
    pub generated_password: Option<String>,
}

/// Create a verified account of any role (administrators only).
pub async fn create(
    db: &Db,
    hashing: &HashPool,
    admin: &AuthUser,
    new: NewAccount,
) -> Result<Created> {
    let email = Email::parse(&new.email)
        .ok_or_else(|| Error::Invalid("email is not a valid e-mail address".into()))?;
    let name = required_text("name", &new.name, 100)?;
    let college_name = optional_text("college_name", &new.college_name, 200)?;
    let profile = checked_profile(new.profile)?;
    let (pw, generated) = match new.password {
        Some(pw) => {
            password::check_policy(&pw).map_err(Error::Invalid)?;
            (pw, None)
        }
        None => {
            let pw = password::generate();
            (pw.clone(), Some(pw))
        }
    };
    let hash = hashing.hash(pw).await?;
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
    let user = db
        .transaction(move |tx| {
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
                user.role.as_str(),
            )?;
            Ok(Some(user))
        })
        .await?
        .ok_or_else(|| Error::BadRequest("Email already registered".into()))?;
    Ok(Created {
        user,
        generated_password: generated,
    })
}

pub async fn list(db: &Db, role: Option<Role>, limit: u32, offset: u32) -> Result<Vec<User>> {
    Ok(db
        .run(move |c| users::list(c, role, limit.clamp(1, 500), offset))
        .await?)
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
