//! A PostgreSQL database of a test's own, for the store contract tests here and the PostgreSQL
//! store's unit tests in the library (which include this file by path).

/// A fresh PostgreSQL database on the server `SIGNPOST_TEST_POSTGRES` names (default
/// `postgres://postgres@127.0.0.1:5432/test`), dropped with its connections when this is dropped,
/// also when the test fails.
pub struct TempPostgres {
    /// The database's URL.
    pub url: String,
    admin: String,
    name: String,
}

impl TempPostgres {
    /// Creates the database.
    pub async fn create() -> Self {
        use sqlx::Connection;
        let admin = std::env::var("SIGNPOST_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let name = format!("signpost_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| {
                panic!("PostgreSQL at {admin} is needed for this test (.ci/run starts it): {e}")
            });
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create database");
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        Self {
            url: format!("{base}/{name}"),
            admin,
            name,
        }
    }
}

impl Drop for TempPostgres {
    /// Drops the database on a thread and runtime of its own: `Drop` cannot await, and the test's
    /// runtime may be the single thread this runs on.
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(&admin)
                    .await
                    .map_err(|e| e.to_string())?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            // Failing here while a test is already failing would abort the process and hide why.
            Ok(Err(e)) if !std::thread::panicking() => {
                panic!("could not drop the test database {}: {e}", self.name)
            }
            Ok(Err(e)) => eprintln!("could not drop the test database {}: {e}", self.name),
            Err(_) => eprintln!("dropping the test database {} panicked", self.name),
        }
    }
}
