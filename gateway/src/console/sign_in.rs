//! Signing in and out, and taking up an invitation.

use std::net::SocketAddr;

use axum::Form;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{Extensions, HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::account::ConsoleRole;
use super::page::{self, FieldError};
use super::{password, session};
use crate::state::AppState;
use crate::store::now;

/// `GET /console`: the signed-in person's start page, or the way to sign in.
pub async fn home(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match session::current(state.store.as_ref(), &headers).await {
        Err(e) => page::unavailable(&e),
        Ok(Some(live)) if live.account.is_some() => {
            let Some(account) = live.account.as_ref() else {
                return Redirect::to("/console/sign-in").into_response();
            };
            let (name, organisation, role) = (&account.name, &account.organisation, &account.role);
            // A stored role this build does not know gets no pages rather than another role's.
            let nav: &[(&str, &str)] = match ConsoleRole::parse(role) {
                Some(ConsoleRole::Vcs) => super::vcs::NAV,
                Some(ConsoleRole::LinkWorker) => super::link_worker::NAV,
                Some(ConsoleRole::Operator) => super::operator::NAV,
                None => &[],
            };
            page::respond(
                StatusCode::OK,
                page::frame_with_nav(
                    "Home",
                    Some(name),
                    Some(&live.record.csrf),
                    nav,
                    html! {
                        h1 { "Signed in" }
                        p { "You are signed in as " (name) " for " (organisation) " (" (role) ")." }
                        @if !nav.is_empty() {
                            ul class="nhsuk-list" {
                                @for (href, label) in nav { li { a href=(href) { (label) } } }
                            }
                        }
                    },
                ),
            )
        }
        Ok(_) => Redirect::to("/console/sign-in").into_response(),
    }
}

fn sign_in_page(csrf: &str, errors: &[FieldError]) -> maud::Markup {
    page::frame(
        "Sign in",
        None,
        None,
        html! {
            (page::error_summary(errors))
            h1 { "Sign in" }
            form method="post" action="/console/sign-in" novalidate {
                input type="hidden" name="csrf" value=(csrf);
                (page::text_field("email", "Email address", None, "email", "username", errors))
                (page::text_field("password", "Password", None, "password", "current-password", errors))
                button class="nhsuk-button" type="submit" { "Sign in" }
            }
        },
    )
}

/// `GET /console/sign-in`: the form, in an anonymous session so it carries a CSRF token.
pub async fn form(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let live = match session::current_or_anonymous(state.store.as_ref(), &headers).await {
        Ok(live) => live,
        Err(e) => return page::unavailable(&e),
    };
    let mut response = page::respond(StatusCode::OK, sign_in_page(&live.record.csrf, &[]));
    set_cookie(&mut response, &session::cookie(&live.id));
    response
}

fn set_cookie(response: &mut Response, value: &str) {
    if let Ok(v) = header::HeaderValue::from_str(value) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
}

/// The sign-in form as posted.
#[derive(Deserialize)]
pub struct SignIn {
    /// Absent from a forged form: then refused like a wrong token, not as a malformed form.
    csrf: Option<String>,
    email: String,
    password: String,
}

/// `POST /console/sign-in`: checks the password, then starts a new session (a new id: the
/// anonymous one is ended, so an id planted before sign-in is worth nothing after).
pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    extensions: Extensions,
    Form(form): Form<SignIn>,
) -> Response {
    let address = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip());
    let limits = state.sign_in_limits.as_ref();
    let store = state.store.as_ref();
    let live = match session::current(store, &headers).await {
        Ok(Some(live))
            if form
                .csrf
                .as_deref()
                .is_some_and(|c| session::csrf_matches(&live, c)) =>
        {
            live
        }
        Ok(_) => return page::forbidden(),
        Err(e) => return page::unavailable(&e),
    };
    let email = form.email.trim().to_lowercase();
    let refuse = |message: &str| {
        page::respond(
            StatusCode::UNPROCESSABLE_ENTITY,
            sign_in_page(
                &live.record.csrf,
                &[FieldError {
                    field: "email".into(),
                    message: message.to_owned(),
                }],
            ),
        )
    };
    if limits.refused(&email, address, now().0) {
        return page::respond(
            StatusCode::TOO_MANY_REQUESTS,
            sign_in_page(
                &live.record.csrf,
                &[FieldError {
                    field: "email".into(),
                    message: "Too many failed attempts: wait 15 minutes and try again".into(),
                }],
            ),
        );
    }
    let account = match store.account_by_email(&email).await {
        Ok(a) => a,
        Err(e) => return page::unavailable(&e),
    };
    let Some(account) = account.filter(|a| {
        a.password_hash
            .as_deref()
            .is_some_and(|h| password::verify(&form.password, h))
    }) else {
        limits.record_failure(&email, address, now().0);
        return refuse("Enter the email address and password of your account");
    };
    limits.signed_in(&email);
    if let Err(e) = store.end_session(&live.record.id_hash, now()).await {
        return page::unavailable(&e);
    }
    let signed_in = match session::start(store, Some(&account.id)).await {
        Ok(s) => s,
        Err(e) => return page::unavailable(&e),
    };
    let mut response = Redirect::to("/console").into_response();
    set_cookie(&mut response, &session::cookie(&signed_in.id));
    response
}

