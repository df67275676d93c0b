//! Stopping a server process the way an orchestrator does, for the test suite and the benchmark.

use std::process::{Child, Command};
use std::time::Duration;

/// `kill -TERM`, up to 30 s to finish, then `kill -9`; whether it exited with 0.
pub fn terminate(mut child: Child) -> bool {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    for _ in 0..600 {
        if let Ok(Some(status)) = child.try_wait() {
            return status.success();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    false
}
