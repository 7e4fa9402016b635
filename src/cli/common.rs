//! What several commands share: the data directory and the database in it, the cache
//! directory, the consent notice, and the runtime the service functions run on.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::storage::Db;

/// `--data-dir` (`ROLLCALL_DATA_DIR`, default `data`): the server's data directory.
///
/// It has no help line of its own: each command that flattens it says what the directory is
/// to it with `#[command(mut_arg("data_dir", |a| a.help(...)))]` (`mail dead` and `mail retry`
/// say nothing). Should the id and the field's name ever differ, clap panics as it builds the
/// command line (the unit test `cli_definition_is_consistent` catches it).
#[derive(Debug, clap::Args)]
pub struct DataDir {
    #[arg(long, env = "ROLLCALL_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,

    /// `sqlite:` (the file in the data directory) or `postgres://user:password@host:port/db`.
    #[arg(
        long,
        env = "ROLLCALL_DATABASE_URL",
        default_value = "sqlite:",
        hide_env_values = true
    )]
    database_url: crate::config::DatabaseUrl,
}

impl DataDir {
    pub fn path(&self) -> &Path {
        &self.data_dir
    }

    /// The database file, which may not exist yet.
    pub fn database(&self) -> PathBuf {
        self.data_dir.join(crate::config::DATABASE_FILE)
    }

    /// Open the server's database, which must exist (a SQLite file is not created here).
    pub fn open_db(&self) -> anyhow::Result<Db> {
        if self.database_url == crate::config::DatabaseUrl::Sqlite {
            let path = self.database();
            anyhow::ensure!(path.is_file(), "no database at {}", path.display());
        }
        Db::open_url(&self.database_url, &self.data_dir)
    }

    /// The server's settings as `rollcall serve` would take them from the environment
    /// (`JWT_SECRET`, `BACKEND_BASE_URL`, `ROLLCALL_INVITATION_DAYS`, ...), for this data
    /// directory and database: what a command needs to act like the server, e.g. to mail links
    /// the server accepts.
    pub fn server_settings(&self) -> anyhow::Result<crate::config::Settings> {
        #[derive(clap::Parser)]
        struct FromEnv {
            #[command(flatten)]
            settings: crate::config::Settings,
        }
        let url = self.database_url.to_string();
        let parsed = <FromEnv as clap::Parser>::try_parse_from([
            std::ffi::OsStr::new("rollcall"),
            std::ffi::OsStr::new("--data-dir"),
            self.data_dir.as_os_str(),
            std::ffi::OsStr::new("--database-url"),
            std::ffi::OsStr::new(&url),
        ])
        .map_err(|e| anyhow::anyhow!("the server's settings in the environment: {e}"))?;
        Ok(parsed.settings)
    }

    /// Open the server's database, creating it if needed.
    pub fn open_or_create_db(&self) -> anyhow::Result<Db> {
        Db::open_url(&self.database_url, &self.data_dir)
    }

    /// Refuse a command that works on the SQLite file when the database is PostgreSQL.
    pub fn require_sqlite(&self, what: &str) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.database_url == crate::config::DatabaseUrl::Sqlite,
            "{what} works on the SQLite file of a data directory; a PostgreSQL database ({}) is \
             backed up and restored with PostgreSQL's own tools (pg_dump, or base backups with \
             WAL archiving), which include the face images and avatars",
            self.database_url
        );
        Ok(())
    }

    /// Where the face images are kept for `db` (this data directory's files beside SQLite, the
    /// database itself on PostgreSQL), as the server keeps them.
    pub fn images(&self, db: &Db) -> crate::service::images::ImageStore {
        crate::service::images::ImageStore::for_database(db, &self.data_dir)
    }
}

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

/// The single-threaded runtime a command runs the (async) service functions on (`serve` has
/// its own, multi-threaded).
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}
