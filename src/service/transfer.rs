//! Moving a school from its SQLite file to PostgreSQL (`rollcall migrate-db`, docs/postgres.md
//! §5), safe to run again:
//!
//! 1. a consistent snapshot of the SQLite database is read (never the live file);
//! 2. the target is refused if it holds any row, unless it is a completed copy of this very
//!    snapshot (an audit entry [`MIGRATED`] naming the snapshot's digest): then it is only
//!    verified and reported, nothing is written;
//! 3. the face images and avatars go into the target's `images` / `avatars` tables when it has
//!    them, each checked against its name, idempotently and before the rows (a run cut short
//!    resumes);
//! 4. every table's rows are copied in one transaction, proved equal to the snapshot (row counts
//!    and a digest of every value) before the marker is written and the transaction commits;
//! 5. the counts are read back, and every image is read back and hashed again.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use sha2::{Digest as _, Sha256};

use super::Actor;
use crate::storage::transfer::{self, Digest, Snapshot};
use crate::storage::{Db, audit, now_unix};

/// The audit action of the marker a completed copy leaves in the target.
pub const MIGRATED: &str = "database.migrated";
/// The data directory's folders of the file store: face images (`<sha[0..2]>/<sha>`) and
/// avatars (`<sha>.<ext>`).
const FACES_DIR: &str = "faces";
const AVATARS_DIR: &str = "avatars";
/// Most image bytes stored per transaction (a run cut short loses at most this much work).
const IMAGE_BATCH_BYTES: usize = 32 << 20;
/// Most images stored per transaction.
const IMAGE_BATCH: usize = 200;

/// What became of the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The rows were copied now.
    Copied,
    /// The target already held a completed copy of this snapshot, made at `at` (unix seconds):
    /// nothing was written. `changed_since`: servers have written to it since (its rows no
    /// longer equal the snapshot's), which is expected once it is in use.
    AlreadyCopied { at: i64, changed_since: bool },
}

/// One table of the report.
#[derive(Debug, Clone)]
pub struct TableLine {
    pub name: String,
    /// Rows in the snapshot.
    pub source: u64,
    /// Rows in the target afterwards (the copy's marker not counted).
    pub target: u64,
}

/// The images or the avatars.
#[derive(Debug, Clone, Default)]
pub struct Files {
    /// The target has the table they go into; when false nothing was copied.
    pub table: bool,
    /// Found in the data directory (and in the SQLite database's own table, if it has one).
    pub found: usize,
    /// Stored in the target by this run.
    pub copied: usize,
    /// Already in the target (an earlier run, cut short or complete).
    pub already: usize,
    /// Read back from the target and found equal to their source.
    pub verified: usize,
    /// Found in the source but not stored (the bytes do not hash to the name, or unreadable).
    pub damaged: Vec<String>,
    /// Missing from the target, or read back different, after the copy.
    pub bad_in_target: Vec<String>,
    /// Files in the store's folder that are not part of it (left alone).
    pub ignored: Vec<String>,
}

/// How long each step took.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timings {
    pub snapshot: Duration,
    pub files: Duration,
    pub rows: Duration,
    pub verify: Duration,
    pub total: Duration,
}

/// What `migrate-db` did and found.
#[derive(Debug, Clone)]
pub struct Report {
    pub source: PathBuf,
    pub schema_version: i64,
    pub outcome: Outcome,
    /// SHA-256 (hex) of the snapshot's rows (the marker names it).
    pub digest: String,
    /// In copy order.
    pub tables: Vec<TableLine>,
    pub images: Files,
    pub avatars: Files,
    /// Images the snapshot's rows name that are in neither the data directory nor the SQLite
    /// database (missing before the move; servers show them as gone).
    pub images_missing_at_source: usize,
    /// Anything that makes the copy unfaithful: non-empty means the command failed.
    pub problems: Vec<String>,
    /// Worth telling, harmless.
    pub notes: Vec<String>,
    pub timings: Timings,
}

impl Report {
    #[must_use]
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|t| t.source).sum()
    }
}

