//! Raw SQL for the tests that look behind the API (counts, audit rows, a row a test plants),
//! on either backend with rusqlite's calling style: `query_row`, `execute`, `prepare` +
//! `query_map`, the closures reading a `rusqlite::Row`. On PostgreSQL each call runs the SQL
//! there (placeholders rewritten by storage's own `to_dollar`) and hands each result row to
//! the closure through an in-memory SQLite `SELECT ?1, ?2, ...`, so the tests' closures and
//! types stay as they are.

use rusqlite::types::Value as Lite;
use rusqlite::{Connection, Params};

use rollcall::storage::sql::{Value, to_dollar};

pub enum TestDb {
    Sqlite(Connection),
    Postgres {
        url: String,
        /// Turns arguments into values and values into rows.
        scratch: Connection,
    },
}

impl TestDb {
    pub fn sqlite(path: &std::path::Path) -> Self {
        Self::Sqlite(
            Connection::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display())),
        )
    }

    pub fn postgres(url: String) -> Self {
        Self::Postgres {
            url,
            scratch: Connection::open_in_memory().unwrap_or_else(|e| panic!("scratch: {e}")),
        }
    }

    pub fn query_row<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: Params,
        F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    {
        match self {
            Self::Sqlite(c) => c.query_row(sql, params, f),
            Self::Postgres { url, scratch } => {
                let rows = pg_query(url, sql, arguments(scratch, sql, params)?);
                let first = rows
                    .into_iter()
                    .next()
                    .ok_or(rusqlite::Error::QueryReturnedNoRows)?;
                as_row(scratch, &first, f)
            }
        }
    }

    pub fn execute<P: Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        match self {
            Self::Sqlite(c) => c.execute(sql, params),
            Self::Postgres { url, scratch } => {
                Ok(pg_execute(url, sql, arguments(scratch, sql, params)?))
            }
        }
    }

    pub fn prepare<'a>(&'a self, sql: &str) -> rusqlite::Result<Statement<'a>> {
        Ok(match self {
            Self::Sqlite(c) => Statement::Sqlite(c.prepare(sql)?),
            Self::Postgres { .. } => Statement::Postgres {
                db: self,
                sql: sql.to_owned(),
            },
        })
    }
}

pub enum Statement<'a> {
    Sqlite(rusqlite::Statement<'a>),
    Postgres { db: &'a TestDb, sql: String },
}

impl Statement<'_> {
    /// Every row read by `f`, as rusqlite's `query_map` gives them (collected first).
    pub fn query_map<T, P, F>(
        &mut self,
        params: P,
        mut f: F,
    ) -> rusqlite::Result<std::vec::IntoIter<rusqlite::Result<T>>>
    where
        P: Params,
        F: FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    {
        match self {
            Self::Sqlite(stmt) => {
                let rows: Vec<_> = stmt.query_map(params, f)?.collect();
                Ok(rows.into_iter())
            }
            Self::Postgres { db, sql } => {
                let TestDb::Postgres { url, scratch } = db else {
                    unreachable!("a PostgreSQL statement of a PostgreSQL database")
                };
                let rows = pg_query(url, sql, arguments(scratch, sql, params)?);
                let out: Vec<_> = rows.iter().map(|r| as_row(scratch, r, &mut f)).collect();
                Ok(out.into_iter())
            }
        }
    }
}

