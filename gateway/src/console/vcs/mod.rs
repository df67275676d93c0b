//! The pages of a VCS volunteer (console role `vcs`): the referrals to their organisation, each
//! referral's decisions and outcomes, and their services' capacity. Each form post becomes one
//! workflow command, run as the volunteer's [`Principal`](crate::auth::Principal).

mod capacity;
pub(super) mod progress;
pub(super) mod referral;
mod referrals;
pub(super) mod view;

use axum::Router;
use axum::routing::{get, post};

use crate::console::task_change::accept;
use crate::state::AppState;

/// The links every volunteer page carries.
pub const NAV: &[(&str, &str)] = &[
    ("/console/vcs/referrals", "Referrals"),
    ("/console/vcs/capacity", "Capacity"),
];

/// Where a volunteer starts.
pub const START: &str = "/console/vcs/referrals";

/// The volunteer's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/vcs/referrals", get(referrals::list))
        .route("/console/vcs/referrals/{id}", get(referral::page))
        .route(
            "/console/vcs/referrals/{id}/accept",
            post(accept::<referral::Page>),
        )
        .route(
            "/console/vcs/referrals/{id}/decline",
            post(progress::decline),
        )
        .route(
            "/console/vcs/referrals/{id}/attendance",
            post(progress::attendance),
        )
        .route("/console/vcs/referrals/{id}/scores", post(progress::scores))
        .route(
            "/console/vcs/referrals/{id}/complete",
            post(progress::complete),
        )
        .route(
            "/console/vcs/capacity",
            get(capacity::page).post(capacity::declare),
        )
}
