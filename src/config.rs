//! Typed settings: every knob has a flag, an environment variable and a laptop-friendly default.
//! The seed system's variable names are kept where they exist (JWT_SECRET, ML_*, SMTP_*, CORS_ORIGINS).

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use clap::{Args, ValueEnum};
use serde::Serialize;

/// A setting that must never be shown: a password, a token, a signing key. `Debug` and
/// `Display` print `<redacted>` whatever the value, so a `Settings` can be logged or formatted
/// freely; [`Secret::expose`] is the one way to the value, for the few places that use it.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// What a secret looks like wherever it is shown.
    pub const REDACTED: &str = "<redacted>";

    /// The value itself: only to use it (sign, compare, log in), never to show it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Parsing never fails, so clap takes any string (checks such as the JWT secret's length are in
/// [`Settings::validate`]).
impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Self::REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Self::REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(Self::REDACTED)
    }
}

/// Where the rows are kept (`ROLLCALL_DATABASE_URL`): `sqlite:` (the default) for the file in the
/// data directory, or `postgres://user:password@host:port/database` for a PostgreSQL database
/// that several servers can share. Shown with its password redacted.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum DatabaseUrl {
    #[default]
    Sqlite,
    Postgres(String),
}

impl std::str::FromStr for DatabaseUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() || s == "sqlite:" || s == "sqlite" {
            Ok(Self::Sqlite)
        } else if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Ok(Self::Postgres(s.to_owned()))
        } else {
            Err("expected `sqlite:` or a `postgres://user:password@host:port/database` URL".into())
        }
    }
}

