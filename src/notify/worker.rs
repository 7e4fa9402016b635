//! The outbox delivery worker: one task that leases the oldest due message, sends it and records
//! the outcome: sent; pending again after an exponential backoff; or dead after the last attempt
//! (or at once when the relay refuses it permanently). It runs beside the HTTP server and stops
//! with it, after the message in hand.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};

use super::{Mailer, Outcome};
use crate::config::Settings;
use crate::storage::outbox::{self, Due};
use crate::storage::{Db, now_unix};

/// Timing and limits of delivery, from the settings.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub max_attempts: u32,
    pub retry_base_secs: u64,
    pub retry_max_secs: u64,
    pub poll: Duration,
    /// How long a leased message is reserved for its attempt.
    pub lease_secs: i64,
}

impl Policy {
    #[must_use]
    pub fn from_settings(s: &Settings) -> Self {
        Self {
            max_attempts: s.mail_max_attempts,
            retry_base_secs: s.mail_retry_base_secs,
            retry_max_secs: s.mail_retry_max_secs,
            poll: Duration::from_millis(s.mail_poll_ms),
            // Connect, greeting, TLS, auth and the SMTP commands each have the timeout.
            lease_secs: i64::try_from(s.smtp_timeout_secs.saturating_mul(6)).unwrap_or(3600) + 60,
        }
    }

    /// Seconds to wait after the `failures`-th failed attempt (1, 2, ...): the base, doubled per
    /// further failure, at most the maximum.
    #[must_use]
    pub fn retry_delay(&self, failures: u32) -> u64 {
        let doublings = failures.saturating_sub(1).min(32);
        self.retry_base_secs
            .saturating_mul(1u64 << doublings)
            .min(self.retry_max_secs)
    }

    /// When to try again after a failed attempt, or `None` when the message is dead.
    #[must_use]
    pub fn next_attempt(&self, outcome: &Outcome, attempts_before: u32, now: i64) -> Option<i64> {
        let failures = attempts_before.saturating_add(1);
        match outcome {
            Outcome::Retry(_) if failures < self.max_attempts => {
                Some(now.saturating_add(
                    i64::try_from(self.retry_delay(failures)).unwrap_or(i64::MAX / 2),
                ))
            }
            _ => None,
        }
    }
}

/// Deliver outbox messages until `stop` turns true. `wake` cuts the poll wait short.
pub async fn run(
    db: Db,
    mailer: Mailer,
    policy: Policy,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    tracing::info!(relay = %mailer.relay, "e-mail delivery worker started");
    loop {
        if *stop.borrow() {
            break;
        }
        let now = now_unix();
        let claimed = db
            .run(move |c| outbox::claim_due(c, now, policy.lease_secs, 1))
            .await;
        let due = match claimed {
            Ok(mut batch) => batch.pop(),
            Err(e) => {
                tracing::warn!(error = %e, "outbox: cannot read due messages");
                None
            }
        };
        let Some(due) = due else {
            tokio::select! {
                () = tokio::time::sleep(policy.poll) => {}
                () = wake.notified() => {}
                changed = stop.changed() => if changed.is_err() { break },
            }
            continue;
        };
        deliver(&db, &mailer, &policy, due).await;
    }
    tracing::info!("e-mail delivery worker stopped");
}

async fn deliver(db: &Db, mailer: &Mailer, policy: &Policy, due: Due) {
    let outcome = mailer.send(&due).await;
    let now = now_unix();
    let id = due.id;
    let attempt = due.attempts + 1;
    let retry_at = policy.next_attempt(&outcome, due.attempts, now);
    match &outcome {
        Outcome::Sent => tracing::info!(id, kind = %due.kind, attempt, "e-mail sent"),
        Outcome::Retry(e) | Outcome::Reject(e) => tracing::warn!(
            id, kind = %due.kind, attempt, error = %e, retry_at, dead = retry_at.is_none(),
            "e-mail not delivered"
        ),
    }
    let recorded = db
        .run(move |c| match outcome {
            Outcome::Sent => outbox::mark_sent(c, id, now),
            Outcome::Retry(e) | Outcome::Reject(e) => outbox::mark_failed(c, id, &e, retry_at),
        })
        .await;
    if let Err(e) = recorded {
        // The lease runs out and the message is tried again: at least once, never lost.
        tracing::error!(id, error = %e, "outbox: cannot record a delivery attempt");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            max_attempts: 4,
            retry_base_secs: 60,
            retry_max_secs: 600,
            poll: Duration::from_secs(1),
            lease_secs: 240,
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = policy();
        let delays: Vec<u64> = (1..=6).map(|n| p.retry_delay(n)).collect();
        assert_eq!(delays, vec![60, 120, 240, 480, 600, 600]);
        assert_eq!(p.retry_delay(u32::MAX), 600);
    }

    #[test]
    fn a_message_dies_after_the_last_attempt_or_a_permanent_refusal() {
        let p = policy();
        let retry = Outcome::Retry("down".into());
        assert_eq!(p.next_attempt(&retry, 0, 1000), Some(1060));
        assert_eq!(p.next_attempt(&retry, 2, 1000), Some(1240));
        assert_eq!(p.next_attempt(&retry, 3, 1000), None, "4th failure of 4");
        assert_eq!(
            p.next_attempt(&Outcome::Reject("550".into()), 0, 1000),
            None
        );
    }
}
