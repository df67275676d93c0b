//! The VCS volunteer's console in a real headless browser (Debian's Chromium through its
//! chromedriver): a GP system refers through the FHIR API, the link worker's platform refers the
//! person on to Mill Lane Walking Group's service, and its volunteer signs in, accepts, records the
//! first attendance and outcome scores (an out-of-range score first), and completes; the referrer
//! then reads the Task over the API as `completed` with those outcomes. A volunteer of another
//! organisation cannot see it, in the list or at its URL. Every page visited is checked with
//! axe-core and for fitting a phone's width, and kept as a screenshot under
//! target/console-screenshots/.

use fantoccini::Locator;
use reqwest::StatusCode;
use serde_json::{Value, json};
use signpost_gateway::directory::capacity::{
    GRAVITY_CAPACITY_SYSTEM, GRAVITY_CAPACITY_URL, SIGNPOST_CAPACITY_URL,
};
use signpost_gateway::store::{Criterion, SearchQuery, SortOrder};
use signpost_gateway::workflow::import_directory::import_services;

use crate::support::browser::Browser;
use crate::support::console::volunteer;
use crate::support::{TestGateway, referral};

const ODS: &str = "https://fhir.nhs.uk/Id/ods-organization-code";

/// Mill Lane's Saturday walk in the directory, with 5 of its 10 places free; its id.
pub(crate) async fn walking_service(gw: &TestGateway) -> String {
    let service = json!({
        "resourceType": "HealthcareService",
        "identifier": [{"system": "https://feed.test/services", "value": "saturday-walk"}],
        "active": true,
        "providedBy": {"identifier": {"system": ODS, "value": "VCS001"}},
        "category": [{"coding": [{"system": "https://openreferraluk.org/taxonomy/test", "code": "walking"}]}],
        "name": "Mill Lane Saturday Walk",
        "extension": [
            {"url": GRAVITY_CAPACITY_URL, "extension": [{"url": "capacityStatus", "valueCodeableConcept": {"coding": [{"system": GRAVITY_CAPACITY_SYSTEM, "code": "capacity"}]}}]},
            {"url": SIGNPOST_CAPACITY_URL, "extension": [
                {"url": "source", "valueCode": "feed"},
                {"url": "asOf", "valueInstant": "2026-01-01T00:00:00Z"},
                {"url": "expires", "valueInstant": "2099-01-01T00:00:00Z"},
                {"url": "available", "valueUnsignedInt": 5},
                {"url": "maximum", "valueUnsignedInt": 10}
            ]}
        ],
    });
    import_services(
        gw.store.as_ref(),
        &[service],
        Some("https://feed.test/services"),
    )
    .await
    .expect("import");
    let (_, _, found) = gw
        .get_as("riverside-lw", "HealthcareService?organization=VCS001")
        .await;
    found["entry"][0]["resource"]["id"]
        .as_str()
        .expect("service id")
        .to_owned()
}

/// The GP's referral, accepted by the link worker's platform and referred on to Mill Lane's
/// service, all over the FHIR API: (GP's Task id, the VCS Task's id).
pub(crate) async fn referred_on(gw: &TestGateway, service: &str) -> (String, String) {
    let (sr, lw_task) = gw.referral_with_task().await;
    gw.move_task("riverside-lw", &lw_task, "accepted").await;
    let mut onward = referral();
    onward["requester"] = json!({"identifier": {"system": ODS, "value": "LWS001"}});
    onward["performer"] = json!([{"reference": format!("HealthcareService/{service}")}]);
    onward["basedOn"] =
        json!([{"reference": format!("ServiceRequest/{}", sr["id"].as_str().expect("id"))}]);
    onward["intent"] = json!("filler-order");
    let (status, _, created) = gw
        .post_as("riverside-lw", "ServiceRequest", onward.to_string(), &[])
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (_, _, tasks) = gw
        .get_as(
            "riverside-lw",
            &format!(
                "Task?focus=ServiceRequest/{}",
                created["id"].as_str().expect("id")
            ),
        )
        .await;
    let vcs_task = tasks["entry"][0]["resource"]["id"]
        .as_str()
        .expect("the VCS Task")
        .to_owned();
    (lw_task["id"].as_str().expect("id").to_owned(), vcs_task)
}

