//! `GET /fhir/metadata`: a CapabilityStatement generated from what is really served.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use signpost_adapters::bars::inbound::{
    self, CANCELLATION_DEFINITION, CATEGORY_SYSTEM, VALIDATION_DEFINITION,
};
use signpost_adapters::bars::{REFERRAL_DEFINITION, RESPONSE_DEFINITION};
use signpost_profiles::Validator;

use super::fhir_response;
use super::search_params::{DEFAULT_COUNT, MAX_COUNT};
use crate::search_index::{Kind, RESOURCE_TYPES, SearchParam, params_for};
use crate::state::AppState;

/// One declared search parameter: its FHIR name (a modifier is never part of it) and type, and
/// in words what values and modifiers Signpost takes.
fn search_param(p: &SearchParam) -> Value {
    let (name, documentation) = match (p.name.split_once(':'), p.kind) {
        (Some((base, modifier)), _) => (
            base,
            format!(
                "only with the :{modifier} modifier, e.g. {base}:{modifier}=https://fhir.nhs.uk/Id/nhs-number|9434765919"
            ),
        ),
        (None, Kind::Reference("Organization")) => (
            p.name,
            format!(
                "an organisation by ODS code: {0}=Organization/A81001, or with the :identifier modifier {0}:identifier=https://fhir.nhs.uk/Id/ods-organization-code|A81001",
                p.name
            ),
        ),
        (None, Kind::Reference(target)) => (
            p.name,
            format!("a literal reference, e.g. {}={target}/{{id}}", p.name),
        ),
        (None, Kind::Token) => (
            p.name,
            format!(
                "system|code or code; alternatives comma-separated, e.g. {}=a,b",
                p.name
            ),
        ),
        (None, Kind::Extension(url)) => (
            p.name,
            format!("the exact value of the extension {url}, e.g. {}=3f2b0c9e-6a71-4c1b-9a52-0d7e3c1f8a44 (the Bundle.id of the BaRS request message the referral came in)", p.name),
        ),
        (None, Kind::Capacity) => (
            p.name,
            "the capacity status as it holds now (an expired declaration is unknown): capacity, no-capacity, waitlist, additional-assessment-required or unknown".to_owned(),
        ),
        (None, Kind::Words) => (
            p.name,
            format!("whole words, any case, e.g. {}=walking", p.name),
        ),
        (None, Kind::Postcode) => (
            p.name,
            format!(
                "a postcode or its district; a full postcode matches its district, e.g. {}=S1 2AB. \
                 With distance, the services within that distance of the postcode instead, nearest first",
                p.name
            ),
        ),
        (None, Kind::Near) => (
            p.name,
            format!(
                "as FHIR's Location near, over the positions of the service's locations: latitude|longitude|distance|unit \
                 (WGS84 degrees; unit km, m or [mi_i], km if omitted; distance {} km if omitted, at most {} km), \
                 e.g. {}=53.3781|-1.4620|5|km; also spelt location.near. Results are ordered nearest first, \
                 and a service without a position is not found by it",
                crate::directory::geo::DEFAULT_NEAR_KM,
                crate::directory::geo::MAX_NEAR_KM,
                p.name
            ),
        ),
    };
    let kind = match (p.name.contains(':'), p.kind) {
        // `subject:identifier` is indexed as a token, but the parameter is the reference `subject`.
        (true, _) | (false, Kind::Reference(_)) => "reference",
        (false, Kind::Token | Kind::Capacity | Kind::Extension(_)) => "token",
        (false, Kind::Words | Kind::Postcode) => "string",
        (false, Kind::Near) => "special",
    };
    json!({"name": name, "definition": p.definition, "type": kind, "documentation": documentation})
}

/// `distance`, which goes with `postcode`: Signpost's own, as FHIR R4 has no distance from a postcode.
fn distance_param() -> Value {
    json!({
        "name": "distance",
        "definition": "https://signpost.example/fhir/SearchParameter/HealthcareService-distance",
        "type": "quantity",
        "documentation": format!(
            "with postcode only: the services with a location within this distance of the postcode, nearest first \
             (distance or distance|unit, unit km, m or [mi_i], km if omitted; at most {} km), e.g. postcode=S1 2AB&distance=3. \
             Signpost holds no postcode data: the postcode is placed where the directory's own locations at it are, \
             else at the middle of its district's located places; a postcode the directory cannot place is refused (400)",
            crate::directory::geo::MAX_NEAR_KM
        ),
    })
}

