//! A TCP proxy between Signpost and PostgreSQL that injects faults: it can stall every
//! connection, cut every connection and refuse new ones for a while, or let a transaction's
//! COMMIT reach the server and swallow the answer.
//!
//! It reads the client's side of the PostgreSQL wire protocol just far enough to see message
//! boundaries (the untyped startup message, then a type byte and a length per message), so it
//! knows which transaction carried a marker value and when that transaction sends `COMMIT` (or,
//! for a statement run outside `BEGIN`, the `Sync` that commits it).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What to do to the COMMIT of the next transaction that carries the marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitFault {
    /// Forward it, then cut the connection before the server's answer gets back.
    LoseTheAnswer,
    /// Cut the connection instead of forwarding it: the server rolls the transaction back.
    LoseTheCommit,
}

#[derive(Default)]
struct Faults {
    /// A marker value and what to do to the COMMIT of the transaction that sends it.
    commit: Option<(String, CommitFault)>,
    /// How many COMMITs were interfered with.
    fired: usize,
}

/// A running proxy.
#[derive(Clone)]
pub struct PgProxy {
    addr: SocketAddr,
    faults: Arc<Mutex<Faults>>,
    stalled: Arc<AtomicBool>,
    /// Set while connections are cut: open ones are closed and new ones refused.
    cutting: Arc<AtomicBool>,
    cuts: Arc<tokio::sync::Notify>,
}

impl PgProxy {
    /// Listens on 127.0.0.1 and forwards to `upstream` (`host:port`).
    pub async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let proxy = Self {
            addr: listener.local_addr().expect("addr"),
            faults: Arc::default(),
            stalled: Arc::default(),
            cutting: Arc::default(),
            cuts: Arc::default(),
        };
        let shared = proxy.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if shared.cutting.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let (proxy, upstream) = (shared.clone(), upstream.clone());
                tokio::spawn(async move {
                    let cut = proxy.cuts.clone();
                    let cut = cut.notified();
                    if let Ok(server) = TcpStream::connect(&upstream).await {
                        // Dropping the pipe closes both sockets: the client sees a reset.
                        tokio::select! {
                            () = proxy.pipe(client, server) => {}
                            () = cut => {}
                        }
                    }
                });
            }
        });
        proxy
    }

    /// `url` (a `postgres://` URL) rewritten to go through the proxy, without TLS so the
    /// messages can be read.
    pub fn url_for(&self, url: &str) -> String {
        let (scheme_user, rest) = url.split_once('@').expect("user@host in the URL");
        let (_, database) = rest.split_once('/').expect("a database in the URL");
        format!("{scheme_user}@{}/{database}?sslmode=disable", self.addr)
    }

    /// The `host:port` a `postgres://` URL names.
    pub fn upstream_of(url: &str) -> String {
        let rest = url.split_once('@').map_or(url, |(_, r)| r);
        rest.split('/').next().expect("host").to_owned()
    }

    /// The next transaction whose messages contain `marker` has its COMMIT interfered with.
    pub fn on_commit_carrying(&self, marker: &str, fault: CommitFault) {
        self.faults.lock().expect("lock").commit = Some((marker.to_owned(), fault));
    }

    /// How many COMMITs were interfered with so far.
    pub fn commits_interfered(&self) -> usize {
        self.faults.lock().expect("lock").fired
    }

    /// While stalled, nothing is forwarded either way (connections stay open).
    pub fn stall(&self, stalled: bool) {
        self.stalled.store(stalled, Ordering::SeqCst);
    }

    /// Closes every open connection and refuses new ones for `length`, as a network cut would.
    pub async fn cut_for(&self, length: Duration) {
        self.cutting.store(true, Ordering::SeqCst);
        self.cuts.notify_waiters();
        tokio::time::sleep(length).await;
        self.cutting.store(false, Ordering::SeqCst);
    }

    /// Whether the proxy is stalling.
    pub fn is_stalled(&self) -> bool {
        self.stalled.load(Ordering::SeqCst)
    }

    async fn wait_while_stalled(&self) {
        while self.is_stalled() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn pipe(self, client: TcpStream, server: TcpStream) {
        let (mut client_read, mut client_write) = client.into_split();
        let (mut server_read, mut server_write) = server.into_split();
        let cut = Arc::new(AtomicBool::new(false));
        let answers = {
            let (proxy, cut) = (self.clone(), cut.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n) = server_read.read(&mut buf).await {
                    proxy.wait_while_stalled().await;
                    if n == 0 || cut.load(Ordering::SeqCst) {
                        break;
                    }
                    if client_write.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                // Dropping both halves closes the client's connection.
            })
        };
        let mut pending: Vec<u8> = Vec::new();
        let mut started = false;
        let mut tainted = false;
        let mut in_transaction = false;
        let mut buf = vec![0u8; 64 * 1024];
        'reading: while let Ok(n) = client_read.read(&mut buf).await {
            if n == 0 {
                break;
            }
            self.wait_while_stalled().await;
            pending.extend_from_slice(&buf[..n]);
            // Forward whole messages, looking at each.
            loop {
                let header = if started { 5 } else { 4 };
                if pending.len() < header {
                    break;
                }
                let at = header - 4;
                let length = u32::from_be_bytes([
                    pending[at],
                    pending[at + 1],
                    pending[at + 2],
                    pending[at + 3],
                ]) as usize;
                let total = at + length;
                if pending.len() < total {
                    break;
                }
                let message: Vec<u8> = pending.drain(..total).collect();
                let first = !started;
                started = true;
                if first {
                    if server_write.write_all(&message).await.is_err() {
                        break 'reading;
                    }
                    continue;
                }
                let query = message[0] == b'Q';
                // A statement outside BEGIN … COMMIT is a transaction of its own, committed
                // when its Sync arrives (the store writes a plain create that way).
                let is_commit = (query && contains(&message, b"COMMIT"))
                    || (message[0] == b'S' && !in_transaction);
                if query && contains(&message, b"BEGIN") {
                    in_transaction = true;
                } else if query
                    && (contains(&message, b"COMMIT") || contains(&message, b"ROLLBACK"))
                {
                    in_transaction = false;
                }
                let fault = self.faults.lock().expect("lock").commit.clone();
                if let Some((marker, fault)) = fault {
                    if contains(&message, marker.as_bytes()) {
                        tainted = true;
                    }
                    if tainted && is_commit {
                        {
                            let mut faults = self.faults.lock().expect("lock");
                            faults.commit = None;
                            faults.fired += 1;
                        }
                        cut.store(true, Ordering::SeqCst);
                        if fault == CommitFault::LoseTheAnswer {
                            let _ = server_write.write_all(&message).await;
                            // Let the server receive it before this side goes away.
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                        break 'reading;
                    }
                }
                if server_write.write_all(&message).await.is_err() {
                    break 'reading;
                }
            }
        }
        cut.store(true, Ordering::SeqCst);
        answers.abort();
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
