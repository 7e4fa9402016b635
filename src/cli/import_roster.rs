//! `rollcall import-roster`: import the school's roster (CSV) through the service the API's
//! `/api/admin/roster/*` routes use, with the same checks, report and audit entries.

use std::path::PathBuf;

use anyhow::Context;

use super::common::{DataDir, runtime};
use crate::domain::roster::Report;
use crate::service::invitations::Inviter;
use crate::service::roster::{self, Importer, Outcome};

/// Import students and teachers from the school's CSV export (columns `name`, `email`, `role`,
/// `roll`, `subjects`, `employee_id`, `phone`, `year`, `branch`; see docs/roster-import.md).
/// Prints per line what is (or would be) done and every problem; if any line has a problem
/// nothing is written and the exit code is non-zero. Accounts are matched by e-mail; nothing is
/// ever removed. New accounts have no password: they are invited to set one.
#[derive(Debug, clap::Args)]
#[command(mut_arg("data_dir", |a| a.help("Data directory of the server (safe while it runs)")))]
pub struct ImportRoster {
    /// The CSV file.
    file: PathBuf,
    #[command(flatten)]
    data_dir: DataDir,
    /// Check the file and print what an import would do; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// The administrator (by e-mail) the audit entries name; without it they name no account.
    /// Either way they say `via cli`.
    #[arg(long = "as", value_name = "ADMIN_EMAIL")]
    as_admin: Option<String>,
}

impl ImportRoster {
    pub fn run(self) -> anyhow::Result<()> {
        let bytes = std::fs::read(&self.file)
            .with_context(|| format!("reading {}", self.file.display()))?;
        let db = self.data_dir.open_db()?;
        let runtime = runtime()?;
        let by = runtime.block_on(Importer::operator(&db, self.as_admin.as_deref()))?;
        // The links mailed to new accounts must be the ones the server accepts: its settings
        // from the same environment (signing key, BACKEND_BASE_URL, ROLLCALL_INVITATION_DAYS).
        let inviter = Inviter::for_command(&db, &self.data_dir.server_settings()?)?;
        if self.dry_run {
            let report = runtime.block_on(roster::preview(&db, &by, bytes))?;
            print(&report)?;
            outln!("dry run: nothing written")?;
            return refuse_if_errors(&report);
        }
        let bar = indicatif::ProgressBar::new(0).with_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} lines written")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let progress = bar.clone();
        let outcome = runtime.block_on(roster::import(
            &db,
            &by,
            bytes,
            crate::storage::now_unix(),
            inviter,
            move |done, total| {
                progress.set_length(total as u64);
                progress.set_position(done as u64);
            },
        ))?;
        bar.finish_and_clear();
        match outcome {
            Outcome::Imported(report) => {
                print(&report)?;
                outln!("imported")?;
                Ok(())
            }
            Outcome::Refused(report) => {
                print(&report)?;
                refuse_if_errors(&report)
            }
        }
    }
}

fn refuse_if_errors(report: &Report) -> anyhow::Result<()> {
    anyhow::ensure!(
        report.errors == 0,
        "{} line(s) of the file have problems; nothing was written",
        report.errors
    );
    Ok(())
}

/// The report as text: the file, each line's action and changes, each problem and warning.
fn print(r: &Report) -> anyhow::Result<()> {
    outln!(
        "encoding: {}, delimiter: {}, columns: {}",
        r.encoding,
        r.delimiter,
        r.columns.join(", ")
    )?;
    outln!("sha256: {}", r.sha256)?;
    for w in &r.warnings {
        outln!("warning: line {}: {}", w.line, w.message)?;
    }
    for l in &r.lines {
        let changes = if l.changes.is_empty() {
            String::new()
        } else {
            format!(" ({})", l.changes.join(", "))
        };
        outln!(
            "line {:>5}  {:<9}  {} <{}>{changes}",
            l.line,
            l.action.as_str(),
            l.name,
            l.email
        )?;
        for p in &l.problems {
            let column = p
                .column
                .as_deref()
                .map(|c| format!(", {c}"))
                .unwrap_or_default();
            outln!("  error: line {}{column}: {}", p.line, p.message)?;
        }
        for w in &l.warnings {
            let column = w
                .column
                .as_deref()
                .map(|c| format!(", {c}"))
                .unwrap_or_default();
            outln!("  warning: line {}{column}: {}", w.line, w.message)?;
        }
    }
    outln!("created: {}", r.created)?;
    outln!("updated: {}", r.updated)?;
    outln!("unchanged: {}", r.unchanged)?;
    outln!("errors: {}", r.errors)?;
    Ok(())
}
