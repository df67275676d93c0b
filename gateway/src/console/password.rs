//! Passwords: argon2id with the crate's default parameters (19 MiB, 2 passes, 1 lane, OWASP's
//! minimum), refused when short or easy to guess (zxcvbn's estimate).

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

/// Shortest password accepted.
pub const MIN_LENGTH: usize = 12;

/// zxcvbn's score a new password must reach: 3 is "safely unguessable" against an online
/// attack (about 10^8 guesses), which the sign-in rate limit makes the realistic one.
const MIN_SCORE: zxcvbn::Score = zxcvbn::Score::Three;

/// Why a password is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordRefused {
    /// Fewer than [`MIN_LENGTH`] characters.
    #[error("Enter a password of at least 12 characters")]
    TooShort,
    /// Easy to guess: a common password, a word with digits, a keyboard pattern, a repetition.
    #[error(
        "This password is too easy to guess: common passwords, words with numbers added, keyboard patterns and repeats are refused. Three or four unrelated words make a strong one"
    )]
    Guessable,
    /// The hash could not be made.
    #[error("The password could not be stored")]
    Hash,
}

/// Checks a new password and answers its PHC string.
pub fn hash(password: &str) -> Result<String, PasswordRefused> {
    if password.chars().count() < MIN_LENGTH {
        return Err(PasswordRefused::TooShort);
    }
    // zxcvbn's dictionaries (leaked passwords, English words, names) and pattern matching refuse
    // far more of what attackers try first than any list short enough to keep here.
    if zxcvbn::zxcvbn(password, &[]).score() < MIN_SCORE {
        return Err(PasswordRefused::Guessable);
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
