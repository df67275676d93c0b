//! Hostile and careless clients (DESIGN.md section 13): slow and idle connections, floods of
//! token-less requests, rate limits, duplicated credentials, and what the audit trail keeps.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use signpost_gateway::audit::AuditKey;
use signpost_gateway::store::{SearchQuery, SortOrder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{REFERRAL, Setup, TestGateway};

fn host_port(gw: &TestGateway) -> String {
    gw.base.trim_start_matches("http://").to_owned()
}

/// Waits (boundedly) for the server to close `stream`: `true` if it did.
async fn closed_by_server(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let waited = tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                // A 408 or similar before closing is fine; keep reading to the end.
                Ok(_) => {}
            }
        }
    })
    .await;
    waited.is_ok()
}

#[tokio::test]
async fn half_sent_connections_beyond_the_cap_are_closed_and_the_gateway_stays_up() {
    let gw = TestGateway::spawn_setup(Setup {
        server: "max_connections = 16\nheader_read_timeout_seconds = 1\n\
                 keep_alive_timeout_seconds = 1\nidle_timeout_seconds = 2\n"
            .into(),
        ..Setup::default()
    })
    .await;
    let addr = host_port(&gw);
    // Three times the cap, each sending part of a request and then nothing (slowloris).
    let mut held = Vec::new();
    for _ in 0..48 {
        let mut stream = TcpStream::connect(&addr).await.expect("connect");
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: gateway.test\r\nX-Slow: ")
            .await
            .expect("half a request");
        held.push(stream);
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    let health = http
        .get(format!("{}/healthz", gw.base))
        .send()
        .await
        .expect("/healthz answered while the half-sent connections are open");
    assert_eq!(health.status(), StatusCode::OK);
    let (status, _, sr) = gw.post_referral(REFERRAL).await;
    assert_eq!(status, StatusCode::CREATED, "{sr}");
    // The server, not the client, ended every half-sent connection.
    for (i, stream) in held.iter_mut().enumerate() {
        assert!(
            closed_by_server(stream, Duration::from_secs(60)).await,
            "half-sent connection {i} is still open"
        );
    }
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let gw = TestGateway::spawn_setup(Setup {
        server: "header_read_timeout_seconds = 30\nkeep_alive_timeout_seconds = 1\n".into(),
        ..Setup::default()
    })
    .await;
    let mut stream = TcpStream::connect(host_port(&gw)).await.expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: gateway.test\r\n\r\n")
        .await
        .expect("request");
    let mut answer = [0u8; 12];
    stream.read_exact(&mut answer).await.expect("answer");
    assert_eq!(&answer, b"HTTP/1.1 200");
    // Well under the header-read timeout: only the keep-alive limit can close it.
    assert!(closed_by_server(&mut stream, Duration::from_secs(20)).await);
}

/// Bytes the SQLite database holds on disk, its write-ahead log included.
fn database_bytes(gw: &TestGateway) -> u64 {
    ["signpost.db", "signpost.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(gw.dir.join(f)).ok())
        .map(|m| m.len())
        .sum()
}

async fn audit_events(gw: &TestGateway) -> Vec<Value> {
    let mut all = Vec::new();
    loop {
        let page = gw
            .store
            .search(&SearchQuery {
                resource_type: "AuditEvent".into(),
                criteria: vec![],
                count: 500,
                offset: all.len(),
                sort: SortOrder::default(),
            })
            .await
            .expect("search");
        let got = page.resources.len();
        all.extend(
            page.resources
                .iter()
                .map(|r| serde_json::from_str::<Value>(r.body.get()).expect("json")),
        );
        if got == 0 {
            return all;
        }
    }
}

fn is_unauthenticated_tally(event: &Value) -> bool {
    event["agent"][0]["who"]["display"]
        .as_str()
        .is_some_and(|d| d.starts_with("unauthenticated"))
}

#[tokio::test]
async fn ten_thousand_token_less_requests_with_long_paths_barely_grow_the_database() {
    let gw = std::sync::Arc::new(TestGateway::spawn().await);
    let (_, task) = gw.referral_with_task().await;
    let task_path = format!("Task/{}", task["id"].as_str().expect("id"));
    let before_events = audit_events(&gw).await.len();
    let before_bytes = database_bytes(&gw);
    // 60 kB of path that looks like NHS numbers.
    let long_path = format!("{}/Task/{}", gw.fhir, "9434765919".repeat(6000));
    const WORKERS: usize = 8;
    const PER_WORKER: usize = 1250;
    const AUTHENTICATED_EVERY: usize = 125;
    let mut workers = Vec::new();
    for _ in 0..WORKERS {
        let (gw, http, long_path, url) = (
            gw.clone(),
            gw.http.clone(),
            long_path.clone(),
            format!("{}/{task_path}", gw.fhir),
        );
        workers.push(tokio::spawn(async move {
            let (mut refused, mut limited, mut authenticated) = (0usize, 0usize, 0usize);
            for i in 0..PER_WORKER {
                let answer = http.get(&long_path).send().await.expect("send");
                match answer.status() {
                    StatusCode::UNAUTHORIZED => refused += 1,
                    StatusCode::TOO_MANY_REQUESTS => {
                        assert!(answer.headers().contains_key("retry-after"));
                        let body: Value = answer.json().await.expect("an OperationOutcome");
                        assert_eq!(body["resourceType"], "OperationOutcome");
                        assert_eq!(body["issue"][0]["code"], "throttled");
                        limited += 1;
                    }
                    other => panic!("a token-less request got {other}"),
                }
                if i % AUTHENTICATED_EVERY == 0 {
                    // A fresh token each time: on a loaded machine the run outlasts one.
                    let token = gw
                        .token_with("riverside-lw", "system/Task.rs")
                        .await
                        .expect("token")
                        .access_token;
                    let read = http
                        .get(&url)
                        .bearer_auth(&token)
                        .send()
                        .await
                        .expect("read");
                    assert_eq!(read.status(), StatusCode::OK);
                    authenticated += 1;
                }
            }
            (refused, limited, authenticated)
        }));
    }
    let (mut refused, mut limited, mut authenticated) = (0, 0, 0);
    for worker in workers {
        let (r, l, a) = worker.await.expect("worker");
        refused += r;
        limited += l;
        authenticated += a;
    }
    assert_eq!(refused + limited, WORKERS * PER_WORKER);
    assert!(limited > 0, "one source past its rate is throttled");
    let grown = database_bytes(&gw).saturating_sub(before_bytes);
    assert!(
        grown < 2 * 1024 * 1024,
        "the database grew by {grown} bytes"
    );

    // Each minute's tally is written once the minute is over.
    let mut events = audit_events(&gw).await;
    for _ in 0..90 {
        let counted: u64 = events
            .iter()
            .filter(|e| is_unauthenticated_tally(e))
            .map(|e| {
                e["entity"][0]["detail"][0]["valueString"]
                    .as_str()
                    .and_then(|v| v.parse::<u64>().ok())
                    .expect("a count")
            })
            .sum();
        if counted == (WORKERS * PER_WORKER) as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        events = audit_events(&gw).await;
    }
    // One record per source and minute: every tally covers a minute of its own.
    let minutes: Vec<&str> = events
        .iter()
        .filter(|e| is_unauthenticated_tally(e))
        .filter_map(|e| e["period"]["start"].as_str())
        .collect();
    let tallies = minutes.len();
    let distinct: std::collections::HashSet<&&str> = minutes.iter().collect();
    assert_eq!(distinct.len(), tallies, "{minutes:?}");
    let counted: u64 = events
        .iter()
        .filter(|e| is_unauthenticated_tally(e))
        .filter_map(|e| e["entity"][0]["detail"][0]["valueString"].as_str())
        .filter_map(|v| v.parse::<u64>().ok())
        .sum();
    assert_eq!(counted, (WORKERS * PER_WORKER) as u64);
    // Every authenticated read was audited, one record each, besides the tallies.
    assert_eq!(events.len(), before_events + authenticated + tallies);
    let reads = events
        .iter()
        .filter(|e| e["entity"][0]["what"]["reference"] == task_path.as_str())
        .count();
    assert!(
        reads >= authenticated,
        "{reads} reads audited of {authenticated}"
    );
    assert!(
        events
            .iter()
            .all(|e| !e.to_string().contains("94347659199434765919")),
        "no long path is stored"
    );
}

#[tokio::test]
async fn audited_searches_keep_their_shape_with_identifier_values_hashed() {
    let gw = TestGateway::spawn().await;
    gw.referral_with_task().await;
    let (status, _, bundle) = gw
        .get_as(
            "riverside-gp",
            "ServiceRequest?subject:identifier=https://fhir.nhs.uk/Id/nhs-number%7C9434765919",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{bundle}");
    let key = AuditKey::load_or_create(&gw.dir.join("audit-key")).expect("the gateway's key");
    let expected = format!(
        "ServiceRequest?subject:identifier=https://fhir.nhs.uk/Id/nhs-number|{}",
        key.hash("9434765919")
    );
    let events = audit_events(&gw).await;
    let searches: Vec<&Value> = events
        .iter()
        .filter(|e| {
            e["subtype"][0]["code"] == "search-type"
                && e["entity"][0]["what"]["display"]
                    .as_str()
                    .is_some_and(|d| d.starts_with("ServiceRequest?"))
        })
        .collect();
    assert_eq!(searches.len(), 1);
    assert_eq!(
        searches[0]["entity"][0]["what"]["display"],
        expected.as_str()
    );
    use base64::Engine;
    let query = base64::engine::general_purpose::STANDARD
        .decode(searches[0]["entity"][0]["query"].as_str().expect("query"))
        .expect("base64");
    assert_eq!(String::from_utf8(query).expect("utf8"), expected);
    for event in &events {
        assert!(!event.to_string().contains("9434765919"), "{event}");
    }
}

#[tokio::test]
async fn two_authorization_headers_are_refused() {
    let gw = TestGateway::spawn().await;
    let token = gw.token("riverside-gp").await;
    let answer = gw
        .http
        .get(format!("{}/Task?status=requested", gw.fhir))
        .header("authorization", format!("Bearer {token}"))
        .header("authorization", "Bearer someone-elses-token")
        .send()
        .await
        .expect("send");
    assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    let body: Value = answer.json().await.expect("json");
    assert_eq!(body["resourceType"], "OperationOutcome");
    assert!(
        body["issue"][0]["diagnostics"]
            .as_str()
            .is_some_and(|d| d.contains("more than one Authorization header")),
        "{body}"
    );
}

#[tokio::test]
async fn a_client_over_its_rate_gets_429_with_retry_after() {
    let gw = TestGateway::spawn_setup(Setup {
        server: "client_requests_per_second = 1\n".into(),
        ..Setup::default()
    })
    .await;
    let token = gw.token("riverside-gp").await;
    let mut statuses = Vec::new();
    let mut throttled = None;
    for _ in 0..4 {
        let answer = gw
            .http
            .get(format!("{}/Task?status=requested", gw.fhir))
            .bearer_auth(&token)
            .send()
            .await
            .expect("send");
        statuses.push(answer.status());
        if answer.status() == StatusCode::TOO_MANY_REQUESTS {
            let retry = answer
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            throttled = Some((retry, answer.json::<Value>().await.expect("json")));
        }
    }
    // A burst of twice the rate passes, then the client waits.
    assert_eq!(&statuses[..2], &[StatusCode::OK, StatusCode::OK]);
    let (retry, body) = throttled.expect("throttled");
    assert!(retry.is_some_and(|s| s >= 1), "{retry:?}");
    assert_eq!(body["issue"][0]["code"], "throttled");
    // Another client of the same organisation has its own allowance.
    let (status, _, _) = gw.get_as("read-only-gp", "Task/unknown").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn metrics_can_be_kept_behind_a_bearer_token() {
    let gw = TestGateway::spawn_setup(Setup {
        server: "metrics_token = \"scrape-me-0123456789\"\n".into(),
        ..Setup::default()
    })
    .await;
    let url = format!("{}/metrics", gw.base);
    let open = gw.http.get(&url).send().await.expect("send");
    assert_eq!(open.status(), StatusCode::UNAUTHORIZED);
    let body: Value = open.json().await.expect("an OperationOutcome");
    assert_eq!(body["resourceType"], "OperationOutcome");
    let wrong = gw
        .http
        .get(&url)
        .bearer_auth("scrape-me-wrong")
        .send()
        .await
        .expect("send");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let scraped = gw
        .http
        .get(&url)
        .bearer_auth("scrape-me-0123456789")
        .send()
        .await
        .expect("send");
    assert_eq!(scraped.status(), StatusCode::OK);
}

const ODS: &str = "https://fhir.nhs.uk/Id/ods-organization-code";

fn performers(codes: &[&str]) -> Value {
    Value::Array(
        codes
            .iter()
            .map(|c| serde_json::json!({"identifier": {"system": ODS, "value": c}}))
            .collect(),
    )
}

#[tokio::test]
async fn a_gp_referral_naming_a_party_that_is_no_link_worker_is_refused_whole() {
    let gw = TestGateway::spawn().await;
    let before = gw.stored().await;
    let mut body = crate::support::referral();
    body["performer"] = performers(&["LWS001", "A81002"]);
    let (status, _, outcome) = gw.post_referral(body.to_string()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{outcome}");
    assert_eq!(
        crate::support::issue(&outcome),
        (
            "business-rule",
            "ServiceRequest.performer[1].identifier.value"
        )
    );
    assert_eq!(gw.stored().await, before);
    // The practice that was named sees nothing.
    let (_, _, seen) = gw.get_as("hillside-gp", "ServiceRequest").await;
    assert_eq!(seen["total"], 0, "{seen}");
}

#[tokio::test]
async fn an_onward_referral_has_exactly_one_performer_a_registered_vcs() {
    let gw = TestGateway::spawn().await;
    let (sr, task) = gw.referral_with_task().await;
    gw.move_task("riverside-lw", &task, "accepted").await;
    let onward = |codes: &[&str]| {
        let mut body = crate::support::referral();
        body["requester"] = serde_json::json!({"identifier": {"system": ODS, "value": "LWS001"}});
        if !codes.is_empty() {
            body["performer"] = performers(codes);
        }
        body["basedOn"] = serde_json::json!([{"reference": format!("ServiceRequest/{}", sr["id"].as_str().expect("id"))}]);
        body["intent"] = serde_json::json!("filler-order");
        body.to_string()
    };
    let before = gw.stored().await;
    for (codes, at) in [
        (&["VCS001", "A81002"][..], "ServiceRequest.performer"),
        (&["VCS001", "VCS002"][..], "ServiceRequest.performer"),
        (&[][..], "ServiceRequest.performer"),
    ] {
        let (status, _, outcome) = gw
            .post_as("riverside-lw", "ServiceRequest", onward(codes), &[])
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{codes:?}: {outcome}"
        );
        assert_eq!(
            crate::support::issue(&outcome),
            ("business-rule", at),
            "{codes:?}"
        );
    }
    assert_eq!(
        gw.stored().await,
        before,
        "nothing of a refused referral is kept"
    );
    let (status, _, created) = gw
        .post_as("riverside-lw", "ServiceRequest", onward(&["VCS001"]), &[])
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().expect("id");
    // The VCS sees its minimised view; an organisation not party to it sees nothing.
    let (status, _, vcs_view) = gw
        .get_as("walking-app", &format!("ServiceRequest/{id}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!vcs_view.to_string().contains("9434765919"), "{vcs_view}");
    let (status, _, _) = gw
        .get_as("hillside-gp", &format!("ServiceRequest/{id}"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = gw
        .get_as("debt-advice-app", &format!("ServiceRequest/{id}"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

const SCRIPT_DIV: &str = "<div xmlns=\"http://www.w3.org/1999/xhtml\">Referral <script>fetch('//evil.example')</script></div>";

#[tokio::test]
async fn script_in_narrative_is_refused_at_intake_naming_the_element() {
    let gw = TestGateway::spawn().await;
    let before = gw.stored().await;
    let mut body = crate::support::referral();
    body["text"] = serde_json::json!({"status": "generated", "div": SCRIPT_DIV});
    let (status, _, outcome) = gw.post_referral(body.to_string()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{outcome}");
    assert_eq!(
        crate::support::issue(&outcome),
        ("value", "ServiceRequest.text.div")
    );
    let mut body = crate::support::referral();
    body["contained"][0]["text"] = serde_json::json!({"status": "generated", "div": SCRIPT_DIV.replace("<script>", "<p onclick=\"x()\">").replace("</script>", "</p>")});
    let (status, _, outcome) = gw.post_referral(body.to_string()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{outcome}");
    assert_eq!(
        crate::support::issue(&outcome),
        ("value", "ServiceRequest.contained[0].text.div")
    );
    assert_eq!(gw.stored().await, before);
    // Plain narrative is still welcome.
    let mut body = crate::support::referral();
    body["text"] = serde_json::json!({"status": "generated",
        "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>Referral to <b>social prescribing</b></p></div>"});
    let (status, _, outcome) = gw.post_referral(body.to_string()).await;
    assert_eq!(status, StatusCode::CREATED, "{outcome}");
}

#[tokio::test]
async fn no_party_can_add_narrative_to_a_task() {
    let gw = TestGateway::spawn().await;
    let (_, task) = gw.referral_with_task().await;
    let id = task["id"].as_str().expect("id");
    let version: i64 = task["meta"]["versionId"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .expect("version");
    // Script is refused as narrative (txt-1) ...
    let (status, _, outcome) = gw
        .patch_task(
            "riverside-lw",
            id,
            &serde_json::json!([{"op": "add", "path": "/text",
                "value": {"status": "generated", "div": SCRIPT_DIV}}]),
            version,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{outcome}");
    assert_eq!(crate::support::issue(&outcome).1, "Task.text.div");
    // ... and even harmless narrative is refused: a Task's text is fixed.
    let (status, _, outcome) = gw
        .patch_task(
            "riverside-lw",
            id,
            &serde_json::json!([{"op": "add", "path": "/text",
                "value": {"status": "generated",
                    "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">Seen by the link worker</div>"}}]),
            version,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{outcome}");
    assert_eq!(
        crate::support::issue(&outcome),
        ("business-rule", "Task.text")
    );
    let (_, _, stored) = gw.get_as("riverside-gp", &format!("Task/{id}")).await;
    assert!(stored.get("text").is_none(), "{stored}");
}

/// What systems put where they should not: an NHS number (two spellings), a birth date and an address.
const PLANTED: &str =
    "Margaret (NHS 943 476 5919 / 9434765919, DOB 1948-03-14, 12 Mill Lane S1 2AB)";
const SECRETS: &[&str] = &[
    "943 476 5919",
    "9434765919",
    "1948-03-14",
    "Mill Lane",
    "S1 2AB",
];

/// `referral` with PLANTED in every display and free-text element and as an extra identifier.
fn planted(mut sr: Value) -> Value {
    use serde_json::json;
    sr["identifier"].as_array_mut().expect("identifiers").push(
        json!({"system": "https://fhir.riverside-surgery.example/patient", "value": "9434765919"}),
    );
    sr["subject"]["display"] = json!(PLANTED);
    sr["requester"]["display"] = json!(PLANTED);
    sr["category"][0]["text"] = json!(PLANTED);
    sr["category"][0]["coding"][0]["display"] = json!(PLANTED);
    sr["code"]["text"] = json!(PLANTED);
    sr["code"]["coding"][0]["display"] = json!(PLANTED);
    sr["reasonCode"][0]["text"] = json!(PLANTED);
    sr["reasonCode"][0]["coding"][0]["display"] = json!(PLANTED);
    sr["note"] = json!([{"text": PLANTED}]);
    sr["patientInstruction"] = json!(PLANTED);
    sr["contained"][0]["name"][0]["text"] = json!(PLANTED);
    sr["text"] = json!({"status": "generated",
        "div": format!("<div xmlns=\"http://www.w3.org/1999/xhtml\">{PLANTED}</div>")});
    sr
}

fn leaks(what: &str, body: &str) -> Vec<String> {
    SECRETS
        .iter()
        .filter(|s| body.contains(*s))
        .map(|s| format!("{what}: {s}"))
        .collect()
}

#[tokio::test]
async fn patient_data_planted_in_every_free_text_and_display_never_reaches_a_vcs() {
    use signpost_conformance::simulators::FhirPartner;
    let fhir_rest = FhirPartner::start().await.expect("partner");
    let bars = FhirPartner::start().await.expect("partner");
    let gw = TestGateway::spawn_setup(Setup {
        adapters: vec![
            (
                "VCS001",
                format!("kind = \"fhir-rest\"\nurl = \"{}\"\n", fhir_rest.url()),
            ),
            (
                "VCS002",
                format!(
                    "kind = \"bars\"\nurl = \"{}\"\ntarget_identifier = \"2000123457\"\n",
                    bars.url()
                ),
            ),
        ],
        delivery: "poll_interval_ms = 20\n".into(),
        ..Setup::default()
    })
    .await;
    let (status, _, sr) = gw
        .post_referral(planted(crate::support::referral()).to_string())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sr}");
    let sr_id = sr["id"].as_str().expect("id").to_owned();
    let (_, _, tasks) = gw
        .get_as(
            "riverside-lw",
            &format!("Task?focus=ServiceRequest/{sr_id}"),
        )
        .await;
    let task = tasks["entry"][0]["resource"].clone();
    gw.move_task("riverside-lw", &task, "accepted").await;
    let mut onward_ids = Vec::new();
    for vcs in ["VCS001", "VCS002"] {
        let mut onward = planted(crate::support::referral());
        onward["requester"]["identifier"]["value"] = serde_json::json!("LWS001");
        onward["performer"] = performers(&[vcs]);
        onward["basedOn"] = serde_json::json!([{"reference": format!("ServiceRequest/{sr_id}"),
            "display": PLANTED}]);
        onward["intent"] = serde_json::json!("filler-order");
        let (status, _, created) = gw
            .post_as("riverside-lw", "ServiceRequest", onward.to_string(), &[])
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        onward_ids.push(created["id"].as_str().expect("id").to_owned());
    }
    let mut found = Vec::new();
    for (client, id) in [
        ("walking-app", &onward_ids[0]),
        ("debt-advice-app", &onward_ids[1]),
    ] {
        for path in [
            format!("ServiceRequest/{id}"),
            format!("ServiceRequest/{id}/_history/1"),
            format!("ServiceRequest/{id}/_history"),
            "ServiceRequest?status=active".to_owned(),
            format!("ServiceRequest?based-on=ServiceRequest/{sr_id}"),
            "Task?status=requested".to_owned(),
            format!("Task?focus=ServiceRequest/{id}"),
            // Refusals too: the diagnostics must not echo the referral.
            format!("ServiceRequest/{sr_id}"),
            format!("Task/{}", task["id"].as_str().expect("id")),
        ] {
            let (status, _, body) = gw.get_as(client, &path).await;
            assert!(
                status.is_success() || status == StatusCode::NOT_FOUND,
                "{client} {path}: {status}"
            );
            found.extend(leaks(&format!("{client} GET {path}"), &body.to_string()));
        }
    }
    // The VCS Task as each adapter pushed it.
    for (name, partner) in [("fhir-rest", &fhir_rest), ("bars", &bars)] {
        let arrived = partner
            .wait_until(Duration::from_secs(30), |received| !received.is_empty())
            .await;
        assert!(arrived, "nothing was pushed by {name}");
        for received in partner.received() {
            found.extend(leaks(
                &format!("{name} push"),
                &String::from_utf8_lossy(&received.raw),
            ));
        }
    }
    assert!(found.is_empty(), "reached a VCS:\n{}", found.join("\n"));
    // The link worker, whose referral it is, still has the whole of it.
    let (_, _, full) = gw
        .get_as("riverside-lw", &format!("ServiceRequest/{sr_id}"))
        .await;
    assert!(full.to_string().contains("9434765919"));
}

/// Signs `claims` as `client` would, with `crit` in the header if given.
fn assertion(gw: &TestGateway, client: &str, claims: &Value, crit: bool) -> String {
    let key = &gw.keys[client];
    let mut header = jsonwebtoken::Header::new(key.algorithm.jwt());
    header.kid = Some(key.kid.clone());
    header.typ = Some("JWT".into());
    if crit {
        header.crit = Some(vec!["exp".into()]);
    }
    jsonwebtoken::encode(&header, claims, &key.encoding_key().expect("key")).expect("sign")
}

async fn token_answer(gw: &TestGateway, assertion: &str) -> (u16, String) {
    signpost_conformance::smart::request_token_raw(
        &gw.http,
        &gw.token_endpoint(),
        assertion,
        "system/Task.rs",
    )
    .await
    .expect("token request")
}

#[tokio::test]
async fn assertions_from_the_future_or_with_crit_are_refused() {
    let gw = TestGateway::spawn().await;
    let now = signpost_conformance::smart::unix_now();
    let claims = |extra: Value| {
        let mut c = serde_json::json!({"iss": "riverside-gp", "sub": "riverside-gp",
            "aud": gw.token_audience(), "exp": now + 120,
            "jti": uuid::Uuid::new_v4().to_string()});
        if let (Some(c), Some(extra)) = (c.as_object_mut(), extra.as_object()) {
            c.extend(extra.clone());
        }
        c
    };
    let (status, body) = token_answer(
        &gw,
        &assertion(
            &gw,
            "riverside-gp",
            &claims(serde_json::json!({"iat": now})),
            false,
        ),
    )
    .await;
    assert_eq!(status, 200, "a sound assertion is accepted: {body}");
    for (what, claims, crit) in [
        (
            "nbf ahead",
            claims(serde_json::json!({"nbf": now + 60})),
            false,
        ),
        (
            "iat ahead",
            claims(serde_json::json!({"iat": now + 60})),
            false,
        ),
        ("crit", claims(serde_json::json!({"iat": now})), true),
    ] {
        let (status, body) =
            token_answer(&gw, &assertion(&gw, "riverside-gp", &claims, crit)).await;
        assert_eq!(status, 401, "{what}: {body}");
        let body: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(body["error"], "invalid_client", "{what}");
    }
}

#[tokio::test]
async fn refusals_do_not_tell_which_clients_or_partners_exist() {
    let gw = TestGateway::spawn_setup(Setup {
        adapters: vec![(
            "VCS002",
            "kind = \"webhook\"\nurl = \"http://127.0.0.1:9/hook\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwAAAA\"\n".into(),
        )],
        ..Setup::default()
    })
    .await;
    let now = signpost_conformance::smart::unix_now();
    // A registered client with a key it does not have, and a client that does not exist.
    let mut answers = Vec::new();
    for iss in ["riverside-gp", "no-such-client"] {
        let claims = serde_json::json!({"iss": iss, "sub": iss, "aud": gw.token_audience(),
            "exp": now + 120, "jti": uuid::Uuid::new_v4().to_string()});
        // Signed by another client's key: the kid is unknown for riverside-gp.
        answers.push(token_answer(&gw, &assertion(&gw, "hillside-gp", &claims, false)).await);
    }
    assert_eq!(answers[0], answers[1], "the token endpoint told them apart");
    assert_eq!(answers[0].0, 401);
    // A webhook partner and an organisation that is none, sent the same unsigned message.
    let mut answers = Vec::new();
    for ods in ["VCS002", "VCS001", "ZZZ999"] {
        let response = gw
            .http
            .post(format!("{}/webhooks/{ods}/status", gw.base))
            .header("content-type", "application/json")
            .body(r#"{"task_id": "x", "status": "accepted"}"#)
            .send()
            .await
            .expect("send");
        answers.push((response.status(), response.text().await.expect("body")));
    }
    assert_eq!(
        answers[0], answers[1],
        "the webhook endpoint told them apart"
    );
    assert_eq!(
        answers[0], answers[2],
        "the webhook endpoint told them apart"
    );
    assert_eq!(answers[0].0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn over_limit_bodies_get_an_operation_outcome_everywhere() {
    let gw = TestGateway::spawn_setup(Setup {
        server: "max_body_bytes = 4096\n".into(),
        ..Setup::default()
    })
    .await;
    let (_, task) = gw.referral_with_task().await;
    let big = "x".repeat(8192);
    let patch = serde_json::json!([{"op": "add", "path": "/note", "value": [{"text": big}]}]);
    let (status, _, body) = gw
        .patch_task("riverside-lw", task["id"].as_str().expect("id"), &patch, 1)
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(crate::support::issue(&body).0, "too-long", "{body}");
    for (url, content_type) in [
        (gw.token_endpoint(), "application/x-www-form-urlencoded"),
        (
            format!("{}/webhooks/VCS001/status", gw.base),
            "application/json",
        ),
    ] {
        let response = gw
            .http
            .post(&url)
            .header("content-type", content_type)
            .body(format!("grant_type={big}"))
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE, "{url}");
        let body: Value = response.json().await.expect("an OperationOutcome");
        assert_eq!(crate::support::issue(&body).0, "too-long", "{url}: {body}");
    }
}
