//! Console accounts: who a person is, what they do, and how they are invited.

use signpost_profiles::OdsCode;

use super::session::{hash_token, random_token};
use crate::store::{AccountRecord, Instant, Store, StoreError, now};

/// How long an invitation link works.
pub const INVITATION_DAYS: i64 = 7;

/// A person's part in the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleRole {
    /// A volunteer of a VCS organisation.
    Vcs,
    /// A link worker without a platform.
    LinkWorker,
    /// A Signpost operator.
    Operator,
}

impl ConsoleRole {
    /// The code stored and given on the command line.
    pub fn code(self) -> &'static str {
        match self {
            ConsoleRole::Vcs => "vcs",
            ConsoleRole::LinkWorker => "link-worker",
            ConsoleRole::Operator => "operator",
        }
    }

    /// Parses a stored or typed code.
    pub fn parse(code: &str) -> Option<Self> {
        [
            ConsoleRole::Vcs,
            ConsoleRole::LinkWorker,
            ConsoleRole::Operator,
        ]
        .into_iter()
        .find(|r| r.code() == code)
    }
}

/// Why an account cannot be added.
#[derive(Debug, thiserror::Error)]
pub enum AddAccountError {
    /// The email is already an account's.
    #[error("an account with the email {0} already exists")]
    EmailTaken(String),
    /// The email has no `@`.
    #[error("--email {0:?} is not an email address")]
    BadEmail(String),
    /// The name is empty.
    #[error("--name must not be empty")]
    NoName,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Adds an account without a password and answers the invitation token (shown once, kept hashed).
pub async fn add_account(
    store: &dyn Store,
    organisation: &OdsCode,
    role: ConsoleRole,
    name: &str,
    email: &str,
) -> Result<String, AddAccountError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(AddAccountError::NoName);
    }
    let email = email.trim().to_lowercase();
    if !email.contains('@') {
        return Err(AddAccountError::BadEmail(email));
    }
    let account = AccountRecord {
        id: uuid::Uuid::new_v4().to_string(),
        organisation: organisation.to_string(),
        role: role.code().to_owned(),
        name: name.to_owned(),
        email: email.clone(),
        password_hash: None,
    };
    if !store.add_account(&account).await? {
        return Err(AddAccountError::EmailTaken(email));
    }
    let token = random_token();
    let expires = Instant(now().0 + INVITATION_DAYS * 86_400 * 1_000_000);
    store
        .add_invitation(&hash_token(&token), &account.id, expires)
        .await?;
    Ok(token)
}
