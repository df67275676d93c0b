//! Outcome reports for commissioners: what referrals did and what people gained, per practice,
//! network, service and period, with disclosure control applied before anything leaves.
//!
//! `figures` are the exact counts and statistics; `disclosure` turns them into what may be
//! published, in one place, under the deployment's policy. Everything outside this module (FHIR
//! `MeasureReport`s, CSV, the console's charts) sees only a [`Report`]: disclosed values.

pub mod model;

pub use model::{
    Dimension, Disclosed, Figure, Group, Interval, Period, Report, ReportCell, ReportQuery,
    Stratum, StratumKind,
};

pub mod measures;
pub mod query;

/// The disclosed report for a query. The engine is built on the `rep-core` branch; until it is
/// merged this refuses, so every output's path to it is already the real one.
pub async fn report(
    _store: &dyn crate::store::Store,
    _config: &crate::config::Config,
    _query: &ReportQuery,
) -> Result<Report, crate::workflow::WorkflowError> {
    Err(crate::workflow::WorkflowError::Internal(
        "the report engine is not built yet".into(),
    ))
}
