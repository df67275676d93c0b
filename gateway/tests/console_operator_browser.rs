//! The operator's console in a real headless browser: the link worker's platform refuses the
//! GP's referral until its deliveries go dead; the operator signs in, finds the dead delivery,
//! replays it after its confirmation page once the partner is healthy again, and the partner
//! receives it; the operator then finds the referral's timeline by the GP's own identifier for
//! it, and reads partners' health, the audit trail, unmet demand and the reports' charts, the
//! last also by link-worker service and quarter. Every operator page is checked with axe-core
//! and for a phone's width, and kept as a screenshot.

use std::time::Duration;

use serde_json::Value;

use crate::console_operator::dead_delivery;
use crate::support::browser::Browser;
use crate::support::console;

#[tokio::test]
async fn an_operator_replays_a_dead_delivery_and_reads_the_referrals_timeline_in_the_browser() {
    let (gw, partner, sr, dead) = dead_delivery().await;
    console::operator(&gw, "oona@signpost.example", "an operator's passphrase").await;
    // A directory search for a service with room that finds none: demand the operator sees.
    let (status, _, _) = gw
        .get_as("riverside-lw", "HealthcareService?capacity=capacity")
        .await;
    assert_eq!(status, reqwest::StatusCode::OK);
    let tried = gw.store.delivery(&dead).await.expect("read").expect("kept");
    // A 400 is a refusal for good: dead after the one attempt, with the partner's answer.
    assert_eq!(tried.attempts, 1, "{tried:?}");
    assert!(
        tried
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("unknown practitioner")),
        "{tried:?}"
    );

    let browser = Browser::start(&gw.base).await;
    browser
        .sign_in("oona@signpost.example", "an operator's passphrase")
        .await;
    assert_eq!(browser.path().await, "/console");
    browser.check_page("operator-home").await;

    browser
        .click_through("a.nhsuk-header__navigation-link[href='/console/operator/deliveries']")
        .await;
    let list = browser.source().await;
    assert!(list.contains("unknown practitioner"), "{list}");
    assert!(
        list.contains("Riverside Social Prescribing Service (LWS001)"),
        "{list}"
    );
    browser.check_page("operator-deliveries-dead").await;

    browser
        .click_through(&format!("a[href='/console/operator/deliveries/{dead}']"))
        .await;
    assert!(browser.source().await.contains(">Dead<"));
    browser.check_page("operator-delivery-dead").await;

    // Discard's confirmation says what would happen; going back changes nothing.
    browser.click_through("#discard").await;
    assert_eq!(browser.h1().await, "Discard this delivery?");
    browser.check_page("operator-confirm-discard").await;
    browser.click_through("form a.nhsuk-link").await;
    assert_eq!(
        browser.path().await,
        format!("/console/operator/deliveries/{dead}")
    );

    browser.click_through("#replay").await;
    assert_eq!(browser.h1().await, "Replay this delivery?");
    browser.check_page("operator-confirm-replay").await;
    partner.set_down(false);
    browser.click_through("#confirm").await;
    assert_eq!(
        browser.path().await,
        format!("/console/operator/deliveries/{dead}")
    );
    let task_id = {
        let stored = gw.store.delivery(&dead).await.expect("read").expect("kept");
        stored.task.split('/').nth(1).expect("task id").to_owned()
    };
    assert!(
        partner
            .wait_until(Duration::from_secs(20), |received| received
                .iter()
                .any(|r| r.accepted))
            .await,
        "the partner never received the replayed delivery"
    );
    let accepted: Vec<Value> = partner.accepted_tasks();
    assert!(
        accepted.iter().any(|t| t["id"] == task_id.as_str()),
        "{accepted:?}"
    );
    // The page as the operator reloads it once the worker has recorded the answer.
    let mut delivered = false;
    for _ in 0..200 {
        browser
            .goto(&format!("/console/operator/deliveries/{dead}"))
            .await;
        if browser.source().await.contains(">Delivered<") {
            delivered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(delivered, "{}", browser.source().await);
    browser.check_page("operator-delivery-delivered").await;

    // The timeline, found by the GP's own identifier for the referral.
    let identifier = sr["identifier"][0]["value"]
        .as_str()
        .expect("the GP's identifier");
    let sr_id = sr["id"].as_str().expect("id");
    browser
        .click_through("a.nhsuk-header__navigation-link[href='/console/operator/timeline']")
        .await;
    browser.check_page("operator-timeline-search").await;
    browser.fill("q", identifier).await;
    browser
        .click_through("form[action='/console/operator/timeline'] button")
        .await;
    let timeline = browser.source().await;
    assert!(
        timeline.contains(&format!("ServiceRequest/{sr_id}")),
        "{timeline}"
    );
    assert!(timeline.contains(&format!("Task/{task_id}")), "{timeline}");
    assert!(timeline.contains(">Delivered<"), "{timeline}");
    // The delivery's answer: taken on the replay, after the partner's first refusal.
    assert!(
        timeline.contains("Accepted ") && timeline.contains("Before that: "),
        "{timeline}"
    );
    assert!(timeline.contains("version 1"), "{timeline}");
    browser.check_page("operator-timeline").await;
    browser.fill("q", "no-such-referral").await;
    browser
        .click_through("form[action='/console/operator/timeline'] button")
        .await;
    assert!(browser.source().await.contains("nhsuk-error-summary"));
    browser.check_page("operator-timeline-not-found").await;

    browser
        .click_through("a.nhsuk-header__navigation-link[href='/console/operator/partners']")
        .await;
    let partners = browser.source().await;
    assert!(partners.contains("fhir-rest"), "{partners}");
    assert!(partners.contains(">Closed<"), "{partners}");
    browser.check_page("operator-partners").await;

    browser
        .click_through("a.nhsuk-header__navigation-link[href='/console/operator/audit']")
        .await;
    browser.fill("organisation", "LWS001").await;
    browser
        .click_through("form[action='/console/operator/audit'] button")
        .await;
    let trail = browser.source().await;
    assert!(trail.contains("replayed by an operator"), "{trail}");
    browser.check_page("operator-audit").await;

    browser
        .click_through("a.nhsuk-header__navigation-link[href='/console/operator/unmet-demand']")
        .await;
    let demand = browser.source().await;
    // One search is under the disclosure threshold: suppressed, not shown as 1.
    assert!(demand.contains("Suppressed"), "{demand}");
    assert!(
        demand.contains("disclosure policy <strong>signpost-default</strong>"),
        "{demand}"
    );
    browser.check_page("operator-unmet-demand").await;

    browser
        .click_through("a.nhsuk-header__navigation-link[href='/console/operator/reports']")
        .await;
    assert_eq!(browser.h1().await, "Reports");
    charts_with_their_tables(&browser).await;
    browser.check_page("operator-reports").await;
    // This quarter, by link-worker service: the referral's platform is its one group.
    let today = time::OffsetDateTime::now_utc().date();
    let quarter = time::Month::try_from((u8::from(today.month()) - 1) / 3 * 3 + 1)
        .expect("a quarter's first month");
    let from = time::Date::from_calendar_date(today.year(), quarter, 1).expect("date");
    let to = from
        .checked_add(time::Duration::days(95))
        .expect("date")
        .replace_day(1)
        .expect("day 1");
    browser.choose("by", "link-worker-service").await;
    browser.choose("interval", "quarter").await;
    browser.fill("from", &from.to_string()).await;
    browser.fill("to", &to.to_string()).await;
    browser
        .click_through("form[action='/console/operator/reports'] button")
        .await;
    assert_eq!(browser.path().await, "/console/operator/reports");
    assert_eq!(browser.value_of("by").await, "link-worker-service");
    assert_eq!(browser.value_of("interval").await, "quarter");
    let quarterly = browser.source().await;
    assert!(!quarterly.contains("nhsuk-error-summary"), "{quarterly}");
    assert!(quarterly.contains("LWS001"), "{quarterly}");
    assert!(
        quarterly.contains(&format!(
            "reports.csv?by=link-worker-service&amp;interval=quarter&amp;from={from}&amp;to={to}"
        )),
        "{quarterly}"
    );
    charts_with_their_tables(&browser).await;
    browser.check_page("operator-reports-quarterly").await;

    browser.client.close().await.expect("close");
}

/// The reports page as a screen reader meets it: at least one chart, every chart an image with
/// a text alternative, and a data table with a caption for every chart.
async fn charts_with_their_tables(browser: &Browser) {
    let charts = browser
        .client
        .execute(
            "return Array.from(document.querySelectorAll('svg[role=img]')).map(s => ({
                 name: s.getAttribute('aria-label') || '',
                 title: (s.querySelector('title') || {}).textContent || ''
             }));",
            vec![],
        )
        .await
        .expect("the charts");
    let charts = charts.as_array().expect("a list");
    assert!(!charts.is_empty(), "{}", browser.source().await);
    // The kept screenshot then shows a chart, not only the form.
    browser
        .client
        .execute(
            "document.querySelector('svg[role=img]').scrollIntoView();",
            vec![],
        )
        .await
        .expect("scroll to the first chart");
    for chart in charts {
        let name = chart["name"].as_str().unwrap_or_default();
        let title = chart["title"].as_str().unwrap_or_default();
        assert!(!title.is_empty() && name.starts_with(title), "{chart}");
    }
    let tables = browser
        .client
        .execute(
            "return Array.from(document.querySelectorAll('table')).filter(t =>
                 t.querySelector('caption') && t.querySelectorAll('tbody tr').length > 0).length;",
            vec![],
        )
        .await
        .expect("the tables");
    assert!(
        tables.as_u64().is_some_and(|n| n >= charts.len() as u64),
        "{} charts, {tables} tables with rows",
        charts.len()
    );
}
