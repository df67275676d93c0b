//! The pages of a Signpost operator (console role `operator`, the `admin` scope): deliveries by
//! state with replay and discard behind a confirmation, a referral's timeline, partners' health,
//! the audit trail, the unmet-demand figures and the outcome reports' charts and CSV. Each page reads, and each form post runs, the
//! same workflow command or store read as the JSON admin API, as the operator's
//! [`Principal`](crate::auth::Principal).

mod audit;
mod chart;
mod dead_letter;
mod deliveries;
mod partners;
mod reports;
mod timeline;
mod unmet_demand;
mod view;

use axum::Router;
use axum::routing::get;

use crate::state::AppState;

/// The links every operator page carries.
pub const NAV: &[(&str, &str)] = &[
    ("/console/operator/deliveries", "Deliveries"),
    ("/console/operator/timeline", "Referral timeline"),
    ("/console/operator/partners", "Partners"),
    ("/console/operator/audit", "Audit trail"),
    ("/console/operator/unmet-demand", "Unmet demand"),
    ("/console/operator/reports", "Reports"),
];

/// Where an operator starts.
pub const START: &str = "/console/operator/deliveries";

/// The operator's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/operator/deliveries", get(deliveries::list))
        .route("/console/operator/deliveries/{id}", get(deliveries::one))
        .route(
            "/console/operator/deliveries/{id}/replay",
            get(dead_letter::confirm_replay).post(dead_letter::replay),
        )
        .route(
            "/console/operator/deliveries/{id}/discard",
            get(dead_letter::confirm_discard).post(dead_letter::discard),
        )
        .route("/console/operator/timeline", get(timeline::page))
        .route("/console/operator/partners", get(partners::page))
        .route("/console/operator/audit", get(audit::page))
        .route("/console/operator/unmet-demand", get(unmet_demand::page))
        .route("/console/operator/reports", get(reports::page))
        .route("/console/operator/reports.csv", get(reports::csv))
}
