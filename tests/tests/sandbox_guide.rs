//! The sandbox's printed guide: its commands, pasted into a shell, work.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

#[tokio::test]
async fn the_printed_guide_gets_a_token_posts_a_referral_and_finds_its_task() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let mut child = Command::new(support::binary())
        .arg("serve")
        .env("SIGNPOST_SERVER_LISTEN", format!("127.0.0.1:{port}"))
        .env(
            "SIGNPOST_SERVER_BASE_URL",
            format!("http://127.0.0.1:{port}"),
        )
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.path().join("sandbox.log")).expect("log"))
        .spawn()
        .expect("spawn sandbox");
    let stdout = child.stdout.take().expect("stdout");
    let guide = tokio::task::spawn_blocking(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let done = line.starts_with("Stop with Ctrl-C");
            lines.push(line);
            if done {
                break;
            }
        }
        lines
    });
    let guide = tokio::time::timeout(Duration::from_secs(30), guide)
        .await
        .expect("guide printed in time")
        .expect("join");
    // The commands are the indented lines, in order; run them as one pasted script.
    let commands: Vec<&str> = guide
        .iter()
        .filter(|l| l.starts_with("   "))
        .map(|l| l.trim())
        .collect();
    assert_eq!(commands.len(), 4, "guide: {guide:#?}");
    assert!(commands[0].starts_with("TOKEN=$("), "{}", commands[0]);
    // The token command prints nothing; the three curl outputs are separated by marker lines.
    let script = format!(
        "set -e\n{}\n{}\necho; echo '---'\n{}\necho; echo '---'\n{}\n",
        commands[0], commands[1], commands[2], commands[3]
    );
    let output = tokio::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        .output()
        .await
        .expect("bash");
    let _ = child.kill();
    let _ = child.wait();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let log = std::fs::read_to_string(dir.path().join("sandbox.log")).unwrap_or_default();
    assert!(
        output.status.success(),
        "script failed: {}\n{stdout}\nsandbox log:\n{log}",
        String::from_utf8_lossy(&output.stderr)
    );
    let parts: Vec<&str> = stdout.split("\n---\n").collect();
    assert_eq!(parts.len(), 3, "{stdout}");
    let created: serde_json::Value = serde_json::from_str(parts[0].trim()).expect("referral JSON");
    assert_eq!(created["resourceType"], "ServiceRequest", "{stdout}");
    let tasks: serde_json::Value = serde_json::from_str(parts[1].trim()).expect("bundle JSON");
    assert_eq!(tasks["total"], 1, "{stdout}");
    assert_eq!(
        tasks["entry"][0]["resource"]["focus"]["reference"],
        format!("ServiceRequest/{}", created["id"].as_str().expect("id"))
    );
    let metadata: serde_json::Value = serde_json::from_str(parts[2].trim()).expect("metadata JSON");
    assert_eq!(metadata["resourceType"], "CapabilityStatement");
}

#[tokio::test]
async fn a_closed_stdout_does_not_stop_the_sandbox() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let mut child = Command::new(support::binary())
        .arg("serve")
        .env("SIGNPOST_SERVER_LISTEN", format!("127.0.0.1:{port}"))
        .env(
            "SIGNPOST_SERVER_BASE_URL",
            format!("http://127.0.0.1:{port}"),
        )
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sandbox");
    // Nobody will read the guide: its pipe is closed before it is printed.
    drop(child.stdout.take());
    let http = reqwest::Client::new();
    let mut healthy = false;
    for _ in 0..100 {
        if http
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            healthy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let still_running = child.try_wait().expect("wait").is_none();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        healthy && still_running,
        "the sandbox died when its stdout was closed"
    );
}