/// The result and common parameters every search takes.
fn common_search_params() -> Vec<Value> {
    vec![
        json!({
            "name": "_lastUpdated",
            "definition": "http://hl7.org/fhir/SearchParameter/Resource-lastUpdated",
            "type": "date",
            "documentation": "prefix eq, gt, ge, lt or le, then YYYY-MM-DD or an instant",
        }),
        json!({
            "name": "_count",
            "type": "number",
            "documentation": format!("page size, at most {MAX_COUNT} (default {DEFAULT_COUNT}); the Bundle's next link pages on"),
        }),
        json!({
            "name": "_sort",
            "type": "special",
            "documentation": "_lastUpdated or -_lastUpdated only",
        }),
    ]
}

fn resource_entry(resource_type: &str, validator: &Validator) -> Value {
    let mut interactions = vec![
        json!({"code": "read"}),
        json!({"code": "vread"}),
        json!({"code": "history-instance"}),
        json!({"code": "search-type"}),
    ];
    if resource_type == "AuditEvent" {
        interactions = vec![json!({"code": "read"}), json!({"code": "search-type"})];
    }
    if resource_type == "ServiceRequest" {
        interactions.push(json!({"code": "create", "documentation": "If-None-Exist honoured"}));
    }
    if resource_type == "Task" || resource_type == "HealthcareService" {
        interactions.push(json!({"code": "update", "documentation": "If-Match required"}));
        interactions.push(json!({
            "code": "patch",
            "documentation": "JSON Patch (application/json-patch+json) only; If-Match required",
        }));
    }
    let mut search_params: Vec<Value> = params_for(resource_type)
        .unwrap_or_default()
        .iter()
        .map(search_param)
        .collect();
    if resource_type == "HealthcareService" {
        search_params.push(distance_param());
    }
    search_params.extend(common_search_params());
    let mut entry = json!({
        "type": resource_type,
        "interaction": interactions,
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
             name matches a whole word of the name; postcode matches the postcode district a service is at or covers, \
             or with distance the services within that distance of where the directory's locations place the postcode; \
             near (or location.near) is FHIR's Location near over the positions of a service's locations, nearest first; \
             capacity is the Gravity (SDOH Clinical Care 3.0.0) status as it holds now, an expired declaration being unknown. \
             A provider declares its capacity by PUT or PATCH with system/HealthcareService.u and If-Match, \
             or by a signed message to /webhooks/{ods}/capacity when it has a webhook adapter."
        );
    }
    entry
}

/// `Measure` and `MeasureReport`: computed from the store, read by `admin` and `commissioner`.
fn report_entries() -> Vec<Value> {
    let signpost =
        |name: &str| format!("https://signpost.example/fhir/SearchParameter/MeasureReport-{name}");
    vec![
        json!({
            "type": "Measure",
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": [{
                "name": "url",
                "definition": "http://hl7.org/fhir/SearchParameter/conformance-url",
                "type": "uri",
                "documentation": "the canonical URL, e.g. url=https://signpost.example/fhir/Measure/referral-activity",
            }],
            "documentation": "The definitions of the figures Signpost reports: one Measure per family of figures scored the same way, and one per outcome measure. Each group's code (https://signpost.example/fhir/CodeSystem/report-figure) is the one MeasureReport.group uses. Read with the admin or commissioner scope.",
        }),
        json!({
            "type": "MeasureReport",
            "interaction": [{"code": "search-type"}],
            "searchParam": [
                {"name": "period", "definition": "http://hl7.org/fhir/SearchParameter/MeasureReport-period", "type": "date",
                 "documentation": "required, twice: period=geYYYY-MM-DD (the first day) and period=ltYYYY-MM-DD (the first day not covered), each the start of an interval; at most 36 months"},
                {"name": "measure", "definition": "http://hl7.org/fhir/SearchParameter/MeasureReport-measure", "type": "reference",
                 "documentation": "only these Measures: canonical URL, Measure/{id} or id; alternatives comma-separated"},
                {"name": "reporter", "definition": "http://hl7.org/fhir/SearchParameter/MeasureReport-reporter", "type": "reference",
                 "documentation": "only this organisation (practice, PCN, link-worker service, VCS organisation): reporter=Organization/A81001 or reporter:identifier=https://fhir.nhs.uk/Id/ods-organization-code|A81001"},
                {"name": "group-by", "definition": signpost("group-by"), "type": "token",
                 "documentation": "required: practice, pcn, link-worker-service, vcs-organisation or vcs-service"},
                {"name": "interval", "definition": signpost("interval"), "type": "token",
                 "documentation": "required: month or quarter"},
                {"name": "group", "definition": signpost("group"), "type": "token",
                 "documentation": "only this group, by its code: an ODS code, a PCN code, or a VCS service as HealthcareService/{id} (a service is not an R4 reporter)"},
            ],
            "documentation": "Summary MeasureReports, one per group, period and Measure, computed on request. Every value has been through the deployment's disclosure policy, named in the extension https://signpost.example/fhir/StructureDefinition/disclosure-policy; a suppressed count or score carries the data-absent-reason extension (masked) in place of its value. The group reported on is MeasureReport.reporter (an Organization by ODS code) and the extension https://signpost.example/fhir/StructureDefinition/report-group (dimension, group, period label). Searched with the admin or commissioner scope; unknown parameters are refused.",
        }),
    ]
}

