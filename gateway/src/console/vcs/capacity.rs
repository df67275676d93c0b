//! `/console/vcs/capacity`: the volunteer's services and their capacity, each set with one
//! control (open, full, waiting list, and places free) through the `declare_capacity` workflow
//! command the FHIR API's `PUT /fhir/HealthcareService/{id}` runs.

use std::collections::HashMap;

use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde_json::Value;

use crate::auth::Interaction;
use crate::console::account::ConsoleRole;
use crate::console::acting::SignedIn;
use crate::console::form;
use crate::console::page::{self, FieldError};
use crate::console::posted::field;
use crate::directory::capacity::{self, Capacity, CapacitySource, CapacityStatus};
use crate::state::AppState;
use crate::store::now;
use crate::workflow::WorkflowError;
use crate::workflow::declare_capacity::{Declaration, declare_capacity};
use crate::workflow::worklist::provided_services;

/// The statuses a provider chooses from: (code, words).
const CHOICES: &[(&str, &str)] = &[
    ("capacity", "Open: we can take new people"),
    ("no-capacity", "Full: we cannot take anyone new"),
    ("waitlist", "Full, with a waiting list"),
];

fn words(status: CapacityStatus) -> &'static str {
    match status {
        CapacityStatus::Capacity => "Open",
        CapacityStatus::NoCapacity => "Full",
        CapacityStatus::Waitlist => "Full, with a waiting list",
        CapacityStatus::AdditionalAssessmentRequired => "Takes people after its own assessment",
        CapacityStatus::Unknown => "Not known (not said recently)",
    }
}

/// A service's form came back with problems.
struct Problems {
    service: String,
    errors: Vec<FieldError>,
    entered: HashMap<String, String>,
    status: StatusCode,
}

/// `GET /console/vcs/capacity`.
pub async fn page(State(state): State<AppState>, signed_in: SignedIn) -> Response {
    render(&state, &signed_in, None).await
}

async fn render(state: &AppState, signed_in: &SignedIn, problems: Option<Problems>) -> Response {
    let who = match signed_in.require(ConsoleRole::Vcs) {
        Ok(who) => who,
        Err(refused) => return refused,
    };
    let services = match provided_services(state.store.as_ref(), who).await {
        Ok(s) => s,
        Err(e) => return page::unavailable(&e),
    };
    let at = now();
    let no_errors = Vec::new();
    let (errors, status) = match &problems {
        Some(p) => (&p.errors, p.status),
        None => (&no_errors, StatusCode::OK),
    };
    let csrf = &signed_in.live.record.csrf;
    let body = html! {
        (page::error_summary(errors))
        h1 { "Capacity" }
        p { "Link workers see this when they choose where to refer someone. Say again at least every two weeks, or it shows as not known." }
        @if services.is_empty() {
            p { "Your organisation has no services in the directory yet." }
        }
        @for stored in &services {
            @let json: Value = serde_json::from_str(stored.body.get()).unwrap_or(Value::Null);
            @let declared = capacity::read(&json).ok().flatten();
            @let name = json.get("name").and_then(Value::as_str).unwrap_or("Unnamed service");
            @let mine = problems.as_ref().filter(|p| p.service == stored.id);
            @let service_errors: &[FieldError] = mine.map_or(&[], |p| p.errors.as_slice());
            @let entered = |f: &str| mine.and_then(|p| p.entered.get(f)).map(String::as_str);
            @let current = declared.as_ref().map(|c| c.effective(at));
            @let checked = entered("status").unwrap_or_else(|| current.map_or("", CapacityStatus::code));
            @let places = entered("places").map(str::to_owned).unwrap_or_else(|| declared.as_ref().and_then(|c| c.available).map(|n| n.to_string()).unwrap_or_default());
            div class="nhsuk-card" {
                div class="nhsuk-card__content" {
                    h2 class="nhsuk-card__heading" { (name) }
                    dl class="nhsuk-summary-list" {
                        div class="nhsuk-summary-list__row" {
                            dt class="nhsuk-summary-list__key" { "Now" }
                            dd class="nhsuk-summary-list__value" {
                                (current.map_or("Not said", words))
                                @if let Some(n) = declared.as_ref().and_then(|c| c.available) { ", " (n) " places free" }
                            }
                        }
                        @if let Some(c) = &declared {
                            div class="nhsuk-summary-list__row" {
                                dt class="nhsuk-summary-list__key" { "Said on" }
                                dd class="nhsuk-summary-list__value" { (c.as_of.to_fhir().chars().take(10).collect::<String>()) }
                            }
                        }
                    }
                    form method="post" action="/console/vcs/capacity" novalidate {
                        input type="hidden" name="csrf" value=(csrf);
                        input type="hidden" name="service" value=(stored.id);
                        input type="hidden" name="version" value=(stored.version);
                        (form::radios_named(&format!("{}-status", stored.id), "status", "Can you take new people?", CHOICES, checked, service_errors))
                        (form::number_named(&format!("{}-places", stored.id), "places", "Places free", Some("Leave empty if you do not count places"), &places, service_errors))
                        button class="nhsuk-button" type="submit" { "Save capacity" }
                    }
                }
            }
        }
    };
    page::respond(
        status,
        page::frame_with_nav(
            "Capacity",
            Some(&signed_in.account.name),
            Some(csrf),
            super::NAV,
            body,
        ),
    )
}

