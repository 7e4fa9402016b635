//! The time the authentication limits read (login delays, reset-code lifetimes and caps), as an
//! input: the system clock when serving, a clock the caller moves in tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::storage::now_unix;

/// Seconds since the Unix epoch.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> i64;
}

/// The machine's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        now_unix()
    }
}

/// A clock that only moves when told to; clones share the same time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// Starting at the current system time.
    #[must_use]
    pub fn starting_now() -> Self {
        Self(Arc::new(AtomicI64::new(now_unix())))
    }

    /// Standing at `unix` (seconds since the epoch): a test that needs a given day.
    #[must_use]
    pub fn at(unix: i64) -> Self {
        Self(Arc::new(AtomicI64::new(unix)))
    }

    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told_and_clones_share_it() {
        let clock = ManualClock::starting_now();
        let copy = clock.clone();
        let t = clock.now();
        copy.advance(90);
        assert_eq!(clock.now(), t + 90);
    }
}