impl DatabaseUrl {
    /// The URL as it may be shown: the password, if any, replaced by `<redacted>`.
    #[must_use]
    pub fn redacted(&self) -> String {
        match self {
            Self::Sqlite => "sqlite:".into(),
            Self::Postgres(url) => {
                let Some((scheme, rest)) = url.split_once("://") else {
                    return Secret::REDACTED.into();
                };
                let authority_end = rest.find('/').unwrap_or(rest.len());
                match rest[..authority_end].rfind('@') {
                    Some(at) => {
                        let user = rest[..at].split_once(':').map_or(&rest[..at], |(u, _)| u);
                        let password = if rest[..at].contains(':') {
                            format!(":{}", Secret::REDACTED)
                        } else {
                            String::new()
                        };
                        format!("{scheme}://{user}{password}{}", &rest[at..])
                    }
                    None => url.clone(),
                }
            }
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Serialize for DatabaseUrl {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.redacted())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Classroom laptop / single school machine: secrets generated and kept in the data dir.
    Local,
    /// Secrets must be given; demo accounts refused.
    Production,
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain text (a relay on localhost or the school network).
    None,
    /// Plain connection upgraded with STARTTLS, which is required (the usual port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

/// `Serialize` is for [`Settings::redacted_summary`]: every field, secrets as `<redacted>`.
#[derive(Debug, Clone, Args, Serialize)]
#[allow(clippy::struct_excessive_bools)]
pub struct Settings {
    /// Address to listen on.
    #[arg(long, env = "ROLLCALL_BIND", default_value = "127.0.0.1:8000")]
    pub bind: SocketAddr,

    /// Directory holding the SQLite file, face images and generated secrets.
    #[arg(long, env = "ROLLCALL_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// `sqlite:` (the file in the data directory) or `postgres://user:password@host:port/db`
    /// (several servers on one database; docs/postgres.md).
    #[arg(
        long,
        env = "ROLLCALL_DATABASE_URL",
        default_value = "sqlite:",
        hide_env_values = true
    )]
    pub database_url: DatabaseUrl,

    /// Directory that `scripts/setup` fills (docs assets, models, ONNX Runtime).
    /// Default: `.cache` in the working directory, else beside the repository the binary was built in.
    #[arg(long, env = "ROLLCALL_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,

    /// `local` generates secrets into the data dir; `production` requires them.
    #[arg(long, env = "ROLLCALL_MODE", value_enum, default_value_t = Mode::Local)]
    pub mode: Mode,

    /// HS256 secret for access tokens (at least 32 bytes). Required in production mode.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<Secret>,

    /// Lifetime of an access token, in seconds.
    #[arg(long, env = "ROLLCALL_ACCESS_TOKEN_TTL", default_value_t = 900)]
    pub access_token_ttl_secs: u64,

    /// Lifetime of an access token issued at the seed frontend's login path `/auth/login`, in
    /// seconds (default a school day: that frontend never refreshes). Every request still
    /// checks the session, so logout, password reset and revocation end it at once.
    #[arg(long, env = "ROLLCALL_SEED_ACCESS_TOKEN_TTL", default_value_t = 12 * 3600)]
    pub seed_access_token_ttl_secs: u64,

    /// Lifetime of a refresh token, in seconds.
    #[arg(long, env = "ROLLCALL_REFRESH_TOKEN_TTL", default_value_t = 30 * 24 * 3600)]
    pub refresh_token_ttl_secs: u64,

    /// E-mail of the first administrator, created on an empty database.
    #[arg(
        long,
        env = "ROLLCALL_ADMIN_EMAIL",
        default_value = "admin@rollcall.local"
    )]
    pub admin_email: String,

    /// Password of the first administrator; when unset a one-time password is generated and printed.
    #[arg(long, env = "ROLLCALL_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<Secret>,

    /// On an empty database, also create demo accounts (password `rollcall-demo`). Refused in production.
    #[arg(long, env = "ROLLCALL_DEMO", default_value_t = false)]
    pub demo: bool,

    /// Whether anyone may register a student account themselves.
    #[arg(long, env = "ROLLCALL_ALLOW_STUDENT_SIGNUP", default_value_t = true, action = clap::ArgAction::Set)]
    pub allow_student_signup: bool,

    /// Whether anyone may register a teacher account themselves (otherwise an admin creates teachers).
    #[arg(long, env = "ROLLCALL_ALLOW_TEACHER_SIGNUP", default_value_t = false, action = clap::ArgAction::Set)]
    pub allow_teacher_signup: bool,

    /// Whether self-registered accounts must verify their e-mail before logging in.
    #[arg(long, env = "ROLLCALL_REQUIRE_EMAIL_VERIFICATION", default_value_t = true, action = clap::ArgAction::Set)]
    pub require_email_verification: bool,

    /// Whether a student's biometric consent must be recorded before their face is enrolled.
    #[arg(long, env = "ROLLCALL_REQUIRE_CONSENT", default_value_t = true, action = clap::ArgAction::Set)]
    pub require_consent: bool,

    /// Whether a student may record (and withdraw) their own biometric consent, on rollcall's
    /// page or with `POST /api/students/{id}/consent`. Turn off where students are minors: then
    /// only staff record consent, from the guardian's signed form.
    #[arg(long, env = "ROLLCALL_STUDENT_SELF_CONSENT", default_value_t = true, action = clap::ArgAction::Set)]
    pub student_self_consent: bool,

    /// The notice a student reads before recording consent (shown on rollcall's page and at
    /// `GET /api/students/consent-notice`); its SHA-256 goes into each `student.consent` audit
    /// entry, so the school can show what was agreed to.
    #[arg(long, env = "ROLLCALL_CONSENT_NOTICE", default_value = DEFAULT_CONSENT_NOTICE)]
    pub consent_notice: String,

    /// Minutes a signed face-photo link (`image_url` / `avatar` in the seed's shapes) stays valid.
    #[arg(long, env = "ROLLCALL_IMAGE_URL_TTL_MINUTES", default_value_t = 10)]
    pub image_url_ttl_minutes: u64,

    /// Whether a face photo a student uploads of themselves waits for a teacher's or an
    /// administrator's approval before it is matched in class photos (otherwise a student could
    /// enrol someone else's face as their own).
    #[arg(long, env = "ROLLCALL_REVIEW_SELF_UPLOADS", default_value_t = true, action = clap::ArgAction::Set)]
    pub review_self_uploads: bool,

    /// Whether confirming an attendance draft adds to a student's face samples the face the
    /// teacher vouched for (assigned to them, or accepted while uncertain; one per student,
    /// consent and quality checked, audited as `face.learn`), so the next photo recognises them.
    #[arg(long, env = "ROLLCALL_LEARN_FROM_CONFIRM", default_value_t = true, action = clap::ArgAction::Set)]
    pub learn_from_confirm: bool,

    /// Whether a mark request in the seed frontend's live-mode shape without a `live` flag (a
    /// JSON data-URL image, landscape, at most 1280x720) is analysed as a live webcam frame:
    /// faces of at least 80 px and 10% of the frame, about 80 ms instead of 300-900 ms for
    /// 640x480. `false`: as a class photo (small faces found too, for a webcam that films the
    /// whole class).
    #[arg(long, env = "ROLLCALL_SEED_LIVE_FRAMES", default_value_t = true, action = clap::ArgAction::Set)]
    pub seed_live_frames: bool,

    /// Whether faces are processed at all. `false`: a biometric-free school; face enrolment,
    /// photo marking and drafts answer 403 and attendance is taken manually.
    #[arg(long, env = "ROLLCALL_BIOMETRICS", default_value_t = true, action = clap::ArgAction::Set)]
    pub biometrics: bool,

    /// Days an unconfirmed attendance draft (with its class photos) is kept after its last
    /// change; 0 keeps drafts until confirmed or discarded.
    #[arg(long, env = "ROLLCALL_DRAFT_RETENTION_DAYS", default_value_t = 14)]
    pub draft_retention_days: u32,

    /// Days a face sample (its embedding and photo) is kept after enrolment; 0 keeps samples
    /// until consent is withdrawn or the student is deleted.
    #[arg(long, env = "ROLLCALL_FACE_RETENTION_DAYS", default_value_t = 0)]
    pub face_retention_days: u32,

    /// Whether a late arrival counts as attended in analytics percentages (excused never counts).
    #[arg(long, env = "ROLLCALL_LATE_COUNTS_AS_PRESENT", default_value_t = true, action = clap::ArgAction::Set)]
    pub late_counts_as_present: bool,

    /// Attendance percentage strictly below which a class or a student is listed as at risk.
    #[arg(long, env = "ROLLCALL_RISK_THRESHOLD", default_value_t = 75.0)]
    pub risk_threshold: f64,

    /// Public base URL of this server, used in e-mailed links. Default: http://<bind>.
    #[arg(long, env = "BACKEND_BASE_URL")]
    pub backend_base_url: Option<String>,

    /// Where the browser goes after e-mail verification (`<url>/login?verified=true`). Unset: JSON answer.
    #[arg(long, env = "FRONTEND_BASE_URL")]
    pub frontend_base_url: Option<String>,

    /// Browser origins allowed to call the API with credentials, comma-separated. Never a wildcard.
    #[arg(
        long,
        env = "CORS_ORIGINS",
        value_delimiter = ',',
        default_value = "http://localhost:5173,http://localhost:4173,http://127.0.0.1:5173,http://127.0.0.1:4173"
    )]
    pub cors_origins: Vec<String>,

    /// Largest accepted request body, in bytes (a base64 classroom photo fits with room to spare).
    #[arg(long, env = "ROLLCALL_MAX_BODY_BYTES", default_value_t = 20 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Failed logins per account that cost nothing; after them each further attempt waits a
    /// growing delay (`ROLLCALL_LOGIN_DELAY`, doubling, at most `ROLLCALL_LOGIN_DELAY_MAX`).
    #[arg(long, env = "ROLLCALL_LOGIN_MAX_FAILURES", default_value_t = 5)]
    pub login_max_failures: u32,

    /// Login attempts per client address per window that did not succeed (a successful login
    /// gives its attempt back).
    #[arg(long, env = "ROLLCALL_LOGIN_MAX_PER_IP", default_value_t = 60)]
    pub login_max_per_ip: u32,

    /// Length of the per-address window, in seconds; also how long an account must stay quiet
    /// after its last delay before its failures are forgotten.
    #[arg(long, env = "ROLLCALL_LOGIN_WINDOW", default_value_t = 900)]
    pub login_window_secs: u64,

    /// Take the client address from X-Forwarded-For (only behind a trusted reverse proxy; see
    /// `ROLLCALL_PROXY_HOPS`).
    #[arg(long, env = "ROLLCALL_TRUST_PROXY", default_value_t = false, action = clap::ArgAction::Set)]
    pub trust_proxy: bool,

    // Authentication limits: the password-hashing pool, per-address allowances of registration
    // and recovery, an account's login delays, recovery caps per account, proxy hops.
    /// Password hashes (argon2id, 19 MiB of memory each) computed at the same time; other
    /// requests wait for one. Default: the number of cores.
    #[arg(long, env = "ROLLCALL_HASH_WORKERS")]
    pub hash_workers: Option<usize>,

    /// How long a request waits for a free hashing worker before it is answered 503 with
    /// Retry-After, in milliseconds.
    #[arg(long, env = "ROLLCALL_HASH_WAIT_MS", default_value_t = 2000)]
    pub hash_wait_ms: u64,

    /// First delay after an account's free failures, in seconds; it doubles with each further
    /// failure.
    #[arg(long, env = "ROLLCALL_LOGIN_DELAY", default_value_t = 30)]
    pub login_delay_secs: u64,

    /// Longest delay between two login attempts on one account, in seconds.
    #[arg(long, env = "ROLLCALL_LOGIN_DELAY_MAX", default_value_t = 900)]
    pub login_delay_max_secs: u64,

    /// Registrations per client address per window.
    #[arg(long, env = "ROLLCALL_REGISTER_MAX_PER_IP", default_value_t = 20)]
    pub register_max_per_ip: u32,

    /// Recovery requests (forgot-password, verify-otp and reset-password together) per client
    /// address per window.
    #[arg(long, env = "ROLLCALL_RECOVERY_MAX_PER_IP", default_value_t = 30)]
    pub recovery_max_per_ip: u32,

    /// Password-reset codes (and their e-mails) per account per hour; further requests get the
    /// usual answer but nothing is queued and the current code stays valid.
    #[arg(long, env = "ROLLCALL_RESET_MAX_PER_HOUR", default_value_t = 3)]
    pub reset_max_per_hour: u32,

    /// Wrong reset codes per account per 24 hours, across all its codes; reaching it ends the
    /// current code and refuses every code until the oldest wrong one is a day old.
    #[arg(long, env = "ROLLCALL_OTP_MAX_FAILURES_PER_DAY", default_value_t = 15)]
    pub otp_max_failures_per_day: u32,

    /// Days an invitation link (an account created without a password chooses its own with
    /// it) stays valid; sending a new link starts the time again.
    #[arg(long, env = "ROLLCALL_INVITATION_DAYS", default_value_t = 7)]
    pub invitation_days: u32,

    /// Reverse proxies in front of rollcall (with `ROLLCALL_TRUST_PROXY=true`): the client is the
    /// address that many entries from the right of X-Forwarded-For, which the outermost trusted
    /// proxy wrote. With fewer entries, the connection's own address is used.
    #[arg(long, env = "ROLLCALL_PROXY_HOPS", default_value_t = 1)]
    pub proxy_hops: u8,

    /// Bearer token that lets a Prometheus scraper or a monitor read /metrics and
    /// /health/detailed (admins can always read them).
    #[arg(long, env = "ROLLCALL_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<Secret>,

    /// /health/detailed reports unhealthy below this much free disk in the data dir, in MiB.
    #[arg(long, env = "ROLLCALL_MIN_FREE_DISK_MB", default_value_t = 200)]
    pub min_free_disk_mb: u64,

    /// Face distance at or below which a match counts as present.
    #[arg(long, env = "ML_CONFIDENT_THRESHOLD", default_value_t = 0.50)]
    pub confident_threshold: f32,

    /// Face distance at or below which a match is shown as uncertain (teacher decides).
    #[arg(long, env = "ML_UNCERTAIN_THRESHOLD", default_value_t = 0.60)]
    pub uncertain_threshold: f32,

    /// SMTP relay host; no e-mail is sent while unset (messages stay queued in the outbox).
    #[arg(long, env = "SMTP_HOST")]
    pub smtp_host: Option<String>,

    /// SMTP port. Default: 25 with `SMTP_TLS=none`, 587 with `starttls`, 465 with `tls`.
    #[arg(long, env = "SMTP_PORT")]
    pub smtp_port: Option<u16>,

    /// How the connection to the relay is secured: `starttls` (587), `tls` (implicit TLS, 465)
    /// or `none` (plain text, only for a relay on the same machine or network).
    #[arg(long, env = "SMTP_TLS", value_enum, default_value_t = SmtpTls::Starttls)]
    pub smtp_tls: SmtpTls,

    /// SMTP login; with `SMTP_PASSWORD`, the relay is authenticated (PLAIN or LOGIN).
    #[arg(long, env = "SMTP_USER")]
    pub smtp_user: Option<String>,

    /// The same as `SMTP_USER` (the seed's spelling); `SMTP_USER` wins when both are set.
    #[arg(long, env = "SMTP_USERNAME", hide = true)]
    pub smtp_username: Option<String>,

    #[arg(long, env = "SMTP_PASSWORD", hide_env_values = true)]
    pub smtp_password: Option<Secret>,

    /// Sender of outgoing mail: `address` or `Name <address>`.
    #[arg(
        long,
        env = "SMTP_FROM",
        default_value = "rollcall <rollcall@localhost>"
    )]
    pub smtp_from: String,

    /// Seconds to wait for the relay (connect and each command) before the attempt counts as failed.
    #[arg(long, env = "SMTP_TIMEOUT", default_value_t = 30)]
    pub smtp_timeout_secs: u64,

    /// Delivery attempts per message before it is marked dead (an administrator can retry it).
    #[arg(long, env = "ROLLCALL_MAIL_MAX_ATTEMPTS", default_value_t = 8)]
    pub mail_max_attempts: u32,

    /// Wait after the first failed attempt, in seconds; it doubles with every further failure.
    #[arg(long, env = "ROLLCALL_MAIL_RETRY_BASE", default_value_t = 60)]
    pub mail_retry_base_secs: u64,

    /// Longest wait between two attempts, in seconds.
    #[arg(long, env = "ROLLCALL_MAIL_RETRY_MAX", default_value_t = 3600)]
    pub mail_retry_max_secs: u64,

    /// How often the delivery worker looks for due messages, in milliseconds.
    #[arg(long, env = "ROLLCALL_MAIL_POLL_MS", default_value_t = 5000)]
    pub mail_poll_ms: u64,

    /// Log line format.
    #[arg(long, env = "ROLLCALL_LOG_FORMAT", value_enum, default_value_t = LogFormat::Json)]
    pub log_format: LogFormat,

    #[command(flatten)]
    #[serde(flatten)]
    pub vision: VisionSettings,

    #[command(flatten)]
    #[serde(flatten)]
    pub connections: ConnectionSettings,
}

