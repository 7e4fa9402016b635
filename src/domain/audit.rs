//! The audit trail's entries and what to list of them (storage appends and lists them in
//! `storage::audit`).

/// What to list: every filter is optional; `action` matches exactly or, ending in `.`, as a
/// prefix (`face.` lists every face action).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub target: Option<String>,
    pub since: Option<i64>,
    /// Only entries before this unix time: with `since`, the window `since <= at < until`.
    pub until: Option<i64>,
    pub limit: u32,
    pub offset: u32,
}

/// One audit entry.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: i64,
    pub at: i64,
    pub actor_id: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub detail: Option<String>,
}
