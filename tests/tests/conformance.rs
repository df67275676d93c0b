//! The conformance kit, through the real `signpost conformance` command: it passes against
//! Signpost, and against deliberately broken targets it fails the right checks and only those.

use crate::support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};
use signpost_conformance::simulators::{FhirPartner, WebhookPartner};

const GATEWAY_CHECKS: usize = 20;
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const WRONG_SECRET: &str = "whsec_c2lnbnBvc3Qtd3Jvbmctc2VjcmV0LWtleS0xMjM0";

/// The sandbox (`signpost serve` with no config) in a temporary directory.
struct Sandbox {
    child: Child,
    dir: tempfile::TempDir,
    base: String,
}

impl Drop for Sandbox {
    /// Stops the sandbox and, unless the test already failed, checks its whole log holds none
    /// of the test person's details.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            let log =
                std::fs::read_to_string(self.dir.path().join("sandbox.log")).unwrap_or_default();
            let leaked = support::patient_data_in(&log);
            assert!(leaked.is_empty(), "the sandbox's log holds {leaked:?}");
        }
    }
}

impl Sandbox {
    async fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = support::free_port();
        let base = format!("http://127.0.0.1:{port}");
        let mut child = Command::new(support::binary())
            .arg("serve")
            .env("SIGNPOST_SERVER_LISTEN", format!("127.0.0.1:{port}"))
            .env("SIGNPOST_SERVER_BASE_URL", &base)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("sandbox.log")).expect("log"))
            .spawn()
            .expect("spawn sandbox");
        let http = reqwest::Client::new();
        for _ in 0..200 {
            if http
                .get(format!("{base}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Self { child, dir, base };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("the sandbox did not become ready");
    }

    fn keys(&self) -> String {
        self.dir
            .path()
            .join("signpost-data/keys")
            .display()
            .to_string()
    }
}

/// What `signpost conformance` did: exit status, stdout, and the JUnit file's verdicts.
struct Run {
    ok: bool,
    stdout: String,
    junit: String,
    html: String,
}

impl Run {
    /// (tests, failures, skipped) from the `<testsuite>` element, checked against its test cases.
    fn counts(&self) -> (usize, usize, usize) {
        let doc = roxmltree::Document::parse(&self.junit).expect("JUnit is XML");
        let suite = doc
            .descendants()
            .find(|n| n.has_tag_name("testsuite"))
            .expect("testsuite");
        let attr = |name: &str| {
            suite
                .attribute(name)
                .and_then(|v| v.parse::<usize>().ok())
                .expect("count")
        };
        let cases: Vec<_> = suite
            .children()
            .filter(|n| n.has_tag_name("testcase"))
            .collect();
        let with = |tag: &str| {
            cases
                .iter()
                .filter(|c| c.children().any(|n| n.has_tag_name(tag)))
                .count()
        };
        assert_eq!(attr("tests"), cases.len(), "{}", self.junit);
        assert_eq!(attr("failures"), with("failure"), "{}", self.junit);
        assert_eq!(attr("skipped"), with("skipped"), "{}", self.junit);
        (cases.len(), with("failure"), with("skipped"))
    }

    /// The ids of the failed checks.
    fn failed(&self) -> BTreeSet<String> {
        let doc = roxmltree::Document::parse(&self.junit).expect("JUnit is XML");
        doc.descendants()
            .filter(|n| {
                n.has_tag_name("testcase") && n.children().any(|c| c.has_tag_name("failure"))
            })
            .filter_map(|n| n.attribute("name").map(str::to_owned))
            .collect()
    }
}

fn conformance(args: &[&str]) -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let (junit, html) = (dir.path().join("junit.xml"), dir.path().join("report.html"));
    let output = kit_command(args, &junit, &html)
        .output()
        .expect("run signpost conformance");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let read = |p: &Path| {
        std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}\n{stdout}", p.display()))
    };
    Run {
        ok: output.status.success(),
        junit: read(&junit),
        html: read(&html),
        stdout,
    }
}

/// `signpost conformance ARGS --junit JUNIT --html HTML`.
fn kit_command(args: &[&str], junit: &Path, html: &Path) -> Command {
    let mut command = Command::new(support::binary());
    command
        .arg("conformance")
        .args(args)
        .arg("--junit")
        .arg(junit)
        .arg("--html")
        .arg(html)
        .stdin(Stdio::null());
    command
}

