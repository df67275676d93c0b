//! The targets issue 27 sets for the SQLite store, checked against a run's figures (the
//! PostgreSQL ratios are in the PostgreSQL section, the cold start in its own). The benchmarks
//! report; nothing fails on a miss, and a miss is written down beside the figure.

use std::time::Duration;

use crate::measure::TargetFigures;
use crate::memory::mib;
use crate::stats::{ms, ratio};

/// Intake alone at least this many times the naive durable SQLite append's throughput.
pub const INTAKE_TIMES_SQLITE: f64 = 1.5;
/// Intake alone at least this many times the validating Medplum router's.
pub const INTAKE_TIMES_MEDPLUM: f64 = 5.0;
/// Taken in and delivered to a partner on the same cores, at least this many times the append.
pub const END_TO_END_TIMES_SQLITE: f64 = 1.0;
/// p99 latency at the offered rate below this.
pub const P99_AT_RATE: Duration = Duration::from_millis(25);
/// The offered rate the p99 and memory targets are stated for.
pub const TARGET_RATE: f64 = 500.0;
/// Delivery lag p99 below this.
pub const LAG_P99: Duration = Duration::from_millis(100);
/// Resident memory under the offered load below this many MiB.
pub const RSS_UNDER_LOAD_MIB: f64 = 100.0;

/// One target's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// What is measured, with its limit.
    pub target: String,
    /// The figure measured.
    pub measured: String,
    /// `None` when the run could not tell (a target not run, another rate offered).
    pub met: Option<bool>,
}

/// The figures the verdicts are read from, each `None` when not run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Run<'a> {
    /// Signpost taking referrals in, its link worker polling (no partner on the cores).
    pub intake: Option<&'a TargetFigures>,
    /// Signpost delivering every referral to a `fhir-rest` partner on the same cores.
    pub delivering: Option<&'a TargetFigures>,
    /// The naive durable SQLite append.
    pub sqlite: Option<&'a TargetFigures>,
    /// Medplum's validating fhir-router.
    pub medplum: Option<&'a TargetFigures>,
}

/// A throughput ratio against its floor.
fn times_verdict(target: String, value: Option<f64>, baseline: Option<f64>, floor: f64) -> Verdict {
    let r = ratio(value, baseline);
    Verdict {
        target,
        measured: r.map_or("–".into(), |r| format!("{r:.2}×")),
        met: r.map(|r| r >= floor),
    }
}

/// p99 at the offered rate, judged only when that rate is the target's and nothing failed.
fn p99_verdict(who: &str, figures: Option<&TargetFigures>, at_target_rate: bool) -> Verdict {
    let p99 = figures.and_then(|f| f.at_rate.latency.map(|l| l.p99));
    Verdict {
        target: format!(
            "p99 < {:.0} ms at {TARGET_RATE:.0} referrals/s offered ({who})",
            ms(P99_AT_RATE)
        ),
        measured: p99.map_or("–".into(), |p| format!("{:.1} ms", ms(p))),
        met: figures
            .zip(p99)
            .filter(|(f, _)| at_target_rate && f.at_rate.error_count() == 0)
            .map(|(_, p)| p < P99_AT_RATE),
    }
}

