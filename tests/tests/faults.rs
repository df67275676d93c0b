//! Faults injected under the real binary: the store's disk fills up and is freed again.

use crate::support;

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use signpost_conformance::simulators::FhirPartner;
use support::{GatewayProcess, write_config};

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