/// Runs the kit in `cwd` (the directory a person would run it from); the output, the reports'
/// paths, and the directory holding them.
async fn kit_in(cwd: &Path, args: Vec<String>) -> (std::process::Output, Run, tempfile::TempDir) {
    let cwd = cwd.to_owned();
    tokio::task::spawn_blocking(move || {
        let reports = tempfile::tempdir().expect("tempdir");
        let (junit, html) = (
            reports.path().join("junit.xml"),
            reports.path().join("report.html"),
        );
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = kit_command(&args, &junit, &html)
            .current_dir(&cwd)
            .output()
            .expect("run signpost conformance");
        let run = Run {
            ok: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            junit: std::fs::read_to_string(&junit).unwrap_or_default(),
            html: std::fs::read_to_string(&html).unwrap_or_default(),
        };
        (output, run, reports)
    })
    .await
    .expect("join")
}

async fn run_kit(args: Vec<String>) -> Run {
    tokio::task::spawn_blocking(move || {
        conformance(&args.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .expect("join")
}

#[tokio::test]
async fn the_kit_passes_against_signpost_and_writes_its_reports() {
    let sandbox = Sandbox::start().await;
    let run = run_kit(vec![
        "--role".into(),
        "gateway".into(),
        "--target".into(),
        format!("{}/fhir", sandbox.base),
        "--sandbox-keys".into(),
        sandbox.keys(),
    ])
    .await;
    assert!(run.ok, "{}", run.stdout);
    assert_eq!(run.counts(), (GATEWAY_CHECKS, 0, 0), "{}", run.stdout);
    assert!(
        run.stdout
            .contains(&format!("{GATEWAY_CHECKS} passed, 0 failed")),
        "{}",
        run.stdout
    );
    assert!(
        run.html.starts_with("<!DOCTYPE html>") && run.html.contains("journey.referral-to-outcome")
    );
    assert!(
        !run.html.contains("<script") && !run.html.contains("src=\"http"),
        "the HTML report is self-contained"
    );

    // --only narrows the run.
    let run = run_kit(vec![
        "--role".into(),
        "gateway".into(),
        "--target".into(),
        format!("{}/fhir", sandbox.base),
        "--sandbox-keys".into(),
        sandbox.keys(),
        "--only".into(),
        "auth.*,metadata.*".into(),
    ])
    .await;
    assert!(run.ok, "{}", run.stdout);
    assert_eq!(run.counts(), (4, 0, 0), "{}", run.stdout);
}

#[tokio::test]
async fn a_target_that_is_not_the_fhir_base_is_answered_with_the_base_to_use() {
    let sandbox = Sandbox::start().await;
    let cwd = tempfile::tempdir().expect("tempdir");
    let (output, run, _reports) = kit_in(
        cwd.path(),
        vec![
            "--role".into(),
            "gateway".into(),
            "--target".into(),
            sandbox.base.clone(),
            "--sandbox-keys".into(),
            sandbox.keys(),
        ],
    )
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!run.ok, "a wrong address is not a pass: {}", run.stdout);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    for said in [
        "the target is not a FHIR base".to_owned(),
        format!("GET {}/metadata is not a CapabilityStatement", sandbox.base),
        format!("answers at {}/fhir/metadata", sandbox.base),
        format!("use --target {}/fhir", sandbox.base),
    ] {
        assert!(stderr.contains(&said), "{said} missing from: {stderr}");
    }
    assert!(
        run.junit.is_empty(),
        "no checks were run, so no report claims any: {}",
        run.junit
    );

    // A trailing slash is the same wrong address.
    let (output, _, _reports) = kit_in(
        cwd.path(),
        vec![
            "--role".into(),
            "gateway".into(),
            "--target".into(),
            format!("{}/", sandbox.base),
            "--sandbox-keys".into(),
            sandbox.keys(),
            "--only".into(),
            "metadata.*".into(),
        ],
    )
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("use --target {}/fhir", sandbox.base)),
        "{stderr}"
    );
}

