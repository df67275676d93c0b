//! Referring onward: `GET .../refer` searches the directory (the same search the FHIR API's
//! `GET /fhir/HealthcareService` runs, by name, category, postcode district, distance from a
//! point and room) and shows
//! each service's capacity; `POST .../refer` sends the onward referral, the `submit_referral`
//! command the API's `POST /fhir/ServiceRequest` runs: `basedOn` the GP's referral, performer the
//! chosen HealthcareService. A full service's refusal is shown with its alternatives as choices.

use std::collections::{BTreeSet, HashMap};

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};
use signpost_profiles::terms;

use super::referral::{Referral, href, load_referral};
use crate::auth::{Interaction, Principal};
use crate::console::account::ConsoleRole;
use crate::console::acting::SignedIn;
use crate::console::form;
use crate::console::page::{self, FieldError};
use crate::console::posted::{Fields, field, problem};
use crate::console::task_view::organisation_name;
use crate::console::vcs::view;
use crate::directory::capacity::{self, CapacityStatus};
use crate::directory::service::{categories, districts};
use crate::fhir::search_params::parse_search;
use crate::state::AppState;
use crate::store::{StoredResource, now};
use crate::workflow::WorkflowError;
use crate::workflow::search::run_search;
use crate::workflow::service_target::ACCEPT_WAITLIST_URL;
use crate::workflow::submit_referral::{Submission, submit_referral};
use crate::workflow::visible::visible;

/// Services shown for one search.
const PAGE: usize = 20;
/// Services whose categories fill the category choice.
const CATEGORY_SOURCES: usize = 100;

/// A capacity status in words.
fn words(status: CapacityStatus) -> &'static str {
    match status {
        CapacityStatus::Capacity => "Open: has room",
        CapacityStatus::NoCapacity => "Full",
        CapacityStatus::Waitlist => "Full, with a waiting list",
        CapacityStatus::AdditionalAssessmentRequired => "Takes people after its own assessment",
        CapacityStatus::Unknown => "Not known (not said recently)",
    }
}

fn category_words(system: &str, code: &str) -> String {
    terms::display(system, code)
        .map(str::to_owned)
        .unwrap_or_else(|| code.to_owned())
}

/// The search form as asked (the page's query string).
#[derive(Default)]
struct Criteria {
    name: String,
    category: String,
    postcode: String,
    near: String,
    km: String,
    room: bool,
}

impl Criteria {
    fn from(query: &HashMap<String, String>) -> Self {
        let get = |k: &str| {
            query
                .get(k)
                .map(|v| v.trim().to_owned())
                .unwrap_or_default()
        };
        Self {
            name: get("name"),
            category: get("category"),
            postcode: get("postcode"),
            near: get("near"),
            km: get("km"),
            room: query.get("room").is_some_and(|v| v == "yes"),
        }
    }

    /// The FHIR search this asks for, as a query string, and the form field of each parameter;
    /// or the problem with a field the search cannot take as typed.
    fn fhir_query(&self) -> Result<Asked, FieldError> {
        let mut pairs = vec![("active".to_owned(), "true".to_owned())];
        let fields = vec![
            ("name", "name"),
            ("service-category", "category"),
            ("postcode", "postcode"),
            ("near", "near"),
            ("capacity", "room"),
        ];
        for (param, value) in [
            ("name", &self.name),
            ("service-category", &self.category),
            ("postcode", &self.postcode),
        ] {
            if !value.is_empty() {
                pairs.push((param.to_owned(), value.clone()));
            }
        }
        match (self.near.split_once(','), self.km.is_empty()) {
            (None, true) if self.near.is_empty() => {}
            (None, false) if self.near.is_empty() => {
                return Err(problem("near", "Enter the point to search around"));
            }
            (None, _) => {
                return Err(problem(
                    "near",
                    "Enter the latitude and longitude with a comma between them, like 53.3781, -1.4620",
                ));
            }
            (Some((latitude, longitude)), _) => {
                let km = if self.km.is_empty() { "" } else { &self.km };
                pairs.push((
                    "near".into(),
                    format!("{}|{}|{km}|km", latitude.trim(), longitude.trim()),
                ));
            }
        }
        if self.room {
            pairs.push(("capacity".into(), "capacity".into()));
        }
        pairs.push(("_count".into(), PAGE.to_string()));
        let query = pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, NON_ALPHANUMERIC)))
            .collect::<Vec<_>>()
            .join("&");
        Ok((query, fields))
    }
}

