//! Rate limits of the account routes: an in-memory sliding window per client address (one for
//! logins, one for registrations, one for recovery), the key a client address is counted under,
//! and the per-account login policy (a few free failures, then doubling delays) whose counters
//! live in the database (`storage::limits`).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::service::clock::Clock;
use crate::storage::Db;
use crate::storage::limits::LoginThrottle;

/// A per-address allowance (logins, registrations, recovery): counted in memory on one server
/// (SQLite), in the database when several servers share one (PostgreSQL), so that the limit holds
/// for the whole cluster rather than once per server.
pub enum ClientLimiter {
    Local(RateLimiter),
    Shared {
        db: Db,
        /// The allowance's name in `client_attempts`.
        name: &'static str,
        max: usize,
        window_secs: i64,
        clock: std::sync::Arc<dyn Clock>,
    },
}

impl ClientLimiter {
    /// Check, then count the attempt if allowed: `RateLimited` once the allowance is spent.
    pub async fn check_and_hit(&self, key: &str) -> super::Result<()> {
        match self {
            Self::Local(limiter) => limiter
                .check_and_hit(key)
                .map_err(|retry_after| super::Error::RateLimited { retry_after }),
            Self::Shared {
                db,
                name,
                max,
                window_secs,
                clock,
            } => {
                let (name, max, window, now) = (*name, *max, *window_secs, clock.now());
                let key = key.to_owned();
                let refused = db
                    .transaction(move |c| {
                        let since = now - window;
                        let times = crate::storage::cluster::attempts(c, name, &key, since)?;
                        if times.len() >= max {
                            let oldest = times.first().copied().unwrap_or(now);
                            return Ok::<_, super::Error>(Some((window - (now - oldest)).max(1)));
                        }
                        crate::storage::cluster::add_attempt(c, name, &key, now, since)?;
                        Ok(None)
                    })
                    .await?;
                match refused {
                    Some(secs) => Err(super::Error::RateLimited {
                        retry_after: Duration::from_secs(u64::try_from(secs).unwrap_or(1)),
                    }),
                    None => Ok(()),
                }
            }
        }
    }

    /// Give back the newest attempt of `key` (it succeeded, or was never tried).
    pub async fn undo(&self, key: &str) -> super::Result<()> {
        match self {
            Self::Local(limiter) => {
                limiter.undo(key);
                Ok(())
            }
            Self::Shared { db, name, .. } => {
                let (name, key) = (*name, key.to_owned());
                db.transaction(move |c| crate::storage::cluster::undo_attempt(c, name, &key))
                    .await?;
                Ok(())
            }
        }
    }
}

/// Keys tracked before stale ones are swept, so a flood of distinct keys cannot grow memory forever.
const SWEEP_AT: usize = 10_000;

