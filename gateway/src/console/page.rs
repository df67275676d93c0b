//! The NHS design system frame every console page shares: skip link, header, main, error summary.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

/// One form problem: the field's id and what to do about it.
pub struct FieldError {
    /// The input's id, linked from the summary.
    pub field: String,
    /// What to fix, as the NHS design system words it.
    pub message: String,
}

/// A whole page around `body`.
pub fn frame(title: &str, signed_in_as: Option<&str>, csrf: Option<&str>, body: Markup) -> Markup {
    frame_with_nav(title, signed_in_as, csrf, &[], body)
}

/// A whole page around `body`, with the signed-in person's links (href, label) under the header.
pub fn frame_with_nav(
    title: &str,
    signed_in_as: Option<&str>,
    csrf: Option<&str>,
    nav: &[(&str, &str)],
    body: Markup,
) -> Markup {
    let stylesheet = format!("/console/assets/{}", super::assets::STYLESHEET);
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " – Signpost console" }
                link rel="stylesheet" href=(stylesheet);
            }
            body {
                a class="nhsuk-skip-link" href="#maincontent" { "Skip to main content" }
                header class="nhsuk-header" role="banner" {
                    div class="nhsuk-header__container nhsuk-width-container" {
                        div class="nhsuk-header__service" {
                            a class="nhsuk-header__service-name" href="/console" { "Signpost console" }
                        }
                        @if let (Some(who), Some(csrf)) = (signed_in_as, csrf) {
                            div class="nhsuk-header__account" {
                                span class="nhsuk-header__account-item" { (who) }
                                form class="nhsuk-header__account-item" method="post" action="/console/sign-out" {
                                    input type="hidden" name="csrf" value=(csrf);
                                    button class="nhsuk-header__account-button" type="submit" { "Sign out" }
                                }
                            }
                        }
                    }
                    @if !nav.is_empty() {
                        nav class="nhsuk-header__navigation" aria-label="Menu" {
                            div class="nhsuk-header__navigation-container nhsuk-width-container" {
                                ul class="nhsuk-header__navigation-list" {
                                    @for (href, label) in nav {
                                        li class="nhsuk-header__navigation-item" {
                                            a class="nhsuk-header__navigation-link" href=(href) { (label) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                div class="nhsuk-width-container" {
                    main class="nhsuk-main-wrapper" id="maincontent" role="main" {
                        (body)
                    }
                }
            }
        }
    }
}

/// The error summary that opens a form with problems, each linking to its field.
pub fn error_summary(errors: &[FieldError]) -> Markup {
    html! {
        @if !errors.is_empty() {
            div class="nhsuk-error-summary" aria-labelledby="error-summary-title" role="alert" tabindex="-1" {
                h2 class="nhsuk-error-summary__title" id="error-summary-title" { "There is a problem" }
                div class="nhsuk-error-summary__body" {
                    ul class="nhsuk-list nhsuk-error-summary__list" {
                        @for e in errors {
                            li { a href={ "#" (e.field) } { (e.message) } }
                        }
                    }
                }
            }
        }
    }
}

/// A labelled text input, with its hint and error if any.
pub fn text_field(
    id: &'static str,
    label: &str,
    hint: Option<&str>,
    kind: &str,
    autocomplete: &str,
    errors: &[FieldError],
) -> Markup {
    let error = errors.iter().find(|e| e.field == id);
    let hint_id = format!("{id}-hint");
    let error_id = format!("{id}-error");
    let described: Vec<&str> = hint
        .map(|_| hint_id.as_str())
        .into_iter()
        .chain(error.map(|_| error_id.as_str()))
        .collect();
    html! {
        div class={ "nhsuk-form-group" @if error.is_some() { " nhsuk-form-group--error" } } {
            label class="nhsuk-label" for=(id) { (label) }
            @if let Some(hint) = hint {
                div class="nhsuk-hint" id=(hint_id) { (hint) }
            }
            @if let Some(e) = error {
                span class="nhsuk-error-message" id=(error_id) {
                    span class="nhsuk-u-visually-hidden" { "Error: " } (e.message)
                }
            }
            input class={ "nhsuk-input" @if error.is_some() { " nhsuk-input--error" } }
                id=(id) name=(id) type=(kind) autocomplete=(autocomplete)
                aria-describedby=[(!described.is_empty()).then(|| described.join(" "))];
        }
    }
}

/// A page answer with a status.
pub fn respond(status: StatusCode, page: Markup) -> Response {
    (status, Html(page.into_string())).into_response()
}

/// The 404 page: nothing here, or nothing this person may know exists.
pub fn not_found() -> Response {
    respond(
        StatusCode::NOT_FOUND,
        frame(
            "Page not found",
            None,
            None,
            html! {
                h1 { "Page not found" }
                p { "Check the address, or go back to " a href="/console" { "the start page" } "." }
            },
        ),
    )
}

/// The 403 page for a form without this session's CSRF token.
pub fn forbidden() -> Response {
    respond(
        StatusCode::FORBIDDEN,
        frame(
            "Form expired",
            None,
            None,
            html! {
                h1 { "This form has expired" }
                p { "Go back, reload the page and try again." }
            },
        ),
    )
}

/// The 500 page; the cause goes to the log, not the person.
pub fn unavailable(cause: &dyn std::fmt::Display) -> Response {
    tracing::error!(%cause, "console request failed");
    respond(
        StatusCode::INTERNAL_SERVER_ERROR,
        frame(
            "Sorry, there is a problem",
            None,
            None,
            html! { h1 { "Sorry, there is a problem with the service" } p { "Try again later." } },
        ),
    )
}
