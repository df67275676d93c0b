//! The link worker's console in a real headless browser (Debian's Chromium through its
//! chromedriver): a GP system refers through the FHIR API; the link worker signs in, accepts,
//! searches the directory, is refused a full service with the alternatives offered, refers the
//! person on to one with room; the walking group records and completes over the API; the link
//! worker completes with outcome scores (an out-of-range one first, the providers' scores
//! prefilled); the GP system then reads its Task `completed` with those outcomes and its
//! ServiceRequest `completed`. A link worker of another organisation cannot see the referral, in
//! the list or at its URL. Every page is checked with axe-core and for a phone's width, and kept
//! as a screenshot under target/console-screenshots/.

use fantoccini::Locator;
use reqwest::StatusCode;
use serde_json::{Value, json};
use signpost_gateway::store::{Criterion, SearchQuery, SortOrder};
use signpost_profiles::outcome_measure::{OUTCOME_SYSTEM, TIMEPOINT_EXTENSION};

use crate::console_link_worker::walks;
use crate::support::TestGateway;
use crate::support::browser::Browser;
use crate::support::console::link_worker;

/// A score output as a provider's system writes it.
fn score(code: &str, value: i64, timepoint: &str) -> Value {
    json!({
        "extension": [{"url": TIMEPOINT_EXTENSION, "valueCode": timepoint}],
        "type": {"coding": [{"system": OUTCOME_SYSTEM, "code": code}]},
        "valueInteger": value
    })
}