pub struct RateLimiter {
    max: usize,
    window: Duration,
    hits: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl RateLimiter {
    #[must_use]
    pub fn new(max: u32, window: Duration) -> Self {
        Self {
            max: usize::try_from(max).unwrap_or(usize::MAX),
            window,
            hits: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(retry_after)` when `key` already used its allowance in the current window.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let mut hits = self.hits.lock().unwrap_or_else(|p| p.into_inner());
        let Some(q) = hits.get_mut(key) else {
            return Ok(());
        };
        self.expire(q, now);
        if q.len() >= self.max {
            let oldest = q.front().copied().unwrap_or(now);
            return Err(self
                .window
                .saturating_sub(now - oldest)
                .max(Duration::from_secs(1)));
        }
        Ok(())
    }

    /// Count one attempt for `key`.
    pub fn hit(&self, key: &str) {
        let now = Instant::now();
        let mut hits = self.hits.lock().unwrap_or_else(|p| p.into_inner());
        if hits.len() >= SWEEP_AT {
            let window = self.window;
            hits.retain(|_, q| q.back().is_some_and(|t| now - *t < window));
        }
        let q = hits.entry(key.to_owned()).or_default();
        self.expire(q, now);
        q.push_back(now);
        while q.len() > self.max {
            q.pop_front();
        }
    }

    /// Check, then count the attempt if allowed.
    pub fn check_and_hit(&self, key: &str) -> Result<(), Duration> {
        self.check(key)?;
        self.hit(key);
        Ok(())
    }

    /// Give back the newest attempt of `key` (it succeeded, or was never tried).
    pub fn undo(&self, key: &str) {
        let mut hits = self.hits.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(q) = hits.get_mut(key) {
            q.pop_back();
        }
    }

    pub fn clear(&self, key: &str) {
        self.hits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }

    fn expire(&self, q: &mut VecDeque<Instant>, now: Instant) {
        while q.front().is_some_and(|t| now - *t >= self.window) {
            q.pop_front();
        }
    }
}

/// The key a client address is counted under: an IPv4 address as it is (also when written as
/// IPv6-mapped), an IPv6 address by its /64 prefix, the network one subscriber is usually given
/// (otherwise one machine could spread its attempts over 2^64 addresses).
#[must_use]
pub fn client_key(client: &str) -> String {
    match client.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Ok(ip) => ip.to_string(),
        Err(_) => client.to_owned(),
    }
}

/// Login attempts on one account: the first `free` failures cost nothing; from then on each
/// attempt waits `base` seconds after the previous one, doubling with every further failure up
/// to `max`. An account quiet for `forget_after` seconds after its last delay starts afresh.
#[derive(Debug, Clone, Copy)]
pub struct LoginPolicy {
    pub free: i64,
    pub base: i64,
    pub max: i64,
    pub forget_after: i64,
}

impl LoginPolicy {
    /// The wait imposed after the `failures`-th counted attempt.
    #[must_use]
    pub fn delay_after(&self, failures: i64) -> i64 {
        if failures < self.free {
            return 0;
        }
        let doublings = u32::try_from(failures - self.free)
            .unwrap_or(u32::MAX)
            .min(62);
        self.base.saturating_mul(1i64 << doublings).min(self.max)
    }

    /// Count one attempt at `now` against the account's `row`: `Ok` with the row to store (the
    /// attempt is counted as a failure until it succeeds), or `Err(seconds to wait)`.
    pub fn admit(&self, row: Option<LoginThrottle>, now: i64) -> Result<LoginThrottle, i64> {
        let row = row.filter(|r| now < r.forget_at);
        if let Some(r) = row
            && now < r.blocked_until
        {
            return Err(r.blocked_until - now);
        }
        let failures = row.map_or(0, |r| r.failures) + 1;
        let blocked_until = now + self.delay_after(failures);
        Ok(LoginThrottle {
            failures,
            blocked_until,
            forget_at: blocked_until + self.forget_after,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_keys_group_an_ipv6_subscriber_and_unwrap_mapped_ipv4() {
        assert_eq!(client_key("203.0.113.7"), "203.0.113.7");
        assert_eq!(client_key("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(client_key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(
            client_key("2001:db8:1:2:bbbb:cccc:dddd:eeee"),
            client_key("2001:db8:1:2::9")
        );
        assert_ne!(client_key("2001:db8:1:3::1"), client_key("2001:db8:1:2::1"));
        assert_eq!(client_key("unknown"), "unknown");
    }

    #[test]
    fn login_delays_start_after_the_free_failures_and_double_up_to_the_cap() {
        let p = LoginPolicy {
            free: 3,
            base: 30,
            max: 200,
            forget_after: 900,
        };
        let delays: Vec<i64> = (1..=8).map(|n| p.delay_after(n)).collect();
        assert_eq!(delays, [0, 0, 30, 60, 120, 200, 200, 200]);
        assert_eq!(p.delay_after(i64::MAX), 200);

        let mut row = None;
        let mut t = 1000;
        for expected_wait in [0, 0, 30, 60] {
            let stored = p
                .admit(row, t)
                .unwrap_or_else(|w| panic!("blocked for {w}"));
            assert_eq!(stored.blocked_until, t + expected_wait);
            row = Some(stored);
            if expected_wait > 0 {
                assert_eq!(p.admit(row, t + 1), Err(expected_wait - 1));
            }
            t += expected_wait;
        }
        // Quiet for the delay plus `forget_after`: a fresh start.
        let last = row.unwrap_or_else(|| unreachable!());
        let fresh = p
            .admit(row, last.forget_at)
            .unwrap_or_else(|w| panic!("blocked for {w}"));
        assert_eq!(fresh.failures, 1);
    }

    #[test]
    fn allows_up_to_max_then_refuses_with_retry_after() {
        let rl = RateLimiter::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            assert!(rl.check_and_hit("a").is_ok());
        }
        let retry = rl.check_and_hit("a").err().unwrap_or_default();
        assert!(retry > Duration::from_secs(50) && retry <= Duration::from_secs(60));
        assert!(rl.check("b").is_ok(), "keys are independent");
        rl.clear("a");
        assert!(rl.check("a").is_ok());
    }

    #[test]
    fn window_expires() {
        let rl = RateLimiter::new(1, Duration::from_millis(30));
        rl.hit("k");
        assert!(rl.check("k").is_err());
        std::thread::sleep(Duration::from_millis(40));
        assert!(rl.check("k").is_ok());
    }
}
