//! Messages in the mail outbox as administrators and senders see them (storage queues and
//! lists them in `storage::outbox`).

/// One outbox message (without its body).
#[derive(Debug, Clone)]
pub struct Message {
    pub id: i64,
    pub kind: String,
    pub recipient: String,
    pub recipient_name: Option<String>,
    pub subject: String,
    pub status: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub next_attempt_at: i64,
    pub created_at: i64,
    pub sent_at: Option<i64>,
    pub sent_by: Option<String>,
    pub meta: Option<String>,
}

/// A message's delivery state as people read it: `queued` (pending, never tried), `retrying`
/// (pending after failed attempts), `sent` (accepted by the relay) or `dead` (given up on).
pub const STATES: [&str; 4] = ["queued", "retrying", "sent", "dead"];

impl Message {
    /// The message's state (one of [`STATES`]).
    #[must_use]
    pub fn state(&self) -> &'static str {
        match (self.status.as_str(), self.attempts) {
            ("sent", _) => "sent",
            ("dead", _) => "dead",
            (_, 0) => "queued",
            _ => "retrying",
        }
    }
}
