//! Issue 26: a known population built through the HTTP API the way partners build it (GP
//! referrals, the link worker accepting, declining and completing with scores, VCS providers
//! answering onward referrals), then every figure of its reports and every suppression checked
//! under both disclosure policies, on SQLite and PostgreSQL.

use reqwest::StatusCode;
use serde_json::{Value, json};
use signpost_gateway::config::Config;
use signpost_gateway::workflow::reports::disclosure::Exact;
use signpost_gateway::workflow::reports::{
    self, Dimension, Disclosed, Figure, Interval, Policy, Projection, Report, ReportQuery,
    disclosure, figures,
};
use signpost_profiles::outcome_measure::{OUTCOME_SYSTEM, TIMEPOINT_EXTENSION};
use time::{Date, OffsetDateTime};

use std::collections::HashMap;

use crate::support::{
    REFERRAL, Setup, TempPostgres, TestGateway, directory_service, import_directory,
};

const ODS: &str = "https://fhir.nhs.uk/Id/ods-organization-code";
const PERSON_DECLINED: &str = "http://snomed.info/sct|871711000000103";
const LONELY: &str = "http://snomed.info/sct|267076002";

fn life() -> String {
    format!("{OUTCOME_SYSTEM}|ons4-life-satisfaction")
}

/// Two practices and an empty third, in two networks; list sizes for all three.
fn extra(policy: &str) -> String {
    format!(
        "[[organisation]]\nods = \"A81003\"\nname = \"Valley Surgery\"\nrole = \"gp\"\n\
         [[route]]\nfrom = \"A81002\"\nto = \"LWS001\"\n\
         [reports]\npolicy = \"{policy}\"\n\
         [reports.list_sizes]\nA81001 = 7000\nA81002 = 5000\nA81003 = 3000\n\
         [[reports.pcn]]\ncode = \"U00001\"\nname = \"Riverside PCN\"\npractices = [\"A81001\"]\n\
         [[reports.pcn]]\ncode = \"U00002\"\nname = \"Hillside and Valley PCN\"\npractices = [\"A81002\", \"A81003\"]\n"
    )
}

/// A valid NHS number (modulus 11 check digit) for person `n`.
fn nhs_number(n: u32) -> String {
    (0..)
        .map(|k| format!("943{:06}", n * 37 + k))
        .find_map(|nine| {
            let sum: u32 = nine
                .chars()
                .zip((2..=10).rev())
                .map(|(c, w)| c.to_digit(10).unwrap_or(0) * w)
                .sum();
            match 11 - sum % 11 {
                11 => Some(format!("{nine}0")),
                10 => None,
                check => Some(format!("{nine}{check}")),
            }
        })
        .expect("a valid number")
}

struct Person {
    nhs: String,
    gender: &'static str,
    birth: &'static str,
}

fn person(n: u32, gender: &'static str, birth: &'static str) -> Person {
    Person {
        nhs: nhs_number(n),
        gender,
        birth,
    }
}

fn referral_for(p: &Person, practice: &str) -> String {
    let mut body: Value = serde_json::from_str(REFERRAL).expect("example");
    body["contained"][0]["identifier"][0]["value"] = json!(p.nhs);
    body["contained"][0]["gender"] = json!(p.gender);
    body["contained"][0]["birthDate"] = json!(p.birth);
    body["subject"]["identifier"]["value"] = json!(p.nhs);
    body["requester"]["identifier"]["value"] = json!(practice);
    body.to_string()
}

fn score(value: i64, timepoint: &str) -> Value {
    json!({
        "extension": [{"url": TIMEPOINT_EXTENSION, "valueCode": timepoint}],
        "type": {"coding": [{"system": OUTCOME_SYSTEM, "code": "ons4-life-satisfaction"}]},
        "valueInteger": value
    })
}

