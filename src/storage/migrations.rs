//! Numbered migrations from `migrations/`, compiled into the binary and applied at start-up,
//! each in its own transaction. A database from a newer rollcall is refused, not guessed at.

use rusqlite::{Connection, params};

use super::StorageError;

use super::now_unix;

/// (version, name, SQL). Append only; never edit a released migration.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "accounts",
        include_str!("../../migrations/0001_accounts.sql"),
    ),
    (
        2,
        "subjects_faces",
        include_str!("../../migrations/0002_subjects_faces.sql"),
    ),
    (
        3,
        "attendance",
        include_str!("../../migrations/0003_attendance.sql"),
    ),
    (
        4,
        "drafts",
        include_str!("../../migrations/0004_drafts.sql"),
    ),
    (
        5,
        "analytics",
        include_str!("../../migrations/0005_analytics.sql"),
    ),
    (6, "mail", include_str!("../../migrations/0006_mail.sql")),
    (
        7,
        "seed_import",
        include_str!("../../migrations/0007_seed_import.sql"),
    ),
    (
        8,
        "tenancy",
        include_str!("../../migrations/0008_tenancy.sql"),
    ),
    (
        9,
        "auth_limits",
        include_str!("../../migrations/0009_auth_limits.sql"),
    ),
    (
        10,
        "sample_source",
        include_str!("../../migrations/0010_sample_source.sql"),
    ),
];

/// Apply every migration not yet recorded in `schema_migrations`. Returns how many ran.
pub fn apply(conn: &mut Connection) -> Result<usize, StorageError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY,
             name       TEXT NOT NULL,
             applied_at INTEGER NOT NULL
         ) STRICT;",
    )?;
    let current: i64 = conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )?;
    let known = MIGRATIONS.last().map_or(0, |m| m.0);
    if current > known {
        return Err(StorageError::SchemaTooNew {
            found: current,
            known,
        });
    }
    let mut ran = 0;
    for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            params![version, name, now_unix()],
        )?;
        tx.commit()?;
        tracing::info!(version, name, "applied migration");
        ran += 1;
    }
    Ok(ran)
}

/// The schema version a database is at.
pub fn current_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_once_and_are_numbered_in_order() {
        let mut conn = Connection::open_in_memory().unwrap_or_else(|e| panic!("{e}"));
        let first = apply(&mut conn).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(first, MIGRATIONS.len());
        assert_eq!(apply(&mut conn).unwrap_or_else(|e| panic!("{e}")), 0);
        for pair in MIGRATIONS.windows(2) {
            assert_eq!(
                pair[1].0,
                pair[0].0 + 1,
                "migration numbers must be consecutive"
            );
        }
    }

    #[test]
    fn newer_schema_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap_or_else(|e| panic!("{e}"));
        apply(&mut conn).unwrap_or_else(|e| panic!("{e}"));
        conn.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)",
            [],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            apply(&mut conn),
            Err(StorageError::SchemaTooNew { found: 999, .. })
        ));
    }
}
