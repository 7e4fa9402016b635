//! Password hashing (argon2id, OWASP parameters) and the password policy. Slow on purpose, so
//! every hash and check a request causes runs through one [`HashPool`]: at most
//! `ROLLCALL_HASH_WORKERS` at a time on the blocking pool, each in a reusable 19 MiB buffer the
//! pool owns, so memory stays at workers x 19 MiB however many requests arrive; a request that
//! cannot get a worker within `ROLLCALL_HASH_WAIT_MS` is told to come back (503). The plain
//! [`hash`] and [`verify`] are for start-up and the command line. Accounts imported from the seed
//! system keep its legacy hash, bcrypt over the hex SHA-256 of the trimmed password, until their
//! next successful login replaces it with argon2id ([`is_legacy`]).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use sha2::{Digest, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{Error, blocking};

pub const MIN_LEN: usize = 8;

/// The stored `password_hash` of an account that has no password yet: one the school office
/// created and invited to choose its own (`service::invitations`). It is no PHC string and no
/// bcrypt hash, so no password ever matches it; [`verify_with`] refuses it before any hashing.
pub const NO_PASSWORD: &str = "!no-password:invited";

/// True when `stored` is [`NO_PASSWORD`]: the account cannot log in with any password.
#[must_use]
pub fn is_unset(stored: &str) -> bool {
    stored == NO_PASSWORD
}
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

/// Working memory of one argon2 run: 1 KiB blocks.
pub type Memory = Vec<Block>;

/// The largest working memory a stored hash may ask for (64 MiB); ours ask for 19 MiB.
const MAX_BLOCKS: usize = 64 * 1024;

/// Hash to a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`) in a buffer of its own.
pub fn hash(password: &str) -> anyhow::Result<String> {
    hash_with(password, &mut Memory::new())
}

/// True when `password` matches `stored`, in a buffer of its own.
#[must_use]
pub fn verify(password: &str, stored: &str) -> bool {
    verify_with(password, stored, &mut Memory::new())
}

/// Make `memory` at least `blocks` long; false when a hash asks for more than we allow.
fn reserve(memory: &mut Memory, blocks: usize) -> bool {
    if blocks > MAX_BLOCKS {
        return false;
    }
    if memory.len() < blocks {
        memory.resize(blocks, Block::new());
    }
    true
}

/// Hash with argon2id and the default parameters, using `memory` as argon2's working memory
/// (grown to 19 MiB on first use and reused afterwards; argon2 overwrites it before reading).
pub fn hash_with(password: &str, memory: &mut Memory) -> anyhow::Result<String> {
    let params = Params::default();
    let blocks = params.block_count();
    anyhow::ensure!(reserve(memory, blocks), "argon2 memory limit");
    let salt = Salt::new(&rand::random::<[u8; Salt::RECOMMENDED_LENGTH]>())
        .map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, &mut memory[..blocks])
        .map_err(|e| anyhow::anyhow!("hashing password: {e}"))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| anyhow::anyhow!("params: {e}"))?,
        salt: Some(salt),
        hash: Some(Output::new(&out).map_err(|e| anyhow::anyhow!("output: {e}"))?),
    };
    Ok(phc.to_string())
}

/// True when `password` matches `stored` (argon2, or the seed's legacy bcrypt), using `memory`
/// as argon2's working memory; an unparsable hash never matches.
#[must_use]
pub fn verify_with(password: &str, stored: &str, memory: &mut Memory) -> bool {
    if is_unset(stored) {
        return false;
    }
    if is_legacy(stored) {
        let digest = hex::encode(Sha256::digest(password.trim().as_bytes()));
        return bcrypt::verify(digest, stored).unwrap_or(false);
    }
    let Ok(phc) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&phc.salt, &phc.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(version), Ok(params)) = (
        Algorithm::try_from(phc.algorithm.as_str()),
        phc.version
            .map_or(Ok(Version::default()), Version::try_from),
        Params::try_from(&phc),
    ) else {
        return false;
    };
    let blocks = params.block_count();
    if !reserve(memory, blocks) {
        return false;
    }
    let mut out = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut memory[..blocks])
        .is_ok()
        // `Output` compares in constant time.
        && Output::new(&out).is_ok_and(|computed| &computed == expected)
}

/// At most `workers` password hashes at a time, each in one of the pool's own buffers.
#[derive(Clone)]
pub struct HashPool {
    permits: Arc<Semaphore>,
    buffers: Arc<Mutex<Vec<Memory>>>,
    wait: Duration,
}

/// The right to run password hashes, with a working buffer; returned to the pool when dropped.
pub struct HashSlot {
    _permit: OwnedSemaphorePermit,
    memory: Option<Memory>,
    buffers: Arc<Mutex<Vec<Memory>>>,
}

impl HashPool {
    #[must_use]
    pub fn new(workers: usize, wait: Duration) -> Self {
        let workers = workers.max(1);
        Self {
            permits: Arc::new(Semaphore::new(workers)),
            buffers: Arc::new(Mutex::new(Vec::with_capacity(workers))),
            wait,
        }
    }

