//! The example files the sandbox writes for its guide, made with the sandbox's own ids.

use serde_json::{Value, json};
use signpost_profiles::outcome_measure::{
    OUTCOME_SYSTEM as OUTCOME, TIMEPOINT_EXTENSION as TIMEPOINT,
};

/// The ODS code system, as Signpost's referrals write organisations.
const ODS: &str = "https://fhir.nhs.uk/Id/ods-organization-code";

/// Written into the onward referral's `basedOn`; the guide's command replaces it with the GP
/// referral's id, which only exists once the GP system has posted it.
pub const BASED_ON_PLACEHOLDER: &str = "ServiceRequest/REPLACED-WITH-THE-GP-REFERRAL-ID";

/// The GP referral as posted.
pub const REFERRAL: &str = "example-referral.json";
/// The link worker's onward referral to Mill Lane Walking Group.
pub const ONWARD_REFERRAL: &str = "example-onward-referral.json";
/// The walking group's JSON Patch completing its Task.
pub const VCS_COMPLETION: &str = "example-vcs-completion.json";
/// The link worker's JSON Patch completing its Task with outcome scores.
pub const OUTCOMES: &str = "example-outcomes.json";

/// (file name, content) of every example file.
pub fn files() -> Result<Vec<(&'static str, String)>, serde_json::Error> {
    Ok(vec![
        (
            REFERRAL,
            signpost_profiles::examples::REFERRAL_FROM_GP.to_owned(),
        ),
        (
            ONWARD_REFERRAL,
            serde_json::to_string_pretty(&onward_referral()?)?,
        ),
        (
            VCS_COMPLETION,
            serde_json::to_string_pretty(&vcs_completion())?,
        ),
        (OUTCOMES, serde_json::to_string_pretty(&outcomes())?),
    ])
}

/// The link worker refers the person on: the GP's referral, re-addressed. It keeps the contained
/// Patient so the walking group has a way to contact the person (Signpost minimises the rest).
pub fn onward_referral() -> Result<Value, serde_json::Error> {
    let mut body: Value = serde_json::from_str(signpost_profiles::examples::REFERRAL_FROM_GP)?;
    body["identifier"] = json!([{
        "system": "https://fhir.riverside-social-prescribing.example/onward-referral",
        "value": "RSP-2026-0042"
    }]);
    body["basedOn"] = json!([{ "reference": BASED_ON_PLACEHOLDER }]);
    body["intent"] = json!("filler-order");
    body["requester"] = json!({
        "identifier": { "system": ODS, "value": "LWS001" },
        "display": "Riverside Social Prescribing Service"
    });
    body["performer"] = super::journey::performer_json(("VCS001", "Mill Lane Walking Group"));
    body["note"] =
        json!([{ "text": "Would like a gentle walk to start with; mornings suit best" }]);
    Ok(body)
}

/// The walking group reports the person attended, and completes its Task.
pub fn vcs_completion() -> Value {
    json!([
        { "op": "replace", "path": "/status", "value": "completed" },
        { "op": "add", "path": "/output", "value": [{
            "type": { "coding": [{ "system": OUTCOME, "code": "vcs-service-attended" }] },
            "valueReference": {
                "identifier": { "system": ODS, "value": "VCS001" },
                "display": "Mill Lane Walking Group"
            }
        }]}
    ])
}

fn score(code: &str, value: i64, timepoint: &str) -> Value {
    json!({
        "extension": [{ "url": TIMEPOINT, "valueCode": timepoint }],
        "type": { "coding": [{ "system": OUTCOME, "code": code }] },
        "valueInteger": value
    })
}

/// The link worker completes the referral with the person's before and after scores.
pub fn outcomes() -> Value {
    json!([
        { "op": "replace", "path": "/status", "value": "completed" },
        { "op": "add", "path": "/output", "value": [
            score("ons4-life-satisfaction", 4, "baseline"),
            score("ons4-life-satisfaction", 7, "follow-up"),
            score("ucla3-total", 8, "baseline"),
            score("ucla3-total", 5, "follow-up"),
            {
                "type": { "coding": [{ "system": OUTCOME, "code": "vcs-service-attended" }] },
                "valueReference": { "identifier": { "system": ODS, "value": "VCS001" } }
            }
        ]}
    ])
}
