//! `rollcall backup` and `rollcall restore`: a backup folder of the data directory, and back.

use std::path::PathBuf;

use super::common::DataDir;

/// Write a backup folder: a consistent copy of the database (`VACUUM INTO`, safe while the
/// server runs), then the face images and avatars it refers to, and the signing secret.
#[derive(Debug, clap::Args)]
#[command(mut_arg("data_dir", |a| a.help("Data directory of the server")))]
pub struct Backup {
    #[command(flatten)]
    data_dir: DataDir,
    /// Folder to create (must not exist).
    out: PathBuf,
}

impl Backup {
    pub fn run(self) -> anyhow::Result<()> {
        self.data_dir.require_sqlite("rollcall backup")?;
        let report = crate::storage::backup::write(self.data_dir.path(), &self.out)?;
        outln!(
            "backup written to {}: database, {} face images, {} avatars",
            self.out.display(),
            report.images,
            report.avatars
        )?;
        Ok(())
    }
}

/// Restore a backup folder into an empty data directory (stop the server first).
#[derive(Debug, clap::Args)]
#[command(mut_arg("data_dir", |a| a.help("Data directory to restore into; must hold no database")))]
pub struct Restore {
    #[command(flatten)]
    data_dir: DataDir,
    /// Folder written by `rollcall backup`.
    backup: PathBuf,
}

impl Restore {
    pub fn run(self) -> anyhow::Result<()> {
        self.data_dir.require_sqlite("rollcall restore")?;
        let report = crate::storage::backup::restore(&self.backup, self.data_dir.path())?;
        outln!(
            "restored {} into {}: database (integrity ok), {} face images, {} avatars",
            self.backup.display(),
            self.data_dir.path().display(),
            report.images,
            report.avatars
        )?;
        Ok(())
    }
}