/// Checks Signpost's figures against issue 27's targets.
pub fn verdicts(run: Run<'_>, rate: f64) -> Vec<Verdict> {
    let throughput = |f: Option<&TargetFigures>| f.map(|f| f.max.per_second);
    let at_target_rate = (rate - TARGET_RATE).abs() < f64::EPSILON;
    let delivery = run.delivering.and_then(|f| f.delivery.as_ref());
    let lag = delivery
        .and_then(|d| d.lag.filter(|_| d.delivered == d.expected))
        .map(|l| l.p99);
    let rss = [run.intake, run.delivering]
        .into_iter()
        .flatten()
        .map(|f| mib(f.at_rate.peak_kib))
        .reduce(f64::max);
    vec![
        times_verdict(
            format!("intake alone ≥ {INTAKE_TIMES_SQLITE:.1}× the naive durable SQLite append"),
            throughput(run.intake),
            throughput(run.sqlite),
            INTAKE_TIMES_SQLITE,
        ),
        times_verdict(
            format!("intake alone ≥ {INTAKE_TIMES_MEDPLUM:.0}× Medplum's validating fhir-router"),
            throughput(run.intake),
            throughput(run.medplum),
            INTAKE_TIMES_MEDPLUM,
        ),
        times_verdict(
            format!(
                "taken in and delivered to a `fhir-rest` partner on the same cores ≥ \
                 {END_TO_END_TIMES_SQLITE:.1}× the append"
            ),
            delivery.and_then(|d| d.end_to_end_per_second),
            throughput(run.sqlite),
            END_TO_END_TIMES_SQLITE,
        ),
        p99_verdict("intake alone", run.intake, at_target_rate),
        p99_verdict("delivering", run.delivering, at_target_rate),
        Verdict {
            target: format!("delivery lag p99 < {:.0} ms", ms(LAG_P99)),
            measured: match (run.delivering, lag) {
                (None, _) => "–".into(),
                (Some(_), None) => "– (not every referral delivered)".into(),
                (Some(_), Some(p)) => format!("{:.1} ms", ms(p)),
            },
            met: run.delivering.map(|_| lag.is_some_and(|p| p < LAG_P99)),
        },
        Verdict {
            target: format!(
                "resident memory < {RSS_UNDER_LOAD_MIB:.0} MiB at {TARGET_RATE:.0} referrals/s"
            ),
            measured: rss.map_or("–".into(), |r| format!("{r:.1} MiB")),
            met: rss
                .filter(|_| at_target_rate)
                .map(|r| r < RSS_UNDER_LOAD_MIB),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::{DeliveryLag, Phase};
    use crate::stats::Summary;

    fn phase(per_second: f64, p99_ms: u64, peak_mib: u64) -> Phase {
        let p99 = Duration::from_millis(p99_ms);
        Phase {
            latency: Some(Summary {
                count: 100,
                p50: p99 / 2,
                p95: p99,
                p99,
                max: p99,
            }),
            per_second,
            errors: Default::default(),
            peak_kib: peak_mib * 1024,
            cpu_busy: None,
        }
    }

    fn figures(name: &'static str, per_second: f64, p99_ms: u64) -> TargetFigures {
        TargetFigures {
            name,
            rest_kib: 10 * 1024,
            at_rate: phase(500.0, p99_ms, 60),
            max: phase(per_second, p99_ms, 80),
            delivery: None,
        }
    }

    fn delivering(per_second: f64, end_to_end: f64, lag_ms: u64) -> TargetFigures {
        TargetFigures {
            delivery: Some(DeliveryLag {
                expected: 10,
                delivered: 10,
                lag: Summary::of(vec![Duration::from_millis(lag_ms); 10]),
                before_answer: 0,
                backlog_drained_in: None,
                end_to_end_per_second: Some(end_to_end),
            }),
            ..figures("signpost-delivering", per_second, 20)
        }
    }

    /// A run with every target measured.
    fn full_run<'a>(
        intake: &'a TargetFigures,
        delivering: &'a TargetFigures,
        sqlite: &'a TargetFigures,
        medplum: &'a TargetFigures,
    ) -> Run<'a> {
        Run {
            intake: Some(intake),
            delivering: Some(delivering),
            sqlite: Some(sqlite),
            medplum: Some(medplum),
        }
    }

    #[test]
    fn each_target_is_judged_on_its_own_figure() {
        let sqlite = figures("sqlite", 1000.0, 5);
        let medplum = figures("medplum", 300.0, 50);
        let intake = figures("signpost", 1600.0, 20);
        let with_partner = delivering(1200.0, 1000.0, 50);
        let met = verdicts(full_run(&intake, &with_partner, &sqlite, &medplum), 500.0);
        assert_eq!(
            met.iter().map(|v| v.met).collect::<Vec<_>>(),
            [
                Some(true),
                Some(true),
                Some(true),
                Some(true),
                Some(true),
                Some(true),
                Some(true)
            ]
        );
        assert_eq!(met[0].measured, "1.60×");
        assert_eq!(
            met[2].measured, "1.00×",
            "end to end, not intake with a partner"
        );

        let slow = figures("signpost", 1400.0, 30);
        let lagging = delivering(1200.0, 900.0, 150);
        let missed = verdicts(full_run(&slow, &lagging, &sqlite, &medplum), 500.0);
        assert_eq!(
            missed.iter().map(|v| v.met).collect::<Vec<_>>(),
            [
                Some(false),
                Some(false),
                Some(false),
                Some(false),
                Some(true),
                Some(false),
                Some(true)
            ]
        );
    }

    #[test]
    fn what_the_run_cannot_tell_is_left_open() {
        let intake = figures("signpost", 450.0, 20);
        let v = verdicts(
            Run {
                intake: Some(&intake),
                ..Run::default()
            },
            200.0,
        );
        assert!(
            v.iter().all(|v| v.met.is_none()),
            "no baselines, no partner, another rate: {v:?}"
        );
    }
}
