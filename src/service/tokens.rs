//! Access tokens (HS256 JWT, seed-compatible claims) and opaque refresh tokens / one-time secrets.

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Claims of an access token. `user_id`, `role` and `email` are what the seed issued (its frontend
/// and tools read them); `sub` mirrors `user_id`; `sid` ties the token to a revocable login session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub user_id: String,
    pub role: String,
    pub email: String,
    pub sid: String,
    pub iat: i64,
    pub exp: i64,
}

pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    mac_key: Vec<u8>,
    /// Signs face-photo links; derived from the secret, so a link's signature says nothing
    /// usable about the key that signs tokens.
    link_key: Vec<u8>,
}

impl Keys {
    #[must_use]
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        // Expiry is checked against the server's clock in `verify_at` (tests move that clock).
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            mac_key: secret.to_vec(),
            link_key: hmac_sha256(secret, b"rollcall image link key v1"),
        }
    }

    /// The signature of a face-photo link: HMAC-SHA256, under a key derived from the secret,
    /// of the photo's path, the account it was issued to and its expiry (Unix seconds).
    #[must_use]
    pub fn sign_link(&self, path: &str, viewer: &str, expires: i64) -> String {
        let data = format!("{path}\n{viewer}\n{expires}");
        hex::encode(hmac_sha256(&self.link_key, data.as_bytes()))
    }

    /// Whether `sig` signs exactly this path, viewer and expiry (constant time).
    #[must_use]
    pub fn link_signed(&self, path: &str, viewer: &str, expires: i64, sig: &str) -> bool {
        constant_time_eq(&self.sign_link(path, viewer, expires), sig)
    }

    pub fn sign(&self, claims: &Claims) -> anyhow::Result<String> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| anyhow::anyhow!("signing token: {e}"))
    }

    /// Verify signature, algorithm and expiry against the system clock. Any failure is just
    /// "invalid".
    pub fn verify(&self, token: &str) -> Option<Claims> {
        self.verify_at(token, crate::storage::now_unix())
    }

    /// Verify signature and algorithm, and that the token has not expired at `now`.
    pub fn verify_at(&self, token: &str, now: i64) -> Option<Claims> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()
            .map(|d| d.claims)
            .filter(|c| c.exp > now)
    }

    /// Keyed hash for short one-time codes, so a leaked database does not reveal them by brute force.
    #[must_use]
    pub fn mac(&self, purpose: &str, value: &str) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.mac_key) else {
            unreachable!("HMAC accepts keys of any length")
        };
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        unreachable!("HMAC accepts keys of any length")
    };
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// A random URL-safe secret (256 bits) for refresh tokens and e-mail links.
#[must_use]
pub fn random_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// SHA-256 hex of a high-entropy secret: what the database stores instead of the secret.
#[must_use]
pub fn sha256_hex(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// Constant-time string comparison for secrets.
#[must_use]
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims {
            sub: "u".into(),
            user_id: "u".into(),
            role: "teacher".into(),
            email: "t@x.org".into(),
            sid: "s".into(),
            iat: 0,
            exp,
        }
    }

    #[test]
    fn sign_verify_and_reject_tampering() {
        let keys = Keys::new(&[7u8; 32]);
        let far = crate::storage::now_unix() + 60;
        let token = keys.sign(&claims(far)).unwrap_or_default();
        assert_eq!(keys.verify(&token).map(|c| c.role), Some("teacher".into()));
        assert!(
            Keys::new(&[8u8; 32]).verify(&token).is_none(),
            "other secret"
        );
        let expired = keys
            .sign(&claims(crate::storage::now_unix() - 1))
            .unwrap_or_default();
        assert!(keys.verify(&expired).is_none(), "expired");
        let mut tampered = token.clone();
        tampered.pop();
        tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert!(keys.verify(&tampered).is_none(), "tampered signature");
    }

    #[test]
    fn a_link_signature_covers_path_viewer_and_expiry() {
        let k = Keys::new(&[3u8; 32]);
        let sig = k.sign_link("/api/students/a/faces/b/image", "v", 100);
        assert!(k.link_signed("/api/students/a/faces/b/image", "v", 100, &sig));
        assert!(!k.link_signed("/api/students/a/faces/c/image", "v", 100, &sig));
        assert!(!k.link_signed("/api/students/a/faces/b/image", "w", 100, &sig));
        assert!(!k.link_signed("/api/students/a/faces/b/image", "v", 101, &sig));
        assert!(!Keys::new(&[4u8; 32]).link_signed(
            "/api/students/a/faces/b/image",
            "v",
            100,
            &sig
        ));
        assert_ne!(
            sig,
            k.mac("image-link", "/api/students/a/faces/b/image\nv\n100")
        );
    }

    #[test]
    fn mac_depends_on_purpose_and_key() {
        let k = Keys::new(&[1u8; 32]);
        assert_ne!(k.mac("otp", "123456"), k.mac("other", "123456"));
        assert_ne!(
            k.mac("otp", "123456"),
            Keys::new(&[2u8; 32]).mac("otp", "123456")
        );
        assert!(
            constant_time_eq("abc", "abc")
                && !constant_time_eq("abc", "abd")
                && !constant_time_eq("a", "ab")
        );
    }
}
