//! A service declared in the config (`[[directory.service]]`) as a HealthcareService: the same
//! shape an Open Referral UK import gives, its capacity (if declared) from the operator.

use serde_json::{Value, json};
use signpost_profiles::{ODS_SYSTEM, OdsCode};

use super::capacity::{Capacity, CapacitySource, CapacityStatus};
use super::service::postcode_district;
use crate::config::ServiceConfig;
use crate::store::Instant;

/// The identifier system of services declared in the config.
pub const OPERATOR_SERVICE_SYSTEM: &str =
    "https://signpost.example/fhir/NamingSystem/operator-service";

/// A `system|code` pair, both parts non-empty.
fn coding(text: &str) -> Option<Value> {
    let (system, code) = text.split_once('|')?;
    (!system.trim().is_empty() && !code.trim().is_empty())
        .then(|| json!({"system": system.trim(), "code": code.trim()}))
}

/// The entry declared by `service`, or each of its mistakes as (key under the entry, message).
pub fn to_healthcare_service(
    service: &ServiceConfig,
    at: Instant,
) -> Result<Value, Vec<(String, String)>> {
    let mut problems = Vec::new();
    if service.id.trim().is_empty() {
        problems.push(("id".into(), "must not be empty".into()));
    }
    if service.name.trim().is_empty() {
        problems.push(("name".into(), "must not be empty".into()));
    }
    if let Err(e) = OdsCode::parse(&service.provider) {
        problems.push(("provider".into(), e.to_string()));
    }
    if service.category.is_empty() {
        problems.push((
            "category".into(),
            "at least one category (system|code) is needed to find the service".into(),
        ));
    }
    let mut codings = |key: &str, list: &[String]| -> Vec<Value> {
        list.iter()
            .enumerate()
            .filter_map(|(i, text)| {
                let c = coding(text);
                if c.is_none() {
                    problems.push((
                        format!("{key}[{i}]"),
                        format!("\"{text}\" is not system|code"),
                    ));
                }
                c
            })
            .collect()
    };
    let categories = codings("category", &service.category);
    let types = codings("type", &service.types);
    let mut places: Vec<(String, &str)> = Vec::new();
    if let Some(p) = &service.postcode {
        places.push(("postcode".into(), p));
    }
    for (i, p) in service.coverage.iter().enumerate() {
        places.push((format!("coverage[{i}]"), p));
    }
    for (key, p) in &places {
        if postcode_district(p).is_none() {
            problems.push((
                key.clone(),
                format!("\"{p}\" is not a UK postcode or postcode district"),
            ));
        }
    }
    let capacity = match &service.capacity {
        None => {
            for (key, given) in [
                ("available", service.available),
                ("maximum", service.maximum),
            ] {
                if given.is_some() {
                    problems.push((key.into(), "is given only with capacity".into()));
                }
            }
            None
        }
        Some(code) => match CapacityStatus::parse(code) {
            None => {
                problems.push((
                    "capacity".into(),
                    format!(
                        "\"{code}\" is not one of {}",
                        CapacityStatus::ALL.map(CapacityStatus::code).join(", ")
                    ),
                ));
                None
            }
            Some(status) => {
                if let (Some(a), Some(m)) = (service.available, service.maximum)
                    && a > m
                {
                    problems.push((
                        "available".into(),
                        format!("{a} places free is more than the maximum, {m}"),
                    ));
                }
                if status == CapacityStatus::Capacity && service.available == Some(0) {
                    problems.push((
                        "available".into(),
                        "0 places free contradicts capacity = \"capacity\"".into(),
                    ));
                }
                Some(Capacity {
                    status,
                    notes: None,
                    available: service.available,
                    maximum: service.maximum,
                    source: CapacitySource::Operator,
                    as_of: at,
                    expires: None,
                })
            }
        },
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut hs = json!({
        "resourceType": "HealthcareService",
        "identifier": [{"system": OPERATOR_SERVICE_SYSTEM, "value": service.id.trim()}],
        "active": service.active,
        "providedBy": {"type": "Organization", "identifier": {"system": ODS_SYSTEM, "value": service.provider}},
        "category": [{"coding": categories}],
        "name": service.name.trim(),
    });
    if !types.is_empty() {
        hs["type"] = json!([{ "coding": types }]);
    }
    if !places.is_empty() {
        let contained: Vec<Value> = places
            .iter()
            .enumerate()
            .map(|(i, (_, p))| json!({"resourceType": "Location", "id": format!("loc{i}"), "address": {"postalCode": p}}))
            .collect();
        hs["contained"] = Value::Array(contained);
        let reference = |i: usize| json!({"reference": format!("#loc{i}")});
        let (held, covered): (Vec<usize>, Vec<usize>) =
            (0..places.len()).partition(|i| places[*i].0 == "postcode");
        if !held.is_empty() {
            hs["location"] = held.into_iter().map(reference).collect();
        }
        if !covered.is_empty() {
            hs["coverageArea"] = covered.into_iter().map(reference).collect();
        }
    }
    let mut telecom = Vec::new();
    if let Some(phone) = &service.phone {
        telecom.push(json!({"system": "phone", "value": phone}));
    }
    if let Some(email) = &service.email {
        telecom.push(json!({"system": "email", "value": email}));
    }
    if !telecom.is_empty() {
        hs["telecom"] = Value::Array(telecom);
    }
    if let Some(c) = capacity {
        c.write_to(&mut hs);
    }
    Ok(hs)
}
