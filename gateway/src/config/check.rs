//! Cross-field checks, each mistake reported with its path (e.g. `route[0].to`).

use std::collections::HashSet;
use std::fmt;

use super::{Adapters, Parsed, Role};

/// Every problem found in a config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<(String, String)>);

impl ConfigErrors {
    pub(super) fn single(path: &str, message: String) -> Self {
        Self(vec![(path.to_owned(), message)])
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (path, message)) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            if path.is_empty() {
                write!(f, "{message}")?;
            } else {
                write!(f, "{path}: {message}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl Parsed {
    /// Pushes every cross-field mistake among the parts that parsed. A reference to an
    /// organisation is only judged when every organisation parsed: the one named may be the
    /// one that did not.
    /// Returns every adapter that built, by organisation: the only time they are built.
    pub(super) fn check(&self, errors: &mut Vec<(String, String)>) -> Adapters {
        let mut adapters = Adapters::default();
        let mut push = |path: String, message: String| errors.push((path, message));

        if let Some(server) = &self.server {
            if server.listen_addr().is_err() {
                push(
                    "server.listen".into(),
                    format!(
                        "\"{}\" is not a socket address like 127.0.0.1:8080",
                        server.listen
                    ),
                );
            }
            if !(server.base_url.starts_with("http://") || server.base_url.starts_with("https://"))
            {
                push(
                    "server.base_url".into(),
                    "must start with http:// or https://".into(),
                );
            }
            if server.max_connections == 0 {
                push("server.max_connections".into(), "must be at least 1".into());
            }
            for (key, seconds) in [
                (
                    "header_read_timeout_seconds",
                    server.header_read_timeout_seconds,
                ),
                (
                    "keep_alive_timeout_seconds",
                    server.keep_alive_timeout_seconds,
                ),
                ("idle_timeout_seconds", server.idle_timeout_seconds),
            ] {
                if seconds == 0 {
                    push(
                        format!("server.{key}"),
                        "must be at least 1: without it idle connections are never closed".into(),
                    );
                }
            }
        }
        if let Some(store) = &self.store
            && !["sqlite:", "postgres://", "postgresql://"]
                .iter()
                .any(|scheme| store.url.starts_with(scheme))
        {
            push(
                "store.url".into(),
                format!(
                    "\"{}\" is not a supported store; use sqlite://FILE or postgres://USER@HOST/DB",
                    store.url
                ),
            );
        }
        if let Some(store) = &self.store
            && store.call_timeout_ms == 0
        {
            push("store.call_timeout_ms".into(), "must be at least 1".into());
        }
        if let Some(delivery) = &self.delivery {
            if delivery.max_attempts == 0 {
                push("delivery.max_attempts".into(), "must be at least 1".into());
            }
            if delivery.per_partner_concurrency == 0 {
                push(
                    "delivery.per_partner_concurrency".into(),
                    "must be at least 1".into(),
                );
            }
            if delivery.concurrency == 0 {
                push("delivery.concurrency".into(), "must be at least 1".into());
            }
            if delivery.backoff_base_ms > delivery.backoff_max_ms {
                push(
                    "delivery.backoff_base_ms".into(),
                    "must not exceed delivery.backoff_max_ms".into(),
                );
            }
        }

        let all_organisations = self.organisations.iter().all(Option::is_some);
        let organisation = |ods| self.organisations.iter().flatten().find(|o| &o.ods == ods);

        let mut seen = HashSet::new();
        let mut charities = HashSet::new();
        for (i, org) in self.organisations.iter().enumerate() {
            let Some(org) = org else { continue };
            if !seen.insert(&org.ods) {
                push(
                    format!("organisation[{i}].ods"),
                    format!("duplicate ODS code {}", org.ods),
                );
            }
            if let Some(adapter) = &org.adapter {
                match signpost_adapters::build(&adapter.kind, &adapter.settings_json()) {
                    Err(e) => push(format!("organisation[{i}].adapter"), e.to_string()),
                    // A delivery still running when its lease ends would be claimed and sent again.
                    Ok(built) => {
                        let timeout = built.outbound.timeout();
                        if let Some(delivery) = &self.delivery
                            && timeout.as_secs() >= delivery.lease_seconds
                        {
                            push(
                                format!("organisation[{i}].adapter"),
                                format!(
                                    "its timeout ({}s) must be shorter than delivery.lease_seconds ({}s)",
                                    timeout.as_secs(),
                                    delivery.lease_seconds
                                ),
                            );
                        }
                        adapters.0.insert(org.ods.clone(), built);
                    }
                }
            }
            if let Some(charity) = &org.charity {
                match crate::directory::service::charity_from_org_id(charity) {
                    Err(e) => push(format!("organisation[{i}].charity"), e),
                    Ok(id) if !charities.insert(id.clone()) => push(
                        format!("organisation[{i}].charity"),
                        format!("duplicate charity {charity}"),
                    ),
                    Ok(_) => {}
                }
            }
            if org.capacity.is_some() && org.role != Role::Vcs {
                push(
                    format!("organisation[{i}].capacity"),
                    "only a vcs organisation has a capacity".into(),
                );
            }
        }

        if let Some(directory) = &self.directory {
            let mut ids = HashSet::new();
            for (i, service) in directory.services.iter().enumerate() {
                let at = format!("directory.service[{i}]");
                if !ids.insert(service.id.trim()) {
                    push(
                        format!("{at}.id"),
                        format!("duplicate service id \"{}\"", service.id),
                    );
                }
                if let Err(problems) =
                    crate::directory::declared::to_healthcare_service(service, crate::store::now())
                {
                    for (key, message) in problems {
                        push(format!("{at}.{key}"), message);
                    }
                }
                let provider = self
                    .organisations
                    .iter()
                    .flatten()
                    .find(|o| o.ods.as_str() == service.provider);
                match provider {
                    None if all_organisations => push(
                        format!("{at}.provider"),
                        format!("unknown organisation {}", service.provider),
                    ),
                    Some(org) if org.role != Role::Vcs => push(
                        format!("{at}.provider"),
                        format!("{} is not a vcs organisation", service.provider),
                    ),
                    _ => {}
                }
            }
        }

        if let Some(reports) = &self.reports
            && all_organisations
        {
            let mut found = Vec::new();
            reports.check(
                |ods| {
                    self.organisations
                        .iter()
                        .flatten()
                        .find(|o| o.ods.as_str() == ods)
                        .map(|o| o.role == Role::Gp)
                },
                &mut found,
            );
            for (path, message) in found {
                push(path, message);
            }
        }

        let mut client_ids = HashSet::new();
        for (i, client) in self.clients.iter().enumerate() {
            let Some(client) = client else { continue };
            if !client_ids.insert(&client.id) {
                push(
                    format!("client[{i}].id"),
                    format!("duplicate client id \"{}\"", client.id),
                );
            }
            if all_organisations && organisation(&client.organisation).is_none() {
                push(
                    format!("client[{i}].organisation"),
                    format!("unknown organisation {}", client.organisation),
                );
            }
            match (&client.jwks, &client.jwks_url) {
                (Some(path), None) => {
                    if let Err(e) = crate::auth::read_jwks_file(path) {
                        push(format!("client[{i}].jwks"), e);
                    }
                }
                (None, Some(url))
                    if !(url.starts_with("https://") || url.starts_with("http://")) =>
                {
                    push(
                        format!("client[{i}].jwks_url"),
                        "must be an https:// URL".into(),
                    );
                }
                (None, Some(_)) => {}
                _ => push(
                    format!("client[{i}]"),
                    "give exactly one of jwks (a file) or jwks_url".into(),
                ),
            }
            for (j, scope) in client.scopes.iter().enumerate() {
                if let Err(e) = crate::auth::Scope::parse(scope) {
                    push(format!("client[{i}].scopes[{j}]"), e.to_string());
                }
            }
        }

        let mut route_sources = HashSet::new();
        for (i, route) in self.routes.iter().enumerate() {
            let Some(route) = route else { continue };
            match organisation(&route.from) {
                None if all_organisations => push(
                    format!("route[{i}].from"),
                    format!("unknown organisation {}", route.from),
                ),
                None => {}
                Some(_) if !route_sources.insert(&route.from) => push(
                    format!("route[{i}].from"),
                    format!("{} already has a route", route.from),
                ),
                Some(_) => {}
            }
            match organisation(&route.to) {
                None if all_organisations => push(
                    format!("route[{i}].to"),
                    format!("unknown organisation {}", route.to),
                ),
                None => {}
                Some(org) if org.role != Role::LinkWorker => push(
                    format!("route[{i}].to"),
                    format!("{} is not a link-worker organisation", route.to),
                ),
                Some(_) => {}
            }
        }
        adapters
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;

    const GOOD: &str = r#"
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
name = "Riverside Link Workers"
role = "link-worker"
[organisation.adapter]
kind = "fhir-rest"
url = "http://127.0.0.1:9001/fhir"

[[client]]
id = "riverside-gp-system"
organisation = "A81001"
jwks_url = "https://riverside.example/jwks.json"
scopes = ["system/ServiceRequest.cr"]

[[route]]
from = "A81001"
to = "LWS001"
"#;

    fn load(text: &str) -> Result<Config, Vec<(String, String)>> {
        Config::from_toml(text, |_| None).map_err(|e| e.0)
    }

    fn paths(text: &str) -> Vec<String> {
        load(text)
            .expect_err("invalid")
            .into_iter()
            .map(|(p, _)| p)
            .collect()
    }

    #[test]
    fn the_design_example_loads() {
        let config = load(GOOD).expect("valid");
        assert_eq!(config.organisations.len(), 2);
        assert_eq!(config.routes[0].to.as_str(), "LWS001");
        assert_eq!(
            config.organisations[1]
                .adapter
                .as_ref()
                .map(|a| a.kind.as_str()),
            Some("fhir-rest")
        );
    }

    #[test]
    fn unknown_key_is_reported_with_its_path() {
        let text = GOOD.replace("role = \"gp\"", "role = \"gp\"\ncolour = \"red\"");
        let errors = load(&text).expect_err("unknown key");
        assert_eq!(errors[0].0, "organisation[0].colour");
        assert!(errors[0].1.contains("colour"), "{errors:?}");
    }

    #[test]
    fn bad_ods_code_and_role_name_their_paths() {
        assert_eq!(
            paths(&GOOD.replace("ods = \"A81001\"", "ods = \"a81\"")),
            vec!["organisation[0].ods"]
        );
        assert_eq!(
            paths(&GOOD.replace("role = \"gp\"", "role = \"doctor\"")),
            vec!["organisation[0].role"]
        );
    }

    #[test]
    fn declared_services_load_and_each_mistake_names_its_key() {
        let vcs = "[[organisation]]\nods = \"VCS001\"\nname = \"Walkers\"\nrole = \"vcs\"\n";
        let good = format!(
            "{GOOD}{vcs}[[directory.service]]\nid = \"walk\"\nname = \"Walk\"\nprovider = \"VCS001\"\n\
             category = [\"https://t.test|walking\"]\npostcode = \"S1 2AB\"\ncapacity = \"capacity\"\n\
             available = 2\nmaximum = 10\n"
        );
        let config = load(&good).expect("valid");
        assert_eq!(config.directory.services[0].available, Some(2));
        let bad = format!(
            "{GOOD}{vcs}[[directory.service]]\nid = \"walk\"\nname = \"Walk\"\nprovider = \"A81001\"\n\
             category = [\"walking\"]\npostcode = \"nowhere\"\ncapacity = \"plenty\"\n\
             [[directory.service]]\nid = \"walk\"\nname = \"Other\"\nprovider = \"ZZZ999\"\n\
             category = [\"https://t.test|x\"]\nmaximum = 3\n"
        );
        let found = paths(&bad);
        for want in [
            "directory.service[0].provider",
            "directory.service[0].category[0]",
            "directory.service[0].postcode",
            "directory.service[0].capacity",
            "directory.service[1].id",
            "directory.service[1].provider",
            "directory.service[1].maximum",
        ] {
            assert!(
                found.contains(&want.to_owned()),
                "missing {want} in {found:?}"
            );
        }
        assert_eq!(
            paths(&format!(
                "{GOOD}[[directory.service]]\nid = \"x\"\nname = \"X\"\nprovider = \"VCS001\"\ncategory = [\"a|b\"]\ncolour = 1\n"
            )),
            vec!["directory.service[0].colour"],
            "an unknown key is named"
        );
    }

    #[test]
    fn every_cross_field_mistake_is_reported_at_once() {
        let text = GOOD
            .replace("ods = \"LWS001\"", "ods = \"A81001\"")
            .replace("kind = \"fhir-rest\"", "kind = \"pigeon\"")
            .replace("organisation = \"A81001\"", "organisation = \"ZZZ999\"");
        let found = paths(&text);
        for want in [
            "organisation[1].ods",
            "organisation[1].adapter",
            "client[0].organisation",
            "route[0].to",
        ] {
            assert!(
                found.contains(&want.to_owned()),
                "missing {want} in {found:?}"
            );
        }
    }

    #[test]
    fn route_to_a_non_link_worker_is_refused() {
        let text = GOOD.replace("role = \"link-worker\"", "role = \"vcs\"");
        assert_eq!(paths(&text), vec!["route[0].to"]);
    }

    #[test]
    fn adapter_settings_are_checked_by_the_adapter() {
        let text = GOOD.replace(
            "url = \"http://127.0.0.1:9001/fhir\"",
            "uri = \"http://127.0.0.1:9001/fhir\"",
        );
        assert_eq!(paths(&text), vec!["organisation[1].adapter"]);
    }

    #[test]
    fn environment_overrides_the_file() {
        let config = Config::from_toml(GOOD, |name| {
            (name == "SIGNPOST_STORE_URL").then(|| "sqlite://elsewhere.db".to_owned())
        })
        .expect("valid");
        assert_eq!(config.store.url, "sqlite://elsewhere.db");
    }

    #[test]
    fn client_key_sets_and_scopes_are_checked() {
        let text = GOOD
            .replace(
                "jwks_url = \"https://riverside.example/jwks.json\"",
                "jwks = \"/nonexistent/riverside.jwks.json\"",
            )
            .replace(
                "scopes = [\"system/ServiceRequest.cr\"]",
                "scopes = [\"system/ServiceRequest.cr\", \"user/Task.rs\"]",
            );
        assert_eq!(paths(&text), vec!["client[0].jwks", "client[0].scopes[1]"]);
    }

    #[test]
    fn an_adapter_slower_than_the_delivery_lease_is_refused() {
        let text = GOOD.replace("[[client]]", "[delivery]\nlease_seconds = 20\n\n[[client]]");
        let errors = load(&text).expect_err("the fhir-rest default timeout is 30s");
        assert_eq!(errors[0].0, "organisation[1].adapter");
        assert!(errors[0].1.contains("lease_seconds"), "{errors:?}");
    }

    #[test]
    fn bad_listen_address() {
        assert_eq!(
            paths(&GOOD.replace("127.0.0.1:8080\"\nbase", "localhost\"\nbase")),
            vec!["server.listen"]
        );
    }

    #[test]
    fn connection_limits_of_zero_are_refused() {
        let text = GOOD.replace(
            "[server]\n",
            "[server]\nmax_connections = 0\nheader_read_timeout_seconds = 0\n",
        );
        assert_eq!(
            paths(&text),
            vec![
                "server.max_connections",
                "server.header_read_timeout_seconds"
            ]
        );
    }
}
