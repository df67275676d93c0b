//! The `Measure`s Signpost publishes: which family each figure belongs to, the stable codes
//! a `MeasureReport` (and the CSV, and the console) names figures and strata by, and how each
//! family is scored.
//!
//! FHIR R4 scores a whole `Measure` (R5 moved `scoring` to the group), so the families are cut
//! so that every group of one `Measure` is scored the same way.

use signpost_profiles::outcome_measure::{MEASURES, MeasureValue};

use super::model::{Dimension, Figure, StratumKind};

/// Canonical base of the Measures Signpost publishes (beside its CodeSystems and ValueSets).
pub const MEASURE_BASE: &str = "https://signpost.example/fhir/Measure";
/// Signpost's code system for the figures and strata of its reports (group and stratifier codes).
pub const FIGURE_SYSTEM: &str = "https://signpost.example/fhir/CodeSystem/report-figure";

/// How a family of figures is scored (R4 `Measure.scoring`, measure-scoring code system).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scoring {
    /// Counts of a population.
    Cohort,
    /// A share of a denominator (percent).
    Proportion,
    /// A rate against a denominator that is not a subset (per 1,000 registered patients).
    Ratio,
    /// A statistic over a measured quantity (a median, a mean).
    ContinuousVariable,
}

impl Scoring {
    /// The code in `http://terminology.hl7.org/CodeSystem/measure-scoring`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Cohort => "cohort",
            Self::Proportion => "proportion",
            Self::Ratio => "ratio",
            Self::ContinuousVariable => "continuous-variable",
        }
    }
}

/// Which direction is better (R4 `Measure.improvementNotation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Improvement {
    /// Higher is better.
    Increase,
    /// Lower is better.
    Decrease,
}

impl Improvement {
    /// The code in `http://terminology.hl7.org/CodeSystem/measure-improvement-notation`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Increase => "increase",
            Self::Decrease => "decrease",
        }
    }
}

/// One published `Measure`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeasureDef {
    /// Its id (the last segment of its canonical URL).
    pub id: String,
    /// Its title.
    pub title: String,
    /// What it reports, in words.
    pub description: String,
    /// How its groups are scored.
    pub scoring: Scoring,
    /// Which direction is better, where one is.
    pub improvement: Option<Improvement>,
    /// Its groups, in order.
    pub groups: Vec<GroupDef>,
}

impl MeasureDef {
    /// Its canonical URL.
    pub fn url(&self) -> String {
        format!("{MEASURE_BASE}/{}", self.id)
    }
}

/// One group of a `Measure`: one figure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDef {
    /// The figure's stable code in [`FIGURE_SYSTEM`].
    pub code: String,
    /// What it is, in words.
    pub description: String,
    /// Its stratifier, when the figure is stratified.
    pub stratifier: Option<StratumKind>,
    /// The unit of its score (`d`, `%`, `/1000`, `{score}`), for figures that are not counts.
    pub unit: Option<&'static str>,
}

/// The stable code of a figure within its measure (the group code).
pub fn figure_code(figure: &Figure) -> &'static str {
    match figure {
        Figure::ReferralsReceived => "referrals-received",
        Figure::Accepted => "accepted",
        Figure::Declined => "declined",
        Figure::Completed => "completed",
        Figure::Cancelled => "cancelled",
        Figure::ReferralsPer1000 => "referrals-per-1000",
        Figure::MedianDaysToAcceptance => "median-days-to-acceptance",
        Figure::MedianDaysToVcsAnswer => "median-days-to-vcs-answer",
        Figure::UnansweredAfter14Days => "unanswered-after-14-days",
        Figure::VcsAcceptanceRate => "vcs-acceptance-rate",
        Figure::NeedCodes => "need-codes",
        Figure::AgeBand => "age-band",
        Figure::Sex => "sex",
        Figure::OutcomePaired(_) => "paired",
        Figure::OutcomeMeanBaseline(_) => "mean-baseline",
        Figure::OutcomeMeanFollowUp(_) => "mean-follow-up",
        Figure::OutcomeMeanChange(_) => "mean-change",
        Figure::Ons4BandBaseline(_) => "ons-band-baseline",
        Figure::Ons4BandFollowUp(_) => "ons-band-follow-up",
    }
}

/// The stable code of a stratifier (the kind of stratum).
pub fn stratum_code(kind: StratumKind) -> &'static str {
    match kind {
        StratumKind::DeclineReason => "decline-reason",
        StratumKind::NeedCode => "need-code",
        StratumKind::AgeBand => "age-band",
        StratumKind::Sex => "sex",
        StratumKind::OnsBand => "ons-band",
    }
}

