//! Cold start: from spawning the release binary to the first 200 from `/readyz` (the store
//! open and migrated, the delivery worker running), polled every 2 ms. Twice over: the first
//! start in a new directory (the signing and audit keys made, the database created and
//! migrated) and a restart on what that start left.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::bail;

use crate::signpost::prepare;
use crate::stats::ms;

/// How long one start may take before the run gives up on it.
const GIVE_UP_AFTER: Duration = Duration::from_secs(30);

/// Milliseconds to ready, per run, for both kinds of start.
#[derive(Debug, Clone, Default)]
pub struct ColdStarts {
    /// A new directory each run.
    pub first: Vec<f64>,
    /// The same directory started again.
    pub restart: Vec<f64>,
}

/// The median of some figures (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// Starts `binary` `runs` times in new directories under `dir`, and once more in each.
pub async fn measure(binary: &Path, dir: &Path, runs: usize) -> anyhow::Result<ColdStarts> {
    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(2))
        .build()?;
    let mut starts = ColdStarts::default();
    for run in 0..runs {
        let run_dir = dir.join(format!("cold-start-{run}"));
        std::fs::create_dir_all(&run_dir)?;
        // Nothing listens there: the worker has nothing to deliver in a new store.
        let (command, port, _key) = prepare(
            binary,
            &run_dir,
            Some("http://127.0.0.1:9/fhir"),
            "sqlite://signpost.db",
        )?;
        starts
            .first
            .push(ms(time_to_ready(&http, command, port).await?));
        let (command, port, _key) = prepare(
            binary,
            &run_dir,
            Some("http://127.0.0.1:9/fhir"),
            "sqlite://signpost.db",
        )?;
        starts
            .restart
            .push(ms(time_to_ready(&http, command, port).await?));
    }
    Ok(starts)
}

/// Spawns `command` and times it to the first 200 from `/readyz`; then stops it.
async fn time_to_ready(
    http: &reqwest::Client,
    mut command: std::process::Command,
    port: u16,
) -> anyhow::Result<Duration> {
    let url = format!("http://127.0.0.1:{port}/readyz");
    let started = Instant::now();
    let mut child = command.spawn()?;
    let ready = loop {
        if let Some(status) = child.try_wait()? {
            bail!("signpost exited at start with {status}");
        }
        if http
            .get(&url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break started.elapsed();
        }
        if started.elapsed() > GIVE_UP_AFTER {
            signpost_conformance::process::terminate(child);
            bail!("signpost was not ready within {GIVE_UP_AFTER:?}");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    if !signpost_conformance::process::terminate(child) {
        eprintln!("warning: signpost did not stop cleanly on SIGTERM after its cold start");
    }
    Ok(ready)
}

/// The cold-start lines of the report: median, then every run, against the 200 ms target.
pub fn markdown(starts: &ColdStarts) -> String {
    let row = |name: &str, runs: &[f64]| {
        let each: Vec<String> = runs.iter().map(|r| format!("{r:.0}")).collect();
        format!(
            "| {name} | {} | {} |\n",
            median(runs).map_or("–".into(), |m| format!("{m:.0}")),
            each.join(", ")
        )
    };
    let met =
        median(&starts.first)
            .zip(median(&starts.restart))
            .map_or("not measured", |(a, b)| {
                if a.max(b) < ms(TARGET) {
                    "yes"
                } else {
                    "**no**"
                }
            });
    format!(
        "**Cold start** (spawn → first 200 from `/readyz`, polled every 2 ms; target < {:.0} ms: {met})\n\n\
         | start | median ms | each run ms |\n|---|---:|---|\n{}{}",
        ms(TARGET),
        row(
            "first (new directory: keys made, database created)",
            &starts.first
        ),
        row("restart (same directory)", &starts.restart),
    )
}

/// Issue 27's target for a start to `/readyz`.
pub const TARGET: Duration = Duration::from_millis(200);

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn the_median_is_the_middle_or_the_mean_of_the_middle_two() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
    }
}
