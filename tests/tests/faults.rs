//! Faults injected under the real binary: the store's disk fills up and is freed again; the
//! answer to a PostgreSQL COMMIT is lost; the connection to PostgreSQL stalls.

use crate::support;

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use signpost_conformance::simulators::FhirPartner;
use support::{CommitFault, GatewayProcess, PgProxy, TempPostgres, write_config};

const REFERRAL: &str = signpost_profiles::examples::REFERRAL_FROM_GP;

/// A small tmpfs mounted for the test's lifetime, unmounted when dropped.
struct SmallDisk {
    path: std::path::PathBuf,
}

impl SmallDisk {
    /// Mounts `size` of tmpfs at `path`; `None` where this user cannot mount (not root, or in a
    /// container without the capability).
    fn mount(path: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(path).ok()?;
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .status()
            .ok()?
            .success();
        mounted.then(|| Self {
            path: path.to_owned(),
        })
    }

    /// Writes a file until the disk is full; returns its path.
    fn fill(&self) -> std::path::PathBuf {
        let filler = self.path.join("filler");
        let mut file = std::fs::File::create(&filler).expect("filler");
        let chunk = vec![0x5a_u8; 64 * 1024];
        while file.write_all(&chunk).is_ok() {}
        // The last partial chunk may have fitted: fill what is left a byte at a time.
        while file.write_all(&[0]).is_ok() {}
        let _ = file.sync_all();
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

async fn post(http: &reqwest::Client, gw: &GatewayProcess, token: &str, n: usize) -> (u16, Value) {
    let body = REFERRAL.replace("RS-2026-000184", &format!("RS-FULL-{n}"));
    let response = http
        .post(format!("{}/ServiceRequest", gw.fhir))
        .bearer_auth(token)
        .header("content-type", "application/fhir+json")
        .body(body)
        .send()
        .await
        .expect("post");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn readyz(http: &reqwest::Client, gw: &GatewayProcess) -> u16 {
    http.get(gw.fhir.replace("/fhir", "/readyz"))
        .send()
        .await
        .expect("readyz")
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_full_disk_gives_503s_and_the_store_recovers_once_space_is_freed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(disk) = SmallDisk::mount(&dir.path().join("data"), "4m") else {
        eprintln!(
            "SKIPPED a_full_disk_gives_503s_and_the_store_recovers_once_space_is_freed: cannot mount a tmpfs here (needs root)"
        );
        return;
    };
    let partner = FhirPartner::start().await.expect("partner");
    let config = write_config(dir.path(), &partner.url());
    let db = disk.path.join("signpost.db");
    let store_url = format!("sqlite://{}", db.display());
    let mut gw =
        GatewayProcess::start_with(&config, dir.path(), &[("SIGNPOST_STORE_URL", &store_url)])
            .await;
    let token = gw.gp_token(dir.path()).await;
    let http = reqwest::Client::new();
    let mut acknowledged = HashSet::new();
    let mut n = 0;
    for _ in 0..5 {
        n += 1;
        let (status, sr) = post(&http, &gw, &token, n).await;
        assert_eq!(status, 201, "{sr}");
        acknowledged.insert(sr["id"].as_str().expect("id").to_owned());
    }

    let filler = disk.fill();
    // Pages already in the log can be reused for a while; keep writing until the disk refuses.
    let mut refused = 0;
    while refused < 3 && n < 3000 {
        n += 1;
        let (status, body) = post(&http, &gw, &token, n).await;
        match status {
            201 => {
                acknowledged.insert(body["id"].as_str().expect("id").to_owned());
            }
            503 => {
                assert_eq!(body["resourceType"], "OperationOutcome", "{body}");
                assert_eq!(body["issue"][0]["code"], "transient", "{body}");
                refused += 1;
            }
            other => panic!("a full disk answered {other}: {body}\n{}", gw.log()),
        }
    }
    assert_eq!(refused, 3, "the disk never filled:\n{}", gw.log());
    assert_eq!(
        readyz(&http, &gw).await,
        503,
        "a writer that cannot commit is not ready"
    );

    std::fs::remove_file(filler).expect("free the disk");
    n += 1;
    let (status, sr) = post(&http, &gw, &token, n).await;
    assert_eq!(
        status,
        201,
        "the store did not recover once space was freed: {sr}\n{}",
        gw.log()
    );
    acknowledged.insert(sr["id"].as_str().expect("id").to_owned());
    assert_eq!(readyz(&http, &gw).await, 200);
    for id in &acknowledged {
        let status = http
            .get(format!("{}/ServiceRequest/{id}", gw.fhir))
            .bearer_auth(&token)
            .send()
            .await
            .expect("get")
            .status();
        assert_eq!(status, 200, "acknowledged {id} was lost");
    }
    assert!(gw.terminate(), "the gateway did not stop cleanly");

    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&store_url)
        .await
        .expect("open");
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .expect("integrity check");
    assert_eq!(integrity, "ok");
    let stored: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM resources WHERE resource_type = 'ServiceRequest'")
            .fetch_one(&mut conn)
            .await
            .expect("count");
    assert_eq!(
        usize::try_from(stored).unwrap_or(0),
        acknowledged.len(),
        "only acknowledged referrals are stored"
    );
}

/// A gateway on a fresh PostgreSQL database reached through a fault-injecting proxy, with
/// `store` settings added to its config; (database, gateway, proxy, GP token, tempdir), the
/// database first so that it is dropped last.
async fn through_proxy(
    store: &str,
) -> (
    TempPostgres,
    GatewayProcess,
    PgProxy,
    String,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let partner = FhirPartner::start().await.expect("partner");
    let config = write_config(dir.path(), &partner.url());
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(
        &config,
        text.replacen("[store]\n", &format!("[store]\n{store}"), 1),
    )
    .expect("config");
    let db = TempPostgres::create().await;
    let url = db.url.clone();
    let proxy = PgProxy::start(PgProxy::upstream_of(&url)).await;
    let through = proxy.url_for(&url);
    let gw =
        GatewayProcess::start_with(&config, dir.path(), &[("SIGNPOST_STORE_URL", &through)]).await;
    let token = gw.gp_token(dir.path()).await;
    (db, gw, proxy, token, dir)
}

/// How many ServiceRequests carry the example's identifier system with `value`.
async fn referrals_with(
    http: &reqwest::Client,
    gw: &GatewayProcess,
    token: &str,
    value: &str,
) -> i64 {
    let found: Value = http
        .get(format!(
            "{}/ServiceRequest?identifier=https://fhir.riverside-surgery.example/referral|{value}",
            gw.fhir
        ))
        .bearer_auth(token)
        .send()
        .await
        .expect("search")
        .json()
        .await
        .expect("json");
    found["total"].as_i64().expect("total")
}

async fn post_as(
    http: &reqwest::Client,
    gw: &GatewayProcess,
    token: &str,
    identifier: &str,
    condition: Option<&str>,
) -> (u16, Value) {
    let mut request = http
        .post(format!("{}/ServiceRequest", gw.fhir))
        .bearer_auth(token)
        .header("content-type", "application/fhir+json")
        .body(REFERRAL.replace("RS-2026-000184", identifier));
    if let Some(c) = condition {
        request = request.header("if-none-exist", c);
    }
    let response = request.send().await.expect("post");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_lost_commit_answer_on_postgres_is_found_out_before_answering() {
    let (_db, gw, proxy, token, _dir) = through_proxy("").await;
    let http = reqwest::Client::new();

    // The COMMIT reaches the server, its answer does not: the referral was saved, and says so.
    proxy.on_commit_carrying("RS-LOST-ANSWER", CommitFault::LoseTheAnswer);
    let (status, sr) = post_as(&http, &gw, &token, "RS-LOST-ANSWER", None).await;
    assert_eq!(proxy.commits_interfered(), 1, "the fault never fired");
    assert_eq!(status, 201, "{sr}\n{}", gw.log());
    assert_eq!(
        referrals_with(&http, &gw, &token, "RS-LOST-ANSWER").await,
        1
    );

    // The COMMIT never reaches the server: Signpost cannot know that, and must not claim it.
    proxy.on_commit_carrying("RS-LOST-COMMIT", CommitFault::LoseTheCommit);
    let (status, outcome) = post_as(&http, &gw, &token, "RS-LOST-COMMIT", None).await;
    assert_eq!(proxy.commits_interfered(), 2, "the fault never fired");
    assert_eq!(status, 503, "{outcome}");
    assert_eq!(outcome["resourceType"], "OperationOutcome");
    let said = outcome["issue"][0]["diagnostics"]
        .as_str()
        .unwrap_or_default();
    assert!(
        said.contains("may or may not have been saved") && !said.contains("nothing was saved"),
        "{said}"
    );
    // Retried as told, it is made once.
    let condition = "identifier=https://fhir.riverside-surgery.example/referral|RS-LOST-COMMIT";
    let (status, sr) = post_as(&http, &gw, &token, "RS-LOST-COMMIT", Some(condition)).await;
    assert_eq!(status, 201, "{sr}");
    let (status, _) = post_as(&http, &gw, &token, "RS-LOST-COMMIT", Some(condition)).await;
    assert_eq!(status, 200, "the retry found the one made");
    assert_eq!(
        referrals_with(&http, &gw, &token, "RS-LOST-COMMIT").await,
        1
    );
}

#[tokio::test]
async fn a_stalled_postgres_gives_503_within_the_deadline_and_recovers() {
    let (_db, gw, proxy, token, _dir) = through_proxy("call_timeout_ms = 1000\n").await;
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("client");
    let (status, sr) = post_as(&http, &gw, &token, "RS-BEFORE-STALL", None).await;
    assert_eq!(status, 201, "{sr}");

    proxy.stall(true);
    let (status, outcome) = post_as(&http, &gw, &token, "RS-DURING-STALL", None).await;
    let ready = readyz(&http, &gw).await;
    // Answered while the database was still stalled: the deadline, not the stall, ended them.
    assert!(proxy.is_stalled());
    assert_eq!(status, 503, "{outcome}");
    assert_eq!(outcome["resourceType"], "OperationOutcome", "{outcome}");
    assert_eq!(ready, 503, "a stalled store is not ready");
    proxy.stall(false);

    let mut recovered = false;
    for n in 0..20 {
        let (status, _) = post_as(&http, &gw, &token, &format!("RS-AFTER-STALL-{n}"), None).await;
        if status == 201 {
            recovered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert!(
        recovered,
        "no referral was accepted after the stall:\n{}",
        gw.log()
    );
    assert_eq!(readyz(&http, &gw).await, 200);
    assert_eq!(
        referrals_with(&http, &gw, &token, "RS-BEFORE-STALL").await,
        1
    );
}
