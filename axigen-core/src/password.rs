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

/// [`verify_password`] on tokio's blocking pool when called inside a
/// multi-threaded runtime (argon2 takes tens of milliseconds of CPU), inline
/// otherwise.
pub async fn verify_password_off_runtime(password: &str, phc: &str) -> bool {
    let in_pool = tokio::runtime::Handle::try_current()
        .map(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
        .unwrap_or(false);
    if !in_pool {
        return verify_password(password, phc);
    }
    let (password, phc) = (password.to_owned(), phc.to_owned());
    tokio::task::spawn_blocking(move || verify_password(&password, &phc)).await.unwrap_or(false)
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
}
