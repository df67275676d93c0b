//! The sandbox: what `signpost serve` runs with no config, and the guide it prints.

use std::path::Path;

use signpost_conformance::keys::KeyAlgorithm;

use super::{Config, ConfigErrors, Role};

/// Where the sandbox keeps its database and files, relative to the working directory.
pub const DATA_DIR: &str = "signpost-data";

const SANDBOX_TOML: &str = r#"
[server]
listen = "127.0.0.1:8080"
base_url = "http://127.0.0.1:8080"

[store]
url = "sqlite://signpost-data/signpost.db"

[auth]
signing_key = "signpost-data/token-key.pem"

[[organisation]]
ods = "A81001"
name = "Riverside Surgery"
role = "gp"

[[organisation]]
ods = "LWS001"
name = "Riverside Social Prescribing Service"
role = "link-worker"

[[organisation]]
ods = "VCS001"
name = "Mill Lane Walking Group"
role = "vcs"
capacity = 20

[[organisation]]
ods = "VCS002"
name = "Sheffield Money and Debt Advice"
role = "vcs"
capacity = 8

[[client]]
id = "riverside-gp-system"
organisation = "A81001"
jwks = "signpost-data/keys/riverside-gp-system.jwks.json"
scopes = ["system/ServiceRequest.crs", "system/Task.rus"]

[[client]]
id = "riverside-link-worker-platform"
organisation = "LWS001"
jwks = "signpost-data/keys/riverside-link-worker-platform.jwks.json"
scopes = ["system/ServiceRequest.crs", "system/Task.rus"]

[[client]]
id = "mill-lane-walking-app"
organisation = "VCS001"
jwks = "signpost-data/keys/mill-lane-walking-app.jwks.json"
scopes = ["system/ServiceRequest.rs", "system/Task.rus"]

[[route]]
from = "A81001"
to = "LWS001"
"#;

/// The demo clients whose keys the sandbox creates.
const DEMO_CLIENTS: &[&str] = &[
    "riverside-gp-system",
    "riverside-link-worker-platform",
    "mill-lane-walking-app",
];

/// The sandbox configuration, with `SIGNPOST_*` variables applied over it.
pub fn config() -> Result<Config, ConfigErrors> {
    Config::from_toml(SANDBOX_TOML, |name| std::env::var(name).ok())
}

/// Writes the example referral and, on first start, the demo clients' key pairs.
pub fn prepare_files() -> anyhow::Result<()> {
    let keys = Path::new(DATA_DIR).join("keys");
    std::fs::create_dir_all(&keys)?;
    std::fs::write(
        Path::new(DATA_DIR).join("example-referral.json"),
        signpost_profiles::examples::REFERRAL_FROM_GP,
    )?;
    for client in DEMO_CLIENTS {
        if !keys.join(format!("{client}.pem")).exists() {
            crate::keygen::write_client_key(&keys, client, KeyAlgorithm::Es384)?;
        }
    }
    Ok(())
}

/// The guide printed at start: ready-to-paste commands against this sandbox. `exe` is this program's path.
pub fn guide(config: &Config, exe: &str) -> String {
    let base = config.server.fhir_base();
    let mut out = format!(
        "\nSignpost sandbox is running at {base}\n\
         Store: {}   (delete {DATA_DIR}/ to start afresh)\n\n\
         Demo organisations (ODS code, name, role):\n",
        config.store.url
    );
    for org in &config.organisations {
        let role = match org.role {
            Role::Gp => "GP practice",
            Role::LinkWorker => "link-worker service (polls Signpost for its Tasks)",
            Role::Vcs => "VCS provider",
        };
        out.push_str(&format!("  {:<7} {:<40} {role}\n", org.ods, org.name));
    }
    let token_url = format!(
        "{}/auth/token",
        config.server.base_url.trim_end_matches('/')
    );
    out.push_str(&format!(
        "\nEvery FHIR call needs a bearer token (SMART Backend Services). Demo client keys are in {DATA_DIR}/keys/.\n\n\
         1. Get a token as Riverside Surgery's GP system:\n\n   \
         TOKEN=$({exe} token --client riverside-gp-system --key {DATA_DIR}/keys/riverside-gp-system.pem --scope 'system/ServiceRequest.crs system/Task.rs' --token-url {token_url})\n\n\
         2. Post the example referral:\n\n   \
         curl -s -X POST {base}/ServiceRequest -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/fhir+json' --data @{DATA_DIR}/example-referral.json\n\n\
         3. See the Task it created for the link-worker service:\n\n   \
         curl -s -H \"Authorization: Bearer $TOKEN\" '{base}/Task?owner=LWS001&status=requested'\n\n\
         4. What this server offers (no token needed):\n\n   \
         curl -s {base}/metadata\n\n\
         Stop with Ctrl-C.\n"
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn without_clients() -> String {
        SANDBOX_TOML
            .split("[[client]]")
            .next()
            .unwrap_or_default()
            .to_owned()
            + "[[route]]\nfrom = \"A81001\"\nto = \"LWS001\"\n"
    }

    #[test]
    fn sandbox_config_is_valid_and_routes_the_demo_practice() {
        // The demo clients' JWKS files are written by prepare_files; check the rest here.
        let config = Config::from_toml(&without_clients(), |_| None).expect("valid");
        assert_eq!(config.routes[0].from.as_str(), "A81001");
        assert_eq!(
            config
                .organisations
                .iter()
                .filter(|o| o.role == Role::Vcs)
                .count(),
            2
        );
    }

    #[test]
    fn guide_names_the_example_file_and_the_endpoints() {
        let config = Config::from_toml(&without_clients(), |_| None).expect("valid");
        let text = guide(&config, "/opt/signpost");
        assert!(text.contains("--data @signpost-data/example-referral.json"));
        assert!(text.contains("TOKEN=$(/opt/signpost token --client riverside-gp-system"));
        assert!(text.contains("http://127.0.0.1:8080/fhir/Task?owner=LWS001&status=requested"));
    }
}
