//! The first hour: the README's two commands, the sandbox's printed guide (every command pasted
//! into a shell, in order) and `signpost sandbox tour`, each ending where the GP sees the
//! referral completed with its outcomes.

use crate::support;

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use signpost_conformance::keys::ClientKey;
use signpost_conformance::smart::request_token;

/// The guide's last line (the gateway's `sandbox::guide::LAST_LINE`).
const LAST_LINE: &str = "Stop with Ctrl-C.";

/// `signpost serve` with no config (the sandbox) in `dir`, listening on `port`; its stdout piped.
fn start_sandbox(dir: &Path, port: u16) -> Child {
    Command::new(support::binary())
        .arg("serve")
        .env("SIGNPOST_SERVER_LISTEN", format!("127.0.0.1:{port}"))
        .env_remove("SIGNPOST_SERVER_BASE_URL")
        .env_remove("SIGNPOST_CONFIG")
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("sandbox.log")).expect("log"))
        .spawn()
        .expect("spawn sandbox")
}

/// The lines a process prints up to and including the guide's last line.
async fn read_guide(child: &mut Child) -> Vec<String> {
    let stdout = child.stdout.take().expect("stdout");
    let lines = tokio::task::spawn_blocking(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let done = line == LAST_LINE;
            lines.push(line);
            if done {
                break;
            }
        }
        lines
    });
    // A release build by `cargo run` may come first.
    tokio::time::timeout(Duration::from_secs(1500), lines)
        .await
        .expect("guide printed in time")
        .expect("join")
}

/// The commands of a printed guide: the lines indented by exactly three spaces.
fn commands(guide: &[String]) -> Vec<String> {
    guide
        .iter()
        .filter_map(|l| l.strip_prefix("   "))
        .filter(|l| !l.starts_with(' '))
        .map(str::to_owned)
        .collect()
}

/// A `NAME=value` line a command echoed.
fn echoed(output: &str, name: &str) -> String {
    output
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name}= in:\n{output}"))
        .to_owned()
}

/// Checks, as each party with its own token, that the journey ended as the guide says.
struct Verifier {
    http: reqwest::Client,
    base: String,
    keys: PathBuf,
}

impl Verifier {
    async fn token(&self, client: &str, scope: &str) -> String {
        let pem =
            std::fs::read_to_string(self.keys.join(format!("{client}.pem"))).expect("demo key");
        let key = ClientKey::from_pem(&pem).expect("pem");
        request_token(
            &self.http,
            &format!("{}/auth/token", self.base),
            client,
            &key,
            scope,
        )
        .await
        .expect("token")
        .access_token
    }

    async fn get(&self, token: &str, path: &str) -> Value {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        assert!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        response.json().await.expect("json")
    }

    /// The GP sees its referral completed, the link worker's Task completed with the before and
    /// after scores, and the walking group's Task completed.
    async fn journey_completed(&self, sr: &str, lw_task: &str, vcs_task: Option<&str>) {
        let gp = self
            .token(
                "riverside-gp-system",
                "system/ServiceRequest.rs system/Task.rs",
            )
            .await;
        let referral = self.get(&gp, &format!("/fhir/ServiceRequest/{sr}")).await;
        assert_eq!(referral["status"], "completed", "{referral}");
        let task = self.get(&gp, &format!("/fhir/Task/{lw_task}")).await;
        assert_eq!(task["status"], "completed", "{task}");
        let scores: Vec<(String, i64)> = task["output"]
            .as_array()
            .expect("outputs")
            .iter()
            .filter_map(|o| {
                Some((
                    o.pointer("/type/coding/0/code")?.as_str()?.to_owned(),
                    o.get("valueInteger")?.as_i64()?,
                ))
            })
            .collect();
        assert!(
            scores.contains(&("ons4-life-satisfaction".into(), 4))
                && scores.contains(&("ons4-life-satisfaction".into(), 7)),
            "the GP sees the before and after scores: {scores:?}"
        );
        if let Some(vcs_task) = vcs_task {
            let vcs = self.token("mill-lane-walking-app", "system/Task.rs").await;
            let walk = self.get(&vcs, &format!("/fhir/Task/{vcs_task}")).await;
            assert_eq!(walk["status"], "completed", "{walk}");
            assert!(
                !walk.to_string().contains("9434765919"),
                "the walking group never sees the NHS number"
            );
        }
    }

