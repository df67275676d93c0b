//! The accept loop: a cap on open connections and clocks that close the ones that hold a slot
//! without moving bytes, so idle or half-sent connections (slowloris) cannot exhaust the
//! process's file descriptors and take `/healthz` down with everything else.

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// How long connections may hold a slot, and how many slots there are.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Connections open at once; further clients wait in the kernel's backlog.
    pub max_connections: usize,
    /// A request's headers must arrive in full within this, from when the connection waits for one.
    pub header_read_timeout: Duration,
    /// A connection with no request being handled and no bytes moving is closed after this.
    pub keep_alive_timeout: Duration,
    /// A connection moving no bytes at all, even with a request in hand, is closed after this.
    pub idle_timeout: Duration,
}

/// When a connection last moved a byte and how many of its requests are being handled.
struct Activity {
    start: Instant,
    last_millis: AtomicU64,
    handling: AtomicUsize,
}

impl Activity {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            start: Instant::now(),
            last_millis: AtomicU64::new(0),
            handling: AtomicUsize::new(0),
        })
    }

    fn touch(&self) {
        let elapsed = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_millis.store(elapsed, Ordering::Relaxed);
    }

    fn quiet_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_millis.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }

    /// Resolves once the connection has been quiet for longer than the limits allow.
    async fn expired(&self, limits: ConnectionLimits) {
        let tick = limits
            .keep_alive_timeout
            .min(limits.idle_timeout)
            .div_f32(4.0)
            .max(Duration::from_millis(50));
        loop {
            tokio::time::sleep(tick).await;
            let quiet = self.quiet_for();
            let limit = if self.handling.load(Ordering::Relaxed) == 0 {
                limits.keep_alive_timeout.min(limits.idle_timeout)
            } else {
                limits.idle_timeout
            };
            if quiet >= limit {
                return;
            }
        }
    }
}

/// Counts a request as handled until its answer is ready (dropped with the handler if cancelled).
struct Handling(Arc<Activity>);

impl Handling {
    fn start(activity: &Arc<Activity>) -> Self {
        activity.handling.fetch_add(1, Ordering::Relaxed);
        activity.touch();
        Self(activity.clone())
    }
}

impl Drop for Handling {
    fn drop(&mut self) {
        self.0.handling.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

/// A socket that records every read and write that moved bytes.
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Serves `router` on `listener` within `limits` until `shutdown` resolves, then waits for the
/// connections still open to finish their requests (the caller bounds that wait).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut shutdown = pin!(shutdown);
    loop {
        // A slot first, then accept: at the cap new clients wait in the backlog instead of
        // taking a file descriptor each.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors or a connection reset before accept: back off briefly
                    // rather than spin, and keep serving the connections already open.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let activity = Activity::new();
        activity.touch();
        let io = TokioIo::new(Tracked {
            inner: stream,
            activity: activity.clone(),
        });
        let per_request = activity.clone();
        let service = router
            .clone()
            .map_request(move |mut request: axum::http::Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request.map(axum::body::Body::new)
            })
            .map_future(move |answer| {
                let handling = Handling::start(&per_request);
                async move {
                    let answer = answer.await;
                    drop(handling);
                    answer
                }
            });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .serve_connection(io, TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _slot = slot;
            tokio::select! {
                served = connection => {
                    if let Err(e) = served {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                }
                () = activity.expired(limits) => {
                    tracing::debug!(%peer, "closing a connection that moved no bytes within its limit");
                }
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// The process's soft limit on open files, where the platform tells (Linux `/proc`).
pub fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Descriptors kept back from the connection cap for the store, partners, keys and logs.
pub const RESERVED_FILES: u64 = 64;

/// Refuses a connection cap the file limit cannot hold: at the limit `accept` fails for everyone.
pub fn check_against_file_limit(max_connections: usize, limit: Option<u64>) -> Result<(), String> {
    let Some(limit) = limit else {
        return Ok(());
    };
    let wanted = u64::try_from(max_connections)
        .unwrap_or(u64::MAX)
        .saturating_add(RESERVED_FILES);
    if wanted > limit {
        return Err(format!(
            "server.max_connections is {max_connections}, but the process may open only {limit} \
             files and needs {RESERVED_FILES} besides its connections: raise the file limit \
             (ulimit -n, LimitNOFILE) or lower server.max_connections"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cap_above_the_file_limit_is_refused() {
        assert!(check_against_file_limit(1024, Some(1024)).is_err());
        assert!(check_against_file_limit(1024, Some(1024 + RESERVED_FILES)).is_ok());
        assert!(check_against_file_limit(1024, None).is_ok());
    }

    #[test]
    fn the_file_limit_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(open_file_limit().is_some_and(|n| n > 0));
        }
    }
}
