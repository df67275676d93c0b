//! `signpost-bench`: drives the same bounded load from 127.0.0.1 at a release Signpost (SQLite
//! store, tokens checked, full validation) and at two baselines started in the same run, and
//! reports Signpost's figures as ratios to them; with Node, also to
//! Medplum's validating fhir-router as a peer. Results: `tests/bench/RESULTS.md`.

mod baseline;
mod cold_start;
mod cpu;
mod load;
mod machine;
mod measure;
mod medplum;
mod memory;
mod partner;
mod postgres;
mod process;
mod referrals;
mod report;
mod signpost;
mod stats;
mod targets;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::baseline::Kind;
use crate::load::{Endpoint, Target};
use crate::measure::{Plan, TargetFigures, measure};
use crate::partner::Partner;
use crate::process::{ServerProcess, free_port};
use crate::referrals::Referrals;
use crate::signpost::Signpost;

#[derive(Parser)]
#[command(
    name = "signpost-bench",
    about = "Measure Signpost against a bare axum handler and a SQLite append"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Sub>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(clap::Args)]
struct RunArgs {
    /// The release `signpost` binary to measure.
    #[arg(long, default_value = "target/release/signpost")]
    signpost: PathBuf,
    /// Referrals per second offered in the latency phase.
    #[arg(long, default_value_t = 500.0)]
    rate: f64,
    /// Seconds of the latency phase.
    #[arg(long, default_value_t = 15)]
    latency_seconds: u64,
    /// Clients posting back to back in the throughput phase.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Seconds of the throughput phase.
    #[arg(long, default_value_t = 10)]
    throughput_seconds: u64,
    /// Seconds of unrecorded warm-up per target.
    #[arg(long, default_value_t = 2)]
    warmup_seconds: u64,
    /// Measure only Signpost (for profiling); no ratios.
    #[arg(long)]
    signpost_only: bool,
    /// Also write the markdown report to this file.
    #[arg(long)]
    markdown: Option<PathBuf>,
    /// The Medplum peer's directory (`server.mjs`, `node_modules`); skipped when not installed.
    #[arg(long, default_value_os_t = medplum::default_dir())]
    medplum: PathBuf,
    /// Cold starts of Signpost to time (each a first start and a restart); 0 skips them.
    #[arg(long, default_value_t = 5)]
    cold_starts: usize,
    /// Keep the working directory (Signpost's log and database) and print where it is.
    #[arg(long)]
    keep: bool,
    /// A PostgreSQL server (a `postgres://` URL of a database to administer it from): also
    /// measure a naive PostgreSQL insert and Signpost on PostgreSQL with one and two replicas,
    /// each in a database of its own there.
    #[arg(long)]
    postgres: Option<String>,
    /// With `--postgres`: measure only the PostgreSQL targets.
    #[arg(long, requires = "postgres")]
    postgres_only: bool,
    /// With `--postgres`: referrals posted one at a time to count Signpost's statements per referral.
    #[arg(long, default_value_t = 200)]
    statement_sample: u64,
}

#[derive(Subcommand)]
enum Sub {
    /// Serve one baseline until killed (the harness starts these itself).
    #[command(hide = true)]
    Baseline {
        /// Which baseline.
        #[arg(long, value_enum)]
        kind: Kind,
        /// Address to listen on.
        #[arg(long)]
        listen: String,
        /// Database file (sqlite baseline), or URL (pg baseline).
        #[arg(long)]
        db: PathBuf,
    },
}

/// Starts a baseline in a child process of this same binary, on the database `db` (a file, or
/// a URL).
async fn start_baseline(kind: Kind, db: &std::ffi::OsStr) -> anyhow::Result<ServerProcess> {
    let port = free_port()?;
    let mut command = Command::new(std::env::current_exe()?);
    command
        .args(["baseline", "--kind", kind.name(), "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--db")
        .arg(db)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    ServerProcess::start(command, port, kind.name()).await
}

fn http_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(1024)
        .build()?)
}