/// How client connections are limited, so that slow or flooding clients cannot hold the server
/// (see `crate::server`).
#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct ConnectionSettings {
    /// Seconds a client has to send a request's headers, from the moment the connection opens
    /// or the previous answer was sent; an idle kept-alive connection is closed after as long.
    #[arg(long, env = "ROLLCALL_HEADER_TIMEOUT", default_value_t = 15)]
    pub header_timeout_secs: u64,

    /// Longest pause in a request body, in seconds; then 408 and the connection is closed.
    #[arg(long, env = "ROLLCALL_BODY_IDLE_TIMEOUT", default_value_t = 30)]
    pub body_idle_timeout_secs: u64,

    /// Seconds a whole request body may take after its headers; then 408 and the connection is
    /// closed. 300 s lets a 20 MiB photo through at about 0.6 Mbit/s.
    #[arg(long, env = "ROLLCALL_BODY_TIMEOUT", default_value_t = 300)]
    pub body_timeout_secs: u64,

    /// Connections served at once; more are answered 503 and closed. Lowered at start to fit
    /// the process's open-file limit.
    #[arg(long, env = "ROLLCALL_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,

    /// Connections one client address may hold at once (0: no limit). Default 256, and none
    /// behind a trusted proxy (`ROLLCALL_TRUST_PROXY`), where every connection comes from the
    /// proxy's address.
    #[arg(long, env = "ROLLCALL_MAX_CONNECTIONS_PER_IP")]
    pub max_connections_per_ip: Option<usize>,
}