/// The BaRS messages Signpost takes and sends, and how it reads a referral.
fn messaging(state: &AppState) -> Value {
    let (system, code, display) = inbound::SOCIAL_PRESCRIBING_CODE;
    json!({
        "endpoint": [{
            "protocol": {"system": "http://terminology.hl7.org/CodeSystem/message-transport", "code": "http"},
            "address": format!("{}/$process-message", state.config.server.fhir_base()),
        }],
        "documentation": format!(
            "NHS BaRS over POST /$process-message, X-Request-Id and X-Correlation-Id required (UUIDs, echoed). \
             Taken: servicerequest-request messages built to {REFERRAL_DEFINITION} (reason new) whose ServiceRequest.category \
             includes {CATEGORY_SYSTEM}#referral; a cancellation (reason update, the ServiceRequest revoked or entered-in-error, \
             definition {REFERRAL_DEFINITION} or {CANCELLATION_DEFINITION}) names the referral by the ServiceRequest.id Signpost \
             gave out, or by an identifier of exactly one live referral. Refused as not supported: validation requests \
             ({VALIDATION_DEFINITION}, category validation) and other events. Every BaRS referral sent to Signpost is a \
             referral to social prescribing: a ServiceRequest.code, when sent, is kept; when absent it is recorded as \
             {system}|{code} ({display}) with a warning; the BaRS use-case category is kept as sent and not interpreted. \
             The requesting organisation is MessageHeader.sender when ServiceRequest.requester is a Practitioner or \
             PractitionerRole. ODS and NHS number systems are read as published (/Id/) and in the lower-case /id/ \
             spelling, stored canonical, with a warning. A performer's servicerequest-response ({RESPONSE_DEFINITION}) \
             moves the Task entry it carries when its response.identifier is the Bundle.id of a message Signpost sent about \
             that Task; Signpost's own responses name the requester's request Bundle.id."
        ),
        "supportedMessage": [
            {"mode": "receiver", "definition": REFERRAL_DEFINITION},
            {"mode": "receiver", "definition": CANCELLATION_DEFINITION},
            {"mode": "sender", "definition": REFERRAL_DEFINITION},
            {"mode": "receiver", "definition": RESPONSE_DEFINITION},
            {"mode": "sender", "definition": RESPONSE_DEFINITION},
        ],
    })
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
        "patchFormat": ["application/json-patch+json"],
        "rest": [{
            "mode": "server",
            "security": {
                "service": [{"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                    "code": "SMART-on-FHIR"
                }]}],
                "description": "SMART Backend Services: client_credentials with a private_key_jwt assertion (RS384 or ES384). \
                    Scopes: system/<Resource>.<cruds> (SMART v2, or v1 .read/.write/.*) for referral data; \
                    admin for operators (the AuditEvent trail, the reports; no patient data); \
                    commissioner for commissioners, which reads Measure and MeasureReport (and /reports/*.csv) and nothing else: \
                    no resource about a person, not even the service directory",
                "extension": [{
                    "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                    "extension": [{"url": "token", "valueUri": crate::auth::token_url(&state)}]
                }]
            },
            "resource": RESOURCE_TYPES.iter().map(|t| resource_entry(t, state.validator)).chain(report_entries()).collect::<Vec<_>>(),
            "interaction": [{
                "code": "transaction",
                "documentation": "POST /fhir: one referral (a ServiceRequest) with its Patient and Organizations by urn:uuid or identifier, all or nothing; batch is not supported"
            }],
            "operation": [{
                "name": "process-message",
                "definition": "http://hl7.org/fhir/OperationDefinition/MessageHeader-process-message",
                "documentation": "NHS BaRS messages: see messaging"
            }],
        }],
        "messaging": [messaging(&state)],
    });
    fhir_response(StatusCode::OK, statement.to_string())
}
