//! In-memory sliding-window limiter for login and account-recovery attempts.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

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

#[cfg(test)]
mod tests {
    use super::*;

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
