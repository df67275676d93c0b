//! `GET /fhir/metadata`: a CapabilityStatement generated from what is really served.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use signpost_profiles::Validator;

use super::fhir_response;
use crate::search_index::{Kind, RESOURCE_TYPES, params_for};
use crate::state::AppState;

fn resource_entry(resource_type: &str, validator: &Validator) -> Value {
    let mut interactions = vec!["read", "vread", "history-instance", "search-type"];
    if resource_type == "AuditEvent" {
        interactions = vec!["read", "search-type"];
    }
    if resource_type == "ServiceRequest" {
        interactions.push("create");
    }
    if resource_type == "Task" || resource_type == "HealthcareService" {
        interactions.extend(["update", "patch"]);
    }
    let mut search_params: Vec<Value> = params_for(resource_type)
        .unwrap_or_default()
        .iter()
        .map(|p| {
            json!({
                "name": p.name,
                "definition": p.definition,
                "type": match p.kind {
                    Kind::Token | Kind::Capacity => "token",
                    Kind::Reference(_) => "reference",
                    Kind::Words | Kind::Postcode => "string",
                },
            })
        })
        .collect();
    search_params.push(json!({
        "name": "_lastUpdated",
        "definition": "http://hl7.org/fhir/SearchParameter/Resource-lastUpdated",
        "type": "date",
    }));
    let mut entry = json!({
        "type": resource_type,
        "interaction": interactions.iter().map(|code| json!({"code": code})).collect::<Vec<_>>(),
        "versioning": if matches!(resource_type, "Task" | "HealthcareService") { "versioned-update" } else { "versioned" },
        "readHistory": true,
        "updateCreate": false,
        "conditionalCreate": resource_type == "ServiceRequest",
        "searchParam": search_params,
    });
    if let Some(profile) = validator.default_profile(resource_type) {
        entry["profile"] = json!(profile);
    }
    let supported: Vec<&str> = validator
        .profiles()
        .into_iter()
        .filter(|(_, t)| *t == resource_type)
        .map(|(url, _)| url)
        .collect();
    if !supported.is_empty() {
        entry["supportedProfile"] = json!(supported);
    }
    if resource_type == "ServiceRequest" {
        entry["documentation"] = json!(
            "Posting a referral creates the link-worker Task and schedules its delivery. If-None-Exist is honoured. \
             An onward referral's performer may be a HealthcareService of the directory: a service without room is refused (409) with alternatives."
        );
    }
    if resource_type == "HealthcareService" {
        entry["documentation"] = json!(
            "The service directory: read and search need no scope of their own (no patient data). \
             name matches a whole word of the name; postcode matches the postcode district a service is at or covers; \
             capacity is the Gravity (SDOH Clinical Care 3.0.0) status as it holds now, an expired declaration being unknown. \
             A provider declares its capacity by PUT or PATCH with system/HealthcareService.u and If-Match."
        );
    }
    entry
}

/// The CapabilityStatement.
pub async fn capability_statement(State(state): State<AppState>) -> Response {
    let statement = json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-23",
        "publisher": "Signpost",
        "kind": "instance",
        "software": {"name": "Signpost", "version": env!("CARGO_PKG_VERSION")},
        "implementation": {
            "description": "Signpost social prescribing referral gateway",
            "url": state.config.server.fhir_base(),
        },
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [{
            "mode": "server",
            "security": {
                "service": [{"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                    "code": "SMART-on-FHIR"
                }]}],
                "description": "SMART Backend Services: client_credentials with a private_key_jwt assertion (RS384 or ES384)",
                "extension": [{
                    "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                    "extension": [{"url": "token", "valueUri": crate::auth::token_url(&state)}]
                }]
            },
            "resource": RESOURCE_TYPES.iter().map(|t| resource_entry(t, state.validator)).collect::<Vec<_>>(),
            "operation": [{
                "name": "process-message",
                "definition": "http://hl7.org/fhir/OperationDefinition/MessageHeader-process-message"
            }],
        }],
    });
    fhir_response(StatusCode::OK, statement.to_string())
}
