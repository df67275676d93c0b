//! `GET /console/operator/audit`: the audit trail, newest first, filtered by who acted, their
//! organisation, the entity, the action and a date range, a page at a time. The filters are a
//! GET form, so a filtered page can be bookmarked and works without JavaScript.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use serde_json::Value;

use super::view;
use crate::console::account::ConsoleRole;
use crate::console::acting::SignedIn;
use crate::console::form;
use crate::console::page::{self, FieldError};
use crate::state::AppState;
use crate::store::Instant;
use crate::workflow::WorkflowError;
use crate::workflow::audit_trail::{AuditFilter, PAGE_SIZE, audit_trail};

/// The AuditEvent actions an operator can filter by: (code, label).
const ACTIONS: &[(&str, &str)] = &[
    ("", "Any action"),
    ("C", "Create"),
    ("R", "Read"),
    ("U", "Update"),
    ("D", "Delete"),
    ("E", "Search or other"),
];

/// The form's fields; an empty one filters nothing.
const FIELDS: &[&str] = &[
    "agent",
    "organisation",
    "entity",
    "action",
    "from",
    "until",
    "page",
];

fn day(raw: &str) -> Result<Option<time::Date>, ()> {
    if raw.is_empty() {
        return Ok(None);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(raw, &format).map(Some).map_err(|_| ())
}

fn start_of(date: time::Date) -> Instant {
    Instant::from_datetime(date.midnight().assume_utc())
}

/// The filter the form asks for, or the problems with it.
fn filter(entered: &HashMap<String, String>) -> Result<AuditFilter, Vec<FieldError>> {
    let get = |f: &str| entered.get(f).map(|v| v.trim()).unwrap_or("");
    let some = |f: &str| Some(get(f).to_owned()).filter(|v| !v.is_empty());
    let mut errors = Vec::new();
    let mut problem = |field: &str, message: &str| {
        errors.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    };
    let from = day(get("from")).unwrap_or_else(|()| {
        problem("from", "Enter the first day as a date, like 2026-12-01");
        None
    });
    let until = day(get("until")).unwrap_or_else(|()| {
        problem("until", "Enter the last day as a date, like 2026-12-03");
        None
    });
    if let (Some(f), Some(u)) = (from, until)
        && u < f
    {
        problem(
            "until",
            "The last day must be the same as or after the first day",
        );
    }
    let action = some("action");
    if action
        .as_deref()
        .is_some_and(|a| !ACTIONS.iter().any(|(c, _)| *c == a))
    {
        problem("action", "Choose an action from the list");
    }
    let page = match get("page") {
        "" => 0,
        raw => raw.parse::<usize>().unwrap_or_else(|_| {
            problem("page", "The page must be a whole number");
            0
        }),
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(AuditFilter {
        agent: some("agent"),
        organisation: some("organisation").map(|o| o.to_uppercase()),
        entity: some("entity"),
        action,
        from: from.map(start_of),
        // The whole last day is included.
        until: until.and_then(|u| u.next_day()).map(start_of),
        page,
    })
}

fn text(id: &str, label: &str, hint: &str, value: &str, errors: &[FieldError]) -> Markup {
    let error = errors.iter().find(|e| e.field == id);
    html! {
        div class={ "nhsuk-form-group" @if error.is_some() { " nhsuk-form-group--error" } } {
            label class="nhsuk-label" for=(id) { (label) }
            div class="nhsuk-hint" id={ (id) "-hint" } { (hint) }
            @if let Some(e) = error {
                span class="nhsuk-error-message" id={ (id) "-error" } {
                    span class="nhsuk-u-visually-hidden" { "Error: " } (e.message)
                }
            }
            input class={ "nhsuk-input" @if error.is_some() { " nhsuk-input--error" } }
                id=(id) name=(id) type="text" spellcheck="false" value=(value)
                aria-describedby={ (id) "-hint" @if error.is_some() { " " (id) "-error" } };
        }
    }
}

/// Who acted, in words: a person by name, a client by its id.
fn agent(event: &Value) -> String {
    let agent = event.pointer("/agent/0");
    let name = agent.and_then(|a| a.get("name")).and_then(Value::as_str);
    let id = agent
        .and_then(|a| a.pointer("/who/identifier/value"))
        .and_then(Value::as_str);
    let display = agent
        .and_then(|a| a.pointer("/who/display"))
        .and_then(Value::as_str);
    match (name, id, display) {
        (Some(n), Some(i), _) => format!("{n} (console account {i})"),
        (None, Some(i), _) => i.to_owned(),
        (_, None, Some(d)) => d.to_owned(),
        _ => "Unknown".to_owned(),
    }
}

fn organisation(event: &Value) -> String {
    event
        .pointer("/agent/0/policy/0")
        .and_then(Value::as_str)
        .and_then(|p| p.strip_prefix("urn:signpost:organisation:"))
        .unwrap_or("")
        .to_owned()
}

fn entity(event: &Value) -> String {
    let first = event.pointer("/entity/0");
    let what = first
        .and_then(|e| {
            e.pointer("/what/reference")
                .or_else(|| e.pointer("/what/display"))
        })
        .and_then(Value::as_str)
        .unwrap_or("");
    match first
        .and_then(|e| e.get("description"))
        .and_then(Value::as_str)
    {
        Some(d) => format!("{what}: {d}"),
        None => what.to_owned(),
    }
}

fn action(event: &Value) -> String {
    let code = event.get("action").and_then(Value::as_str).unwrap_or("");
    let subtype = event
        .pointer("/subtype/0/code")
        .and_then(Value::as_str)
        .unwrap_or("");
    let outcome = match event.get("outcome").and_then(Value::as_str) {
        Some("0") => "",
        _ => " (refused or failed)",
    };
    let label = ACTIONS
        .iter()
        .find(|(c, _)| *c == code && !c.is_empty())
        .map_or(code, |(_, l)| *l);
    format!("{label}, {subtype}{outcome}")
}

/// A query-string value, percent-encoded (everything but unreserved characters).
fn encoded(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The link to another page of the same filter.
fn page_link(entered: &HashMap<String, String>, page: usize) -> String {
    let mut pairs: Vec<String> = FIELDS
        .iter()
        .filter(|f| **f != "page")
        .filter_map(|f| {
            let v = entered.get(*f)?.trim();
            (!v.is_empty()).then(|| format!("{f}={}", encoded(v)))
        })
        .collect();
    pairs.push(format!("page={page}"));
    format!("/console/operator/audit?{}", pairs.join("&"))
}

/// `GET /console/operator/audit`.
pub async fn page(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(entered): Query<HashMap<String, String>>,
) -> Response {
    let who = match signed_in.require(ConsoleRole::Operator) {
        Ok(who) => who,
        Err(refused) => return refused,
    };
    let got = |f: &str| entered.get(f).map(String::as_str).unwrap_or("");
    let (errors, found, filter) = match filter(&entered) {
        Err(errors) => (errors, None, AuditFilter::default()),
        Ok(filter) => match audit_trail(state.store.as_ref(), who, &filter).await {
            Ok(found) => (Vec::new(), Some(found), filter),
            Err(WorkflowError::Forbidden { .. }) => return page::not_found(),
            Err(e) => return page::unavailable(&e),
        },
    };
    let rows: Vec<Vec<Markup>> = found
        .iter()
        .flat_map(|f| &f.events)
        .filter_map(|r| serde_json::from_str::<Value>(r.body.get()).ok())
        .map(|e| {
            vec![
                html! { (view::when(e.get("recorded").and_then(Value::as_str).unwrap_or(""))) },
                html! { span class="nhsuk-u-text-break-word" { (agent(&e)) } },
                html! { (organisation(&e)) },
                html! { (action(&e)) },
                html! { span class="nhsuk-u-text-break-word" { (entity(&e)) } },
            ]
        })
        .collect();
    let total = found.as_ref().map_or(0, |f| f.total);
    let shown_to = filter.page * PAGE_SIZE + rows.len();
    let more = usize::try_from(total).is_ok_and(|t| shown_to < t);
    let headers = ["Recorded", "Who", "Organisation", "Action", "Entity"];
    let body = html! {
        (page::error_summary(&errors))
        h1 { "Audit trail" }
        form method="get" action="/console/operator/audit" novalidate {
            (text("agent", "Who", "A client id or a console account id", got("agent"), &errors))
            (text("organisation", "Organisation", "An ODS code, like LWS001", got("organisation"), &errors))
            (text("entity", "Entity", "A resource, like Task/1234", got("entity"), &errors))
            (form::select("action", "Action", ACTIONS, got("action"), &errors))
            (form::date("from", "From", Some("The first day, in UTC"), got("from"), &errors))
            (form::date("until", "Until", Some("The last day, in UTC"), got("until"), &errors))
            button class="nhsuk-button" type="submit" { "Filter" }
        }
        @if found.is_some() {
            @if rows.is_empty() {
                p { "No audit records match." }
            } @else {
                (view::table(&format!("Records {} to {} of {total}, newest first", filter.page * PAGE_SIZE + 1, shown_to), &headers, &rows))
            }
            @if filter.page > 0 || more {
                nav class="nhsuk-pagination" role="navigation" aria-label="Pagination" {
                    ul class="nhsuk-list nhsuk-pagination__list" {
                        @if filter.page > 0 {
                            li class="nhsuk-pagination-item--previous" {
                                a class="nhsuk-pagination__link nhsuk-pagination__link--prev" href=(page_link(&entered, filter.page - 1)) {
                                    span class="nhsuk-pagination__title" { "Previous" }
                                    span class="nhsuk-u-visually-hidden" { ":" }
                                    span class="nhsuk-pagination__page" { "Newer records" }
                                }
                            }
                        }
                        @if more {
                            li class="nhsuk-pagination-item--next" {
                                a class="nhsuk-pagination__link nhsuk-pagination__link--next" href=(page_link(&entered, filter.page + 1)) {
                                    span class="nhsuk-pagination__title" { "Next" }
                                    span class="nhsuk-u-visually-hidden" { ":" }
                                    span class="nhsuk-pagination__page" { "Older records" }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    page::respond(status, view::frame(&signed_in, "Audit trail", body))
}
