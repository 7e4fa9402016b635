//! Registration, login, token refresh and logout, e-mail verification and password reset.

use std::sync::Arc;

use crate::storage::Conn;

use super::clock::Clock;
use super::invitations::Inviter;
use super::password::{self, HashPool};
use super::ratelimit::{self, ClientLimiter, LoginPolicy, RateLimiter};
use super::tokens::{self, Claims, Keys};
use super::{Error, Result};
use crate::config::Settings;
use crate::domain::users::{Profile, User};
use crate::domain::{Email, Id, Role};
use crate::notify::templates;
use crate::storage::limits::{self, RecoveryEvent};
use crate::storage::users::{self, NewUser};
use crate::storage::{Db, audit, now_unix, outbox, sessions};

const VERIFICATION_TTL_SECS: i64 = 24 * 3600;
const OTP_TTL_SECS: i64 = 10 * 60;
/// Wrong codes allowed per reset request (shared by verify-otp and reset-password).
pub const OTP_MAX_ATTEMPTS: i64 = 5;
/// The window of `ROLLCALL_RESET_MAX_PER_HOUR`.
const RESET_CAP_WINDOW_SECS: i64 = 3600;
/// The window of `ROLLCALL_OTP_MAX_FAILURES_PER_DAY`.
const OTP_FAILURE_WINDOW_SECS: i64 = 24 * 3600;
/// Longest account key kept for the login limits (longer input is cut, never stored whole).
const MAX_ACCOUNT_KEY_CHARS: usize = 320;
const INVALID_LOGIN: &str = "Invalid email or password";
const INVALID_TOKEN: &str = "Invalid token";
const INVALID_OTP: &str = "Invalid or expired OTP";

/// The caller of a request, resolved from a verified access token and a live session.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub id: Id,
    pub role: Role,
    pub email: Email,
    pub name: String,
    pub session_id: String,
}

pub struct Registration {
    pub role: String,
    pub name: String,
    pub email: String,
    pub password: String,
    pub college_name: String,
    pub profile: Profile,
}

/// What a successful login or refresh hands back.
#[derive(Debug, Clone)]
pub struct Grant {
    pub user: User,
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
}

/// How long the access token of a login lives. Either way every request checks that its session
/// is live, so logout, a password reset or an administrator's revocation end it at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// `ROLLCALL_ACCESS_TOKEN_TTL` (15 minutes), renewed with the refresh token.
    Api,
    /// `ROLLCALL_SEED_ACCESS_TOKEN_TTL` (a school day): the seed frontend logs in at
    /// `/auth/login` and never refreshes.
    Seed,
}

/// The per-address allowances other than logins (which [`Auth::login`] counts itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowance {
    Registration,
    /// forgot-password, verify-otp and reset-password together.
    Recovery,
    /// Reading and accepting invitations (`ROLLCALL_RECOVERY_MAX_PER_IP` too, counted apart,
    /// so a class accepting its invitations from one address cannot lock out recovery).
    Invitation,
}

pub struct Auth {
    pub(super) db: Db,
    settings: Arc<Settings>,
    keys: Arc<Keys>,
    pub(super) clock: Arc<dyn Clock>,
    /// Every password hash and check a request causes runs here (bounded CPU and memory).
    pub(super) hashing: HashPool,
    login_policy: LoginPolicy,
    login_per_client: ClientLimiter,
    registration_per_client: ClientLimiter,
    recovery_per_client: ClientLimiter,
    invitation_per_client: ClientLimiter,
    /// Sends invitation links (accounts created without a password).
    pub(super) inviter: Inviter,
    /// A real argon2 hash checked when the account does not exist, so both paths cost the same.
    dummy_hash: String,
}

