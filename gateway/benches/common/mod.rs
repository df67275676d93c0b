//! What the gateway benches share: a GP practice routed to a link-worker service pushed to by `fhir-rest`.

use signpost_gateway::config::Config;
use signpost_gateway::routing::Directory;

const CONFIG: &str = r#"
[[organisation]]
ods = "A81001"
name = "Riverside Surgery"
role = "gp"

[[organisation]]
ods = "LWS001"
name = "Riverside Social Prescribing Service"
role = "link-worker"
[organisation.adapter]
kind = "fhir-rest"
url = "http://127.0.0.1:9/fhir"

[[route]]
from = "A81001"
to = "LWS001"
"#;

/// The routing directory of [`CONFIG`].
pub fn directory() -> Directory {
    let config = Config::from_toml(CONFIG, |_| None).expect("bench config");
    Directory::from_config(&config).expect("directory")
}
