//! Password hashing with argon2id (RFC 9106), stored in PHC string format.
//!
//! Verification goes through the `password-hash` crate, whose comparison of
//! the derived key is constant-time. To keep "no such account" and "wrong
//! password" indistinguishable by timing, callers verify against
//! [`dummy_hash`] when the account does not exist.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::Error;

/// Memory cost in KiB, iterations and lanes. 19 MiB / 2 passes / 1 lane is the
/// OWASP-recommended argon2id floor, cheap enough for a login storm on two cores.
const M_COST: u32 = 19 * 1024;
const T_COST: u32 = 2;
const P_COST: u32 = 1;

fn hasher() -> Argon2<'static> {
    let params = Params::new(M_COST, T_COST, P_COST, None).expect("static argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password with a fresh random salt.
pub fn hash_password(password: &str) -> Result<String, Error> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Invalid(format!("cannot hash password: {e}")))
}

/// Checks a password against a stored PHC hash. A malformed hash never matches.
pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => hasher().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// Successful verifications remembered for a while, so that a client that
/// logs in again and again (a phone polling, a webmail request, a mail
/// client opening several connections) does not pay argon2 each time.
///
/// An entry is keyed by the stored PHC string, so a password change (a new
/// salt and hash) retires it at once. It holds a BLAKE3 hash of the
/// password keyed with a random per-process key, never the password. Only
/// successes are remembered: a wrong password always costs the full argon2
/// work, as does a right one not seen within the time to live, so timing
/// tells an attacker nothing it did not know.
#[derive(Debug)]
pub struct VerifiedCache {
    key: [u8; 32],
    ttl: std::time::Duration,
    max_entries: usize,
    entries: std::sync::Mutex<std::collections::HashMap<String, (blake3::Hash, std::time::Instant)>>,
}

impl VerifiedCache {
    /// A cache keeping up to `max_entries` successes for `ttl` each; a zero
    /// `ttl` or size disables it.
    pub fn new(ttl: std::time::Duration, max_entries: usize) -> VerifiedCache {
        let mut key = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
        VerifiedCache { key, ttl, max_entries, entries: std::sync::Mutex::default() }
    }

    fn digest(&self, password: &str) -> blake3::Hash {
        blake3::keyed_hash(&self.key, password.as_bytes())
    }

    /// Whether `password` was verified against `phc` within the time to live.
    pub fn contains(&self, password: &str, phc: &str) -> bool {
        if self.ttl.is_zero() || self.max_entries == 0 {
            return false;
        }
        let digest = self.digest(password);
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        // blake3::Hash compares in constant time.
        entries.get(phc).is_some_and(|(d, at)| *d == digest && at.elapsed() < self.ttl)
    }

    /// Remembers a successful verification.
    pub fn insert(&self, password: &str, phc: &str) {
        if self.ttl.is_zero() || self.max_entries == 0 {
            return;
        }
        let digest = self.digest(password);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.max_entries && !entries.contains_key(phc) {
            let ttl = self.ttl;
            entries.retain(|_, (_, at)| at.elapsed() < ttl);
            if entries.len() >= self.max_entries {
                // Still full of live entries: start again rather than grow.
                entries.clear();
            }
        }
        entries.insert(phc.to_owned(), (digest, std::time::Instant::now()));
    }

    /// Entries held (live or expired).
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// No entry held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The process's cache of successful verifications, used by
/// [`verify_password_off_runtime`]: 10,000 entries for 15 minutes unless
/// [`configure_verified_cache`] said otherwise first.
pub fn verified_cache() -> &'static VerifiedCache {
    VERIFIED.get_or_init(|| VerifiedCache::new(std::time::Duration::from_secs(15 * 60), 10_000))
}

static VERIFIED: OnceLock<VerifiedCache> = OnceLock::new();

/// Sets the time to live and size of [`verified_cache`] (zero disables it).
/// Takes effect only before the first verification; false after.
pub fn configure_verified_cache(ttl: std::time::Duration, max_entries: usize) -> bool {
    VERIFIED.set(VerifiedCache::new(ttl, max_entries)).is_ok()
}

/// Argon2 verifications at once: half the cores (at least one). Each takes
/// 19 MiB and tens of milliseconds of CPU; a login storm (or someone
/// guessing over many connections) queues here instead of taking every
/// core from the sessions already logged in, which keep being served.
fn argon2_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        tokio::sync::Semaphore::new((cores / 2).max(1))
    })
}

/// [`verify_password`] on tokio's blocking pool when called inside a
/// multi-threaded runtime (argon2 takes tens of milliseconds of CPU), inline
/// otherwise.
pub async fn verify_password_off_runtime(password: &str, phc: &str) -> bool {
    let cache = verified_cache();
    if cache.contains(password, phc) {
        return true;
    }
    let in_pool = tokio::runtime::Handle::try_current()
        .map(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
        .unwrap_or(false);
    let ok = if in_pool {
        let _slot = argon2_slots().acquire().await;
        let (p, h) = (password.to_owned(), phc.to_owned());
        tokio::task::spawn_blocking(move || verify_password(&p, &h)).await.unwrap_or(false)
    } else {
        verify_password(password, phc)
    };
    if ok {
        cache.insert(password, phc);
    }
    ok
}

/// A valid hash of a random password, for equal-time failures on unknown users.
pub fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let mut random = [0u8; 24];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut random);
        let pw: String = random.iter().map(|b| format!("{b:02x}")).collect();
        hash_password(&pw).expect("hashing a random password works")
    })
}

/// A random password of `len` characters from an unambiguous alphabet, for
/// first-start admin credentials.
pub fn random_password(len: usize) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    (0..len).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("correct horse", "not a hash"));
        assert!(!verify_password("x", dummy_hash()));
        assert_ne!(h, hash_password("correct horse").unwrap(), "salts differ");
        assert_eq!(random_password(20).len(), 20);
    }

    #[test]
    fn verified_cache_remembers_successes_per_stored_hash() {
        let cache = VerifiedCache::new(std::time::Duration::from_secs(60), 2);
        let (h1, h2, h3) = ("$argon2id$one", "$argon2id$two", "$argon2id$three");
        assert!(!cache.contains("pw", h1));
        cache.insert("pw", h1);
        assert!(cache.contains("pw", h1));
        assert!(!cache.contains("other", h1), "another password is not a hit");
        assert!(!cache.contains("pw", h2), "a new hash (a password change) is not a hit");
        cache.insert("pw", h2);
        cache.insert("pw", h3);
        assert!(cache.len() <= 2);
        assert!(cache.contains("pw", h3));
        // Expired entries are not hits; a disabled cache keeps nothing.
        let short = VerifiedCache::new(std::time::Duration::from_millis(1), 10);
        short.insert("pw", h1);
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert!(!short.contains("pw", h1));
        let off = VerifiedCache::new(std::time::Duration::ZERO, 10);
        off.insert("pw", h1);
        assert!(off.is_empty() && !off.contains("pw", h1));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn off_runtime_verification_uses_the_cache() {
        let h = hash_password("cached horse").unwrap();
        assert!(!verify_password_off_runtime("wrong", &h).await);
        assert!(!verified_cache().contains("wrong", &h), "failures are never remembered");
        assert!(verify_password_off_runtime("cached horse", &h).await);
        assert!(verified_cache().contains("cached horse", &h));
        assert!(verify_password_off_runtime("cached horse", &h).await);
        assert!(!verify_password_off_runtime("wrong", &h).await);
    }
}
