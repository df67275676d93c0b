//! `POST /fhir/$process-message`: NHS BaRS referral messages from a GP system.
//!
//! A new referral (`servicerequest-request`, reason `new`) is turned into the ServiceRequest
//! shape intake takes (the person contained, the requester by ODS code) and goes through the
//! same intake as `POST /fhir/ServiceRequest`: same checks, routing and answers. An update whose
//! ServiceRequest is `revoked` or `entered-in-error` cancels the existing referral.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value, json};
use signpost_adapters::bars::{EVENT_SYSTEM, REASON_SYSTEM};
use signpost_profiles::{Issue, IssueType, NHS_NUMBER_SYSTEM, ODS_SYSTEM, parse_resource};

use super::ApiError;
use super::body::FhirBody;
use super::intake::{Answer, answered, submit};
use super::resource_response;
use crate::auth::{Interaction, Principal};
use crate::state::AppState;
use crate::store::{Instant, Once};
use crate::workflow::cancel_referral::{Cancellation, cancel_referral};

/// How long a processed `X-Request-Id` is remembered (a BaRS retry arrives well within this).
const REMEMBER_REQUEST_IDS_FOR_US: i64 = 7 * 24 * 3600 * 1_000_000;

fn invalid(message: impl Into<String>, at: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        Issue::error(IssueType::Invalid, message).at(at),
    )
}

/// The entries of a message Bundle by `fullUrl`.
fn resolve<'a>(bundle: &'a Value, reference: Option<&Value>) -> Option<&'a Value> {
    let target = reference?.get("reference")?.as_str()?;
    bundle["entry"]
        .as_array()?
        .iter()
        .find(|e| e["fullUrl"].as_str() == Some(target))
        .map(|e| &e["resource"])
}

/// An organisation entry (or a PractitionerRole's organisation) as an ODS-identified reference.
fn organisation(bundle: &Value, reference: Option<&Value>) -> Option<Value> {
    let mut resource = resolve(bundle, reference)?;
    if resource["resourceType"] == "PractitionerRole" {
        resource = resolve(bundle, resource.get("organization"))?;
    }
    let identifier = resource["identifier"]
        .as_array()?
        .iter()
        .find(|i| i["system"] == ODS_SYSTEM)?;
    Some(json!({"identifier": identifier, "display": resource["name"]}))
}

/// The focus ServiceRequest in the shape intake takes.
fn referral_from_message(bundle: &Value, sr: &Value) -> Value {
    let mut out: Map<String, Value> = sr.as_object().cloned().unwrap_or_default();
    out.remove("id");
    out.remove("meta");
    // References into the message that Signpost does not keep would dangle once stored.
    out.retain(|_, v| !v.to_string().contains("\"urn:uuid:"));
    if let Some(patient) = resolve(bundle, sr.get("subject")) {
        let mut contained = patient.clone();
        contained["id"] = json!("patient");
        contained.as_object_mut().map(|p| p.remove("meta"));
        let nhs = patient["identifier"]
            .as_array()
            .and_then(|ids| ids.iter().find(|i| i["system"] == NHS_NUMBER_SYSTEM))
            .cloned();
        let mut subject = json!({"reference": "#patient"});
        if let Some(nhs) = nhs {
            subject["identifier"] = json!({"system": NHS_NUMBER_SYSTEM, "value": nhs["value"]});
        }
        out.insert("contained".into(), json!([contained]));
        out.insert("subject".into(), subject);
    }
    if let Some(requester) = organisation(bundle, sr.get("requester")) {
        out.insert("requester".into(), requester);
    }
    let performers: Vec<Value> = sr["performer"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| organisation(bundle, Some(p)))
        .collect();
    if !performers.is_empty() {
        out.insert("performer".into(), Value::Array(performers));
    }
    Value::Object(out)
}

