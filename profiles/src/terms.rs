//! The display of a code as Signpost's own definitions word it, for people reading a minimised
//! view: the VCS view keeps codes only (the sender's display texts are free text), so a page
//! shows the words of the shipped ValueSets and CodeSystems instead.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde_json::Value;

/// (system, code) -> display, from every shipped ValueSet concept list and CodeSystem.
static DISPLAYS: LazyLock<HashMap<(String, String), String>> = LazyLock::new(|| {
    let mut displays = HashMap::new();
    for (name, text) in crate::embedded::EMBEDDED {
        if name.starts_with(crate::r4::PREFIX) {
            continue;
        }
        let Ok(json) = serde_json::from_str::<Value>(text) else {
            continue;
        };
        let mut add = |system: &str, concepts: Option<&Value>| {
            for c in concepts.and_then(Value::as_array).into_iter().flatten() {
                if let (Some(code), Some(display)) = (
                    c.get("code").and_then(Value::as_str),
                    c.get("display").and_then(Value::as_str),
                ) {
                    displays
                        .entry((system.to_owned(), code.to_owned()))
                        .or_insert_with(|| display.to_owned());
                }
            }
        };
        match json.get("resourceType").and_then(Value::as_str) {
            Some("CodeSystem") => {
                if let Some(url) = json.get("url").and_then(Value::as_str) {
                    add(url, json.get("concept"));
                }
            }
            Some("ValueSet") => {
                for include in json
                    .pointer("/compose/include")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(system) = include.get("system").and_then(Value::as_str) {
                        add(system, include.get("concept"));
                    }
                }
            }
            _ => {}
        }
    }
    displays
});

/// The display Signpost's definitions give `code` in `system`, if they list it.
pub fn display(system: &str, code: &str) -> Option<&'static str> {
    DISPLAYS
        .get(&(system.to_owned(), code.to_owned()))
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::display;

    #[test]
    fn needs_and_referral_codes_have_their_shipped_words() {
        assert_eq!(
            display("http://snomed.info/sct", "267076002"),
            Some("Feeling lonely")
        );
        assert_eq!(
            display("http://snomed.info/sct", "871731000000106"),
            Some("Referral to social prescribing service")
        );
        assert_eq!(display("http://snomed.info/sct", "0"), None);
    }
}
