//! `rollcall migrate-db`: move a school from its SQLite file to PostgreSQL.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::config::DatabaseUrl;
use crate::service::transfer::{self, Outcome, Report};

/// Copy a school from its data directory (the SQLite database, face images and avatars) into a
/// new PostgreSQL database, then read it back to prove the copy equal. Stop the server first.
/// The database must be empty, or hold a completed copy of this same school: then it is only
/// verified, and nothing is written (so running the command again is safe). Exits non-zero when
/// the target is refused or anything does not verify.
#[derive(Debug, clap::Args)]
pub struct MigrateDb {
    /// Data directory of the school to move.
    #[arg(long, env = "ROLLCALL_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// The PostgreSQL database to copy into: `postgres://user:password@host:port/database`
    /// (created with the C locale, see README).
    #[arg(long, value_name = "URL")]
    to: DatabaseUrl,
}

impl MigrateDb {
    pub fn run(self) -> anyhow::Result<()> {
        let DatabaseUrl::Postgres(url) = &self.to else {
            anyhow::bail!("--to must be a postgres:// URL: migrate-db copies to PostgreSQL");
        };
        let mut progress = |line: &str| eprintln!("migrate-db: {line}");
        let report = transfer::migrate(&self.data_dir, url, &mut progress)?;
        out!("{}", render(&report, &self.to))?;
        anyhow::ensure!(
            report.problems.is_empty(),
            "the copy did not verify ({} problems, listed above)",
            report.problems.len()
        );
        Ok(())
    }
}

fn secs(d: std::time::Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// The report as the operator reads it.
fn render(r: &Report, to: &DatabaseUrl) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} -> {to}", r.source.display());
    match &r.outcome {
        Outcome::Copied => {
            let _ = writeln!(
                out,
                "copied: {} rows in {} tables (schema version {}), digest {}",
                r.rows(),
                r.tables.len(),
                r.schema_version,
                r.digest
            );
        }
        Outcome::AlreadyCopied { changed_since, .. } => {
            let _ = writeln!(
                out,
                "already copied: the target holds a completed copy of this school (digest {}); \
                 nothing was changed{}",
                r.digest,
                if *changed_since {
                    " (servers have written to it since)"
                } else {
                    ""
                }
            );
        }
    }
    let width = r
        .tables
        .iter()
        .map(|t| t.name.len())
        .max()
        .unwrap_or(5)
        .max(5);
    let _ = writeln!(
        out,
        "  {:<width$} {:>10} {:>10}",
        "table", "sqlite", "postgres"
    );
    for t in &r.tables {
        let _ = writeln!(
            out,
            "  {:<width$} {:>10} {:>10}{}",
            t.name,
            t.source,
            t.target,
            match (&r.outcome, t.source == t.target) {
                (_, true) => "",
                (Outcome::Copied, false) => "  differs",
                (Outcome::AlreadyCopied { .. }, false) => "  changed since the copy",
            }
        );
    }
    for (what, f) in [("images", &r.images), ("avatars", &r.avatars)] {
        if f.table {
            let _ = writeln!(
                out,
                "{what}: {} found, {} copied, {} already there, {} read back equal{}",
                f.found,
                f.copied,
                f.already,
                f.verified,
                if f.damaged.is_empty() {
                    String::new()
                } else {
                    format!(", {} damaged", f.damaged.len())
                }
            );
        } else {
            let _ = writeln!(
                out,
                "{what}: NOT copied ({} found; the target has no {what} table)",
                f.found
            );
        }
        if !f.ignored.is_empty() {
            let _ = writeln!(
                out,
                "{what}: {} files that are not part of the store were left alone: {}",
                f.ignored.len(),
                f.ignored.join(", ")
            );
        }
    }
    let t = &r.timings;
    let rate = if r.outcome == Outcome::Copied && t.rows.as_secs_f64() > 0.0 {
        #[allow(clippy::cast_precision_loss)]
        let rows = r.rows() as f64;
        format!(" ({:.0} rows/s)", rows / t.rows.as_secs_f64())
    } else {
        String::new()
    };
    if r.outcome == Outcome::Copied {
        let _ = writeln!(
            out,
            "time: snapshot {}, files {}, rows {}{rate}, verify {}, total {}",
            secs(t.snapshot),
            secs(t.files),
            secs(t.rows),
            secs(t.verify),
            secs(t.total)
        );
    } else {
        let _ = writeln!(
            out,
            "time: snapshot {}, verify {}, total {}",
            secs(t.snapshot),
            secs(t.verify),
            secs(t.total)
        );
    }
    for n in &r.notes {
        let _ = writeln!(out, "note: {n}");
    }
    for p in &r.problems {
        let _ = writeln!(out, "PROBLEM: {p}");
    }
    out
}
