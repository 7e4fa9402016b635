//! Domain vocabulary shared by every layer: ids, roles, e-mail addresses, attendance statuses,
//! and (one module per aggregate, named like its `storage` module) the plain records that
//! storage builds from its rows and the services and the API pass on.

pub mod attendance;
pub mod audit;
pub mod drafts;
pub mod faces;
pub mod invitations;
pub mod outbox;
pub mod roster;
pub mod students;
pub mod subjects;
pub mod teachers;
pub mod users;

use std::fmt;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU32, Ordering};

use serde::{Deserialize, Serialize};

/// A 24-hex-character id in MongoDB ObjectId layout (4-byte seconds, 5 random bytes drawn once
/// per process, 3-byte counter).
///
/// rollcall uses the seed system's id format so that imported seed ids stay valid verbatim and the
/// seed frontend sees ids of the shape it already handles. As in MongoDB, the ids one process
/// makes grow in the order they are made, so "newest first" (`created_at DESC, id DESC`) keeps
/// the order of creation within a second too: an account created just after a roster import is
/// at the top of the list, not among the import's 40 at random.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Id(String);

static COUNTER: AtomicU32 = AtomicU32::new(0);
static PROCESS: LazyLock<[u8; 5]> = LazyLock::new(rand::random);

impl Id {
    /// A fresh id: time-ordered prefix, this process's random middle, process-wide counter suffix.
    #[must_use]
    pub fn generate() -> Self {
        let secs = u32::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        )
        .unwrap_or(u32::MAX);
        let count = COUNTER.fetch_add(1, Ordering::Relaxed) & 0x00ff_ffff;
        let mut bytes = [0u8; 12];
        bytes[..4].copy_from_slice(&secs.to_be_bytes());
        bytes[4..9].copy_from_slice(&*PROCESS);
        bytes[9..].copy_from_slice(&count.to_be_bytes()[1..]);
        Self(hex::encode(bytes))
    }

    /// Parse an id from untrusted input: exactly 24 hex digits, normalised to lower case.
    pub fn parse(raw: &str) -> Result<Self, InvalidId> {
        if raw.len() == 24 && raw.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Self(raw.to_ascii_lowercase()))
        } else {
            Err(InvalidId)
        }
    }

    /// Wrap a value read back from our own database.
    #[must_use]
    pub fn from_db(raw: String) -> Self {
        Self(raw)
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({})", self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid id: expected 24 hexadecimal characters")]
pub struct InvalidId;

/// What the API documents for an id: the lower-case hex that [`Id`] holds and every answer
/// carries ([`Id::parse`] also takes upper case on input and lowers it).
pub const ID_PATTERN: &str = "^[0-9a-f]{24}$";

/// In the OpenAPI document: a string with [`ID_PATTERN`]. Path and query parameters and body
/// fields that carry an id as a `String` are declared with `value_type = Id`.
impl utoipa::PartialSchema for Id {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(ID_PATTERN))
            .description(Some(
                "24 lower-case hexadecimal digits (the layout of a MongoDB ObjectId)",
            ))
            .examples(["65f1c0ffee0123456789abcd"])
            .into()
    }
}

impl utoipa::ToSchema for Id {
    fn name() -> std::borrow::Cow<'static, str> {
        "Id".into()
    }
}

/// Who an account is. Stored and sent as lower-case strings, as in the seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Teacher,
    Student,
}

impl Role {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Teacher => "teacher",
            Self::Student => "student",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "admin" => Some(Self::Admin),
            "teacher" => Some(Self::Teacher),
            "student" => Some(Self::Student),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A student's attendance in one session. Stored and sent as lower-case strings, as in the seed;
/// late counts as attended or not by the school's rule (`ROLLCALL_LATE_COUNTS_AS_PRESENT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttendanceStatus {
    Present,
    Late,
    Excused,
    Absent,
}

impl AttendanceStatus {
    /// Every status, in the order reports list them.
    pub const ALL: [Self; 4] = [Self::Present, Self::Late, Self::Excused, Self::Absent];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Present => "present",
            Self::Late => "late",
            Self::Excused => "excused",
            Self::Absent => "absent",
        }
    }

    /// Exactly one of the four lower-case words.
    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

impl fmt::Display for AttendanceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An e-mail address, trimmed and lower-cased; checked for a plausible shape at the edge.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Accepts `local@domain.tld` without spaces, quotes or angle brackets, at most 254 bytes.
    pub fn parse(raw: &str) -> Option<Self> {
        let s = raw.trim().to_lowercase();
        if s.is_empty() || s.len() > 254 {
            return None;
        }
        let (local, domain) = s.split_once('@')?;
        let bad = |c: char| c.is_whitespace() || c.is_control() || "<>()[]\\,;:\"@".contains(c);
        let ok_local = !local.is_empty() && local.len() <= 64 && !local.chars().any(bad);
        let ok_domain = domain.contains('.')
            && !domain.starts_with(['.', '-'])
            && !domain.ends_with(['.', '-'])
            && !domain.contains("..")
            && domain
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '.');
        // The transport must be able to send to it: refuse at input what it would refuse later.
        (ok_local && ok_domain && s.parse::<lettre::Address>().is_ok()).then_some(Self(s))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Wrap a value read back from our own database.
    #[must_use]
    pub fn from_db(raw: String) -> Self {
        Self(raw)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_24_hex_and_unique() {
        let a = Id::generate();
        let b = Id::generate();
        assert_eq!(a.as_str().len(), 24);
        assert_ne!(a, b);
        assert_eq!(Id::parse(a.as_str()), Ok(a));
    }

    #[test]
    fn ids_grow_in_the_order_they_are_made() {
        let ids: Vec<Id> = (0..10_000).map(|_| Id::generate()).collect();
        for pair in ids.windows(2) {
            assert!(pair[0] < pair[1], "{} then {}", pair[0], pair[1]);
        }
    }

    #[test]
    fn id_parse_rejects_garbage() {
        assert_eq!(Id::parse("xyz"), Err(InvalidId));
        assert_eq!(Id::parse("65f0c0ffee0000000000a00g"), Err(InvalidId));
        assert_eq!(
            Id::parse("65F0C0FFEE0000000000A001").map(|i| i.to_string()),
            Ok("65f0c0ffee0000000000a001".to_owned())
        );
    }

    #[test]
    fn email_shapes() {
        assert_eq!(
            Email::parse("  Asha@School.EDU ").map(|e| e.to_string()),
            Some("asha@school.edu".into())
        );
        for bad in [
            "",
            "a",
            "a@b",
            "@x.org",
            "a b@x.org",
            "a@x..org",
            "a@-x.org",
            "a@@x.org",
            "<a>@x.org",
        ] {
            assert!(Email::parse(bad).is_none(), "{bad} should be rejected");
        }
    }
}
