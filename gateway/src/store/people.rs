//! The console's people as the store keeps them: accounts, invitations and sessions.

use async_trait::async_trait;

use super::{Instant, StoreError};

/// A person's console account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRecord {
    /// Random id.
    pub id: String,
    /// ODS code of the organisation they act for.
    pub organisation: String,
    /// Their console role's code (`vcs`, `link-worker`, `operator`).
    pub role: String,
    /// Their name, as audited.
    pub name: String,
    /// Their email: what they sign in with.
    pub email: String,
    /// The argon2 PHC string; `None` until the invitation is taken up.
    pub password_hash: Option<String>,
}

/// A console session, signed in or not yet (the sign-in form needs a CSRF token too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// SHA-256 of the session id the cookie carries.
    pub id_hash: String,
    /// Whose session; `None` before sign-in.
    pub account_id: Option<String>,
    /// The CSRF token every form in this session carries.
    pub csrf: String,
    /// When it was last used (for the idle timeout).
    pub last_seen: Instant,
    /// When it ends whatever happens.
    pub expires: Instant,
}

/// Accounts, invitations and sessions.
#[async_trait]
pub trait PeopleStore: Send + Sync {
    /// Adds an account; `false` if its email is taken.
    async fn add_account(&self, account: &AccountRecord) -> Result<bool, StoreError>;
    /// The account with this email.
    async fn account_by_email(&self, email: &str) -> Result<Option<AccountRecord>, StoreError>;
    /// The account with this id.
    async fn account(&self, id: &str) -> Result<Option<AccountRecord>, StoreError>;
    /// Records an invitation (its token's hash) for an account until `expires`.
    async fn add_invitation(
        &self,
        token_hash: &str,
        account_id: &str,
        expires: Instant,
    ) -> Result<(), StoreError>;
    /// The account an unexpired invitation is for, without using it up.
    async fn invitation(&self, token_hash: &str, at: Instant)
    -> Result<Option<String>, StoreError>;
    /// Uses up an unexpired invitation and sets its account's password, in one transaction;
    /// `false` if there was no such invitation (used, expired or never issued).
    async fn accept_invitation(
        &self,
        token_hash: &str,
        password_hash: &str,
        at: Instant,
    ) -> Result<bool, StoreError>;
    /// Starts a session.
    async fn add_session(&self, session: &SessionRecord) -> Result<(), StoreError>;
    /// The live session with this id hash (expired and idle ones are treated as absent by the
    /// caller, which knows the idle timeout).
    async fn session(&self, id_hash: &str) -> Result<Option<SessionRecord>, StoreError>;
    /// Marks a session used now.
    async fn touch_session(&self, id_hash: &str, at: Instant) -> Result<(), StoreError>;
    /// Ends a session (sign-out, rotation at sign-in), and forgets every expired one.
    async fn end_session(&self, id_hash: &str, at: Instant) -> Result<(), StoreError>;
}