/// A FHIR search's query string, and the form field each of its parameters came from.
type Asked = (String, Vec<(&'static str, &'static str)>);

/// A refused onward referral: the problems, the services offered instead, and the answer's status.
struct Refusal {
    errors: Vec<FieldError>,
    alternatives: Vec<StoredResource>,
    status: StatusCode,
}

/// Runs the directory search the criteria ask for; a criterion the search refuses is the
/// form's problem.
async fn search_directory(
    state: &AppState,
    who: &Principal,
    criteria: &Criteria,
) -> Result<Result<(Vec<StoredResource>, i64), FieldError>, WorkflowError> {
    let (raw, fields) = match criteria.fhir_query() {
        Ok(asked) => asked,
        Err(problem) => return Ok(Err(problem)),
    };
    let parsed = match parse_search("HealthcareService", &raw) {
        Ok(parsed) => parsed,
        Err(refused) => {
            let message = refused
                .issues
                .first()
                .map(|i| i.diagnostics.clone())
                .unwrap_or_default();
            // The search names the parameter at fault: the error goes to its field.
            let at = fields
                .iter()
                .find(|(param, _)| message.starts_with(&format!("search parameter {param}:")))
                .map_or("name", |(_, f)| *f);
            return Ok(Err(problem(at, message)));
        }
    };
    let page = run_search(
        state.store.as_ref(),
        who,
        parsed.query,
        parsed.near.as_ref(),
    )
    .await?;
    Ok(Ok((page.resources, page.total)))
}

/// The categories of the directory's active services, for the category choice.
async fn known_categories(
    state: &AppState,
    who: &Principal,
) -> Result<Vec<(String, String)>, WorkflowError> {
    let raw = format!("active=true&_count={CATEGORY_SOURCES}");
    let parsed = parse_search("HealthcareService", &raw)
        .map_err(|e| WorkflowError::Internal(format!("the category search is refused: {e:?}")))?;
    let page = run_search(state.store.as_ref(), who, parsed.query, None).await?;
    let mut found = BTreeSet::new();
    for r in &page.resources {
        let json = parse(r)?;
        for (system, code) in categories(&json) {
            let value = format!("{system}|{code}");
            found.insert((category_words(&system, &code), value));
        }
    }
    Ok(found
        .into_iter()
        .map(|(words, value)| (value, words))
        .collect())
}

fn parse(r: &StoredResource) -> Result<Value, WorkflowError> {
    serde_json::from_str(r.body.get()).map_err(|e| {
        WorkflowError::Internal(format!("{}/{} is not JSON: {e}", r.resource_type, r.id))
    })
}

/// `GET .../refer`.
pub async fn search(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    render(&state, &signed_in, &id, &Criteria::from(&query), None).await
}

