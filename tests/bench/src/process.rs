//! A server in a child process: started, waited on until `/healthz` answers, stopped with SIGTERM.

use std::process::{Child, Command};
use std::time::Duration;

use anyhow::{Context, bail};

/// A free port on 127.0.0.1 (bound and released; the server binds it straight after).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A running server process.
pub struct ServerProcess {
    child: Option<Child>,
    /// Its process id, for memory readings.
    pub pid: u32,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl ServerProcess {
    /// Spawns `command` (already told to listen on `port`) and waits up to 30 s for `/healthz`.
    pub async fn start(mut command: Command, port: u16, what: &str) -> anyhow::Result<Self> {
        let child = command
            .spawn()
            .with_context(|| format!("starting {what}"))?;
        let mut server = Self {
            pid: child.id(),
            child: Some(child),
            base: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::builder().no_proxy().build()?;
        for _ in 0..300 {
            if let Some(status) = server
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                bail!("{what} exited at start with {status}");
            }
            let health = http.get(format!("{}/healthz", server.base)).send().await;
            if health.is_ok_and(|r| r.status().is_success()) {
                return Ok(server);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        server.stop();
        bail!("{what} did not answer /healthz within 30 s")
    }

    /// SIGTERM, up to 30 s to finish, then SIGKILL; whether it exited cleanly.
    pub fn stop(&mut self) -> bool {
        self.child
            .take()
            .is_some_and(signpost_conformance::process::terminate)
    }
}

impl Drop for ServerProcess {
    /// Never leaves a server behind, whatever went wrong.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
