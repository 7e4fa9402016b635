//! Invitations (an account created without a password chooses its own through a single-use
//! link) and the office's view of an account: its invitation and what deleting it removes.
//! Storage reads and writes them in `storage::invitations`.

use crate::domain::Id;
use crate::domain::users::User;

/// An account's current invitation link (one per account; a new link replaces the old).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    pub user_id: Id,
    /// When the first link was sent.
    pub first_sent_at: i64,
    /// When the current link was sent.
    pub sent_at: i64,
    pub expires_at: i64,
    pub accepted_at: Option<i64>,
    pub invited_by: Option<Id>,
    pub sent_count: i64,
}

/// Where an account's invitation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationState {
    /// Never invited (the account was created with a password, or before invitations).
    None,
    /// A link is out and still valid.
    Pending,
    /// The link ran out unused; the office can send a new one.
    Expired,
    /// The password was chosen through the link.
    Accepted,
}

impl InvitationState {
    /// The state of `invitation` at `now`.
    #[must_use]
    pub fn of(invitation: Option<&Invitation>, now: i64) -> Self {
        match invitation {
            None => Self::None,
            Some(i) if i.accepted_at.is_some() => Self::Accepted,
            Some(i) if i.expires_at <= now => Self::Expired,
            Some(_) => Self::Pending,
        }
    }

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Pending => "pending",
            Self::Expired => "expired",
            Self::Accepted => "accepted",
        }
    }
}

/// An account as the office lists it: the account, whether it has a password, its invitation.
#[derive(Debug, Clone)]
pub struct Account {
    pub user: User,
    pub has_password: bool,
    pub invitation: Option<Invitation>,
}

/// A subject whose only teacher an account is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectRef {
    pub id: Id,
    pub name: String,
    pub code: String,
}

/// What deleting an account removes (or, for `subjects_left_without_teacher`, leaves behind).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeletionCounts {
    /// Login sessions (live or not), with their refresh tokens.
    pub sessions: i64,
    /// A student's face samples (their photos go when no other row names them).
    pub face_samples: i64,
    /// A student's attendance records.
    pub attendance_records: i64,
    /// A student's enrolments in subjects.
    pub enrolments: i64,
    /// Subjects the account teaches (it is removed from them).
    pub subjects_taught: i64,
    /// Subjects the account is the only teacher of: they stay, with their attendance, without
    /// a teacher until the office adds one.
    pub subjects_left_without_teacher: Vec<SubjectRef>,
    /// E-mails to the account still waiting in the outbox (withdrawn).
    pub queued_mails: i64,
    /// The account's invitation link, if any (0 or 1).
    pub invitations: i64,
}
