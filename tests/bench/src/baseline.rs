//! The baselines Signpost is measured against: the bare limit of axum + serde_json on this
//! machine, and that plus the least durable storage a referral could have (one row appended to
//! SQLite in WAL mode, in one transaction, before the 201), or, for Signpost on PostgreSQL, one
//! row inserted into PostgreSQL as `jsonb` in one transaction.
//!
//! Each runs in a process of its own (`signpost-bench baseline ...`), like Signpost, so none of
//! them shares a runtime or a core scheduler with the load generator.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use sqlx::SqlitePool;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

/// Which baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// Parse with serde_json, answer 201, keep nothing.
    Bare,
    /// Parse, then append to SQLite (WAL, `synchronous=FULL` as Signpost) in one transaction.
    Sqlite,
    /// Parse, then insert into PostgreSQL as `jsonb` in one transaction.
    #[value(name = "pg")]
    Postgres,
}

impl Kind {
    /// Its name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Bare => "bare",
            Kind::Sqlite => "sqlite",
            Kind::Postgres => "pg",
        }
    }
}

/// Parses the body as any JSON would be; 400 if it is not JSON.
fn parse(body: &[u8]) -> Result<serde_json::Value, StatusCode> {
    serde_json::from_slice(body).map_err(|_| StatusCode::BAD_REQUEST)
}

async fn bare(body: Bytes) -> StatusCode {
    match parse(&body) {
        Ok(_) => StatusCode::CREATED,
        Err(status) => status,
    }
}

async fn append(State(pool): State<Arc<SqlitePool>>, body: Bytes) -> StatusCode {
    let Ok(json) = parse(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let id = uuid::Uuid::now_v7().to_string();
    let stored = async {
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("INSERT INTO referrals (id, body) VALUES ($1, $2)")
            .bind(&id)
            .bind(json.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    };
    match stored.await {
        Ok(()) => StatusCode::CREATED,
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

async fn insert(State(pool): State<Arc<PgPool>>, body: Bytes) -> StatusCode {
    let Ok(json) = parse(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let id = uuid::Uuid::now_v7().to_string();
    let stored = async {
        let mut tx = pool.begin().await?;
        sqlx::query("INSERT INTO referrals (id, body) VALUES ($1, $2::jsonb)")
            .bind(&id)
            .bind(json.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    };
    match stored.await {
        Ok(()) => StatusCode::CREATED,
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Connects to the baseline's PostgreSQL database with as many connections as Signpost's pool.
async fn connect(url: &str) -> anyhow::Result<PgPool> {
    let pool = PgPoolOptions::new()
        .max_connections(16)
        .connect(url)
        .await?;
    sqlx::query("CREATE TABLE IF NOT EXISTS referrals (id TEXT PRIMARY KEY, body JSONB NOT NULL)")
        .execute(&pool)
        .await?;
    Ok(pool)
}

/// Opens the baseline's database the way Signpost opens its own: WAL, FULL, one writer.
async fn open(db: &std::path::Path) -> anyhow::Result<SqlitePool> {
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", db.display()))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(10));
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?;
    sqlx::query("CREATE TABLE IF NOT EXISTS referrals (id TEXT PRIMARY KEY, body TEXT NOT NULL)")
        .execute(&pool)
        .await?;
    Ok(pool)
}

/// Serves the baseline on `listen` at `POST /fhir/ServiceRequest` until killed; `db` is the
/// SQLite file, or the PostgreSQL URL.
pub async fn serve(kind: Kind, listen: &str, db: &std::path::Path) -> anyhow::Result<()> {
    let app = match kind {
        Kind::Bare => Router::new().route("/fhir/ServiceRequest", post(bare)),
        Kind::Sqlite => Router::new()
            .route("/fhir/ServiceRequest", post(append))
            .with_state(Arc::new(
                open(db).await.context("opening the baseline database")?,
            )),
        Kind::Postgres => Router::new()
            .route("/fhir/ServiceRequest", post(insert))
            .with_state(Arc::new(
                connect(&db.to_string_lossy())
                    .await
                    .context("connecting to the baseline database")?,
            )),
    }
    .route("/healthz", axum::routing::get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    axum::serve(listener, app).await?;
    Ok(())
}