/// Connections per client address when `ROLLCALL_MAX_CONNECTIONS_PER_IP` is not set.
pub const DEFAULT_MAX_CONNECTIONS_PER_IP: usize = 256;

impl ConnectionSettings {
    pub fn validate(&self) -> anyhow::Result<()> {
        ensure!(
            (1..=600).contains(&self.header_timeout_secs),
            "ROLLCALL_HEADER_TIMEOUT must be between 1 and 600 seconds"
        );
        ensure!(
            (1..=3600).contains(&self.body_idle_timeout_secs),
            "ROLLCALL_BODY_IDLE_TIMEOUT must be between 1 and 3600 seconds"
        );
        ensure!(
            self.body_timeout_secs >= self.body_idle_timeout_secs
                && self.body_timeout_secs <= 86_400,
            "ROLLCALL_BODY_TIMEOUT must be at least ROLLCALL_BODY_IDLE_TIMEOUT and at most 86400 seconds"
        );
        ensure!(
            (1..=1_000_000).contains(&self.max_connections),
            "ROLLCALL_MAX_CONNECTIONS must be between 1 and 1000000"
        );
        if let Some(n) = self.max_connections_per_ip {
            ensure!(
                n <= self.max_connections,
                "ROLLCALL_MAX_CONNECTIONS_PER_IP ({n}) must not exceed ROLLCALL_MAX_CONNECTIONS ({})",
                self.max_connections
            );
        }
        Ok(())
    }

    /// The per-address cap in force: the setting (0: none), else the default, except behind a
    /// trusted proxy, where one address is everyone and the proxy limits its clients.
    #[must_use]
    pub fn per_address_cap(&self, trust_proxy: bool) -> Option<usize> {
        match self.max_connections_per_ip {
            Some(0) => None,
            Some(n) => Some(n),
            None if trust_proxy => None,
            None => Some(DEFAULT_MAX_CONNECTIONS_PER_IP),
        }
    }
}

/// How photos are analysed (shared by `serve` and the vision commands).
#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct VisionSettings {
    /// Detector working resolution: `auto` (proposals, then MMOD around each, down to the
    /// smallest face below, in a portrait to 0.4 of its face; docs/detection.md), `refine`
    /// (MMOD only, coarse to fine), `whole` (the whole photo at the scale of that face) or
    /// face_recognition's number_of_times_to_upsample, 0-2 (boxes identical to its "cnn"
    /// model).
    #[arg(long, env = "ROLLCALL_DETECT_UPSAMPLE", default_value = "auto")]
    pub upsample: String,

    /// Smallest face to find, in photo pixels (auto, refine and whole): the smallest region
    /// proposed (auto), or the face that fills MMOD's 80 px window at the finest scale.
    #[arg(long, env = "ROLLCALL_MIN_FACE_PX", default_value_t = 20.0)]
    pub min_face_px: f32,

    /// Smallest face to find as a fraction of the photo's longer side (auto and whole); the
    /// larger of the two wins (1.25%: 50 px in a 12-megapixel photo).
    #[arg(long, env = "ROLLCALL_MIN_FACE_FRACTION", default_value_t = 0.0125)]
    pub min_face_fraction: f32,

    /// Faces analysed per photo at most (highest detector confidence first).
    #[arg(long, env = "ROLLCALL_MAX_FACES", default_value_t = 200)]
    pub max_faces: usize,

    /// ONNX Runtime threads per inference (default: all cores).
    #[arg(long, env = "ROLLCALL_VISION_THREADS")]
    pub vision_threads: Option<usize>,
}