/// The values of `params` for `sql`'s placeholders, read back through SQLite.
fn arguments<P: Params>(scratch: &Connection, sql: &str, params: P) -> rusqlite::Result<Vec<Lite>> {
    let n = placeholders(sql);
    if n == 0 {
        return Ok(Vec::new());
    }
    let select = format!(
        "SELECT {}",
        (1..=n)
            .map(|i| format!("?{i}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    scratch.query_row(&select, params, |r| {
        (0..n).map(|i| r.get::<_, Lite>(i)).collect()
    })
}

/// The highest `?N` in `sql` (the tests number every placeholder).
fn placeholders(sql: &str) -> usize {
    let bytes = sql.as_bytes();
    let mut max = 0;
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'?' {
            let digits: String = sql[i + 1..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            max = max.max(digits.parse().unwrap_or(0));
        }
    }
    max
}

/// `row` handed to `f` as a rusqlite row.
fn as_row<T>(
    scratch: &Connection,
    row: &[Lite],
    f: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    let select = format!(
        "SELECT {}",
        (1..=row.len())
            .map(|i| format!("?{i}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    scratch.query_row(&select, rusqlite::params_from_iter(row.iter()), f)
}

fn bind(values: &[Lite]) -> Vec<Value<'_>> {
    values
        .iter()
        .map(|v| match v {
            Lite::Null => Value::Null,
            Lite::Integer(i) => Value::Int(*i),
            Lite::Real(f) => Value::Real(*f),
            Lite::Text(t) => Value::Text(t),
            Lite::Blob(b) => Value::Blob(b),
        })
        .collect()
}

/// Run `f` with a client of its own, on a thread of its own (the sync client must not run on
/// the test's async runtime).
fn with_client<R: Send + 'static>(
    url: &str,
    f: impl FnOnce(&mut postgres::Client) -> R + Send + 'static,
) -> R {
    let url = url.to_owned();
    std::thread::spawn(move || {
        let mut client = postgres::Client::connect(&url, postgres::NoTls)
            .unwrap_or_else(|e| panic!("connecting to {url}: {e}"));
        f(&mut client)
    })
    .join()
    .unwrap_or_else(|e| std::panic::resume_unwind(e))
}

fn pg_execute(url: &str, sql: &str, args: Vec<Lite>) -> usize {
    let sql = to_dollar(sql).unwrap_or_else(|e| panic!("{e}"));
    with_client(url, move |c| {
        let values = bind(&args);
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = values
            .iter()
            .map(|v| v as &(dyn postgres::types::ToSql + Sync))
            .collect();
        let n = c
            .execute(sql.as_str(), &refs)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        usize::try_from(n).unwrap_or(usize::MAX)
    })
}

fn pg_query(url: &str, sql: &str, args: Vec<Lite>) -> Vec<Vec<Lite>> {
    let sql = to_dollar(sql).unwrap_or_else(|e| panic!("{e}"));
    with_client(url, move |c| {
        let values = bind(&args);
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = values
            .iter()
            .map(|v| v as &(dyn postgres::types::ToSql + Sync))
            .collect();
        let rows = c
            .query(sql.as_str(), &refs)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        rows.iter().map(lite_row).collect()
    })
}

fn lite_row(row: &postgres::Row) -> Vec<Lite> {
    use postgres::types::Type;
    (0..row.len())
        .map(|i| {
            let ty = row.columns()[i].type_().clone();
            let v: Option<Lite> = match ty {
                Type::BOOL => row
                    .get::<_, Option<bool>>(i)
                    .map(|b| Lite::Integer(i64::from(b))),
                Type::INT2 => row
                    .get::<_, Option<i16>>(i)
                    .map(|v| Lite::Integer(v.into())),
                Type::INT4 => row
                    .get::<_, Option<i32>>(i)
                    .map(|v| Lite::Integer(v.into())),
                Type::INT8 => row.get::<_, Option<i64>>(i).map(Lite::Integer),
                Type::FLOAT4 => row.get::<_, Option<f32>>(i).map(|v| Lite::Real(v.into())),
                Type::FLOAT8 => row.get::<_, Option<f64>>(i).map(Lite::Real),
                Type::BYTEA => row.get::<_, Option<Vec<u8>>>(i).map(Lite::Blob),
                _ => row.get::<_, Option<String>>(i).map(Lite::Text),
            };
            v.unwrap_or(Lite::Null)
        })
        .collect()
}
