//! The pages of a link worker without a platform (console role `link-worker`): the referrals
//! their organisation owns, each one's decisions, the onward referrals to directory services
//! (searched with their capacity shown), and completion with the outcome measures. Each form
//! post becomes one workflow command, run as the link worker's [`Principal`](crate::auth::Principal).

mod complete;
mod decisions;
mod onward;
mod referral;
mod worklist;

use axum::Router;
use axum::routing::{get, post};

use crate::console::task_change::accept;
use crate::state::AppState;

/// The links every link-worker page carries.
pub const NAV: &[(&str, &str)] = &[("/console/link-worker/referrals", "Worklist")];

/// Where a link worker starts.
pub const START: &str = "/console/link-worker/referrals";

/// The link worker's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/link-worker/referrals", get(worklist::list))
        .route("/console/link-worker/referrals/{id}", get(referral::page))
        .route(
            "/console/link-worker/referrals/{id}/accept",
            post(accept::<referral::Page>),
        )
        .route(
            "/console/link-worker/referrals/{id}/reject",
            post(decisions::reject),
        )
        .route(
            "/console/link-worker/referrals/{id}/start",
            post(decisions::start),
        )
        .route(
            "/console/link-worker/referrals/{id}/complete",
            post(complete::complete),
        )
        .route(
            "/console/link-worker/referrals/{id}/refer",
            get(onward::search).post(onward::refer),
        )
}
