//! The command line: `check-config`, `keygen` and `validate` through the real binary.

use crate::support;

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
    // The example carries narrative on every resource, so not even dom-6 warns.
    assert_eq!(outcome["issue"][0]["severity"], "information", "{stdout}");
    assert_eq!(
        outcome["issue"].as_array().map(Vec::len),
        Some(1),
        "{stdout}"
    );

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

/// Runs the binary and keeps its exit code, for tests that tell 1 (findings) from 2 (could not run).
fn signpost_code(dir: &std::path::Path, args: &[&str]) -> (Option<i32>, String, String) {
    let output = Command::new(support::binary())
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run signpost");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn check_config_reports_every_structural_mistake_in_one_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("bad.toml"),
        r#"
[server]
listen = "127.0.0.1:8080"
lisen = "127.0.0.1:9090"

[delivery]
concurrency = 0

[[organisation]]
ods = "a81"
name = "Riverside Surgery"
role = "gp"

[[organisation]]
ods = "LWS001"
name = "Riverside Link Workers"
role = "doctor"

[[client]]
id = "riverside-gp-system"
organisation = "A81001"
jwks_url = "https://riverside.example/jwks.json"
colour = "red"
"#,
    )
    .expect("write");
    let (code, stdout, stderr) = signpost_code(dir.path(), &["check-config", "bad.toml"]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("5 configuration errors"),
        "four structural mistakes and one cross-field one:\n{stderr}"
    );
    for path in [
        "server.lisen:",
        "organisation[0].ods:",
        "organisation[1].role:",
        "client[0].colour:",
        "delivery.concurrency:",
    ] {
        assert!(stderr.contains(path), "{path} not reported:\n{stderr}");
    }
}

fn fixtures() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures")
}

/// Official examples and one broken file written for the test, as arguments to `validate`.
fn files_to_validate(dir: &std::path::Path) -> Vec<String> {
    // Not JSON at all: the one file here that is certain to have an error.
    let broken = dir.join("broken.json");
    std::fs::write(&broken, r#"{"resourceType": "Patient", "birthDate": "#).expect("write");
    [
        "ukcore/ukcore-Organization-WhiteRose.json",
        "ukcore/ukcore-Patient-RichardSmith.json",
        "ukcore/ukcore-ServiceRequest-Colonoscopy.json",
        "gravity/Task-SDOHCC-TaskReferralManagementOrderSubtaskAcceptedExample.json",
    ]
    .iter()
    .map(|f| fixtures().join(f))
    .chain([broken])
    .map(|p| p.to_str().expect("utf-8 path").to_owned())
    .collect()
}

#[test]
fn validate_json_keeps_stdout_json_and_puts_progress_and_the_summary_on_stderr() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = files_to_validate(dir.path());
    let args: Vec<&str> = ["validate"]
        .into_iter()
        .chain(files.iter().map(String::as_str))
        .collect();
    let (code, stdout, stderr) = signpost_code(dir.path(), &args);
    assert_eq!(
        code,
        Some(1),
        "the broken file must fail the run:\n{stderr}"
    );

    // Count what the OperationOutcomes say, to hold the summary to it.
    let (mut with_errors, mut errors, mut warnings) = (0, 0, 0);
    assert_eq!(stdout.lines().count(), files.len(), "{stdout}");
    for line in stdout.lines() {
        let outcome: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        let issues = outcome["issue"].as_array().expect("issues");
        let count = |s: &str| issues.iter().filter(|i| i["severity"] == s).count();
        with_errors += usize::from(count("error") > 0);
        errors += count("error");
        warnings += count("warning");
    }
    assert!(errors >= 1 && with_errors >= 1, "{stdout}");

    for (n, file) in files.iter().enumerate() {
        let line = format!("[{}/{}] {file}", n + 1, files.len());
        assert!(stderr.contains(&line), "no progress line {line}:\n{stderr}");
    }
    let summary = format!(
        "5 files: {with_errors} with errors ({errors} error{}), {warnings} warning{}",
        if errors == 1 { "" } else { "s" },
        if warnings == 1 { "" } else { "s" }
    );
    assert_eq!(stderr.lines().last(), Some(summary.as_str()), "{stderr}");
}

#[test]
fn validate_text_ends_stdout_with_the_summary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = files_to_validate(dir.path());
    let args: Vec<&str> = ["validate", "--format", "text"]
        .into_iter()
        .chain(files.iter().map(String::as_str))
        .collect();
    let (code, stdout, stderr) = signpost_code(dir.path(), &args);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("broken.json: 1 error(s), 0 warning(s)"),
        "{stdout}"
    );
    assert!(
        stderr.contains("[5/5] "),
        "progress goes to stderr:\n{stderr}"
    );
    assert!(
        !stdout.contains("[1/5]"),
        "no progress in the report:\n{stdout}"
    );

    // The summary adds up the per-file lines above it.
    let (mut with_errors, mut errors, mut warnings) = (0, 0, 0);
    for line in stdout.lines().filter(|l| l.ends_with(" warning(s)")) {
        let numbers: Vec<usize> = line
            .rsplit(": ")
            .next()
            .expect("counts")
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|n| n.parse().ok())
            .collect();
        let [e, w] = numbers[..] else {
            panic!("unexpected line {line}")
        };
        with_errors += usize::from(e > 0);
        errors += e;
        warnings += w;
    }
    assert!(with_errors >= 1, "{stdout}");
    let summary = format!(
        "5 files: {with_errors} with errors ({errors} error{}), {warnings} warning{}",
        if errors == 1 { "" } else { "s" },
        if warnings == 1 { "" } else { "s" }
    );
    assert_eq!(stdout.lines().last(), Some(summary.as_str()), "{stdout}");

    // All clean: the summary says so and the run succeeds.
    let clean = fixtures().join("ukcore/ukcore-Organization-WhiteRose.json");
    let clean = clean.to_str().expect("utf-8 path");
    let (code, stdout, _) =
        signpost_code(dir.path(), &["validate", "--format", "text", clean, clean]);
    assert_eq!(code, Some(0), "{stdout}");
    assert_eq!(
        stdout.lines().last(),
        Some("2 files: no errors, 0 warnings"),
        "{stdout}"
    );
}
