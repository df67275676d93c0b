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
