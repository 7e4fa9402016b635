//! Copying a school's SQLite database to PostgreSQL (`rollcall migrate-db`, docs/postgres.md §5):
//! a consistent snapshot of the file, the two schemas compared, every table's rows copied in
//! foreign-key order with their ids (and `face_samples`' implicit rowid), the identities moved
//! past the copied ids, and a digest of each table's rows that reads the same on both backends,
//! so that the copy can be proved equal to its source and a later run can tell it again.
//!
//! The rows are read and written through the statement façade ([`Conn`]) on both sides: the
//! snapshot is a SQLite file opened here, the target a pooled PostgreSQL connection. Values pass
//! through generically ([`Datum`]); the PostgreSQL arm binds each by the type it inferred for the
//! target column. Pages are read by primary key (keyset), never the whole table at once.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use sha2::{Digest as _, Sha256};

use super::sql::{Cell, Column, Value, args};
use super::{Conn, Db, Result, StorageError};

/// The schema's own bookkeeping: each database keeps its own.
const BOOKKEEPING: &[&str] = &["schema_migrations"];
/// The tables that hold the file store (face images, avatars): filled from the data directory
/// before the rows are copied, never by the row copy.
pub const FILE_TABLES: &[&str] = &["images", "avatars"];
/// Where a completed copy leaves its marker (an entry with the action the caller names, in
/// column `action`): never part of what is compared.
const MARKER_TABLE: &str = "audit_log";
/// Most rows read or written by one statement.
const PAGE_ROWS: usize = 500;
/// Most arguments of one statement (PostgreSQL allows 65 535).
const MAX_ARGS: usize = 30_000;

/// One stored value, owned: what a column held, whatever its type.
#[derive(Debug, Clone, PartialEq)]
pub enum Datum {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Datum {
    fn value(&self) -> Value<'_> {
        match self {
            Self::Null => Value::Null,
            Self::Int(i) => Value::Int(*i),
            Self::Real(f) => Value::Real(*f),
            Self::Text(t) => Value::Text(t),
            Self::Blob(b) => Value::Blob(b),
        }
    }

    /// Fed to a digest: a type tag, then the value (lengths first), so that no two different
    /// rows can feed the same bytes.
    fn feed(&self, h: &mut Sha256) {
        match self {
            Self::Null => h.update(b"n"),
            Self::Int(i) => {
                h.update(b"i");
                h.update(i.to_le_bytes());
            }
            Self::Real(f) => {
                h.update(b"r");
                h.update(f.to_bits().to_le_bytes());
            }
            Self::Text(t) => {
                h.update(b"t");
                h.update((t.len() as u64).to_le_bytes());
                h.update(t.as_bytes());
            }
            Self::Blob(b) => {
                h.update(b"b");
                h.update((b.len() as u64).to_le_bytes());
                h.update(b);
            }
        }
    }
}

impl Column for Datum {
    fn from_cell(cell: Cell<'_>) -> std::result::Result<Self, String> {
        Ok(match cell {
            Cell::Null => Self::Null,
            Cell::Int(i) => Self::Int(i),
            // The schema keeps flags as 0/1 integers on both backends; a boolean reads as one.
            Cell::Bool(b) => Self::Int(i64::from(b)),
            Cell::Real(f) => Self::Real(f),
            Cell::Text(t) => Self::Text(t.to_owned()),
            Cell::Blob(b) => Self::Blob(b.to_vec()),
        })
    }
}

/// A name as SQL names it: quoted (both backends resolve a quoted `rowid` to SQLite's rowid).
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn idents(names: &[String]) -> String {
    names
        .iter()
        .map(|n| ident(n))
        .collect::<Vec<_>>()
        .join(", ")
}

// ---------------------------------------------------------------------------------------------
// The source: a snapshot of the SQLite file.

/// A consistent copy of a school's SQLite database (`VACUUM INTO`), opened for reading; the
/// file is removed when this is dropped.
pub struct Snapshot {
    conn: rusqlite::Connection,
    path: PathBuf,
}

