//! Every file under `deploy/` parses, and its ports, paths and variables agree with the
//! configuration the binary accepts.

use crate::support;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_yaml::Value as Yaml;

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("repository root")
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
fn compose_gives_signpost_an_open_file_limit_above_its_connection_cap() {
    let signpost = service("signpost");
    let limit = signpost["ulimits"]["nofile"]["soft"]
        .as_u64()
        .expect("compose sets ulimits.nofile.soft for signpost");
    let cap = config()["server"]["max_connections"]
        .as_integer()
        .and_then(|n| u64::try_from(n).ok())
        .expect("the example config sets server.max_connections");
    assert!(
        limit >= cap + RESERVED_FILES,
        "nofile {limit} leaves no room above max_connections {cap}"
    );
}

/// The descriptors `signpost serve` keeps back from the connection cap (RESERVED_FILES in
/// gateway/src/connections.rs; the kit does not depend on the gateway).
const RESERVED_FILES: u64 = 64;

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

/// A compose service.
fn service(name: &str) -> Yaml {
    yaml_documents(&deploy().join("compose.yaml"))[0]["services"][name].clone()
}

/// A service's `volumes:` as (source, container path) pairs.
fn mounts(service: &Yaml) -> Vec<(String, String)> {
    service["volumes"]
        .as_sequence()
        .expect("volumes")
        .iter()
        .filter_map(Yaml::as_str)
        .filter_map(|v| {
            let mut parts = v.split(':');
            Some((parts.next()?.to_owned(), parts.next()?.to_owned()))
        })
        .collect()
}

/// The last `USER` of the Dockerfile as uid and gid.
fn image_user() -> (u32, u32) {
    let text = std::fs::read_to_string(deploy().join("Dockerfile")).expect("Dockerfile");
    let user = text
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("USER "))
        .expect("USER")
        .trim()
        .to_owned();
    let (uid, gid) = user
        .split_once(':')
        .unwrap_or_else(|| panic!("USER {user} names no group"));
    (
        uid.parse().expect("numeric uid"),
        gid.parse().expect("numeric gid"),
    )
}

/// How the Dockerfile makes `path` with `install -d -o UID -g GID -m MODE path`.
fn image_directory(path: &str) -> (u32, u32, u32) {
    let text = std::fs::read_to_string(deploy().join("Dockerfile")).expect("Dockerfile");
    let words: Vec<&str> = text
        .lines()
        .find(|l| l.contains("install -d") && l.trim_end().ends_with(path))
        .unwrap_or_else(|| panic!("the Dockerfile does not make {path}"))
        .split_whitespace()
        .collect();
    let after = |flag: &str| {
        words
            .iter()
            .position(|w| *w == flag)
            .and_then(|i| words.get(i + 1))
            .unwrap_or_else(|| panic!("install {flag} for {path}"))
            .to_owned()
    };
    (
        after("-o").parse().expect("uid"),
        after("-g").parse().expect("gid"),
        u32::from_str_radix(after("-m"), 8).expect("mode"),
    )
}

/// Whether a process with `uid` and `gid` may read the file, by its owner, group and mode.
fn readable_by(meta: &std::fs::Metadata, uid: u32, gid: u32) -> bool {
    let mode = meta.mode();
    if uid == 0 {
        true
    } else if meta.uid() == uid {
        mode & 0o400 != 0
    } else if meta.gid() == gid {
        mode & 0o040 != 0
    } else {
        mode & 0o004 != 0
    }
}

/// Words of a shell command line (double quotes group; nothing else is special here).
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let (mut quoted, mut started) = (false, false);
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                started = true;
            }
            c if c.is_whitespace() && !quoted => {
                if started {
                    out.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            c => {
                word.push(c);
                started = true;
            }
        }
    }
    if started {
        out.push(word);
    }
    out
}

/// The argument lists of the commands in deploy/README.md's code blocks that start with `prefix`.
fn documented(prefix: &str) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(deploy().join("README.md")).expect("deploy/README.md");
    let mut in_code = false;
    let mut found = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        } else if in_code && let Some(rest) = line.trim().strip_prefix(prefix) {
            found.push(words(rest));
        }
    }
    found
}