    /// The operator's view: the replayed delivery arrives, and the referral has an audit trail.
    async fn replayed_and_audited(&self, dead: &str, sr: &str) {
        let operator = self.token("signpost-operator", "admin").await;
        let mut delivered = false;
        for _ in 0..100 {
            let list = self
                .get(&operator, "/admin/deliveries?state=delivered")
                .await;
            if list["deliveries"]
                .as_array()
                .is_some_and(|d| d.iter().any(|d| d["id"] == dead))
            {
                delivered = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            delivered,
            "the replayed delivery {dead} was never delivered"
        );
        let audit = self
            .get(
                &operator,
                &format!("/fhir/AuditEvent?entity=ServiceRequest/{sr}"),
            )
            .await;
        assert!(audit["total"].as_i64().unwrap_or(0) >= 1, "{audit}");
    }
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test]
async fn the_printed_guide_walks_the_whole_journey_when_pasted_into_a_shell() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = support::free_port();
    let mut sandbox = start_sandbox(dir.path(), port);
    let guide = read_guide(&mut sandbox).await;
    let text = guide.join("\n");
    assert!(
        text.contains(&format!("http://127.0.0.1:{port}/auth/token")),
        "the guide names the address the sandbox really listens on:\n{text}"
    );
    let commands = commands(&guide);
    assert!(commands.len() > 20, "{text}");
    // Pasted in order into one shell; any command that fails stops the script.
    let script = format!("set -e -o pipefail\n{}\n", commands.join("\n"));
    let output = tokio::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        .output()
        .await
        .expect("bash");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let log = std::fs::read_to_string(dir.path().join("sandbox.log")).unwrap_or_default();
    assert!(
        output.status.success(),
        "the guide's commands failed: {}\n{stdout}\nsandbox log:\n{log}",
        String::from_utf8_lossy(&output.stderr)
    );
    let verifier = Verifier {
        http: reqwest::Client::new(),
        base: format!("http://127.0.0.1:{port}"),
        keys: dir.path().join("signpost-data/keys"),
    };
    // The directory step: the full service is refused, naming the one with room as an alternative.
    assert!(
        stdout.contains("this service has no room now")
            && stdout.contains("alternative: HealthcareService/")
            && stdout.contains("Mill Lane Saturday Strollers"),
        "the guide shows a refusal with alternatives:\n{stdout}"
    );
    let sr = echoed(&stdout, "SR");
    verifier
        .journey_completed(
            &sr,
            &echoed(&stdout, "LW_TASK"),
            Some(&echoed(&stdout, "VCS_TASK")),
        )
        .await;
    verifier
        .replayed_and_audited(&echoed(&stdout, "DEAD"), &sr)
        .await;
    let log = std::fs::read_to_string(dir.path().join("sandbox.log")).unwrap_or_default();
    assert!(
        log.contains("demo partner: received"),
        "the demo partner received pushed deliveries:\n{log}"
    );
    let leaked = support::patient_data_in(&log);
    assert!(leaked.is_empty(), "the sandbox's log holds {leaked:?}");
    stop(sandbox);
}

#[tokio::test]
async fn the_tour_walks_the_same_journey_and_prints_every_exchange() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = support::free_port();
    let mut sandbox = start_sandbox(dir.path(), port);
    read_guide(&mut sandbox).await;
    // No address given: the tour finds the one the sandbox in this directory listens on.
    let output = tokio::process::Command::new(support::binary())
        .args(["sandbox", "tour"])
        .env_remove("SIGNPOST_SERVER_LISTEN")
        .env_remove("SIGNPOST_SERVER_BASE_URL")
        .current_dir(dir.path())
        .output()
        .await
        .expect("tour");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "tour failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains(&format!(
            "-> POST http://127.0.0.1:{port}/fhir/ServiceRequest"
        )) && stdout.contains("<- 201 Created"),
        "{stdout}"
    );
    assert!(
        stdout.contains("<- 409 Conflict") && stdout.contains("Mill Lane Saturday Strollers"),
        "the tour shows the full service refused with alternatives: {stdout}"
    );
    let var = |name: &str| {
        stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix(&format!("${name} = ")))
            .unwrap_or_else(|| panic!("no ${name} in the tour:\n{stdout}"))
            .to_owned()
    };
    let verifier = Verifier {
        http: reqwest::Client::new(),
        base: format!("http://127.0.0.1:{port}"),
        keys: dir.path().join("signpost-data/keys"),
    };
    verifier
        .journey_completed(&var("SR"), &var("LW_TASK"), Some(&var("VCS_TASK")))
        .await;
    verifier
        .replayed_and_audited(&var("DEAD"), &var("SR"))
        .await;
    stop(sandbox);
}