/// The code of a dimension, as the `by` / `group-by` parameters take it.
pub fn dimension_code(dimension: Dimension) -> &'static str {
    match dimension {
        Dimension::Practice => "practice",
        Dimension::Pcn => "pcn",
        Dimension::LinkWorkerService => "link-worker-service",
        Dimension::VcsOrganisation => "vcs-organisation",
        Dimension::VcsService => "vcs-service",
    }
}

/// Every dimension, in the order the forms offer them.
pub const DIMENSIONS: [Dimension; 5] = [
    Dimension::Practice,
    Dimension::Pcn,
    Dimension::LinkWorkerService,
    Dimension::VcsOrganisation,
    Dimension::VcsService,
];

/// The id of the outcome measure's `Measure` for `system|code`: the code, made URL-safe.
fn outcome_measure_id(measure: &str) -> String {
    let code = measure.rsplit('|').next().unwrap_or(measure);
    let code: String = code
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("outcome-{code}")
}

/// The id of the `Measure` a figure belongs to.
pub fn measure_id(figure: &Figure) -> String {
    match figure {
        Figure::ReferralsReceived
        | Figure::Accepted
        | Figure::Declined
        | Figure::Completed
        | Figure::Cancelled
        | Figure::UnansweredAfter14Days => "referral-activity".into(),
        Figure::ReferralsPer1000 => "referral-rate".into(),
        Figure::MedianDaysToAcceptance | Figure::MedianDaysToVcsAnswer => "timeliness".into(),
        Figure::VcsAcceptanceRate => "vcs-acceptance".into(),
        Figure::NeedCodes | Figure::AgeBand | Figure::Sex => "population".into(),
        Figure::OutcomePaired(m)
        | Figure::OutcomeMeanBaseline(m)
        | Figure::OutcomeMeanFollowUp(m)
        | Figure::OutcomeMeanChange(m)
        | Figure::Ons4BandBaseline(m)
        | Figure::Ons4BandFollowUp(m) => outcome_measure_id(m),
    }
}

fn group(
    code: &str,
    description: &str,
    stratifier: Option<StratumKind>,
    unit: Option<&'static str>,
) -> GroupDef {
    GroupDef {
        code: code.into(),
        description: description.into(),
        stratifier,
        unit,
    }
}

/// Lower scores are better for anxiety (ONS4) and loneliness (UCLA-3); higher for the others.
fn outcome_improvement(code: &str) -> Improvement {
    if matches!(code, "ons4-anxiety" | "ucla3-total") {
        Improvement::Decrease
    } else {
        Improvement::Increase
    }
}

