//! The sandbox: what `signpost serve` runs with no config, the files it writes, the guide it
//! prints, the tour that walks the same journey, and the demo partner that receives its pushes.

pub mod accounts;
pub mod demo_partner;
pub mod demo_population;
pub mod directory;
mod examples;
pub mod guide;
pub mod journey;
pub mod tour;

use std::path::Path;

use signpost_conformance::keys::KeyAlgorithm;

use crate::config::{Config, ConfigErrors};

/// Where the sandbox keeps its database and files, relative to the working directory.
pub const DATA_DIR: &str = "signpost-data";

/// The file, in the data directory, where a running sandbox notes the base URL it serves, so
/// the tour finds it wherever `SIGNPOST_SERVER_LISTEN` put it.
pub const URL_FILE: &str = "sandbox-url";

/// Notes the running sandbox's base URL for the tour.
pub fn note_url(config: &Config) -> std::io::Result<()> {
    std::fs::write(Path::new(DATA_DIR).join(URL_FILE), &config.server.base_url)
}

/// The base URL a sandbox started in this directory noted, if any.
pub fn noted_url() -> Option<String> {
    std::fs::read_to_string(Path::new(DATA_DIR).join(URL_FILE))
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// Stands for the sandbox's own base URL in [`SANDBOX_TOML`]: the demo partners' webhooks are
/// served by the sandbox itself, wherever `server.listen` puts it.
const BASE_PLACEHOLDER: &str = "{SANDBOX_BASE}";

const SANDBOX_TOML: &str = r#"
[server]
listen = "127.0.0.1:8080"

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
[organisation.adapter]
kind = "webhook"
url = "{SANDBOX_BASE}/sandbox/partners/VCS001/webhook"
secret = "whsec_c2FuZGJveC1kZW1vLXNlY3JldC1taWxsLWxhbmUtd2Fsa2luZw=="

[[organisation]]
ods = "VCS002"
name = "Sheffield Money and Debt Advice"
role = "vcs"
capacity = 8
[organisation.adapter]
kind = "webhook"
url = "{SANDBOX_BASE}/sandbox/partners/VCS002/webhook"
secret = "whsec_c2FuZGJveC1kZW1vLXNlY3JldC1zaGVmZmllbGQtZGVidC1hZHZpY2U="

[[route]]
from = "A81001"
to = "LWS001"

[reports]
policy = "signpost-default"
[reports.list_sizes]
A81001 = 8200
[[reports.pcn]]
code = "U12345"
name = "Riverside PCN"
practices = ["A81001"]
"#;

/// The sandbox's TOML with its base URL: the organisations above, and a `[[client]]` for each
/// party of the journey, with the scopes the guide asks for.
fn sandbox_toml(base: &str) -> String {
    let mut text = SANDBOX_TOML.replace(BASE_PLACEHOLDER, base);
    for party in journey::PARTIES {
        let scopes: Vec<String> = party
            .scope
            .split_whitespace()
            .map(|s| format!("\"{s}\""))
            .collect();
        text.push_str(&format!(
            "\n[[client]]\nid = \"{client}\"\norganisation = \"{}\"\njwks = \"{DATA_DIR}/keys/{client}.jwks.json\"\nscopes = [{}]\n",
            party.organisation,
            scopes.join(", "),
            client = party.client,
        ));
    }
    text
}

/// The sandbox configuration, with `SIGNPOST_*` variables applied over it.
pub fn config() -> Result<Config, ConfigErrors> {
    config_with(|name| std::env::var(name).ok())
}

/// [`config`] with the environment given, for tests.
pub fn config_with(env: impl Fn(&str) -> Option<String> + Copy) -> Result<Config, ConfigErrors> {
    // The first reading only learns the base URL (environment over file), which the demo
    // partners' webhook URLs are then written with.
    let first = Config::from_toml(&sandbox_toml("http://x"), env)?;
    let base = first.server.base_url.trim_end_matches('/').to_owned();
    Config::from_toml(&sandbox_toml(&base), env)
}

/// Writes the example files and, on first start, the demo clients' key pairs.
pub fn prepare_files() -> anyhow::Result<()> {
    prepare_files_in(Path::new(DATA_DIR))
}

fn prepare_files_in(data: &Path) -> anyhow::Result<()> {
    let keys = data.join("keys");
    std::fs::create_dir_all(&keys)?;
    for (name, content) in examples::files()? {
        std::fs::write(data.join(name), content)?;
    }
    for client in journey::PARTIES.map(|p| p.client) {
        if !keys.join(format!("{client}.pem")).exists() {
            crate::keygen::write_client_key(&keys, client, KeyAlgorithm::Es384)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Role;

    #[test]
    fn sandbox_config_routes_the_demo_practice_and_pushes_to_both_vcs_providers() {
        let dir = tempfile::tempdir().expect("tempdir");
        prepare_files_in(&dir.path().join(DATA_DIR)).expect("files");
        let toml = sandbox_toml("http://127.0.0.1:8080").replace(
            "signpost-data/",
            &format!("{}/", dir.path().join(DATA_DIR).display()),
        );
        let config = Config::from_toml(&toml, |_| None).expect("valid");
        assert_eq!(config.routes[0].from.as_str(), "A81001");
        let vcs: Vec<_> = config
            .organisations
            .iter()
            .filter(|o| o.role == Role::Vcs)
            .collect();
        assert_eq!(vcs.len(), 2);
        assert!(
            vcs.iter()
                .all(|o| o.adapter.as_ref().is_some_and(|a| a.kind == "webhook"))
        );
        assert!(config.clients.iter().any(|c| c.scopes == ["admin"]));
    }
}
