//! The sandbox: what `signpost serve` runs with no config, and the guide it prints.

use std::path::Path;

use super::{Config, ConfigErrors, Role};

/// Where the sandbox keeps its database and files, relative to the working directory.
pub const DATA_DIR: &str = "signpost-data";

const SANDBOX_TOML: &str = r#"
[server]
listen = "127.0.0.1:8080"
base_url = "http://127.0.0.1:8080"

[store]
url = "sqlite://signpost-data/signpost.db"

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

[[route]]
from = "A81001"
to = "LWS001"
"#;

/// The sandbox configuration, with `SIGNPOST_*` variables applied over it.
pub fn config() -> Result<Config, ConfigErrors> {
    Config::from_toml(SANDBOX_TOML, |name| std::env::var(name).ok())
}

/// Writes the example referral where the guide's commands expect it.
pub fn prepare_files() -> std::io::Result<()> {
    std::fs::create_dir_all(DATA_DIR)?;
    std::fs::write(
        Path::new(DATA_DIR).join("example-referral.json"),
        signpost_profiles::examples::REFERRAL_FROM_GP,
    )
}

/// The guide printed at start: ready-to-paste commands against this sandbox.
pub fn guide(config: &Config) -> String {
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
    out.push_str(&format!(
        "\nThe sandbox's FHIR API is open: token security (SMART Backend Services) is not implemented yet.\n\n\
         1. Post the example referral from Riverside Surgery:\n\n   \
         curl -s -X POST {base}/ServiceRequest -H 'Content-Type: application/fhir+json' --data @{DATA_DIR}/example-referral.json\n\n\
         2. See the Task it created for the link-worker service:\n\n   \
         curl -s '{base}/Task?owner=LWS001&status=requested'\n\n\
         3. What this server offers:\n\n   \
         curl -s {base}/metadata\n\n\
         Stop with Ctrl-C.\n"
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sandbox_config_is_valid_and_routes_the_demo_practice() {
        let config = Config::from_toml(SANDBOX_TOML, |_| None).expect("valid");
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
        let config = Config::from_toml(SANDBOX_TOML, |_| None).expect("valid");
        let text = guide(&config);
        assert!(text.contains("--data @signpost-data/example-referral.json"));
        assert!(text.contains("http://127.0.0.1:8080/fhir/Task?owner=LWS001&status=requested"));
    }
}