async fn run(mut args: RunArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.signpost.is_file(),
        "no signpost binary at {} (build it with `cargo build --release -p signpost-gateway`, or pass --signpost PATH)",
        args.signpost.display()
    );
    // Signpost starts in a directory of its own, where a relative path would not name it.
    args.signpost = std::fs::canonicalize(&args.signpost)?;
    anyhow::ensure!(
        args.rate > 0.0 && args.concurrency > 0,
        "--rate and --concurrency must be positive"
    );
    let machine = machine::Machine::describe();
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let plan = Plan {
        rate: args.rate,
        latency_for: Duration::from_secs(args.latency_seconds),
        concurrency: args.concurrency,
        throughput_for: Duration::from_secs(args.throughput_seconds),
        warmup_for: Duration::from_secs(args.warmup_seconds),
        delivery_timeout: Duration::from_secs(60),
    };
    let dir = tempfile::Builder::new()
        .prefix("signpost-bench-")
        .tempdir()?;
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let referrals = Arc::new(Referrals::new(&run_id)?);
    let http = http_client()?;
    let mut figures: Vec<TargetFigures> = Vec::new();

    if !args.signpost_only && !args.postgres_only {
        for kind in [Kind::Bare, Kind::Sqlite] {
            eprintln!("{}:", kind.name());
            let db = dir.path().join(format!("{}.db", kind.name()));
            let server = start_baseline(kind, db.as_os_str()).await?;
            let target = Target::new(
                kind.name(),
                format!("{}/fhir/ServiceRequest", server.base),
                None,
                server.pid,
                referrals.clone(),
            );
            figures.push(measure(&http, &target, &plan, None).await);
        }
        let node = medplum::find_on_path("node", std::env::var_os("PATH").as_deref());
        match medplum::availability(node, &args.medplum) {
            medplum::Availability::Ready { node, script } => {
                eprintln!("medplum:");
                let mut server = medplum::start(&node, &script).await?;
                let target = Target::new(
                    "medplum",
                    format!("{}/fhir/ServiceRequest", server.base),
                    None,
                    server.pid,
                    referrals.clone(),
                );
                figures.push(measure(&http, &target, &plan, None).await);
                if !server.stop() {
                    eprintln!("warning: the medplum peer did not stop cleanly on SIGTERM");
                }
            }
            medplum::Availability::Skipped(why) => {
                eprintln!("medplum: skipped: {why}");
            }
        }
    }

    let mut postgres_figures = None;
    if let Some(url) = &args.postgres {
        postgres_figures = Some(
            measure_postgres(&args, url, &run_id, dir.path(), &http, &referrals, &plan).await?,
        );
    }
    if args.postgres_only {
        let markdown = report::markdown(&figures, &plan, &machine, &command)?
            + &report::postgres(postgres_figures.as_ref())?;
        println!("{markdown}");
        if let Some(path) = &args.markdown {
            std::fs::write(path, &markdown)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        if args.keep {
            eprintln!("kept {}", dir.keep().display());
        }
        return Ok(());
    }

    let cold = if args.cold_starts > 0 {
        eprintln!("signpost cold starts:");
        Some(cold_start::measure(&args.signpost, dir.path(), args.cold_starts).await?)
    } else {
        None
    };

    // Intake alone (the link worker polls: nothing shares the CPU with intake but the load
    // generator), then with a `fhir-rest` partner on the same cores receiving every referral.
    for (name, with_partner) in [("signpost", false), ("signpost-delivering", true)] {
        eprintln!("{name} ({}):", args.signpost.display());
        let partner = Partner::start_if(with_partner).await?;
        let signpost_dir = dir.path().join(name);
        std::fs::create_dir_all(&signpost_dir)?;
        let mut signpost = Signpost::start(
            &args.signpost,
            &signpost_dir,
            partner.as_ref().map(Partner::url),
            "sqlite://signpost.db",
            None,
        )
        .await
        .with_context(|| format!("log: {}", signpost_dir.join("signpost.log").display()))?;
        let target = Target::new(
            name,
            signpost.intake_url(),
            Some(signpost.authorization.clone()),
            signpost.process.pid,
            referrals.clone(),
        );
        figures.push(measure(&http, &target, &plan, partner.as_ref()).await);
        if !signpost.process.stop() {
            eprintln!("warning: {name} did not stop cleanly on SIGTERM");
        }
    }

    let mut markdown = report::markdown(&figures, &plan, &machine, &command)?;
    if postgres_figures.is_some() {
        markdown += &report::postgres(postgres_figures.as_ref())?;
    }
    if let Some(cold) = &cold {
        markdown.push('\n');
        markdown.push_str(&cold_start::markdown(cold));
    }
    println!("{markdown}");
    if let Some(path) = &args.markdown {
        std::fs::write(path, &markdown).with_context(|| format!("writing {}", path.display()))?;
    }
    if args.keep {
        eprintln!("kept {}", dir.keep().display());
    }
    Ok(())
}