#[tokio::test]
async fn the_tour_without_a_sandbox_says_how_to_start_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("signpost-data")).expect("dir");
    // A sandbox that was here once, and is gone.
    std::fs::write(
        dir.path().join("signpost-data/sandbox-url"),
        format!("http://127.0.0.1:{}", support::free_port()),
    )
    .expect("url file");
    let output = Command::new(support::binary())
        .args(["sandbox", "tour"])
        .current_dir(dir.path())
        .output()
        .expect("tour");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("signpost-data"), "{stderr}");
}

/// The README's first code block: its command lines, comments removed.
fn readme_commands() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let block = readme
        .split("```")
        .nth(1)
        .expect("a code block in the README");
    block
        .lines()
        .skip(1)
        .map(|l| l.split(" #").next().unwrap_or("").trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn the_readme_opens_with_the_run_command_and_the_test_command_ci_runs() {
    let commands = readme_commands();
    assert_eq!(commands.len(), 2, "{commands:?}");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root");
    let ci = std::fs::read_to_string(root.join(".ci/run")).expect(".ci/run");
    assert!(
        ci.lines().any(|l| l.trim() == commands[1]),
        ".ci/run must run the README's test command `{}` verbatim",
        commands[1]
    );
}

#[tokio::test]
async fn the_readme_run_command_starts_the_sandbox_verbatim() {
    let commands = readme_commands();
    let run = commands.first().expect("a run command").clone();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf();
    // Inside the workspace (so `cargo run` finds it) but away from the root, so the sandbox's
    // files do not land in the checkout.
    let target =
        std::env::var("CARGO_TARGET_DIR").map_or_else(|_| root.join("target"), PathBuf::from);
    std::fs::create_dir_all(&target).expect("target dir");
    let dir = tempfile::tempdir_in(&target).expect("tempdir");
    let port = support::free_port();
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(format!("exec {run}"))
        .process_group(0)
        .env("SIGNPOST_SERVER_LISTEN", format!("127.0.0.1:{port}"))
        .env_remove("SIGNPOST_SERVER_BASE_URL")
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.path().join("run.log")).expect("log"))
        .spawn()
        .expect("spawn the README's run command");
    let guide = read_guide(&mut child).await;
    let ready = reqwest::get(format!("http://127.0.0.1:{port}/readyz"))
        .await
        .expect("readyz");
    let status = ready.status();
    let body: Value = ready.json().await.unwrap_or(Value::Null);
    // cargo runs the gateway as its child: stop the whole process group the command leads.
    // `--` first: procps kill reads `-TERM -1234` as signal options and sent SIGTERM to
    // `kill(-1)`, every process the user owns (seen: it took the test runner down).
    let _ = Command::new("kill")
        .args(["-TERM", "--", &format!("-{}", child.id())])
        .status();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop(child);
    let log = std::fs::read_to_string(dir.path().join("run.log")).unwrap_or_default();
    assert!(
        status.is_success(),
        "/readyz answered {status} {body}\n{log}"
    );
    assert_eq!(body["ready"], true, "{body}");
    assert!(
        guide
            .iter()
            .any(|l| l.contains("Signpost sandbox is running at")),
        "{guide:#?}\n{log}"
    );
    assert!(dir.path().join("signpost-data/signpost.db").exists());
}

#[tokio::test]
async fn a_closed_stdout_does_not_stop_the_sandbox() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = support::free_port();
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
