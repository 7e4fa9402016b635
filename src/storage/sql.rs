//! The statements' side of the storage boundary, the same for every backend: arguments
//! ([`Value`], built with [`args!`](crate::args)), rows ([`Row`], read with [`Row::get`]) and the
//! calls on [`Conn`](super::Conn) that run a statement (`exec`, `query_opt`, `query_one`,
//! `query_all`). The storage modules name no driver type; docs/postgres.md explains why.
//!
//! SQL is written once, with numbered placeholders (`?1`, `?2`, ...; never a bare `?`), in the
//! subset both SQLite and PostgreSQL accept.

use super::{Result, StorageError};

/// One statement argument, borrowed from the caller.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

/// A Rust value that can be bound as an argument.
pub trait Arg {
    fn arg(&self) -> Value<'_>;
}

impl Arg for Value<'_> {
    fn arg(&self) -> Value<'_> {
        *self
    }
}

macro_rules! int_arg {
    ($($t:ty),*) => {$(
        impl Arg for $t {
            fn arg(&self) -> Value<'_> {
                // Every integer the storage binds fits i64 (ids, counts, seconds, limits);
                // anything larger is clamped rather than wrapped into a negative number.
                Value::Int(i64::try_from(*self).unwrap_or(i64::MAX))
            }
        }
    )*};
}
int_arg!(i8, i16, i32, i64, u8, u16, u32, u64, usize);

impl Arg for bool {
    fn arg(&self) -> Value<'_> {
        Value::Int(i64::from(*self))
    }
}

impl Arg for f64 {
    fn arg(&self) -> Value<'_> {
        Value::Real(*self)
    }
}

impl Arg for f32 {
    fn arg(&self) -> Value<'_> {
        Value::Real(f64::from(*self))
    }
}

impl Arg for str {
    fn arg(&self) -> Value<'_> {
        Value::Text(self)
    }
}

impl Arg for String {
    fn arg(&self) -> Value<'_> {
        Value::Text(self)
    }
}

impl Arg for [u8] {
    fn arg(&self) -> Value<'_> {
        Value::Blob(self)
    }
}

impl Arg for Vec<u8> {
    fn arg(&self) -> Value<'_> {
        Value::Blob(self)
    }
}

impl<const N: usize> Arg for [u8; N] {
    fn arg(&self) -> Value<'_> {
        Value::Blob(self)
    }
}

impl<T: Arg + ?Sized> Arg for &T {
    fn arg(&self) -> Value<'_> {
        (**self).arg()
    }
}

impl<T: Arg> Arg for Option<T> {
    fn arg(&self) -> Value<'_> {
        self.as_ref().map_or(Value::Null, Arg::arg)
    }
}

/// The arguments of one statement, in placeholder order: `args![a, b]` binds `?1 = a, ?2 = b`.
#[macro_export]
#[doc(hidden)]
macro_rules! args {
    () => {
        &[] as &[$crate::storage::sql::Value<'_>]
    };
    ($($x:expr),+ $(,)?) => {
        &[$($crate::storage::sql::Arg::arg(&$x)),+] as &[$crate::storage::sql::Value<'_>]
    };
}
pub(in crate::storage) use crate::args;

/// Refuse text holding the NUL character (PostgreSQL's text cannot; SQLite is held to the same).
pub(in crate::storage) fn check_text(args: &[Value<'_>]) -> Result<()> {
    if args
        .iter()
        .any(|a| matches!(a, Value::Text(t) if t.contains('\0')))
    {
        return Err(StorageError::NulInText);
    }
    Ok(())
}

/// One row of a result, read by column position.
pub struct Row<'r> {
    inner: RowInner<'r>,
}

enum RowInner<'r> {
    Sqlite(&'r rusqlite::Row<'r>),
    Pg(&'r postgres::Row),
}

impl<'r> Row<'r> {
    pub(in crate::storage) fn sqlite(row: &'r rusqlite::Row<'r>) -> Self {
        Self {
            inner: RowInner::Sqlite(row),
        }
    }

    pub(in crate::storage) fn pg(row: &'r postgres::Row) -> Self {
        Self {
            inner: RowInner::Pg(row),
        }
    }

    /// Column `i` (from 0) as `T`; a NULL, a type or a range that `T` cannot hold is an error.
    pub fn get<T: Column>(&self, i: usize) -> Result<T> {
        let cell = match &self.inner {
            RowInner::Sqlite(r) => Cell::from(r.get_ref(i)?),
            RowInner::Pg(r) => pg_cell(r, i)?,
        };
        T::from_cell(cell).map_err(|e| StorageError::Decode(format!("column {i}: {e}")))
    }
}

/// Column `i` of a PostgreSQL row as a [`Cell`], by the column's declared type.
fn pg_cell<'r>(row: &'r postgres::Row, i: usize) -> Result<Cell<'r>> {
    use postgres::types::Type;
    let ty = row
        .columns()
        .get(i)
        .map(|c| c.type_().clone())
        .ok_or_else(|| StorageError::Decode(format!("no column {i}")))?;
    let cell = match ty {
        Type::BOOL => row.try_get::<_, Option<bool>>(i)?.map(Cell::Bool),
        Type::INT2 => row
            .try_get::<_, Option<i16>>(i)?
            .map(|v| Cell::Int(v.into())),
        Type::INT4 => row
            .try_get::<_, Option<i32>>(i)?
            .map(|v| Cell::Int(v.into())),
        Type::INT8 => row.try_get::<_, Option<i64>>(i)?.map(Cell::Int),
        Type::OID => row
            .try_get::<_, Option<u32>>(i)?
            .map(|v| Cell::Int(v.into())),
        Type::FLOAT4 => row
            .try_get::<_, Option<f32>>(i)?
            .map(|v| Cell::Real(v.into())),
        Type::FLOAT8 => row.try_get::<_, Option<f64>>(i)?.map(Cell::Real),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
            row.try_get::<_, Option<&str>>(i)?.map(Cell::Text)
        }
        Type::BYTEA => row.try_get::<_, Option<&[u8]>>(i)?.map(Cell::Blob),
        other => {
            return Err(StorageError::Decode(format!(
                "column {i} has type {other}, which storage does not read (cast it in the SQL)"
            )));
        }
    };
    Ok(cell.unwrap_or(Cell::Null))
}