/// (measure code, value, time point) of each scored output of a Task.
fn scores(task: &Value) -> Vec<(String, Value, String)> {
    task["output"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|o| o.get("valueInteger").is_some())
        .map(|o| {
            (
                o["type"]["coding"][0]["code"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                o["valueInteger"].clone(),
                o["extension"][0]["valueCode"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_link_worker_refers_onward_and_completes_with_outcomes_in_the_browser() {
    let gw = TestGateway::spawn().await;
    let ids = walks(
        &gw,
        &[
            (
                "sunday-walk",
                "Mill Lane Sunday Walk",
                "no-capacity",
                0,
                None,
            ),
            (
                "saturday-walk",
                "Mill Lane Saturday Walk",
                "capacity",
                5,
                None,
            ),
        ],
    )
    .await;
    let (full, room) = (&ids[0], &ids[1]);
    let (sr, lw_task) = gw.referral_with_task().await;
    let task = lw_task["id"].as_str().expect("id").to_owned();
    link_worker(
        &gw,
        "LWS001",
        "Lee Link",
        "lee@riverside-sp.example",
        "a long enough passphrase",
    )
    .await;
    link_worker(
        &gw,
        "LWS002",
        "Cat City",
        "cat@city-lw.example",
        "another long passphrase",
    )
    .await;
    let browser = Browser::start(&gw.base).await;

    browser
        .sign_in("lee@riverside-sp.example", "a long enough passphrase")
        .await;
    assert_eq!(browser.path().await, "/console");
    browser.check_page("lw-home").await;
    browser
        .click_through("a.nhsuk-header__navigation-link[href='/console/link-worker/referrals']")
        .await;
    let list = browser.source().await;
    assert!(
        list.contains("Margaret Okafor") && list.contains(">New<"),
        "{list}"
    );
    assert!(list.contains("Riverside Surgery"), "{list}");
    browser.check_page("lw-worklist").await;

    browser
        .click_through(&format!("a[href='/console/link-worker/referrals/{task}']"))
        .await;
    assert!(browser.h1().await.contains("Margaret Okafor"));
    let page = browser.source().await;
    for shown in [
        "9434765919",
        "1948-03-14",
        "07700 900123",
        "Lonely since bereavement",
        "Prefers phone contact in the mornings",
    ] {
        assert!(page.contains(shown), "{shown} missing: {page}");
    }
    browser.check_page("lw-referral-new").await;

    browser.click_through("#accept").await;
    assert!(browser.source().await.contains(">Accepted<"));
    browser.check_page("lw-referral-accepted").await;

    browser.click_through("#refer").await;
    assert_eq!(
        browser.path().await,
        format!("/console/link-worker/referrals/{task}/refer")
    );
    browser.check_page("lw-find-service").await;
    browser.fill("name", "walk").await;
    browser.click_through("#search").await;
    let found = browser.source().await;
    assert!(
        found.contains("Mill Lane Sunday Walk") && found.contains("Mill Lane Saturday Walk"),
        "{found}"
    );
    assert!(
        found.contains(">Full<") && found.contains("5 places free"),
        "{found}"
    );
    browser.check_page("lw-search-results").await;

    // The full service refuses; its alternatives are offered as choices.
    browser
        .click_through(&format!("#refer-result-{full}"))
        .await;
    let refused = browser.source().await;
    assert!(refused.contains("nhsuk-error-summary"), "{refused}");
    let link = browser
        .client
        .find(Locator::Css(".nhsuk-error-summary__list a"))
        .await
        .expect("an error link");
    assert_eq!(
        link.attr("href").await.expect("href").as_deref(),
        Some("#alternatives")
    );
    assert!(
        link.text()
            .await
            .expect("text")
            .contains("this service has no room now"),
        "{refused}"
    );
    assert!(refused.contains("Services with room instead"), "{refused}");
    browser.check_page("lw-refused-full").await;

    browser
        .click_through(&format!("#refer-alternative-{room}"))
        .await;
    assert_eq!(
        browser.path().await,
        format!("/console/link-worker/referrals/{task}")
    );
    let referred = browser.source().await;
    assert!(referred.contains("Mill Lane Walking Group"), "{referred}");
    browser.check_page("lw-referred-onward").await;

    browser.click_through("#start").await;
    assert!(browser.source().await.contains(">In progress<"));

    // The walking group works through its Task over the API and records scores.
    let (_, _, onward) = gw
        .get_as("riverside-lw", &format!("Task?part-of=Task/{task}"))
        .await;
    assert_eq!(onward["total"], 1, "{onward}");
    let vcs_id = onward["entry"][0]["resource"]["id"].as_str().expect("id");
    let vcs_focus = onward["entry"][0]["resource"]["focus"]["reference"]
        .as_str()
        .expect("focus")
        .to_owned();
    // As the walking group's system reads it: the minimised view it may change.
    let (_, _, vcs_task) = gw.get_as("mill-lane-app", &format!("Task/{vcs_id}")).await;
    let accepted = gw.move_task("mill-lane-app", &vcs_task, "accepted").await;
    let mut attending = gw
        .move_task("mill-lane-app", &accepted, "in-progress")
        .await;
    attending["output"] = json!([
        score("ons4-life-satisfaction", 3, "baseline"),
        score("ons4-life-satisfaction", 7, "follow-up")
    ]);
    let version: i64 = attending["meta"]["versionId"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .expect("version");
    let (status, _, scored) = gw
        .put_task("mill-lane-app", &attending, Some(version))
        .await;
    assert_eq!(status, StatusCode::OK, "{scored}");
    gw.move_task("mill-lane-app", &scored, "completed").await;

    browser
        .goto(&format!("/console/link-worker/referrals/{task}"))
        .await;
    let page = browser.source().await;
    assert!(page.contains("completed the onward referral"), "{page}");
    assert!(
        page.contains(">Completed<"),
        "the onward Task's status: {page}"
    );
    // The providers' scores fill the completion form.
    assert_eq!(
        browser.value_of("baseline-ons4-life-satisfaction").await,
        "3"
    );
    assert_eq!(
        browser.value_of("follow-up-ons4-life-satisfaction").await,
        "7"
    );
    browser.check_page("lw-complete-form").await;

    // An out-of-range score first: the error summary links to the field, the values stay.
    browser.fill("baseline-ucla3-total", "12").await;
    browser.fill("follow-up-ucla3-total", "4").await;
    browser.click_through("#complete").await;
    let refused = browser.source().await;
    let link = browser
        .client
        .find(Locator::Css(".nhsuk-error-summary__list a"))
        .await
        .expect("an error link");
    assert_eq!(
        link.attr("href").await.expect("href").as_deref(),
        Some("#baseline-ucla3-total")
    );
    assert!(
        link.text()
            .await
            .expect("text")
            .contains("12 is out of range: this score runs from 3 to 9"),
        "{refused}"
    );
    assert_eq!(browser.value_of("baseline-ucla3-total").await, "12");
    assert_eq!(
        browser.value_of("follow-up-ons4-life-satisfaction").await,
        "7"
    );
    browser.check_page("lw-complete-error").await;

    browser.fill("baseline-ucla3-total", "8").await;
    browser.click_through("#complete").await;
    let done = browser.source().await;
    assert!(
        !done.contains("nhsuk-error-summary") && done.contains(">Completed<"),
        "{done}"
    );
    browser.check_page("lw-completed").await;

    // The GP system reads its Task completed with those outcomes, and its referral completed.
    let (_, _, gp_task) = gw.get_as("riverside-gp", &format!("Task/{task}")).await;
    assert_eq!(gp_task["status"], "completed", "{gp_task}");
    assert_eq!(
        scores(&gp_task),
        vec![
            (
                "ons4-life-satisfaction".to_owned(),
                json!(3),
                "baseline".to_owned()
            ),
            ("ucla3-total".to_owned(), json!(8), "baseline".to_owned()),
            (
                "ons4-life-satisfaction".to_owned(),
                json!(7),
                "follow-up".to_owned()
            ),
            ("ucla3-total".to_owned(), json!(4), "follow-up".to_owned()),
        ]
    );
    let (_, _, gp_sr) = gw
        .get_as(
            "riverside-gp",
            &format!("ServiceRequest/{}", sr["id"].as_str().expect("id")),
        )
        .await;
    assert_eq!(gp_sr["status"], "completed", "{gp_sr}");

    // The audit trail names the link worker, for her organisation, on each change she made:
    // accept, in progress, complete (the refused completion changed nothing); and the onward
    // referral she created.
    let by_her = |entity: String, action: &'static str| {
        let store = gw.store.clone();
        async move {
            let audits = store
                .search(&SearchQuery {
                    resource_type: "AuditEvent".into(),
                    criteria: vec![Criterion::Index {
                        param: "entity",
                        any_of: vec![(None, entity)],
                    }],
                    count: 200,
                    offset: 0,
                    sort: SortOrder::default(),
                })
                .await
                .expect("audit");
            audits
                .resources
                .iter()
                .filter_map(|r| serde_json::from_str::<Value>(r.body.get()).ok())
                .filter(|a| a["action"] == action && a["agent"][0]["name"] == "Lee Link")
                .filter(|a| a["agent"][0]["policy"][0] == "urn:signpost:organisation:LWS001")
                .count()
        }
    };
    assert_eq!(by_her(format!("Task/{task}"), "U").await, 3);
    assert_eq!(by_her(vcs_focus, "C").await, 1);

    // Another organisation's link worker: not in her worklist, and its URL is a 404 like a wrong one.
    browser.sign_out().await;
    browser
        .sign_in("cat@city-lw.example", "another long passphrase")
        .await;
    browser.goto("/console/link-worker/referrals").await;
    let theirs = browser.source().await;
    assert!(
        !theirs.contains(&task) && !theirs.contains("Margaret"),
        "{theirs}"
    );
    browser.check_page("lw-worklist-empty").await;
    browser
        .goto(&format!("/console/link-worker/referrals/{task}"))
        .await;
    assert_eq!(browser.h1().await, "Page not found");
    let guessed = browser.source().await;
    browser
        .goto("/console/link-worker/referrals/no-such-referral")
        .await;
    assert_eq!(
        browser.source().await,
        guessed,
        "an existing referral's 404 is like any other"
    );
    browser
        .goto(&format!("/console/link-worker/referrals/{task}/refer"))
        .await;
    assert_eq!(browser.h1().await, "Page not found");
    browser.check_page("lw-not-found").await;

    browser.client.close().await.expect("close");
}
