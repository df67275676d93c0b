//! Issue 26: a commissioners' report over 100,000 referrals on SQLite (WAL). Loads a generated
//! population (each referral with its link worker's Task through its statuses, scores, and
//! about half with an onward referral answered by a VCS provider) through the store, then
//! times `report(...)` by practice and by month over the year: cold (the projection built from
//! nothing), then up to date, then after 1,000 more referrals. Prints the figures for
//! tests/bench/RESULTS.md.
//!
//! `cargo bench -p signpost-gateway --bench reports` (`SIGNPOST_BENCH_REFERRALS=N` for another size).

use std::time::Instant as Clock;

use signpost_gateway::config::Config;
use signpost_gateway::sandbox::demo_population;
use signpost_gateway::store::{SqliteStore, Store};
use signpost_gateway::workflow::reports::facts::{RequestFacts, Score, TaskFacts};
use signpost_gateway::workflow::reports::projection::Facts;
use signpost_gateway::workflow::reports::{Dimension, Interval, Projection, ReportQuery, report};
use time::{Duration, OffsetDateTime};

// The allocator the signpost binary runs with (gateway/src/main.rs), so the report is timed as
// it is served.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn config() -> Config {
    let mut toml = String::new();
    for p in 0..10 {
        toml.push_str(&format!(
            "[[organisation]]\nods = \"B8{p:04}\"\nname = \"Practice {p}\"\nrole = \"gp\"\n"
        ));
    }
    for l in 0..2 {
        toml.push_str(&format!(
            "[[organisation]]\nods = \"LWS{l:03}\"\nname = \"Link workers {l}\"\nrole = \"link-worker\"\n"
        ));
    }
    for v in 0..5 {
        toml.push_str(&format!(
            "[[organisation]]\nods = \"VCS{v:03}\"\nname = \"Provider {v}\"\nrole = \"vcs\"\n"
        ));
    }
    toml.push_str("[reports]\n[reports.list_sizes]\n");
    for p in 0..10 {
        toml.push_str(&format!("B8{p:04} = {}\n", 6000 + p * 500));
    }
    for (code, members) in [("U00001", 0..5), ("U00002", 5..10)] {
        let practices: Vec<String> = members.map(|p| format!("\"B8{p:04}\"")).collect();
        toml.push_str(&format!(
            "[[reports.pcn]]\ncode = \"{code}\"\nname = \"{code}\"\npractices = [{}]\n",
            practices.join(", ")
        ));
    }
    Config::from_toml(&toml, |_| None).expect("bench config")
}

fn main() {
    let referrals: u64 = std::env::var("SIGNPOST_BENCH_REFERRALS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&format!(
            "sqlite://{}",
            dir.path().join("bench.db").display()
        ))
        .await
        .expect("store");
        let config = config();
        let started = Clock::now();
        demo_population::load(&store, &config, referrals, 26)
            .await
            .expect("population");
        println!(
            "loaded {referrals} referrals in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        println!("resident memory after loading: {}", resident());
        let today = OffsetDateTime::now_utc().date();
        let to = today.replace_day(1).expect("first") + Duration::days(32);
        let to = to.replace_day(1).expect("first");
        let from = to.replace_year(to.year() - 1).expect("a year back");
        let query = |by| ReportQuery {
            by,
            interval: Interval::Month,
            from,
            to,
            group: None,
        };
        let store: &dyn Store = &store;
        let projection = &Projection::default();
        let timed = |label: &'static str, by| {
            let q = query(by);
            let config = &config;
            async move {
                let started = Clock::now();
                let r = report(store, projection, config, &q).await.expect("report");
                println!(
                    "{label}: {:.3} s ({} groups, {} cells)",
                    started.elapsed().as_secs_f64(),
                    r.groups.len(),
                    r.cells.len()
                );
            }
        };
        timed(
            "cold (projection built from nothing), by practice",
            Dimension::Practice,
        )
        .await;
        timed("up to date, by practice", Dimension::Practice).await;
        timed("up to date, by practice (again)", Dimension::Practice).await;
        timed("up to date, by PCN", Dimension::Pcn).await;
        timed(
            "up to date, by VCS service provider",
            Dimension::VcsOrganisation,
        )
        .await;
        println!("resident memory after the reports: {}", resident());
        let facts = projection.current(store).await.expect("facts");
        println!(
            "the projection's copy in memory: {:.1} MiB ({} ServiceRequests, {} Tasks)",
            kept(&facts) as f64 / 1_048_576.0,
            facts.requests.len(),
            facts.tasks.len()
        );
        demo_population::load(store, &config, 1_000, 27)
            .await
            .expect("more");
        timed(
            "after 1,000 more referrals, by practice",
            Dimension::Practice,
        )
        .await;
    });
}

/// The process's resident set now and at its peak, as Linux reports them.
fn resident() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .map_or("?".to_owned(), |l| l[name.len()..].trim().to_owned())
    };
    format!("{} (peak {})", field("VmRSS:"), field("VmHWM:"))
}

/// Bytes the parsed facts hold: their maps' slots, the boxed records, and every string's and
/// list's heap.
fn kept(facts: &Facts) -> usize {
    use std::mem::size_of;
    let text = |s: &Option<String>| s.as_ref().map_or(0, String::capacity);
    let slot = |entry: usize| entry + size_of::<String>() + 1;
    let requests: usize = facts
        .requests
        .iter()
        .map(|(id, r)| {
            id.capacity()
                + text(&r.based_on)
                + text(&r.requester)
                + text(&r.service)
                + text(&r.birth_date)
                + text(&r.sex)
                + text(&r.person)
                + r.needs.capacity() * size_of::<String>()
                + r.needs.iter().map(String::capacity).sum::<usize>()
        })
        .sum();
    let tasks: usize = facts
        .tasks
        .iter()
        .map(|(id, t)| {
            id.capacity()
                + text(&t.focus)
                + text(&t.part_of)
                + text(&t.owner)
                + t.status.capacity()
                + text(&t.reason)
                + t.scores.capacity() * size_of::<Score>()
        })
        .sum();
    requests
        + tasks
        + facts.requests.capacity() * slot(size_of::<Box<RequestFacts>>())
        + facts.requests.len() * size_of::<RequestFacts>()
        + facts.tasks.capacity() * slot(size_of::<Box<TaskFacts>>())
        + facts.tasks.len() * size_of::<TaskFacts>()
}