async fn render(
    state: &AppState,
    signed_in: &SignedIn,
    id: &str,
    criteria: &Criteria,
    refusal: Option<Refusal>,
) -> Response {
    let who = match signed_in.require(ConsoleRole::LinkWorker) {
        Ok(who) => who,
        Err(refused) => return refused,
    };
    let referral = match load_referral(state, who, id).await {
        Ok(r) => r,
        Err(WorkflowError::NotFound(_)) => return page::not_found(),
        Err(e) => return page::unavailable(&e),
    };
    let found = match search_directory(state, who, criteria).await {
        Ok(found) => found,
        Err(e) => return page::unavailable(&e),
    };
    let categories = match known_categories(state, who).await {
        Ok(c) => c,
        Err(e) => return page::unavailable(&e),
    };
    let (mut errors, alternatives, status) = match refusal {
        Some(r) => (r.errors, r.alternatives, r.status),
        None => (Vec::new(), Vec::new(), StatusCode::OK),
    };
    let (results, total) = match found {
        Ok(found) => found,
        Err(problem) => {
            errors.push(problem);
            (Vec::new(), 0)
        }
    };
    let name =
        view::person_name(referral.loaded.sr.as_ref()).unwrap_or_else(|| "Unnamed person".into());
    let csrf = &signed_in.live.record.csrf;
    let choices: Vec<(&str, &str)> = std::iter::once(("", "Any category"))
        .chain(categories.iter().map(|(v, w)| (v.as_str(), w.as_str())))
        .collect();
    let body = html! {
        (page::error_summary(&errors))
        a class="nhsuk-back-link" href=(href(id)) { "Back to the referral" }
        h1 { span class="nhsuk-caption-l" { "Refer " (name) " onward" } "Find a service" }
        @if !alternatives.is_empty() {
            h2 id="alternatives" { "Services with room instead" }
            @for service in &alternatives {
                (card(&referral, csrf, "alternative", service))
            }
        }
        form method="get" action={ (href(id)) "/refer" } novalidate {
            (plain_text("name", "Name", Some("One word of the service's name, like walk"), &criteria.name, &errors))
            (form::select("category", "Category", &choices, &criteria.category, &errors))
            (plain_text("postcode", "Postcode or district", Some("For example, S1 or S1 2AB"), &criteria.postcode, &errors))
            (plain_text("near", "Near a point", Some("Latitude and longitude, for example 53.3781, -1.4620 (from a map); nearest first"), &criteria.near, &errors))
            (form::number("km", "Within (km)", Some("5 if left empty; at most 100"), &criteria.km, &errors))
            div class="nhsuk-form-group" {
                div class="nhsuk-checkboxes" {
                    div class="nhsuk-checkboxes__item" {
                        input class="nhsuk-checkboxes__input" id="room" name="room" type="checkbox" value="yes" checked[criteria.room];
                        label class="nhsuk-label nhsuk-checkboxes__label" for="room" { "Only services with room now" }
                    }
                }
            }
            button class="nhsuk-button nhsuk-button--secondary" id="search" type="submit" { "Search" }
        }
        h2 { "Services" }
        p { (total) " found" @if total > i64::try_from(results.len()).unwrap_or(i64::MAX) { "; the first " (results.len()) " are shown, narrow the search to see others" } "." }
        @for service in &results {
            (card(&referral, csrf, "result", service))
        }
    };
    page::respond(
        status,
        page::frame_with_nav(
            "Find a service",
            Some(&signed_in.account.name),
            Some(csrf),
            super::NAV,
            body,
        ),
    )
}

/// A text input whose value is kept (the search form's fields).
fn plain_text(
    id: &str,
    label: &str,
    hint: Option<&str>,
    value: &str,
    errors: &[FieldError],
) -> Markup {
    let error = errors.iter().find(|e| e.field == id);
    let described: Vec<String> = [
        hint.map(|_| format!("{id}-hint")),
        error.map(|_| format!("{id}-error")),
    ]
    .into_iter()
    .flatten()
    .collect();
    html! {
        div class={ "nhsuk-form-group" @if error.is_some() { " nhsuk-form-group--error" } } {
            label class="nhsuk-label" for=(id) { (label) }
            @if let Some(hint) = hint { div class="nhsuk-hint" id={ (id) "-hint" } { (hint) } }
            @if let Some(e) = error {
                span class="nhsuk-error-message" id={ (id) "-error" } {
                    span class="nhsuk-u-visually-hidden" { "Error: " } (e.message)
                }
            }
            input class={ "nhsuk-input nhsuk-u-width-two-thirds" @if error.is_some() { " nhsuk-input--error" } }
                id=(id) name=(id) type="text" value=(value)
                aria-describedby=[(!described.is_empty()).then(|| described.join(" "))];
        }
    }
}

