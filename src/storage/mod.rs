//! Storage: SQLite (a file in the data directory, the default) or PostgreSQL (several servers
//! on one database), a small connection pool, migrations, and one module per aggregate. Every
//! call runs on tokio's blocking pool; the async side only awaits it. docs/postgres.md
//! describes the two backends.

pub mod accounts;
pub mod analytics;
pub mod attendance;
pub mod audit;
pub mod backup;
pub mod cluster;
pub mod drafts;
pub mod faces;
pub mod images;
pub mod invitations;
pub mod limits;
pub mod migrations;
pub mod outbox;
mod pg;
pub mod roster;
pub mod seed_import;
pub mod sessions;
pub mod sql;
pub mod students;
pub mod subjects;
pub mod teachers;
pub mod transfer;
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
    #[error("database: {0}")]
    Postgres(#[from] postgres::Error),
    #[error("database worker failed: {0}")]
    Worker(String),
    /// A stored value that the reading code cannot represent (a type or range mismatch).
    #[error("database value: {0}")]
    Decode(String),
    /// A text argument holds the NUL character, which PostgreSQL cannot store; refused on both
    /// backends so that they answer alike.
    #[error("text must not contain the NUL character (U+0000)")]
    NulInText,
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
    /// The SQLSTATE of a PostgreSQL error.
    fn sqlstate(&self) -> Option<&postgres::error::SqlState> {
        match self {
            Self::Postgres(e) => e.code(),
            _ => None,
        }
    }

    /// True when a UNIQUE or PRIMARY KEY constraint rejected the write.
    #[must_use]
    pub fn is_unique_violation(&self) -> bool {
        use postgres::error::SqlState;
        matches!(
            self,
            Self::Sqlite(rusqlite::Error::SqliteFailure(e, _))
                if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
        ) || self.sqlstate() == Some(&SqlState::UNIQUE_VIOLATION)
    }

    /// True when the disk holding the database is full: nothing was written.
    #[must_use]
    pub fn is_disk_full(&self) -> bool {
        use postgres::error::SqlState;
        matches!(
            self,
            Self::Sqlite(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::DiskFull
        ) || self.sqlstate() == Some(&SqlState::DISK_FULL)
    }

    /// True when the database file or its directory cannot be written (read-only, or gone), or
    /// the PostgreSQL server takes no writes (a standby, a read-only transaction).
    #[must_use]
    pub fn is_read_only(&self) -> bool {
        use postgres::error::SqlState;
        matches!(
            self,
            Self::Sqlite(rusqlite::Error::SqliteFailure(e, _))
                if matches!(e.code, rusqlite::ErrorCode::ReadOnly | rusqlite::ErrorCode::CannotOpen)
        ) || self.sqlstate() == Some(&SqlState::READ_ONLY_SQL_TRANSACTION)
    }

    /// True when another connection held the lock past the busy timeout (`SQLITE_BUSY`,
    /// `SQLITE_LOCKED`; on PostgreSQL a lock or statement timeout, a deadlock, a serialization
    /// failure, too many connections, or a server that is down or going away): the request may
    /// succeed if tried again.
    #[must_use]
    pub fn is_busy(&self) -> bool {
        use postgres::error::SqlState;
        if let Self::Postgres(e) = self {
            // No SQLSTATE: the connection failed (refused, reset, timed out), not the statement.
            let connection_lost =
                || std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>());
            return e.is_closed()
                || e.code().map_or_else(connection_lost, |c| {
                    [
                        SqlState::LOCK_NOT_AVAILABLE,
                        SqlState::QUERY_CANCELED,
                        SqlState::T_R_DEADLOCK_DETECTED,
                        SqlState::T_R_SERIALIZATION_FAILURE,
                        SqlState::TOO_MANY_CONNECTIONS,
                        SqlState::ADMIN_SHUTDOWN,
                        SqlState::CRASH_SHUTDOWN,
                        SqlState::CANNOT_CONNECT_NOW,
                        SqlState::IDLE_IN_TRANSACTION_SESSION_TIMEOUT,
                    ]
                    .contains(c)
                });
        }
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
    backend: Backend,
    permits: Arc<Semaphore>,
}

/// Where the rows live, with the idle connections of the pool.
enum Backend {
    Sqlite {
        path: PathBuf,
        idle: Mutex<Vec<Connection>>,
    },
    Postgres {
        config: Box<postgres::Config>,
        idle: Mutex<Vec<pg::PgConn>>,
    },
}

impl Db {
    /// Open (creating if needed) the database file and bring its schema up to date.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating data directory {}", dir.display()))?;
        }
        let conn = open_connection(path)
            .with_context(|| format!("opening database {}", path.display()))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        migrations::apply(&Conn::sqlite(&conn)).context("applying migrations")?;
        Ok(Self::with_backend(Backend::Sqlite {
            path: path.to_owned(),
            idle: Mutex::new(vec![conn]),
        }))
    }

    /// The database `url` names: the SQLite file in `data_dir`, or a PostgreSQL database.
    /// Blocking: call it off the async runtime.
    pub fn open_url(url: &crate::config::DatabaseUrl, data_dir: &Path) -> anyhow::Result<Self> {
        match url {
            crate::config::DatabaseUrl::Sqlite => {
                Self::open(&data_dir.join(crate::config::DATABASE_FILE))
            }
            crate::config::DatabaseUrl::Postgres(url) => Self::connect_postgres(url),
        }
    }

    /// Connect to a PostgreSQL database (`postgres://user:password@host:port/db`) and bring its
    /// schema up to date; several servers may do this at once (one migrates, the others wait).
    /// Blocking: call it off the async runtime.
    pub fn connect_postgres(url: &str) -> anyhow::Result<Self> {
        let config: postgres::Config = url
            .parse()
            .map_err(|e| anyhow::anyhow!("the database URL is not a PostgreSQL URL: {e}"))?;
        let conn = pg::PgConn::connect(&config).context("connecting to PostgreSQL")?;
        migrations::apply(&Conn::pg(&conn)).context("applying migrations")?;
        Ok(Self::with_backend(Backend::Postgres {
            config: Box::new(config),
            idle: Mutex::new(vec![conn]),
        }))
    }

    fn with_backend(backend: Backend) -> Self {
        Self {
            inner: Arc::new(Inner {
                backend,
                permits: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
            }),
        }
    }

    /// True when several servers may share this database (PostgreSQL): whatever they all need,
    /// photos included, must then live in it rather than in one server's data directory.
    #[must_use]
    pub fn is_shared(&self) -> bool {
        matches!(self.inner.backend, Backend::Postgres { .. })
    }

    /// The database file, when the backend is SQLite.
    #[must_use]
    pub fn path(&self) -> Option<&Path> {
        match &self.inner.backend {
            Backend::Sqlite { path, .. } => Some(path),
            Backend::Postgres { .. } => None,
        }
    }

    /// Run `f` on a pooled connection, on the blocking pool, outside a transaction: each
    /// statement sees the latest committed data (reads, or writes of one statement).
    pub async fn run<F, R, E>(&self, f: F) -> std::result::Result<R, E>
    where
        F: FnOnce(&Conn<'_>) -> std::result::Result<R, E> + Send + 'static,
        R: Send + 'static,
        E: From<StorageError> + Send + 'static,
    {
        self.call(move |c| Ok(f(c))).await?
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
        self.call(move |c| Ok(c.transaction(f))).await?
    }

    /// [`Db::run`] on the current thread (CLI and start-up only).
    pub fn run_blocking<F, R, E>(&self, f: F) -> std::result::Result<R, E>
    where
        F: FnOnce(&Conn<'_>) -> std::result::Result<R, E>,
        E: From<StorageError>,
    {
        self.inner.with_connection(|c| Ok(f(c)))?
    }

    /// [`Db::transaction`] on the current thread (CLI and start-up only).
    pub fn transaction_blocking<F, R, E>(&self, f: F) -> std::result::Result<R, E>
    where
        F: FnOnce(&Conn<'_>) -> std::result::Result<R, E>,
        E: From<StorageError>,
    {
        self.inner.with_connection(|c| Ok(c.transaction(f)))?
    }

    /// The schema version, after proving the database takes the write lock (a read-only mount,
    /// a vanished directory or a read-only PostgreSQL standby fails here): the health check's probe.
    pub async fn check(&self) -> Result<i64> {
        self.call(|c| {
            let version = migrations::current_version(c)?;
            c.probe_write()?;
            Ok(version)
        })
        .await
    }

    /// Run `f` with a pooled connection on the blocking pool.
    async fn call<F, R>(&self, f: F) -> Result<R>
    where
        F: FnOnce(&Conn<'_>) -> Result<R> + Send + 'static,
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
    /// SQLite only: a PostgreSQL database is backed up with PostgreSQL's own tools.
    pub fn backup(&self, out: &Path) -> anyhow::Result<()> {
        anyhow::ensure!(!out.exists(), "{} already exists", out.display());
        anyhow::ensure!(
            self.path().is_some(),
            "a PostgreSQL database is backed up with pg_dump or a base backup, not by rollcall"
        );
        let target = out.to_str().context("backup path is not UTF-8")?.to_owned();
        self.inner
            .with_connection(|c| c.exec("VACUUM INTO ?1", sql::args![target]))?;
        Ok(())
    }
}

/// A connection lent to the closure of [`Db::run`] or [`Db::transaction`]. Services only pass it on to
/// the storage functions; the SQL it runs is visible inside `storage` alone.
pub struct Conn<'a> {
    inner: ConnInner<'a>,
}

#[derive(Clone, Copy)]
enum ConnInner<'a> {
    Sqlite(&'a Connection),
    Pg(&'a pg::PgConn),
}

impl<'a> Conn<'a> {
    fn sqlite(c: &'a Connection) -> Self {
        Self {
            inner: ConnInner::Sqlite(c),
        }
    }

    fn pg(c: &'a pg::PgConn) -> Self {
        Self {
            inner: ConnInner::Pg(c),
        }
    }

    /// True on PostgreSQL (for the few statements each backend spells its own way).
    pub(in crate::storage) fn is_postgres(&self) -> bool {
        matches!(self.inner, ConnInner::Pg(_))
    }

    /// `f` inside one transaction on this connection, taking the write lock when it begins
    /// (SQLite: IMMEDIATE; PostgreSQL: a cluster-wide advisory lock, so writers of several
    /// servers are serialised as one SQLite file serialises them): committed when `f` returns
    /// `Ok`, rolled back when it returns `Err`. For a use case that needs two transactions on one
    /// connection (e.g. files unlinked only once the rows that named them are gone for good);
    /// inside a transaction this fails, as transactions do not nest.
    pub fn transaction<F, R, E>(&self, f: F) -> std::result::Result<R, E>
    where
        F: FnOnce(&Conn<'_>) -> std::result::Result<R, E>,
        E: From<StorageError>,
    {
        match self.inner {
            ConnInner::Sqlite(c) => {
                let tx = c.unchecked_transaction().map_err(StorageError::from)?;
                let out = f(&Conn::sqlite(&tx))?;
                tx.commit().map_err(StorageError::from)?;
                Ok(out)
            }
            ConnInner::Pg(c) => {
                c.begin()?;
                match f(self) {
                    Ok(out) => {
                        c.finish("COMMIT")?;
                        Ok(out)
                    }
                    Err(e) => {
                        // A failed rollback leaves the connection marked as in a transaction,
                        // so the pool drops it.
                        let _ = c.finish("ROLLBACK");
                        Err(e)
                    }
                }
            }
        }
    }

    /// `f` reading one snapshot of the database, without the write lock: several reads that
    /// must agree with each other (a list and its counts) while writers go on. SQLite: a
    /// deferred transaction (WAL keeps the snapshot of its first read); PostgreSQL: REPEATABLE
    /// READ, read only.
    pub fn snapshot<F, R, E>(&self, f: F) -> std::result::Result<R, E>
    where
        F: FnOnce(&Conn<'_>) -> std::result::Result<R, E>,
        E: From<StorageError>,
    {
        match self.inner {
            ConnInner::Sqlite(c) => {
                let tx = rusqlite::Transaction::new_unchecked(
                    c,
                    rusqlite::TransactionBehavior::Deferred,
                )
                .map_err(StorageError::from)?;
                let out = f(&Conn::sqlite(&tx));
                tx.rollback().map_err(StorageError::from)?;
                out
            }
            ConnInner::Pg(c) => {
                c.begin_snapshot()?;
                let out = f(self);
                // Nothing was written: ending it either way is the same.
                c.finish("ROLLBACK")?;
                out
            }
        }
    }

    /// `f` inside a transaction that is always rolled back: a rehearsal (an import's dry run)
    /// that sees its own writes and leaves nothing behind.
    pub fn rehearse<F, R, E>(&self, f: F) -> std::result::Result<R, E>
    where
        F: FnOnce(&Conn<'_>) -> std::result::Result<R, E>,
        E: From<StorageError>,
    {
        match self.inner {
            ConnInner::Sqlite(c) => {
                let tx = c.unchecked_transaction().map_err(StorageError::from)?;
                let out = f(&Conn::sqlite(&tx));
                tx.rollback().map_err(StorageError::from)?;
                out
            }
            ConnInner::Pg(c) => {
                c.begin()?;
                let out = f(self);
                c.finish("ROLLBACK")?;
                out
            }
        }
    }

    /// `f` while holding the migration lock (PostgreSQL; SQLite's migrations run before the
    /// pool exists, on the only connection).
    fn with_migration_lock<R>(&self, f: impl FnOnce() -> Result<R>) -> Result<R> {
        match self.inner {
            ConnInner::Sqlite(_) => f(),
            ConnInner::Pg(c) => {
                c.migration_lock(true)?;
                let out = f();
                c.migration_lock(false)?;
                out
            }
        }
    }

    /// Prove the database takes the write lock, writing nothing.
    fn probe_write(&self) -> Result<()> {
        match self.inner {
            ConnInner::Sqlite(c) => Ok(c.execute_batch("BEGIN IMMEDIATE; ROLLBACK;")?),
            // A read-only standby or a read-only role cannot be given a transaction id.
            ConnInner::Pg(c) => c.batch("BEGIN; SELECT pg_current_xact_id(); ROLLBACK;"),
        }
    }

    /// For storage's own tests: an in-memory SQLite database with every migration applied
    /// (wrap it with [`Conn::new`]).
    #[cfg(test)]
    pub(in crate::storage) fn test_database() -> Connection {
        let conn = Connection::open_in_memory().unwrap_or_else(|e| panic!("{e}"));
        migrations::apply(&Conn::new(&conn)).unwrap_or_else(|e| panic!("{e}"));
        conn
    }

    /// For storage's own tests, on a connection they opened.
    #[cfg(test)]
    pub(in crate::storage) fn new(sql: &'a Connection) -> Self {
        Self::sqlite(sql)
    }

    /// Several statements separated by `;`, without arguments (schema changes).
    pub(in crate::storage) fn batch(&self, sql: &str) -> Result<()> {
        match self.inner {
            ConnInner::Sqlite(c) => Ok(c.execute_batch(sql)?),
            ConnInner::Pg(c) => c.batch(sql),
        }
    }

    #[cfg(test)]
    pub(in crate::storage) fn execute_batch(&self, sql: &str) -> Result<()> {
        self.batch(sql)
    }

    /// A subquery of one column named `value`, the items of the JSON array of text bound to `?n`
    /// (how a list is passed as one argument; the one fragment each backend spells its own way).
    pub(in crate::storage) fn text_list(&self, n: usize) -> String {
        match self.inner {
            ConnInner::Sqlite(_) => format!("SELECT value FROM json_each(?{n})"),
            ConnInner::Pg(_) => {
                format!("SELECT value FROM json_array_elements_text(CAST(?{n} AS json))")
            }
        }
    }

    /// Run one statement; the number of rows it changed.
    pub(in crate::storage) fn exec(&self, sql: &str, args: &[sql::Value<'_>]) -> Result<usize> {
        sql::check_text(args)?;
        match self.inner {
            ConnInner::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                Ok(stmt.execute(rusqlite::params_from_iter(args))?)
            }
            ConnInner::Pg(c) => c.exec(sql, args),
        }
    }

    /// The first row of a query, read by `f`; `None` when there is none.
    pub(in crate::storage) fn query_opt<T>(
        &self,
        sql: &str,
        args: &[sql::Value<'_>],
        f: impl FnOnce(&sql::Row<'_>) -> Result<T>,
    ) -> Result<Option<T>> {
        sql::check_text(args)?;
        match self.inner {
            ConnInner::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                let mut rows = stmt.query(rusqlite::params_from_iter(args))?;
                match rows.next()? {
                    Some(row) => Ok(Some(f(&sql::Row::sqlite(row))?)),
                    None => Ok(None),
                }
            }
            ConnInner::Pg(c) => match c.query(sql, args)?.first() {
                Some(row) => Ok(Some(f(&sql::Row::pg(row))?)),
                None => Ok(None),
            },
        }
    }

    /// The first row of a query that always has one (an aggregate, or a row known to exist).
    pub(in crate::storage) fn query_one<T>(
        &self,
        sql: &str,
        args: &[sql::Value<'_>],
        f: impl FnOnce(&sql::Row<'_>) -> Result<T>,
    ) -> Result<T> {
        self.query_opt(sql, args, f)?.ok_or(StorageError::NoRow)
    }

    /// Every row of a query, each read by `f`, in the query's order.
    pub(in crate::storage) fn query_all<T>(
        &self,
        sql: &str,
        args: &[sql::Value<'_>],
        mut f: impl FnMut(&sql::Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        sql::check_text(args)?;
        match self.inner {
            ConnInner::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                let mut rows = stmt.query(rusqlite::params_from_iter(args))?;
                let mut out = Vec::new();
                while let Some(row) = rows.next()? {
                    out.push(f(&sql::Row::sqlite(row))?);
                }
                Ok(out)
            }
            ConnInner::Pg(c) => c
                .query(sql, args)?
                .iter()
                .map(|row| f(&sql::Row::pg(row)))
                .collect(),
        }
    }
}

impl Inner {
    fn with_connection<F, R>(&self, f: F) -> Result<R>
    where
        F: FnOnce(&Conn<'_>) -> Result<R>,
    {
        match &self.backend {
            Backend::Sqlite { path, idle } => {
                let pooled = idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
                let conn = match pooled {
                    Some(conn) => conn,
                    None => open_connection(path)?,
                };
                let result = f(&Conn::sqlite(&conn));
                // A connection left inside a transaction by a panic or early return is not reused.
                if conn.is_autocommit() {
                    give_back(idle, conn);
                }
                result
            }
            Backend::Postgres { config, idle } => {
                let pooled = idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
                let conn = match pooled {
                    Some(conn) if conn.reusable() => conn,
                    _ => pg::PgConn::connect(config)?,
                };
                let result = f(&Conn::pg(&conn));
                if conn.reusable() {
                    give_back(idle, conn);
                }
                result
            }
        }
    }
}

/// A PostgreSQL client closes its connection when dropped by blocking on a runtime of its own,
/// which panics on a thread that drives async tasks: the idle connections of a pool dropped
/// there (the server's state at shutdown) are closed on a thread of their own.
impl Drop for Inner {
    fn drop(&mut self) {
        if let Backend::Postgres { idle, .. } = &mut self.backend {
            let conns = std::mem::take(idle.get_mut().unwrap_or_else(|p| p.into_inner()));
            if !conns.is_empty() && tokio::runtime::Handle::try_current().is_ok() {
                std::thread::spawn(move || drop(conns));
            }
        }
    }
}

fn give_back<C>(idle: &Mutex<Vec<C>>, conn: C) {
    let mut idle = idle.lock().unwrap_or_else(|p| p.into_inner());
    if idle.len() < MAX_CONNECTIONS {
        idle.push(conn);
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

#[cfg(test)]
mod tests {
    use super::sql::args;
    use super::*;

    /// Reads inside `snapshot` agree with each other while another connection commits; the
    /// next read outside sees the commit.
    #[test]
    fn a_snapshot_does_not_see_a_commit_made_during_it() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("snapshot.sqlite3");
        let reader = open_connection(&path).unwrap_or_else(|e| panic!("{e}"));
        reader
            .pragma_update(None, "journal_mode", "WAL")
            .unwrap_or_else(|e| panic!("{e}"));
        let writer = open_connection(&path).unwrap_or_else(|e| panic!("{e}"));
        let (r, w) = (Conn::new(&reader), Conn::new(&writer));
        w.batch("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);")
            .unwrap_or_else(|e| panic!("{e}"));
        let count =
            |c: &Conn<'_>| c.query_one("SELECT COUNT(*) FROM t", args![], |row| row.get::<i64>(0));
        let (before, during) = r
            .snapshot(|c| {
                let before = count(c)?;
                w.exec("INSERT INTO t VALUES (2)", args![])?;
                Ok::<_, StorageError>((before, count(c)?))
            })
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((before, during), (1, 1));
        assert_eq!(count(&r).unwrap_or_else(|e| panic!("{e}")), 2);
    }
}
