//! The published outputs of the outcome reports: the `commissioner` scope, `Measure` and
//! `MeasureReport` over HTTP, and their validity by the independent validator.

use reqwest::StatusCode;
use serde_json::Value;
use signpost_gateway::fhir::measure::measure_json;
use signpost_gateway::fhir::measure_report::{
    DATA_ABSENT_REASON, POLICY_EXTENSION, measure_reports,
};
use signpost_gateway::workflow::reports::measures::measures;
use signpost_gateway::workflow::reports::{
    Dimension, Disclosed, Figure, Group, Interval, Period, Report, ReportCell, Stratum, StratumKind,
};
use time::macros::date;

use crate::support::{TestGateway, issue, oracle};

const ONS_ANXIETY: &str = "https://signpost.example/fhir/CodeSystem/outcome-measure|ons4-anxiety";

/// A small disclosed report, as the engine would publish it: two practices, one month, with
/// suppressed cells among shown ones.
pub fn known_report() -> Report {
    let practice = |code: &str, name: &str| Group {
        dimension: Dimension::Practice,
        code: code.into(),
        display: Some(name.into()),
    };
    let november = Period {
        start: date!(2026 - 11 - 01),
        end: date!(2026 - 12 - 01),
        label: "2026-11".into(),
    };
    let a = practice("A81001", "Riverside Surgery");
    let b = practice("A81002", "Hillside Surgery");
    let cell =
        |group: &Group, figure: Figure, stratum: Option<Stratum>, value: Disclosed| ReportCell {
            group: group.clone(),
            period: november.clone(),
            figure,
            stratum,
            value,
        };
    let reason = |code: &str, display: &str| Stratum {
        kind: StratumKind::DeclineReason,
        code: format!("http://snomed.info/sct|{code}"),
        display: Some(display.into()),
    };
    let band = |code: &str| Stratum {
        kind: StratumKind::OnsBand,
        code: code.into(),
        display: None,
    };
    Report {
        policy: "signpost-default".into(),
        by: Dimension::Practice,
        interval: Interval::Month,
        periods: vec![november.clone()],
        groups: vec![a.clone(), b.clone()],
        cells: vec![
            cell(&a, Figure::ReferralsReceived, None, Disclosed::Count(40)),
            cell(&a, Figure::Accepted, None, Disclosed::Count(30)),
            cell(&a, Figure::Declined, None, Disclosed::Count(10)),
            cell(
                &a,
                Figure::Declined,
                Some(reason("871711000000103", "Social prescribing declined")),
                Disclosed::Count(10),
            ),
            cell(
                &a,
                Figure::MedianDaysToAcceptance,
                None,
                Disclosed::Number(3.5),
            ),
            cell(
                &a,
                Figure::OutcomePaired(ONS_ANXIETY.into()),
                None,
                Disclosed::Count(10),
            ),
            cell(
                &a,
                Figure::OutcomeMeanChange(ONS_ANXIETY.into()),
                None,
                Disclosed::Number(-1.5),
            ),
            cell(
                &a,
                Figure::Ons4BandBaseline(ONS_ANXIETY.into()),
                Some(band("high")),
                Disclosed::Number(50.0),
            ),
            cell(
                &a,
                Figure::Ons4BandBaseline(ONS_ANXIETY.into()),
                Some(band("very-low")),
                Disclosed::Suppressed,
            ),
            cell(&b, Figure::ReferralsReceived, None, Disclosed::Count(5)),
            cell(&b, Figure::Declined, None, Disclosed::Suppressed),
            cell(
                &b,
                Figure::MedianDaysToAcceptance,
                None,
                Disclosed::Suppressed,
            ),
        ],
    }
}

fn diagnostics(outcome: &Value) -> &str {
    assert_eq!(outcome["resourceType"], "OperationOutcome", "{outcome}");
    outcome["issue"][0]["diagnostics"]
        .as_str()
        .unwrap_or_default()
}