/// One service: its capacity as it holds now, and the form that refers the person to it.
fn card(referral: &Referral, csrf: &str, prefix: &str, service: &StoredResource) -> Markup {
    let json: Value = serde_json::from_str(service.body.get()).unwrap_or(Value::Null);
    let name = json
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("Unnamed service");
    let provider = json
        .pointer("/providedBy/display")
        .and_then(Value::as_str)
        .or_else(|| {
            json.pointer("/providedBy/identifier/value")
                .and_then(Value::as_str)
        });
    let declared = capacity::read(&json).ok().flatten();
    let status = declared
        .as_ref()
        .map_or(CapacityStatus::Unknown, |c| c.effective(now()));
    let cats: Vec<String> = categories(&json)
        .iter()
        .map(|(s, c)| category_words(s, c))
        .collect();
    let areas = districts(&json);
    let id = format!("{prefix}-{}", service.id);
    html! {
        div class="nhsuk-card" {
            div class="nhsuk-card__content" {
                h3 class="nhsuk-card__heading" id={ (id) "-name" } { (name) }
                dl class="nhsuk-summary-list" {
                    @if let Some(p) = provider {
                        div class="nhsuk-summary-list__row" {
                            dt class="nhsuk-summary-list__key" { "Provider" }
                            dd class="nhsuk-summary-list__value" { (p) }
                        }
                    }
                    div class="nhsuk-summary-list__row" {
                        dt class="nhsuk-summary-list__key" { "Capacity" }
                        dd class="nhsuk-summary-list__value" {
                            strong class={ "nhsuk-tag " (capacity_colour(status)) } { (words(status)) }
                            @if let Some(n) = declared.as_ref().and_then(|c| c.available) { br; (n) " places free" }
                            @if let Some(c) = &declared { br; "As of " (c.as_of.to_fhir().chars().take(10).collect::<String>()) }
                        }
                    }
                    @if !cats.is_empty() {
                        div class="nhsuk-summary-list__row" {
                            dt class="nhsuk-summary-list__key" { "Category" }
                            dd class="nhsuk-summary-list__value" { (cats.join(", ")) }
                        }
                    }
                    @if !areas.is_empty() {
                        div class="nhsuk-summary-list__row" {
                            dt class="nhsuk-summary-list__key" { "Area" }
                            dd class="nhsuk-summary-list__value" { (areas.join(", ")) }
                        }
                    }
                }
                form method="post" action={ (href(&referral.loaded.id)) "/refer" } novalidate {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="service" value=(service.id);
                    @if status == CapacityStatus::Waitlist {
                        div class="nhsuk-form-group" {
                            div class="nhsuk-checkboxes" {
                                div class="nhsuk-checkboxes__item" {
                                    input class="nhsuk-checkboxes__input" id={ (id) "-waitlist" } name="waitlist" type="checkbox" value="yes";
                                    label class="nhsuk-label nhsuk-checkboxes__label" for={ (id) "-waitlist" } { "Put the person on the waiting list" }
                                }
                            }
                        }
                    }
                    button class="nhsuk-button" id={ "refer-" (id) } type="submit" aria-describedby={ (id) "-name" } { "Refer to this service" }
                }
            }
        }
    }
}

fn capacity_colour(status: CapacityStatus) -> &'static str {
    match status {
        CapacityStatus::Capacity => "nhsuk-tag--green",
        CapacityStatus::NoCapacity => "nhsuk-tag--red",
        CapacityStatus::Waitlist => "nhsuk-tag--yellow",
        CapacityStatus::AdditionalAssessmentRequired => "nhsuk-tag--blue",
        CapacityStatus::Unknown => "nhsuk-tag--grey",
    }
}

