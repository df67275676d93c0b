//! `signpost serve`: open the store, start the delivery worker, listen, and stop gracefully.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use std::sync::atomic::Ordering;

use tokio::sync::{Notify, watch};

use crate::app::app;
use crate::auth::{ClientKeys, TokenSigner};
use crate::config::Config;
use crate::delivery::DeliveryWorker;
use crate::routing::Directory;
use crate::state::AppState;
use crate::store::{PostgresStore, SqliteStore, Store, StoreError, WithDeadline};

/// Opens the store a URL names: `sqlite://FILE` or `postgres://...`.
pub async fn open_store(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStore::open(url).await?))
    } else {
        Ok(Arc::new(SqliteStore::open(url).await?))
    }
}

/// A store URL fit for a log or an error message: no password.
fn redact_password(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => match url[scheme + 3..at].split_once(':') {
            Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
            None => url.to_owned(),
        },
        _ => url.to_owned(),
    }
}

/// Everything a running gateway holds, ready to serve.
pub struct Gateway {
    /// Handler state.
    pub state: AppState,
    listener: tokio::net::TcpListener,
    /// Routes served beside the API that need none of its state (the sandbox's demo partners).
    extra: axum::Router,
}

impl Gateway {
    /// Opens the store (running migrations) and binds the listener.
    pub async fn start(config: Config) -> anyhow::Result<Self> {
        // Reading the definitions is CPU work of tens of milliseconds, opening the store mostly
        // waiting for fsyncs: done side by side, a start waits for the longer of the two only.
        let definitions = std::thread::Builder::new()
            .name("signpost-definitions".into())
            .spawn(|| signpost_profiles::Validator::standard().map(|_| ()))
            .context("starting the thread that reads the definitions")?;
        let store = open_store(&config.store.url).await.with_context(|| {
            format!(
                "opening the store at {}",
                redact_password(&config.store.url)
            )
        })?;
        let store: Arc<dyn Store> = Arc::new(WithDeadline::new(
            store,
            Duration::from_millis(config.store.call_timeout_ms),
        ));
        crate::telemetry::metrics::handle();
        let directory = Directory::from_config(&config)?;
        // Before the first request, so a declared service is there to be found and referred to.
        let declared = crate::workflow::import_directory::load_declared(
            store.as_ref(),
            &config.directory.services,
        )
        .await
        .context("loading the services declared in [[directory.service]]")?;
        if !config.directory.services.is_empty() || declared.deactivated > 0 {
            tracing::info!(
                created = declared.created,
                updated = declared.updated,
                unchanged = declared.unchanged,
                deactivated = declared.deactivated,
                "declared directory services loaded"
            );
        }
        let client_keys = ClientKeys::load(&config.clients)?;
        let token_signer = TokenSigner::load_or_create(
            &config.auth.signing_key,
            config.server.base_url.trim_end_matches('/').to_owned(),
            config.server.fhir_base(),
        )
        .with_context(|| format!("token signing key {}", config.auth.signing_key.display()))?;
        definitions
            .join()
            .map_err(|_| anyhow::anyhow!("reading the definitions panicked"))?
            .context("loading the Signpost profiles")?;
        let validator =
            signpost_profiles::Validator::standard().context("loading the Signpost profiles")?;
        crate::connections::check_against_file_limit(
            config.server.max_connections,
            crate::connections::open_file_limit(),
        )
        .map_err(anyhow::Error::msg)?;
        let audit_key = crate::audit::AuditKey::load_or_create(&config.auth.audit_key_path())
            .context("audit key")?;
        let client_limits = crate::auth::ClientRateLimits::new(
            config.server.client_requests_per_second,
            config.clients.iter().map(|c| c.id.as_str()),
        );
        let unauthenticated = crate::audit::unauthenticated::UnauthenticatedRefusals::new(
            config.server.unauthenticated_refusals_per_minute,
        );
        let listener = tokio::net::TcpListener::bind(&config.server.listen)
            .await
            .with_context(|| format!("listening on {}", config.server.listen))?;
        let breakers = crate::delivery::Breakers::from_config(&config.delivery);
        let state = AppState {
            config: Arc::new(config),
            store,
            directory: Arc::new(directory),
            outbox_wake: Arc::new(Notify::new()),
            client_keys: Arc::new(client_keys),
            token_signer: Arc::new(token_signer),
            validator,
            audit_key: Arc::new(audit_key),
            unauthenticated: Arc::new(unauthenticated),
            client_limits: Arc::new(client_limits),
            sign_in_limits: Arc::default(),
            worker_running: Arc::default(),
            projection: Arc::default(),
            breakers: Arc::new(std::sync::Mutex::new(breakers)),
        };
        Ok(Self {
            state,
            listener,
            extra: axum::Router::new(),
        })
    }