/// The same SQL for SQLite and PostgreSQL (both take `$n` placeholders); `$store` has `writer`
/// and `reader` pools, and `$after_write` runs after each write outside the commit queue.
macro_rules! people_store_sql {
    ($store:ty, $after_write:expr) => {
        #[async_trait::async_trait]
        impl $crate::store::people::PeopleStore for $store {
            async fn add_account(
                &self,
                a: &$crate::store::people::AccountRecord,
            ) -> Result<bool, $crate::store::StoreError> {
                let inserted = sqlx::query(
                    "INSERT INTO console_accounts (id, organisation, role, name, email, password_hash, created_us) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (email) DO NOTHING",
                )
                .bind(&a.id)
                .bind(&a.organisation)
                .bind(&a.role)
                .bind(&a.name)
                .bind(&a.email)
                .bind(&a.password_hash)
                .bind($crate::store::now().0)
                .execute(&self.writer)
                .await?
                .rows_affected();
                ($after_write)(self);
                Ok(inserted == 1)
            }

            async fn account_by_email(
                &self,
                email: &str,
            ) -> Result<Option<$crate::store::people::AccountRecord>, $crate::store::StoreError> {
                let row: Option<(String, String, String, String, String, Option<String>)> = sqlx::query_as(
                    "SELECT id, organisation, role, name, email, password_hash FROM console_accounts WHERE email = $1",
                )
                .bind(email)
                .fetch_optional(&self.writer)
                .await?;
                Ok(row.map($crate::store::people::account_from_row))
            }

            async fn account(
                &self,
                id: &str,
            ) -> Result<Option<$crate::store::people::AccountRecord>, $crate::store::StoreError> {
                let row: Option<(String, String, String, String, String, Option<String>)> = sqlx::query_as(
                    "SELECT id, organisation, role, name, email, password_hash FROM console_accounts WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.writer)
                .await?;
                Ok(row.map($crate::store::people::account_from_row))
            }

            async fn add_invitation(
                &self,
                token_hash: &str,
                account_id: &str,
                expires: $crate::store::Instant,
            ) -> Result<(), $crate::store::StoreError> {
                sqlx::query(
                    "INSERT INTO console_invitations (token_hash, account_id, expires_us) VALUES ($1, $2, $3)",
                )
                .bind(token_hash)
                .bind(account_id)
                .bind(expires.0)
                .execute(&self.writer)
                .await?;
                ($after_write)(self);
                Ok(())
            }

            async fn invitation(
                &self,
                token_hash: &str,
                at: $crate::store::Instant,
            ) -> Result<Option<String>, $crate::store::StoreError> {
                Ok(sqlx::query_scalar(
                    "SELECT account_id FROM console_invitations WHERE token_hash = $1 AND expires_us > $2",
                )
                .bind(token_hash)
                .bind(at.0)
                .fetch_optional(&self.writer)
                .await?)
            }

            async fn accept_invitation(
                &self,
                token_hash: &str,
                password_hash: &str,
                at: $crate::store::Instant,
            ) -> Result<bool, $crate::store::StoreError> {
                let mut tx = self.writer.begin().await?;
                let account: Option<String> = sqlx::query_scalar(
                    "DELETE FROM console_invitations WHERE token_hash = $1 AND expires_us > $2 RETURNING account_id",
                )
                .bind(token_hash)
                .bind(at.0)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(account) = account else {
                    return Ok(false);
                };
                sqlx::query("UPDATE console_accounts SET password_hash = $1 WHERE id = $2")
                    .bind(password_hash)
                    .bind(&account)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                ($after_write)(self);
                Ok(true)
            }

            async fn add_session(
                &self,
                s: &$crate::store::people::SessionRecord,
            ) -> Result<(), $crate::store::StoreError> {
                sqlx::query(
                    "INSERT INTO console_sessions (id_hash, account_id, csrf, created_us, last_seen_us, expires_us) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&s.id_hash)
                .bind(&s.account_id)
                .bind(&s.csrf)
                .bind(s.last_seen.0)
                .bind(s.last_seen.0)
                .bind(s.expires.0)
                .execute(&self.writer)
                .await?;
                ($after_write)(self);
                Ok(())
            }

            async fn session(
                &self,
                id_hash: &str,
            ) -> Result<Option<$crate::store::people::SessionRecord>, $crate::store::StoreError> {
                let row: Option<(String, Option<String>, String, i64, i64)> = sqlx::query_as(
                    "SELECT id_hash, account_id, csrf, last_seen_us, expires_us FROM console_sessions WHERE id_hash = $1",
                )
                .bind(id_hash)
                .fetch_optional(&self.writer)
                .await?;
                Ok(row.map(|(id_hash, account_id, csrf, last_seen, expires)| {
                    $crate::store::people::SessionRecord {
                        id_hash,
                        account_id,
                        csrf,
                        last_seen: $crate::store::Instant(last_seen),
                        expires: $crate::store::Instant(expires),
                    }
                }))
            }

            async fn touch_session(
                &self,
                id_hash: &str,
                at: $crate::store::Instant,
            ) -> Result<(), $crate::store::StoreError> {
                sqlx::query("UPDATE console_sessions SET last_seen_us = $1 WHERE id_hash = $2")
                    .bind(at.0)
                    .bind(id_hash)
                    .execute(&self.writer)
                    .await?;
                ($after_write)(self);
                Ok(())
            }

            async fn end_session(
                &self,
                id_hash: &str,
                at: $crate::store::Instant,
            ) -> Result<(), $crate::store::StoreError> {
                sqlx::query("DELETE FROM console_sessions WHERE id_hash = $1 OR expires_us < $2")
                    .bind(id_hash)
                    .bind(at.0)
                    .execute(&self.writer)
                    .await?;
                ($after_write)(self);
                Ok(())
            }
        }
    };
}
pub(crate) use people_store_sql;

/// An `console_accounts` row as a record.
pub(crate) fn account_from_row(
    (id, organisation, role, name, email, password_hash): (
        String,
        String,
        String,
        String,
        String,
        Option<String>,
    ),
) -> AccountRecord {
    AccountRecord {
        id,
        organisation,
        role,
        name,
        email,
        password_hash,
    }
}
