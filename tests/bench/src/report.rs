//! The run as markdown: the figures, Signpost's ratios to both baselines and the Medplum peer,
//! the targets, the command and the machine. Printed, and written to a file when asked.

use std::fmt::Write;
use std::time::Duration;

use crate::machine::Machine;
use crate::measure::{Phase, Plan, TargetFigures};
use crate::memory::mib;
use crate::stats::{ms, ratio};
use crate::targets::{Run, verdicts};

fn millis(d: Option<Duration>) -> String {
    d.map_or("–".into(), |d| format!("{:.2}", ms(d)))
}

fn percent(share: Option<f64>) -> String {
    share.map_or("–".into(), |s| format!("{:.0}%", s * 100.0))
}

fn times(r: Option<f64>) -> String {
    r.map_or("–".into(), |r| format!("{r:.2}×"))
}

fn errors(phase: &Phase) -> String {
    if phase.errors.is_empty() {
        return "0".into();
    }
    phase
        .errors
        .iter()
        .map(|(status, n)| match status {
            Some(s) => format!("{n}× {s}"),
            None => format!("{n}× no answer"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Ratio of Signpost's figure to a baseline's, as `a / b` where `figure` picks it.
fn vs(
    signpost: &TargetFigures,
    baseline: Option<&TargetFigures>,
    figure: impl Fn(&TargetFigures) -> Option<f64>,
) -> String {
    times(ratio(figure(signpost), baseline.and_then(&figure)))
}

/// Picks one figure of a target, for a ratio row.
type Figure = fn(&TargetFigures) -> Option<f64>;

/// The whole report.
pub fn markdown(
    figures: &[TargetFigures],
    plan: &Plan,
    machine: &Machine,
    command: &str,
) -> Result<String, std::fmt::Error> {
    let find = |name: &str| figures.iter().find(|f| f.name == name);
    let (signpost, delivering, bare, sqlite, medplum) = (
        find("signpost"),
        find("signpost-delivering"),
        find("bare"),
        find("sqlite"),
        find("medplum"),
    );
    let mut out = String::new();
    writeln!(out, "### Run of {}", machine.date)?;
    writeln!(out)?;
    writeln!(out, "- command: `{command}`")?;
    writeln!(
        out,
        "- machine: {} cores, {} , {:.0} GiB, Linux {}; commit {}",
        machine.cores, machine.cpu, machine.memory_gib, machine.kernel, machine.commit
    )?;
    writeln!(
        out,
        "- load: warm-up {:?} at 4 clients; latency: {} referrals/s offered for {:?} (open loop); \
         throughput: {} clients back to back for {:?} (closed loop); from 127.0.0.1, same process for every target",
        plan.warmup_for, plan.rate, plan.latency_for, plan.concurrency, plan.throughput_for
    )?;
    writeln!(out)?;
    if figures.is_empty() {
        // `--postgres-only`: the PostgreSQL section follows.
        return Ok(out);
    }

    writeln!(
        out,
        "**Intake throughput** ({} clients, {:?})\n",
        plan.concurrency, plan.throughput_for
    )?;
    writeln!(
        out,
        "| target | referrals/s | p50 ms | p99 ms | not 201 | peak RSS MiB | machine's CPU busy |"
    )?;
    writeln!(out, "|---|---:|---:|---:|---|---:|---:|")?;
    for f in figures {
        writeln!(
            out,
            "| {} | {:.0} | {} | {} | {} | {:.1} | {} |",
            f.name,
            f.max.per_second,
            millis(f.max.latency.map(|l| l.p50)),
            millis(f.max.latency.map(|l| l.p99)),
            errors(&f.max),
            mib(f.max.peak_kib),
            percent(f.max.cpu_busy)
        )?;
    }
    writeln!(
        out,
        "\n`signpost`: intake alone (its link worker polls, so no partner shares the cores); \
         `signpost-delivering`: the same with a `fhir-rest` partner on the same cores receiving \
         every referral. \"Machine's CPU busy\": every core, every process (target, load \
         generator, partner, database), from `/proc/stat`."
    )?;
    writeln!(out)?;

    writeln!(
        out,
        "**Latency at {} referrals/s offered** ({:?}, from when each request was due)\n",
        plan.rate, plan.latency_for
    )?;
    writeln!(
        out,
        "| target | achieved/s | p50 ms | p95 ms | p99 ms | max ms | not 201 | RSS at rest MiB | peak RSS MiB | machine's CPU busy |"
    )?;
    writeln!(out, "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|")?;
    for f in figures {
        let l = f.at_rate.latency;
        writeln!(
            out,
            "| {} | {:.0} | {} | {} | {} | {} | {} | {:.1} | {:.1} | {} |",
            f.name,
            f.at_rate.per_second,
            millis(l.map(|l| l.p50)),
            millis(l.map(|l| l.p95)),
            millis(l.map(|l| l.p99)),
            millis(l.map(|l| l.max)),
            errors(&f.at_rate),
            mib(f.rest_kib),
            mib(f.at_rate.peak_kib),
            percent(f.at_rate.cpu_busy)
        )?;
    }
    writeln!(out)?;

    if let Some(s) = signpost {
        writeln!(
            out,
            "**Signpost (intake alone) as a ratio to each baseline and the Medplum peer** (– when not run)\n"
        )?;
        writeln!(out, "| figure | ÷ bare | ÷ sqlite | ÷ medplum |")?;
        writeln!(out, "|---|---:|---:|---:|")?;
        let rows: [(&str, Figure); 6] = [
            ("intake throughput (higher is better)", |f| {
                Some(f.max.per_second)
            }),
            ("p50 at the offered rate", |f| {
                f.at_rate.latency.map(|l| ms(l.p50))
            }),
            ("p99 at the offered rate", |f| {
                f.at_rate.latency.map(|l| ms(l.p99))
            }),
            ("p99 at full throughput", |f| {
                f.max.latency.map(|l| ms(l.p99))
            }),
            ("RSS at rest", |f| Some(mib(f.rest_kib))),
            ("peak RSS at the offered rate", |f| {
                Some(mib(f.at_rate.peak_kib))
            }),
        ];
        for (name, figure) in rows {
            writeln!(
                out,
                "| {name} | {} | {} | {} |",
                vs(s, bare, figure),
                vs(s, sqlite, figure),
                vs(s, medplum, figure)
            )?;
        }
        writeln!(out)?;
    }

    if let Some(d) = delivering.and_then(|f| f.delivery.as_ref()) {
        writeln!(
            out,
            "**Delivery lag** (Signpost's 201 read by the client → the `fhir-rest` partner's receipt, \
                 referrals of the {}/s phase)\n",
            plan.rate
        )?;
        writeln!(
            out,
            "| delivered | p50 ms | p99 ms | max ms | delivered before the 201 was read | backlog after the throughput phase drained in |"
        )?;
        writeln!(out, "|---:|---:|---:|---:|---:|---:|")?;
        writeln!(
            out,
            "| {}/{} | {} | {} | {} | {} | {} |",
            d.delivered,
            d.expected,
            millis(d.lag.map(|l| l.p50)),
            millis(d.lag.map(|l| l.p99)),
            millis(d.lag.map(|l| l.max)),
            d.before_answer,
            d.backlog_drained_in
                .map_or("not within the timeout".into(), |t| format!(
                    "{:.2} s",
                    t.as_secs_f64()
                ))
        )?;
        writeln!(out)?;
        writeln!(
            out,
            "Taken in and delivered, end to end: {} referrals/s (the throughput phase's \
                 referrals over the time from its start until the partner had the last of them).\n",
            d.end_to_end_per_second
                .map_or("–".into(), |r| format!("{r:.0}"))
        )?;
    }

    if signpost.is_some() || delivering.is_some() {
        writeln!(
            out,
            "**Targets** (SQLite store, auth on, full validation)\n"
        )?;
        writeln!(out, "| target | measured | met |")?;
        writeln!(out, "|---|---:|---|")?;
        let run = Run {
            intake: signpost,
            delivering,
            sqlite,
            medplum,
        };
        for v in verdicts(run, plan.rate) {
            let met = match v.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "not measured in this run",
            };
            writeln!(out, "| {} | {} | {met} |", v.target, v.measured)?;
        }
    }
    Ok(out)
}

/// Statements Signpost sent for referrals posted one at a time, each delivered before the next.
#[derive(Debug, Clone, Copy)]
pub struct StatementCount {
    /// Referrals created.
    pub referrals: usize,
    /// Logged while each POST was answered: its intake (and any delivery work begun meanwhile).
    pub during_post: crate::postgres::Statements,
    /// Logged from each 201 to the next POST: its delivery, and the worker's polls.
    pub after_post: crate::postgres::Statements,
}

/// What the PostgreSQL targets cost the database, beside their figures (which are in `figures`).
#[derive(Default)]
pub struct PostgresFigures {
    /// The targets' figures, in the order run.
    pub targets: Vec<TargetFigures>,
    /// Each target's database counters over its whole life (start, warm-up, both phases).
    pub costs: Vec<(&'static str, crate::postgres::Cost)>,
    /// Signpost's statements per referral.
    pub statements: Option<StatementCount>,
}

/// The PostgreSQL section: ratios to the naive insert and between replicas, and the database's
/// cost per referral.
pub fn postgres(pg: Option<&PostgresFigures>) -> Result<String, std::fmt::Error> {
    let mut out = String::new();
    let Some(pg) = pg else {
        return Ok(out);
    };
    let find = |name: &str| pg.targets.iter().find(|f| f.name == name);
    writeln!(out)?;
    writeln!(
        out,
        "**PostgreSQL** (one server; each target a database of its own; Signpost intake alone, its link worker polling, or `-delivering` to a `fhir-rest` partner on the same cores; one or two replicas on one database, requests in turn)\n"
    )?;
    writeln!(
        out,
        "| target | referrals/s | p50 ms | p99 ms | not 201 | machine's CPU busy | p99 ms at the offered rate | not 201 at the offered rate |"
    )?;
    writeln!(out, "|---|---:|---:|---:|---|---:|---:|---|")?;
    for f in &pg.targets {
        writeln!(
            out,
            "| {} | {:.0} | {} | {} | {} | {} | {} | {} |",
            f.name,
            f.max.per_second,
            millis(f.max.latency.map(|l| l.p50)),
            millis(f.max.latency.map(|l| l.p99)),
            errors(&f.max),
            percent(f.max.cpu_busy),
            millis(f.at_rate.latency.map(|l| l.p99)),
            errors(&f.at_rate),
        )?;
    }
    writeln!(out)?;
    let throughput = |name: &str| find(name).map(|f| f.max.per_second);
    writeln!(out, "| ratio | measured | target |")?;
    writeln!(out, "|---|---:|---:|")?;
    let rows = [
        (
            "Signpost on PostgreSQL, intake alone ÷ naive PostgreSQL insert",
            "signpost-pg",
            "pg",
            "≥ 0.80×",
        ),
        (
            "two replicas ÷ one, intake alone",
            "signpost-pg-x2",
            "signpost-pg",
            "≥ 1.50×",
        ),
        (
            "Signpost on PostgreSQL, delivering ÷ naive PostgreSQL insert",
            "signpost-pg-delivering",
            "pg",
            "–",
        ),
        (
            "two replicas ÷ one, delivering",
            "signpost-pg-x2-delivering",
            "signpost-pg-delivering",
            "–",
        ),
    ];
    for (what, value, baseline, target) in rows {
        writeln!(
            out,
            "| {what} | {} | {target} |",
            times(ratio(throughput(value), throughput(baseline)))
        )?;
    }
    writeln!(out)?;

    writeln!(
        out,
        "**Database cost per referral** (`pg_stat_database` of each target's database over its whole life, read after its processes stopped; Signpost's include delivering each referral; \"one at a time\": {} referrals posted one after another, Signpost's each delivered before the next, so statements do not queue for the CPU)\n",
        pg.statements.map_or(0, |s| s.referrals)
    )?;
    writeln!(
        out,
        "| target | referrals stored | transactions committed | rolled back | rows written | server time executing statements, ms |"
    )?;
    writeln!(out, "|---|---:|---:|---:|---:|---:|")?;
    let each = |cost: &crate::postgres::Cost, value: f64| {
        cost.per_referral(value)
            .map_or("–".into(), |v| format!("{v:.2}"))
    };
    for (name, cost) in &pg.costs {
        writeln!(
            out,
            "| {name} | {} | {} | {} | {} | {} |",
            cost.referrals,
            each(cost, cost.commits as f64),
            each(cost, cost.rollbacks as f64),
            each(cost, cost.rows_written as f64),
            each(cost, cost.active.as_secs_f64() * 1000.0),
        )?;
    }
    writeln!(out)?;
    if let Some(s) = &pg.statements {
        let per = |n: usize| {
            if s.referrals == 0 {
                "–".to_owned()
            } else {
                format!("{:.2}", n as f64 / s.referrals as f64)
            }
        };
        writeln!(
            out,
            "**Signpost's statements per referral** ({} referrals posted one at a time, each delivered before the next; counted from its `sqlx::query` log lines; the naive insert sends 3: BEGIN, INSERT, COMMIT)\n",
            s.referrals
        )?;
        writeln!(
            out,
            "| while the POST was answered | after the 201, until the next POST | total |"
        )?;
        writeln!(out, "|---:|---:|---:|")?;
        writeln!(
            out,
            "| {} | {} | {} |",
            per(s.during_post.count),
            per(s.after_post.count),
            per(s.during_post.count + s.after_post.count)
        )?;
    }
    Ok(out)
}
