//! The exact figures of a report, from the projection's facts: counts, medians, means and
//! shares per group and period, with the partitions (cells that add up to another) that
//! disclosure control must protect.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use signpost_profiles::outcome_measure::OUTCOME_SYSTEM;
use time::{Date, Month, OffsetDateTime};

use super::disclosure::{Exact, Partition};
use super::facts::{RequestFacts, TaskFacts};
use super::model::{Dimension, Figure, Group, Interval, Period, ReportQuery, Stratum, StratumKind};
use super::projection::Facts;
use crate::config::Config;

/// Microseconds in a day.
const DAY_US: f64 = 86_400_000_000.0;
/// An onward referral still unanswered this long after it was sent is counted.
const UNANSWERED_US: i64 = 14 * 86_400_000_000;
/// Need codes shown per cell, the commonest first.
const TOP_NEEDS: usize = 10;

/// One cell's key.
pub type Key = (Group, Period, Figure, Option<Stratum>);

/// Exact cells, in the report's order, and the partitions among them.
#[derive(Debug, Default)]
pub struct Table {
    /// Every cell's key.
    pub keys: Vec<Key>,
    /// Every cell's exact value.
    pub cells: Vec<Exact>,
    /// Which cells add up to which.
    pub partitions: Vec<Partition>,
    /// The groups with any referral in the span.
    pub groups: Vec<Group>,
    /// The span's intervals.
    pub periods: Vec<Period>,
}

/// The intervals from `from` to `to`.
pub fn periods(query: &ReportQuery) -> Vec<Period> {
    let mut out = Vec::new();
    let mut start = query.from;
    while start < query.to {
        let months = match query.interval {
            Interval::Month => 1,
            Interval::Quarter => 3,
        };
        let end = add_months(start, months);
        let label = match query.interval {
            Interval::Month => format!("{}-{:02}", start.year(), start.month() as u8),
            Interval::Quarter => format!("{}-Q{}", start.year(), (start.month() as u8 - 1) / 3 + 1),
        };
        out.push(Period { start, end, label });
        start = end;
    }
    out
}

fn add_months(date: Date, months: u8) -> Date {
    let total = date.month() as i32 - 1 + i32::from(months);
    let year = date.year() + total / 12;
    let month = Month::try_from((total % 12 + 1) as u8).unwrap_or(Month::January);
    Date::from_calendar_date(year, month, 1).unwrap_or(date)
}

fn date_of(us: i64) -> Option<Date> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
        .ok()
        .map(|t| t.date())
}

/// One referral as a report counts it: a GP referral (practice, PCN, link-worker service) or an
/// onward referral (VCS organisation or service). Everything is borrowed from the facts and the
/// configuration: a report over many referrals allocates per cell, not per referral.
struct Unit<'a> {
    group: Option<&'a str>,
    received: i64,
    task: &'a TaskFacts,
    root: &'a RequestFacts,
    onward: &'a [&'a TaskFacts],
    /// The link worker's Task, whose outputs hold the person's scores.
    scored: &'a str,
}

#[derive(Default)]
struct Acc<'a> {
    received: u64,
    accepted: u64,
    declined: u64,
    completed: u64,
    cancelled: u64,
    reasons: BTreeMap<&'a str, u64>,
    accept_days: Vec<f64>,
    answer_days: Vec<f64>,
    unanswered: u64,
    answered: u64,
    vcs_accepted: u64,
    needs: BTreeMap<&'a str, u64>,
    ages: BTreeMap<&'static str, u64>,
    sexes: BTreeMap<&'static str, u64>,
    /// Per measure, each paired person's (baseline, follow-up), each person once.
    pairs: HashMap<&'a str, Vec<(i64, i64)>>,
}

/// Age bands as published.
const AGE_BANDS: &[(u32, &str)] = &[
    (18, "0-17"),
    (25, "18-24"),
    (35, "25-34"),
    (45, "35-44"),
    (55, "45-54"),
    (65, "55-64"),
    (75, "65-74"),
    (85, "75-84"),
    (u32::MAX, "85+"),
];