impl Snapshot {
    /// Open the school's database `db_file` (which must exist; an older schema is brought up
    /// to date first), write a snapshot of it beside it, and open that.
    pub fn take(db_file: &Path) -> anyhow::Result<Self> {
        anyhow::ensure!(db_file.is_file(), "no database at {}", db_file.display());
        let dir = db_file.parent().unwrap_or_else(|| Path::new("."));
        let path = dir.join(format!(
            ".{}.migrate-{}-{:08x}",
            db_file
                .file_name()
                .map_or_else(|| "db".into(), |n| n.to_string_lossy()),
            std::process::id(),
            rand::random::<u32>()
        ));
        let db = Db::open(db_file)?;
        db.backup(&path)
            .with_context(|| format!("writing a snapshot to {}", path.display()))?;
        drop(db);
        let conn = rusqlite::Connection::open_with_flags(
            &path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        );
        let conn = match conn {
            Ok(conn) => conn,
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                return Err(e).context("opening the snapshot");
            }
        };
        Ok(Self { conn, path })
    }

    fn conn(&self) -> Conn<'_> {
        Conn::sqlite(&self.conn)
    }

    /// The snapshot's schema version.
    pub fn version(&self) -> Result<i64> {
        super::migrations::current_version(&self.conn())
    }

    /// The snapshot's tables (bookkeeping left out), by name.
    pub fn tables(&self) -> Result<Vec<SourceTable>> {
        source_tables(&self.conn())
    }

    /// Every table's row count and content digest, as [`digest`] reads them.
    pub fn digest(&self, plan: &Plan, marker: &str) -> Result<Digest> {
        digest(&self.conn(), plan, marker)
    }

    /// Every image the snapshot's rows name (face samples', draft photos'), each once.
    pub fn images_in_use(&self) -> Result<Vec<String>> {
        self.conn().query_all(
            "SELECT image_sha256 FROM face_samples UNION SELECT image_sha256 FROM draft_photos",
            args![],
            |r| r.get(0),
        )
    }

    /// The files a file-store table of the snapshot holds, by name: `images` (name = SHA-256,
    /// no content type) or `avatars` (name, content type). None when there is no such table.
    pub fn stored_file_names(&self, table: &str) -> Result<Vec<(String, Option<String>)>> {
        let c = self.conn();
        let exists: bool = c.query_one(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
            args![table],
            |r| r.get(0),
        )?;
        match table {
            _ if !exists => Ok(Vec::new()),
            "images" => c.query_all("SELECT sha256 FROM images ORDER BY sha256", args![], |r| {
                Ok((r.get(0)?, None))
            }),
            "avatars" => c.query_all(
                "SELECT name, content_type FROM avatars ORDER BY name",
                args![],
                |r| Ok((r.get(0)?, Some(r.get(1)?))),
            ),
            other => Err(StorageError::Decode(format!(
                "{other} is not a file-store table"
            ))),
        }
    }

    /// The bytes of one file of a file-store table of the snapshot (one at a time: images are
    /// large).
    pub fn stored_file(&self, table: &str, name: &str) -> Result<Option<Vec<u8>>> {
        let c = self.conn();
        match table {
            "images" => c.query_opt(
                "SELECT bytes FROM images WHERE sha256 = ?1",
                args![name],
                |r| r.get(0),
            ),
            "avatars" => c.query_opt(
                "SELECT bytes FROM avatars WHERE name = ?1",
                args![name],
                |r| r.get(0),
            ),
            other => Err(StorageError::Decode(format!(
                "{other} is not a file-store table"
            ))),
        }
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut p = self.path.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(PathBuf::from(p));
        }
    }
}

