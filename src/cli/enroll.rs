//! `rollcall enroll`: enrol students' faces from a folder of photos, as the operator, through
//! the services the upload route uses.

use std::path::PathBuf;

use anyhow::Context;

use super::common::{CacheArg, DataDir, NoticeArg, runtime};

/// Enrol students' faces from a folder: `<roll, e-mail or id>.<jpg|png|webp|gif|bmp>`, or a
/// sub-folder named by roll, e-mail or id holding several photos. The students must exist. Every photo is
/// checked as an upload is (one sharp face of at least 40 px); up to 30 are kept (the near-duplicates go).
/// Exits non-zero if any photo was not enrolled.
#[derive(Debug, clap::Args)]
#[command(mut_arg("data_dir", |a| a.help("Data directory of the server (safe while it runs)")))]
pub struct Enroll {
    /// Folder of photos.
    folder: PathBuf,
    #[command(flatten)]
    data_dir: DataDir,
    /// Record biometric consent for these students (the school holds their signed forms),
    /// as `rollcall consent --record` does (audited, with the notice's SHA-256).
    #[arg(long)]
    record_consent: bool,
    #[command(flatten)]
    notice: NoticeArg,
    /// Refuse students whose consent is not recorded (as the server does).
    #[arg(long, env = "ROLLCALL_REQUIRE_CONSENT", default_value_t = true, action = clap::ArgAction::Set)]
    require_consent: bool,
    /// Also enrol every student of the folder in this subject (by code; it must exist).
    #[arg(long, value_name = "CODE")]
    subject: Option<String>,
    /// Create a student account for a folder that names no student: roll = the folder
    /// name, name = the folder name with `_` as spaces, e-mail = `<roll>@<--email-domain>`
    /// (a random password; the student sets one with "forgot password").
    #[arg(long)]
    create_missing: bool,
    /// Domain of the e-mail addresses `--create-missing` gives.
    #[arg(long, default_value = "students.invalid")]
    email_domain: String,
    #[command(flatten)]
    vision: crate::config::VisionSettings,
    #[command(flatten)]
    cache: CacheArg,
}

impl Enroll {
    pub fn run(self) -> anyhow::Result<()> {
        enroll(&EnrollOptions {
            folder: self.folder,
            data_dir: self.data_dir,
            record_consent: self.record_consent.then_some(self.notice.consent_notice),
            require_consent: self.require_consent,
            subject: self.subject,
            create_missing: self.create_missing,
            email_domain: self.email_domain,
            vision: self.vision,
            cache: self.cache.resolve(),
        })
    }
}

/// The photos of a folder, each with the student key (roll or e-mail) it belongs to.
fn enrolment_photos(folder: &std::path::Path) -> anyhow::Result<Vec<(String, std::path::PathBuf)>> {
    let is_photo = |p: &std::path::Path| {
        p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
            ["jpg", "jpeg", "png", "webp", "gif", "bmp"].contains(&e.to_ascii_lowercase().as_str())
        })
    };
    let mut out = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(folder)
        .with_context(|| format!("reading {}", folder.display()))?
        .collect::<Result<_, _>>()?;
    entries.sort_by_key(std::fs::DirEntry::path);
    for entry in entries {
        let path = entry.path();
        if path.is_dir() {
            let key = entry.file_name().to_string_lossy().into_owned();
            let mut inner: Vec<_> = std::fs::read_dir(&path)?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file() && is_photo(p))
                .collect();
            inner.sort();
            out.extend(inner.into_iter().map(|p| (key.clone(), p)));
        } else if is_photo(&path)
            && let Some(stem) = path.file_stem()
        {
            out.push((stem.to_string_lossy().into_owned(), path.clone()));
        }
    }
    Ok(out)
}

/// Record a student's consent from a signed form held by the school, through the service the API
/// uses (same audit entry, actor: the operator).
fn record_consent(
    runtime: &tokio::runtime::Runtime,
    db: &crate::storage::Db,
    student: &crate::domain::Id,
    notice: &str,
) -> anyhow::Result<()> {
    use crate::service::Actor;
    use crate::service::students::{self, ConsentRules};
    let rules = ConsentRules {
        self_consent: false,
        notice_sha256: crate::service::tokens::sha256_hex(notice),
    };
    runtime.block_on(students::give_consent(
        db,
        Actor::Operator,
        student.clone(),
        &rules,
    ))?;
    Ok(())
}

