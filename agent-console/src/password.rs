//! Console passwords: Argon2id with the `argon2` crate's default parameters
//! (19 MiB, 2 passes, 1 lane: OWASP's minimum), a random 128-bit salt, kept
//! as a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`).
//!
//! Owns hashing and verifying. Both take tens of milliseconds of CPU: the
//! server calls them on a blocking thread ([`hash_blocking`],
//! [`verify_blocking`]), never on an async task. Must never log or return a
//! password.

use std::sync::LazyLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// The shortest password accepted (characters).
pub const MIN_PASSWORD_CHARS: usize = 10;
/// The longest (bytes): hashing cost does not depend on it, but a limit
/// keeps nonsense out.
pub const MAX_PASSWORD_BYTES: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("the password must have at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("the password must have at most {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
    #[error("the operating system gave no random bytes for the salt")]
    NoRandom,
    #[error("the password could not be hashed")]
    Hash,
}

/// Whether `password` may be set.
pub fn check_new_password(password: &str) -> Result<(), PasswordError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort);
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::TooLong);
    }
    Ok(())
}

/// The PHC string of `password` (checked with [`check_new_password`] first).
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    check_new_password(password)?;
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|_| PasswordError::NoRandom)?;
    let salt = SaltString::encode_b64(&salt).map_err(|_| PasswordError::Hash)?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|_| PasswordError::Hash)
}

/// Whether `password` matches `hash`. A malformed hash never matches.
pub fn verify_password(hash: &str, password: &str) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// A hash no password is known for: verified against when the login does
/// not exist, so that an unknown login takes as long as a wrong password.
static DECOY: LazyLock<String> = LazyLock::new(|| {
    let mut secret = [0u8; 32];
    // Without OS randomness the decoy is still a valid hash of zeros, which
    // no login uses: only the timing matters here.
    let _ = getrandom::fill(&mut secret);
    hash_password(&hex::encode(secret)).unwrap_or_default()
});

/// [`hash_password`] on tokio's blocking pool.
pub async fn hash_blocking(password: String) -> Result<String, PasswordError> {
    tokio::task::spawn_blocking(move || hash_password(&password)).await.map_err(|_| PasswordError::Hash)?
}

/// [`verify_password`] on tokio's blocking pool; `None` (unknown login)
/// checks against a decoy and fails.
pub async fn verify_blocking(hash: Option<String>, password: String) -> bool {
    tokio::task::spawn_blocking(move || match hash {
        Some(hash) => verify_password(&hash, &password),
        None => {
            let _ = verify_password(&DECOY, &password);
            false
        }
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_is_argon2id_with_default_parameters_and_verifies_only_its_password() {
        let hash = hash_password("correct horse battery").expect("hash");
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(verify_password(&hash, "correct horse battery"));
        assert!(!verify_password(&hash, "correct horse battery "));
        assert_ne!(hash, hash_password("correct horse battery").expect("hash"), "salted");
    }

    #[test]
    fn short_long_and_malformed_inputs_are_refused_not_panics() {
        assert_eq!(hash_password("short"), Err(PasswordError::TooShort));
        assert_eq!(hash_password(&"x".repeat(MAX_PASSWORD_BYTES + 1)), Err(PasswordError::TooLong));
        assert!(!verify_password("not a hash", "whatever at all"));
        assert!(!verify_password("$argon2id$v=19$m=1,t=1,p=1$$", "whatever at all"));
    }
}
