//! Numbered migrations from `migrations/`, compiled into the binary and applied at start-up,
//! each in its own transaction. A database from a newer rollcall is refused, not guessed at.

use super::sql::args;
use super::{Conn, StorageError};

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
    (
        11,
        "images",
        include_str!("../../migrations/0011_images.sql"),
    ),
    (
        12,
        "cluster",
        include_str!("../../migrations/0012_cluster.sql"),
    ),
    (
        13,
        "job_leases",
        include_str!("../../migrations/0013_job_leases.sql"),
    ),
    (
        14,
        "invitations",
        include_str!("../../migrations/0014_invitations.sql"),
    ),
];

/// PostgreSQL's list: a baseline at the version SQLite's list had reached when PostgreSQL came
/// (its schema written for PostgreSQL), then one entry per later SQLite migration, same number
/// and name.
const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        10,
        "baseline",
        include_str!("../../migrations/postgres/0010_baseline.sql"),
    ),
    (
        11,
        "images",
        include_str!("../../migrations/postgres/0011_images.sql"),
    ),
    (
        12,
        "cluster",
        include_str!("../../migrations/postgres/0012_cluster.sql"),
    ),
    (
        13,
        "job_leases",
        include_str!("../../migrations/postgres/0013_job_leases.sql"),
    ),
    (
        14,
        "invitations",
        include_str!("../../migrations/postgres/0014_invitations.sql"),
    ),
];

/// Apply every migration not yet recorded in `schema_migrations`. Returns how many ran.
pub fn apply(conn: &Conn<'_>) -> Result<usize, StorageError> {
    if conn.is_postgres() {
        // Several servers may start together: one migrates, the others wait here and then
        // find nothing left to do.
        conn.with_migration_lock(|| apply_list(conn, POSTGRES_MIGRATIONS, "BIGINT", ""))
    } else {
        apply_list(conn, MIGRATIONS, "INTEGER", " STRICT")
    }
}

fn apply_list(
    conn: &Conn<'_>,
    list: &[(i64, &str, &str)],
    integer: &str,
    strict: &str,
) -> Result<usize, StorageError> {
    conn.batch(&format!(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    {integer} PRIMARY KEY,
             name       TEXT NOT NULL,
             applied_at {integer} NOT NULL
         ){strict};"
    ))?;
    let current = current_version(conn)?;
    let known = list.last().map_or(0, |m| m.0);
    if current > known {
        return Err(StorageError::SchemaTooNew {
            found: current,
            known,
        });
    }
    let mut ran = 0;
    for &(version, name, sql) in list.iter().filter(|m| m.0 > current) {
        conn.transaction(|tx| {
            tx.batch(sql)?;
            tx.exec(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
                args![version, name, now_unix()],
            )?;
            Ok::<_, StorageError>(())
        })?;
        tracing::info!(version, name, "applied migration");
        ran += 1;
    }
    Ok(ran)
}

/// The schema version a database is at.
pub fn current_version(conn: &Conn<'_>) -> Result<i64, StorageError> {
    conn.query_one(
        "SELECT CAST(COALESCE(MAX(version), 0) AS BIGINT) FROM schema_migrations",
        args![],
        |r| r.get(0),
    )
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::*;

    #[test]
    fn migrations_apply_once_and_are_numbered_in_order() {
        let sqlite = Connection::open_in_memory().unwrap_or_else(|e| panic!("{e}"));
        let conn = Conn::new(&sqlite);
        let first = apply(&conn).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(first, MIGRATIONS.len());
        assert_eq!(apply(&conn).unwrap_or_else(|e| panic!("{e}")), 0);
        for pair in MIGRATIONS.windows(2) {
            assert_eq!(
                pair[1].0,
                pair[0].0 + 1,
                "migration numbers must be consecutive"
            );
        }
    }

    #[test]
    fn both_backends_end_at_the_same_version_with_the_same_names() {
        let last = |list: &[(i64, &str, &str)]| list.last().map(|m| m.0);
        assert_eq!(last(MIGRATIONS), last(POSTGRES_MIGRATIONS));
        for &(version, name, _) in &POSTGRES_MIGRATIONS[1..] {
            assert!(
                MIGRATIONS.iter().any(|m| m.0 == version && m.1 == name),
                "PostgreSQL migration {version} {name} has no SQLite twin"
            );
        }
    }

    #[test]
    fn newer_schema_is_refused() {
        let sqlite = Connection::open_in_memory().unwrap_or_else(|e| panic!("{e}"));
        let conn = Conn::new(&sqlite);
        apply(&conn).unwrap_or_else(|e| panic!("{e}"));
        sqlite
            .execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)",
                [],
            )
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            apply(&conn),
            Err(StorageError::SchemaTooNew { found: 999, .. })
        ));
    }
}
