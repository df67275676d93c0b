//! Statistical disclosure control, in one place (STANDARDS.md 7.3): what of an exact figure may be
//! published under the deployment's policy, and the secondary suppression that stops a withheld
//! cell being worked out from the totals it belongs to.

use super::model::Disclosed;

/// A deployment's disclosure policy, named in every report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// Counts 1–7 suppressed and the rest rounded to the nearest 5; percentages from the rounded
    /// counts; means and medians only of 8 or more (NHS Digital's hospital statistics method).
    #[default]
    SignpostDefault,
    /// NHS Digital's mental-health statistics: counts under 5 suppressed and the rest rounded to
    /// the nearest 5; a proportion suppressed when its numerator or denominator is under 5.
    NhsDigitalMentalHealth,
}

/// A policy name no policy has.
#[derive(Debug, thiserror::Error)]
#[error(
    "unknown disclosure policy {0:?}: known policies are signpost-default, nhs-digital-mental-health"
)]
pub struct UnknownPolicy(pub String);

/// Counts are rounded to the nearest multiple of this under both policies.
const ROUND_TO: u64 = 5;
/// Means and medians are published only of at least this many. The mental-health code sets no
/// rule for means; the hospital statistics' n ≥ 8 is the only verified one, so both use it.
const MIN_FOR_STATISTIC: u64 = 8;

impl Policy {
    /// Every policy, for listing.
    pub const ALL: [Policy; 2] = [Policy::SignpostDefault, Policy::NhsDigitalMentalHealth];

    /// The policy's name as configured and recorded in reports.
    pub fn name(self) -> &'static str {
        match self {
            Policy::SignpostDefault => "signpost-default",
            Policy::NhsDigitalMentalHealth => "nhs-digital-mental-health",
        }
    }

    /// The policy a configured name names.
    pub fn parse(name: &str) -> Result<Self, UnknownPolicy> {
        Policy::ALL
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| UnknownPolicy(name.to_owned()))
    }

    /// The smallest non-zero count shown.
    pub fn threshold(self) -> u64 {
        match self {
            Policy::SignpostDefault => 8,
            Policy::NhsDigitalMentalHealth => 5,
        }
    }

    /// What counts shown are rounded to a multiple of.
    pub fn round_to(self) -> u64 {
        ROUND_TO
    }

    /// A count as published: `None` when suppressed.
    ///
    /// Zero stays 0: an empty cell describes nobody, and hiding zeros would also hide the
    /// difference between "no referrals" and "a few", which commissioners need. Where a zero next
    /// to a suppressed cell would help to recover it, secondary suppression still applies.
    pub fn count(self, n: u64) -> Option<u64> {
        if n == 0 {
            return Some(0);
        }
        if n < self.threshold() {
            return None;
        }
        Some((n + ROUND_TO / 2) / ROUND_TO * ROUND_TO)
    }

    /// A mean or median of `n` values, published only when `n` is large enough.
    pub fn statistic(self, n: u64, value: f64) -> Disclosed {
        if n >= MIN_FOR_STATISTIC && value.is_finite() {
            Disclosed::Number(value)
        } else {
            Disclosed::Suppressed
        }
    }

    /// A percentage `numerator / denominator`, computed from the published (rounded) counts so
    /// that it tells no more than they do; withheld when either count is.
    pub fn percent(self, numerator: u64, denominator: u64) -> Disclosed {
        if self == Policy::NhsDigitalMentalHealth
            && (numerator < self.threshold() || denominator < self.threshold())
        {
            return Disclosed::Suppressed;
        }
        match (self.count(numerator), self.count(denominator)) {
            (Some(num), Some(den)) if den > 0 => {
                Disclosed::Number(round1(num as f64 * 100.0 / den as f64))
            }
            _ => Disclosed::Suppressed,
        }
    }
}

/// Rounds to one decimal place, as published.
pub fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

