//! One target's run: memory at rest, a warm-up, latency at the offered rate (with delivery lag
//! where there is a partner), then throughput at a fixed concurrency.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::cpu::CpuTimes;
use crate::load::{Sample, Target, closed_loop, open_loop};
use crate::memory::{PeakSampler, resident_kib};
use crate::partner::Partner;
use crate::stats::Summary;

/// How hard and how long to push each target.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Referrals per second offered in the latency phase.
    pub rate: f64,
    /// Length of the latency phase.
    pub latency_for: Duration,
    /// Clients posting back to back in the throughput phase.
    pub concurrency: usize,
    /// Length of the throughput phase.
    pub throughput_for: Duration,
    /// Unrecorded load first, so connections, caches and the allocator are warm.
    pub warmup_for: Duration,
    /// How long to wait for deliveries to reach the partner after a phase.
    pub delivery_timeout: Duration,
}

/// Latency and errors of one phase.
#[derive(Debug, Clone)]
pub struct Phase {
    /// Successful requests' latencies.
    pub latency: Option<Summary>,
    /// Created per second.
    pub per_second: f64,
    /// Requests that did not get a 201, by status (`None`: no answer).
    pub errors: BTreeMap<Option<u16>, usize>,
    /// Peak resident memory of the server during the phase, KiB.
    pub peak_kib: u64,
    /// Share of the whole machine's CPU time that was busy during the phase (every process:
    /// the target, its database, the load generator, the partner).
    pub cpu_busy: Option<f64>,
}

impl Phase {
    fn of(samples: &[Sample], per_second: f64, peak_kib: u64, cpu_busy: Option<f64>) -> Self {
        let mut errors = BTreeMap::new();
        for s in samples.iter().filter(|s| !s.ok()) {
            *errors.entry(s.status).or_insert(0) += 1;
        }
        Self {
            latency: Summary::of(
                samples
                    .iter()
                    .filter(|s| s.ok())
                    .map(|s| s.latency)
                    .collect(),
            ),
            per_second,
            errors,
            peak_kib,
            cpu_busy,
        }
    }

    /// Requests that failed.
    pub fn error_count(&self) -> usize {
        self.errors.values().sum()
    }
}

/// From the 201 to the partner's receipt, for the referrals of the latency phase.
#[derive(Debug, Clone)]
pub struct DeliveryLag {
    /// Referrals created.
    pub expected: usize,
    /// Of those, received by the partner before the timeout.
    pub delivered: usize,
    /// Lags of the delivered ones.
    pub lag: Option<Summary>,
    /// Delivered before the client had read its 201 (lag counted as zero).
    pub before_answer: usize,
    /// After the throughput phase: from its end until the partner had every referral.
    pub backlog_drained_in: Option<Duration>,
    /// The throughput phase's referrals taken in and delivered per second: those created,
    /// over the time from its start until the partner had the last of them.
    pub end_to_end_per_second: Option<f64>,
}

/// Everything measured of one target.
#[derive(Debug, Clone)]
pub struct TargetFigures {
    /// `signpost`, `bare`, `sqlite`.
    pub name: &'static str,
    /// Resident memory after start, before any load, KiB.
    pub rest_kib: u64,
    /// The open-loop phase.
    pub at_rate: Phase,
    /// The closed-loop phase.
    pub max: Phase,
    /// Signpost only.
    pub delivery: Option<DeliveryLag>,
}

/// Waits until the partner has every created referral of `samples`, or `timeout` passes; when the last arrived.
async fn await_deliveries(
    partner: &Partner,
    samples: &[Sample],
    timeout: Duration,
) -> Option<Instant> {
    let ids: Vec<&str> = samples
        .iter()
        .filter_map(|s| s.created.as_deref())
        .collect();
    let deadline = Instant::now() + timeout;
    loop {
        let arrivals: Option<Vec<Instant>> = ids.iter().map(|id| partner.received(id)).collect();
        if let Some(arrivals) = arrivals {
            return arrivals.into_iter().max();
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn lag_of(partner: &Partner, samples: &[Sample]) -> DeliveryLag {
    let created: Vec<(&str, Instant)> = samples
        .iter()
        .filter_map(|s| Some((s.created.as_deref()?, s.done)))
        .collect();
    let mut lags = Vec::with_capacity(created.len());
    let mut before_answer = 0;
    for (id, answered) in &created {
        if let Some(received) = partner.received(id) {
            if received < *answered {
                before_answer += 1;
            }
            lags.push(received.saturating_duration_since(*answered));
        }
    }
    DeliveryLag {
        expected: created.len(),
        delivered: lags.len(),
        lag: Summary::of(lags),
        before_answer,
        backlog_drained_in: None,
        end_to_end_per_second: None,
    }
}

/// The machine's busy share since `earlier` (read at a phase's start).
fn busy_since(earlier: Option<CpuTimes>) -> Option<f64> {
    CpuTimes::now()?.busy_since(&earlier?)
}

/// Runs the plan against one target; `partner` receives its deliveries, if it makes any.
pub async fn measure(
    http: &reqwest::Client,
    target: &Target,
    plan: &Plan,
    partner: Option<&Partner>,
) -> TargetFigures {
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rest_kib = resident_kib(target.pid).unwrap_or(0);
    eprintln!("  {}: warm-up {:?}", target.name, plan.warmup_for);
    let warm = closed_loop(http, target, 4, plan.warmup_for).await;
    if let Some(partner) = partner {
        // The warm-up's deliveries must not overlap the measured ones.
        await_deliveries(partner, &warm.samples, plan.delivery_timeout).await;
    }

    eprintln!(
        "  {}: {} referrals/s offered for {:?}",
        target.name, plan.rate, plan.latency_for
    );
    let sampler = PeakSampler::start(target.pid);
    let cpu = CpuTimes::now();
    let open = open_loop(http, target, plan.rate, plan.latency_for).await;
    let at_rate = Phase::of(
        &open.samples,
        open.achieved_rate(),
        sampler.finish().await,
        busy_since(cpu),
    );
    let delivery = match partner {
        Some(partner) => {
            await_deliveries(partner, &open.samples, plan.delivery_timeout).await;
            Some(lag_of(partner, &open.samples))
        }
        None => None,
    };

    eprintln!(
        "  {}: {} clients back to back for {:?}",
        target.name, plan.concurrency, plan.throughput_for
    );
    let sampler = PeakSampler::start(target.pid);
    let cpu = CpuTimes::now();
    let closed = closed_loop(http, target, plan.concurrency, plan.throughput_for).await;
    let max = Phase::of(
        &closed.samples,
        closed.throughput(),
        sampler.finish().await,
        busy_since(cpu),
    );
    let delivery = match (partner, delivery) {
        (Some(partner), Some(mut lag)) => {
            let ended = closed
                .samples
                .iter()
                .map(|s| s.done)
                .max()
                .unwrap_or_else(Instant::now);
            let last = await_deliveries(partner, &closed.samples, plan.delivery_timeout).await;
            lag.backlog_drained_in = last.map(|last| last.saturating_duration_since(ended));
            let created = closed.samples.iter().filter(|s| s.ok()).count();
            lag.end_to_end_per_second = last.map(|last| {
                let took = last.saturating_duration_since(closed.started);
                created as f64 / took.as_secs_f64().max(f64::EPSILON)
            });
            Some(lag)
        }
        (_, lag) => lag,
    };
    TargetFigures {
        name: target.name,
        rest_kib,
        at_rate,
        max,
        delivery,
    }
}
