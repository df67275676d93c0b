//! A report as published: what was asked, under which disclosure policy, and its cells.
//!
//! Every value here has been through disclosure control: a cell is either shown (rounded or
//! exact, as the policy says) or suppressed. Nothing in a report identifies a person.

use time::Date;

/// What the figures are cut by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dimension {
    /// The referring GP practice (ODS code).
    Practice,
    /// A primary care network: a configured grouping of practices.
    Pcn,
    /// The link-worker service the referral was sent to (ODS code).
    LinkWorkerService,
    /// The VCS organisation referred onward to (ODS code).
    VcsOrganisation,
    /// The VCS service (HealthcareService id) referred onward to.
    VcsService,
}

/// How the report's time span is divided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Interval {
    /// Calendar months.
    Month,
    /// Calendar quarters (Jan–Mar, Apr–Jun, Jul–Sep, Oct–Dec).
    Quarter,
}

/// A report request: one dimension, one interval, a span of whole intervals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportQuery {
    /// What the figures are cut by.
    pub by: Dimension,
    /// Months or quarters.
    pub interval: Interval,
    /// First day covered (inclusive); the start of an interval.
    pub from: Date,
    /// First day not covered (exclusive); the start of an interval.
    pub to: Date,
    /// Only this group (an ODS code, PCN code or service id), when given.
    pub group: Option<String>,
}

/// One group of the chosen dimension.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct Group {
    /// The dimension it belongs to.
    pub dimension: Dimension,
    /// Its code: ODS code, configured PCN code, or `HealthcareService` id.
    pub code: String,
    /// Its name where Signpost knows it.
    pub display: Option<String>,
}

/// One interval of the report.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct Period {
    /// First day (inclusive).
    pub start: Date,
    /// First day after it (exclusive).
    pub end: Date,
    /// `2026-11` for a month, `2026-Q4` for a quarter.
    pub label: String,
}

/// What a cell counts or measures. Each figure belongs to one `Measure` Signpost publishes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "figure", content = "measure")]
pub enum Figure {
    /// Referrals received from the practice (or sent to the service) in the period.
    ReferralsReceived,
    /// Of those, accepted by the link worker.
    Accepted,
    /// Of those, declined (stratified by reason).
    Declined,
    /// Of those, completed.
    Completed,
    /// Of those, cancelled.
    Cancelled,
    /// Referrals per 1,000 registered patients (only where a list size is configured).
    ReferralsPer1000,
    /// Median days from referral to the link worker's acceptance.
    MedianDaysToAcceptance,
    /// Median days from onward referral to the VCS service's answer.
    MedianDaysToVcsAnswer,
    /// Onward referrals with no answer 14 days after they were sent.
    UnansweredAfter14Days,
    /// Per VCS service: the share of answered onward referrals it accepted (percent).
    VcsAcceptanceRate,
    /// Need codes on referrals (stratified by code; the commonest first).
    NeedCodes,
    /// People referred, by age band.
    AgeBand,
    /// People referred, by administrative sex.
    Sex,
    /// People with both a baseline and a follow-up score for the measure (`system|code`).
    OutcomePaired(String),
    /// Mean baseline score of the paired people.
    OutcomeMeanBaseline(String),
    /// Mean follow-up score of the paired people.
    OutcomeMeanFollowUp(String),
    /// Mean of each paired person's follow-up minus baseline.
    OutcomeMeanChange(String),
    /// ONS4 item: share (percent) of paired people in each ONS band at baseline.
    Ons4BandBaseline(String),
    /// ONS4 item: share (percent) of paired people in each ONS band at follow-up.
    Ons4BandFollowUp(String),
}

/// What a stratified cell's stratum is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StratumKind {
    /// A decline reason (`system|code`).
    DeclineReason,
    /// A need code (`system|code`).
    NeedCode,
    /// An age band (`0-17`, `18-24`, … `85+`).
    AgeBand,
    /// `male`, `female`, `other`, `unknown`.
    Sex,
    /// An ONS reporting band (`low`, `medium`, `high`, `very-high`; for anxiety `very-low` …).
    OnsBand,
}

/// A stratum of a stratified figure.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct Stratum {
    /// What kind of stratum.
    pub kind: StratumKind,
    /// Its code (`system|code` for coded strata).
    pub code: String,
    /// Its display text where known.
    pub display: Option<String>,
}

/// A value as published.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "value")]
pub enum Disclosed {
    /// A count, rounded as the policy says.
    Count(u64),
    /// A mean, median, rate or percentage.
    Number(f64),
    /// Withheld by disclosure control (a small count, a mean of too few, or to protect
    /// another suppressed cell).
    Suppressed,
}

/// One published value.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ReportCell {
    /// Whose figure.
    pub group: Group,
    /// When.
    pub period: Period,
    /// What.
    pub figure: Figure,
    /// The stratum, for stratified figures (decline reasons, need codes, age, sex, ONS bands).
    pub stratum: Option<Stratum>,
    /// The value after disclosure control.
    pub value: Disclosed,
}

/// A disclosed report.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Report {
    /// Name of the disclosure policy applied (recorded in every output).
    pub policy: String,
    /// Dimension, interval and span asked for.
    pub by: Dimension,
    /// Months or quarters.
    pub interval: Interval,
    /// Every interval of the span, in order (including those with no referrals).
    pub periods: Vec<Period>,
    /// Every group with any referral in the span, in code order.
    pub groups: Vec<Group>,
    /// The cells, ordered by group, period, figure, stratum.
    pub cells: Vec<ReportCell>,
}