#[tokio::test]
async fn without_the_sandbox_keys_the_kit_says_where_to_run_it_or_what_to_pass() {
    let sandbox = Sandbox::start().await;
    // A directory `signpost serve` never ran in: no signpost-data/keys.
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let (output, run, _reports) = kit_in(
        elsewhere.path(),
        vec![
            "--role".into(),
            "gateway".into(),
            "--target".into(),
            format!("{}/fhir", sandbox.base),
        ],
    )
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!run.ok);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    for said in [
        "no sandbox keys in signpost-data/keys",
        "the directory it was started in",
        "--sandbox-keys",
        "--parties FILE",
        "[gp], [link_worker] and [vcs] tables, each with client_id, ods and key",
        "--client-id ID --key FILE",
    ] {
        assert!(stderr.contains(said), "{said} missing from: {stderr}");
    }

    // Run from the directory the sandbox made signpost-data/ in, the same command passes.
    let (output, run, _reports) = kit_in(
        sandbox.dir.path(),
        vec![
            "--role".into(),
            "gateway".into(),
            "--target".into(),
            format!("{}/fhir", sandbox.base),
            "--only".into(),
            "auth.token".into(),
        ],
    )
    .await;
    assert!(
        run.ok,
        "{}\n{}",
        run.stdout,
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(run.counts(), (1, 0, 0), "{}", run.stdout);
}

/// The gateway checks that need the link worker's or the VCS provider's client.
const NEED_OTHER_CLIENTS: [&str; 7] = [
    "tenancy.vcs-cannot-read-gp-referral",
    "tenancy.requester-is-caller",
    "update.if-match-required",
    "update.stale-if-match",
    "workflow.forbidden-transition",
    "directory.full-service-refused",
    "journey.referral-to-outcome",
];

#[tokio::test]
async fn checks_needing_a_client_the_kit_was_not_given_are_skipped_not_failed() {
    let sandbox = Sandbox::start().await;
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let gp_key = format!("{}/riverside-gp-system.pem", sandbox.keys());
    let (output, run, _reports) = kit_in(
        elsewhere.path(),
        vec![
            "--role".into(),
            "gateway".into(),
            "--target".into(),
            format!("{}/fhir", sandbox.base),
            "--client-id".into(),
            "riverside-gp-system".into(),
            "--key".into(),
            gp_key,
        ],
    )
    .await;
    assert!(
        run.ok,
        "skipped checks do not fail the run\n{}\n{}",
        run.stdout,
        String::from_utf8_lossy(&output.stderr)
    );
    let skipped = NEED_OTHER_CLIENTS.len();
    assert_eq!(run.counts(), (GATEWAY_CHECKS, 0, skipped), "{}", run.stdout);
    let doc = roxmltree::Document::parse(&run.junit).expect("JUnit is XML");
    let skips: BTreeSet<(String, String)> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .filter_map(|case| {
            let skipped = case.children().find(|n| n.has_tag_name("skipped"))?;
            Some((
                case.attribute("name")?.to_owned(),
                skipped.attribute("message")?.to_owned(),
            ))
        })
        .collect();
    assert_eq!(
        skips
            .iter()
            .map(|(id, _)| id.as_str())
            .collect::<BTreeSet<_>>(),
        BTreeSet::from(NEED_OTHER_CLIENTS),
        "{}",
        run.junit
    );
    for (id, message) in &skips {
        assert!(
            message.contains("the kit was not given") && message.contains("--parties FILE"),
            "{id}: {message}"
        );
    }
    assert!(
        run.stdout.contains(&format!(
            "{} passed, 0 failed, {skipped} skipped",
            GATEWAY_CHECKS - skipped
        )),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("skip journey.referral-to-outcome: needs a link-worker client"),
        "{}",
        run.stdout
    );
    assert!(
        run.html.contains("<span class=\"skip\">7 skipped</span>")
            && run
                .html
                .contains("<p class=\"skip\">Skipped: needs a VCS provider&apos;s client"),
        "{}",
        run.html
    );
}

/// How a fake gateway (a proxy in front of Signpost) is broken.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Break {
    /// Answers a read it should refuse with a copy of the resource: no tenancy.
    Tenancy,
    /// Accepts a referral whose only problems are NHS number check digits.
    NhsNumber,
    /// Answers 200 to an update on a stale version.
    StaleIfMatch,
}

#[derive(Clone)]
struct Proxy {
    upstream: String,
    broken: Break,
    seen: Arc<Mutex<std::collections::HashMap<String, String>>>,
}