fn age_band(birth: Option<&str>, at: Date) -> &'static str {
    let Some(birth) = birth else { return "unknown" };
    let mut parts = birth.split('-').map(str::parse::<i32>);
    let (Some(Ok(y)), m, d) = (parts.next(), parts.next(), parts.next()) else {
        return "unknown";
    };
    let (m, d) = (
        m.and_then(Result::ok).unwrap_or(1),
        d.and_then(Result::ok).unwrap_or(1),
    );
    let mut age = at.year() - y;
    if (at.month() as i32, i32::from(at.day())) < (m, d) {
        age -= 1;
    }
    let Ok(age) = u32::try_from(age) else {
        return "unknown";
    };
    AGE_BANDS
        .iter()
        .find(|(below, _)| age < *below)
        .map_or("unknown", |(_, band)| band)
}

/// ONS reporting bands of an ONS4 item (STANDARDS.md 7.1); `None` for other measures.
pub fn ons_bands(measure: &str) -> Option<&'static [(i64, &'static str)]> {
    let code = measure.strip_prefix(OUTCOME_SYSTEM)?.strip_prefix('|')?;
    match code {
        "ons4-anxiety" => Some(&[(1, "very-low"), (3, "low"), (5, "medium"), (10, "high")]),
        "ons4-life-satisfaction" | "ons4-worthwhile" | "ons4-happiness" => {
            Some(&[(4, "low"), (6, "medium"), (8, "high"), (10, "very-high")])
        }
        _ => None,
    }
}

fn band(bands: &[(i64, &'static str)], value: i64) -> &'static str {
    bands
        .iter()
        .find(|(upto, _)| value <= *upto)
        .map_or("unknown", |(_, b)| b)
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    })
}

/// The onward Tasks of each link worker's Task.
fn onward(facts: &Facts) -> HashMap<&str, Vec<&TaskFacts>> {
    let mut onward: HashMap<&str, Vec<&TaskFacts>> = HashMap::new();
    for t in facts.tasks.values() {
        if let Some(parent) = &t.part_of {
            onward.entry(parent.as_str()).or_default().push(t);
        }
    }
    onward
}

fn units<'a>(
    facts: &'a Facts,
    onward: &'a HashMap<&'a str, Vec<&'a TaskFacts>>,
    config: &'a Config,
    by: Dimension,
) -> Vec<Unit<'a>> {
    let mut out = Vec::with_capacity(facts.tasks.len());
    for (id, task) in &facts.tasks {
        if task.part_of.is_some() {
            continue;
        }
        let Some(root) = task.focus.as_ref().and_then(|f| facts.requests.get(f)) else {
            continue;
        };
        if root.based_on.is_some() {
            continue;
        }
        let children: &[&TaskFacts] = onward.get(id.as_str()).map_or(&[], Vec::as_slice);
        let practice = root.requester.as_deref();
        match by {
            Dimension::Practice | Dimension::Pcn | Dimension::LinkWorkerService => {
                let group = match by {
                    Dimension::Practice => practice,
                    Dimension::Pcn => practice
                        .and_then(|p| config.reports.pcn_of(p))
                        .map(|p| p.code.as_str()),
                    _ => task.owner.as_deref(),
                };
                out.push(Unit {
                    group,
                    received: task.created,
                    task,
                    root,
                    onward: children,
                    scored: id,
                });
            }
            Dimension::VcsOrganisation | Dimension::VcsService => {
                for child in children {
                    let group = match by {
                        Dimension::VcsOrganisation => child.owner.as_deref(),
                        _ => child
                            .focus
                            .as_ref()
                            .and_then(|f| facts.requests.get(f))
                            .and_then(|sr| sr.service.as_deref()),
                    };
                    out.push(Unit {
                        group,
                        received: child.created,
                        task: child,
                        root,
                        onward: std::slice::from_ref(child),
                        scored: id,
                    });
                }
            }
        }
    }
    out
}

