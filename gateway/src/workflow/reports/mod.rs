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
