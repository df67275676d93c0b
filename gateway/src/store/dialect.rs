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
    /// After a bound JSON parameter: what makes it the JSON column's type.
    const JSON: &'static str;
    /// Whether several statements with parameters can be sent as one script (PostgreSQL
    /// prepares one statement at a time).
    const SCRIPTS: bool;
    /// Deletes the search rows of resource `$1`/`$2` at version `$3` by the keys its row lists,
    /// and moves that version to `resource_versions`; nothing if it is no longer at `$3`.
    const RETIRE: &'static str;
    /// Refreshes the planner's statistics of the resource and search tables.
    const STATISTICS: &'static str;
    /// The text elements of the JSON array bound as `$2`, as a subquery's rows.
    const ID_ELEMENTS: &'static str;
    /// After a `SELECT` of rows the statement or its transaction goes on to change: on
    /// PostgreSQL they are locked, in the order selected, so writers take turns (and two
    /// statements locking the same rows in the same order cannot deadlock); SQLite's single
    /// writer connection already serialises them.
    const ROW_LOCK: &'static str;
    /// Rows a statement changed (sqlx gives each database's result its own method).
    fn rows_affected(result: &Self::QueryResult) -> u64;
}

impl Dialect for sqlx::Sqlite {
    const CLAIM_LOCK: &'static str = "";
    const ID_ELEMENTS: &'static str = "SELECT value FROM json_each($2)";
    const ROW_LOCK: &'static str = "";
    const BODY: &'static str = "body";
    const SEARCH_BODY: &'static str = "r.body";
    const JSON: &'static str = "";
    const SCRIPTS: bool = true;
    const STATISTICS: &'static str = "ANALYZE resources; ANALYZE search_index";
    const RETIRE: &'static str = "DELETE FROM search_index WHERE resource_type = $1 AND resource_id = $2 \
         AND (param, system, value) IN (SELECT k.value ->> 0, k.value ->> 1, k.value ->> 2 \
         FROM resources r, json_each(r.index_keys) k \
         WHERE r.resource_type = $1 AND r.id = $2 AND r.version = $3); \
         INSERT INTO resource_versions (resource_type, id, version, last_updated_us, body) \
         SELECT resource_type, id, version, last_updated_us, body FROM resources \
         WHERE resource_type = $1 AND id = $2 AND version = $3";
    fn rows_affected(result: &Self::QueryResult) -> u64 {
        result.rows_affected()
    }
}

impl Dialect for sqlx::Postgres {
    const CLAIM_LOCK: &'static str = " FOR UPDATE SKIP LOCKED";
    const ID_ELEMENTS: &'static str = "SELECT jsonb_array_elements_text($2::jsonb)";
    const ROW_LOCK: &'static str = " FOR UPDATE";
    const BODY: &'static str = "body::text AS body";
    const SEARCH_BODY: &'static str = "r.body::text";
    const JSON: &'static str = "::jsonb";
    const SCRIPTS: bool = false;
    const STATISTICS: &'static str = "ANALYZE resources, search_index";
    // Locking the row first means a racing update leaves `old` empty, so nothing moves.
    const RETIRE: &'static str = "WITH old AS (SELECT resource_type, id, version, last_updated_us, body, index_keys \
           FROM resources WHERE resource_type = $1 AND id = $2 AND version = $3 FOR UPDATE), \
         gone AS (DELETE FROM search_index s USING old, jsonb_array_elements(old.index_keys) k \
           WHERE s.resource_type = old.resource_type AND s.resource_id = old.id \
             AND s.param = k ->> 0 AND s.system = k ->> 1 AND s.value = k ->> 2) \
         INSERT INTO resource_versions (resource_type, id, version, last_updated_us, body) \
         SELECT resource_type, id, version, last_updated_us, body FROM old";
    fn rows_affected(result: &Self::QueryResult) -> u64 {
        result.rows_affected()
    }
}