#[tokio::test]
async fn a_commissioner_token_reads_the_reports_and_nothing_about_a_person() {
    let gw = TestGateway::spawn().await;
    for path in [
        "Task",
        "Patient/x",
        "ServiceRequest",
        "AuditEvent",
        "HealthcareService",
    ] {
        let (status, _, body) = gw.get_as("commissioner", path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {status} {body}");
        assert_eq!(body["resourceType"], "OperationOutcome", "{path}");
        assert_eq!(issue(&body).0, "forbidden", "{path}");
        let text = diagnostics(&body);
        assert!(text.contains("commissioner"), "{path}: {text}");
    }
    let admin = gw
        .http
        .get(format!("{}/admin/deliveries", gw.base))
        .bearer_auth(gw.token("commissioner").await)
        .send()
        .await
        .expect("get");
    assert_eq!(admin.status(), StatusCode::FORBIDDEN);
    let body: Value = admin.json().await.expect("json");
    assert!(diagnostics(&body).contains("admin scope"), "{body}");

    for client in ["commissioner", "operator"] {
        let (status, _, bundle) = gw.get_as(client, "Measure").await;
        assert_eq!(status, StatusCode::OK, "{client}: {bundle}");
        assert_eq!(bundle["total"].as_u64(), Some(measures().len() as u64));
        let (status, _, one) = gw.get_as(client, "Measure/referral-activity").await;
        assert_eq!(status, StatusCode::OK, "{client}: {one}");
        assert_eq!(
            one["url"],
            "https://signpost.example/fhir/Measure/referral-activity"
        );
    }
    for client in ["riverside-gp", "riverside-lw", "walking-app"] {
        let (status, _, body) = gw.get_as(client, "Measure").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{client}: {body}");
        let (status, _, body) = gw
            .get_as(
                client,
                "MeasureReport?group-by=practice&interval=month&period=ge2026-01-01&period=lt2026-02-01",
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{client}: {body}");
    }
    let (status, _, body) = gw.get_as("commissioner", "Measure/no-such").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

#[tokio::test]
async fn measure_report_parameters_are_checked_and_a_fault_names_the_parameter_as_sent() {
    let gw = TestGateway::spawn().await;
    let span = "interval=month&period=ge2026-01-01&period=lt2026-03-01";
    for (query, named) in [
        (format!("group-by=ward&{span}"), "group-by"),
        (format!("group-by=practice&{span}&colour=red"), "colour"),
        (
            "group-by=practice&interval=fortnight&period=ge2026-01-01&period=lt2026-03-01".into(),
            "interval",
        ),
        (
            "group-by=practice&interval=month&period=ge2026-01-15&period=lt2026-03-01".into(),
            "period",
        ),
        (
            "group-by=practice&interval=month&period=2026-01-01".into(),
            "period",
        ),
        (span.to_string(), "group-by"),
        (
            format!("group-by=practice&{span}&measure=Measure/nothing"),
            "measure",
        ),
        (
            format!("group-by=vcs-service&{span}&reporter=Organization/VCS001"),
            "reporter",
        ),
        (
            format!("group-by=practice&{span}&reporter:identifier=urn:x|A81001"),
            "reporter:identifier",
        ),
    ] {
        let (status, _, body) = gw
            .get_as("commissioner", &format!("MeasureReport?{query}"))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {status} {body}");
        assert_eq!(body["resourceType"], "OperationOutcome");
        let text = diagnostics(&body);
        assert!(
            text.starts_with(&format!("search parameter {named}")),
            "{query}: {text}"
        );
    }
    let (status, _, body) = gw.get_as("commissioner", "Measure?name=x").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(diagnostics(&body).contains("name"), "{body}");
}

#[test]
fn a_known_report_becomes_measure_reports_with_suppressed_cells_masked() {
    let reports = measure_reports(&known_report(), None, "2026-12-02T09:00:00Z");
    let find = |practice: &str, measure: &str| {
        reports
            .iter()
            .find(|r| {
                r["reporter"]["identifier"]["value"] == practice
                    && r["measure"] == format!("https://signpost.example/fhir/Measure/{measure}")
            })
            .unwrap_or_else(|| panic!("{practice} {measure}"))
    };
    // A81001: referral-activity, timeliness, ONS anxiety; A81002: referral-activity, timeliness.
    assert_eq!(reports.len(), 5);
    let activity = find("A81001", "referral-activity");
    assert_eq!(activity["period"]["start"], "2026-11-01");
    assert_eq!(
        activity["period"]["end"], "2026-11-30",
        "R4 Period.end is inclusive"
    );
    assert_eq!(activity["status"], "complete");
    assert_eq!(activity["type"], "summary");
    assert_eq!(activity["extension"][0]["url"], POLICY_EXTENSION);
    assert_eq!(activity["extension"][0]["valueString"], "signpost-default");
    let group = |r: &Value, code: &str| {
        r["group"]
            .as_array()
            .and_then(|g| g.iter().find(|g| g["code"]["coding"][0]["code"] == code))
            .cloned()
            .unwrap_or_else(|| panic!("group {code}"))
    };
    assert_eq!(
        group(activity, "referrals-received")["population"][0]["count"],
        40
    );
    let declined = group(activity, "declined");
    assert_eq!(declined["population"][0]["count"], 10);
    let stratum = &declined["stratifier"][0]["stratum"][0];
    assert_eq!(stratum["value"]["coding"][0]["code"], "871711000000103");
    assert_eq!(stratum["population"][0]["count"], 10);

    let hillside = find("A81002", "referral-activity");
    let suppressed = &group(hillside, "declined")["population"][0];
    assert!(
        suppressed.get("count").is_none(),
        "no value leaks: {suppressed}"
    );
    assert_eq!(
        suppressed["_count"]["extension"][0]["url"],
        DATA_ABSENT_REASON
    );
    assert_eq!(suppressed["_count"]["extension"][0]["valueCode"], "masked");
    let score = &group(find("A81002", "timeliness"), "median-days-to-acceptance")["measureScore"];
    assert!(score.get("value").is_none(), "{score}");
    assert_eq!(score["extension"][0]["valueCode"], "masked");
    assert_eq!(
        group(find("A81001", "timeliness"), "median-days-to-acceptance")["measureScore"]["value"],
        3.5
    );
    let anxiety = find("A81001", "outcome-ons4-anxiety");
    assert_eq!(group(anxiety, "mean-change")["measureScore"]["value"], -1.5);
    let bands = group(anxiety, "ons-band-baseline");
    let strata = bands["stratifier"][0]["stratum"]
        .as_array()
        .expect("strata");
    assert_eq!(strata.len(), 2);
    assert!(
        strata
            .iter()
            .any(|s| s["value"]["text"] == "high" && s["measureScore"]["value"] == 50.0)
    );
    assert!(strata.iter().any(|s| s["value"]["text"] == "very-low"
        && s["measureScore"]["extension"][0]["valueCode"] == "masked"));

    let only = measure_reports(
        &known_report(),
        Some(&["timeliness".to_owned()]),
        "2026-12-02T09:00:00Z",
    );
    assert_eq!(only.len(), 2);
}

#[test]
fn measures_and_measure_reports_pass_the_independent_validator() {
    let mut resources: Vec<Value> = measures().iter().map(measure_json).collect();
    resources.extend(measure_reports(
        &known_report(),
        None,
        "2026-12-02T09:00:00Z",
    ));
    let verdicts = oracle::validate(&resources);
    for (resource, verdict) in resources.iter().zip(&verdicts) {
        let errors = verdict.errors();
        assert!(
            errors.is_empty(),
            "{} {}: {errors:#?}",
            resource["resourceType"],
            resource["id"]
                .as_str()
                .or(resource["measure"].as_str())
                .unwrap_or("")
        );
    }
}

#[tokio::test]
async fn a_referral_is_reported_end_to_end_as_a_masked_small_count() {
    let gw = TestGateway::spawn().await;
    let (status, _, _) = gw.post_referral(crate::support::REFERRAL).await;
    assert_eq!(status, StatusCode::CREATED);
    let today = time::OffsetDateTime::now_utc().date();
    let month = today.replace_day(1).expect("day 1");
    let next = month
        .checked_add(time::Duration::days(32))
        .expect("date")
        .replace_day(1)
        .expect("day 1");
    let query = format!(
        "MeasureReport?group-by=practice&interval=month&period=ge{month}&period=lt{next}&measure=referral-activity"
    );
    let (status, _, bundle) = gw.get_as("commissioner", &query).await;
    assert_eq!(status, StatusCode::OK, "{bundle}");
    let reports: Vec<&Value> = bundle["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| &e["resource"])
        .collect();
    let riverside = reports
        .iter()
        .find(|r| r["reporter"]["identifier"]["value"] == "A81001")
        .unwrap_or_else(|| panic!("A81001 reported: {bundle}"));
    assert_eq!(
        riverside["measure"],
        "https://signpost.example/fhir/Measure/referral-activity"
    );
    let received = riverside["group"]
        .as_array()
        .and_then(|g| {
            g.iter()
                .find(|g| g["code"]["coding"][0]["code"] == "referrals-received")
        })
        .unwrap_or_else(|| panic!("referrals-received: {riverside}"));
    // One referral is a count of 1: suppressed under the default policy, and marked, not 0.
    let population = &received["population"][0];
    assert!(population.get("count").is_none(), "{population}");
    assert_eq!(population["_count"]["extension"][0]["valueCode"], "masked");
    let policy = riverside["extension"][0]["valueString"]
        .as_str()
        .expect("policy");
    assert!(!policy.is_empty());
    let verdicts = oracle::validate(std::slice::from_ref(&bundle));
    let errors = verdicts[0].errors();
    assert!(errors.is_empty(), "{errors:#?}");
}

#[test]
fn the_csv_has_one_row_per_cell_with_the_policy_and_quotes_awkward_names() {
    let mut report = known_report();
    for cell in &mut report.cells {
        if cell.group.code == "A81002" {
            cell.group.display = Some("Hillside, \"New\" Surgery".into());
        }
    }
    let text = signpost_gateway::reports_csv::csv(&report);
    let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 1 + report.cells.len());
    assert_eq!(lines[0], signpost_gateway::reports_csv::COLUMNS.join(","));
    assert!(lines.contains(
        &"practice,A81002,\"Hillside, \"\"New\"\" Surgery\",2026-11,2026-11-01,2026-12-01,referral-activity,declined,,,,,,true,signpost-default"
    ), "{text}");
    assert!(lines.contains(
        &"practice,A81001,Riverside Surgery,2026-11,2026-11-01,2026-12-01,referral-activity,referrals-received,,,,,40,false,signpost-default"
    ), "{text}");
}

#[tokio::test]
async fn the_csv_is_downloaded_by_commissioners_and_operators_only() {
    let gw = TestGateway::spawn().await;
    let (status, _, _) = gw.post_referral(crate::support::REFERRAL).await;
    assert_eq!(status, StatusCode::CREATED);
    let month = time::OffsetDateTime::now_utc()
        .date()
        .replace_day(1)
        .expect("day 1");
    let next = month
        .checked_add(time::Duration::days(32))
        .expect("date")
        .replace_day(1)
        .expect("day 1");
    let url = format!(
        "{}/reports/outcomes.csv?by=practice&interval=month&from={month}&to={next}",
        gw.base
    );
    for client in ["commissioner", "operator"] {
        let response = gw
            .http
            .get(&url)
            .bearer_auth(gw.token(client).await)
            .send()
            .await
            .expect("get");
        assert_eq!(response.status(), StatusCode::OK, "{client}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .expect("ascii")
                .starts_with("text/csv")
        );
        let text = response.text().await.expect("text");
        let received = text
            .lines()
            .find(|l| l.starts_with("practice,A81001,") && l.contains(",referrals-received,"))
            .unwrap_or_else(|| panic!("{text}"));
        assert!(
            received.ends_with(",,true,signpost-default"),
            "one referral is suppressed: {received}"
        );
    }
    let refused = gw
        .http
        .get(&url)
        .bearer_auth(gw.token("riverside-gp").await)
        .send()
        .await
        .expect("get");
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let bad = gw
        .http
        .get(format!(
            "{}/reports/outcomes.csv?by=ward&interval=month&from={month}&to={next}",
            gw.base
        ))
        .bearer_auth(gw.token("commissioner").await)
        .send()
        .await
        .expect("get");
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let body: Value = bad.json().await.expect("json");
    assert!(diagnostics(&body).starts_with("parameter by"), "{body}");
}

#[tokio::test]
async fn the_console_reports_page_charts_and_tabulates_with_suppressed_values_written_out() {
    let gw = TestGateway::spawn().await;
    let (status, _, _) = gw.post_referral(crate::support::REFERRAL).await;
    assert_eq!(status, StatusCode::CREATED);
    crate::support::console::operator(&gw, "oona@signpost.example", "an operator's passphrase")
        .await;
    let (session, _) =
        crate::support::console::sign_in(&gw, "oona@signpost.example", "an operator's passphrase")
            .await;
    let month = time::OffsetDateTime::now_utc()
        .date()
        .replace_day(1)
        .expect("day 1");
    let next = month
        .checked_add(time::Duration::days(32))
        .expect("date")
        .replace_day(1)
        .expect("day 1");
    let query = format!("by=practice&interval=month&from={month}&to={next}");
    let (status, page) =
        crate::support::console::get(&gw, &session, &format!("/console/operator/reports?{query}"))
            .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("role=\"img\""), "{page}");
    assert!(page.contains("A81001"), "{page}");
    // One referral: suppressed in the chart and the table, never drawn as 0.
    assert!(page.contains("suppressed"), "{page}");
    assert!(
        page.contains(&format!(
            "href=\"/console/operator/reports.csv?{}\"",
            query.replace('&', "&amp;")
        )),
        "{page}"
    );
    let (status, csv) = crate::support::console::get(
        &gw,
        &session,
        &format!("/console/operator/reports.csv?{query}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(csv.starts_with("dimension,group,"), "{csv}");
    let (status, page) = crate::support::console::get(
        &gw,
        &session,
        "/console/operator/reports?by=ward&interval=month&from=2026-01-01&to=2026-02-01",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("There is a problem"), "{page}");
}