impl Auth {
    pub fn new(
        db: Db,
        settings: Arc<Settings>,
        secret: &[u8],
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let window = settings.login_window();
        let secs = |v: u64| i64::try_from(v).unwrap_or(i64::MAX / 4);
        let shared = settings.database_url != crate::config::DatabaseUrl::Sqlite;
        let per_client = |name: &'static str, max: u32| {
            if shared {
                ClientLimiter::Shared {
                    db: db.clone(),
                    name,
                    max: usize::try_from(max).unwrap_or(usize::MAX),
                    window_secs: secs(settings.login_window_secs),
                    clock: Arc::clone(&clock),
                }
            } else {
                ClientLimiter::Local(RateLimiter::new(max, window))
            }
        };
        let login_per_client = per_client("login", settings.login_max_per_ip);
        let registration_per_client = per_client("registration", settings.register_max_per_ip);
        let recovery_per_client = per_client("recovery", settings.recovery_max_per_ip);
        let invitation_per_client = per_client("invitation", settings.recovery_max_per_ip);
        let keys = Arc::new(Keys::new(secret));
        let inviter = Inviter::new(
            settings.base_url(),
            settings.invitation_lifetime_secs(),
            Arc::clone(&keys),
        );
        Ok(Self {
            keys,
            inviter,
            clock,
            hashing: HashPool::new(
                settings.hash_workers(),
                std::time::Duration::from_millis(settings.hash_wait_ms),
            ),
            login_policy: LoginPolicy {
                free: i64::from(settings.login_max_failures),
                base: secs(settings.login_delay_secs),
                max: secs(settings.login_delay_max_secs),
                forget_after: secs(settings.login_window_secs),
            },
            login_per_client,
            registration_per_client,
            recovery_per_client,
            invitation_per_client,
            dummy_hash: password::hash(&password::generate())?,
            db,
            settings,
        })
    }

    #[must_use]
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The pool every password hash goes through (also for accounts staff create).
    #[must_use]
    pub fn hashing(&self) -> &HashPool {
        &self.hashing
    }

    /// What sends invitation links: for the account services and the roster import, which
    /// call [`Inviter::queue`] inside their own write transaction.
    #[must_use]
    pub fn inviter(&self) -> Inviter {
        self.inviter.clone()
    }

    /// Count one registration or recovery request from `client`; 429 once that allowance of its
    /// address is spent. Each allowance is separate, so one kind cannot lock out another.
    pub async fn throttle_client(&self, allowance: Allowance, client: &str) -> Result<()> {
        let limiter = match allowance {
            Allowance::Registration => &self.registration_per_client,
            Allowance::Recovery => &self.recovery_per_client,
            Allowance::Invitation => &self.invitation_per_client,
        };
        limiter.check_and_hit(&ratelimit::client_key(client)).await
    }

    pub async fn register(&self, reg: Registration) -> Result<User> {
        let role = match reg.role.trim().to_lowercase().as_str() {
            "student" => Role::Student,
            "teacher" => Role::Teacher,
            "admin" => {
                return Err(Error::Forbidden(
                    "Administrator accounts cannot be self-registered".into(),
                ));
            }
            _ => return Err(Error::Invalid("role must be 'student' or 'teacher'".into())),
        };
        let allowed = match role {
            Role::Teacher => self.settings.allow_teacher_signup,
            _ => self.settings.allow_student_signup,
        };
        if !allowed {
            return Err(Error::Forbidden(format!(
                "Self-registration of {role} accounts is disabled; ask an administrator to create your account"
            )));
        }
        let email = Email::parse(&reg.email)
            .ok_or_else(|| Error::Invalid("email is not a valid e-mail address".into()))?;
        let name = required_text("name", &reg.name, 100)?;
        let college_name = optional_text("college_name", &reg.college_name, 200)?;
        password::check_policy(&reg.password).map_err(Error::Invalid)?;
        let profile = checked_profile(reg.profile)?;
        // As in the seed, a self-registering teacher must give an employee id and a phone number.
        if role == Role::Teacher && profile.employee_id.is_empty() {
            return Err(Error::BadRequest("Employee ID required".into()));
        }
        if role == Role::Teacher && profile.phone.is_empty() {
            return Err(Error::BadRequest("Phone number required".into()));
        }

        let hash = self.hashing.hash(reg.password).await?;
        let verified = !self.settings.require_email_verification;
        let new = NewUser {
            email,
            name,
            role,
            password_hash: hash,
            college_name,
            is_verified: verified,
            profile,
            created_by: None,
            // Roll numbers come from staff: what a student types here is shown, never matched.
            roll_confirmed: false,
        };
        let link_base = self.settings.base_url();
        let token = tokens::random_secret();
        let token_hash = tokens::sha256_hex(&token);

        let user = self
            .db
            .transaction(move |tx| {
                let user = match users::insert(tx, &new) {
                    Ok(u) => u,
                    Err(e) if e.is_unique_violation() => return Ok(None),
                    Err(e) => return Err(e),
                };
                if !user.is_verified {
                    users::insert_verification(
                        tx,
                        &user.id,
                        &token_hash,
                        now_unix() + VERIFICATION_TTL_SECS,
                    )?;
                    let link = format!("{link_base}/auth/verify-email?token={token}");
                    queue_mail(
                        tx,
                        "email_verification",
                        &user,
                        &templates::email_verification(&user.name, &link),
                    )?;
                }
                audit::record(
                    tx,
                    Some(&user.id),
                    "user.register",
                    Some(user.id.as_str()),
                    user.role.as_str(),
                )?;
                Ok(Some(user))
            })
            .await?;
        user.ok_or_else(|| Error::BadRequest("Email already registered".into()))
    }

    /// Log in. Limits, in this order: the client address's allowance of failed logins (an
    /// attempt is counted before its password is checked and given back unless the password
    /// was wrong); the account's delay, read without writing (a locked account costs no hashing
    /// worker); a hashing worker (503 when none frees up in time; nothing is counted); then the
    /// attempt is counted on the account in one transaction, which is what makes the free
    /// failures exact under concurrency, and only then is the password checked.
    pub async fn login(
        &self,
        email: &str,
        pw: String,
        client: &str,
        lifetime: Lifetime,
    ) -> Result<Grant> {
        let address = ratelimit::client_key(client);
        self.login_per_client.check_and_hit(&address).await?;
        let outcome = self.login_counted(email, pw, client, lifetime).await;
        if !matches!(outcome, Err(Error::Unauthorized(_))) {
            self.login_per_client.undo(&address).await?;
        }
        outcome
    }

    async fn login_counted(
        &self,
        email: &str,
        pw: String,
        client: &str,
        lifetime: Lifetime,
    ) -> Result<Grant> {
        let account = account_key(email);
        let key = account.clone();
        let now = self.clock.now();
        if let Some(row) = self
            .db
            .run(move |c| limits::login_throttle(c, &key))
            .await?
            .filter(|r| now < r.blocked_until)
        {
            return Err(wait_secs(row.blocked_until - now));
        }
        let mut slot = self.hashing.acquire().await?;
        let (key, policy, now) = (account.clone(), self.login_policy, self.clock.now());
        let parsed = Email::parse(email);
        let admitted = self
            .db
            .transaction(move |tx| {
                let decision = policy.admit(limits::login_throttle(tx, &key)?, now);
                let Ok(counted) = decision else {
                    return Ok::<_, Error>(decision.map(|_| None));
                };
                limits::forget_quiet_accounts(tx, now)?;
                limits::put_login_throttle(tx, &key, counted)?;
                let user = match &parsed {
                    Some(e) => users::by_email(tx, e)?,
                    None => None,
                };
                Ok(Ok(user))
            })
            .await?;
        let user = admitted.map_err(wait_secs)?;
        // An unknown account and an invited one without a password yet (NO_PASSWORD) both pay
        // one real argon2 check against the dummy hash, so timing tells neither apart.
        let has_password = user
            .as_ref()
            .is_some_and(|u| !password::is_unset(&u.password_hash));
        let stored = user
            .as_ref()
            .filter(|_| has_password)
            .map_or_else(|| self.dummy_hash.clone(), |u| u.password_hash.clone());
        let legacy = password::is_legacy(&stored);
        let verified = slot.verify(pw.clone(), stored).await? && has_password;
        let Some(user) = user.filter(|_| verified) else {
            return Err(Error::Unauthorized(INVALID_LOGIN.into()));
        };
        if legacy {
            let hash = slot.hash(pw.trim().to_owned()).await?;
            self.store_upgraded_hash(&user.id, hash).await?;
        }
        drop(slot);
        if !user.is_verified && self.settings.require_email_verification {
            // The password was right: the attempt is not a failure.
            self.db
                .run(move |c| limits::clear_login_throttle(c, &account))
                .await?;
            // The seed's wording first (its frontend's test looks for "verify your email"),
            // then what to do.
            return Err(Error::Forbidden(
                "Please verify your email first.. Open the link in the e-mail sent to you when \
                 you registered; if it never arrived, ask your school's administrator to verify \
                 your account"
                    .into(),
            ));
        }
        self.start_session(user, client.to_owned(), account, lifetime)
            .await
    }

    /// Replace an imported seed account's bcrypt hash by the argon2id hash of the password that
    /// has just matched it (trimmed, as the seed hashed it), so that no one has to reset it.
    async fn store_upgraded_hash(&self, id: &Id, hash: String) -> Result<()> {
        let id = id.clone();
        self.db
            .transaction(move |tx| {
                users::set_password_hash(tx, &id, &hash)?;
                audit::record(
                    tx,
                    Some(&id),
                    "auth.password_upgraded",
                    None,
                    "seed bcrypt -> argon2id",
                )?;
                Ok::<_, Error>(())
            })
            .await?;
        Ok(())
    }

    /// Open a session and forget the account's counted login attempts.
    pub(super) async fn start_session(
        &self,
        user: User,
        client: String,
        account: String,
        lifetime: Lifetime,
    ) -> Result<Grant> {
        let sid = tokens::random_secret();
        let refresh = tokens::random_secret();
        let refresh_hash = tokens::sha256_hex(&refresh);
        let expires_at = self.clock.now() + ttl_secs(self.settings.refresh_token_ttl_secs);
        let (uid, sid2) = (user.id.clone(), sid.clone());
        self.db
            .transaction(move |tx| {
                sessions::create(tx, &sid2, &uid, expires_at, &client)?;
                sessions::insert_refresh(tx, &refresh_hash, &sid2, expires_at)?;
                limits::clear_login_throttle(tx, &account)?;
                audit::record(tx, Some(&uid), "auth.login", None, &client)?;
                Ok::<_, Error>(())
            })
            .await?;
        self.grant(user, sid, refresh, lifetime)
    }

    fn grant(
        &self,
        user: User,
        sid: String,
        refresh_token: String,
        lifetime: Lifetime,
    ) -> Result<Grant> {
        let now = self.clock.now();
        let ttl = match lifetime {
            Lifetime::Api => self.settings.access_token_ttl_secs,
            Lifetime::Seed => self.settings.seed_access_token_ttl_secs,
        };
        let claims = Claims {
            sub: user.id.to_string(),
            user_id: user.id.to_string(),
            role: user.role.to_string(),
            email: user.email.to_string(),
            sid,
            iat: now,
            exp: now + ttl_secs(ttl),
        };
        let access_token = self.keys.sign(&claims)?;
        Ok(Grant {
            user,
            access_token,
            refresh_token,
            expires_in: ttl,
        })
    }

    /// Exchange a refresh token for a new pair. The old token dies; presenting a used token again
    /// means it was stolen or replayed, so the whole session is revoked.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Grant> {
        let hash = tokens::sha256_hex(refresh_token.trim());
        let next = tokens::random_secret();
        let next_hash = tokens::sha256_hex(&next);
        let now = self.clock.now();
        let outcome = self
            .db
            .transaction(move |tx| {
                let Some(rt) = sessions::refresh_by_hash(tx, &hash)? else {
                    return Ok::<_, Error>(Err("Invalid refresh token"));
                };
                if rt.session_revoked || rt.expires_at <= now {
                    return Ok(Err("Refresh token expired or revoked"));
                }
                if rt.used || !sessions::mark_refresh_used(tx, &hash)? {
                    sessions::revoke(tx, &rt.session_id)?;
                    audit::record(
                        tx,
                        Some(&rt.user_id),
                        "auth.refresh_reuse",
                        Some(&rt.session_id),
                        "session revoked",
                    )?;
                    return Ok(Err(
                        "Refresh token already used; the session was revoked. Please log in again",
                    ));
                }
                let Some(user) = users::by_id(tx, &rt.user_id)? else {
                    return Ok(Err("Invalid refresh token"));
                };
                sessions::insert_refresh(tx, &next_hash, &rt.session_id, rt.expires_at)?;
                Ok(Ok((user, rt.session_id)))
            })
            .await?;
        let (user, sid) = outcome.map_err(|m| Error::Unauthorized(m.into()))?;
        self.grant(user, sid, next, Lifetime::Api)
    }

    /// Revoke the session behind an access token and/or a refresh token.
    pub async fn logout(
        &self,
        caller: Option<&AuthUser>,
        refresh_token: Option<&str>,
    ) -> Result<()> {
        let sid = caller.map(|c| c.session_id.clone());
        let hash = refresh_token.map(|t| tokens::sha256_hex(t.trim()));
        if sid.is_none() && hash.is_none() {
            return Err(Error::Unauthorized("Not authenticated".into()));
        }
        let revoked_any = self
            .db
            .transaction(move |tx| {
                let mut any = false;
                if let Some(sid) = sid {
                    any |= sessions::revoke(tx, &sid)?;
                }
                if let Some(rt) = hash
                    .as_deref()
                    .map(|h| sessions::refresh_by_hash(tx, h))
                    .transpose()?
                    .flatten()
                {
                    any |= sessions::revoke(tx, &rt.session_id)?;
                }
                Ok::<_, Error>(any)
            })
            .await?;
        if caller.is_none() && !revoked_any {
            return Err(Error::Unauthorized("Invalid refresh token".into()));
        }
        Ok(())
    }

    /// Resolve a bearer token to its user: valid signature, not expired, session live, user
    /// present. The role and name are read from the account now, not from the token.
    pub async fn authenticate(&self, token: &str) -> Result<AuthUser> {
        let now = self.clock.now();
        let claims = self
            .keys
            .verify_at(token, now)
            .ok_or_else(|| Error::Unauthorized(INVALID_TOKEN.into()))?;
        let id =
            Id::parse(&claims.user_id).map_err(|_| Error::Unauthorized(INVALID_TOKEN.into()))?;
        let sid = claims.sid;
        let found = self
            .db
            .run(move |conn| {
                if !sessions::is_active(conn, &sid, &id, now)? {
                    return Ok::<_, Error>(None);
                }
                Ok(users::by_id(conn, &id)?.map(|u| (u, sid)))
            })
            .await?;
        let (user, session_id) = found.ok_or_else(|| Error::Unauthorized(INVALID_TOKEN.into()))?;
        Ok(AuthUser {
            id: user.id,
            role: user.role,
            email: user.email,
            name: user.name,
            session_id,
        })
    }

    /// Sign a link to the face photo at `path` for `viewer`, valid for
    /// `ROLLCALL_IMAGE_URL_TTL_MINUTES`: (expiry in Unix seconds, signature).
    #[must_use]
    pub fn sign_image_link(&self, path: &str, viewer: &Id) -> (i64, String) {
        let ttl = i64::try_from(self.settings.image_url_ttl_minutes.saturating_mul(60))
            .unwrap_or(i64::MAX / 4);
        let expires = self.clock.now().saturating_add(ttl);
        (expires, self.keys.sign_link(path, viewer.as_str(), expires))
    }

    /// The account a face-photo link was signed for: 403 unless `sig` signs exactly this path,
    /// account and expiry; 401 once it has expired or the account is gone. Whether the account
    /// may still see the photo is the photo's own check.
    pub async fn image_link_viewer(
        &self,
        path: &str,
        viewer: &str,
        expires: i64,
        sig: &str,
    ) -> Result<AuthUser> {
        if !self.keys.link_signed(path, viewer, expires, sig) {
            return Err(Error::Forbidden("Invalid image link".into()));
        }
        if expires <= self.clock.now() {
            return Err(Error::Unauthorized(
                "This image link has expired; reload the page for a new one".into(),
            ));
        }
        let id = Id::parse(viewer).map_err(|_| Error::Forbidden("Invalid image link".into()))?;
        let user = self
            .db
            .run(move |c| users::by_id(c, &id))
            .await?
            .ok_or_else(|| Error::Unauthorized("Invalid image link".into()))?;
        Ok(AuthUser {
            id: user.id,
            role: user.role,
            email: user.email,
            name: user.name,
            session_id: String::new(),
        })
    }

    pub async fn me(&self, caller: &AuthUser) -> Result<User> {
        let id = caller.id.clone();
        self.db
            .run(move |c| users::by_id(c, &id))
            .await?
            .ok_or_else(|| Error::NotFound("User not found".into()))
    }

    pub async fn verify_email(&self, token: &str) -> Result<()> {
        let hash = tokens::sha256_hex(token.trim());
        let outcome = self
            .db
            .transaction(move |tx| {
                let Some((user, expires_at)) = users::verification(tx, &hash)? else {
                    return Ok::<_, Error>(Err("Invalid or expired token"));
                };
                if expires_at <= now_unix() {
                    return Ok(Err("Verification link expired"));
                }
                users::set_verified(tx, &user)?;
                audit::record(
                    tx,
                    Some(&user),
                    "user.verify_email",
                    Some(user.as_str()),
                    "",
                )?;
                Ok(Ok(()))
            })
            .await?;
        outcome.map_err(|m| Error::BadRequest(m.into()))
    }

    /// Start a password reset: a 6-digit code valid for 10 minutes is queued for the account's
    /// e-mail. The answer never says whether the account exists. Past the account's hourly cap
    /// of codes the answer is the same, but nothing is queued and the current code stays valid.
    pub async fn forgot_password(&self, email: &str) -> Result<()> {
        let email = Email::parse(email)
            .ok_or_else(|| Error::Invalid("email is not a valid e-mail address".into()))?;
        let otp = format!("{:06}", rand::random_range(0..1_000_000u32));
        let otp_hash = self.keys.mac("password-reset", &otp);
        let now = self.clock.now();
        let cap = i64::from(self.settings.reset_max_per_hour);
        self.db
            .transaction(move |tx| {
                let Some(user) = users::by_email(tx, &email)? else {
                    return Ok::<_, Error>(());
                };
                let since = now - RESET_CAP_WINDOW_SECS;
                if limits::count_recovery(tx, &user.id, RecoveryEvent::CodeIssued, since)? >= cap {
                    return Ok(());
                }
                limits::record_recovery(tx, &user.id, RecoveryEvent::CodeIssued, now, since)?;
                users::put_reset(tx, &user.id, &otp_hash, now + OTP_TTL_SECS)?;
                queue_mail(
                    tx,
                    "password_reset",
                    &user,
                    &templates::password_reset(&user.name, &otp),
                )?;
                audit::record(tx, Some(&user.id), "user.forgot_password", None, "")?;
                Ok(())
            })
            .await?;
        Ok(())
    }

    /// Check a reset code without using it up. Wrong codes count against the attempt limits.
    pub async fn verify_otp(&self, email: &str, otp: &str) -> Result<()> {
        if self.check_otp(email, otp, None).await? {
            Ok(())
        } else {
            Err(Error::BadRequest(INVALID_OTP.into()))
        }
    }

    /// Set a new password with a valid reset code; the code is single-use, every session ends
    /// and the account's counted login attempts are forgotten. The code is checked (and a wrong
    /// one counted) before the new password is hashed, so guesses cost no hashing; it is checked
    /// again when it is used, in the transaction that sets the password.
    pub async fn reset_password(&self, email: &str, otp: &str, new_password: String) -> Result<()> {
        password::check_policy(&new_password).map_err(Error::Invalid)?;
        if !self.check_otp(email, otp, None).await? {
            return Err(Error::BadRequest(INVALID_OTP.into()));
        }
        let hash = self.hashing.hash(new_password).await?;
        if !self.check_otp(email, otp, Some(hash)).await? {
            return Err(Error::BadRequest(INVALID_OTP.into()));
        }
        Ok(())
    }

    /// Whether `otp` is the account's live code; with `new_hash`, also use it up and set the
    /// password. A wrong code counts against the code (`OTP_MAX_ATTEMPTS`) and against the
    /// account across codes (`ROLLCALL_OTP_MAX_FAILURES_PER_DAY`); reaching either ends the code.
    /// Read, count and decide happen in one transaction, so concurrent guesses are counted exactly.
    async fn check_otp(&self, email: &str, otp: &str, new_hash: Option<String>) -> Result<bool> {
        let email = Email::parse(email)
            .ok_or_else(|| Error::Invalid("email is not a valid e-mail address".into()))?;
        if otp.len() != 6 || !otp.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::Invalid("otp must be 6 digits".into()));
        }
        let presented = self.keys.mac("password-reset", otp);
        let now = self.clock.now();
        let day_cap = i64::from(self.settings.otp_max_failures_per_day);
        self.db
            .transaction(move |tx| {
                let Some(user) = users::by_email(tx, &email)? else {
                    return Ok::<_, Error>(false);
                };
                let Some(reset) = users::reset(tx, &user.id)? else {
                    return Ok(false);
                };
                let since = now - OTP_FAILURE_WINDOW_SECS;
                let wrong_today =
                    limits::count_recovery(tx, &user.id, RecoveryEvent::WrongCode, since)?;
                let usable = reset.failed_attempts < OTP_MAX_ATTEMPTS
                    && reset.expires_at > now
                    && wrong_today < day_cap;
                if !usable {
                    users::clear_reset(tx, &user.id)?;
                    return Ok(false);
                }
                if !tokens::constant_time_eq(&reset.otp_hash, &presented) {
                    users::record_reset_failure(tx, &user.id)?;
                    limits::record_recovery(tx, &user.id, RecoveryEvent::WrongCode, now, since)?;
                    if reset.failed_attempts + 1 >= OTP_MAX_ATTEMPTS || wrong_today + 1 >= day_cap {
                        users::clear_reset(tx, &user.id)?;
                    }
                    return Ok(false);
                }
                if let Some(hash) = &new_hash {
                    users::set_password_hash(tx, &user.id, hash)?;
                    users::clear_reset(tx, &user.id)?;
                    sessions::revoke_all_for_user(tx, &user.id)?;
                    limits::clear_login_throttle(tx, user.email.as_str())?;
                    audit::record(
                        tx,
                        Some(&user.id),
                        "user.reset_password",
                        None,
                        "all sessions revoked",
                    )?;
                }
                Ok(true)
            })
            .await
    }
}

