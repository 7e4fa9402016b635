//! What several commands share: the cache directory, the consent notice, and opening the
//! server's database.

use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct CacheArg {
    /// Directory `scripts/setup` filled (default: `.cache` here or beside the repository).
    #[arg(long, env = "ROLLCALL_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
}

impl CacheArg {
    pub fn resolve(&self) -> PathBuf {
        self.cache_dir
            .clone()
            .unwrap_or_else(crate::config::default_cache_dir)
    }
}

/// The consent notice the school's forms agree to, as the server is configured.
#[derive(clap::Args, Debug)]
pub struct NoticeArg {
    /// The notice the forms agreed to (its SHA-256 goes into the audit entry).
    #[arg(long, env = "ROLLCALL_CONSENT_NOTICE", default_value = crate::config::DEFAULT_CONSENT_NOTICE)]
    pub consent_notice: String,
}

pub fn open_db(data_dir: &std::path::Path) -> anyhow::Result<crate::storage::Db> {
    let path = data_dir.join(crate::config::DATABASE_FILE);
    anyhow::ensure!(path.is_file(), "no database at {}", path.display());
    crate::storage::Db::open(&path)
}
