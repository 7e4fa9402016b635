//! Backup folders: the database copied consistently while the server runs (`VACUUM INTO`), then
//! the image files it refers to (face samples, draft photos) and the avatars, and the signing
//! secret. Images are content-addressed and never rewritten, so copying them after the
//! database snapshot captures every one the snapshot names (a file deleted in between is
//! reported, not fatal). Restore refuses a data directory that already holds a database.

use std::path::Path;

use anyhow::{Context, ensure};
use rusqlite::Connection;

use super::Db;
use crate::config::DATABASE_FILE;

const FACES: &str = "faces";
const AVATARS: &str = "avatars";
const SECRET: &str = "jwt_secret";

/// What a backup or restore copied.
#[derive(Debug, Clone, Copy, Default)]
pub struct Report {
    pub images: usize,
    pub avatars: usize,
    /// Images the database names that were not on disk.
    pub missing: usize,
}

fn referenced_images(db: &Path) -> anyhow::Result<Vec<String>> {
    let conn = Connection::open(db).with_context(|| format!("opening {}", db.display()))?;
    let mut stmt = conn.prepare(
        "SELECT image_sha256 FROM face_samples UNION SELECT image_sha256 FROM draft_photos",
    )?;
    let shas = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(shas)
}

fn copy_images(from: &Path, to: &Path, shas: &[String], report: &mut Report) -> anyhow::Result<()> {
    for sha in shas {
        let src = super::faces::image_file(&from.join(FACES), sha);
        let dst = super::faces::image_file(&to.join(FACES), sha);
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent)?;
        }
        match std::fs::copy(&src, &dst) {
            Ok(_) => report.images += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => report.missing += 1,
            Err(e) => return Err(e).with_context(|| format!("copying {}", src.display())),
        }
    }
    Ok(())
}

fn copy_dir_files(from: &Path, to: &Path) -> anyhow::Result<usize> {
    let Ok(entries) = std::fs::read_dir(from) else {
        return Ok(0);
    };
    std::fs::create_dir_all(to)?;
    let mut n = 0;
    for e in entries.flatten() {
        let path = e.path();
        if path.is_file() && !e.file_name().to_string_lossy().starts_with('.') {
            std::fs::copy(&path, to.join(e.file_name()))
                .with_context(|| format!("copying {}", path.display()))?;
            n += 1;
        }
    }
    Ok(n)
}

/// Write a backup of `data_dir` into the new folder `out`.
pub fn write(data_dir: &Path, out: &Path) -> anyhow::Result<Report> {
    let db_path = data_dir.join(DATABASE_FILE);
    ensure!(db_path.is_file(), "no database at {}", db_path.display());
    ensure!(!out.exists(), "{} already exists", out.display());
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let copy = out.join(DATABASE_FILE);
    Db::open(&db_path)?.backup(&copy)?;
    let mut report = Report::default();
    copy_images(data_dir, out, &referenced_images(&copy)?, &mut report)?;
    report.avatars = copy_dir_files(&data_dir.join(AVATARS), &out.join(AVATARS))?;
    if data_dir.join(SECRET).is_file() {
        std::fs::copy(data_dir.join(SECRET), out.join(SECRET))?;
    }
    Ok(report)
}

/// Restore the backup folder `backup` into `data_dir` (created if needed; must hold no
/// database). The restored database must pass SQLite's integrity check.
pub fn restore(backup: &Path, data_dir: &Path) -> anyhow::Result<Report> {
    let source = backup.join(DATABASE_FILE);
    ensure!(
        source.is_file(),
        "{} is not a rollcall backup (no {DATABASE_FILE})",
        backup.display()
    );
    let target = data_dir.join(DATABASE_FILE);
    ensure!(
        !target.exists(),
        "{} already holds a database; restore into an empty data directory",
        data_dir.display()
    );
    {
        let conn = Connection::open(&source)?;
        let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        ensure!(check == "ok", "the backup's database is damaged: {check}");
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let mut report = Report::default();
    copy_images(backup, data_dir, &referenced_images(&source)?, &mut report)?;
    report.avatars = copy_dir_files(&backup.join(AVATARS), &data_dir.join(AVATARS))?;
    if backup.join(SECRET).is_file() && !data_dir.join(SECRET).exists() {
        std::fs::copy(backup.join(SECRET), data_dir.join(SECRET))?;
    }
    // The database last, through a temporary name: a restore cut short leaves no database
    // that would look complete.
    let partial = data_dir.join(format!(".{DATABASE_FILE}.restoring"));
    std::fs::copy(&source, &partial)?;
    std::fs::rename(&partial, &target)?;
    Ok(report)
}