/// Queue an e-mail in the outbox (same transaction as its cause). Its code or link is never
/// logged: without a relay an administrator reads the message in the outbox
/// (`GET /api/admin/outbox/{id}`, audited) and passes it on.
fn queue_mail(
    tx: &Conn<'_>,
    kind: &str,
    to: &User,
    m: &templates::Rendered,
) -> crate::storage::Result<()> {
    let id = outbox::enqueue(
        tx,
        &outbox::NewMessage {
            kind,
            recipient: to.email.as_str(),
            subject: &m.subject,
            body_text: &m.text,
            body_html: Some(&m.html),
            recipient_name: Some(&to.name),
            ..outbox::NewMessage::default()
        },
    )?;
    tracing::info!(kind, outbox_id = id, "e-mail queued in the outbox");
    Ok(())
}

/// A 429 that says how many seconds to wait.
fn wait_secs(secs: i64) -> Error {
    Error::RateLimited {
        retry_after: std::time::Duration::from_secs(u64::try_from(secs).unwrap_or(1).max(1)),
    }
}

/// The key an account's login attempts are counted under: the e-mail as typed, trimmed and in
/// lower case (also for addresses without an account, so the limits reveal nothing), bounded.
pub(super) fn account_key(email: &str) -> String {
    email
        .trim()
        .to_lowercase()
        .chars()
        .take(MAX_ACCOUNT_KEY_CHARS)
        .collect()
}