/// `POST /console/vcs/capacity`.
pub async fn declare(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Form(fields): Form<HashMap<String, String>>,
) -> Response {
    let (who, expected) = match signed_in.check_versioned_post(
        ConsoleRole::Vcs,
        &fields,
        "HealthcareService",
        Interaction::Update,
    ) {
        Ok(checked) => checked,
        Err(refused) => return refused,
    };
    let get = |f: &str| field(&fields, f);
    let service = get("service").to_owned();
    // Each service's fields have ids of their own: the error summary links to this one's.
    let prefix = service.clone();
    let problem = move |field: &str, message: &str| FieldError {
        field: format!("{prefix}-{field}"),
        message: message.to_owned(),
    };
    let mut errors = Vec::new();
    let status = CapacityStatus::parse(get("status"))
        .filter(|s| CHOICES.iter().any(|(c, _)| *c == s.code()));
    if status.is_none() {
        errors.push(problem("status", "Select whether you can take new people"));
    }
    let places = match get("places") {
        "" => None,
        raw => match raw.parse::<u32>() {
            Ok(n) => Some(n),
            Err(_) => {
                errors.push(problem(
                    "places",
                    "Enter places free as a whole number, like 5",
                ));
                None
            }
        },
    };
    let (Some(status), true) = (status, errors.is_empty()) else {
        let problems = Problems {
            service,
            errors,
            entered: fields,
            status: StatusCode::UNPROCESSABLE_ENTITY,
        };
        return render(&state, &signed_in, Some(problems)).await;
    };
    let declaration = Declaration {
        id: service.clone(),
        expected: Some(expected),
        once: None,
    };
    let result = declare_capacity(state.services(), who, declaration, |current| {
        let before = capacity::read(current).ok().flatten();
        let mut next = current.clone();
        Capacity {
            status,
            notes: before.as_ref().and_then(|c| c.notes.clone()),
            available: places,
            maximum: before.as_ref().and_then(|c| c.maximum),
            source: CapacitySource::Provider,
            as_of: now(),
            expires: None,
        }
        .write_to(&mut next);
        Ok(next)
    })
    .await;
    let (code, message) = match result {
        Ok(_) => return Redirect::to("/console/vcs/capacity").into_response(),
        Err(WorkflowError::Unprocessable(issues)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            issues
                .first()
                .map(|i| i.diagnostics.clone())
                .unwrap_or_default(),
        ),
        Err(WorkflowError::StaleVersion { .. }) => (
            StatusCode::CONFLICT,
            "The capacity changed while you had this page open: check it and try again".to_owned(),
        ),
        Err(WorkflowError::NotFound(_) | WorkflowError::Forbidden { .. }) => {
            return page::not_found();
        }
        Err(e) => return page::unavailable(&e),
    };
    let problems = Problems {
        service,
        errors: vec![problem("status", &message)],
        entered: fields,
        status: code,
    };
    render(&state, &signed_in, Some(problems)).await
}