impl postgres::types::ToSql for Value<'_> {
    /// The argument in the type PostgreSQL inferred for its placeholder, so the SQL needs no
    /// casts: integers fit the column's width or are refused, 0/1 bind to a boolean.
    fn to_sql(
        &self,
        ty: &postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> std::result::Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>>
    {
        use bytes::BufMut;
        use postgres::types::{IsNull, Type};
        match (*self, ty) {
            (Self::Null, _) => Ok(IsNull::Yes),
            (Self::Int(v), &Type::INT8) => v.to_sql(ty, out),
            (Self::Int(v), &Type::INT4) => i32::try_from(v)?.to_sql(ty, out),
            (Self::Int(v), &Type::INT2) => i16::try_from(v)?.to_sql(ty, out),
            (Self::Int(v), &Type::BOOL) => (v != 0).to_sql(ty, out),
            #[allow(clippy::cast_precision_loss)]
            (Self::Int(v), &Type::FLOAT8) => (v as f64).to_sql(ty, out),
            (Self::Real(v), &Type::FLOAT8) => v.to_sql(ty, out),
            #[allow(clippy::cast_possible_truncation)]
            (Self::Real(v), &Type::FLOAT4) => (v as f32).to_sql(ty, out),
            (Self::Text(v), &Type::JSON) => {
                out.put_slice(v.as_bytes());
                Ok(IsNull::No)
            }
            (Self::Text(v), &Type::JSONB) => {
                out.put_u8(1);
                out.put_slice(v.as_bytes());
                Ok(IsNull::No)
            }
            (
                Self::Text(v),
                &Type::TEXT | &Type::VARCHAR | &Type::BPCHAR | &Type::NAME | &Type::UNKNOWN,
            ) => v.to_sql(ty, out),
            (Self::Blob(v), &Type::BYTEA) => v.to_sql(ty, out),
            (value, ty) => Err(format!("cannot bind {value:?} to a parameter of type {ty}").into()),
        }
    }

    fn accepts(_: &postgres::types::Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

/// The `LIKE ... ESCAPE '\'` pattern of "contains `text`": `%`, `_` and `\` in it match
/// themselves.
pub fn contains_pattern(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// `sql` with its `?N` placeholders written PostgreSQL's way (`$N`). Quoted text, quoted names
/// and `--` comments are left alone; a bare `?` is a mistake and is refused. Public for the
/// tests' own SQL.
pub fn to_dollar(sql: &str) -> Result<String> {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                out.push(c);
                for q in chars.by_ref() {
                    out.push(q);
                    if q == c {
                        break;
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                out.push(c);
                for q in chars.by_ref() {
                    out.push(q);
                    if q == '\n' {
                        break;
                    }
                }
            }
            '?' => {
                if !chars.peek().is_some_and(char::is_ascii_digit) {
                    return Err(StorageError::Decode(format!("a bare '?' in: {sql}")));
                }
                out.push('$');
            }
            _ => out.push(c),
        }
    }
    Ok(out)
}

/// A column's value as a backend gave it, before it is converted to a Rust type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
    /// PostgreSQL's boolean (SQLite has none: its flags are integers).
    Bool(bool),
}

impl<'a> From<rusqlite::types::ValueRef<'a>> for Cell<'a> {
    fn from(v: rusqlite::types::ValueRef<'a>) -> Self {
        use rusqlite::types::ValueRef;
        match v {
            ValueRef::Null => Self::Null,
            ValueRef::Integer(i) => Self::Int(i),
            ValueRef::Real(f) => Self::Real(f),
            // Text that is not UTF-8 is refused when read as a String, not here.
            ValueRef::Text(t) => std::str::from_utf8(t).map_or(Self::Blob(t), Self::Text),
            ValueRef::Blob(b) => Self::Blob(b),
        }
    }
}