/// The tables of a SQLite database (bookkeeping left out), by name.
fn source_tables(c: &Conn<'_>) -> Result<Vec<SourceTable>> {
    let names: Vec<String> = c.query_all(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'
             ORDER BY name",
        args![],
        |r| r.get(0),
    )?;
    let mut out = Vec::new();
    for name in names {
        if BOOKKEEPING.contains(&name.as_str()) {
            continue;
        }
        let cols: Vec<(String, i64)> = c.query_all(
            "SELECT name, pk FROM pragma_table_info(?1) ORDER BY cid",
            args![name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let mut pk: Vec<(i64, String)> = cols
            .iter()
            .filter(|(_, pk)| *pk > 0)
            .map(|(n, pk)| (*pk, n.clone()))
            .collect();
        pk.sort();
        let references: Vec<(String, String)> = c.query_all(
            "SELECT \"table\", \"from\" FROM pragma_foreign_key_list(?1) ORDER BY id, seq",
            args![name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let without_rowid: bool = c
            .query_opt(
                "SELECT wr FROM pragma_table_list WHERE schema = 'main' AND name = ?1",
                args![name],
                |r| r.get(0),
            )?
            .unwrap_or(false);
        out.push(SourceTable {
            columns: cols.into_iter().map(|(n, _)| n).collect(),
            primary_key: pk.into_iter().map(|(_, n)| n).collect(),
            references,
            has_rowid: !without_rowid,
            name,
        });
    }
    Ok(out)
}

/// A table of the snapshot as its schema declares it.
#[derive(Debug, Clone)]
pub struct SourceTable {
    pub name: String,
    /// In declaration order.
    pub columns: Vec<String>,
    /// The primary key's columns in key order; empty when the table declares none.
    pub primary_key: Vec<String>,
    /// (referenced table, referencing column) of each foreign key column.
    pub references: Vec<(String, String)>,
    /// A rowid table (not `WITHOUT ROWID`).
    pub has_rowid: bool,
}

// ---------------------------------------------------------------------------------------------
// The target: a PostgreSQL database.

/// A table of the target as PostgreSQL describes it.
#[derive(Debug, Clone, Default)]
pub struct TargetTable {
    pub columns: Vec<String>,
    /// Columns numbered by a sequence (identities, serials).
    pub identities: Vec<String>,
    /// The table has triggers of its own (not the ones behind foreign keys).
    pub triggers: bool,
}

/// The target's tables in the current schema, by name.
pub fn target_tables(conn: &Conn<'_>) -> Result<BTreeMap<String, TargetTable>> {
    let rows: Vec<(String, String, bool)> = conn.query_all(
        "SELECT CAST(c.table_name AS TEXT), CAST(c.column_name AS TEXT),
                c.is_identity = 'YES' OR COALESCE(c.column_default, '') LIKE 'nextval(%'
         FROM information_schema.columns c
         JOIN information_schema.tables t
           ON t.table_schema = c.table_schema AND t.table_name = c.table_name
         WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
         ORDER BY c.table_name, c.ordinal_position",
        args![],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let mut out: BTreeMap<String, TargetTable> = BTreeMap::new();
    for (table, column, identity) in rows {
        let t = out.entry(table).or_default();
        if identity {
            t.identities.push(column.clone());
        }
        t.columns.push(column);
    }
    let triggered: Vec<String> = conn.query_all(
        "SELECT DISTINCT CAST(c.relname AS TEXT) FROM pg_trigger g
         JOIN pg_class c ON c.oid = g.tgrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE NOT g.tgisinternal AND n.nspname = current_schema()",
        args![],
        |r| r.get(0),
    )?;
    for name in triggered {
        if let Some(t) = out.get_mut(&name) {
            t.triggers = true;
        }
    }
    Ok(out)
}

/// The target's schema version.
pub fn target_version(conn: &Conn<'_>) -> Result<i64> {
    super::migrations::current_version(conn)
}

// ---------------------------------------------------------------------------------------------
// The plan: what is copied, in which order.

/// One table as it is copied.
#[derive(Debug, Clone)]
pub struct Table {
    pub name: String,
    /// The columns read from the source and written to the target, in the source's order
    /// (plus `rowid` for a table whose implicit rowid the target keeps as a column).
    pub columns: Vec<String>,
    /// The order the rows are read in: the primary key (pages by key), else every column.
    key: Vec<String>,
    keyset: bool,
    /// Columns that reference the table itself: inserted NULL, set once every row is in.
    self_refs: Vec<String>,
    /// The target's identity columns, moved past the copied values.
    identities: Vec<String>,
    /// The target table has triggers of its own, disabled for the copy.
    pub triggers: bool,
}

/// What [`plan`] found.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// In foreign-key order (a table after every table it references).
    pub tables: Vec<Table>,
    /// What prevents a faithful copy (tables or columns the target lacks, a cycle).
    pub problems: Vec<String>,
    /// Worth telling, harmless (target tables the source lacks, columns left to defaults).
    pub notes: Vec<String>,
    /// The file-store tables the target has.
    pub target_file_tables: BTreeSet<String>,
}

impl Plan {
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.name == name)
    }
}

/// Compare the two schemas and order the tables present in both.
#[must_use]
pub fn plan(source: &[SourceTable], target: &BTreeMap<String, TargetTable>) -> Plan {
    let mut plan = Plan::default();
    let file_table = |n: &str| FILE_TABLES.contains(&n);
    plan.target_file_tables = target.keys().filter(|n| file_table(n)).cloned().collect();
    let mut tables = Vec::new();
    for s in source.iter().filter(|s| !file_table(&s.name)) {
        let Some(t) = target.get(&s.name) else {
            plan.problems.push(format!(
                "table {} is in the SQLite database but not in the target",
                s.name
            ));
            continue;
        };
        let mut columns = s.columns.clone();
        let missing: Vec<&String> = columns.iter().filter(|c| !t.columns.contains(c)).collect();
        if !missing.is_empty() {
            plan.problems.push(format!(
                "table {}: the target has no column {}",
                s.name,
                missing
                    .iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            continue;
        }
        // SQLite's implicit rowid, kept by the target as a real column (face_samples).
        if s.has_rowid
            && !columns.iter().any(|c| c.eq_ignore_ascii_case("rowid"))
            && t.columns.iter().any(|c| c == "rowid")
        {
            columns.push("rowid".into());
        }
        let defaulted: Vec<&String> = t.columns.iter().filter(|c| !columns.contains(c)).collect();
        if !defaulted.is_empty() {
            plan.notes.push(format!(
                "table {}: column {} is not in the SQLite database; left to its default",
                s.name,
                defaulted
                    .iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let keyset = !s.primary_key.is_empty();
        let key = if keyset {
            s.primary_key.clone()
        } else {
            columns.clone()
        };
        let mut self_refs: Vec<String> = s
            .references
            .iter()
            .filter(|(table, _)| *table == s.name)
            .map(|(_, col)| col.clone())
            .collect();
        self_refs.dedup();
        tables.push((
            Table {
                name: s.name.clone(),
                columns,
                key,
                keyset,
                self_refs,
                identities: t.identities.clone(),
                triggers: t.triggers,
            },
            s.references
                .iter()
                .map(|(table, _)| table.clone())
                .filter(|r| *r != s.name)
                .collect::<BTreeSet<String>>(),
        ));
    }
    for name in target.keys() {
        if !file_table(name)
            && !BOOKKEEPING.contains(&name.as_str())
            && !source.iter().any(|s| s.name == *name)
        {
            plan.notes.push(format!(
                "table {name} is in the target but not in the SQLite database; left empty"
            ));
        }
    }
    // Foreign-key order: repeatedly take the tables whose references are all placed (by name
    // among those ready, so the order is the same on every run).
    let copied: BTreeSet<String> = tables.iter().map(|(t, _)| t.name.clone()).collect();
    let mut placed: BTreeSet<String> = BTreeSet::new();
    while !tables.is_empty() {
        let (ready, waiting): (Vec<_>, Vec<_>) = tables.into_iter().partition(|(_, refs)| {
            refs.iter()
                .all(|r| placed.contains(r) || !copied.contains(r))
        });
        if ready.is_empty() {
            plan.problems.push(format!(
                "the foreign keys of {} form a cycle; rollcall cannot order their copy",
                waiting
                    .iter()
                    .map(|(t, _)| t.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            break;
        }
        for (t, _) in ready {
            placed.insert(t.name.clone());
            plan.tables.push(t);
        }
        tables = waiting;
    }
    plan
}

// ---------------------------------------------------------------------------------------------
// Reading pages, digests.

/// Read `select` (which must include every key column) of `table` in key order, a page at a
/// time, handing each page to `each`.
fn pages(
    conn: &Conn<'_>,
    table: &Table,
    select: &[String],
    mut each: impl FnMut(&[Vec<Datum>]) -> Result<()>,
) -> Result<()> {
    let from = ident(&table.name);
    let order = idents(&table.key);
    let list = idents(select);
    if !table.keyset {
        let rows = conn.query_all(
            &format!("SELECT {list} FROM {from} ORDER BY {order}"),
            args![],
            |r| row(r, select.len()),
        )?;
        return each(&rows);
    }
    let key_at: Vec<usize> = table
        .key
        .iter()
        .map(|k| {
            select.iter().position(|c| c == k).ok_or_else(|| {
                StorageError::Decode(format!("key column {k} of {} not selected", table.name))
            })
        })
        .collect::<Result<_>>()?;
    let limit = (MAX_ARGS / select.len().max(1)).clamp(1, PAGE_ROWS);
    let first = format!("SELECT {list} FROM {from} ORDER BY {order} LIMIT {limit}");
    let placeholders = (1..=table.key.len())
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let next = format!(
        "SELECT {list} FROM {from} WHERE ({order}) > ({placeholders}) ORDER BY {order} LIMIT {limit}"
    );
    let mut after: Option<Vec<Datum>> = None;
    loop {
        let rows = match &after {
            None => conn.query_all(&first, args![], |r| row(r, select.len()))?,
            Some(key) => {
                let values: Vec<Value<'_>> = key.iter().map(Datum::value).collect();
                conn.query_all(&next, &values, |r| row(r, select.len()))?
            }
        };
        let Some(last) = rows.last() else {
            return Ok(());
        };
        after = Some(key_at.iter().map(|&i| last[i].clone()).collect());
        each(&rows)?;
        if rows.len() < limit {
            return Ok(());
        }
    }
}

fn row(r: &super::sql::Row<'_>, n: usize) -> Result<Vec<Datum>> {
    (0..n).map(|i| r.get(i)).collect()
}

/// One table's row count and content digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDigest {
    pub name: String,
    pub rows: u64,
    /// SHA-256 (hex) of the rows' values in key order.
    pub sha256: String,
}

/// Every copied table's [`TableDigest`], and one digest over them all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    /// By table name.
    pub tables: Vec<TableDigest>,
    /// SHA-256 (hex) over every table's name, row count and digest.
    pub sha256: String,
}

impl Digest {
    #[must_use]
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }

    #[must_use]
    pub fn table(&self, name: &str) -> Option<&TableDigest> {
        self.tables.iter().find(|t| t.name == name)
    }
}

/// Each planned table's rows on `conn` (either backend), read in key order and digested value
/// by value: two databases holding the same rows give the same digest. Audit entries of the
/// action `marker` (a copy's own marker) are left out.
pub fn digest(conn: &Conn<'_>, plan: &Plan, marker: &str) -> Result<Digest> {
    let mut tables: Vec<TableDigest> = Vec::new();
    for table in &plan.tables {
        let mut h = Sha256::new();
        let mut rows = 0_u64;
        let action_at = (table.name == MARKER_TABLE)
            .then(|| table.columns.iter().position(|c| c == "action"))
            .flatten();
        pages(conn, table, &table.columns, |page| {
            for r in page {
                if action_at.is_some_and(|i| matches!(&r[i], Datum::Text(a) if a == marker)) {
                    continue;
                }
                r.iter().for_each(|d| d.feed(&mut h));
                rows += 1;
            }
            Ok(())
        })?;
        tables.push(TableDigest {
            name: table.name.clone(),
            rows,
            sha256: hex::encode(h.finalize()),
        });
    }
    tables.sort_by(|a, b| a.name.cmp(&b.name));
    let mut all = Sha256::new();
    for t in &tables {
        all.update((t.name.len() as u64).to_le_bytes());
        all.update(t.name.as_bytes());
        all.update(t.rows.to_le_bytes());
        all.update(t.sha256.as_bytes());
    }
    Ok(Digest {
        tables,
        sha256: hex::encode(all.finalize()),
    })
}

/// How many rows each planned table holds on `conn`, by name (audit entries of the action
/// `marker` left out).
pub fn row_counts(conn: &Conn<'_>, plan: &Plan, marker: &str) -> Result<BTreeMap<String, u64>> {
    let mut out = BTreeMap::new();
    for t in &plan.tables {
        let n: i64 = if t.name == MARKER_TABLE {
            conn.query_one(
                &format!(
                    "SELECT COUNT(*) FROM {} WHERE action IS NULL OR action <> ?1",
                    ident(&t.name)
                ),
                args![marker],
                |r| r.get(0),
            )?
        } else {
            conn.query_one(
                &format!("SELECT COUNT(*) FROM {}", ident(&t.name)),
                args![],
                |r| r.get(0),
            )?
        };
        out.insert(t.name.clone(), u64::try_from(n).unwrap_or(0));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// The copy.

/// Copy every planned table's rows from the snapshot to `target`, which must be inside a
/// transaction (the caller's), in the plan's order: user triggers disabled while the rows go
/// in (the copied `attendance_counts` are already right), self-references set after their
/// table's rows, identities moved past the copied ids. `progress` hears each table's name and
/// row count once it is copied.
pub fn copy_rows(
    source: &Snapshot,
    target: &Conn<'_>,
    plan: &Plan,
    progress: &mut dyn FnMut(&str, u64),
) -> Result<()> {
    let src = source.conn();
    for t in plan.tables.iter().filter(|t| t.triggers) {
        target.batch(&format!(
            "ALTER TABLE {} DISABLE TRIGGER USER",
            ident(&t.name)
        ))?;
    }
    for table in &plan.tables {
        let n = copy_table(&src, target, table)?;
        progress(&table.name, n);
    }
    for t in plan.tables.iter().filter(|t| t.triggers) {
        target.batch(&format!(
            "ALTER TABLE {} ENABLE TRIGGER USER",
            ident(&t.name)
        ))?;
    }
    for table in &plan.tables {
        for col in &table.identities {
            let max: Option<i64> = target.query_one(
                &format!("SELECT MAX({}) FROM {}", ident(col), ident(&table.name)),
                args![],
                |r| r.get(0),
            )?;
            if let Some(max) = max {
                target.query_one(
                    "SELECT setval(pg_get_serial_sequence(?1, ?2), ?3)",
                    args![ident(&table.name), col, max],
                    |r| r.get::<i64>(0),
                )?;
            }
        }
    }
    Ok(())
}

/// One table's rows, a page per statement; its row count.
fn copy_table(src: &Conn<'_>, dst: &Conn<'_>, table: &Table) -> Result<u64> {
    let nulled: Vec<usize> = table
        .columns
        .iter()
        .enumerate()
        .filter(|(_, c)| table.self_refs.contains(c))
        .map(|(i, _)| i)
        .collect();
    let head = format!(
        "INSERT INTO {} ({}) VALUES ",
        ident(&table.name),
        idents(&table.columns)
    );
    let width = table.columns.len();
    let mut copied = 0_u64;
    pages(src, table, &table.columns, |page| {
        let mut sql = head.clone();
        let mut values: Vec<Value<'_>> = Vec::with_capacity(page.len() * width);
        for (i, r) in page.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for (j, d) in r.iter().enumerate() {
                if j > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!("?{}", values.len() + 1));
                values.push(if nulled.contains(&j) {
                    Value::Null
                } else {
                    d.value()
                });
            }
            sql.push(')');
        }
        dst.exec(&sql, &values)?;
        copied += page.len() as u64;
        Ok(())
    })?;
    if !table.self_refs.is_empty() {
        set_self_refs(src, dst, table)?;
    }
    Ok(copied)
}

/// Set the columns that reference their own table, now that every row they may name is in.
fn set_self_refs(src: &Conn<'_>, dst: &Conn<'_>, table: &Table) -> Result<()> {
    let mut select = table.key.clone();
    select.extend(table.self_refs.iter().cloned());
    let sets = table
        .self_refs
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{} = ?{}", ident(c), i + 1))
        .collect::<Vec<_>>()
        .join(", ");
    let wheres = table
        .key
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{} = ?{}", ident(c), table.self_refs.len() + i + 1))
        .collect::<Vec<_>>()
        .join(" AND ");
    let sql = format!("UPDATE {} SET {sets} WHERE {wheres}", ident(&table.name));
    let keys = table.key.len();
    pages(src, table, &select, |page| {
        for r in page {
            let (key, refs) = r.split_at(keys);
            if refs.iter().all(|d| *d == Datum::Null) {
                continue;
            }
            let values: Vec<Value<'_>> = refs.iter().chain(key).map(Datum::value).collect();
            dst.exec(&sql, &values)?;
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// The file store on the target, and the marker.

/// Store an image under its SHA-256 unless it is there already; true when it was stored now.
pub fn put_image(conn: &Conn<'_>, sha256: &str, bytes: &[u8], created_at: i64) -> Result<bool> {
    Ok(conn.exec(
        "INSERT INTO images (sha256, bytes, created_at) VALUES (?1, ?2, ?3)
         ON CONFLICT DO NOTHING",
        args![sha256, bytes, created_at],
    )? > 0)
}

/// Store an avatar unless one of that name is there already; true when it was stored now.
pub fn put_avatar(
    conn: &Conn<'_>,
    name: &str,
    content_type: &str,
    bytes: &[u8],
    created_at: i64,
) -> Result<bool> {
    Ok(conn.exec(
        "INSERT INTO avatars (name, content_type, bytes, created_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT DO NOTHING",
        args![name, content_type, bytes, created_at],
    )? > 0)
}

/// The bytes of a stored image.
pub fn image(conn: &Conn<'_>, sha256: &str) -> Result<Option<Vec<u8>>> {
    conn.query_opt(
        "SELECT bytes FROM images WHERE sha256 = ?1",
        args![sha256],
        |r| r.get(0),
    )
}

/// The content type and bytes of a stored avatar.
pub fn avatar(conn: &Conn<'_>, name: &str) -> Result<Option<(String, Vec<u8>)>> {
    conn.query_opt(
        "SELECT content_type, bytes FROM avatars WHERE name = ?1",
        args![name],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// A completed copy's marker: an audit entry of `action` whose target names the digest.
#[derive(Debug, Clone)]
pub struct Marker {
    pub at: i64,
    pub target: String,
    pub detail: String,
}

/// The newest audit entry of `action` (the marker a completed copy leaves).
pub fn marker(conn: &Conn<'_>, action: &str) -> Result<Option<Marker>> {
    conn.query_opt(
        "SELECT at, COALESCE(target, ''), COALESCE(detail, '') FROM audit_log
         WHERE action = ?1 ORDER BY id DESC LIMIT 1",
        args![action],
        |r| {
            Ok(Marker {
                at: r.get(0)?,
                target: r.get(1)?,
                detail: r.get(2)?,
            })
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(name: &str, cols: &[&str], pk: &[&str], refs: &[(&str, &str)]) -> SourceTable {
        SourceTable {
            name: name.into(),
            columns: cols.iter().map(|&c| c.into()).collect(),
            primary_key: pk.iter().map(|&c| c.into()).collect(),
            references: refs.iter().map(|&(t, c)| (t.into(), c.into())).collect(),
            has_rowid: true,
        }
    }

    fn target(cols: &[&str]) -> TargetTable {
        TargetTable {
            columns: cols.iter().map(|&c| c.into()).collect(),
            ..TargetTable::default()
        }
    }

    #[test]
    fn tables_are_ordered_by_their_foreign_keys_and_differences_reported() {
        let src = vec![
            source(
                "b",
                &["id", "a_id", "parent"],
                &["id"],
                &[("a", "a_id"), ("b", "parent")],
            ),
            source("a", &["id"], &["id"], &[]),
            source("c", &["id", "b_id"], &["id"], &[("b", "b_id")]),
            source("only_here", &["x"], &[], &[]),
            source("images", &["sha256"], &["sha256"], &[]),
        ];
        let mut tgt = BTreeMap::new();
        tgt.insert("a".to_owned(), target(&["id", "rowid"]));
        tgt.insert("b".to_owned(), target(&["id", "a_id", "parent"]));
        tgt.insert("c".to_owned(), target(&["id", "b_id", "extra"]));
        tgt.insert("images".to_owned(), target(&["sha256"]));
        tgt.insert("only_there".to_owned(), target(&["y"]));
        let p = plan(&src, &tgt);
        let order: Vec<&str> = p.tables.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(order, ["a", "b", "c"]);
        assert_eq!(p.tables[0].columns, ["id", "rowid"]);
        assert_eq!(p.tables[1].self_refs, ["parent"]);
        assert_eq!(p.problems.len(), 1, "{:?}", p.problems);
        assert!(p.problems[0].contains("only_here"));
        assert!(p.notes.iter().any(|n| n.contains("only_there")));
        assert!(p.notes.iter().any(|n| n.contains("extra")));
        assert!(p.target_file_tables.contains("images"));
    }

    #[test]
    fn a_cycle_is_a_problem() {
        let src = vec![
            source("a", &["id", "b_id"], &["id"], &[("b", "b_id")]),
            source("b", &["id", "a_id"], &["id"], &[("a", "a_id")]),
        ];
        let mut tgt = BTreeMap::new();
        tgt.insert("a".to_owned(), target(&["id", "b_id"]));
        tgt.insert("b".to_owned(), target(&["id", "a_id"]));
        let p = plan(&src, &tgt);
        assert!(p.problems.iter().any(|m| m.contains("cycle")), "{p:?}");
    }

    /// A column that references its own table goes in NULL and is set once every row is in
    /// (a row may name one that sorts after it), with foreign keys enforced on the target;
    /// the copy then digests equal to its source.
    #[test]
    fn self_references_are_set_after_the_rows() {
        let open = || {
            let c = rusqlite::Connection::open_in_memory().unwrap_or_else(|e| panic!("{e}"));
            c.execute_batch(
                "PRAGMA foreign_keys = ON;
                 CREATE TABLE t (id TEXT PRIMARY KEY, parent TEXT REFERENCES t (id), n INTEGER)
                 STRICT;",
            )
            .unwrap_or_else(|e| panic!("{e}"));
            c
        };
        let (src, dst) = (open(), open());
        src.execute_batch(
            "INSERT INTO t VALUES ('b', NULL, 1); INSERT INTO t VALUES ('c', 'b', 3);
             INSERT INTO t VALUES ('a', 'c', 2);",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let tables = source_tables(&Conn::new(&src)).unwrap_or_else(|e| panic!("{e}"));
        let p = plan(
            &tables,
            &BTreeMap::from([("t".to_owned(), target(&["id", "parent", "n"]))]),
        );
        assert_eq!(p.tables[0].self_refs, ["parent"]);
        let (from, to) = (Conn::new(&src), Conn::new(&dst));
        assert_eq!(copy_table(&from, &to, &p.tables[0]).ok(), Some(3));
        let d = |c: &Conn<'_>| digest(c, &p, "none").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(d(&from), d(&to));
    }

    /// The digest reads pages by key and gives the same answer however the rows were inserted;
    /// a changed value changes it.
    #[test]
    fn digest_pages_by_key_and_sees_every_value() {
        let db = |order: &[i64], tweak: bool| {
            let c = rusqlite::Connection::open_in_memory().unwrap_or_else(|e| panic!("{e}"));
            c.execute_batch(
                "CREATE TABLE t (k TEXT NOT NULL, n INTEGER NOT NULL, v BLOB, PRIMARY KEY (k, n)) STRICT",
            )
            .unwrap_or_else(|e| panic!("{e}"));
            for &i in order {
                let v = if tweak && i == 700 {
                    vec![1_u8]
                } else {
                    vec![0_u8]
                };
                c.execute(
                    "INSERT INTO t VALUES (?1, ?2, ?3)",
                    rusqlite::params![format!("k{}", i % 7), i, v],
                )
                .unwrap_or_else(|e| panic!("{e}"));
            }
            c
        };
        let forward: Vec<i64> = (0..1200).collect();
        let backward: Vec<i64> = (0..1200).rev().collect();
        let (a, b, c) = (
            db(&forward, false),
            db(&backward, false),
            db(&forward, true),
        );
        let p = plan(
            &source_tables(&Conn::new(&a)).unwrap_or_else(|e| panic!("{e}")),
            &BTreeMap::from([("t".to_owned(), target(&["k", "n", "v"]))]),
        );
        let d = |c: &rusqlite::Connection| {
            digest(&Conn::new(c), &p, "none").unwrap_or_else(|e| panic!("{e}"))
        };
        let (da, db_, dc) = (d(&a), d(&b), d(&c));
        assert_eq!(da.rows(), 1200);
        assert_eq!(da, db_);
        assert_ne!(da.sha256, dc.sha256);
    }
}