/// A form with only its CSRF token.
#[derive(Deserialize)]
pub struct CsrfOnly {
    /// Absent from a forged form: then refused like a wrong token, not as a malformed form.
    csrf: Option<String>,
}

/// `POST /console/sign-out`.
pub async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<CsrfOnly>,
) -> Response {
    let store = state.store.as_ref();
    match session::current(store, &headers).await {
        Ok(Some(live))
            if form
                .csrf
                .as_deref()
                .is_some_and(|c| session::csrf_matches(&live, c)) =>
        {
            if let Err(e) = store.end_session(&live.record.id_hash, now()).await {
                return page::unavailable(&e);
            }
            let mut response = Redirect::to("/console/sign-in").into_response();
            set_cookie(&mut response, &session::cleared_cookie());
            response
        }
        Ok(_) => page::forbidden(),
        Err(e) => page::unavailable(&e),
    }
}

fn invitation_page(token: &str, csrf: &str, errors: &[FieldError]) -> maud::Markup {
    let action = format!("/console/invitation/{token}");
    page::frame(
        "Set your password",
        None,
        None,
        html! {
            (page::error_summary(errors))
            h1 { "Set your password" }
            form method="post" action=(action) novalidate {
                input type="hidden" name="csrf" value=(csrf);
                (page::text_field("password", "New password", Some("At least 12 characters; not a common password"), "password", "new-password", errors))
                button class="nhsuk-button" type="submit" { "Set password" }
            }
        },
    )
}

fn invitation_gone() -> Response {
    page::respond(
        StatusCode::NOT_FOUND,
        page::frame(
            "Invitation not valid",
            None,
            None,
            html! {
                h1 { "This invitation link is not valid" }
                p { "It has been used or has expired. Ask your administrator for a new one." }
            },
        ),
    )
}

/// `GET /console/invitation/{token}`.
pub async fn invitation_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    let store = state.store.as_ref();
    match store.invitation(&session::hash_token(&token), now()).await {
        Ok(Some(_)) => {}
        Ok(None) => return invitation_gone(),
        Err(e) => return page::unavailable(&e),
    }
    let live = match session::current_or_anonymous(store, &headers).await {
        Ok(live) => live,
        Err(e) => return page::unavailable(&e),
    };
    let mut response = page::respond(
        StatusCode::OK,
        invitation_page(&token, &live.record.csrf, &[]),
    );
    set_cookie(&mut response, &session::cookie(&live.id));
    response
}

/// The invitation form as posted.
#[derive(Deserialize)]
pub struct NewPassword {
    /// Absent from a forged form: then refused like a wrong token, not as a malformed form.
    csrf: Option<String>,
    password: String,
}

/// `POST /console/invitation/{token}`: sets the password and uses the invitation up.
pub async fn invitation_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
    Form(form): Form<NewPassword>,
) -> Response {
    let store = state.store.as_ref();
    let live = match session::current(store, &headers).await {
        Ok(Some(live))
            if form
                .csrf
                .as_deref()
                .is_some_and(|c| session::csrf_matches(&live, c)) =>
        {
            live
        }
        Ok(_) => return page::forbidden(),
        Err(e) => return page::unavailable(&e),
    };
    let hash = match password::hash(&form.password) {
        Ok(h) => h,
        Err(refused) => {
            return page::respond(
                StatusCode::UNPROCESSABLE_ENTITY,
                invitation_page(
                    &token,
                    &live.record.csrf,
                    &[FieldError {
                        field: "password".into(),
                        message: refused.to_string(),
                    }],
                ),
            );
        }
    };
    match store
        .accept_invitation(&session::hash_token(&token), &hash, now())
        .await
    {
        Ok(true) => Redirect::to("/console/sign-in").into_response(),
        Ok(false) => invitation_gone(),
        Err(e) => page::unavailable(&e),
    }
}
