//! The command line: `check-config` and `keygen` through the real binary.

mod support;

use std::process::Command;

fn signpost(dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(support::binary())
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run signpost");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn check_config_reports_every_mistake_with_its_path_and_exits_non_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("bad.toml"),
        r#"
[[organisation]]
ods = "A81001"
name = "Riverside Surgery"
role = "gp"
[[organisation]]
ods = "A81001"
name = "Duplicate"
role = "link-worker"
[[client]]
id = "c"
organisation = "ZZZ999"
jwks = "missing.jwks.json"
scopes = ["system/Task.rs"]
[[route]]
from = "A81001"
to = "NOWHERE"
"#,
    )
    .expect("write");
    let (ok, _, stderr) = signpost(dir.path(), &["check-config", "bad.toml"]);
    assert!(!ok, "a bad config must exit non-zero");
    for path in [
        "organisation[1].ods",
        "client[0].organisation",
        "client[0].jwks",
        "route[0].to",
    ] {
        assert!(stderr.contains(path), "{path} not reported:\n{stderr}");
    }
    let (ok, _, stderr) = signpost(dir.path(), &["serve", "--config", "bad.toml"]);
    assert!(
        !ok && stderr.contains("route[0].to"),
        "serve must refuse a bad config:\n{stderr}"
    );

    std::fs::write(
        dir.path().join("typo.toml"),
        "[server]\nlisten = \"127.0.0.1:8080\"\nlisen = \"x\"\n",
    )
    .expect("write");
    let (ok, _, stderr) = signpost(dir.path(), &["check-config", "typo.toml"]);
    assert!(!ok && stderr.contains("server.lisen"), "{stderr}");
}

#[test]
fn keygen_writes_a_private_key_and_a_jwks_that_check_config_accepts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ok, stdout, stderr) = signpost(
        dir.path(),
        &["keygen", "--client", "riverside-gp-system", "--out", "keys"],
    );
    assert!(ok, "{stderr}");
    assert!(stdout.contains("[[client]]"), "{stdout}");
    let pem = dir.path().join("keys/riverside-gp-system.pem");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&pem).expect("pem").permissions().mode() & 0o777;
        assert_eq!(
            mode, 0o600,
            "the private key must be readable by its owner only"
        );
    }
    let key = signpost_conformance::keys::ClientKey::from_pem(
        &std::fs::read_to_string(&pem).expect("pem"),
    )
    .expect("valid key");
    let jwks: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("keys/riverside-gp-system.jwks.json"))
            .expect("jwks"),
    )
    .expect("json");
    assert_eq!(jwks["keys"][0]["kid"], key.kid.as_str());
    assert!(
        jwks.to_string().find("\"d\"").is_none(),
        "the JWKS must not contain the private key"
    );

    std::fs::write(
        dir.path().join("ok.toml"),
        "[[organisation]]\nods = \"A81001\"\nname = \"Riverside Surgery\"\nrole = \"gp\"\n\
         [[client]]\nid = \"riverside-gp-system\"\norganisation = \"A81001\"\njwks = \"keys/riverside-gp-system.jwks.json\"\nscopes = [\"system/ServiceRequest.crs\"]\n",
    )
    .expect("write");
    let (ok, stdout, stderr) = signpost(dir.path(), &["check-config", "ok.toml"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("OK"), "{stdout}");

    let (ok, _, stderr) = signpost(
        dir.path(),
        &["keygen", "--client", "riverside-gp-system", "--out", "keys"],
    );
    assert!(
        !ok && stderr.contains("not overwriting"),
        "keygen must not overwrite a key: {stderr}"
    );
}

fn examples() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../profiles/examples")
}

#[test]
fn validate_prints_an_operation_outcome_and_exits_zero_for_valid_files() {
    let valid = examples().join("valid");
    let (ok, stdout, stderr) = signpost(&valid, &["validate", "referral-from-gp.json"]);
    assert!(ok, "{stdout}{stderr}");
    let outcome: serde_json::Value = serde_json::from_str(&stdout).expect("one OperationOutcome");
    assert_eq!(outcome["resourceType"], "OperationOutcome");
    assert_eq!(outcome["issue"][0]["severity"], "information");

    // A Bundle, and several files at once: one OperationOutcome per line.
    let (ok, stdout, _) = signpost(
        &valid,
        &[
            "validate",
            "bundle-referral-with-patient.json",
            "patient.json",
        ],
    );
    assert!(ok, "{stdout}");
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    for line in stdout.lines() {
        let outcome: serde_json::Value = serde_json::from_str(line).expect("json line");
        assert_eq!(outcome["resourceType"], "OperationOutcome");
    }
}

#[test]
fn validate_exits_one_and_names_each_problem_in_a_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle =
        std::fs::read_to_string(examples().join("valid/bundle-referral-with-patient.json"))
            .expect("bundle")
            .replace("9434765919", "9434765918");
    std::fs::write(dir.path().join("bundle.json"), bundle).expect("write");
    let invalid = examples().join("invalid/task-wrong-focus-and-outcome.json");
    let (ok, stdout, _) = signpost(
        dir.path(),
        &[
            "validate",
            "--format",
            "text",
            "bundle.json",
            invalid.to_str().expect("utf-8 path"),
        ],
    );
    assert!(!ok, "errors must exit non-zero:\n{stdout}");
    for expected in [
        "bundle.json: 2 error(s)",
        "Bundle.entry[0].resource.subject.identifier.value",
        "Bundle.entry[1].resource.identifier[0].value",
        "task-wrong-focus-and-outcome.json: 2 error(s)",
        "Task.focus.reference",
        "code-invalid",
    ] {
        assert!(stdout.contains(expected), "{expected} missing:\n{stdout}");
    }
    let (ok, stdout, _) = signpost(dir.path(), &["validate", "bundle.json"]);
    assert!(!ok);
    let outcome: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(outcome["issue"][0]["code"], "value");
}

#[test]
fn validate_uses_extra_profiles_from_a_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("profiles")).expect("mkdir");
    std::fs::write(
        dir.path().join("profiles/dated.json"),
        r#"{"resourceType": "StructureDefinition", "url": "https://example.org/StructureDefinition/Dated",
            "name": "Dated", "type": "ServiceRequest",
            "baseDefinition": "https://signpost.example/fhir/StructureDefinition/SignpostServiceRequest",
            "differential": {"element": [{"id": "ServiceRequest.occurrence[x]", "path": "ServiceRequest.occurrence[x]", "min": 1}]}}"#,
    )
    .expect("write");
    let mut sr: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(examples().join("valid/referral-from-gp.json")).expect("read"),
    )
    .expect("json");
    sr["meta"] = serde_json::json!({"profile": ["https://example.org/StructureDefinition/Dated"]});
    std::fs::write(dir.path().join("sr.json"), sr.to_string()).expect("write");
    // Without the profile, the claim is a warning only.
    let (ok, stdout, _) = signpost(dir.path(), &["validate", "sr.json"]);
    assert!(ok, "{stdout}");
    assert!(stdout.contains("not-supported"), "{stdout}");
    // With it, the claimed profile's rule applies.
    let (ok, stdout, _) = signpost(
        dir.path(),
        &["validate", "--profiles", "profiles", "sr.json"],
    );
    assert!(!ok, "{stdout}");
    let outcome: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(outcome["issue"][0]["code"], "required");
    assert_eq!(
        outcome["issue"][0]["expression"][0],
        "ServiceRequest.occurrence"
    );
}