impl VisionSettings {
    /// The pipeline options these settings describe.
    pub fn pipeline_options(&self) -> anyhow::Result<crate::vision::pipeline::PipelineOptions> {
        use crate::vision::pipeline::{PipelineOptions, Upsample};
        ensure!(
            self.min_face_px.is_finite() && (8.0..=2000.0).contains(&self.min_face_px),
            "ROLLCALL_MIN_FACE_PX must be between 8 and 2000"
        );
        ensure!(
            self.min_face_fraction.is_finite() && (0.0..=0.5).contains(&self.min_face_fraction),
            "ROLLCALL_MIN_FACE_FRACTION must be between 0 and 0.5"
        );
        ensure!(
            (1..=1000).contains(&self.max_faces),
            "ROLLCALL_MAX_FACES must be between 1 and 1000"
        );
        let upsample = match self
            .upsample
            .parse::<Upsample>()
            .map_err(|e| anyhow::anyhow!("ROLLCALL_DETECT_UPSAMPLE {e}"))?
        {
            Upsample::Auto { .. } => Upsample::Auto {
                min_face_px: self.min_face_px,
                min_face_fraction: self.min_face_fraction,
            },
            Upsample::Refine { .. } => Upsample::Refine {
                min_face_px: self.min_face_px,
                min_face_fraction: self.min_face_fraction,
            },
            Upsample::Propose { .. } => Upsample::Propose {
                min_face_px: self.min_face_px,
                min_face_fraction: self.min_face_fraction,
            },
            times => times,
        };
        let mut options = PipelineOptions {
            upsample,
            max_faces: self.max_faces,
            ..PipelineOptions::default()
        };
        if let Some(t) = self.vision_threads {
            ensure!(
                (1..=256).contains(&t),
                "ROLLCALL_VISION_THREADS must be 1-256"
            );
            options.engine.intra_threads = t;
        }
        Ok(options)
    }
}

/// Name of the SQLite file inside the data dir.
pub const DATABASE_FILE: &str = "rollcall.sqlite3";

/// The consent notice when the school has not written its own (`ROLLCALL_CONSENT_NOTICE`).
pub const DEFAULT_CONSENT_NOTICE: &str = "I agree that my school may keep photos of my face and \
measurements computed from them, to recognise me in class photos and record my attendance. They are \
used for nothing else, seen only by my teachers and the school's administrators, and deleted when I \
withdraw this consent, which I may do at any time.";

/// Settings alone as a command line, for embedding and tests.
#[derive(Debug, clap::Parser)]
#[command(name = "rollcall")]
struct SettingsOnly {
    #[command(flatten)]
    settings: Settings,
}