async fn forward(State(proxy): State<Proxy>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 4 << 20)
        .await
        .unwrap_or_default();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .to_owned();
    let mut upstream =
        reqwest::Client::new().request(parts.method.clone(), format!("{}{path}", proxy.upstream));
    for name in [
        "authorization",
        "content-type",
        "if-match",
        "if-none-exist",
        "accept",
    ] {
        if let Some(v) = parts.headers.get(name) {
            upstream = upstream.header(name, v.clone());
        }
    }
    let answer = upstream
        .body(body.clone())
        .send()
        .await
        .expect("upstream answers");
    let status = answer.status();
    let headers = answer.headers().clone();
    let text = answer.text().await.unwrap_or_default();
    let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if let (Some(t), Some(id)) = (json["resourceType"].as_str(), json["id"].as_str())
        && let Ok(mut seen) = proxy.seen.lock()
    {
        seen.insert(format!("/fhir/{t}/{id}"), text.clone());
    }
    let fake = |status: StatusCode, body: String| (status, HeaderMap::new(), body);
    let (status, headers, text) = match proxy.broken {
        Break::Tenancy if status == StatusCode::NOT_FOUND && parts.method == Method::GET => {
            match proxy.seen.lock().ok().and_then(|s| s.get(&path).cloned()) {
                Some(copy) => fake(StatusCode::OK, copy),
                None => (status, headers, text),
            }
        }
        Break::NhsNumber
            if status == StatusCode::UNPROCESSABLE_ENTITY
                && json["issue"].as_array().is_some_and(|issues| {
                    issues.iter().all(|i| {
                        i["code"] == "value"
                            && i["diagnostics"]
                                .as_str()
                                .is_some_and(|d| d.contains("check digit"))
                    })
                }) =>
        {
            let mut sr: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            sr["id"] = json!("accepted-anyway");
            let mut h = HeaderMap::new();
            h.insert(
                "location",
                HeaderValue::from_static("/fhir/ServiceRequest/accepted-anyway/_history/1"),
            );
            h.insert("etag", HeaderValue::from_static("W/\"1\""));
            (StatusCode::CREATED, h, sr.to_string())
        }
        Break::StaleIfMatch if status == StatusCode::PRECONDITION_FAILED => {
            fake(StatusCode::OK, String::from_utf8_lossy(&body).into_owned())
        }
        _ => (status, headers, text),
    };
    let mut response = Response::builder().status(status);
    for name in ["content-type", "location", "etag", "www-authenticate"] {
        if let Some(v) = headers.get(name) {
            response = response.header(name, v.clone());
        }
    }
    if !headers.contains_key("content-type") {
        response = response.header("content-type", "application/fhir+json");
    }
    response
        .body(Body::from(Bytes::from(text)))
        .expect("response")
}

async fn broken_gateway(upstream: &str, broken: Break) -> String {
    let proxy = Proxy {
        upstream: upstream.to_owned(),
        broken,
        seen: Arc::default(),
    };
    let app = Router::new().fallback(forward).with_state(proxy);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/fhir")
}

#[tokio::test]
async fn broken_gateways_fail_exactly_the_checks_for_what_they_break() {
    let sandbox = Sandbox::start().await;
    for (broken, check) in [
        (Break::Tenancy, "tenancy.vcs-cannot-read-gp-referral"),
        (Break::NhsNumber, "intake.bad-nhs-number"),
        (Break::StaleIfMatch, "update.stale-if-match"),
    ] {
        let target = broken_gateway(&sandbox.base, broken).await;
        let run = run_kit(vec![
            "--role".into(),
            "gateway".into(),
            "--target".into(),
            target,
            "--sandbox-keys".into(),
            sandbox.keys(),
        ])
        .await;
        assert!(
            !run.ok,
            "{check}: a failure must exit non-zero\n{}",
            run.stdout
        );
        assert_eq!(
            run.failed(),
            BTreeSet::from([check.to_owned()]),
            "{}",
            run.stdout
        );
        assert_eq!(run.counts(), (GATEWAY_CHECKS, 1, 0));
        // The failure explains itself: the requirement, what was expected, and the exchanges.
        let details = run
            .stdout
            .split(&format!("FAIL {check}"))
            .nth(1)
            .expect("failure details");
        assert!(
            details.contains("expected:") && details.contains("got:") && details.contains("> "),
            "{details}"
        );
        assert!(run.html.contains("class=\"fail\"") && run.html.contains(check));
    }
}

