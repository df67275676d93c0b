//! The volunteer's forms over plain HTTP against the real gateway and store: a form without the
//! session's CSRF token or with an out-of-date version changes nothing; another organisation's
//! volunteer gets 404 for the referral's page and its forms; a decline at capacity marks the
//! service full, as the API's decline does; a decline without its reason is shown as an error.

use reqwest::StatusCode;
use serde_json::Value;

use crate::console_browser::{referred_on, walking_service};
use crate::support::TestGateway;
use crate::support::console::{client, post, sign_in, volunteer};

async fn task_status(gw: &TestGateway, task: &str) -> Value {
    gw.get_as("riverside-lw", &format!("Task/{task}")).await.2
}

#[tokio::test]
async fn volunteer_forms_need_the_token_the_version_and_the_organisation() {
    let gw = TestGateway::spawn().await;
    let service = walking_service(&gw).await;
    let (_, task) = referred_on(&gw, &service).await;
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
    let (val, val_csrf) = sign_in(&gw, "val@mill-lane.example", "a long enough passphrase").await;
    let (dee, dee_csrf) = sign_in(&gw, "dee@money-advice.example", "another long passphrase").await;
    let accept = format!("/console/vcs/referrals/{task}/accept");
    let version = task_status(&gw, &task).await["meta"]["versionId"]
        .as_str()
        .expect("version")
        .to_owned();

    // Without the token, with another session's token: refused, nothing changed.
    for form in [
        vec![("version", version.as_str())],
        vec![("csrf", dee_csrf.as_str()), ("version", version.as_str())],
    ] {
        let (status, _, _) = post(&gw, &val, &accept, &form).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    // Another organisation's volunteer, with her own valid token: as if there were no such referral.
    let (status, _, body) = post(
        &gw,
        &dee,
        &accept,
        &[("csrf", &dee_csrf), ("version", &version)],
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let page = client()
        .get(format!("{}/console/vcs/referrals/{task}", gw.base))
        .header("cookie", &dee)
        .send()
        .await
        .expect("get");
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    // A form drawn from an older version is refused as out of date.
    let (status, _, body) = post(
        &gw,
        &val,
        &accept,
        &[("csrf", &val_csrf), ("version", "99")],
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.contains("changed while you had it open"), "{body}");
    assert_eq!(task_status(&gw, &task).await["status"], "requested");

    // Declining for "another reason" needs the reason: the error links to the field.
    let decline = format!("/console/vcs/referrals/{task}/decline");
    let (status, _, body) = post(
        &gw,
        &val,
        &decline,
        &[
            ("csrf", &val_csrf),
            ("version", &version),
            ("reason", "other"),
            ("details", ""),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body.contains("href=\"#details\"") && body.contains("Say why you are declining"),
        "{body}"
    );
    assert!(
        body.contains("value=\"other\" checked"),
        "the choice is kept: {body}"
    );

    // At capacity: the Task is declined with the coded reason and the service is marked full.
    let (status, location, body) = post(
        &gw,
        &val,
        &decline,
        &[
            ("csrf", &val_csrf),
            ("version", &version),
            ("reason", "at-capacity"),
            ("details", "Our walks are full until spring"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(
        location.as_deref(),
        Some(format!("/console/vcs/referrals/{task}").as_str())
    );
    let declined = task_status(&gw, &task).await;
    assert_eq!(declined["status"], "rejected");
    assert_eq!(declined["statusReason"]["coding"][0]["code"], "at-capacity");
    assert_eq!(
        declined["statusReason"]["text"],
        "Our walks are full until spring"
    );
    let (_, _, full) = gw
        .get_as("riverside-lw", &format!("HealthcareService/{service}"))
        .await;
    assert!(full.to_string().contains("\"no-capacity\""), "{full}");
}