#[tokio::test]
async fn a_volunteer_takes_a_referral_from_acceptance_to_completion_in_the_browser() {
    let gw = TestGateway::spawn().await;
    let service = walking_service(&gw).await;
    let (gp_task, task) = referred_on(&gw, &service).await;
    volunteer(
        &gw,
        "VCS001",
        "Val Volunteer",
        "val@mill-lane.example",
        "a long enough passphrase",
    )
    .await;
    volunteer(
        &gw,
        "VCS002",
        "Dee Debt",
        "dee@money-advice.example",
        "another long passphrase",
    )
    .await;
    let browser = Browser::start(&gw.base).await;

    browser.goto("/console/sign-in").await;
    browser.check_page("sign-in").await;
    browser
        .sign_in("val@mill-lane.example", "a long enough passphrase")
        .await;
    assert_eq!(
        browser.path().await,
        "/console",
        "{:?} {}",
        browser.client.get_all_cookies().await,
        browser.source().await
    );

    // The session cookie as the browser keeps it: Chromium keeps a Secure cookie on
    // http://127.0.0.1 (a potentially trustworthy origin), and page scripts cannot read it.
    let cookies = browser.client.get_all_cookies().await.expect("cookies");
    let session = cookies
        .iter()
        .find(|c| c.name() == "signpost_console")
        .expect("the browser kept the session cookie");
    assert_eq!(
        (
            session.http_only(),
            session.secure(),
            format!("{:?}", session.same_site())
        ),
        (Some(true), Some(true), "Some(Strict)".to_owned()),
        "{session:?}"
    );
    assert_eq!(session.path(), Some("/console"));
    let visible_to_scripts = browser
        .client
        .execute("return document.cookie;", vec![])
        .await
        .expect("document.cookie");
    assert!(
        !visible_to_scripts.to_string().contains("signpost_console"),
        "{visible_to_scripts}"
    );
    browser.check_page("home").await;

    browser
        .click_through("a.nhsuk-header__navigation-link[href='/console/vcs/referrals']")
        .await;
    let list = browser.source().await;
    assert!(list.contains("Margaret Okafor"), "{list}");
    assert!(list.contains("New"), "{list}");
    browser.check_page("referrals").await;

    browser
        .click_through(&format!("a[href='/console/vcs/referrals/{task}']"))
        .await;
    assert!(browser.h1().await.contains("Margaret Okafor"));
    let page = browser.source().await;
    // The minimised view: name, contact and reason in Signpost's words; no NHS number, no
    // date of birth, no address, no GP's free text.
    for shown in [
        "07700 900123",
        "Feeling lonely",
        "Referral to social prescribing service",
    ] {
        assert!(page.contains(shown), "{shown} missing: {page}");
    }
    for hidden in [
        "9434765919",
        "1948-03-14",
        "S1 2AB",
        "Lonely since bereavement",
    ] {
        assert!(
            !page.contains(hidden),
            "{hidden} shown to the volunteer: {page}"
        );
    }
    browser.check_page("referral-new").await;

    browser.click_through("#accept").await;
    assert_eq!(
        browser.path().await,
        format!("/console/vcs/referrals/{task}")
    );
    assert!(browser.source().await.contains(">Accepted<"));
    browser.check_page("referral-accepted").await;

    // The browser's own date picker posts YYYY-MM-DD; typed here through its value.
    browser
        .client
        .execute(
            "document.getElementById('attended-on').value = arguments[0];",
            vec![json!("2026-11-28")],
        )
        .await
        .expect("date");
    browser
        .click_through("form[action$='/attendance'] button")
        .await;
    assert!(browser.source().await.contains(">Attending<"));

    // An out-of-range score first: the error summary links to the field, the values stay.
    browser.click("#timepoint").await;
    browser.fill("score-ons4-life-satisfaction", "11").await;
    browser.fill("score-ucla3-total", "8").await;
    browser
        .click_through("form[action$='/scores'] button")
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
        Some("#score-ons4-life-satisfaction")
    );
    assert!(
        link.text()
            .await
            .expect("text")
            .contains("11 is out of range: this score runs from 0 to 10"),
        "{refused}"
    );
    assert!(refused.contains("nhsuk-input--error"), "{refused}");
    assert_eq!(browser.value_of("score-ons4-life-satisfaction").await, "11");
    assert_eq!(browser.value_of("score-ucla3-total").await, "8");
    browser.check_page("scores-error").await;

    browser.fill("score-ons4-life-satisfaction", "4").await;
    browser
        .click_through("form[action$='/scores'] button")
        .await;
    let saved = browser.source().await;
    assert!(!saved.contains("nhsuk-error-summary"), "{saved}");
    assert!(
        saved.contains("UCLA 3-item loneliness scale total (3-9)"),
        "{saved}"
    );
    browser.check_page("referral-scores").await;

    browser.click_through("#complete").await;
    assert!(browser.source().await.contains(">Completed<"));
    browser.check_page("referral-completed").await;

    browser
        .click_through("a.nhsuk-header__navigation-link[href='/console/vcs/capacity']")
        .await;
    assert!(browser.source().await.contains("Mill Lane Saturday Walk"));
    browser.check_page("capacity").await;
    browser.click(&format!("[id='{service}-status-3']")).await;
    browser.fill(&format!("{service}-places"), "0").await;
    browser
        .click_through("form[action='/console/vcs/capacity'] button")
        .await;
    assert_eq!(browser.path().await, "/console/vcs/capacity");
    assert!(browser.source().await.contains("Full, with a waiting list"));

    // The referrer reads the Task over the API: completed, with the attendance and the scores.
    let (_, _, read) = gw.get_as("riverside-lw", &format!("Task/{task}")).await;
    assert_eq!(read["status"], "completed", "{read}");
    let outputs: Vec<(String, Value)> = read["output"]
        .as_array()
        .expect("outputs")
        .iter()
        .map(|o| {
            let code = o["type"]["coding"][0]["code"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let value = o
                .get("valueInteger")
                .cloned()
                .unwrap_or_else(|| o["valueReference"]["identifier"]["value"].clone());
            (code, value)
        })
        .collect();
    assert_eq!(
        outputs,
        vec![
            ("vcs-service-attended".to_owned(), json!("VCS001")),
            ("ons4-life-satisfaction".to_owned(), json!(4)),
            ("ucla3-total".to_owned(), json!(8)),
        ]
    );
    assert!(
        read["note"]
            .to_string()
            .contains("First attended on 2026-11-28"),
        "{read}"
    );
    // The GP system's own Task records what the walking group did.
    let (_, _, gp) = gw.get_as("riverside-gp", &format!("Task/{gp_task}")).await;
    assert!(
        gp["note"]
            .to_string()
            .contains("completed the onward referral"),
        "{gp}"
    );
    let (_, _, declared) = gw
        .get_as("riverside-lw", &format!("HealthcareService/{service}"))
        .await;
    assert!(declared.to_string().contains("\"waitlist\""), "{declared}");

    // The audit trail names the volunteer, for her organisation, on each change she made.
    let audits = gw
        .store
        .search(&SearchQuery {
            resource_type: "AuditEvent".into(),
            criteria: vec![Criterion::Index {
                param: "entity",
                any_of: vec![(None, format!("Task/{task}"))],
            }],
            count: 200,
            offset: 0,
            sort: SortOrder::default(),
        })
        .await
        .expect("audit");
    let by_her = audits
        .resources
        .iter()
        .filter_map(|r| serde_json::from_str::<Value>(r.body.get()).ok())
        .filter(|a| a["action"] == "U" && a["agent"][0]["name"] == "Val Volunteer")
        .filter(|a| a["agent"][0]["policy"][0] == "urn:signpost:organisation:VCS001")
        .count();
    // Accept, attendance, the scores saved, complete; the refused scores changed nothing.
    assert_eq!(by_her, 4);

    // Another organisation's volunteer: not in her list, and its URL is a 404 like a wrong one.
    browser.sign_out().await;
    browser
        .sign_in("dee@money-advice.example", "another long passphrase")
        .await;
    browser.goto("/console/vcs/referrals").await;
    let theirs = browser.source().await;
    assert!(
        !theirs.contains(&task) && !theirs.contains("Margaret"),
        "{theirs}"
    );
    browser.check_page("referrals-empty").await;
    browser
        .goto(&format!("/console/vcs/referrals/{task}"))
        .await;
    assert_eq!(browser.h1().await, "Page not found");
    let guessed = browser.source().await;
    browser
        .goto("/console/vcs/referrals/no-such-referral")
        .await;
    assert_eq!(
        browser.source().await,
        guessed,
        "an existing referral's 404 is like any other"
    );
    browser.check_page("not-found").await;
    let cookie = browser
        .client
        .get_named_cookie("signpost_console")
        .await
        .expect("cookie");
    let status = reqwest::Client::new()
        .get(format!("{}/console/vcs/referrals/{task}", gw.base))
        .header("cookie", format!("signpost_console={}", cookie.value()))
        .send()
        .await
        .expect("get")
        .status();
    assert_eq!(status, StatusCode::NOT_FOUND);

    browser.client.close().await.expect("close");
}