    /// Serves `routes` beside the API.
    pub fn with_routes(mut self, routes: axum::Router) -> Self {
        self.extra = self.extra.merge(routes);
        self
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until SIGINT or SIGTERM, then drains requests and deliveries in flight.
    pub async fn run(self) -> anyhow::Result<()> {
        crate::console::assets::log_presence();
        let (stop_tx, stop_rx) = watch::channel(false);
        let worker = DeliveryWorker::new(
            self.state.store.clone(),
            self.state.directory.clone(),
            self.state.config.delivery.clone(),
            self.state.outbox_wake.clone(),
        )
        .with_breakers(self.state.breakers.clone());
        let grace = Duration::from_secs(self.state.config.server.shutdown_grace_seconds);
        // Other replicas' new deliveries wake this worker too (PostgreSQL LISTEN/NOTIFY).
        self.state
            .store
            .watch_outbox(self.state.outbox_wake.clone())
            .await?;
        crate::workflow::directory_sync::spawn_feed_syncs(
            self.state.store.clone(),
            &self.state.config.directory.feeds,
            stop_rx.clone(),
        );
        crate::workflow::reports::refresh::spawn(
            self.state.store.clone(),
            self.state.projection.clone(),
            Duration::from_secs(self.state.config.reports.refresh_seconds),
            stop_rx.clone(),
        );
        let running = self.state.worker_running.clone();
        running.store(true, Ordering::SeqCst);
        let worker = tokio::spawn(async move {
            worker.run(stop_rx, grace).await;
            running.store(false, Ordering::SeqCst);
        });
        let tallies = tokio::spawn(record_unauthenticated_refusals(
            self.state.store.clone(),
            self.state.unauthenticated.clone(),
            stop_tx.subscribe(),
        ));
        let mut stopping = stop_tx.subscribe();
        let limits = self.state.config.server.connection_limits();
        let serve = crate::connections::serve(
            self.listener,
            app(self.state).merge(self.extra),
            limits,
            async move {
                shutdown_signal().await;
                tracing::info!(
                    "stopping: no new connections; finishing requests and deliveries in flight"
                );
                let _ = stop_tx.send(true);
            },
        );
        // Requests still running when the grace period ends are abandoned (their transactions
        // either committed before the answer or roll back: nothing is half-written).
        let deadline = async move {
            let _ = stopping.wait_for(|stop| *stop).await;
            tokio::time::sleep(grace).await;
        };
        tokio::select! {
            () = serve => {}
            _ = deadline => tracing::warn!("grace period over; stopping with requests still in flight"),
        }
        let _ = tokio::time::timeout(grace, worker).await;
        let _ = tokio::time::timeout(grace, tallies).await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Writes each ended minute's tallies of unauthenticated refusals, and the current minute's at
/// shutdown.
async fn record_unauthenticated_refusals(
    store: Arc<dyn Store>,
    counts: Arc<crate::audit::unauthenticated::UnauthenticatedRefusals>,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        let stopping = tokio::select! {
            _ = tick.tick() => false,
            _ = stop.wait_for(|stop| *stop) => true,
        };
        let tallies = if stopping {
            counts.take_all()
        } else {
            counts.take_finished(crate::store::now().0 / 1_000_000)
        };
        if let Err(e) = crate::audit::unauthenticated::record(store.as_ref(), &tallies).await {
            tracing::error!(error = %e, tallies = tallies.len(), "could not audit refusals of unauthenticated requests");
        }
        if stopping {
            return;
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