/// `POST /fhir/$process-message`
pub async fn process_message(
    State(state): State<AppState>,
    who: Principal,
    headers: HeaderMap,
    FhirBody(bytes): FhirBody,
) -> Result<Response, ApiError> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let request_id = header("x-request-id")
        .ok_or_else(|| invalid("BaRS messages need an X-Request-Id header", "X-Request-Id"))?;
    let correlation_id = header("x-correlation-id").ok_or_else(|| {
        invalid(
            "BaRS messages need an X-Correlation-Id header",
            "X-Correlation-Id",
        )
    })?;

    let bundle = parse_resource(&bytes, Some("Bundle"))?.json;
    if bundle["type"] != "message" {
        return Err(invalid(
            "$process-message takes a Bundle of type message",
            "Bundle.type",
        ));
    }
    let header_entry = &bundle["entry"][0]["resource"];
    if header_entry["resourceType"] != "MessageHeader" {
        return Err(invalid(
            "a message Bundle's first entry must be its MessageHeader (bdl-12)",
            "Bundle.entry[0].resource",
        ));
    }
    if header_entry["eventCoding"]["system"] != EVENT_SYSTEM
        || header_entry["eventCoding"]["code"] != "servicerequest-request"
    {
        return Err(ApiError::unprocessable(vec![
            Issue::error(
                IssueType::NotSupported,
                format!("Signpost takes {EVENT_SYSTEM}#servicerequest-request messages"),
            )
            .at("MessageHeader.eventCoding"),
        ]));
    }
    let reason = header_entry["reason"]["coding"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["system"] == REASON_SYSTEM))
        .and_then(|c| c["code"].as_str())
        .unwrap_or("new")
        .to_owned();
    let sr = resolve(&bundle, header_entry.pointer("/focus/0"))
        .filter(|r| r["resourceType"] == "ServiceRequest")
        .ok_or_else(|| {
            invalid(
                "MessageHeader.focus must reference the ServiceRequest entry",
                "MessageHeader.focus[0]",
            )
        })?
        .clone();

    // A retry carries the same X-Request-Id: BaRS answers it with 409 and issue code duplicate.
    // The id is recorded in the same transaction as the change, so a failed attempt can be retried.
    let once = Once {
        scope: format!("bars:{}", who.client_id),
        value: request_id.clone(),
        expires: Instant(crate::store::now().0 + REMEMBER_REQUEST_IDS_FOR_US),
    };

    let mut response = match reason.as_str() {
        "new" => {
            let referral = referral_from_message(&bundle, &sr);
            let bytes =
                serde_json::to_vec(&referral).map_err(|e| invalid(e.to_string(), "Bundle"))?;
            let submitted = submit(
                &state,
                &who,
                &bytes,
                None,
                correlation_id.clone(),
                Some(once),
            )
            .await?;
            answered(&state, Answer::Resource, submitted)
        }
        "update" if matches!(sr["status"].as_str(), Some("revoked" | "entered-in-error")) => {
            cancel(&state, &who, &sr, correlation_id.clone(), once).await?
        }
        other => {
            return Err(ApiError::unprocessable(vec![
                Issue::error(
                    IssueType::NotSupported,
                    format!("reason \"{other}\" is not supported: send new referrals, or an update whose ServiceRequest is revoked to cancel"),
                )
                .at("MessageHeader.reason"),
            ]));
        }
    };
    for (name, value) in [
        ("x-request-id", request_id),
        ("x-correlation-id", correlation_id),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, v);
        }
    }
    Ok(response)
}

/// Cancels the caller's referral named by the ServiceRequest's identifier, as its requester.
async fn cancel(
    state: &AppState,
    who: &Principal,
    sr: &Value,
    correlation_id: String,
    once: Once,
) -> Result<Response, ApiError> {
    let identifier = &sr["identifier"][0];
    let (Some(system), Some(value)) = (identifier["system"].as_str(), identifier["value"].as_str())
    else {
        return Err(invalid(
            "a cancellation names the referral by ServiceRequest.identifier",
            "ServiceRequest.identifier",
        ));
    };
    let reason = sr
        .pointer("/reasonCode/0/text")
        .and_then(Value::as_str)
        .unwrap_or("Cancelled by the referrer")
        .to_owned();
    let cancellation = Cancellation {
        identifier: (system.to_owned(), value.to_owned()),
        reason,
        correlation_id,
        once: Some(once),
    };
    crate::auth::bearer::require(who, state, "Task", Interaction::Update, "Task").await?;
    let task = cancel_referral(state.services(), who, cancellation).await?;
    Ok(resource_response(StatusCode::OK, &task, None))
}
