//! `rollcall import-seed`: move a school from the seed system (Smart Attendance) by importing
//! its MongoDB export, then optionally enrol its students' faces as `rollcall enroll` does.

use std::path::PathBuf;

use anyhow::Context;

use super::common::{CacheArg, DataDir, NoticeArg};
use super::enroll::{EnrollOptions, enroll};

/// Move a school from the seed system (Smart Attendance): import its MongoDB export
/// (`<collection>.json` files from `mongoexport`, as a JSON array or one document per line)
/// into the database, one transaction per collection. The whole export is checked first; if
/// anything is wrong the report goes to stderr, the exit status is non-zero and nothing is
/// written. Importing the same export again changes nothing.
#[derive(Debug, clap::Args)]
#[command(mut_arg("data_dir", |a| a.help(
    "Data directory of the server (the database is created if there is none)"
)))]
pub struct ImportSeed {
    /// Folder holding users.json, teachers.json, students.json, subjects.json,
    /// attendance_daily.json and email_logs.json.
    dir: PathBuf,
    #[command(flatten)]
    data_dir: DataDir,
    /// After the import, enrol students' faces from this folder of photos named by the
    /// student's e-mail address or seed id (as `rollcall enroll` does).
    #[arg(long, value_name = "DIR")]
    faces: Option<PathBuf>,
    /// With `--faces`: record biometric consent for those students (the school holds their
    /// signed forms), as `rollcall consent --record` does.
    #[arg(long)]
    record_consent: bool,
    #[command(flatten)]
    notice: NoticeArg,
    /// Check the export and report what would be imported, without writing anything.
    #[arg(long, conflicts_with = "faces")]
    dry_run: bool,
    #[command(flatten)]
    vision: crate::config::VisionSettings,
    #[command(flatten)]
    cache: CacheArg,
}

impl ImportSeed {
    pub fn run(self) -> anyhow::Result<()> {
        import_seed(&self.dir, &self.data_dir, self.dry_run)?;
        match self.faces {
            Some(folder) if !self.dry_run => enroll(&EnrollOptions {
                folder,
                data_dir: self.data_dir,
                record_consent: self.record_consent.then_some(self.notice.consent_notice),
                require_consent: true,
                subject: None,
                create_missing: false,
                email_domain: String::new(),
                vision: self.vision,
                cache: self.cache.resolve(),
            }),
            _ => Ok(()),
        }
    }
}

fn import_seed(dir: &std::path::Path, data_dir: &DataDir, dry_run: bool) -> anyhow::Result<()> {
    // The database is created if there is none (an import into a new data directory).
    let db = data_dir.open_or_create_db()?;
    let report = db
        .run_blocking(|c| {
            Ok::<_, crate::storage::StorageError>(crate::service::import_seed::run(c, dir, dry_run))
        })?
        .context("importing the seed export")?;
    if !report.is_ok() {
        eprint!("{report}");
        anyhow::bail!(
            "the export in {} was not imported: {} problem(s)",
            dir.display(),
            report.problems.len()
        );
    }
    out!("{report}")?;
    Ok(())
}
