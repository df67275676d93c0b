//! The targets issue 10 sets, checked against a run's figures. The benchmarks report; nothing
//! fails on a miss, and a miss is written down beside the figure.

use std::time::Duration;

use crate::measure::TargetFigures;
use crate::memory::mib;
use crate::stats::{ms, ratio};

/// Signpost's throughput at least this share of the SQLite baseline's.
pub const THROUGHPUT_SHARE_OF_SQLITE: f64 = 0.40;
/// p99 latency at the offered rate below this.
pub const P99_AT_RATE: Duration = Duration::from_millis(25);
/// The offered rate the p99 and memory targets are stated for.
pub const TARGET_RATE: f64 = 500.0;
/// Delivery lag p99 below this.
pub const LAG_P99: Duration = Duration::from_millis(250);
/// Resident memory under the offered load below this many MiB.
pub const RSS_UNDER_LOAD_MIB: f64 = 100.0;

/// One target's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// What is measured, with its limit.
    pub target: String,
    /// The figure measured.
    pub measured: String,
    /// `None` when the run could not tell (a baseline missing, another rate offered).
    pub met: Option<bool>,
}

/// Checks Signpost's figures against the targets, using the SQLite baseline's throughput.
pub fn verdicts(
    signpost: &TargetFigures,
    sqlite: Option<&TargetFigures>,
    rate: f64,
) -> Vec<Verdict> {
    let share = ratio(
        Some(signpost.max.per_second),
        sqlite.map(|s| s.max.per_second),
    );
    let at_target_rate = (rate - TARGET_RATE).abs() < f64::EPSILON;
    let p99 = signpost.at_rate.latency.map(|l| l.p99);
    let lag = signpost
        .delivery
        .as_ref()
        .and_then(|d| d.lag.filter(|_| d.delivered == d.expected))
        .map(|l| l.p99);
    let rss = mib(signpost.at_rate.peak_kib);
    vec![
        Verdict {
            target: format!(
                "intake throughput ≥ {:.0}% of the SQLite baseline",
                THROUGHPUT_SHARE_OF_SQLITE * 100.0
            ),
            measured: share.map_or("–".into(), |s| format!("{:.0}%", s * 100.0)),
            met: share.map(|s| s >= THROUGHPUT_SHARE_OF_SQLITE),
        },
        Verdict {
            target: format!(
                "p99 < {:.0} ms at {TARGET_RATE:.0} referrals/s offered",
                ms(P99_AT_RATE)
            ),
            measured: p99.map_or("–".into(), |p| format!("{:.1} ms", ms(p))),
            met: p99
                .filter(|_| at_target_rate && signpost.at_rate.error_count() == 0)
                .map(|p| p < P99_AT_RATE),
        },
        Verdict {
            target: format!("delivery lag p99 < {:.0} ms", ms(LAG_P99)),
            measured: lag.map_or("– (not every referral delivered)".into(), |p| {
                format!("{:.1} ms", ms(p))
            }),
            met: Some(lag.is_some_and(|p| p < LAG_P99)),
        },
        Verdict {
            target: format!(
                "resident memory < {RSS_UNDER_LOAD_MIB:.0} MiB at {TARGET_RATE:.0} referrals/s"
            ),
            measured: format!("{rss:.1} MiB"),
            met: Some(rss < RSS_UNDER_LOAD_MIB).filter(|_| at_target_rate),
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
        }
    }

    fn figures(name: &'static str, per_second: f64, p99_ms: u64, lag_ms: u64) -> TargetFigures {
        TargetFigures {
            name,
            rest_kib: 10 * 1024,
            at_rate: phase(500.0, p99_ms, 60),
            max: phase(per_second, p99_ms, 80),
            delivery: Some(DeliveryLag {
                expected: 10,
                delivered: 10,
                lag: Summary::of(vec![Duration::from_millis(lag_ms); 10]),
                before_answer: 0,
                backlog_drained_in: None,
            }),
        }
    }

    #[test]
    fn each_target_is_judged_on_its_own_figure() {
        let sqlite = figures("sqlite", 1000.0, 5, 0);
        let met = verdicts(&figures("signpost", 450.0, 20, 100), Some(&sqlite), 500.0);
        assert_eq!(
            met.iter().map(|v| v.met).collect::<Vec<_>>(),
            [Some(true); 4]
        );
        assert_eq!(met[0].measured, "45%");

        let missed = verdicts(&figures("signpost", 350.0, 30, 300), Some(&sqlite), 500.0);
        assert_eq!(
            missed.iter().map(|v| v.met).collect::<Vec<_>>(),
            [Some(false), Some(false), Some(false), Some(true)]
        );
    }

    #[test]
    fn what_the_run_cannot_tell_is_left_open() {
        let signpost = figures("signpost", 450.0, 20, 100);
        let v = verdicts(&signpost, None, 200.0);
        assert_eq!(v[0].met, None, "no baseline");
        assert_eq!(v[1].met, None, "another rate");
        assert_eq!(v[3].met, None, "another rate");
    }
}
