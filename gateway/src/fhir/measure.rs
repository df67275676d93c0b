//! `Measure`: the definitions of the figures Signpost reports, served at `GET /fhir/Measure`
//! and `GET /fhir/Measure/{id}` to operator and commissioner clients.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use signpost_profiles::IssueType;

use super::{ApiError, fhir_response};
use crate::auth::{Interaction, Principal};
use crate::state::AppState;
use crate::workflow::reports::StratumKind;
use crate::workflow::reports::measures::{
    FIGURE_SYSTEM, MeasureDef, Scoring, measure, measures, stratum_code,
};

/// R4's measure-population code system.
pub const POPULATION_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/measure-population";

/// The populations a group of a measure scored this way defines.
pub fn populations(scoring: Scoring) -> &'static [&'static str] {
    match scoring {
        Scoring::Cohort => &["initial-population"],
        Scoring::Proportion => &["initial-population", "denominator", "numerator"],
        Scoring::Ratio => &["numerator", "denominator"],
        Scoring::ContinuousVariable => &[
            "initial-population",
            "measure-population",
            "measure-observation",
        ],
    }
}

/// A code of Signpost's report-figure code system as a CodeableConcept.
pub fn figure_concept(code: &str) -> Value {
    json!({"coding": [{"system": FIGURE_SYSTEM, "code": code}]})
}

/// A stratifier's code.
pub fn stratifier_concept(kind: StratumKind) -> Value {
    figure_concept(stratum_code(kind))
}

/// `referral-activity` → `ReferralActivity`: R4's computer-friendly name (inv-0).
fn computable_name(id: &str) -> String {
    id.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn words(text: &str) -> Value {
    // The criteria are written for people: Signpost computes them itself, not from an expression.
    json!({"language": "text/plain", "expression": text})
}

/// A published definition as an R4 `Measure`.
pub fn measure_json(def: &MeasureDef) -> Value {
    let groups: Vec<Value> = def
        .groups
        .iter()
        .map(|g| {
            let population: Vec<Value> = populations(def.scoring)
                .iter()
                .map(|code| {
                    json!({
                        "code": {"coding": [{"system": POPULATION_SYSTEM, "code": code}]},
                        "criteria": words(&format!("{code} of: {}", g.description)),
                    })
                })
                .collect();
            let mut group = json!({
                "code": figure_concept(&g.code),
                "description": g.description,
                "population": population,
            });
            if let Some(kind) = g.stratifier {
                group["stratifier"] = json!([{
                    "code": stratifier_concept(kind),
                    "criteria": words(&format!("by {}", stratum_code(kind))),
                }]);
            }
            group
        })
        .collect();
    let mut resource = json!({
        "resourceType": "Measure",
        "id": def.id,
        "url": def.url(),
        "version": env!("CARGO_PKG_VERSION"),
        "name": computable_name(&def.id),
        "title": def.title,
        "status": "active",
        "experimental": false,
        "publisher": "Signpost",
        "description": def.description,
        "disclaimer": "Every published value has been through the deployment's disclosure control: small counts are suppressed and others rounded, as the disclosure-policy extension of each MeasureReport names.",
        "scoring": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/measure-scoring",
            "code": def.scoring.code(),
        }]},
        "group": groups,
    });
    if let Some(better) = def.improvement {
        resource["improvementNotation"] = json!({"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/measure-improvement-notation",
            "code": better.code(),
        }]});
    }
    resource
}

/// 403 unless the caller may read reports (`admin` or `commissioner`).
async fn require(
    who: &Principal,
    state: &AppState,
    interaction: Interaction,
    target: &str,
) -> Result<(), ApiError> {
    crate::auth::bearer::require(who, state, "Measure", interaction, target).await
}

/// `GET /fhir/Measure/{id}`
pub async fn read(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    require(&who, &state, Interaction::Read, &format!("Measure/{id}")).await?;
    let def = measure(&id)
        .ok_or_else(|| ApiError::not_found(format!("Signpost publishes no Measure {id}")))?;
    Ok(fhir_response(
        StatusCode::OK,
        measure_json(&def).to_string(),
    ))
}

/// `GET /fhir/Measure[?url=…]`: every published definition, or the one with that canonical URL.
pub async fn search(
    State(state): State<AppState>,
    who: Principal,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let raw = raw.unwrap_or_default();
    require(&who, &state, Interaction::Search, &format!("Measure?{raw}")).await?;
    let mut url = None;
    for (name, value) in super::measure_report::pairs(&raw) {
        match name.as_str() {
            "url" => url = Some(value),
            _ => {
                return Err(ApiError::bad_request(
                    IssueType::NotSupported,
                    format!(
                        "search parameter {name}: Measure is searched by url only (or not at all)"
                    ),
                ));
            }
        }
    }
    let found: Vec<Value> = measures()
        .iter()
        .filter(|m| url.as_ref().is_none_or(|u| *u == m.url()))
        .map(measure_json)
        .collect();
    let base = state.config.server.fhir_base();
    let self_url = format!(
        "{base}/Measure{}",
        if raw.is_empty() {
            String::new()
        } else {
            format!("?{raw}")
        }
    );
    let entries: Vec<Value> = found
        .into_iter()
        .map(|m| {
            json!({
                "fullUrl": format!("{base}/Measure/{}", m["id"].as_str().unwrap_or_default()),
                "resource": m,
                "search": {"mode": "match"},
            })
        })
        .collect();
    let bundle = json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "total": entries.len(),
        "link": [{"relation": "self", "url": self_url}],
        "entry": entries,
    });
    Ok(fhir_response(StatusCode::OK, bundle.to_string()))
}
