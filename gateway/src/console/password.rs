//! Passwords: argon2id with the crate's default parameters (19 MiB, 2 passes, 1 lane, OWASP's
//! minimum), refused when short or among the most common.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

/// Shortest password accepted.
pub const MIN_LENGTH: usize = 12;

/// Passwords of 12 or more characters that top the public breach-frequency lists; a longer list
/// would cost build size for little more.
const COMMON: &[&str] = &[
    "123456789012",
    "1234567890123",
    "12345678910",
    "qwertyuiop12",
    "qwertyuiopas",
    "passwordpassword",
    "password1234",
    "password12345",
    "password123!",
    "iloveyou1234",
    "111111111111",
    "000000000000",
    "123123123123",
    "abc123abc123",
    "qwerty123456",
    "1q2w3e4r5t6y",
    "letmeinletmein",
    "welcome12345",
    "welcome123456",
    "administrator",
    "changeme1234",
    "football1234",
    "princess1234",
    "sunshine1234",
    "trustno1trustno1",
    "aaaaaaaaaaaa",
    "abcdefghijkl",
    "asdfghjkl123",
    "zxcvbnm12345",
    "monkey123456",
];

/// Why a password is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordRefused {
    /// Fewer than [`MIN_LENGTH`] characters.
    #[error("Enter a password of at least 12 characters")]
    TooShort,
    /// On the common list.
    #[error("This password is one of the most common: choose another")]
    Common,
    /// The hash could not be made.
    #[error("The password could not be stored")]
    Hash,
}

/// Checks a new password and answers its PHC string.
pub fn hash(password: &str) -> Result<String, PasswordRefused> {
    if password.chars().count() < MIN_LENGTH {
        return Err(PasswordRefused::TooShort);
    }
    let lowered = password.to_lowercase();
    if COMMON.contains(&lowered.as_str()) {
        return Err(PasswordRefused::Common);
    }
    let salt = super::session::random_bytes::<16>();
    Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| PasswordRefused::Hash)
}

/// Whether `password` matches a stored PHC string.
pub fn verify(password: &str, stored: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), stored)
        .is_ok()
}
