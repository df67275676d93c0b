//! Every file under `deploy/` parses, and its ports, paths and variables agree with the
//! configuration the binary accepts.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml::Value as Yaml;

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

fn yaml_documents(path: &Path) -> Vec<Yaml> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| {
            serde::Deserialize::deserialize(doc)
                .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", path.display()))
        })
        .collect()
}

fn config() -> toml::Table {
    let text =
        std::fs::read_to_string(deploy().join("config/signpost.toml")).expect("example config");
    text.parse().expect("TOML")
}

fn port() -> u64 {
    let listen = config()["server"]["listen"]
        .as_str()
        .expect("listen")
        .to_owned();
    listen
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port")
}

#[test]
fn the_example_configuration_passes_check_config() {
    let output = Command::new(support::binary())
        .arg("check-config")
        .arg(deploy().join("config/signpost.toml"))
        .output()
        .expect("run");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_dockerfile_is_multi_stage_non_root_and_exposes_the_configured_port() {
    let text = std::fs::read_to_string(deploy().join("Dockerfile")).expect("Dockerfile");
    let instructions: Vec<(&str, &str)> = text
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with('#') && !l.starts_with("&&") && !l.starts_with('\\')
        })
        .filter_map(|l| l.split_once(' '))
        .collect();
    let known = [
        "FROM",
        "WORKDIR",
        "COPY",
        "RUN",
        "USER",
        "ENV",
        "EXPOSE",
        "HEALTHCHECK",
        "ENTRYPOINT",
        "CMD",
        "ARG",
        "LABEL",
    ];
    for (instruction, _) in &instructions {
        assert!(
            known.contains(instruction),
            "unknown Dockerfile instruction {instruction}"
        );
    }
    assert!(
        instructions.iter().filter(|(i, _)| *i == "FROM").count() >= 2,
        "multi-stage"
    );
    let user = instructions
        .iter()
        .rev()
        .find(|(i, _)| *i == "USER")
        .map(|(_, v)| v.trim())
        .expect("USER");
    assert!(user != "root" && user != "0", "runs as {user}");
    assert!(
        instructions
            .iter()
            .any(|(i, v)| *i == "EXPOSE" && v.trim() == port().to_string())
    );
    assert!(
        instructions
            .iter()
            .any(|(i, v)| *i == "ENV" && v.contains("SIGNPOST_CONFIG=/etc/signpost/signpost.toml"))
    );
    assert!(text.contains("\"probe\", \"http://127.0.0.1:8080/readyz\""));
}

#[test]
fn compose_wires_signpost_postgres_and_the_collector_with_health_checks() {
    let compose = &yaml_documents(&deploy().join("compose.yaml"))[0];
    let services = &compose["services"];
    for name in ["signpost", "postgres", "otel-collector"] {
        assert!(!services[name].is_null(), "service {name}");
    }
    let signpost = &services["signpost"];
    assert_eq!(
        signpost["environment"]["SIGNPOST_CONFIG"].as_str(),
        Some("/etc/signpost/signpost.toml")
    );
    let volumes: Vec<&str> = signpost["volumes"]
        .as_sequence()
        .expect("volumes")
        .iter()
        .filter_map(Yaml::as_str)
        .collect();
    assert!(volumes.contains(&"./config/signpost.toml:/etc/signpost/signpost.toml:ro"));
    assert!(deploy().join("config/signpost.toml").exists());
    let signing_key = config()["auth"]["signing_key"]
        .as_str()
        .expect("signing_key")
        .to_owned();
    assert!(
        volumes.iter().any(|v| v
            .split(':')
            .nth(1)
            .is_some_and(|mount| signing_key.starts_with(mount))),
        "the signing key's folder is mounted"
    );
    let data = config()["store"]["url"]
        .as_str()
        .expect("store")
        .trim_start_matches("sqlite://")
        .to_owned();
    assert!(
        volumes.iter().any(|v| v
            .split(':')
            .nth(1)
            .is_some_and(|mount| data.starts_with(mount))),
        "the store is on a volume"
    );
    assert_eq!(
        signpost["ports"][0].as_str(),
        Some(format!("{0}:{0}", port()).as_str())
    );
    assert!(
        signpost["healthcheck"]["test"]
            .as_sequence()
            .expect("healthcheck")
            .iter()
            .any(|t| t.as_str() == Some("http://127.0.0.1:8080/readyz"))
    );
    assert!(!services["postgres"]["healthcheck"].is_null());
    let collector = &yaml_documents(&deploy().join("otel-collector.yaml"))[0];
    let endpoint = signpost["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"]
        .as_str()
        .expect("otlp endpoint");
    let port_of = |s: &str| s.rsplit(':').next().map(str::to_owned);
    assert_eq!(
        port_of(endpoint),
        port_of(
            collector["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
                .as_str()
                .expect("receiver")
        )
    );
}

#[test]
fn kubernetes_probes_ports_config_and_secret_agree() {
    let documents: Vec<Yaml> = [
        "deployment.yaml",
        "service.yaml",
        "configmap.yaml",
        "secret.yaml",
    ]
    .iter()
    .flat_map(|f| yaml_documents(&deploy().join("kubernetes").join(f)))
    .collect();
    let kind = |k: &str| {
        documents
            .iter()
            .find(|d| d["kind"].as_str() == Some(k))
            .unwrap_or_else(|| panic!("no {k}"))
    };
    let deployment = kind("Deployment");
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container["ports"][0]["containerPort"].as_u64(),
        Some(port())
    );
    assert_eq!(
        container["readinessProbe"]["httpGet"]["path"].as_str(),
        Some("/readyz")
    );
    assert_eq!(
        container["livenessProbe"]["httpGet"]["path"].as_str(),
        Some("/healthz")
    );
    assert_eq!(
        container["readinessProbe"]["httpGet"]["port"].as_u64(),
        Some(port())
    );
    assert!(
        !container["resources"]["requests"]["cpu"].is_null()
            && !container["resources"]["requests"]["memory"].is_null()
    );
    assert_eq!(
        deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"].as_bool(),
        Some(true)
    );
    assert_eq!(
        kind("Service")["spec"]["ports"][0]["targetPort"].as_u64(),
        Some(port())
    );

    let config_env = container["env"]
        .as_sequence()
        .expect("env")
        .iter()
        .find(|e| e["name"].as_str() == Some("SIGNPOST_CONFIG"))
        .expect("SIGNPOST_CONFIG");
    let mounts = container["volumeMounts"].as_sequence().expect("mounts");
    assert!(
        mounts.iter().any(|m| m["mountPath"] == config_env["value"]),
        "the config is mounted where SIGNPOST_CONFIG points"
    );
    let signing_key = config()["auth"]["signing_key"]
        .as_str()
        .expect("key")
        .to_owned();
    let keys = mounts
        .iter()
        .find(|m| m["name"].as_str() == Some("keys"))
        .expect("keys mount");
    assert!(
        signing_key.starts_with(keys["mountPath"].as_str().expect("path")),
        "the Secret holds the signing key"
    );
    let secret_file = signing_key.rsplit('/').next().expect("file name");
    assert!(
        !kind("Secret")["stringData"][secret_file].is_null(),
        "the Secret has {secret_file}"
    );

    let embedded = kind("ConfigMap")["data"]["signpost.toml"]
        .as_str()
        .expect("embedded TOML")
        .trim()
        .to_owned();
    let file = std::fs::read_to_string(deploy().join("config/signpost.toml")).expect("config");
    assert_eq!(
        embedded,
        file.trim(),
        "the ConfigMap and deploy/config/signpost.toml differ"
    );
}
