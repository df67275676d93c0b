//! `signpost-bench`: drives the same bounded load from 127.0.0.1 at a release Signpost (SQLite
//! store, tokens checked, full validation) and at two baselines started in the same run, and
//! reports Signpost's figures as ratios to them; with Node, also to
//! Medplum's validating fhir-router as a peer. Results: `tests/bench/RESULTS.md`.

mod baseline;
mod cold_start;
mod load;
mod machine;
mod measure;
mod medplum;
mod memory;
mod partner;
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
use crate::load::Target;
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
        /// Database file (sqlite baseline).
        #[arg(long)]
        db: PathBuf,
    },
}

/// Starts a baseline in a child process of this same binary.
async fn start_baseline(kind: Kind, dir: &std::path::Path) -> anyhow::Result<ServerProcess> {
    let port = free_port()?;
    let mut command = Command::new(std::env::current_exe()?);
    command
        .args(["baseline", "--kind", kind.name(), "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--db")
        .arg(dir.join(format!("{}.db", kind.name())))
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

async fn run(args: RunArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.signpost.is_file(),
        "no signpost binary at {} (build it with `cargo build --release -p signpost-gateway`, or pass --signpost PATH)",
        args.signpost.display()
    );
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

    if !args.signpost_only {
        for kind in [Kind::Bare, Kind::Sqlite] {
            eprintln!("{}:", kind.name());
            let server = start_baseline(kind, dir.path()).await?;
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

    let cold = if args.cold_starts > 0 {
        eprintln!("signpost cold starts:");
        Some(cold_start::measure(&args.signpost, dir.path(), args.cold_starts).await?)
    } else {
        None
    };

    eprintln!("signpost ({}):", args.signpost.display());
    let partner = Partner::start().await?;
    let signpost_dir = dir.path().join("signpost");
    std::fs::create_dir_all(&signpost_dir)?;
    let mut signpost = Signpost::start(&args.signpost, &signpost_dir, partner.url())
        .await
        .with_context(|| format!("log: {}", signpost_dir.join("signpost.log").display()))?;
    let target = Target::new(
        "signpost",
        signpost.intake_url(),
        Some(signpost.authorization.clone()),
        signpost.process.pid,
        referrals.clone(),
    );
    figures.push(measure(&http, &target, &plan, Some(&partner)).await);
    if !signpost.process.stop() {
        eprintln!("warning: signpost did not stop cleanly on SIGTERM");
    }

    let mut markdown = report::markdown(&figures, &plan, &machine, &command)?;
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Sub::Baseline { kind, listen, db }) => baseline::serve(kind, &listen, &db).await,
        None => run(cli.run).await,
    }
}