fn ttl_secs(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX / 2)
}

pub(crate) fn required_text(field: &str, value: &str, max: usize) -> Result<String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(Error::Invalid(format!("{field} is required")));
    }
    optional_text(field, v, max)
}

pub(crate) fn optional_text(field: &str, value: &str, max: usize) -> Result<String> {
    let v = value.trim();
    if v.chars().count() > max {
        return Err(Error::Invalid(format!(
            "{field} must be at most {max} characters"
        )));
    }
    if v.chars().any(char::is_control) {
        return Err(Error::Invalid(format!(
            "{field} must not contain control characters"
        )));
    }
    if v.chars().any(is_bidi_control) {
        return Err(Error::Invalid(format!(
            "{field} must not contain text-direction override characters"
        )));
    }
    Ok(v.to_owned())
}

/// The Unicode characters that reorder the text around them (embeddings, overrides, isolates):
/// in a name they make a list or an e-mail show something other than what was stored.
#[must_use]
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Trim and bound the role-specific fields.
pub(crate) fn checked_profile(p: Profile) -> Result<Profile> {
    let profile = Profile {
        employee_id: optional_text("employee_id", &p.employee_id, 50)?,
        phone: optional_text("phone", &p.phone, 30)?,
        branch: optional_text("branch", &p.branch, 100)?,
        roll: optional_text("roll", &p.roll, 50)?,
        year: optional_text("year", &p.year, 20)?,
    };
    Ok(profile)
}
