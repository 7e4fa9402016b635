//! Password hashing (argon2id, OWASP parameters) and the password policy. Synchronous and slow
//! on purpose: callers run it through [`super::blocking`]. Accounts imported from the seed system
//! keep its legacy hash, bcrypt over the hex SHA-256 of the trimmed password, until their next
//! successful login replaces it with argon2id ([`is_legacy`]).

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use sha2::{Digest, Sha256};

pub const MIN_LEN: usize = 8;
pub const MAX_LEN: usize = 128;

/// Check the policy: 8 to 128 characters, not only whitespace.
pub fn check_policy(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_LEN {
        return Err(format!("Password must be at least {MIN_LEN} characters"));
    }
    if n > MAX_LEN {
        return Err(format!("Password must be at most {MAX_LEN} characters"));
    }
    if password.trim().is_empty() {
        return Err("Password must not be blank".into());
    }
    Ok(())
}

/// Hash to a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`).
pub fn hash(password: &str) -> anyhow::Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing password: {e}"))
}

/// True when `password` matches `stored` (argon2id, or the seed's legacy bcrypt); an unparsable
/// hash never matches.
#[must_use]
pub fn verify(password: &str, stored: &str) -> bool {
    if is_legacy(stored) {
        let digest = hex::encode(Sha256::digest(password.trim().as_bytes()));
        return bcrypt::verify(digest, stored).unwrap_or(false);
    }
    PasswordHash::new(stored).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// True for the seed system's hashes (bcrypt, `$2a$` / `$2b$` / `$2y$`).
#[must_use]
pub fn is_legacy(stored: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"]
        .iter()
        .any(|prefix| stored.starts_with(prefix))
}

/// A random password for generated accounts: 20 characters from an unambiguous alphabet.
#[must_use]
pub fn generate() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    (0..20)
        .map(|_| char::from(ALPHABET[rand::random_range(0..ALPHABET.len())]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_then_verify() {
        let h = hash("correct horse").unwrap_or_else(|e| panic!("{e}"));
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse", &h));
        assert!(!verify("correct horsE", &h));
        assert!(!verify("correct horse", "not a hash"));
    }

    #[test]
    fn legacy_seed_hash() {
        // What the seed stores: bcrypt over the hex SHA-256 of the trimmed password.
        let digest = hex::encode(Sha256::digest(b"correct horse"));
        let stored = bcrypt::hash(digest, 4).unwrap_or_else(|e| panic!("{e}"));
        assert!(is_legacy(&stored));
        assert!(verify("correct horse", &stored));
        assert!(verify("  correct horse ", &stored));
        assert!(!verify("correct horsE", &stored));
        assert!(!verify("correct horse", "$2b$04$not-a-real-hash"));
        let fresh = hash("correct horse").unwrap_or_else(|e| panic!("{e}"));
        assert!(!is_legacy(&fresh));
    }

    #[test]
    fn policy() {
        assert!(check_policy("short").is_err());
        assert!(check_policy("        ").is_err());
        assert!(check_policy(&"x".repeat(129)).is_err());
        assert!(check_policy("password123").is_ok());
        assert_eq!(generate().len(), 20);
    }
}