/// An exact figure before disclosure control.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Exact {
    /// A count.
    Count(u64),
    /// A mean or median of `n` values.
    Statistic {
        /// How many values.
        n: u64,
        /// The mean or median.
        value: f64,
    },
    /// A percentage of two counts.
    Percent {
        /// The part.
        numerator: u64,
        /// The whole.
        denominator: u64,
    },
    /// `count` per 1,000 of `population` (a practice's registered list).
    Per1000 {
        /// Referrals.
        count: u64,
        /// Registered patients.
        population: u64,
    },
}

impl Exact {
    /// The count a partition adds up: a count's value, a percentage's numerator.
    pub fn counted(self) -> Option<u64> {
        match self {
            Exact::Count(n) => Some(n),
            Exact::Percent { numerator, .. } => Some(numerator),
            _ => None,
        }
    }
}

/// Cells (by index) whose counts add up exactly to another cell's: the reasons of one declined
/// total, the sexes of one received total. Publishing all but one of them would give it away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// The total's cell.
    pub total: usize,
    /// The parts' cells.
    pub parts: Vec<usize>,
}

/// Applies `policy` to every cell, then suppresses more cells until no partition has exactly
/// one suppressed member.
pub fn disclose(policy: Policy, cells: &[Exact], partitions: &[Partition]) -> Vec<Disclosed> {
    let mut suppressed: Vec<bool> = cells
        .iter()
        .map(|c| primary(policy, *c) == Disclosed::Suppressed)
        .collect();
    // A suppression in one partition can leave another (sharing a cell) with one: repeat until
    // nothing changes. Each round suppresses at least one more cell, so this ends.
    loop {
        let mut changed = false;
        for partition in partitions {
            let members = std::iter::once(partition.total).chain(partition.parts.iter().copied());
            let hidden = members
                .clone()
                .filter(|&i| suppressed.get(i).copied().unwrap_or(false))
                .count();
            if hidden != 1 {
                continue;
            }
            if let Some(next) = next_smallest(cells, &suppressed, partition) {
                suppressed[next] = true;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    cells
        .iter()
        .zip(&suppressed)
        .map(|(cell, &hidden)| {
            if hidden {
                Disclosed::Suppressed
            } else {
                primary(policy, *cell)
            }
        })
        .collect()
}

/// The shown part of a partition to suppress beside the one already suppressed: the smallest
/// non-zero part (it distorts the table least), else a zero part, else the total.
fn next_smallest(cells: &[Exact], suppressed: &[bool], partition: &Partition) -> Option<usize> {
    let shown = |i: &usize| !suppressed.get(*i).copied().unwrap_or(true);
    let value = |i: &usize| cells.get(*i).and_then(|c| c.counted()).unwrap_or(0);
    let parts = partition.parts.iter().filter(|i| shown(i));
    parts
        .clone()
        .filter(|i| value(i) > 0)
        .min_by_key(|i| (value(i), **i))
        .or_else(|| parts.min_by_key(|i| **i))
        .copied()
        .or_else(|| shown(&partition.total).then_some(partition.total))
}

/// A cell on its own under the policy.
fn primary(policy: Policy, cell: Exact) -> Disclosed {
    match cell {
        Exact::Count(n) => policy
            .count(n)
            .map_or(Disclosed::Suppressed, Disclosed::Count),
        Exact::Statistic { n, value } => policy.statistic(n, round1(value)),
        Exact::Percent {
            numerator,
            denominator,
        } => policy.percent(numerator, denominator),
        Exact::Per1000 { count, population } => match policy.count(count) {
            Some(shown) if population > 0 => {
                Disclosed::Number(round1(shown as f64 * 1000.0 / population as f64))
            }
            _ => Disclosed::Suppressed,
        },
    }
}

/// What someone holding the published table can tell of each cell's exact count: a range,
/// narrowed by every partition's sum until nothing changes (interval constraint propagation).
/// A suppressed cell whose range is one value has been given away. Used by tests of every
/// generated report; public so the integration tests can use it too.
pub fn recoverable(
    policy: Policy,
    cells: &[Exact],
    published: &[Disclosed],
    partitions: &[Partition],
) -> Vec<usize> {
    recoverable_within(
        policy.threshold(),
        policy.round_to() / 2,
        cells,
        published,
        partitions,
    )
}

/// [`recoverable`] for counts shown from `threshold` up, each within `half` of its exact value.
fn recoverable_within(
    threshold: u64,
    half: u64,
    cells: &[Exact],
    published: &[Disclosed],
    partitions: &[Partition],
) -> Vec<usize> {
    const UNBOUNDED: i64 = i64::MAX / 4;
    let half = half as i64;
    let threshold = threshold as i64;
    let mut range: Vec<(i64, i64)> = cells
        .iter()
        .zip(published)
        .map(|(cell, shown)| match (cell, shown) {
            (_, Disclosed::Count(0)) => (0, 0),
            (_, Disclosed::Count(r)) => {
                let r = *r as i64;
                ((r - half).max(threshold), r + half)
            }
            // Primary suppression tells the reader the count is a small non-zero one (the
            // reader is assumed to know which suppressions were primary: the worst case).
            (c, Disclosed::Suppressed)
                if c.counted().is_some_and(|n| n > 0 && (n as i64) < threshold) =>
            {
                (1, threshold - 1)
            }
            _ => (0, UNBOUNDED),
        })
        .collect();
    loop {
        let mut changed = false;
        for p in partitions {
            let Some(&(t_lo, t_hi)) = range.get(p.total) else {
                continue;
            };
            let lo_sum: i64 = p
                .parts
                .iter()
                .map(|&i| range[i].0)
                .fold(0, |a, b| a.saturating_add(b).min(UNBOUNDED));
            let hi_sum: i64 = p
                .parts
                .iter()
                .map(|&i| range[i].1)
                .fold(0, |a, b| a.saturating_add(b).min(UNBOUNDED));
            // The total lies within the sum of its parts' ranges.
            let total = (t_lo.max(lo_sum), t_hi.min(hi_sum));
            if total != range[p.total] {
                range[p.total] = total;
                changed = true;
            }
            for &i in &p.parts {
                let (lo, hi) = range[i];
                // An unbounded sum stays unbounded without this part.
                let others_lo = if lo_sum >= UNBOUNDED {
                    UNBOUNDED
                } else {
                    lo_sum - lo
                };
                let others_hi = if hi_sum >= UNBOUNDED {
                    UNBOUNDED
                } else {
                    hi_sum - hi
                };
                let narrowed = (
                    lo.max(total.0.saturating_sub(others_hi)),
                    hi.min(total.1.saturating_sub(others_lo)),
                );
                if narrowed != range[i] {
                    range[i] = narrowed;
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    published
        .iter()
        .enumerate()
        .filter(|(i, shown)| **shown == Disclosed::Suppressed && range[*i].0 >= range[*i].1)
        .map(|(i, _)| i)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_suppresses_one_to_seven_and_rounds_the_rest() {
        let p = Policy::SignpostDefault;
        let shown: Vec<Option<u64>> = [0, 1, 7, 8, 12, 13, 102].map(|n| p.count(n)).to_vec();
        assert_eq!(
            shown,
            vec![Some(0), None, None, Some(10), Some(10), Some(15), Some(100)]
        );
        assert_eq!(p.statistic(7, 3.0), Disclosed::Suppressed);
        assert_eq!(p.statistic(8, 3.0), Disclosed::Number(3.0));
        // 9 of 13: from the rounded 10 of 15, not the exact 69.2%.
        assert_eq!(p.percent(9, 13), Disclosed::Number(66.7));
        assert_eq!(p.percent(3, 40), Disclosed::Suppressed);
        assert_eq!(p.percent(0, 40), Disclosed::Number(0.0));
    }

    #[test]
    fn the_mental_health_policy_suppresses_under_five_and_small_proportions() {
        let p = Policy::NhsDigitalMentalHealth;
        let shown: Vec<Option<u64>> = [0, 4, 5, 7, 8].map(|n| p.count(n)).to_vec();
        assert_eq!(shown, vec![Some(0), None, Some(5), Some(5), Some(10)]);
        assert_eq!(p.percent(4, 100), Disclosed::Suppressed);
        assert_eq!(p.percent(0, 100), Disclosed::Suppressed);
        assert_eq!(p.percent(5, 4), Disclosed::Suppressed);
        assert_eq!(p.percent(5, 20), Disclosed::Number(25.0));
    }

    #[test]
    fn policies_are_found_by_name() {
        for p in Policy::ALL {
            assert_eq!(Policy::parse(p.name()).ok(), Some(p));
        }
        assert!(Policy::parse("none").is_err());
    }

    #[test]
    fn one_suppressed_part_takes_the_next_smallest_with_it() {
        // declined 30 = reasons 3 + 9 + 18: 3 alone would be 30 - 10 - 20 ± rounding.
        let cells = [
            Exact::Count(30),
            Exact::Count(3),
            Exact::Count(9),
            Exact::Count(18),
        ];
        let partitions = [Partition {
            total: 0,
            parts: vec![1, 2, 3],
        }];
        let shown = disclose(Policy::SignpostDefault, &cells, &partitions);
        assert_eq!(
            shown,
            vec![
                Disclosed::Count(30),
                Disclosed::Suppressed,
                Disclosed::Suppressed,
                Disclosed::Count(20)
            ]
        );
        assert!(recoverable(Policy::SignpostDefault, &cells, &shown, &partitions).is_empty());
    }

    #[test]
    fn the_check_finds_a_cell_given_away_by_its_totals() {
        // received 20 = female 3 + male 17. Shown exactly (no rounding), 20 - 17 gives the 3
        // away: the check must see that, or it checks nothing.
        let cells = [Exact::Count(20), Exact::Count(3), Exact::Count(17)];
        let partitions = [Partition {
            total: 0,
            parts: vec![1, 2],
        }];
        let exact = [
            Disclosed::Count(20),
            Disclosed::Suppressed,
            Disclosed::Count(17),
        ];
        assert_eq!(
            recoverable_within(8, 0, &cells, &exact, &partitions),
            vec![1]
        );
        // Rounded to 5 (20, *, 15) the 3 is only bounded (1 to 7), not given away; secondary
        // suppression hides the 17 as well all the same.
        let rounded = [
            Disclosed::Count(20),
            Disclosed::Suppressed,
            Disclosed::Count(15),
        ];
        assert!(recoverable(Policy::SignpostDefault, &cells, &rounded, &partitions).is_empty());
        let shown = disclose(Policy::SignpostDefault, &cells, &partitions);
        assert_eq!(shown[2], Disclosed::Suppressed);
    }

    #[test]
    fn suppression_spreads_across_partitions_that_share_a_cell() {
        // received 40 = declined 20 + other 20; declined 20 = reason a 2 + reason b 18.
        let cells = [
            Exact::Count(40),
            Exact::Count(20),
            Exact::Count(20),
            Exact::Count(2),
            Exact::Count(18),
        ];
        let partitions = [
            Partition {
                total: 0,
                parts: vec![1, 2],
            },
            Partition {
                total: 1,
                parts: vec![3, 4],
            },
        ];
        let shown = disclose(Policy::SignpostDefault, &cells, &partitions);
        assert_eq!(shown[3], Disclosed::Suppressed);
        assert_eq!(shown[4], Disclosed::Suppressed);
        assert_eq!(shown[0], Disclosed::Count(40));
        assert!(recoverable(Policy::SignpostDefault, &cells, &shown, &partitions).is_empty());
    }
}
