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
pub mod sql;
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
    /// A stored value that the reading code cannot represent (a type or range mismatch).
    #[error("database value: {0}")]
    Decode(String),
    /// A query expected to return a row returned none.
    #[error("database: expected a row, found none")]
    NoRow,
    /// The database was written by a newer rollcall; nothing is changed.
    #[error(
        "database schema version {found} is newer than this rollcall knows ({known}); upgrade rollcall"
    )]
    SchemaTooNew { found: i64, known: i64 },
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

    /// True when the disk holding the database is full: nothing was written.
    #[must_use]
    pub fn is_disk_full(&self) -> bool {
        matches!(
            self,
            Self::Sqlite(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::DiskFull
        )
    }

    /// True when the database file or its directory cannot be written (read-only, or gone).
    #[must_use]
    pub fn is_read_only(&self) -> bool {
        matches!(
            self,
            Self::Sqlite(rusqlite::Error::SqliteFailure(e, _))
                if matches!(e.code, rusqlite::ErrorCode::ReadOnly | rusqlite::ErrorCode::CannotOpen)
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

    /// Run `f` on a pooled connection, on the blocking pool, outside a transaction: each
    /// statement sees the latest committed data (reads, or writes of one statement).
    pub async fn run<F, R, E>(&self, f: F) -> std::result::Result<R, E>
    where
        F: FnOnce(&Conn<'_>) -> std::result::Result<R, E> + Send + 'static,
        R: Send + 'static,
        E: From<StorageError> + Send + 'static,
    {
        self.call(move |c| Ok(f(&Conn { sql: c }))).await?
    }

    /// Run `f` inside one transaction that takes the write lock when it begins, on the blocking
    /// pool: committed when `f` returns `Ok`, rolled back when it returns `Err`. A use case that
    /// must keep a write and still report a failure returns `Ok(Err(..))`.
    pub async fn transaction<F, R, E>(&self, f: F) -> std::result::Result<R, E>
    where
        F: FnOnce(&Conn<'_>) -> std::result::Result<R, E> + Send + 'static,
        R: Send + 'static,
        E: From<StorageError> + Send + 'static,
    {
        self.call(move |c| Ok(in_transaction(c, f))).await?
    }

    /// [`Db::run`] on the current thread (CLI and start-up only).
    pub fn run_blocking<F, R, E>(&self, f: F) -> std::result::Result<R, E>
    where
        F: FnOnce(&Conn<'_>) -> std::result::Result<R, E>,
        E: From<StorageError>,
    {
        self.inner.with_connection(|c| Ok(f(&Conn { sql: c })))?
    }

    /// [`Db::transaction`] on the current thread (CLI and start-up only).
    pub fn transaction_blocking<F, R, E>(&self, f: F) -> std::result::Result<R, E>
    where
        F: FnOnce(&Conn<'_>) -> std::result::Result<R, E>,
        E: From<StorageError>,
    {
        self.inner.with_connection(|c| Ok(in_transaction(c, f)))?
    }

    /// The schema version, after proving the database takes the write lock (a read-only mount or
    /// a vanished directory fails here): the health check's probe.
    pub async fn check(&self) -> Result<i64> {
        self.call(|c| {
            let version = migrations::current_version(c)?;
            c.execute_batch("BEGIN IMMEDIATE; ROLLBACK;")?;
            Ok(version)
        })
        .await
    }

    /// Run `f` with a pooled connection on the blocking pool.
    async fn call<F, R>(&self, f: F) -> Result<R>
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
        self.inner
            .with_connection(|c| Ok(c.execute("VACUUM INTO ?1", [target])?))?;
        Ok(())
    }
}

/// `f` inside one transaction on `c`, committed on `Ok`.
fn in_transaction<F, R, E>(c: &Connection, f: F) -> std::result::Result<R, E>
where
    F: FnOnce(&Conn<'_>) -> std::result::Result<R, E>,
    E: From<StorageError>,
{
    Conn { sql: c }.transaction(f)
}

/// A connection lent to the closure of [`Db::run`] or [`Db::transaction`]. Services only pass it on to
/// the storage functions; the SQL it runs is visible inside `storage` alone.
pub struct Conn<'a> {
    sql: &'a Connection,
}

impl<'a> Conn<'a> {
    /// `f` inside one transaction on this connection, taking the write lock when it begins
    /// (IMMEDIATE, the connection's default): committed when `f` returns `Ok`, rolled back when it
    /// returns `Err`. For a use case that needs two transactions on one connection (e.g. files
    /// unlinked only once the rows that named them are gone for good); inside a transaction this
    /// fails, as SQLite does not nest them.
    pub fn transaction<F, R, E>(&self, f: F) -> std::result::Result<R, E>
    where
        F: FnOnce(&Conn<'_>) -> std::result::Result<R, E>,
        E: From<StorageError>,
    {
        let tx = self.begin()?;
        let out = f(&Conn { sql: &tx })?;
        tx.commit().map_err(StorageError::from)?;
        Ok(out)
    }

    /// `f` inside a transaction that is always rolled back: a rehearsal (an import's dry run)
    /// that sees its own writes and leaves nothing behind.
    pub fn rehearse<F, R, E>(&self, f: F) -> std::result::Result<R, E>
    where
        F: FnOnce(&Conn<'_>) -> std::result::Result<R, E>,
        E: From<StorageError>,
    {
        let tx = self.begin()?;
        let out = f(&Conn { sql: &tx });
        tx.rollback().map_err(StorageError::from)?;
        out
    }

    /// A transaction on this connection (IMMEDIATE: the connection's default behaviour).
    fn begin(&self) -> Result<rusqlite::Transaction<'_>> {
        Ok(self.sql.unchecked_transaction()?)
    }

    /// For storage's own tests, on a connection they opened.
    #[cfg(test)]
    pub(in crate::storage) fn new(sql: &'a Connection) -> Self {
        Self { sql }
    }

    pub(in crate::storage) fn execute<P: rusqlite::Params>(
        &self,
        sql: &str,
        params: P,
    ) -> rusqlite::Result<usize> {
        self.sql.execute(sql, params)
    }

    pub(in crate::storage) fn prepare(
        &self,
        sql: &str,
    ) -> rusqlite::Result<rusqlite::Statement<'a>> {
        self.sql.prepare(sql)
    }

    pub(in crate::storage) fn prepare_cached(
        &self,
        sql: &str,
    ) -> rusqlite::Result<rusqlite::CachedStatement<'a>> {
        self.sql.prepare_cached(sql)
    }

    pub(in crate::storage) fn query_row<T, P, F>(
        &self,
        sql: &str,
        params: P,
        f: F,
    ) -> rusqlite::Result<T>
    where
        P: rusqlite::Params,
        F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    {
        self.sql.query_row(sql, params, f)
    }

    #[cfg(test)]
    pub(in crate::storage) fn execute_batch(&self, sql: &str) -> rusqlite::Result<()> {
        self.sql.execute_batch(sql)
    }

    pub(in crate::storage) fn last_insert_rowid(&self) -> i64 {
        self.sql.last_insert_rowid()
    }

    /// A subquery of one column named `value`, the items of the JSON array of text bound to `?n`
    /// (how a list is passed as one argument; the one fragment each backend spells its own way).
    pub(in crate::storage) fn text_list(&self, n: usize) -> String {
        format!("SELECT value FROM json_each(?{n})")
    }

    /// Run one statement; the number of rows it changed.
    pub(in crate::storage) fn exec(&self, sql: &str, args: &[sql::Value<'_>]) -> Result<usize> {
        let mut stmt = self.sql.prepare_cached(sql)?;
        Ok(stmt.execute(rusqlite::params_from_iter(args))?)
    }

    /// The first row of a query, read by `f`; `None` when there is none.
    pub(in crate::storage) fn query_opt<T>(
        &self,
        sql: &str,
        args: &[sql::Value<'_>],
        f: impl FnOnce(&sql::Row<'_>) -> Result<T>,
    ) -> Result<Option<T>> {
        let mut stmt = self.sql.prepare_cached(sql)?;
        let mut rows = stmt.query(rusqlite::params_from_iter(args))?;
        match rows.next()? {
            Some(row) => Ok(Some(f(&sql::Row::sqlite(row))?)),
            None => Ok(None),
        }
    }

    /// The first row of a query that always has one (an aggregate, or a row known to exist).
    pub(in crate::storage) fn query_one<T>(
        &self,
        sql: &str,
        args: &[sql::Value<'_>],
        f: impl FnOnce(&sql::Row<'_>) -> Result<T>,
    ) -> Result<T> {
        self.query_opt(sql, args, f)?
            .ok_or(StorageError::NoRow)
    }

    /// Every row of a query, each read by `f`, in the query's order.
    pub(in crate::storage) fn query_all<T>(
        &self,
        sql: &str,
        args: &[sql::Value<'_>],
        mut f: impl FnMut(&sql::Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        let mut stmt = self.sql.prepare_cached(sql)?;
        let mut rows = stmt.query(rusqlite::params_from_iter(args))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(f(&sql::Row::sqlite(row))?);
        }
        Ok(out)
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