/// A Rust type a column can be read as.
pub trait Column: Sized {
    fn from_cell(cell: Cell<'_>) -> std::result::Result<Self, String>;
}

impl Column for i64 {
    fn from_cell(cell: Cell<'_>) -> std::result::Result<Self, String> {
        match cell {
            Cell::Int(i) => Ok(i),
            Cell::Bool(b) => Ok(i64::from(b)),
            other => Err(format!("expected an integer, found {other:?}")),
        }
    }
}

macro_rules! narrow_column {
    ($($t:ty),*) => {$(
        impl Column for $t {
            fn from_cell(cell: Cell<'_>) -> std::result::Result<Self, String> {
                let wide = i64::from_cell(cell)?;
                <$t>::try_from(wide).map_err(|_| format!("{wide} does not fit {}", stringify!($t)))
            }
        }
    )*};
}
narrow_column!(i32, u32, u64, usize);

impl Column for bool {
    fn from_cell(cell: Cell<'_>) -> std::result::Result<Self, String> {
        match cell {
            Cell::Bool(b) => Ok(b),
            Cell::Int(i) => Ok(i != 0),
            other => Err(format!("expected a flag, found {other:?}")),
        }
    }
}

impl Column for f64 {
    fn from_cell(cell: Cell<'_>) -> std::result::Result<Self, String> {
        match cell {
            Cell::Real(f) => Ok(f),
            // SQLite stores a REAL without a fraction as written; an integer column may be averaged.
            #[allow(clippy::cast_precision_loss)]
            Cell::Int(i) => Ok(i as f64),
            other => Err(format!("expected a number, found {other:?}")),
        }
    }
}

impl Column for f32 {
    fn from_cell(cell: Cell<'_>) -> std::result::Result<Self, String> {
        #[allow(clippy::cast_possible_truncation)]
        f64::from_cell(cell).map(|f| f as f32)
    }
}

impl Column for String {
    fn from_cell(cell: Cell<'_>) -> std::result::Result<Self, String> {
        match cell {
            Cell::Text(t) => Ok(t.to_owned()),
            other => Err(format!("expected text, found {other:?}")),
        }
    }
}

impl Column for Vec<u8> {
    fn from_cell(cell: Cell<'_>) -> std::result::Result<Self, String> {
        match cell {
            Cell::Blob(b) => Ok(b.to_vec()),
            Cell::Text(t) => Ok(t.as_bytes().to_vec()),
            other => Err(format!("expected bytes, found {other:?}")),
        }
    }
}

impl<T: Column> Column for Option<T> {
    fn from_cell(cell: Cell<'_>) -> std::result::Result<Self, String> {
        match cell {
            Cell::Null => Ok(None),
            other => T::from_cell(other).map(Some),
        }
    }
}

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match *self {
            Self::Null => ValueRef::Null,
            Self::Int(i) => ValueRef::Integer(i),
            Self::Real(f) => ValueRef::Real(f),
            Self::Text(t) => ValueRef::Text(t.as_bytes()),
            Self::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_bind_in_order_and_options_become_null() {
        let name = String::from("Ada");
        let missing: Option<&str> = None;
        let a = args![1_i64, name, missing, true, 2.5_f64, Some(7_u32)];
        assert_eq!(
            a,
            &[
                Value::Int(1),
                Value::Text("Ada"),
                Value::Null,
                Value::Int(1),
                Value::Real(2.5),
                Value::Int(7),
            ]
        );
        assert!(args![].is_empty());
    }

    #[test]
    fn placeholders_become_dollars_outside_quotes_and_comments() {
        assert_eq!(
            to_dollar(
                "SELECT a FROM t WHERE b = ?1 AND c = '?2' AND \"d?3\" = ?12 -- ?4\n AND e = ?2"
            )
            .ok(),
            Some(
                "SELECT a FROM t WHERE b = $1 AND c = '?2' AND \"d?3\" = $12 -- ?4\n AND e = $2"
                    .into()
            )
        );
        assert!(to_dollar("SELECT ? ").is_err());
        // '' inside a string is an escaped quote: the string goes on.
        assert_eq!(
            to_dollar("SELECT 'it''s ?1', ?1").ok(),
            Some("SELECT 'it''s ?1', $1".into())
        );
    }

    #[test]
    fn columns_refuse_what_they_cannot_hold() {
        assert_eq!(u32::from_cell(Cell::Int(5)), Ok(5));
        assert!(u32::from_cell(Cell::Int(-1)).is_err());
        assert!(i64::from_cell(Cell::Null).is_err());
        assert_eq!(Option::<i64>::from_cell(Cell::Null), Ok(None));
        assert_eq!(bool::from_cell(Cell::Int(1)), Ok(true));
        assert_eq!(bool::from_cell(Cell::Bool(false)), Ok(false));
        assert!(String::from_cell(Cell::Int(3)).is_err());
    }
}
