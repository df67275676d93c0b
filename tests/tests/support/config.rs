//! The TOML configs the end-to-end tests start `signpost serve` with, from one builder: the
//! organisations' names and roles, the store and the client keys are written once, and each test
//! says only what differs (which partners are pushed to, delivery settings, who may call).

use std::path::{Path, PathBuf};

/// Every organisation a test config can name: (ODS code, name, role).
const ORGANISATIONS: &[(&str, &str, &str)] = &[
    ("A81001", "Riverside Surgery", "gp"),
    (
        "LWS001",
        "Riverside Social Prescribing Service",
        "link-worker",
    ),
    ("VCS001", "Mill Lane Walking Group", "vcs"),
    ("VCS002", "Sheffield Money and Debt Advice", "vcs"),
];

/// Short retries, so a test waiting for a delivery after a refusal does not wait long.
const FAST_RETRIES: &str = "backoff_base_ms = 20\nbackoff_max_ms = 200\npoll_interval_ms = 50\n";

/// A config for `signpost serve` run in a test's directory: SQLite in that directory (relative,
/// so a restarted process finds the same database) and fast retries.
pub struct TestConfig {
    delivery: String,
    organisations: String,
    routes: String,
    clients: String,
}

impl Default for TestConfig {
    fn default() -> Self {
        Self {
            delivery: FAST_RETRIES.to_owned(),
            organisations: String::new(),
            routes: String::new(),
            clients: String::new(),
        }
    }
}

impl TestConfig {
    /// One more `[delivery]` setting, e.g. `"lease_seconds = 2"`.
    pub fn delivery(mut self, setting: &str) -> Self {
        self.delivery.push_str(setting);
        self.delivery.push('\n');
        self
    }

    /// An organisation Signpost does not push to (it polls, or is never told).
    pub fn organisation(mut self, ods: &str) -> Self {
        let (_, name, role) = ORGANISATIONS
            .iter()
            .find(|(o, _, _)| *o == ods)
            .unwrap_or_else(|| panic!("no test organisation {ods}"));
        self.organisations.push_str(&format!(
            "[[organisation]]\nods = \"{ods}\"\nname = \"{name}\"\nrole = \"{role}\"\n"
        ));
        self
    }

    /// An organisation Signpost pushes to through `fhir-rest` at `url`; `settings` are further
    /// adapter lines (e.g. `"timeout_seconds = 1\n"`).
    pub fn pushed_to(self, ods: &str, url: &str, settings: &str) -> Self {
        let mut config = self.organisation(ods);
        config.organisations.push_str(&format!(
            "[organisation.adapter]\nkind = \"fhir-rest\"\nurl = \"{url}\"\n{settings}"
        ));
        config
    }

    pub fn route(mut self, from: &str, to: &str) -> Self {
        self.routes
            .push_str(&format!("[[route]]\nfrom = \"{from}\"\nto = \"{to}\"\n"));
        self
    }

    /// A client with a fresh key in `dir` (see [`super::client_block`]); `scopes` is a TOML array.
    pub fn client(mut self, dir: &Path, id: &str, organisation: &str, scopes: &str) -> Self {
        self.clients
            .push_str(&super::client_block(dir, id, organisation, scopes));
        self
    }

    pub fn text(&self) -> String {
        format!(
            "[store]\nurl = \"sqlite://signpost.db\"\n[delivery]\n{}{}{}{}",
            self.delivery, self.organisations, self.routes, self.clients
        )
    }

    /// Writes the config to `path` and returns it.
    pub fn write(&self, path: PathBuf) -> PathBuf {
        std::fs::write(&path, self.text()).expect("write config");
        path
    }
}