impl Settings {
    /// Parse settings from flags (and the environment), as `rollcall serve` does.
    pub fn try_from_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        <SettingsOnly as clap::Parser>::try_parse_from(args).map(|s| s.settings)
    }

    /// Reject contradictory or unsafe settings before anything starts.
    pub fn validate(&self) -> anyhow::Result<()> {
        ensure!(
            self.confident_threshold.is_finite()
                && self.uncertain_threshold.is_finite()
                && self.confident_threshold > 0.0
                && self.confident_threshold < self.uncertain_threshold,
            "ML_CONFIDENT_THRESHOLD ({}) must be positive and below ML_UNCERTAIN_THRESHOLD ({})",
            self.confident_threshold,
            self.uncertain_threshold
        );
        ensure!(
            self.access_token_ttl_secs > 0,
            "access token lifetime must be positive"
        );
        ensure!(
            self.image_url_ttl_minutes > 0,
            "ROLLCALL_IMAGE_URL_TTL_MINUTES must be positive"
        );
        ensure!(
            !self.consent_notice.trim().is_empty(),
            "ROLLCALL_CONSENT_NOTICE must not be empty"
        );
        ensure!(
            self.seed_access_token_ttl_secs > 0,
            "ROLLCALL_SEED_ACCESS_TOKEN_TTL must be positive"
        );
        ensure!(
            self.refresh_token_ttl_secs > 0,
            "refresh token lifetime must be positive"
        );
        ensure!(
            self.max_body_bytes >= 1024,
            "ROLLCALL_MAX_BODY_BYTES is too small"
        );
        ensure!(
            self.login_max_failures > 0 && self.login_max_per_ip > 0 && self.login_window_secs > 0,
            "login rate limits must be positive"
        );
        self.validate_auth_limits()?;
        ensure!(
            self.risk_threshold.is_finite() && (0.0..=100.0).contains(&self.risk_threshold),
            "ROLLCALL_RISK_THRESHOLD ({}) must be a percentage between 0 and 100",
            self.risk_threshold
        );
        self.vision.pipeline_options()?;
        self.connections.validate()?;
        self.smtp_sender()?;
        ensure!(
            (1..=100).contains(&self.mail_max_attempts),
            "ROLLCALL_MAIL_MAX_ATTEMPTS must be between 1 and 100"
        );
        ensure!(
            self.mail_retry_base_secs >= 1 && self.mail_retry_base_secs <= self.mail_retry_max_secs,
            "ROLLCALL_MAIL_RETRY_BASE must be at least 1 and at most ROLLCALL_MAIL_RETRY_MAX"
        );
        ensure!(
            (50..=3_600_000).contains(&self.mail_poll_ms),
            "ROLLCALL_MAIL_POLL_MS must be between 50 and 3600000"
        );
        ensure!(
            (1..=600).contains(&self.smtp_timeout_secs),
            "SMTP_TIMEOUT must be between 1 and 600 seconds"
        );
        if let Some(host) = &self.smtp_host {
            ensure!(!host.trim().is_empty(), "SMTP_HOST is empty");
        }
        ensure!(
            self.smtp_login().is_some() || self.smtp_password.is_none(),
            "SMTP_PASSWORD is set without SMTP_USER"
        );
        for origin in &self.cors_origins {
            ensure!(
                origin != "*" && (origin.starts_with("http://") || origin.starts_with("https://")),
                "CORS_ORIGINS entries must be concrete http(s) origins, got {origin:?}"
            );
        }
        if let Some(secret) = &self.jwt_secret {
            ensure!(
                secret.expose().len() >= 32,
                "JWT_SECRET must be at least 32 bytes"
            );
        }
        if self.mode == Mode::Production {
            if self.jwt_secret.is_none() {
                bail!("JWT_SECRET is required in production mode");
            }
            if self.demo {
                bail!("demo accounts are refused in production mode");
            }
        }
        Ok(())
    }

    /// The `From` of outgoing mail, parsed from `SMTP_FROM`.
    pub fn smtp_sender(&self) -> anyhow::Result<lettre::message::Mailbox> {
        self.smtp_from
            .parse()
            .with_context(|| format!("SMTP_FROM {:?} is not an e-mail address", self.smtp_from))
    }

    /// The SMTP login (`SMTP_USER`, else `SMTP_USERNAME`).
    #[must_use]
    pub fn smtp_login(&self) -> Option<&str> {
        self.smtp_user
            .as_deref()
            .or(self.smtp_username.as_deref())
            .filter(|u| !u.is_empty())
    }

    /// The SMTP port: `SMTP_PORT`, else the usual port of the TLS mode.
    #[must_use]
    pub fn smtp_port(&self) -> u16 {
        self.smtp_port.unwrap_or(match self.smtp_tls {
            SmtpTls::None => 25,
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
        })
    }

    pub fn access_token_ttl(&self) -> Duration {
        Duration::from_secs(self.access_token_ttl_secs)
    }

    pub fn refresh_token_ttl(&self) -> Duration {
        Duration::from_secs(self.refresh_token_ttl_secs)
    }

    pub fn login_window(&self) -> Duration {
        Duration::from_secs(self.login_window_secs)
    }

    fn validate_auth_limits(&self) -> anyhow::Result<()> {
        if let Some(n) = self.hash_workers {
            ensure!(
                (1..=256).contains(&n),
                "ROLLCALL_HASH_WORKERS must be between 1 and 256"
            );
        }
        ensure!(
            self.hash_wait_ms <= 60_000,
            "ROLLCALL_HASH_WAIT_MS must be at most 60000"
        );
        ensure!(
            self.login_delay_secs >= 1 && self.login_delay_secs <= self.login_delay_max_secs,
            "ROLLCALL_LOGIN_DELAY must be at least 1 and at most ROLLCALL_LOGIN_DELAY_MAX"
        );
        ensure!(
            self.login_delay_max_secs <= 86_400,
            "ROLLCALL_LOGIN_DELAY_MAX must be at most 86400 (a day)"
        );
        ensure!(
            self.register_max_per_ip > 0
                && self.recovery_max_per_ip > 0
                && self.reset_max_per_hour > 0
                && self.otp_max_failures_per_day > 0,
            "registration, recovery and reset limits must be positive"
        );
        ensure!(
            (1..=365).contains(&self.invitation_days),
            "ROLLCALL_INVITATION_DAYS must be between 1 and 365"
        );
        ensure!(
            (1..=16).contains(&self.proxy_hops),
            "ROLLCALL_PROXY_HOPS must be between 1 and 16"
        );
        Ok(())
    }

    /// How long an invitation link stays valid, in seconds (`ROLLCALL_INVITATION_DAYS`).
    #[must_use]
    pub fn invitation_lifetime_secs(&self) -> i64 {
        i64::from(self.invitation_days) * 24 * 3600
    }

    /// Concurrent password hashes: `ROLLCALL_HASH_WORKERS`, else the number of cores.
    #[must_use]
    pub fn hash_workers(&self) -> usize {
        self.hash_workers.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
        })
    }

    /// Entries of X-Forwarded-For written by proxies we trust: 0 when the header is ignored.
    #[must_use]
    pub fn trusted_proxy_hops(&self) -> usize {
        if self.trust_proxy {
            usize::from(self.proxy_hops)
        } else {
            0
        }
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join(DATABASE_FILE)
    }

    /// The cache directory: explicit setting, else `./.cache`, else `<repo>/.cache` for a binary
    /// at `<repo>/target/<profile>/rollcall`.
    pub fn resolved_cache_dir(&self) -> PathBuf {
        self.cache_dir.clone().unwrap_or_else(default_cache_dir)
    }

    /// SHA-256 (hex) of the consent notice, as written into `student.consent` audit entries.
    #[must_use]
    pub fn consent_notice_sha256(&self) -> String {
        crate::service::tokens::sha256_hex(&self.consent_notice)
    }

    /// The public base URL when one is configured (`BACKEND_BASE_URL`), without a trailing `/`:
    /// links meant for another origin (the seed frontend) are absolute only then.
    #[must_use]
    pub fn public_base_url(&self) -> Option<String> {
        self.backend_base_url
            .as_deref()
            .map(|u| u.trim().trim_end_matches('/').to_owned())
            .filter(|u| !u.is_empty())
    }

    pub fn base_url(&self) -> String {
        self.backend_base_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.bind))
            .trim_end_matches('/')
            .to_owned()
    }

    /// One log line describing the effective configuration: `key=value` for every setting, in
    /// the order of the struct (keys are the field names, so a new setting appears by itself),
    /// secrets as `<redacted>` (a [`Secret`] cannot print its value). The cache dir, SMTP port
    /// and hashing workers are shown resolved, the consent notice as its SHA-256.
    pub fn redacted_summary(&self) -> String {
        let Some(pairs) = serde_json::to_string(self)
            .ok()
            .and_then(|json| serde_json::from_str::<OrderedPairs>(&json).ok())
        else {
            // Only a path that is not UTF-8 gets here; `Debug` redacts secrets too.
            return format!("{self:?}");
        };
        pairs
            .0
            .into_iter()
            .map(|(key, value)| {
                let (key, value) = match key.as_str() {
                    "cache_dir" => (key, self.resolved_cache_dir().display().to_string()),
                    "smtp_port" => (key, self.smtp_port().to_string()),
                    "hash_workers" => (key, self.hash_workers().to_string()),
                    "consent_notice" => (
                        "consent_notice_sha256".to_owned(),
                        self.consent_notice_sha256(),
                    ),
                    _ => (key, summary_value(&value)),
                };
                format!("{key}={}", quoted_if_needed(&value))
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A JSON object's entries in their order (`serde_json::Map` sorts them).
struct OrderedPairs(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for OrderedPairs {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> serde::de::Visitor<'de> for Entries {
            type Value = OrderedPairs;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<OrderedPairs, A::Error> {
                let mut pairs = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    pairs.push(entry);
                }
                Ok(OrderedPairs(pairs))
            }
        }
        deserializer.deserialize_map(Entries)
    }
}

/// A setting's value in the summary: unset options as `<unset>`, lists comma-separated.
fn summary_value(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => "<unset>".to_owned(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(items) => items
            .iter()
            .map(summary_value)
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    }
}

/// The value as is when it reads as one word, else quoted (`smtp_from="rollcall <...>"`).
fn quoted_if_needed(value: &str) -> String {
    if !value.is_empty()
        && !value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '=')
    {
        value.to_owned()
    } else {
        format!("{value:?}")
    }
}

