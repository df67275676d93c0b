//! The PostgreSQL targets' databases and what the server says they cost: each target gets a
//! database of its own on the same server, so `pg_stat_database`'s counters for it are that
//! target's alone (read once its processes have stopped, when their sessions have flushed them).

use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::PgPool;
use sqlx::{Connection, Row};

/// The server the PostgreSQL targets share, reached through an administrative database.
pub struct Server {
    admin: PgPool,
    admin_url: String,
    run: String,
}

/// A target's database.
pub struct Database {
    /// Its name.
    pub name: String,
    /// Its URL.
    pub url: String,
}

/// The server's counters for one database over a target's life, and what it stored.
#[derive(Debug, Clone, Copy)]
pub struct Cost {
    /// Transactions committed.
    pub commits: i64,
    /// Transactions rolled back.
    pub rollbacks: i64,
    /// Rows inserted, updated and deleted.
    pub rows_written: i64,
    /// Time the server spent executing statements for it.
    pub active: Duration,
    /// Referrals stored.
    pub referrals: i64,
}

impl Cost {
    /// A counter per referral stored.
    pub fn per_referral(&self, value: f64) -> Option<f64> {
        (self.referrals > 0).then(|| value / self.referrals as f64)
    }
}

/// The database URL `admin_url` names, with its database replaced by `name`.
fn with_database(admin_url: &str, name: &str) -> anyhow::Result<String> {
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (admin_url, None),
    };
    let authority_end = base
        .find("://")
        .map(|i| i + 3)
        .context("a postgres:// URL")?;
    let host_part = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    Ok(match query {
        Some(q) => format!("{host_part}/{name}?{q}"),
        None => format!("{host_part}/{name}"),
    })
}

impl Server {
    /// Connects to `admin_url`; `run` keeps this run's database names apart from others'.
    pub async fn connect(admin_url: &str, run: &str) -> anyhow::Result<Self> {
        let admin = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(admin_url)
            .await
            .with_context(|| format!("connecting to {admin_url}"))?;
        Ok(Self {
            admin,
            admin_url: admin_url.to_owned(),
            run: run.to_owned(),
        })
    }

    /// Creates an empty database for the target `target`.
    pub async fn create(&self, target: &str) -> anyhow::Result<Database> {
        let name = format!("signpost_bench_{}_{}", self.run, target.replace('-', "_"));
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&self.admin)
            .await
            .with_context(|| format!("creating database {name}"))?;
        let url = with_database(&self.admin_url, &name)?;
        Ok(Database { name, url })
    }

    /// What `database` cost the server, once everything using it has stopped; `stored` counts
    /// the referrals in it.
    pub async fn cost(&self, database: &Database, stored: &str) -> anyhow::Result<Cost> {
        let mut conn = sqlx::PgConnection::connect(&database.url).await?;
        let referrals: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(stored.to_owned()))
            .fetch_one(&mut conn)
            .await
            .context("counting the referrals stored")?;
        conn.close().await?;
        // Sessions flush their counters when they end; the stopped targets' have.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let row = sqlx::query(
            "SELECT xact_commit, xact_rollback, tup_inserted + tup_updated + tup_deleted AS written, \
             active_time FROM pg_stat_database WHERE datname = $1",
        )
        .bind(&database.name)
        .fetch_one(&self.admin)
        .await?;
        let active_ms: f64 = row.try_get("active_time")?;
        Ok(Cost {
            commits: row.try_get("xact_commit")?,
            rollbacks: row.try_get("xact_rollback")?,
            rows_written: row.try_get("written")?,
            active: Duration::from_secs_f64(active_ms / 1000.0),
            referrals,
        })
    }

    /// Drops every database this run created, whatever became of its targets.
    pub async fn drop_all(&self) -> anyhow::Result<()> {
        let names: Vec<String> =
            sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE $1")
                .bind(format!("signpost_bench_{}_%", self.run))
                .fetch_all(&self.admin)
                .await?;
        for name in names {
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&self.admin)
            .await?;
        }
        Ok(())
    }

    /// Drops `database` (its users have stopped).
    pub async fn drop_database(&self, database: &Database) -> anyhow::Result<()> {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            database.name
        )))
        .execute(&self.admin)
        .await?;
        Ok(())
    }
}

/// Statements Signpost sent, from its `sqlx::query` log lines (one per statement; Signpost's
/// log keeps none of their fields).
#[derive(Debug, Clone, Copy, Default)]
pub struct Statements {
    /// Statements logged.
    pub count: usize,
}

/// Counts the `sqlx::query` lines of a log.
pub fn statements_in(log: &str) -> Statements {
    Statements {
        count: log
            .lines()
            .filter(|l| l.contains("\"sqlx::query\""))
            .count(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_replaces_the_admin_one_and_keeps_the_options() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "b").expect("url"),
            "postgres://postgres@127.0.0.1:5432/b"
        );
        assert_eq!(
            with_database("postgres://u@h/x?sslmode=disable", "b").expect("url"),
            "postgres://u@h/b?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://u@h:1", "b").expect("url"),
            "postgres://u@h:1/b"
        );
    }

    #[test]
    fn statements_are_the_sqlx_query_lines() {
        let log = concat!(
            r#"{"level":"DEBUG","target":"sqlx::query"}"#,
            "\n",
            r#"{"level":"INFO","target":"signpost_gateway::workflow","message":"referral accepted"}"#,
            "\n",
            r#"{"level":"DEBUG","target":"sqlx::query"}"#,
            "\n"
        );
        assert_eq!(statements_in(log).count, 2);
    }
}