const KEYGEN: &str = "docker compose -f deploy/compose.yaml run --rm keygen ";
const EXEC: &str = "docker compose -f deploy/compose.yaml exec signpost ";

/// The signpost container's filesystem, rebuilt under a temporary root: its mounts as the
/// Dockerfile and compose.yaml make them, the commands run in it as the image's user (when the
/// tests run as root; otherwise as the tests' user, which then stands in for it).
struct Container {
    root: tempfile::TempDir,
    uid: u32,
    gid: u32,
    switch_user: bool,
}

impl Container {
    fn new() -> Self {
        let root = tempfile::tempdir().expect("tempdir");
        let me = std::fs::metadata(root.path()).expect("metadata");
        let switch_user = me.uid() == 0;
        let (uid, gid) = if switch_user {
            image_user()
        } else {
            (me.uid(), me.gid())
        };
        let container = Self {
            root,
            uid,
            gid,
            switch_user,
        };
        for dir in ["", "etc", "etc/signpost", "var", "var/lib"] {
            let path = container.root.path().join(dir);
            std::fs::create_dir_all(&path).expect("mkdir");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        // /etc/signpost/keys as the Dockerfile makes it (a new volume takes its ownership).
        let keys = mounts(&service("signpost"))
            .into_iter()
            .find(|(_, at)| at.ends_with("/keys"))
            .expect("a keys mount")
            .1;
        let (owner, group, mode) = image_directory(&keys);
        assert_eq!(
            (owner, group),
            image_user(),
            "the keys folder belongs to the image's user"
        );
        container.make_dir(&keys, mode, switch_user.then_some((owner, group)));
        // The data volume: useradd --create-home makes the user's home directory.
        container.make_dir(
            "/var/lib/signpost",
            0o755,
            switch_user.then_some(image_user()),
        );
        let config =
            std::fs::read_to_string(deploy().join("config/signpost.toml")).expect("config");
        let config_path = container.host("/etc/signpost/signpost.toml");
        std::fs::write(&config_path, container.map(&config)).expect("write config");
        std::fs::set_permissions(&config_path, std::fs::Permissions::from_mode(0o644))
            .expect("chmod");
        container
    }

    fn make_dir(&self, path: &str, mode: u32, owner: Option<(u32, u32)>) {
        let host = self.host(path);
        std::fs::create_dir_all(&host).expect("mkdir");
        std::fs::set_permissions(&host, std::fs::Permissions::from_mode(mode)).expect("chmod");
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&host, Some(uid), Some(gid)).expect("chown");
        }
    }

    /// Where a path inside the container is here.
    fn host(&self, path: &str) -> PathBuf {
        self.root.path().join(path.trim_start_matches('/'))
    }

    /// Text with every path under the signpost service's mounts moved under the root.
    fn map(&self, text: &str) -> String {
        let root = self.root.path().display().to_string();
        let mut mapped = text.to_owned();
        let mut points: Vec<String> = mounts(&service("signpost"))
            .into_iter()
            .map(|(_, at)| at)
            .collect();
        points.sort();
        points.dedup();
        for point in points {
            mapped = mapped.replace(&point, &format!("{root}{point}"));
        }
        mapped
    }

    /// `signpost ARGS` in the container: its working directory, as its user.
    fn signpost(&self, args: &[String]) -> Command {
        let mut command = Command::new(support::binary());
        command
            .args(args.iter().map(|a| self.map(a)))
            .current_dir(self.host("/var/lib/signpost"))
            .stdin(Stdio::null());
        if self.switch_user {
            command.uid(self.uid).gid(self.gid);
        }
        command
    }

    /// The compose environment of the signpost service, paths mapped; the collector is left
    /// out (there is none here, and the exporter would only log that it cannot reach it).
    fn environment(&self) -> BTreeMap<String, String> {
        service("signpost")["environment"]
            .as_mapping()
            .expect("environment")
            .iter()
            .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), v.as_str()?.to_owned())))
            .filter(|(k, _)| !k.starts_with("OTEL_"))
            .map(|(k, v)| (k, self.map(&v)))
            .collect()
    }

    /// Runs every documented keygen command through the compose `keygen` service's entrypoint.
    fn make_documented_keys(&self) -> Vec<Vec<String>> {
        let commands = documented(KEYGEN);
        assert!(!commands.is_empty(), "deploy/README.md documents keygen");
        let entrypoint: Vec<String> = service("keygen")["entrypoint"]
            .as_sequence()
            .expect("keygen entrypoint")
            .iter()
            .filter_map(|w| w.as_str().map(str::to_owned))
            .collect();
        assert_eq!(
            entrypoint.first().map(String::as_str),
            Some("/usr/local/bin/signpost")
        );
        for args in &commands {
            let argv: Vec<String> = entrypoint[1..].iter().chain(args).cloned().collect();
            let output = self.signpost(&argv).output().expect("run keygen");
            assert!(
                output.status.success(),
                "signpost {argv:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        commands
    }

    fn check_config(&self) -> Output {
        self.signpost(&[
            "check-config".to_owned(),
            "/etc/signpost/signpost.toml".to_owned(),
        ])
        .envs(self.environment())
        .output()
        .expect("run check-config")
    }
}

#[test]
fn the_documented_keygen_writes_keys_the_container_user_can_read() {
    // Whoever writes the keys is whoever reads them: neither service picks another user.
    for name in ["signpost", "keygen"] {
        assert!(
            service(name)["user"].is_null(),
            "{name} runs as the Dockerfile's USER"
        );
    }
    // The keys live on a named volume that keygen writes and signpost mounts, not a host folder
    // (whose files would belong to the host's user).
    let keys = mounts(&service("signpost"))
        .into_iter()
        .find(|(_, at)| at.ends_with("/keys"))
        .expect("keys mount");
    assert!(
        yaml_documents(&deploy().join("compose.yaml"))[0]["volumes"]
            .as_mapping()
            .is_some_and(|volumes| volumes.contains_key(keys.0.as_str())),
        "{} is a named volume",
        keys.0
    );
    assert!(mounts(&service("keygen")).contains(&keys));

    let container = Container::new();
    let commands = container.make_documented_keys();
    let signing_key = config()["auth"]["signing_key"]
        .as_str()
        .expect("signing_key")
        .to_owned();
    assert!(
        commands.iter().any(|args| args
            .windows(2)
            .any(|w| signing_key.ends_with(&format!("/{}.pem", w[1])) && w[0] == "--client")),
        "the documented keygen commands make {signing_key}: {commands:?}"
    );
    let meta = std::fs::metadata(container.host(&signing_key)).expect("the token key");
    assert_eq!(meta.mode() & 0o777, 0o600, "a private key stays private");
    assert_eq!(
        (meta.uid(), meta.gid()),
        (container.uid, container.gid),
        "written as the container's user"
    );
    assert!(
        readable_by(&meta, container.uid, container.gid),
        "uid {} can read {signing_key}",
        container.uid
    );
    // Made by any other user (a key made on the host), the container's user could not read it.
    assert!(!readable_by(&meta, container.uid + 1, container.gid + 1));
}

#[test]
fn every_client_has_a_jwks_the_documented_steps_make_and_check_config_accepts_the_compose_config() {
    let container = Container::new();
    let before = container.check_config();
    assert!(
        !before.status.success()
            && String::from_utf8_lossy(&before.stderr).contains("client[0].jwks"),
        "without the keys check-config refuses the config: {}",
        String::from_utf8_lossy(&before.stderr)
    );

    container.make_documented_keys();
    let clients = config()["client"].as_array().expect("clients").clone();
    assert!(!clients.is_empty());
    for client in &clients {
        let id = client["id"].as_str().expect("id");
        assert!(
            client.get("jwks_url").is_none(),
            "{id}: a jwks_url is not reachable from the compose stack"
        );
        let jwks = client["jwks"].as_str().expect("jwks");
        let file = container.host(jwks);
        let meta = std::fs::metadata(&file)
            .unwrap_or_else(|e| panic!("{id}: the documented steps make no {jwks}: {e}"));
        assert!(readable_by(&meta, container.uid, container.gid), "{jwks}");
        let set: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&file).expect("read")).expect("JSON");
        assert!(
            set["keys"].as_array().is_some_and(|k| !k.is_empty()),
            "{jwks}: {set}"
        );
    }

    let output = container.check_config();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn the_compose_stack_gives_the_documented_client_a_token_by_the_documented_command() {
    let container = Container::new();
    container.make_documented_keys();

    // The compose base URL names the token endpoint the documented token command uses.
    let environment = container.environment();
    let base = environment
        .get("SIGNPOST_SERVER_BASE_URL")
        .expect("compose sets SIGNPOST_SERVER_BASE_URL")
        .clone();
    assert_eq!(base, format!("http://127.0.0.1:{}", port()));
    let help = Command::new(support::binary())
        .args(["token", "--help"])
        .output()
        .expect("token --help");
    assert!(
        String::from_utf8_lossy(&help.stdout).contains(&format!("[default: {base}/auth/token]")),
        "{}",
        String::from_utf8_lossy(&help.stdout)
    );

    // The same environment, but on a free port (8080 may be taken here) and SQLite in the data
    // folder (no PostgreSQL container here).
    let listen = support::free_port();
    let here = format!("http://127.0.0.1:{listen}");
    let log = container.root.path().join("signpost.log");
    let mut child = Stops(
        container
            .signpost(&["serve".to_owned()])
            .envs(&environment)
            .env("SIGNPOST_SERVER_LISTEN", format!("127.0.0.1:{listen}"))
            .env("SIGNPOST_SERVER_BASE_URL", &here)
            .env(
                "SIGNPOST_STORE_URL",
                format!(
                    "sqlite://{}",
                    container.host("/var/lib/signpost/signpost.db").display()
                ),
            )
            .env("RUST_LOG", "info,sqlx=warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("spawn signpost serve"),
    );
    let http = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..300 {
        if let Ok(Some(status)) = child.0.try_wait() {
            panic!(
                "signpost exited with {status}:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        if http
            .get(format!("{here}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    {
        assert!(
            ready,
            "not ready:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        let documented = documented(EXEC);
        let token_args = documented
            .iter()
            .find(|args| args.get(1).map(String::as_str) == Some("token"))
            .expect("deploy/README.md documents a token command");
        assert_eq!(token_args[0], "signpost", "the image's signpost, on PATH");
        let mut args = token_args[1..].to_vec();
        args.extend(["--token-url".to_owned(), format!("{here}/auth/token")]);
        let output = tokio::task::spawn_blocking({
            let mut command = container.signpost(&args);
            move || command.output().expect("run signpost token")
        })
        .await
        .expect("join");
        assert!(
            output.status.success(),
            "signpost {args:?}: {}\n{}",
            String::from_utf8_lossy(&output.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        let token = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        assert_eq!(token.split('.').count(), 3, "a JWT: {token}");
        let answer = http
            .get(format!("{here}/fhir/Task"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("search");
        assert_eq!(answer.status().as_u16(), 200, "{:?}", answer.text().await);
    }
}

/// A process killed when the test ends, passing or not.
struct Stops(std::process::Child);

impl Drop for Stops {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn dockerignore_keeps_build_output_data_and_history_out_of_the_build_context() {
    for name in ["signpost", "keygen"] {
        let context = service(name)["build"]["context"]
            .as_str()
            .expect("build context")
            .to_owned();
        assert_eq!(
            deploy().join(&context).canonicalize().expect("context"),
            repository(),
            "{name} builds from the repository root"
        );
    }
    let text = std::fs::read_to_string(repository().join(".dockerignore"))
        .expect(".dockerignore at the repository root");
    let patterns: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let normalise = |p: &str| {
        p.trim_start_matches('/')
            .trim_start_matches("**/")
            .trim_end_matches('/')
            .to_owned()
    };
    for excluded in ["target", "signpost-data", ".git"] {
        assert!(
            patterns.iter().any(|p| normalise(p) == excluded),
            "{excluded} is not in .dockerignore: {patterns:?}"
        );
        assert!(
            !patterns
                .iter()
                .any(|p| p.starts_with('!') && normalise(&p[1..]).starts_with(excluded)),
            "{excluded} is let back in"
        );
    }
    // Nested ones too (a crate's own target/, a sandbox run in a subfolder).
    for nested in ["target", "signpost-data"] {
        assert!(
            patterns.contains(&format!("**/{nested}/").as_str())
                || patterns.contains(&format!("**/{nested}").as_str()),
            "**/{nested}"
        );
    }
}