/// Per measure and person, the (baseline, follow-up) pair and the link worker's Task the
/// follow-up came on: the earliest baseline and the latest follow-up of any of the person's
/// referrals, so a person whose scores came on different referrals is still paired.
fn pairs(facts: &Facts) -> HashMap<&str, Vec<(&str, &str, i64, i64)>> {
    // (measure, person) → (baseline (received, value), follow-up (received, value, task)).
    type Seen<'a> = (Option<(i64, i64)>, Option<(i64, i64, &'a str)>);
    let mut seen: HashMap<(&str, &str), Seen<'_>> = HashMap::new();
    for (id, task) in &facts.tasks {
        if task.part_of.is_some() {
            continue;
        }
        let Some(person) = task
            .focus
            .as_ref()
            .and_then(|f| facts.requests.get(f))
            .and_then(|sr| sr.person.as_deref())
        else {
            continue;
        };
        for score in &task.scores {
            let entry = seen.entry((score.measure.0, person)).or_default();
            if score.baseline {
                if entry.0.is_none_or(|(at, _)| task.created < at) {
                    entry.0 = Some((task.created, score.value));
                }
            } else if entry.1.is_none_or(|(at, _, _)| task.created >= at) {
                entry.1 = Some((task.created, score.value, id.as_str()));
            }
        }
    }
    let mut by_task: HashMap<&str, Vec<(&str, &str, i64, i64)>> = HashMap::new();
    for ((measure, person), (baseline, follow_up)) in seen {
        if let (Some((b_at, b)), Some((f_at, f, task))) = (baseline, follow_up)
            && f_at >= b_at
        {
            by_task
                .entry(task)
                .or_default()
                .push((measure, person, b, f));
        }
    }
    by_task
}

fn display(config: &Config, by: Dimension, code: &str) -> Option<String> {
    match by {
        Dimension::Pcn => config
            .reports
            .pcns
            .iter()
            .find(|p| p.code == code)
            .map(|p| p.name.clone()),
        Dimension::VcsService => None,
        _ => config
            .organisations
            .iter()
            .find(|o| o.ods.as_str() == code)
            .map(|o| o.name.clone()),
    }
}

fn list_size(config: &Config, by: Dimension, code: &str) -> Option<u64> {
    match by {
        Dimension::Practice => config.reports.list_sizes.get(code).copied(),
        // A network's list is its practices' together, only when every one is configured.
        Dimension::Pcn => config
            .reports
            .pcns
            .iter()
            .find(|p| p.code == code)?
            .practices
            .iter()
            .map(|p| config.reports.list_sizes.get(p).copied())
            .sum(),
        _ => None,
    }
}