#[tokio::test]
async fn partner_roles_deliver_through_each_adapter() {
    let partner = FhirPartner::start().await.expect("partner");
    for adapter in ["fhir-rest", "bars"] {
        let run = run_kit(vec![
            "--role".into(),
            "link-worker".into(),
            "--target".into(),
            partner.url(),
            "--adapter".into(),
            adapter.into(),
        ])
        .await;
        assert!(run.ok, "{adapter}: {}", run.stdout);
        // Status reports are only checked with --status-back.
        assert_eq!(run.counts(), (4, 0, 1), "{adapter}: {}", run.stdout);
    }
    // Every delivery arrived, the duplicate twice with the same request id.
    let received = partner.received();
    assert!(received.len() >= 10, "{}", received.len());

    let down = FhirPartner::start().await.expect("partner");
    down.fail_with(
        400,
        r#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid"}]}"#,
    );
    down.set_down(true);
    let run = run_kit(vec![
        "--role".into(),
        "vcs".into(),
        "--target".into(),
        down.url(),
    ])
    .await;
    assert!(!run.ok);
    assert_eq!(
        run.failed(),
        BTreeSet::from([
            "partner.accepts-new-task".to_owned(),
            "partner.duplicate-is-idempotent".to_owned(),
            "partner.accepts-update".to_owned()
        ]),
        "{}",
        run.stdout
    );
}

/// The kit as a VCS partner's gateway over webhooks, listening for the partner's status reports.
async fn webhook_partner_run(partner: &WebhookPartner) -> Run {
    let port = support::free_port();
    partner.report_to(&format!("http://127.0.0.1:{port}"));
    run_kit(vec![
        "--role".into(),
        "vcs".into(),
        "--target".into(),
        partner.url(),
        "--adapter".into(),
        "webhook".into(),
        "--webhook-secret".into(),
        SECRET.into(),
        "--status-back".into(),
        format!("127.0.0.1:{port}"),
        "--status-timeout".into(),
        "10".into(),
    ])
    .await
}

#[tokio::test]
async fn a_webhook_partner_reporting_status_is_checked_and_a_wrong_signature_fails_only_that() {
    let good = WebhookPartner::start(SECRET, "VCS001")
        .await
        .expect("partner");
    let run = webhook_partner_run(&good).await;
    assert!(run.ok, "{}", run.stdout);
    assert_eq!(run.counts(), (4, 0, 0), "{}", run.stdout);
    assert!(!good.events().is_empty());

    let bad = WebhookPartner::start(SECRET, "VCS001")
        .await
        .expect("partner");
    bad.sign_with(WRONG_SECRET).expect("secret");
    let run = webhook_partner_run(&bad).await;
    assert!(!run.ok);
    assert_eq!(
        run.failed(),
        BTreeSet::from(["partner.reports-status".to_owned()]),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("signature does not verify"),
        "{}",
        run.stdout
    );
}

#[tokio::test]
async fn a_bars_partner_must_acknowledge_with_a_message_not_just_a_2xx() {
    let partner = FhirPartner::start().await.expect("partner");
    // A 200 with an empty JSON object: the HTTP status says yes, the body is no BaRS answer.
    partner.acknowledge_with("{}");
    let run = run_kit(vec![
        "--role".into(),
        "link-worker".into(),
        "--target".into(),
        partner.url(),
        "--adapter".into(),
        "bars".into(),
    ])
    .await;
    assert!(!run.ok, "{}", run.stdout);
    assert_eq!(
        run.failed(),
        BTreeSet::from([
            "partner.accepts-new-task".to_owned(),
            "partner.duplicate-is-idempotent".to_owned(),
            "partner.accepts-update".to_owned()
        ]),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("a BaRS acknowledgement"),
        "{}",
        run.stdout
    );
    // An OperationOutcome reporting an error is no acceptance either.
    partner.acknowledge_with(
        r#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid"}]}"#,
    );
    let run = run_kit(vec![
        "--role".into(),
        "link-worker".into(),
        "--target".into(),
        partner.url(),
        "--adapter".into(),
        "bars".into(),
    ])
    .await;
    assert!(
        run.stdout.contains("an OperationOutcome with errors"),
        "{}",
        run.stdout
    );
}
