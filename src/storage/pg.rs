//! PostgreSQL connections for the storage pool: the sync `postgres` client (storage runs on
//! blocking threads, never on the async runtime), a statement cache per connection, and the
//! writer lock that makes a PostgreSQL transaction behave like SQLite's `BEGIN IMMEDIATE`
//! across every server on the database (docs/postgres.md, "Transactions on PostgreSQL").

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::time::{Duration, Instant};

use postgres::types::ToSql;

use super::sql::{Value, to_dollar};
use super::{Result, StorageError};

/// The first key of every advisory lock rollcall takes ("roll"), so other users of the
/// database can tell them apart.
const LOCK_SPACE: i32 = 0x726f_6c6c;
/// The second key: the lock every write transaction holds until it ends.
const WRITER: i32 = 1;
/// The second key: the lock held while the schema is migrated (one server migrates, the
/// others wait and then find nothing to do).
pub(super) const MIGRATOR: i32 = 2;
/// A connection older than this is closed rather than reused (server-side memory, and a
/// primary that failed over is picked up).
const MAX_AGE: Duration = Duration::from_secs(30 * 60);

/// Set on every connection: waits and statements end with an error (a 503 for the client)
/// rather than hanging, and a transaction left open by a dead client is ended by the server.
const SESSION_SETTINGS: &str = "SET lock_timeout = '10s';
     SET statement_timeout = '30s';
     SET idle_in_transaction_session_timeout = '30s';";

pub(super) struct PgConn {
    client: RefCell<postgres::Client>,
    statements: RefCell<HashMap<String, postgres::Statement>>,
    in_transaction: Cell<bool>,
    opened: Instant,
}

impl PgConn {
    pub(super) fn connect(config: &postgres::Config) -> Result<Self> {
        let mut config = config.clone();
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        // A server killed without closing its socket must not hold the writer lock for hours.
        config
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30));
        let mut client = config.connect(postgres::NoTls)?;
        client.batch_execute(SESSION_SETTINGS)?;
        Ok(Self {
            client: RefCell::new(client),
            statements: RefCell::new(HashMap::new()),
            in_transaction: Cell::new(false),
            opened: Instant::now(),
        })
    }

    /// Fit to go back to the pool: open, not left inside a transaction, not too old.
    pub(super) fn reusable(&self) -> bool {
        !self.in_transaction.get()
            && !self.client.borrow().is_closed()
            && self.opened.elapsed() < MAX_AGE
    }

    /// Begin a transaction holding the writer lock (waiting at most `lock_timeout` for it).
    pub(super) fn begin(&self) -> Result<()> {
        if self.in_transaction.get() {
            return Err(StorageError::Worker(
                "cannot start a transaction within a transaction".into(),
            ));
        }
        // Marked first: if BEGIN or the lock fails, the connection is not reused.
        self.in_transaction.set(true);
        self.batch(&format!(
            "BEGIN; SELECT pg_advisory_xact_lock({LOCK_SPACE}, {WRITER});"
        ))
    }

    /// Start a read-only transaction that sees one snapshot of the database and takes no lock.
    pub(super) fn begin_snapshot(&self) -> Result<()> {
        if self.in_transaction.get() {
            return Err(StorageError::Worker(
                "cannot start a transaction within a transaction".into(),
            ));
        }
        self.in_transaction.set(true);
        self.batch("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    }

    /// End the transaction with `COMMIT` or `ROLLBACK`.
    pub(super) fn finish(&self, how: &str) -> Result<()> {
        self.batch(how)?;
        self.in_transaction.set(false);
        Ok(())
    }

    /// Take (`true`) or release the migration lock, held by this session.
    pub(super) fn migration_lock(&self, take: bool) -> Result<()> {
        let call = if take {
            "pg_advisory_lock"
        } else {
            "pg_advisory_unlock"
        };
        self.batch(&format!("SELECT {call}({LOCK_SPACE}, {MIGRATOR});"))
    }

    pub(super) fn batch(&self, sql: &str) -> Result<()> {
        Ok(self.client.borrow_mut().batch_execute(sql)?)
    }

    pub(super) fn exec(&self, sql: &str, args: &[Value<'_>]) -> Result<usize> {
        let statement = self.statement(sql)?;
        let n = self
            .client
            .borrow_mut()
            .execute(&statement, &params(args))?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    pub(super) fn query(&self, sql: &str, args: &[Value<'_>]) -> Result<Vec<postgres::Row>> {
        let statement = self.statement(sql)?;
        Ok(self.client.borrow_mut().query(&statement, &params(args))?)
    }

    /// The prepared statement for `sql` (written with `?N`), prepared once per connection.
    fn statement(&self, sql: &str) -> Result<postgres::Statement> {
        if let Some(s) = self.statements.borrow().get(sql) {
            return Ok(s.clone());
        }
        let statement = self.client.borrow_mut().prepare(&to_dollar(sql)?)?;
        self.statements
            .borrow_mut()
            .insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }
}

fn params<'a>(args: &'a [Value<'_>]) -> Vec<&'a (dyn ToSql + Sync)> {
    args.iter().map(|a| a as &(dyn ToSql + Sync)).collect()
}