/// Computes the exact table for `query` from `facts` as at `now` (µs).
pub fn table(facts: &Facts, config: &Config, query: &ReportQuery, now: i64) -> Table {
    let periods = periods(query);
    let onward = onward(facts);
    let units = units(facts, &onward, config, query.by);
    let pairs = pairs(facts);
    let mut accs: HashMap<(&str, usize), Acc> = HashMap::new();
    let mut groups: BTreeSet<&str> = BTreeSet::new();
    // One person's pair counts once per cell, however many of their referrals it has.
    let mut counted: HashSet<(&str, usize, &str, &str)> = HashSet::new();
    for unit in &units {
        let Some(received) = date_of(unit.received) else {
            continue;
        };
        let Some(p) = periods
            .iter()
            .position(|p| p.start <= received && received < p.end)
        else {
            continue;
        };
        if let Some(g) = unit.group {
            if query.group.as_deref().is_some_and(|only| only != g) {
                continue;
            }
            groups.insert(g);
            let acc = accs.entry((g, p)).or_default();
            acc.received += 1;
            let task = unit.task;
            if let Some(at) = task.accepted {
                acc.accepted += 1;
                acc.accept_days.push((at - unit.received) as f64 / DAY_US);
            }
            match task.status.as_str() {
                "rejected" => {
                    acc.declined += 1;
                    let reason = task.reason.as_deref().unwrap_or("unspecified");
                    *acc.reasons.entry(reason).or_default() += 1;
                }
                "completed" => acc.completed += 1,
                "cancelled" => acc.cancelled += 1,
                _ => {}
            }
            for o in unit.onward {
                match o.answered {
                    Some(at) => {
                        acc.answer_days.push((at - o.created) as f64 / DAY_US);
                        acc.answered += 1;
                        if o.accepted.is_some() {
                            acc.vcs_accepted += 1;
                        }
                        if at - o.created > UNANSWERED_US {
                            acc.unanswered += 1;
                        }
                    }
                    None if now - o.created > UNANSWERED_US => acc.unanswered += 1,
                    None => {}
                }
            }
            let needs = &unit.root.needs;
            for (i, n) in needs.iter().enumerate() {
                // A code given twice on one referral counts once.
                if !needs[..i].contains(n) {
                    *acc.needs.entry(n.as_str()).or_default() += 1;
                }
            }
            *acc.ages
                .entry(age_band(unit.root.birth_date.as_deref(), received))
                .or_default() += 1;
            let sex = match unit.root.sex.as_deref() {
                Some("male") => "male",
                Some("female") => "female",
                Some("other") => "other",
                _ => "unknown",
            };
            *acc.sexes.entry(sex).or_default() += 1;
            for &(measure, person, b, f) in pairs.get(unit.scored).into_iter().flatten() {
                if counted.insert((g, p, measure, person)) {
                    acc.pairs.entry(measure).or_default().push((b, f));
                }
            }
        }
    }
    let mut t = Table {
        periods: periods.clone(),
        groups: groups
            .iter()
            .map(|code| Group {
                dimension: query.by,
                code: (*code).to_owned(),
                display: display(config, query.by, code),
            })
            .collect(),
        ..Table::default()
    };
    let measures: Vec<String> = super::facts::score_measures().collect();
    let empty = Acc::default();
    for group in t.groups.clone() {
        for (p, period) in periods.iter().enumerate() {
            let acc = accs.get(&(group.code.as_str(), p)).unwrap_or(&empty);
            let push = |t: &mut Table, figure: Figure, stratum: Option<Stratum>, v: Exact| {
                t.keys
                    .push((group.clone(), period.clone(), figure, stratum));
                t.cells.push(v);
                t.cells.len() - 1
            };
            let stratum = |kind, code: &str| {
                Some(Stratum {
                    kind,
                    code: code.to_owned(),
                    display: None,
                })
            };
            let received = push(
                &mut t,
                Figure::ReferralsReceived,
                None,
                Exact::Count(acc.received),
            );
            push(&mut t, Figure::Accepted, None, Exact::Count(acc.accepted));
            let declined = push(&mut t, Figure::Declined, None, Exact::Count(acc.declined));
            let parts = acc
                .reasons
                .iter()
                .map(|(r, n)| {
                    push(
                        &mut t,
                        Figure::Declined,
                        stratum(StratumKind::DeclineReason, r),
                        Exact::Count(*n),
                    )
                })
                .collect();
            t.partitions.push(Partition {
                total: declined,
                parts,
            });
            push(&mut t, Figure::Completed, None, Exact::Count(acc.completed));
            push(&mut t, Figure::Cancelled, None, Exact::Count(acc.cancelled));
            if let Some(population) = list_size(config, query.by, &group.code) {
                push(
                    &mut t,
                    Figure::ReferralsPer1000,
                    None,
                    Exact::Per1000 {
                        count: acc.received,
                        population,
                    },
                );
            }
            let mut days = acc.accept_days.clone();
            push(
                &mut t,
                Figure::MedianDaysToAcceptance,
                None,
                Exact::Statistic {
                    n: days.len() as u64,
                    value: median(&mut days).unwrap_or(f64::NAN),
                },
            );
            let mut days = acc.answer_days.clone();
            push(
                &mut t,
                Figure::MedianDaysToVcsAnswer,
                None,
                Exact::Statistic {
                    n: days.len() as u64,
                    value: median(&mut days).unwrap_or(f64::NAN),
                },
            );
            push(
                &mut t,
                Figure::UnansweredAfter14Days,
                None,
                Exact::Count(acc.unanswered),
            );
            if matches!(query.by, Dimension::VcsOrganisation | Dimension::VcsService) {
                push(
                    &mut t,
                    Figure::VcsAcceptanceRate,
                    None,
                    Exact::Percent {
                        numerator: acc.vcs_accepted,
                        denominator: acc.answered,
                    },
                );
            }
            let mut needs: Vec<(&&str, &u64)> = acc.needs.iter().collect();
            needs.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            for (code, n) in needs.into_iter().take(TOP_NEEDS) {
                push(
                    &mut t,
                    Figure::NeedCodes,
                    stratum(StratumKind::NeedCode, code),
                    Exact::Count(*n),
                );
            }
            let parts = acc
                .ages
                .iter()
                .map(|(b, n)| {
                    push(
                        &mut t,
                        Figure::AgeBand,
                        stratum(StratumKind::AgeBand, b),
                        Exact::Count(*n),
                    )
                })
                .collect();
            t.partitions.push(Partition {
                total: received,
                parts,
            });
            let parts = acc
                .sexes
                .iter()
                .map(|(s, n)| {
                    push(
                        &mut t,
                        Figure::Sex,
                        stratum(StratumKind::Sex, s),
                        Exact::Count(*n),
                    )
                })
                .collect();
            t.partitions.push(Partition {
                total: received,
                parts,
            });
            for measure in &measures {
                let pairs: &[(i64, i64)] =
                    acc.pairs.get(measure.as_str()).map_or(&[], Vec::as_slice);
                let n = pairs.len() as u64;
                let mean = |f: &dyn Fn(&(i64, i64)) -> i64| {
                    if n == 0 {
                        f64::NAN
                    } else {
                        pairs.iter().map(f).sum::<i64>() as f64 / n as f64
                    }
                };
                let paired = push(
                    &mut t,
                    Figure::OutcomePaired(measure.clone()),
                    None,
                    Exact::Count(n),
                );
                push(
                    &mut t,
                    Figure::OutcomeMeanBaseline(measure.clone()),
                    None,
                    Exact::Statistic {
                        n,
                        value: mean(&|p| p.0),
                    },
                );
                push(
                    &mut t,
                    Figure::OutcomeMeanFollowUp(measure.clone()),
                    None,
                    Exact::Statistic {
                        n,
                        value: mean(&|p| p.1),
                    },
                );
                push(
                    &mut t,
                    Figure::OutcomeMeanChange(measure.clone()),
                    None,
                    Exact::Statistic {
                        n,
                        value: mean(&|p| p.1 - p.0),
                    },
                );
                if let Some(bands) = ons_bands(measure) {
                    for (baseline, figure) in [
                        (true, Figure::Ons4BandBaseline(measure.clone())),
                        (false, Figure::Ons4BandFollowUp(measure.clone())),
                    ] {
                        let parts = bands
                            .iter()
                            .map(|(_, name)| {
                                let numerator = pairs
                                    .iter()
                                    .filter(|(b, f)| {
                                        band(bands, if baseline { *b } else { *f }) == *name
                                    })
                                    .count() as u64;
                                push(
                                    &mut t,
                                    figure.clone(),
                                    stratum(StratumKind::OnsBand, name),
                                    Exact::Percent {
                                        numerator,
                                        denominator: n,
                                    },
                                )
                            })
                            .collect();
                        t.partitions.push(Partition {
                            total: paired,
                            parts,
                        });
                    }
                }
            }
        }
    }
    t
}
