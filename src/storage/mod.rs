//! SQLite storage: a small connection pool, migrations, and one module per aggregate.
//! Every call runs on tokio's blocking pool; the async side only awaits it.

pub mod analytics;
pub mod attendance;
pub mod audit;
pub mod backup;
pub mod drafts;
pub mod faces;
pub mod limits;
pub mod migrations;
pub mod outbox;
pub mod seed_import;
pub mod sessions;
pub mod students;
pub mod subjects;
pub mod teachers;
pub mod users;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::Semaphore;

/// Most connections open at once; SQLite serialises writers anyway, readers run in parallel (WAL).
const MAX_CONNECTIONS: usize = 8;
/// How long a statement waits for another connection's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database worker failed: {0}")]
    Worker(String),
}

impl StorageError {
    /// True when a UNIQUE or PRIMARY KEY constraint rejected the write.
    #[must_use]
    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            Self::Sqlite(rusqlite::Error::SqliteFailure(e, _))
                if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
        )
    }

    /// True when another connection held the lock past the busy timeout (`SQLITE_BUSY`,
    /// `SQLITE_LOCKED`): the write may succeed if tried again.
    #[must_use]
    pub fn is_busy(&self) -> bool {
        matches!(
            self,
            Self::Sqlite(rusqlite::Error::SqliteFailure(e, _))
                if matches!(e.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        )
    }
}

pub type Result<T> = std::result::Result<T, StorageError>;

#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

impl Db {
    /// Open (creating if needed) the database file and bring its schema up to date.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating data directory {}", dir.display()))?;
        }
        let mut conn = open_connection(path)
            .with_context(|| format!("opening database {}", path.display()))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        migrations::apply(&mut conn).context("applying migrations")?;
        Ok(Self {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                idle: Mutex::new(vec![conn]),
                permits: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
            }),
        })
    }

    #[must_use]
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Run `f` with a pooled connection on the blocking pool.
    pub async fn call<F, R>(&self, f: F) -> Result<R>
    where
        F: FnOnce(&mut Connection) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        let permit = Arc::clone(&self.inner.permits)
            .acquire_owned()
            .await
            .map_err(|e| StorageError::Worker(e.to_string()))?;
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            inner.with_connection(f)
        })
        .await
        .map_err(|e| StorageError::Worker(e.to_string()))?
    }

    /// Write a consistent copy of the database to `out` (`VACUUM INTO`); safe while serving.
    pub fn backup(&self, out: &Path) -> anyhow::Result<()> {
        anyhow::ensure!(!out.exists(), "{} already exists", out.display());
        let target = out.to_str().context("backup path is not UTF-8")?.to_owned();
        self.call_blocking(|c| Ok(c.execute("VACUUM INTO ?1", [target])?))?;
        Ok(())
    }

    /// Run `f` with a pooled connection on the current thread (CLI and start-up only).
    pub fn call_blocking<F, R>(&self, f: F) -> Result<R>
    where
        F: FnOnce(&mut Connection) -> Result<R>,
    {
        self.inner.with_connection(f)
    }
}

impl Inner {
    fn with_connection<F, R>(&self, f: F) -> Result<R>
    where
        F: FnOnce(&mut Connection) -> Result<R>,
    {
        let pooled = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut conn = match pooled {
            Some(conn) => conn,
            None => open_connection(&self.path)?,
        };
        let result = f(&mut conn);
        // A connection left inside a transaction by a panic or early return is not reused.
        if conn.is_autocommit() {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < MAX_CONNECTIONS {
                idle.push(conn);
            }
        }
        result
    }
}

fn open_connection(path: &Path) -> rusqlite::Result<Connection> {
    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // A writer waits for the lock this long (SQLite's busy handler retries with back-off);
    // past it the client gets a 503 with Retry-After, never a 500.
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Every transaction takes the write lock when it begins. A deferred transaction that reads
    // and then writes cannot wait for the lock (upgrading it would deadlock), so under concurrent
    // writers it fails at once with SQLITE_BUSY; an immediate one waits in the busy handler.
    conn.set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // FULL: a committed transaction survives power loss, not only a killed process.
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

/// Seconds since the Unix epoch, the unit of every time column.
#[must_use]
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
