//! What several servers on one PostgreSQL database share beyond the school's rows
//! (docs/postgres.md): secrets they must agree on, and per-address attempt windows.

use super::sql::args;
use super::{Conn, Result};

/// The secret `name`: the stored one, or `fresh` stored now if there is none. Two servers
/// starting together store one value and both read it.
pub fn secret_or_insert(conn: &Conn<'_>, name: &str, fresh: &[u8], now: i64) -> Result<Vec<u8>> {
    conn.exec(
        "INSERT INTO server_secrets (name, value, created_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (name) DO NOTHING",
        args![name, fresh, now],
    )?;
    conn.query_one(
        "SELECT value FROM server_secrets WHERE name = ?1",
        args![name],
        |r| r.get(0),
    )
}

/// The attempts of `client` under `limiter` after `since`, oldest first (their times).
pub fn attempts(conn: &Conn<'_>, limiter: &str, client: &str, since: i64) -> Result<Vec<i64>> {
    conn.query_all(
        "SELECT at FROM client_attempts WHERE limiter = ?1 AND client = ?2 AND at > ?3
         ORDER BY at, id",
        args![limiter, client, since],
        |r| r.get(0),
    )
}

/// Count one attempt, forgetting every client's attempts under `limiter` at or before
/// `forget_until` (so the table holds one window's attempts, however many addresses try once).
pub fn add_attempt(
    conn: &Conn<'_>,
    limiter: &str,
    client: &str,
    at: i64,
    forget_until: i64,
) -> Result<()> {
    conn.exec(
        "DELETE FROM client_attempts WHERE limiter = ?1 AND at <= ?2",
        args![limiter, forget_until],
    )?;
    conn.exec(
        "INSERT INTO client_attempts (limiter, client, at) VALUES (?1, ?2, ?3)",
        args![limiter, client, at],
    )?;
    Ok(())
}

/// Give back the newest attempt of `client` under `limiter`.
pub fn undo_attempt(conn: &Conn<'_>, limiter: &str, client: &str) -> Result<()> {
    conn.exec(
        "DELETE FROM client_attempts WHERE id IN (
             SELECT id FROM client_attempts WHERE limiter = ?1 AND client = ?2
             ORDER BY at DESC, id DESC LIMIT 1)",
        args![limiter, client],
    )?;
    Ok(())
}

/// Claim the job `name` for `holder` until `now + lease_secs`: granted when nobody holds it
/// (no lease, or an expired one) and its last run began at least `every_secs` ago. Run it
/// inside a write transaction, which makes the check and the claim one step for the cluster.
pub fn claim_job(
    conn: &Conn<'_>,
    name: &str,
    holder: &str,
    now: i64,
    lease_secs: i64,
    every_secs: i64,
) -> Result<bool> {
    let lease = conn.query_opt(
        "SELECT leased_until, last_run_at FROM job_leases WHERE name = ?1",
        args![name],
        |r| Ok((r.get::<i64>(0)?, r.get::<i64>(1)?)),
    )?;
    match lease {
        Some((until, last)) if until > now || last > now - every_secs => Ok(false),
        Some(_) => {
            conn.exec(
                "UPDATE job_leases SET holder = ?2, leased_until = ?3, last_run_at = ?4
                 WHERE name = ?1",
                args![name, holder, now + lease_secs, now],
            )?;
            Ok(true)
        }
        None => {
            conn.exec(
                "INSERT INTO job_leases (name, holder, leased_until, last_run_at)
                 VALUES (?1, ?2, ?3, ?4)",
                args![name, holder, now + lease_secs, now],
            )?;
            Ok(true)
        }
    }
}

/// End `holder`'s lease on the job `name` (its run is over).
pub fn release_job(conn: &Conn<'_>, name: &str, holder: &str, now: i64) -> Result<()> {
    conn.exec(
        "UPDATE job_leases SET leased_until = ?3 WHERE name = ?1 AND holder = ?2",
        args![name, holder, now],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_is_claimed_by_one_holder_and_once_per_period() {
        let sqlite = Conn::test_database();
        let c = Conn::new(&sqlite);
        let claim = |holder: &str, now: i64| {
            claim_job(&c, "purge", holder, now, 600, 3600).unwrap_or_else(|e| panic!("{e}"))
        };
        assert!(claim("a", 1_000));
        assert!(!claim("b", 1_001), "held by a");
        release_job(&c, "purge", "b", 1_002).unwrap_or_else(|e| panic!("{e}"));
        assert!(!claim("b", 1_003), "only the holder releases");
        release_job(&c, "purge", "a", 1_100).unwrap_or_else(|e| panic!("{e}"));
        assert!(!claim("b", 1_200), "ran less than an hour ago");
        assert!(claim("b", 4_600), "an hour after the last run began");
        // A holder that died: its lease runs out, and the next claim after the period wins.
        assert!(!claim("c", 5_100));
        assert!(claim("c", 8_300));
    }
}