/// The `sqlx::query` filter that makes Signpost log each statement it sends.
const LOG_STATEMENTS: &str = "info,sqlx=warn,sqlx::query=debug";

/// Starts `replicas` Signposts on one PostgreSQL database, each in a directory of its own under
/// `dir` with its own token, delivering to `partner` if there is one.
async fn start_replicas(
    binary: &std::path::Path,
    dir: &std::path::Path,
    name: &str,
    partner: Option<&Partner>,
    store_url: &str,
    replicas: usize,
    log: Option<&str>,
) -> anyhow::Result<Vec<Signpost>> {
    let mut started = Vec::new();
    for n in 1..=replicas {
        let replica_dir = dir.join(format!("{name}-{n}"));
        std::fs::create_dir_all(&replica_dir)?;
        // One at a time: the first applies the migrations the others then find applied.
        let signpost = Signpost::start(
            binary,
            &replica_dir,
            partner.map(Partner::url),
            store_url,
            log,
        )
        .await
        .with_context(|| format!("log: {}", replica_dir.join("signpost.log").display()))?;
        started.push(signpost);
    }
    Ok(started)
}

/// A target posting to every replica in turn.
fn replicas_target(
    name: &'static str,
    replicas: &[Signpost],
    referrals: &Arc<Referrals>,
) -> Target {
    let endpoints = replicas
        .iter()
        .map(|s| Endpoint {
            url: s.intake_url(),
            authorization: Some(s.authorization.clone()),
        })
        .collect();
    Target::replicated(name, endpoints, replicas[0].process.pid, referrals.clone())
}

/// Stops the replicas, warning of any that did not stop cleanly.
fn stop_all(replicas: &mut [Signpost]) {
    for s in replicas {
        if !s.process.stop() {
            eprintln!("warning: a signpost replica did not stop cleanly on SIGTERM");
        }
    }
}

/// Counts ServiceRequests in a Signpost database.
const SIGNPOST_REFERRALS: &str =
    "SELECT COUNT(*) FROM resources WHERE resource_type = 'ServiceRequest'";

/// The PostgreSQL targets: a naive insert, Signpost with one replica and with two, then Signpost's
/// statements per referral counted from its log while referrals are posted one at a time.
async fn measure_postgres(
    args: &RunArgs,
    url: &str,
    run_id: &str,
    dir: &std::path::Path,
    http: &reqwest::Client,
    referrals: &Arc<Referrals>,
    plan: &Plan,
) -> anyhow::Result<report::PostgresFigures> {
    let server = postgres::Server::connect(url, run_id).await?;
    let measured = postgres_targets(args, &server, dir, http, referrals, plan).await;
    // Whatever happened, the run's databases go.
    server.drop_all().await?;
    measured
}