fn version(task: &Value) -> i64 {
    task["meta"]["versionId"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .expect("version")
}

/// Posts a referral as `gp` and returns the link worker's Task.
async fn refer(gw: &TestGateway, gp: &str, practice: &str, p: &Person) -> Value {
    let (status, _, sr) = gw
        .post_as(gp, "ServiceRequest", referral_for(p, practice), &[])
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sr}");
    let id = sr["id"].as_str().expect("id");
    let (_, _, bundle) = gw
        .get_as("riverside-lw", &format!("Task?focus=ServiceRequest/{id}"))
        .await;
    bundle["entry"][0]["resource"].clone()
}

async fn decline(gw: &TestGateway, client: &str, task: &Value, reason: Value) {
    let mut next = task.clone();
    next["status"] = json!("rejected");
    next["statusReason"] = reason;
    let (status, _, body) = gw.put_task(client, &next, Some(version(task))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn complete(gw: &TestGateway, task: &Value, outputs: Vec<Value>) {
    let ops = json!([
        {"op": "replace", "path": "/status", "value": "completed"},
        {"op": "add", "path": "/output", "value": outputs}
    ]);
    let id = task["id"].as_str().expect("id");
    let (status, _, body) = gw.patch_task("riverside-lw", id, &ops, version(task)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Refers onward to the directory's `service`, provided by `vcs`, and returns the provider's Task.
async fn onward(gw: &TestGateway, task: &Value, service: &str, vcs: &str, app: &str) -> Value {
    let sr_id = task["focus"]["reference"]
        .as_str()
        .and_then(|r| r.strip_prefix("ServiceRequest/"))
        .expect("focus");
    let mut body: Value = serde_json::from_str(REFERRAL).expect("example");
    body["requester"] = json!({"identifier": {"system": ODS, "value": "LWS001"}});
    body["performer"] = json!([{"reference": format!("HealthcareService/{service}")}]);
    body["basedOn"] = json!([{"reference": format!("ServiceRequest/{sr_id}")}]);
    body["intent"] = json!("filler-order");
    let (status, _, created) = gw
        .post_as("riverside-lw", "ServiceRequest", body.to_string(), &[])
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (_, _, bundle) = gw
        .get_as(
            app,
            &format!(
                "Task?part-of=Task/{}&owner={vcs}",
                task["id"].as_str().expect("id")
            ),
        )
        .await;
    bundle["entry"][0]["resource"].clone()
}

/// The population (see the figures each test expects):
/// - Riverside (A81001): 14 referrals of 14 people, 9 women born 1948 and 5 men born 1990. The
///   first 10 accepted and completed: person 0 with a baseline score only, persons 1–9 with
///   ONS4 life satisfaction before and after. Person 10 accepted, still in progress; persons
///   11–13 declined (the person declined, SNOMED CT). Persons 1–3 referred onward to the Mill
///   Lane walks (VCS001: two accepted, one declined), person 4 to the debt advice service
///   (VCS002: no answer).
/// - Hillside (A81002): person 0 again, completed with the follow-up score (paired with the
///   baseline of the Riverside referral); person 14 (a woman born 1948) declined without a code.
///
/// Returns the directory's service ids: `walk` and `debt`.
async fn population(gw: &TestGateway) -> HashMap<String, String> {
    let services = import_directory(
        gw,
        vec![
            directory_service(
                "walk",
                "Mill Lane walks",
                "VCS001",
                "walking",
                "LS1 4AP",
                None,
            ),
            directory_service("debt", "Debt advice", "VCS002", "debt", "LS1 4AP", None),
        ],
    )
    .await;
    let women: Vec<Person> = (0..9).map(|n| person(n, "female", "1948-03-14")).collect();
    let men: Vec<Person> = (9..14).map(|n| person(n, "male", "1990-06-01")).collect();
    let people: Vec<&Person> = women.iter().chain(&men).collect();
    let baseline = [4, 2, 3, 3, 4, 4, 4, 5, 6, 6];
    let follow_up = [0, 7, 7, 8, 8, 7, 6, 6, 5, 6];
    for (n, p) in people.iter().enumerate() {
        let task = refer(gw, "riverside-gp", "A81001", p).await;
        if n >= 11 {
            let reason = json!({"coding": [{"system": "http://snomed.info/sct", "code": "871711000000103"}]});
            decline(gw, "riverside-lw", &task, reason).await;
            continue;
        }
        let task = gw.move_task("riverside-lw", &task, "accepted").await;
        let task = gw.move_task("riverside-lw", &task, "in-progress").await;
        if n == 10 {
            continue;
        }
        match n {
            1 | 2 => {
                let vcs = onward(gw, &task, &services["walk"], "VCS001", "walking-app").await;
                gw.move_task("walking-app", &vcs, "accepted").await;
            }
            3 => {
                let vcs = onward(gw, &task, &services["walk"], "VCS001", "walking-app").await;
                decline(gw, "walking-app", &vcs, json!({"text": "Not suitable"})).await;
            }
            4 => {
                onward(gw, &task, &services["debt"], "VCS002", "debt-advice-app").await;
            }
            _ => {}
        }
        let task = latest(gw, &task).await;
        let mut outputs = vec![score(baseline[n], "baseline")];
        if n > 0 {
            outputs.push(score(follow_up[n], "follow-up"));
        }
        complete(gw, &task, outputs).await;
    }
    let again = refer(gw, "hillside-gp", "A81002", &women[0]).await;
    let again = gw.move_task("riverside-lw", &again, "accepted").await;
    let again = gw.move_task("riverside-lw", &again, "in-progress").await;
    complete(gw, &again, vec![score(7, "follow-up")]).await;
    let newcomer = person(14, "female", "1948-03-14");
    let task = refer(gw, "hillside-gp", "A81002", &newcomer).await;
    decline(gw, "riverside-lw", &task, json!({"text": "Moved away"})).await;
    services
}

async fn latest(gw: &TestGateway, task: &Value) -> Value {
    let (_, _, now) = gw
        .get_as(
            "riverside-lw",
            &format!("Task/{}", task["id"].as_str().expect("id")),
        )
        .await;
    now
}

fn this_month() -> (Date, Date) {
    let today = OffsetDateTime::now_utc().date();
    let from = today.replace_day(1).expect("first");
    let to = from.replace_day(28).expect("28th") + time::Duration::days(4);
    (from, to.replace_day(1).expect("first"))
}

fn query(by: Dimension) -> ReportQuery {
    let (from, to) = this_month();
    ReportQuery {
        by,
        interval: Interval::Month,
        from,
        to,
        group: None,
    }
}

fn value(report: &Report, group: &str, figure: Figure, stratum: Option<&str>) -> Disclosed {
    let found: Vec<&Disclosed> = report
        .cells
        .iter()
        .filter(|c| {
            c.group.code == group
                && c.figure == figure
                && c.stratum.as_ref().map(|s| s.code.as_str()) == stratum
        })
        .map(|c| &c.value)
        .collect();
    assert_eq!(found.len(), 1, "{group} {figure:?} {stratum:?}: {found:?}");
    *found[0]
}

use Disclosed::{Count, Number, Suppressed};

/// Every figure of every dimension's report, and that no suppressed cell of any can be worked
/// out from its partitions.
async fn check(gw: &TestGateway, policy: Policy, services: &HashMap<String, String>) {
    let config = Config::from_toml(&gw.config_text, |_| None).expect("config");
    assert_eq!(config.reports.policy.0, policy);
    let default = policy == Policy::SignpostDefault;
    // 5 is shown under the mental-health policy, withheld under the default one.
    let five = if default { Suppressed } else { Count(5) };
    let projection = Projection::default();

    let by_practice = reports::report(
        &*gw.store,
        &projection,
        &config,
        &query(Dimension::Practice),
    )
    .await
    .expect("report");
    assert_eq!(by_practice.policy, policy.name());
    let codes: Vec<&str> = by_practice.groups.iter().map(|g| g.code.as_str()).collect();
    assert_eq!(codes, ["A81001", "A81002"]);
    assert_eq!(by_practice.periods.len(), 1);
    let r = |figure, stratum| value(&by_practice, "A81001", figure, stratum);
    assert_eq!(r(Figure::ReferralsReceived, None), Count(15));
    assert_eq!(r(Figure::Accepted, None), Count(10));
    assert_eq!(r(Figure::Declined, None), Suppressed);
    assert_eq!(r(Figure::Declined, Some(PERSON_DECLINED)), Suppressed);
    assert_eq!(r(Figure::Completed, None), Count(10));
    assert_eq!(r(Figure::Cancelled, None), Count(0));
    // From the rounded 15: 15 / 7,000 × 1,000.
    assert_eq!(r(Figure::ReferralsPer1000, None), Number(2.1));
    // Accepted within seconds, by 11 (n ≥ 8); three VCS answers are too few.
    assert_eq!(r(Figure::MedianDaysToAcceptance, None), Number(0.0));
    assert_eq!(r(Figure::MedianDaysToVcsAnswer, None), Suppressed);
    assert_eq!(r(Figure::UnansweredAfter14Days, None), Count(0));
    assert_eq!(r(Figure::NeedCodes, Some(LONELY)), Count(15));
    // 9 women and 5 men: the default policy withholds the 5, and the 9 with it, or the total
    // would give the 5 away.
    assert_eq!(r(Figure::Sex, Some("male")), five);
    assert_eq!(
        r(Figure::Sex, Some("female")),
        if default { Suppressed } else { Count(10) }
    );
    assert_eq!(r(Figure::AgeBand, Some("35-44")), five);
    assert_eq!(
        r(Figure::AgeBand, Some("75-84")),
        if default { Suppressed } else { Count(10) }
    );
    // Persons 1–9 paired: baselines sum 37, follow-ups 60.
    assert_eq!(r(Figure::OutcomePaired(life()), None), Count(10));
    assert_eq!(r(Figure::OutcomeMeanBaseline(life()), None), Number(4.1));
    assert_eq!(r(Figure::OutcomeMeanFollowUp(life()), None), Number(6.7));
    assert_eq!(r(Figure::OutcomeMeanChange(life()), None), Number(2.6));
    // Baseline: 6 low, 3 medium; follow-up: 4 medium, 5 high. By default the small band takes
    // the next smallest with it and the empty bands are 0%; the mental-health policy withholds
    // the empty bands too (a numerator under 5), so three are withheld and 5 of 10 can show.
    let (empty, other) = if default {
        (Number(0.0), Suppressed)
    } else {
        (Suppressed, Number(50.0))
    };
    for (figure, band, expected) in [
        (Figure::Ons4BandBaseline(life()), "low", other),
        (Figure::Ons4BandBaseline(life()), "medium", Suppressed),
        (Figure::Ons4BandBaseline(life()), "high", empty),
        (Figure::Ons4BandBaseline(life()), "very-high", empty),
        (Figure::Ons4BandFollowUp(life()), "low", empty),
        (Figure::Ons4BandFollowUp(life()), "medium", Suppressed),
        (Figure::Ons4BandFollowUp(life()), "high", other),
        (Figure::Ons4BandFollowUp(life()), "very-high", empty),
    ] {
        assert_eq!(r(figure.clone(), Some(band)), expected, "{figure:?} {band}");
    }
    let ucla = format!("{OUTCOME_SYSTEM}|ucla3-total");
    assert_eq!(r(Figure::OutcomePaired(ucla.clone()), None), Count(0));
    assert_eq!(r(Figure::OutcomeMeanChange(ucla), None), Suppressed);

    let h = |figure, stratum| value(&by_practice, "A81002", figure, stratum);
    for figure in [
        Figure::ReferralsReceived,
        Figure::Accepted,
        Figure::Declined,
        Figure::Completed,
        Figure::ReferralsPer1000,
        Figure::MedianDaysToAcceptance,
        Figure::OutcomePaired(life()),
        Figure::OutcomeMeanChange(life()),
    ] {
        assert_eq!(h(figure.clone(), None), Suppressed, "{figure:?}");
    }
    assert_eq!(h(Figure::Declined, Some("unspecified")), Suppressed);
    assert_eq!(h(Figure::Cancelled, None), Count(0));
    assert_eq!(h(Figure::Sex, Some("female")), Suppressed);

    let by_pcn = reports::report(&*gw.store, &projection, &config, &query(Dimension::Pcn))
        .await
        .expect("report");
    let names: Vec<(&str, Option<&str>)> = by_pcn
        .groups
        .iter()
        .map(|g| (g.code.as_str(), g.display.as_deref()))
        .collect();
    assert_eq!(
        names,
        [
            ("U00001", Some("Riverside PCN")),
            ("U00002", Some("Hillside and Valley PCN"))
        ]
    );
    assert_eq!(
        value(&by_pcn, "U00001", Figure::ReferralsPer1000, None),
        Number(2.1)
    );
    assert_eq!(
        value(&by_pcn, "U00002", Figure::ReferralsReceived, None),
        Suppressed
    );

    // The link-worker service sees all 16, and person 0's pair too: 10 pairs, baselines sum
    // 41, follow-ups 67.
    let by_service = reports::report(
        &*gw.store,
        &projection,
        &config,
        &query(Dimension::LinkWorkerService),
    )
    .await
    .expect("report");
    let l = |figure, stratum| value(&by_service, "LWS001", figure, stratum);
    assert_eq!(l(Figure::ReferralsReceived, None), Count(15));
    assert_eq!(l(Figure::Accepted, None), Count(10));
    assert_eq!(l(Figure::Declined, None), Suppressed);
    assert_eq!(l(Figure::Declined, Some(PERSON_DECLINED)), Suppressed);
    assert_eq!(l(Figure::Declined, Some("unspecified")), Suppressed);
    assert_eq!(l(Figure::Completed, None), Count(10));
    assert_eq!(l(Figure::OutcomePaired(life()), None), Count(10));
    assert_eq!(l(Figure::OutcomeMeanBaseline(life()), None), Number(4.1));
    assert_eq!(l(Figure::OutcomeMeanFollowUp(life()), None), Number(6.7));
    assert_eq!(l(Figure::OutcomeMeanChange(life()), None), Number(2.6));
    assert_eq!(l(Figure::Sex, Some("male")), five);
    assert_eq!(
        l(Figure::Sex, Some("female")),
        if default { Suppressed } else { Count(10) }
    );

    let by_vcs = reports::report(
        &*gw.store,
        &projection,
        &config,
        &query(Dimension::VcsOrganisation),
    )
    .await
    .expect("report");
    let codes: Vec<&str> = by_vcs.groups.iter().map(|g| g.code.as_str()).collect();
    assert_eq!(codes, ["VCS001", "VCS002"]);
    let v = |group, figure| value(&by_vcs, group, figure, None);
    for figure in [
        Figure::ReferralsReceived,
        Figure::Accepted,
        Figure::Declined,
        Figure::VcsAcceptanceRate,
        Figure::MedianDaysToVcsAnswer,
        Figure::OutcomePaired(life()),
    ] {
        assert_eq!(v("VCS001", figure.clone()), Suppressed, "{figure:?}");
    }
    assert_eq!(v("VCS002", Figure::UnansweredAfter14Days), Count(0));
    assert_eq!(v("VCS002", Figure::Accepted), Count(0));

    // Cut by directory service: each provider has one service, so each service's cells are its
    // provider's.
    let by_service = reports::report(
        &*gw.store,
        &projection,
        &config,
        &query(Dimension::VcsService),
    )
    .await
    .expect("report");
    let codes: Vec<&str> = by_service.groups.iter().map(|g| g.code.as_str()).collect();
    let mut expected = vec![services["walk"].as_str(), services["debt"].as_str()];
    expected.sort();
    assert_eq!(codes, expected);
    for (key, vcs) in [("walk", "VCS001"), ("debt", "VCS002")] {
        let cells: Vec<_> = by_vcs
            .cells
            .iter()
            .filter(|c| c.group.code == vcs)
            .collect();
        assert!(cells.len() > 10, "{vcs}: {} cells", cells.len());
        for cell in cells {
            let stratum = cell.stratum.as_ref().map(|s| s.code.as_str());
            assert_eq!(
                value(&by_service, &services[key], cell.figure.clone(), stratum),
                cell.value,
                "{key} {:?} {stratum:?}",
                cell.figure
            );
        }
    }

    // Fifteen days on, the debt advice service's onward referral with no answer is counted,
    // against the service and against the practice it came from (exact, before disclosure).
    let facts = projection.current(&*gw.store).await.expect("facts");
    let now = i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000).expect("now");
    let later = now + 15 * 86_400_000_000;
    let unanswered = |by, group: &str, at| {
        let table = figures::table(&facts, &config, &query(by), at);
        let found: Vec<Exact> = table
            .keys
            .iter()
            .zip(&table.cells)
            .filter(|((g, _, f, s), _)| {
                g.code == group && *f == Figure::UnansweredAfter14Days && s.is_none()
            })
            .map(|(_, cell)| *cell)
            .collect();
        assert_eq!(found.len(), 1, "{by:?} {group}");
        found[0]
    };
    for (by, group, at, expected) in [
        (Dimension::VcsOrganisation, "VCS002", now, 0),
        (Dimension::VcsOrganisation, "VCS002", later, 1),
        (Dimension::VcsService, services["debt"].as_str(), later, 1),
        (Dimension::VcsOrganisation, "VCS001", later, 0),
        (Dimension::Practice, "A81001", later, 1),
        (Dimension::Practice, "A81002", later, 0),
    ] {
        assert_eq!(
            unanswered(by, group, at),
            Exact::Count(expected),
            "{by:?} {group} at {at}"
        );
    }

    // No suppressed cell of any report can be worked out from the totals it belongs to.
    for by in [
        Dimension::Practice,
        Dimension::Pcn,
        Dimension::LinkWorkerService,
        Dimension::VcsOrganisation,
        Dimension::VcsService,
    ] {
        let table = figures::table(&facts, &config, &query(by), 0);
        let shown = disclosure::disclose(policy, &table.cells, &table.partitions);
        assert!(
            shown.contains(&Suppressed),
            "{by:?}: nothing suppressed, so nothing checked"
        );
        let given_away = disclosure::recoverable(policy, &table.cells, &shown, &table.partitions);
        assert_eq!(given_away, Vec::<usize>::new(), "{by:?}");
    }
}

async fn known_population(store: Option<String>, policy: Policy) {
    let gw = TestGateway::spawn_setup(Setup {
        store,
        extra: extra(policy.name()),
        ..Setup::default()
    })
    .await;
    let services = population(&gw).await;
    check(&gw, policy, &services).await;
}

#[tokio::test]
async fn a_known_population_s_figures_and_suppressions_under_the_default_policy() {
    known_population(None, Policy::SignpostDefault).await;
}

#[tokio::test]
async fn a_known_population_s_figures_and_suppressions_under_the_mental_health_policy() {
    known_population(None, Policy::NhsDigitalMentalHealth).await;
}

#[tokio::test]
async fn a_known_population_s_figures_on_postgres_under_both_policies() {
    for policy in Policy::ALL {
        let database = TempPostgres::create().await;
        known_population(Some(database.url.clone()), policy).await;
    }
}

/// The projection catches up with whatever was written since it was last read (new referrals,
/// and a Task moved on after its facts were saved), also when another replica caught up first;
/// the copy it keeps in memory is what reading the store afresh gives; and a save whose
/// watermark another updater has moved writes nothing.
async fn projection_keeps_up(store: Option<String>) {
    let gw = TestGateway::spawn_setup(Setup {
        store,
        ..Setup::default()
    })
    .await;
    let config = Config::from_toml(&gw.config_text, |_| None).expect("config");
    signpost_gateway::sandbox::demo_population::load(&*gw.store, &config, 300, 1)
        .await
        .expect("population");
    // No overlap: what this copy does not read itself it must take from the store.
    let projection = Projection::with_overlap(std::time::Duration::ZERO);
    let first = projection.current(&*gw.store).await.expect("facts");
    assert_eq!(
        first.requests.len() as i64,
        gw.count("ServiceRequest").await
    );
    assert_eq!(first.tasks.len() as i64, gw.count("Task").await);

    // More referrals (dated in the past, so the loader drops the projection and the next read
    // builds it again, over more than one batch), then one through the API and its Task moved on.
    signpost_gateway::sandbox::demo_population::load(&*gw.store, &config, 2_100, 2)
        .await
        .expect("more");
    let task = refer(
        &gw,
        "riverside-gp",
        "A81001",
        &person(99, "female", "1950-01-01"),
    )
    .await;
    let id = task["id"].as_str().expect("id").to_owned();
    assert_eq!(
        projection.current(&*gw.store).await.expect("facts").tasks[&id].status,
        "requested"
    );
    gw.move_task("riverside-lw", &task, "accepted").await;
    // A later referral, then another replica reads both first and moves the watermark on past
    // the Task's change.
    refer(
        &gw,
        "riverside-gp",
        "A81001",
        &person(98, "male", "1960-01-01"),
    )
    .await;
    let replica = Projection::default();
    assert_eq!(
        replica.current(&*gw.store).await.expect("facts").tasks[&id].status,
        "accepted"
    );
    let after = projection.current(&*gw.store).await.expect("facts");
    assert_eq!(
        after.requests.len() as i64,
        gw.count("ServiceRequest").await
    );
    assert_eq!(after.tasks.len() as i64, gw.count("Task").await);
    assert_eq!(after.tasks[&id].status, "accepted");
    assert!(after.tasks[&id].accepted.is_some());
    let afresh = Projection::default()
        .current(&*gw.store)
        .await
        .expect("facts");
    assert!(
        *after == *afresh,
        "the kept copy differs from the store's facts"
    );

    // A save from a watermark that is no longer current is refused whole.
    let mark = gw
        .store
        .report_watermark("Task")
        .await
        .expect("watermark")
        .expect("saved");
    let stale = signpost_gateway::store::Watermark {
        last_updated: signpost_gateway::store::Instant(mark.last_updated.0 - 1),
        id: mark.id.clone(),
    };
    let row = signpost_gateway::store::FactRow {
        id: id.clone(),
        fact: "{}".into(),
    };
    let saved = gw
        .store
        .save_facts("Task", &[row], Some(&stale), &mark)
        .await
        .expect("save");
    assert!(!saved);
    let unchanged = projection.current(&*gw.store).await.expect("facts");
    assert_eq!(unchanged.tasks[&id].status, "accepted");
}

#[tokio::test]
async fn the_projection_keeps_up_and_refuses_a_stale_save_on_sqlite() {
    projection_keeps_up(None).await;
}

#[tokio::test]
async fn the_projection_keeps_up_and_refuses_a_stale_save_on_postgres() {
    let database = TempPostgres::create().await;
    projection_keeps_up(Some(database.url.clone())).await;
}

/// With `refresh_seconds` set, the projection in the store is brought up to date without any
/// report being asked for, so the first report after a busy month reads minutes of changes.
#[tokio::test]
async fn the_projection_is_brought_up_to_date_in_the_background() {
    let gw = TestGateway::spawn_with("[reports]\nrefresh_seconds = 1\n").await;
    let (sr, task) = gw.referral_with_task().await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let tasks = gw.store.facts("Task").await.expect("facts");
        let requests = gw.store.facts("ServiceRequest").await.expect("facts");
        if tasks.iter().any(|r| r.id == task["id"]) && requests.iter().any(|r| r.id == sr["id"]) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no facts saved in the background: {} Task and {} ServiceRequest rows",
            tasks.len(),
            requests.len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