pub(super) struct EnrollOptions {
    pub(super) folder: std::path::PathBuf,
    pub(super) data_dir: DataDir,
    /// The notice the signed forms agreed to, when the command records consent.
    pub(super) record_consent: Option<String>,
    pub(super) require_consent: bool,
    pub(super) subject: Option<String>,
    pub(super) create_missing: bool,
    pub(super) email_domain: String,
    pub(super) vision: crate::config::VisionSettings,
    pub(super) cache: std::path::PathBuf,
}

pub(super) fn enroll(o: &EnrollOptions) -> anyhow::Result<()> {
    use crate::service::{Actor, faces};
    use crate::storage::{students, subjects};
    let db = o.data_dir.open_db()?;
    let runtime = runtime()?;
    let subject = match &o.subject {
        Some(code) => {
            let code = code.trim().to_uppercase();
            let found = db.run_blocking(|c| subjects::by_code(c, &code))?;
            Some(found.with_context(|| format!("no subject with code {code}"))?)
        }
        None => None,
    };
    let photos = enrolment_photos(&o.folder)?;
    anyhow::ensure!(!photos.is_empty(), "no photos in {}", o.folder.display());
    let pipeline = crate::vision::pipeline::Pipeline::load(&o.cache, o.vision.pipeline_options()?)
        .context("loading the face models (run scripts/setup)")?;
    // One random password for the accounts this run creates: nobody knows it, and each
    // student sets their own with "forgot password".
    let placeholder = if o.create_missing {
        Some(crate::service::password::hash(
            &crate::service::password::generate(),
        )?)
    } else {
        None
    };
    let create = placeholder
        .as_deref()
        .map(|hash| (o.email_domain.as_str(), hash));
    let images = o.data_dir.images(&db);
    let total = photos.len();
    let bar = indicatif::ProgressBar::new(u64::try_from(total).unwrap_or(0));
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} photos {msg} [{elapsed}]")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut enrolled = 0usize;
    let mut rejected: Vec<(std::path::PathBuf, String)> = Vec::new();
    let mut students_seen = std::collections::BTreeSet::new();
    for (key, photo) in &photos {
        bar.set_message(key.clone());
        let outcome = (|| -> anyhow::Result<Result<String, String>> {
            let student = match runtime.block_on(crate::service::students::for_import(
                &db,
                Actor::Operator,
                key,
                create,
            ))? {
                Ok(id) => id,
                Err(why) => return Ok(Err(why)),
            };
            if let Some(subject) = &subject {
                runtime.block_on(crate::service::subjects::enrol_one(
                    &db,
                    Actor::Operator,
                    subject.id.clone(),
                    student.clone(),
                ))?;
            }
            if let Some(notice) = &o.record_consent {
                record_consent(&runtime, &db, &student, notice)?;
            } else if o.require_consent {
                let consent = db
                    .run_blocking(|c| students::get(c, &student))?
                    .and_then(|s| s.consent_at);
                if consent.is_none() {
                    return Ok(Err("no biometric consent recorded (use --record-consent if the school holds the signed form)".into()));
                }
            }
            let bytes =
                std::fs::read(photo).with_context(|| format!("reading {}", photo.display()))?;
            let checked = match faces::check(&pipeline, bytes) {
                Ok(c) => c,
                Err(e @ crate::service::Error::Internal(_)) => return Err(e.into()),
                Err(e) => return Ok(Err(e.to_string())),
            };
            let result = db.run_blocking(|c| {
                Ok::<_, crate::storage::StorageError>(faces::record(
                    c,
                    &images,
                    &student,
                    None,
                    &checked,
                    true,
                    crate::domain::faces::Source::Import,
                ))
            })?;
            match result {
                Ok((_, n)) => {
                    students_seen.insert(student.clone());
                    Ok(Ok(format!("{student}, {n} samples")))
                }
                Err(e) => Err(e.into()),
            }
        })()?;
        match outcome {
            Ok(what) => {
                enrolled += 1;
                bar.println(format!("ok    {} -> {what}", photo.display()));
            }
            Err(why) => {
                bar.println(format!("SKIP  {}: {why}", photo.display()));
                rejected.push((photo.clone(), why));
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    outln!(
        "enrolled {enrolled} photos of {} students{}, rejected {}",
        students_seen.len(),
        subject
            .as_ref()
            .map(|s| format!(" into {}", s.code))
            .unwrap_or_default(),
        rejected.len()
    )?;
    for (photo, why) in &rejected {
        outln!("  rejected {}: {why}", photo.display())?;
    }
    anyhow::ensure!(
        rejected.is_empty(),
        "{} of {total} photos were not enrolled",
        rejected.len()
    );
    Ok(())
}
