//! `rollcall consent`: record or withdraw biometric consent for a list of students whose
//! signed forms the school holds, through the service functions the API uses.

use std::path::PathBuf;

use anyhow::Context;

use super::common::{DataDir, NoticeArg, runtime};

/// Record biometric consent for the students of a list of signed forms: one e-mail address
/// or roll number per line (blank lines and `#` comments are skipped). Each is recorded as
/// `POST /api/students/{id}/consent` records it (the same audit entry, `student.consent`,
/// with the notice's SHA-256, actor: the operator, `via cli`); consent already recorded is
/// left alone. Prints recorded / already recorded / unknown lines; exits non-zero if any
/// line named no student. Safe while the server runs.
#[derive(Debug, clap::Args)]
#[command(mut_arg("data_dir", |a| a.help("Data directory of the server")))]
pub struct Consent {
    /// The list of students whose signed forms the school holds.
    #[arg(long, value_name = "FILE", required_unless_present = "withdraw")]
    record: Option<PathBuf>,
    /// Instead: withdraw the consent of the students of this list (their face samples and
    /// photos are deleted).
    #[arg(long, value_name = "FILE", conflicts_with = "record")]
    withdraw: Option<PathBuf>,
    #[command(flatten)]
    data_dir: DataDir,
    #[command(flatten)]
    notice: NoticeArg,
}

impl Consent {
    pub fn run(self) -> anyhow::Result<()> {
        match (self.record, self.withdraw) {
            (Some(list), _) => consent(&list, &self.data_dir, Some(&self.notice.consent_notice)),
            (None, Some(list)) => consent(&list, &self.data_dir, None),
            (None, None) => anyhow::bail!("give --record FILE or --withdraw FILE"),
        }
    }
}

/// `rollcall consent`: record (with the notice) or withdraw (`notice` None) the consent of every
/// student a line of `list` names, through the same service function as the API.
fn consent(list: &std::path::Path, data_dir: &DataDir, notice: Option<&str>) -> anyhow::Result<()> {
    use crate::service::Actor;
    use crate::service::students::{self, ConsentRules};
    let text =
        std::fs::read_to_string(list).with_context(|| format!("reading {}", list.display()))?;
    let db = data_dir.open_db()?;
    let rules = ConsentRules {
        self_consent: false,
        notice_sha256: crate::service::tokens::sha256_hex(notice.unwrap_or_default()),
    };
    let images = data_dir.images(&db);
    let runtime = runtime()?;
    let (mut done, mut already, mut unknown) = (0usize, 0usize, Vec::new());
    for (n, line) in text.lines().enumerate() {
        let key = line.trim();
        if key.is_empty() || key.starts_with('#') {
            continue;
        }
        let found = runtime.block_on(students::for_import(&db, Actor::Operator, key, None))?;
        let id = match found {
            Ok(id) => id,
            Err(why) => {
                let why = why.replace(" (--create-missing creates one)", "");
                unknown.push(format!("line {}: {why}", n + 1));
                continue;
            }
        };
        let changed = runtime.block_on(async {
            match notice {
                Some(_) => students::give_consent(&db, Actor::Operator, id, &rules)
                    .await
                    .map(|(_, new)| new),
                None => students::withdraw_consent(&db, &images, Actor::Operator, id)
                    .await
                    .map(|(had, _)| had),
            }
        });
        match changed {
            Ok(true) => done += 1,
            Ok(false) => already += 1,
            Err(e) => unknown.push(format!("line {}: {key}: {e}", n + 1)),
        }
    }
    let (verb, state) = if notice.is_some() {
        ("recorded", "already recorded")
    } else {
        ("withdrawn", "not recorded")
    };
    outln!("{verb}: {done}")?;
    outln!("{state}: {already}")?;
    outln!("unknown: {}", unknown.len())?;
    for u in &unknown {
        outln!("  {u}")?;
    }
    anyhow::ensure!(
        unknown.is_empty(),
        "{} line(s) of {} named no student",
        unknown.len(),
        list.display()
    );
    Ok(())
}
