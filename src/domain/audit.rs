//! What to list from the audit trail (storage appends and lists it in `storage::audit`).

/// What to list: every filter is optional; `action` matches exactly or, ending in `.`, as a
/// prefix (`face.` lists every face action).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub target: Option<String>,
    pub since: Option<i64>,
    pub limit: u32,
    pub offset: u32,
}