/// The PostgreSQL targets, each in a database of its own on `server`.
async fn postgres_targets(
    args: &RunArgs,
    server: &postgres::Server,
    dir: &std::path::Path,
    http: &reqwest::Client,
    referrals: &Arc<Referrals>,
    plan: &Plan,
) -> anyhow::Result<report::PostgresFigures> {
    let mut figures = report::PostgresFigures::default();

    eprintln!("pg:");
    let db = server.create("pg").await?;
    let mut baseline = start_baseline(Kind::Postgres, db.url.as_ref()).await?;
    let target = Target::new(
        "pg",
        format!("{}/fhir/ServiceRequest", baseline.base),
        None,
        baseline.pid,
        referrals.clone(),
    );
    figures
        .targets
        .push(measure(http, &target, plan, None).await);
    baseline.stop();
    figures.costs.push((
        "pg",
        server.cost(&db, "SELECT COUNT(*) FROM referrals").await?,
    ));
    server.drop_database(&db).await?;

    // The same inserts one at a time, so the server's time per referral is not inflated by
    // statements queueing for the CPU.
    let db = server.create("pg_one_at_a_time").await?;
    let mut baseline = start_baseline(Kind::Postgres, db.url.as_ref()).await?;
    let target = Target::new(
        "pg",
        format!("{}/fhir/ServiceRequest", baseline.base),
        None,
        baseline.pid,
        referrals.clone(),
    );
    for _ in 0..args.statement_sample + 20 {
        target.post(http, std::time::Instant::now()).await;
    }
    baseline.stop();
    figures.costs.push((
        "pg, one at a time",
        server.cost(&db, "SELECT COUNT(*) FROM referrals").await?,
    ));
    server.drop_database(&db).await?;

    // Intake alone (the link worker polls), as the SQLite targets; then delivering to a
    // `fhir-rest` partner on the same cores.
    for (name, replicas, with_partner) in [
        ("signpost-pg", 1, false),
        ("signpost-pg-x2", 2, false),
        ("signpost-pg-delivering", 1, true),
        ("signpost-pg-x2-delivering", 2, true),
    ] {
        eprintln!(
            "{name} ({replicas} replica(s), {}):",
            args.signpost.display()
        );
        let db = server.create(name).await?;
        let partner = Partner::start_if(with_partner).await?;
        let mut started = start_replicas(
            &args.signpost,
            dir,
            name,
            partner.as_ref(),
            &db.url,
            replicas,
            None,
        )
        .await?;
        let target = replicas_target(name, &started, referrals);
        figures
            .targets
            .push(measure(http, &target, plan, partner.as_ref()).await);
        stop_all(&mut started);
        figures
            .costs
            .push((name, server.cost(&db, SIGNPOST_REFERRALS).await?));
        server.drop_database(&db).await?;
    }

    eprintln!(
        "signpost-pg: {} referrals one at a time, statements logged",
        args.statement_sample
    );
    let db = server.create("signpost_pg_statements").await?;
    let partner = Partner::start().await?;
    let mut started = start_replicas(
        &args.signpost,
        dir,
        "signpost-pg-statements",
        Some(&partner),
        &db.url,
        1,
        Some(LOG_STATEMENTS),
    )
    .await?;
    let target = replicas_target("signpost-pg-statements", &started, referrals);
    let log = dir.join("signpost-pg-statements-1").join("signpost.log");
    // Warm: the pool's connections open and prepare their statements before the count.
    for _ in 0..20 {
        target.post(http, std::time::Instant::now()).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let log_length = || -> anyhow::Result<usize> { Ok(std::fs::metadata(&log)?.len() as usize) };
    // Each referral is delivered before the next is posted, so the statements logged while its
    // POST was answered are its intake's (and any its delivery began meanwhile), and those logged
    // until the next POST are its delivery's.
    let mut windows = Vec::new();
    let mut created = 0;
    for _ in 0..args.statement_sample {
        let start = log_length()?;
        let sample = target.post(http, std::time::Instant::now()).await;
        windows.push((start, log_length()?));
        if let Some(id) = &sample.created {
            created += 1;
            let deadline = std::time::Instant::now() + plan.delivery_timeout;
            while partner.received(id).is_none() && std::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        // Until the delivery is marked done.
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let end = log_length()?;
    let text = std::fs::read_to_string(&log)?;
    let (mut during, mut after) = (String::new(), String::new());
    for (i, (start, answered)) in windows.iter().enumerate() {
        let next = windows.get(i + 1).map_or(end, |w| w.0);
        during.push_str(text.get(*start..*answered).unwrap_or_default());
        after.push_str(text.get(*answered..next).unwrap_or_default());
    }
    stop_all(&mut started);
    figures.costs.push((
        "signpost-pg, one at a time",
        server.cost(&db, SIGNPOST_REFERRALS).await?,
    ));
    figures.statements = Some(report::StatementCount {
        referrals: created,
        during_post: postgres::statements_in(&during),
        after_post: postgres::statements_in(&after),
    });
    server.drop_database(&db).await?;
    Ok(figures)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Sub::Baseline { kind, listen, db }) => baseline::serve(kind, &listen, &db).await,
        None => run(cli.run).await,
    }
}
