//! Outcome reports for commissioners: what referrals did and what people gained, per practice,
//! network, service and period, with disclosure control applied before anything leaves.
//!
//! `projection` keeps each resource's facts up to date beside the store; `figures` computes the
//! exact counts and statistics from them; `disclosure` turns them into what may be published, in
//! one place, under the deployment's policy. Everything outside this module (FHIR
//! `MeasureReport`s, CSV, the console's charts) sees only a [`Report`]: disclosed values.

pub mod disclosure;
pub mod facts;
pub mod figures;
pub mod measures;
pub mod model;
pub mod projection;
pub mod query;
pub mod refresh;

pub use disclosure::{Policy, UnknownPolicy};
pub use model::{
    Dimension, Disclosed, Figure, Group, Interval, Period, Report, ReportCell, ReportQuery,
    Stratum, StratumKind,
};
pub use projection::Projection;

use super::WorkflowError;
use crate::config::Config;
use crate::store::{Store, now};

/// The report `query` asks for, under the configured disclosure policy: the projection brought
/// up to date, the exact figures computed, then disclosed.
pub async fn report(
    store: &dyn Store,
    projection: &Projection,
    config: &Config,
    query: &ReportQuery,
) -> Result<Report, WorkflowError> {
    let facts = projection.current(store).await?;
    Ok(disclosed(&facts, config, query, now().0))
}

/// The report from facts already read, as at `now` (µs).
pub fn disclosed(
    facts: &projection::Facts,
    config: &Config,
    query: &ReportQuery,
    now: i64,
) -> Report {
    let policy = config.reports.policy.0;
    let table = figures::table(facts, config, query, now);
    let values = disclosure::disclose(policy, &table.cells, &table.partitions);
    let mut cells: Vec<ReportCell> = table
        .keys
        .into_iter()
        .zip(values)
        .map(|((group, period, figure, stratum), value)| ReportCell {
            group,
            period,
            figure,
            stratum,
            value,
        })
        .collect();
    cells.sort_by(|a, b| {
        (&a.group, &a.period, &a.figure, &a.stratum)
            .cmp(&(&b.group, &b.period, &b.figure, &b.stratum))
    });
    Report {
        policy: policy.name().to_owned(),
        by: query.by,
        interval: query.interval,
        periods: table.periods,
        groups: table.groups,
        cells,
    }
}
