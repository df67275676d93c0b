//! What differs between the SQL of the two stores, as a trait on each sqlx database; the
//! resource and outbox statements are written once over it (`resource_sql`, `outbox_sql`).

use sqlx::Database;

/// One store's SQL where it is not the other's.
pub(super) trait Dialect: Database {
    /// After a claim's candidate query: on PostgreSQL the rows stay locked until leased and
    /// replicas skip them; SQLite has one writer, so nothing.
    const CLAIM_LOCK: &'static str;
    /// The body column in a select list, as JSON text named `body`.
    const BODY: &'static str;
    /// The body of the search's resource `r`, as JSON text.
    const SEARCH_BODY: &'static str;
    /// Rows a statement changed (sqlx gives each database's result its own method).
    fn rows_affected(result: &Self::QueryResult) -> u64;
}

impl Dialect for sqlx::Sqlite {
    const CLAIM_LOCK: &'static str = "";
    const BODY: &'static str = "body";
    const SEARCH_BODY: &'static str = "r.body";
    fn rows_affected(result: &Self::QueryResult) -> u64 {
        result.rows_affected()
    }
}

impl Dialect for sqlx::Postgres {
    const CLAIM_LOCK: &'static str = " FOR UPDATE SKIP LOCKED";
    const BODY: &'static str = "body::text AS body";
    const SEARCH_BODY: &'static str = "r.body::text";
    fn rows_affected(result: &Self::QueryResult) -> u64 {
        result.rows_affected()
    }
}