    /// Wait (at most the configured time) for a free worker; [`Error::Busy`] (503) otherwise.
    pub async fn acquire(&self) -> super::Result<HashSlot> {
        let busy = || {
            crate::telemetry::busy(crate::telemetry::Resource::PasswordHashing);
            Error::Busy("The server is busy checking passwords; try again in a few seconds".into())
        };
        let permit = tokio::time::timeout(self.wait, Arc::clone(&self.permits).acquire_owned())
            .await
            .map_err(|_| busy())?
            .map_err(|_| busy())?;
        let memory = self
            .buffers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
            .unwrap_or_default();
        Ok(HashSlot {
            _permit: permit,
            memory: Some(memory),
            buffers: Arc::clone(&self.buffers),
        })
    }

    /// Hash a new password (waits for a worker first).
    pub async fn hash(&self, password: String) -> super::Result<String> {
        self.acquire().await?.hash(password).await
    }
}

impl HashSlot {
    /// Run `f` with the slot's buffer on the blocking pool; the buffer comes back afterwards.
    async fn run<R: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut Memory) -> R + Send + 'static,
    ) -> super::Result<R> {
        let mut memory = self.memory.take().unwrap_or_default();
        let (r, memory) = blocking(move || {
            let r = f(&mut memory);
            (r, memory)
        })
        .await?;
        self.memory = Some(memory);
        Ok(r)
    }

    pub async fn hash(&mut self, password: String) -> super::Result<String> {
        Ok(self.run(move |m| hash_with(&password, m)).await??)
    }

    pub async fn verify(&mut self, password: String, stored: String) -> super::Result<bool> {
        self.run(move |m| verify_with(&password, &stored, m)).await
    }
}

impl Drop for HashSlot {
    fn drop(&mut self) {
        if let Some(memory) = self.memory.take() {
            self.buffers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(memory);
        }
    }
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

    /// Our own hashing with a reused (dirty) buffer gives standard PHC strings that the argon2
    /// crate's verifier accepts, and we accept the crate's own hashes.
    #[test]
    fn buffered_hashing_is_standard_argon2id() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let mut memory = Memory::new();
        let first = hash_with("correct horse", &mut memory).unwrap_or_else(|e| panic!("{e}"));
        let second = hash_with("battery staple", &mut memory).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            second.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{second}"
        );
        assert_eq!(memory.len(), 19 * 1024, "one 19 MiB buffer, reused");
        for (pw, h) in [("correct horse", &first), ("battery staple", &second)] {
            let parsed = PasswordHash::new(h).unwrap_or_else(|e| panic!("{e}"));
            assert!(
                Argon2::default()
                    .verify_password(pw.as_bytes(), &parsed)
                    .is_ok()
            );
            assert!(verify_with(pw, h, &mut memory));
            assert!(!verify_with("wrong", h, &mut memory));
        }
        let theirs = Argon2::default()
            .hash_password(b"from the crate")
            .unwrap_or_else(|e| panic!("{e}"))
            .to_string();
        assert!(verify_with("from the crate", &theirs, &mut memory));
        let greedy = theirs.replace("m=19456", "m=1048576");
        assert!(
            !verify_with("from the crate", &greedy, &mut memory),
            "1 GiB is refused"
        );
        assert_eq!(memory.len(), 19 * 1024);
    }

    /// Requests beyond the workers wait at most the configured time, then get 503; each worker
    /// keeps one buffer, so the pool never holds more than workers x 19 MiB.
    #[tokio::test]
    async fn the_pool_admits_its_workers_and_turns_the_rest_away() {
        let pool = HashPool::new(1, Duration::from_millis(20));
        let mut slot = pool.acquire().await.unwrap_or_else(|e| panic!("{e}"));
        let busy = pool.acquire().await.err();
        assert!(matches!(busy, Some(Error::Busy(_))), "{busy:?}");
        let h = slot
            .hash("pool password".into())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            slot.verify("pool password".into(), h)
                .await
                .unwrap_or(false)
        );
        drop(slot);
        assert_eq!(pool.buffers.lock().map(|b| b.len()).unwrap_or(0), 1);
        let again = pool.acquire().await;
        assert!(again.is_ok(), "the worker is free again");
        assert_eq!(
            pool.buffers.lock().map(|b| b.len()).unwrap_or(9),
            0,
            "its buffer is in use"
        );
    }

    /// An invited account's placeholder matches nothing, not even itself, without hashing or
    /// panicking, through every path (plain, buffered, the pool).
    #[tokio::test]
    async fn no_password_never_matches() {
        assert!(is_unset(NO_PASSWORD));
        assert!(!is_legacy(NO_PASSWORD));
        for pw in ["", NO_PASSWORD, "password123", "!no-password:invited"] {
            assert!(!verify(pw, NO_PASSWORD));
            let mut memory = Memory::new();
            assert!(!verify_with(pw, NO_PASSWORD, &mut memory));
            assert!(memory.is_empty(), "no argon2 buffer was needed");
        }
        let pool = HashPool::new(1, Duration::from_millis(500));
        let mut slot = pool.acquire().await.unwrap_or_else(|e| panic!("{e}"));
        let matched = slot
            .verify("password123".into(), NO_PASSWORD.into())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!matched);
        let real = hash("password123").unwrap_or_else(|e| panic!("{e}"));
        assert!(!is_unset(&real));
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