/// The onward referral: what the GP sent about the person and why, re-addressed from the link
/// worker to the service, `basedOn` the GP's referral.
fn onward_referral(
    who: &Principal,
    organisation: &str,
    (gp_sr_id, gp_sr): (&str, &Value),
    service: &str,
    waitlist: bool,
) -> Value {
    let mut sr = json!({
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "filler-order",
        "basedOn": [{"reference": format!("ServiceRequest/{gp_sr_id}")}],
        "requester": {
            "identifier": {"system": signpost_profiles::ODS_SYSTEM, "value": who.organisation.to_string()},
            "display": organisation
        },
        "performer": [{"reference": format!("HealthcareService/{service}")}],
        "authoredOn": now().to_fhir(),
    });
    for key in [
        "contained",
        "subject",
        "category",
        "code",
        "reasonCode",
        "priority",
    ] {
        if let Some(v) = gp_sr.get(key) {
            sr[key] = v.clone();
        }
    }
    if waitlist {
        sr["extension"] = json!([{"url": ACCEPT_WAITLIST_URL, "valueBoolean": true}]);
    }
    sr
}

/// `POST .../refer`.
pub async fn refer(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(fields): Form<Fields>,
) -> Response {
    let who = match signed_in.check_post(
        ConsoleRole::LinkWorker,
        fields.get("csrf").map(String::as_str),
        Some(("ServiceRequest", Interaction::Create)),
    ) {
        Ok(who) => who,
        Err(refused) => return refused,
    };
    let referral = match load_referral(&state, who, &id).await {
        Ok(r) => r,
        Err(WorkflowError::NotFound(_)) => return page::not_found(),
        Err(e) => return page::unavailable(&e),
    };
    // The Task is about the GP's referral; without one there is nothing to refer onward from.
    let Some((gp_sr_id, gp_sr)) = referral
        .loaded
        .sr
        .as_ref()
        .and_then(|sr| Some((sr.get("id")?.as_str()?, sr)))
    else {
        return page::not_found();
    };
    let service = field(&fields, "service").to_owned();
    if service.is_empty() {
        return page::forbidden();
    }
    let organisation = organisation_name(&state.directory, who);
    let waitlist = field(&fields, "waitlist") == "yes";
    let submission = Submission {
        service_request: onward_referral(who, &organisation, (gp_sr_id, gp_sr), &service, waitlist),
        if_none_exist: None,
        correlation_id: uuid::Uuid::new_v4().to_string(),
        once: None,
    };
    let anchor = "search";
    let refusal = match submit_referral(state.services(), who, submission).await {
        Ok(_) => return Redirect::to(&href(&id)).into_response(),
        Err(WorkflowError::NoRoom {
            issues,
            alternatives,
        }) => {
            let mut offered = Vec::new();
            for alternative in &alternatives {
                match visible(state.store.as_ref(), who, "HealthcareService", alternative).await {
                    Ok(stored) => offered.push(stored),
                    Err(WorkflowError::NotFound(_)) => {}
                    Err(e) => return page::unavailable(&e),
                }
            }
            let at = if offered.is_empty() {
                anchor
            } else {
                "alternatives"
            };
            let message = issues
                .first()
                .map(|i| i.diagnostics.clone())
                .unwrap_or_default();
            Refusal {
                errors: vec![problem(at, message)],
                alternatives: offered,
                status: StatusCode::CONFLICT,
            }
        }
        Err(WorkflowError::Unprocessable(issues)) => Refusal {
            errors: issues
                .iter()
                .filter(|i| i.severity == signpost_profiles::Severity::Error)
                .map(|i| problem(anchor, i.diagnostics.clone()))
                .collect(),
            alternatives: Vec::new(),
            status: StatusCode::UNPROCESSABLE_ENTITY,
        },
        Err(WorkflowError::ParentTaskChanged | WorkflowError::ChainKeptChanging) => Refusal {
            errors: vec![problem(
                anchor,
                "The referral changed while you had this page open: check it and try again",
            )],
            alternatives: Vec::new(),
            status: StatusCode::CONFLICT,
        },
        Err(WorkflowError::Forbidden { message, .. }) => Refusal {
            errors: vec![problem(anchor, message)],
            alternatives: Vec::new(),
            status: StatusCode::FORBIDDEN,
        },
        Err(WorkflowError::NotFound(_)) => return page::not_found(),
        Err(e) => return page::unavailable(&e),
    };
    render(&state, &signed_in, &id, &Criteria::default(), Some(refusal)).await
}