/// Copy the school in `data_dir` (its SQLite file, face images and avatars) into the
/// PostgreSQL database at `url`, or verify an earlier copy of the same snapshot there.
/// `progress` hears what is going on, a line at a time. Blocking (run it off any async runtime).
///
/// A refused target, a schema the copy cannot follow, a damaged image or a copy that does not
/// read back equal is an error, and then no row was written (images may have been: they are
/// content-addressed, and the next run finds them). After the rows are committed, anything that
/// does not verify is in [`Report::problems`].
pub fn migrate(
    data_dir: &Path,
    url: &str,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<Report> {
    let started = Instant::now();
    let source = data_dir.join(crate::config::DATABASE_FILE);
    let snapshot = Snapshot::take(&source)?;
    let version = snapshot.version()?;
    let snapshot_time = started.elapsed();
    progress(&format!(
        "snapshot of {} taken in {:.2} s (schema version {version})",
        source.display(),
        snapshot_time.as_secs_f64()
    ));

    let target = Db::connect_postgres(url)?;
    let (target_tables, target_version) = target.run_blocking(|c| {
        Ok::<_, crate::storage::StorageError>((
            transfer::target_tables(c)?,
            transfer::target_version(c)?,
        ))
    })?;
    anyhow::ensure!(
        target_version == version,
        "the target's schema version ({target_version}) differs from the SQLite database's \
         ({version})"
    );
    let plan = transfer::plan(&snapshot.tables()?, &target_tables);
    if !plan.problems.is_empty() {
        bail!(
            "the target's schema does not match the SQLite database's; nothing was copied:\n  {}",
            plan.problems.join("\n  ")
        );
    }
    let digest = snapshot.digest(&plan, MIGRATED)?;
    progress(&format!(
        "{} rows in {} tables, digest {}",
        digest.rows(),
        digest.tables.len(),
        &digest.sha256[..16]
    ));
    let marker_target = format!("sha256:{}", digest.sha256);

    let mut report = Report {
        source: source.clone(),
        schema_version: version,
        outcome: Outcome::Copied,
        digest: digest.sha256.clone(),
        tables: Vec::new(),
        images: Files {
            table: plan.target_file_tables.contains("images"),
            ..Files::default()
        },
        avatars: Files {
            table: plan.target_file_tables.contains("avatars"),
            ..Files::default()
        },
        images_missing_at_source: 0,
        problems: Vec::new(),
        notes: plan.notes.clone(),
        timings: Timings {
            snapshot: snapshot_time,
            ..Timings::default()
        },
    };

    // Is the target free, or a copy of this snapshot already?
    let (marker, held) = target.run_blocking(|c| {
        Ok::<_, crate::storage::StorageError>((
            transfer::marker(c, MIGRATED)?,
            transfer::row_counts(c, &plan, MIGRATED)?,
        ))
    })?;
    let held: Vec<String> = held
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(t, n)| format!("{t} ({n})"))
        .collect();
    let copy = match marker {
        Some(m) if m.target == marker_target => {
            progress(&format!(
                "the target already holds a completed copy of this snapshot (made {}): \
                 verifying only, nothing is written",
                rfc3339(m.at)
            ));
            report.outcome = Outcome::AlreadyCopied {
                at: m.at,
                changed_since: false,
            };
            false
        }
        Some(m) => bail!(
            "the target already holds a copy of a school made {} (digest {}), and this SQLite \
             database differs from it (digest {}): it changed since, or it is another school. \
             Nothing was written. Copy into a new, empty database.",
            rfc3339(m.at),
            m.target
                .trim_start_matches("sha256:")
                .get(..16)
                .unwrap_or("?"),
            &digest.sha256[..16]
        ),
        None if !held.is_empty() => bail!(
            "the target holds data already, so nothing was written: {}. Copy into a new, empty \
             database.",
            held.join(", ")
        ),
        None => true,
    };

    // Files first: content-addressed and idempotent, so a run cut short resumes.
    let files_started = Instant::now();
    let sources = FileSources::find(data_dir, &snapshot, &mut report)?;
    if copy {
        store_files(&target, &snapshot, &sources, &mut report, progress)?;
        if !report.images.damaged.is_empty() || !report.avatars.damaged.is_empty() {
            bail!(
                "damaged files were not copied, so no row was copied either: {}. Restore them \
                 from a backup (or remove them), then run migrate-db again.",
                report
                    .images
                    .damaged
                    .iter()
                    .chain(&report.avatars.damaged)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    report.timings.files = files_started.elapsed();

    if copy {
        let rows_started = Instant::now();
        let detail = Actor::Operator.detail(&format!(
            "copied from {}: schema version {version}, {} tables, {} rows, {} images, {} avatars",
            source.display(),
            digest.tables.len(),
            digest.rows(),
            report.images.copied + report.images.already,
            report.avatars.copied + report.avatars.already,
        ));
        target.transaction_blocking(|c| -> anyhow::Result<()> {
            transfer::copy_rows(&snapshot, c, &plan, &mut |table, n| {
                progress(&format!("copied {table}: {n} rows"));
            })?;
            let copied = transfer::digest(c, &plan, MIGRATED)?;
            let differ = differences(&digest, &copied);
            if !differ.is_empty() {
                bail!(
                    "the copy does not read back equal to the snapshot, so it was rolled back: {}",
                    differ.join("; ")
                );
            }
            audit::record(c, None, MIGRATED, Some(&marker_target), &detail)?;
            Ok(())
        })?;
        report.timings.rows = rows_started.elapsed();
        progress(&format!(
            "{} rows committed in {:.2} s, read back equal",
            digest.rows(),
            report.timings.rows.as_secs_f64()
        ));
    }

    // Verify what the target holds now.
    let verify_started = Instant::now();
    let counts = target.run_blocking(|c| transfer::row_counts(c, &plan, MIGRATED))?;
    for t in &plan.tables {
        let source = digest.table(&t.name).map_or(0, |d| d.rows);
        let now = counts.get(&t.name).copied().unwrap_or(0);
        report.tables.push(TableLine {
            name: t.name.clone(),
            source,
            target: now,
        });
    }
    let changed: Vec<String> = report
        .tables
        .iter()
        .filter(|t| t.source != t.target)
        .map(|t| format!("{} {} -> {}", t.name, t.source, t.target))
        .collect();
    match &mut report.outcome {
        Outcome::Copied => {
            if !changed.is_empty() {
                report.problems.push(format!(
                    "row counts differ after the copy: {}",
                    changed.join(", ")
                ));
            }
        }
        Outcome::AlreadyCopied { changed_since, .. } => {
            let now = target.run_blocking(|c| transfer::digest(c, &plan, MIGRATED))?;
            *changed_since = now != digest;
            if *changed_since {
                report.notes.push(format!(
                    "the target has changed since the copy (servers have used it){}",
                    if changed.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", changed.join(", "))
                    }
                ));
            }
        }
    }
    // On a target in use since the copy, an image may have gone with the rows that named it.
    let strict = !matches!(
        report.outcome,
        Outcome::AlreadyCopied {
            changed_since: true,
            ..
        }
    );
    verify_files(&target, &snapshot, &sources, &mut report, strict)?;
    report.timings.verify = verify_started.elapsed();
    report.timings.total = started.elapsed();
    Ok(report)
}

/// The tables whose rows differ between two digests, and how.
fn differences(want: &Digest, got: &Digest) -> Vec<String> {
    let mut out = Vec::new();
    for w in &want.tables {
        match got.table(&w.name) {
            None => out.push(format!("{}: not read", w.name)),
            Some(g) if g.rows != w.rows => {
                out.push(format!("{}: {} rows, expected {}", w.name, g.rows, w.rows));
            }
            Some(g) if g.sha256 != w.sha256 => {
                out.push(format!("{}: same row count, different values", w.name));
            }
            Some(_) => {}
        }
    }
    out
}

/// Unix seconds as RFC 3339 (UTC), for the operator.
fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn is_sha256_hex(name: &str) -> bool {
    name.len() == 64
        && name
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The content type an avatar is served with, from its file name.
fn avatar_content_type(name: &str) -> Option<&'static str> {
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    match ext.as_str() {
        "jpg" | "jpeg" => Some("image/jpeg"),
        "png" => Some("image/png"),
        "webp" => Some("image/webp"),
        _ => None,
    }
}

/// Where a file to copy is.
#[derive(Debug, Clone)]
enum Origin {
    /// A file in the data directory, with its modification time (unix seconds).
    Path(PathBuf, i64),
    /// A row of the SQLite database's own file-store table (read when copied).
    Row,
}

/// One image or avatar to copy.
#[derive(Debug, Clone)]
struct FileSource {
    name: String,
    content_type: Option<&'static str>,
    origin: Origin,
}

/// The data directory's images and avatars (and any rows of the SQLite database's own
/// `images` / `avatars` tables).
struct FileSources {
    images: Vec<FileSource>,
    avatars: Vec<FileSource>,
}

impl FileSources {
    fn find(data_dir: &Path, snapshot: &Snapshot, report: &mut Report) -> anyhow::Result<Self> {
        let mut images = Vec::new();
        let faces = data_dir.join(FACES_DIR);
        for (dir, entries) in sub_dirs(&faces)? {
            for (path, name) in entries {
                if name.starts_with('.') {
                    continue; // a temporary file of an interrupted write
                }
                if is_sha256_hex(&name) && name.starts_with(&dir) {
                    images.push(FileSource {
                        origin: Origin::Path(path.clone(), modified(&path)),
                        name,
                        content_type: None,
                    });
                } else {
                    report.images.ignored.push(path.display().to_string());
                }
            }
        }
        let mut avatars = Vec::new();
        for (path, name) in files_in(&data_dir.join(AVATARS_DIR))? {
            if name.starts_with('.') {
                continue;
            }
            match avatar_content_type(&name) {
                Some(ct) => avatars.push(FileSource {
                    origin: Origin::Path(path.clone(), modified(&path)),
                    name,
                    content_type: Some(ct),
                }),
                None => report.avatars.ignored.push(path.display().to_string()),
            }
        }
        // A SQLite database that keeps files in its own tables (none does yet: they stay
        // empty on SQLite) gives them too; a file found in both is copied once.
        for (name, _) in snapshot.stored_file_names("images")? {
            if !images.iter().any(|i| i.name == name) {
                images.push(FileSource {
                    name,
                    content_type: None,
                    origin: Origin::Row,
                });
            }
        }
        for (name, stored_type) in snapshot.stored_file_names("avatars")? {
            if !avatars.iter().any(|a| a.name == name) {
                let ct = avatar_content_type(&name)
                    .or_else(|| {
                        ["image/jpeg", "image/png", "image/webp"]
                            .into_iter()
                            .find(|t| stored_type.as_deref() == Some(*t))
                    })
                    .unwrap_or("image/jpeg");
                avatars.push(FileSource {
                    name,
                    content_type: Some(ct),
                    origin: Origin::Row,
                });
            }
        }
        images.sort_by(|a, b| a.name.cmp(&b.name));
        avatars.sort_by(|a, b| a.name.cmp(&b.name));
        report.images.found = images.len();
        report.avatars.found = avatars.len();
        let known: std::collections::HashSet<&str> =
            images.iter().map(|i| i.name.as_str()).collect();
        report.images_missing_at_source = snapshot
            .images_in_use()?
            .iter()
            .filter(|sha| !known.contains(sha.as_str()))
            .count();
        if report.images_missing_at_source > 0 {
            report.notes.push(format!(
                "{} images the rows name are in neither {} nor the SQLite database: they were \
                 missing before the move",
                report.images_missing_at_source,
                faces.display()
            ));
        }
        Ok(Self { images, avatars })
    }
}

/// The bytes of a file to copy, checked against its name where the name is a hash: `Err` with
/// what is wrong when they cannot be read or do not match.
fn read_checked(f: &FileSource, image: bool, snapshot: &Snapshot) -> Result<Vec<u8>, String> {
    let (bytes, place) = match &f.origin {
        Origin::Path(p, _) => (
            std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?,
            p.display().to_string(),
        ),
        Origin::Row => {
            let table = if image { "images" } else { "avatars" };
            let place = format!("{table} row {}", f.name);
            let bytes = snapshot
                .stored_file(table, &f.name)
                .map_err(|e| format!("{place}: {e}"))?
                .ok_or_else(|| format!("{place}: gone"))?;
            (bytes, place)
        }
    };
    if hashes_to_name(&f.name, image, &bytes) {
        Ok(bytes)
    } else {
        Err(format!("{place} (its bytes do not hash to its name)"))
    }
}

/// An image is named by the SHA-256 of its bytes; an avatar by it plus an extension (one named
/// otherwise, not by rollcall, is taken as it is).
fn hashes_to_name(name: &str, image: bool, bytes: &[u8]) -> bool {
    let stem = if image {
        name
    } else {
        name.rsplit_once('.').map_or(name, |(s, _)| s)
    };
    !(image || is_sha256_hex(stem)) || sha256_hex(bytes) == stem
}

fn created_at(f: &FileSource) -> i64 {
    match f.origin {
        Origin::Path(_, t) => t,
        Origin::Row => now_unix(),
    }
}

/// Store every good image and avatar the target has a table for, a batch per transaction,
/// each only if absent.
fn store_files(
    target: &Db,
    snapshot: &Snapshot,
    sources: &FileSources,
    report: &mut Report,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<()> {
    for (image, list, files) in [
        (true, &sources.images, &mut report.images),
        (false, &sources.avatars, &mut report.avatars),
    ] {
        if !files.table {
            continue;
        }
        let mut batch: Vec<(&FileSource, Vec<u8>)> = Vec::new();
        let mut batch_bytes = 0;
        let flush = |batch: &mut Vec<(&FileSource, Vec<u8>)>, files: &mut Files| {
            let stored = target.transaction_blocking(|c| {
                batch
                    .iter()
                    .map(|(f, bytes)| match f.content_type {
                        Some(ct) if !image => {
                            transfer::put_avatar(c, &f.name, ct, bytes, created_at(f))
                        }
                        _ => transfer::put_image(c, &f.name, bytes, created_at(f)),
                    })
                    .collect::<crate::storage::Result<Vec<bool>>>()
            })?;
            let new = stored.iter().filter(|s| **s).count();
            files.copied += new;
            files.already += stored.len() - new;
            batch.clear();
            anyhow::Ok(())
        };
        for f in list {
            match read_checked(f, image, snapshot) {
                Ok(bytes) => {
                    batch_bytes += bytes.len();
                    batch.push((f, bytes));
                }
                Err(e) => files.damaged.push(e),
            }
            if batch.len() >= IMAGE_BATCH || batch_bytes >= IMAGE_BATCH_BYTES {
                flush(&mut batch, files)?;
                batch_bytes = 0;
            }
        }
        flush(&mut batch, files)?;
        progress(&format!(
            "{}: {} stored, {} already there{}",
            if image { "images" } else { "avatars" },
            files.copied,
            files.already,
            if files.damaged.is_empty() {
                String::new()
            } else {
                format!(", {} damaged (not copied)", files.damaged.len())
            }
        ));
    }
    Ok(())
}

/// Read every image and avatar back from the target and compare it with its source. `strict`:
/// one missing from the target is a problem (else, on a target servers have used since, a
/// note: an image may have been deleted since with the rows that named it).
fn verify_files(
    target: &Db,
    snapshot: &Snapshot,
    sources: &FileSources,
    report: &mut Report,
    strict: bool,
) -> anyhow::Result<()> {
    for (image, list, files) in [
        (true, &sources.images, &mut report.images),
        (false, &sources.avatars, &mut report.avatars),
    ] {
        if !files.table {
            continue;
        }
        let mut missing = 0;
        for f in list {
            let Ok(want) = read_checked(f, image, snapshot) else {
                continue; // damaged at the source: reported already
            };
            let got = if image {
                target.run_blocking(|c| transfer::image(c, &f.name))?
            } else {
                target
                    .run_blocking(|c| transfer::avatar(c, &f.name))?
                    .map(|(ct, bytes)| {
                        if Some(ct.as_str()) == f.content_type {
                            bytes
                        } else {
                            Vec::new() // a wrong content type is a difference
                        }
                    })
            };
            match got {
                Some(bytes) if sha256_hex(&bytes) == sha256_hex(&want) => files.verified += 1,
                Some(_) => files.bad_in_target.push(format!("{} (differs)", f.name)),
                None if strict => files.bad_in_target.push(format!("{} (missing)", f.name)),
                None => missing += 1,
            }
        }
        let what = if image { "images" } else { "avatars" };
        if missing > 0 {
            report.notes.push(format!(
                "{missing} {what} of the SQLite school are no longer in the target"
            ));
        }
        if !files.bad_in_target.is_empty() {
            report.problems.push(format!(
                "{what} that do not read back from the target as copied: {}",
                files.bad_in_target.join(", ")
            ));
        }
    }
    for (what, list, table) in [
        ("images", &sources.images, report.images.table),
        ("avatars", &sources.avatars, report.avatars.table),
    ] {
        let in_rows = list
            .iter()
            .filter(|f| matches!(f.origin, Origin::Row))
            .count();
        if !table && in_rows > 0 {
            report.problems.push(format!(
                "the SQLite database keeps {in_rows} {what} in its own table, and the target \
                 has no {what} table to copy them into"
            ));
        }
    }
    if !report.images.table {
        report.notes.push(format!(
            "face images were NOT copied: the target has no images table (this rollcall keeps \
             them as files). Copy {} ({} images) into the data directory of every server on \
             the target.",
            report.source.with_file_name(FACES_DIR).display(),
            report.images.found
        ));
    }
    if !report.avatars.table && report.avatars.found > 0 {
        report.notes.push(format!(
            "avatars were NOT copied: the target has no avatars table. Copy {} ({} files) into \
             the data directory of every server on the target.",
            report.source.with_file_name(AVATARS_DIR).display(),
            report.avatars.found
        ));
    }
    Ok(())
}

/// Files of a folder: (path, file name), by path.
type Listing = Vec<(PathBuf, String)>;

/// The sub-folders of `dir` with their files: (folder name, files). None when `dir` does not
/// exist.
fn sub_dirs(dir: &Path) -> anyhow::Result<Vec<(String, Listing)>> {
    entries(dir)?
        .into_iter()
        .filter(|(path, _)| path.is_dir())
        .map(|(path, name)| Ok((name, files_in(&path)?)))
        .collect()
}

/// The files directly in `dir`: (path, name). None when `dir` does not exist.
fn files_in(dir: &Path) -> anyhow::Result<Listing> {
    let mut out: Listing = entries(dir)?
        .into_iter()
        .filter(|(path, _)| path.is_file())
        .collect();
    out.sort();
    Ok(out)
}

/// Everything directly in `dir`: (path, name); nothing when `dir` does not exist.
fn entries(dir: &Path) -> anyhow::Result<Listing> {
    let read = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    read.map(|entry| {
        let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
        Ok((
            entry.path(),
            entry.file_name().to_string_lossy().into_owned(),
        ))
    })
    .collect()
}

/// A file's modification time in unix seconds (now when it cannot be read).
fn modified(path: &Path) -> i64 {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .unwrap_or_else(now_unix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_content_types() {
        assert!(is_sha256_hex(&sha256_hex(b"x")));
        assert!(!is_sha256_hex(&sha256_hex(b"x").to_uppercase()));
        assert!(!is_sha256_hex("abc"));
        assert_eq!(avatar_content_type("a.JPG"), Some("image/jpeg"));
        assert_eq!(avatar_content_type("a.png"), Some("image/png"));
        assert_eq!(avatar_content_type("a.webp"), Some("image/webp"));
        assert_eq!(avatar_content_type("a.gif"), None);
        assert_eq!(avatar_content_type("jpg"), None);
    }

    #[test]
    fn a_file_must_hash_to_its_name() {
        let good = sha256_hex(b"photo");
        assert!(hashes_to_name(&good, true, b"photo"));
        assert!(!hashes_to_name(&good, true, b"photo!"));
        assert!(!hashes_to_name("me", true, b"photo"));
        // An avatar named by its hash is checked too; one named otherwise is taken as it is.
        assert!(hashes_to_name(&format!("{good}.jpg"), false, b"photo"));
        assert!(!hashes_to_name(&format!("{good}.jpg"), false, b"other"));
        assert!(hashes_to_name("me.jpg", false, b"other"));
    }
}