/// `./.cache` when present, else `<repo>/.cache` for a binary at `<repo>/target/<profile>/rollcall`.
pub fn default_cache_dir() -> PathBuf {
    let local = PathBuf::from(".cache");
    if local.is_dir() {
        return local;
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.ancestors().nth(3).map(|repo| repo.join(".cache")))
        .filter(|p| p.is_dir())
        .unwrap_or(local)
}

/// Read the JWT secret from settings, or from `<data_dir>/jwt_secret`, creating it (0600) if absent.
pub fn load_or_create_secret(settings: &Settings) -> anyhow::Result<Vec<u8>> {
    if let Some(secret) = &settings.jwt_secret {
        return Ok(secret.expose().as_bytes().to_vec());
    }
    let path = settings.data_dir.join("jwt_secret");
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let bytes = hex::decode(text.trim()).context("jwt_secret file is not hex")?;
        ensure!(bytes.len() >= 32, "jwt_secret file is too short");
        return Ok(bytes);
    }
    let bytes: [u8; 32] = rand::random();
    write_private(&path, hex::encode(bytes).as_bytes())?;
    Ok(bytes.to_vec())
}

/// Write a file readable only by its owner, atomically (temp file + rename).
fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    file.write_all(contents)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(extra: &[&str]) -> Settings {
        let mut args = vec!["rollcall", "--data-dir", "/tmp/x"];
        args.extend_from_slice(extra);
        Settings::try_from_args(args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Every secret setting (the flags whose environment values clap hides), each given a
    /// distinctive value: the summary and `Debug` must show neither, and every other setting
    /// must be in the summary as `name=`.
    #[test]
    fn the_summary_shows_every_setting_and_no_secret() {
        use clap::CommandFactory;
        let command = SettingsOnly::command();
        let secrets: Vec<(String, String)> = command
            .get_arguments()
            .filter(|a| a.is_hide_env_values_set())
            .map(|a| {
                let id = a.get_id().to_string();
                let value = format!("{id}-VALUE-0123456789abcdef0123456789abcdef");
                (id, value)
            })
            .collect();
        // The database URL is a URL: its secret is the password inside it.
        let given = |id: &str, value: &str| {
            if id == "database_url" {
                format!("postgres://office:{value}@db.school.test:5432/rollcall")
            } else {
                value.to_owned()
            }
        };
        let mut ids: Vec<&str> = secrets.iter().map(|(id, _)| id.as_str()).collect();
        ids.sort_unstable();
        assert_eq!(
            ids,
            [
                "admin_password",
                "database_url",
                "jwt_secret",
                "metrics_token",
                "smtp_password"
            ],
            "a secret setting was added or lost its hide_env_values"
        );
        let mut args: Vec<String> = Vec::new();
        for (id, value) in &secrets {
            args.push(format!("--{}={}", id.replace('_', "-"), given(id, value)));
        }
        args.extend(
            [
                "--smtp-user=office@school.test",
                "--backend-base-url=https://rollcall.school.test",
                "--frontend-base-url=https://app.school.test",
                "--min-free-disk-mb=321",
                "--smtp-timeout-secs=42",
                "--log-format=pretty",
                "--max-faces=77",
                "--max-connections=99",
            ]
            .map(str::to_owned),
        );
        let settings = parse(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(settings.validate().is_ok());
        assert_eq!(
            settings.jwt_secret.as_ref().map(Secret::expose),
            Some("jwt_secret-VALUE-0123456789abcdef0123456789abcdef"),
            "expose() gives the value clap parsed"
        );
        let summary = settings.redacted_summary();
        let debug = format!("{settings:?}");
        for (id, value) in &secrets {
            assert!(
                !summary.contains(value.as_str()),
                "{id} in the summary: {summary}"
            );
            let shown = if id == "database_url" {
                format!(
                    " {id}=postgres://office:{}@db.school.test:5432/rollcall",
                    Secret::REDACTED
                )
            } else {
                format!(" {id}={}", Secret::REDACTED)
            };
            assert!(
                summary.contains(&shown),
                "{id} is not shown as set: {summary}"
            );
            assert!(!debug.contains(value.as_str()), "{id} in Debug: {debug}");
        }
        assert!(!summary.contains('\n'), "one line: {summary}");

        // Every setting is there by its field name, the consent notice as its digest.
        for arg in command.get_arguments() {
            let id = arg.get_id().as_str();
            if id == "help" {
                continue;
            }
            let key = if id == "consent_notice" {
                "consent_notice_sha256"
            } else {
                id
            };
            assert!(
                summary.starts_with(&format!("{key}=")) || summary.contains(&format!(" {key}=")),
                "{key} is missing from the summary: {summary}"
            );
        }
        // Among them those the hand-written summary had fallen behind on (five fields and the
        // flattened vision and connection settings).
        for shown in [
            "draft_retention_days=14",
            "backend_base_url=https://rollcall.school.test",
            "frontend_base_url=https://app.school.test",
            "min_free_disk_mb=321",
            "smtp_timeout_secs=42",
            "log_format=pretty",
            "max_faces=77",
            "upsample=auto",
            "max_connections=99",
            "header_timeout_secs=15",
        ] {
            assert!(summary.contains(shown), "no {shown}: {summary}");
        }
        // Computed values, and an unset option.
        for shown in [
            "bind=127.0.0.1:8000",
            "data_dir=/tmp/x",
            "mode=local",
            "smtp_port=587",
            "hash_workers=",
            "cors_origins=http://localhost:5173,http://localhost:4173,",
            "smtp_host=<unset>",
            "smtp_from=\"rollcall <rollcall@localhost>\"",
            "confident_threshold=0.5",
        ] {
            assert!(summary.contains(shown), "no {shown}: {summary}");
        }
        assert!(summary.contains(&format!(
            " consent_notice_sha256={} ",
            settings.consent_notice_sha256()
        )));
        assert!(
            !summary.contains(DEFAULT_CONSENT_NOTICE),
            "the digest, not the text"
        );
        assert!(!summary.contains("hash_workers=<unset>"), "resolved");
        assert!(!summary.contains("cache_dir=<unset>"), "resolved");
        println!("{summary}");

        // Unset secrets read as unset, not as redacted.
        let unset = parse(&[]).redacted_summary();
        for (id, _) in &secrets {
            // The database URL has a default: the SQLite file.
            let shown = if id == "database_url" {
                "sqlite:"
            } else {
                "<unset>"
            };
            assert!(unset.contains(&format!(" {id}={shown}")), "{id}: {unset}");
        }
    }

    #[test]
    fn defaults_are_valid_for_a_laptop() {
        let s = parse(&[]);
        assert!(s.validate().is_ok());
        assert_eq!(s.bind.to_string(), "127.0.0.1:8000");
        assert!((s.confident_threshold - 0.50).abs() < f32::EPSILON);
        assert!((s.uncertain_threshold - 0.60).abs() < f32::EPSILON);
        assert_eq!(s.access_token_ttl_secs, 900);
        assert!(s.late_counts_as_present);
        assert!((s.risk_threshold - 75.0).abs() < f64::EPSILON);
    }

    #[test]
    fn unsafe_or_contradictory_settings_are_refused() {
        let thresholds = parse(&[
            "--confident-threshold",
            "0.7",
            "--uncertain-threshold",
            "0.6",
        ]);
        assert!(thresholds.validate().is_err());
        let production = parse(&["--mode", "production"]);
        assert!(
            production.validate().is_err(),
            "production needs JWT_SECRET"
        );
        let short = parse(&["--jwt-secret", "short"]);
        assert!(short.validate().is_err());
        let demo = parse(&[
            "--mode",
            "production",
            "--jwt-secret",
            &"k".repeat(32),
            "--demo",
        ]);
        assert!(demo.validate().is_err(), "no demo accounts in production");
        let ok = parse(&["--mode", "production", "--jwt-secret", &"k".repeat(32)]);
        assert!(ok.validate().is_ok());
        let wildcard = parse(&["--cors-origins", "*"]);
        assert!(wildcard.validate().is_err());
        let sender = parse(&["--smtp-from", "not an address"]);
        assert!(sender.validate().is_err());
        let backoff = parse(&[
            "--mail-retry-base-secs",
            "600",
            "--mail-retry-max-secs",
            "60",
        ]);
        assert!(backoff.validate().is_err());
        let password_only = parse(&["--smtp-password", "x"]);
        assert!(password_only.validate().is_err());
        for bad in ["150", "-1", "NaN"] {
            let risk = parse(&[&format!("--risk-threshold={bad}")]);
            assert!(risk.validate().is_err(), "risk threshold {bad}");
        }
    }

    #[test]
    fn authentication_limits_are_checked_and_trust_proxy_means_one_hop() {
        for bad in [
            &["--hash-workers", "0"][..],
            &["--hash-wait-ms", "600000"],
            &["--login-delay-secs", "0"],
            &["--login-delay-secs", "60", "--login-delay-max-secs", "30"],
            &["--recovery-max-per-ip", "0"],
            &["--otp-max-failures-per-day", "0"],
            &["--proxy-hops", "0"],
        ] {
            assert!(parse(bad).validate().is_err(), "{bad:?}");
        }
        assert_eq!(parse(&[]).trusted_proxy_hops(), 0);
        assert_eq!(parse(&["--trust-proxy", "true"]).trusted_proxy_hops(), 1);
        let two = parse(&["--trust-proxy", "true", "--proxy-hops", "2"]);
        assert!(two.validate().is_ok());
        assert_eq!(two.trusted_proxy_hops(), 2);
        assert_eq!(parse(&["--hash-workers", "3"]).hash_workers(), 3);
    }

    #[test]
    fn smtp_port_follows_the_tls_mode_and_the_seed_spelling_of_the_login_works() {
        assert_eq!(parse(&[]).smtp_port(), 587);
        assert_eq!(parse(&["--smtp-tls", "tls"]).smtp_port(), 465);
        assert_eq!(parse(&["--smtp-tls", "none"]).smtp_port(), 25);
        assert_eq!(parse(&["--smtp-port", "2525"]).smtp_port(), 2525);
        let s = parse(&["--smtp-username", "office@school.test"]);
        assert_eq!(s.smtp_login(), Some("office@school.test"));
        let named = parse(&["--smtp-from", "Attendance <attendance@school.test>"]);
        assert!(named.validate().is_ok());
    }

    #[test]
    fn connection_limits_are_checked_and_the_per_address_cap_follows_the_proxy_setting() {
        let s = parse(&[]);
        assert_eq!(s.connections.header_timeout_secs, 15);
        assert_eq!(s.connections.per_address_cap(false), Some(256));
        assert_eq!(s.connections.per_address_cap(true), None, "behind a proxy");
        let set = parse(&["--max-connections-per-ip", "20"]);
        assert_eq!(set.connections.per_address_cap(true), Some(20));
        assert_eq!(
            parse(&["--max-connections-per-ip", "0"])
                .connections
                .per_address_cap(false),
            None
        );
        for bad in [
            &["--header-timeout-secs", "0"][..],
            &["--body-idle-timeout-secs", "0"],
            &[
                "--body-idle-timeout-secs",
                "60",
                "--body-timeout-secs",
                "30",
            ],
            &["--max-connections", "0"],
            &["--max-connections", "10", "--max-connections-per-ip", "11"],
        ] {
            assert!(parse(bad).validate().is_err(), "{bad:?}");
        }
    }
}
