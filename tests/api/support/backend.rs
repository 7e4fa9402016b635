//! The storage backend the API tests run on: SQLite in each test's data directory (the
//! default), or PostgreSQL when `ROLLCALL_TEST_BACKEND=postgres`, on the cluster whose admin URL
//! is in `ROLLCALL_TEST_POSTGRES` (`scripts/setup-postgres` starts one and prints it). Every
//! data directory gets a database of its own, so a server restarted on the same directory
//! finds its rows again, and no two tests share locks or rows.

use std::hash::{Hash, Hasher};
use std::path::Path;

/// The admin URL of the PostgreSQL cluster, when the tests run on PostgreSQL.
pub fn postgres_admin() -> Option<String> {
    if std::env::var("ROLLCALL_TEST_BACKEND").as_deref() != Ok("postgres") {
        return None;
    }
    let url = std::env::var("ROLLCALL_TEST_POSTGRES").unwrap_or_else(|_| {
        panic!("ROLLCALL_TEST_BACKEND=postgres needs ROLLCALL_TEST_POSTGRES (scripts/setup-postgres prints it)")
    });
    Some(url)
}

/// The server flags that choose the backend for `data_dir` (none for SQLite).
pub fn server_args(data_dir: &Path) -> Vec<String> {
    database_url(data_dir).map_or_else(Vec::new, |url| vec!["--database-url".into(), url])
}

/// The PostgreSQL database of `data_dir` (created on first use), when the tests run there.
pub fn database_url(data_dir: &Path) -> Option<String> {
    postgres_admin().map(|admin| database_for(&admin, data_dir))
}

/// The URL of `data_dir`'s own database, created on first use.
fn database_for(admin: &str, data_dir: &Path) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    data_dir.hash(&mut hasher);
    let name = format!("t_{}_{:016x}", std::process::id(), hasher.finish());
    let admin_url = admin.to_owned();
    let create = name.clone();
    // The sync client runs a runtime of its own: on a thread of its own, not the test's.
    std::thread::spawn(move || {
        let mut client = postgres::Client::connect(&admin_url, postgres::NoTls)
            .unwrap_or_else(|e| panic!("connecting to {admin_url}: {e}"));
        if let Err(e) = client.batch_execute(&format!("CREATE DATABASE {create}")) {
            let exists = e.code() == Some(&postgres::error::SqlState::DUPLICATE_DATABASE);
            assert!(exists, "CREATE DATABASE {create}: {e}");
        }
    })
    .join()
    .unwrap_or_else(|_| panic!("creating the test database failed"));
    let (server, _) = admin
        .rsplit_once('/')
        .unwrap_or_else(|| panic!("{admin} names no database"));
    format!("{server}/{name}")
}

/// The `rollcall` binary with `args`, on the tests' backend: on PostgreSQL, the database of the
/// `--data-dir` among `args` (through `ROLLCALL_DATABASE_URL`, as an operator would set it).
pub fn rollcall_command<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_rollcall"));
    cmd.args(args);
    let args: Vec<&str> = args.iter().filter_map(|a| a.as_ref().to_str()).collect();
    let dir = args
        .iter()
        .position(|a| *a == "--data-dir")
        .and_then(|i| args.get(i + 1).copied())
        .or_else(|| args.iter().find_map(|a| a.strip_prefix("--data-dir=")));
    if let Some(url) = dir.and_then(|d| database_url(Path::new(d))) {
        cmd.env("ROLLCALL_DATABASE_URL", url);
    }
    cmd
}

/// True (after saying so) when the tests run on PostgreSQL and `what` is SQLite's alone.
pub fn skip_on_postgres(what: &str) -> bool {
    let skip = postgres_admin().is_some();
    if skip {
        eprintln!("SKIPPED on PostgreSQL: {what}");
    }
    skip
}

/// A new, empty database named `t_<pid>_<label>` on the cluster whose admin URL is `admin`
/// (one a previous run of this test left is dropped first); its URL. For the tests that pick
/// their PostgreSQL databases themselves (`migrate_db`), whatever backend the others run on.
pub fn fresh_database(admin: &str, label: &str) -> String {
    let name = format!("t_{}_{label}", std::process::id());
    let admin_url = admin.to_owned();
    let create = name.clone();
    std::thread::spawn(move || {
        let mut client = postgres::Client::connect(&admin_url, postgres::NoTls)
            .unwrap_or_else(|e| panic!("connecting to {admin_url}: {e}"));
        // One statement per call: neither runs inside a transaction block.
        for sql in [
            format!("DROP DATABASE IF EXISTS {create} WITH (FORCE)"),
            format!("CREATE DATABASE {create}"),
        ] {
            client
                .batch_execute(&sql)
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    })
    .join()
    .unwrap_or_else(|_| panic!("creating the test database failed"));
    let (server, _) = admin
        .rsplit_once('/')
        .unwrap_or_else(|| panic!("{admin} names no database"));
    format!("{server}/{name}")
}