/// Every `Measure` Signpost publishes, in a fixed order.
pub fn measures() -> Vec<MeasureDef> {
    let mut all = vec![
        MeasureDef {
            id: "referral-activity".into(),
            title: "Social prescribing referral activity".into(),
            description: "Referrals received in the period, and of those how many the link worker accepted, declined (by reason), completed and cancelled; onward referrals to VCS services with no answer 14 days after they were sent.".into(),
            scoring: Scoring::Cohort,
            improvement: None,
            groups: vec![
                group("referrals-received", "Referrals received in the period", None, None),
                group("accepted", "Of those, accepted by the link-worker service", None, None),
                group("declined", "Of those, declined, by decline reason", Some(StratumKind::DeclineReason), None),
                group("completed", "Of those, completed", None, None),
                group("cancelled", "Of those, cancelled", None, None),
                group("unanswered-after-14-days", "Onward referrals with no answer 14 days after they were sent", None, None),
            ],
        },
        MeasureDef {
            id: "referral-rate".into(),
            title: "Social prescribing referrals per 1,000 registered patients".into(),
            description: "Referrals received in the period per 1,000 patients on the practice list, where a list size is configured.".into(),
            scoring: Scoring::Ratio,
            improvement: None,
            groups: vec![group("referrals-per-1000", "Referrals per 1,000 registered patients", None, Some("/1000"))],
        },
        MeasureDef {
            id: "timeliness".into(),
            title: "Social prescribing timeliness".into(),
            description: "Median days from referral to the link worker's acceptance, and from onward referral to the VCS service's answer.".into(),
            scoring: Scoring::ContinuousVariable,
            improvement: Some(Improvement::Decrease),
            groups: vec![
                group("median-days-to-acceptance", "Median days from referral to the link worker's acceptance", None, Some("d")),
                group("median-days-to-vcs-answer", "Median days from onward referral to the VCS service's answer", None, Some("d")),
            ],
        },
        MeasureDef {
            id: "vcs-acceptance".into(),
            title: "VCS service acceptance rate".into(),
            description: "Of the onward referrals a VCS service answered in the period, the share (percent) it accepted.".into(),
            scoring: Scoring::Proportion,
            improvement: Some(Improvement::Increase),
            groups: vec![group("vcs-acceptance-rate", "Share of answered onward referrals accepted (percent)", None, Some("%"))],
        },
        MeasureDef {
            id: "population".into(),
            title: "People referred to social prescribing".into(),
            description: "The needs coded on referrals, and the people referred by age band and by administrative sex.".into(),
            scoring: Scoring::Cohort,
            improvement: None,
            groups: vec![
                group("need-codes", "Need codes on referrals, by code", Some(StratumKind::NeedCode), None),
                group("age-band", "People referred, by age band", Some(StratumKind::AgeBand), None),
                group("sex", "People referred, by administrative sex", Some(StratumKind::Sex), None),
            ],
        },
    ];
    for m in MEASURES {
        if !matches!(m.value, MeasureValue::Score { .. }) {
            continue;
        }
        let key = format!("{}|{}", m.code.system, m.code.code);
        let mut groups = vec![
            group(
                "paired",
                "People with both a baseline and a follow-up score",
                None,
                None,
            ),
            group(
                "mean-baseline",
                "Mean baseline score of the paired people",
                None,
                Some("{score}"),
            ),
            group(
                "mean-follow-up",
                "Mean follow-up score of the paired people",
                None,
                Some("{score}"),
            ),
            group(
                "mean-change",
                "Mean of each paired person's follow-up minus baseline score",
                None,
                Some("{score}"),
            ),
        ];
        if m.code.code.starts_with("ons4-") {
            groups.push(group(
                "ons-band-baseline",
                "Share (percent) of the paired people in each ONS band at baseline",
                Some(StratumKind::OnsBand),
                Some("%"),
            ));
            groups.push(group(
                "ons-band-follow-up",
                "Share (percent) of the paired people in each ONS band at follow-up",
                Some(StratumKind::OnsBand),
                Some("%"),
            ));
        }
        all.push(MeasureDef {
            id: outcome_measure_id(&key),
            title: format!("Outcome: {}", m.code.display),
            description: format!(
                "For the outcome measure {key} ({}): the people with both a baseline and a follow-up score, paired by person, and their mean baseline, mean follow-up and mean change.",
                m.code.display
            ),
            scoring: Scoring::ContinuousVariable,
            improvement: Some(outcome_improvement(m.code.code)),
            groups,
        });
    }
    all
}

/// The published `Measure` with this id.
pub fn measure(id: &str) -> Option<MeasureDef> {
    measures().into_iter().find(|m| m.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_figure_belongs_to_a_published_measure_with_its_group() {
        let swemwbs = "http://snomed.info/sct|718466001".to_owned();
        let ons = format!(
            "{}|ons4-anxiety",
            signpost_profiles::outcome_measure::OUTCOME_SYSTEM
        );
        let figures = [
            Figure::ReferralsReceived,
            Figure::Accepted,
            Figure::Declined,
            Figure::Completed,
            Figure::Cancelled,
            Figure::ReferralsPer1000,
            Figure::MedianDaysToAcceptance,
            Figure::MedianDaysToVcsAnswer,
            Figure::UnansweredAfter14Days,
            Figure::VcsAcceptanceRate,
            Figure::NeedCodes,
            Figure::AgeBand,
            Figure::Sex,
            Figure::OutcomePaired(swemwbs.clone()),
            Figure::OutcomeMeanBaseline(swemwbs.clone()),
            Figure::OutcomeMeanFollowUp(swemwbs.clone()),
            Figure::OutcomeMeanChange(swemwbs),
            Figure::Ons4BandBaseline(ons.clone()),
            Figure::Ons4BandFollowUp(ons),
        ];
        for f in &figures {
            let m = measure(&measure_id(f)).unwrap_or_else(|| panic!("{f:?} has a measure"));
            assert!(
                m.groups.iter().any(|g| g.code == figure_code(f)),
                "{f:?} is a group of {}",
                m.id
            );
        }
        let ids: Vec<String> = measures().into_iter().map(|m| m.id).collect();
        let mut unique = ids.clone();
        unique.dedup();
        assert_eq!(ids, unique, "measure ids are unique");
        assert_eq!(
            measure("outcome-ons4-anxiety").map(|m| m.improvement),
            Some(Some(Improvement::Decrease))
        );
        assert!(
            measure("outcome-718466001").is_some_and(|m| m.groups.len() == 4),
            "only ONS4 items have band shares"
        );
    }
}
