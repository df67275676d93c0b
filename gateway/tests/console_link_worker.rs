//! The link worker's forms over plain HTTP against the real gateway and store: a form without the
//! session's CSRF token or with an out-of-date version changes nothing; another organisation's
//! link worker, and a volunteer, get 404 for the referral's pages and forms; a rejection needs its
//! reason; the directory search (name, distance from a point) shows each service's capacity and
//! its refusals on the fields; an onward referral to a service with a waiting list is refused
//! (409, with the alternatives) unless "put on the waiting list" is ticked, as the API's is.

use reqwest::StatusCode;
use serde_json::{Value, json};
use signpost_gateway::directory::capacity::{
    GRAVITY_CAPACITY_SYSTEM, GRAVITY_CAPACITY_URL, SIGNPOST_CAPACITY_URL,
};
use signpost_gateway::workflow::import_directory::import_services;

use crate::support::TestGateway;
use crate::support::console::{get, link_worker, post, sign_in, volunteer};

const ODS: &str = "https://fhir.nhs.uk/Id/ods-organization-code";
const FEED: &str = "https://feed.test/services";

/// One walk: (key, name, capacity status, places free, where it meets if it says).
pub(crate) type Walk<'a> = (&'a str, &'a str, &'a str, u32, Option<(f64, f64)>);

/// Mill Lane's walks in the directory (category walking), each with its capacity as its feed
/// declares it, imported in one go (a feed's import replaces what it held); their ids.
pub(crate) async fn walks(gw: &TestGateway, walks: &[Walk<'_>]) -> Vec<String> {
    let services: Vec<Value> = walks
        .iter()
        .map(|(key, name, status, available, position)| {
            let mut service = json!({
                "resourceType": "HealthcareService",
                "identifier": [{"system": FEED, "value": key}],
                "active": true,
                "providedBy": {"identifier": {"system": ODS, "value": "VCS001"}, "display": "Mill Lane Walking Group"},
                "category": [{"coding": [{"system": "https://openreferraluk.org/taxonomy/test", "code": "walking"}]}],
                "name": name,
                "extension": [
                    {"url": GRAVITY_CAPACITY_URL, "extension": [{"url": "capacityStatus", "valueCodeableConcept": {"coding": [{"system": GRAVITY_CAPACITY_SYSTEM, "code": status}]}}]},
                    {"url": SIGNPOST_CAPACITY_URL, "extension": [
                        {"url": "source", "valueCode": "feed"},
                        {"url": "asOf", "valueInstant": "2026-01-01T00:00:00Z"},
                        {"url": "expires", "valueInstant": "2099-01-01T00:00:00Z"},
                        {"url": "available", "valueUnsignedInt": available},
                        {"url": "maximum", "valueUnsignedInt": 10}
                    ]}
                ],
            });
            if let Some((latitude, longitude)) = position {
                service["contained"] = json!([{"resourceType": "Location", "id": "loc0",
                    "address": {"postalCode": "S1 2HH"},
                    "position": {"latitude": latitude, "longitude": longitude}}]);
                service["location"] = json!([{"reference": "#loc0"}]);
            }
            service
        })
        .collect();
    import_services(gw.store.as_ref(), &services, Some(FEED))
        .await
        .expect("import");
    let mut ids = Vec::new();
    for (key, ..) in walks {
        let (_, _, found) = gw
            .get_as(
                "riverside-lw",
                &format!("HealthcareService?identifier={FEED}|{key}"),
            )
            .await;
        ids.push(
            found["entry"][0]["resource"]["id"]
                .as_str()
                .expect("service id")
                .to_owned(),
        );
    }
    ids
}

async fn task(gw: &TestGateway, id: &str) -> Value {
    gw.get_as("riverside-gp", &format!("Task/{id}")).await.2
}

#[tokio::test]
async fn link_worker_forms_need_the_token_the_version_and_the_organisation() {
    let gw = TestGateway::spawn().await;
    let (_, lw_task) = gw.referral_with_task().await;
    let id = lw_task["id"].as_str().expect("id").to_owned();
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
    volunteer(
        &gw,
        "VCS001",
        "Val Volunteer",
        "val@mill-lane.example",
        "a third long passphrase",
    )
    .await;
    let (lee, lee_csrf) =
        sign_in(&gw, "lee@riverside-sp.example", "a long enough passphrase").await;
    let (cat, cat_csrf) = sign_in(&gw, "cat@city-lw.example", "another long passphrase").await;
    let (val, _) = sign_in(&gw, "val@mill-lane.example", "a third long passphrase").await;
    let page = format!("/console/link-worker/referrals/{id}");
    let accept = format!("{page}/accept");
    let version = lw_task["meta"]["versionId"]
        .as_str()
        .expect("version")
        .to_owned();

    let (status, body) = get(&gw, &lee, &page).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The link worker is the GP's direct recipient: what the GP sent is theirs to read.
    for shown in [
        "Margaret Okafor",
        "9434765919",
        "Lonely since bereavement",
        "Riverside Surgery",
    ] {
        assert!(body.contains(shown), "{shown} missing: {body}");
    }

    // Without the token, with another session's token: refused, nothing changed.
    for form in [
        vec![("version", version.as_str())],
        vec![("csrf", cat_csrf.as_str()), ("version", version.as_str())],
    ] {
        let (status, _, _) = post(&gw, &lee, &accept, &form).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    // Another organisation's link worker, with her own valid token: as if there were no such
    // referral, for its page, its directory search and each of its forms.
    for path in [page.clone(), format!("{page}/refer")] {
        assert_eq!(
            get(&gw, &cat, &path).await.0,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    for action in ["accept", "reject", "start", "complete", "refer"] {
        let (status, _, body) = post(
            &gw,
            &cat,
            &format!("{page}/{action}"),
            &[
                ("csrf", &cat_csrf),
                ("version", &version),
                ("reason", "not ours"),
                ("service", "x"),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{action}: {body}");
    }
    assert_eq!(
        get(&gw, &cat, &page).await.1,
        get(&gw, &cat, "/console/link-worker/referrals/no-such-referral")
            .await
            .1,
        "an existing referral's 404 is like any other"
    );
    // Her worklist does not show it.
    let (_, theirs) = get(&gw, &cat, "/console/link-worker/referrals").await;
    assert!(
        !theirs.contains(&id) && !theirs.contains("Margaret"),
        "{theirs}"
    );
    // A volunteer has no link-worker pages at all.
    assert_eq!(get(&gw, &val, &page).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        get(&gw, &val, "/console/link-worker/referrals").await.0,
        StatusCode::NOT_FOUND
    );

    // A form drawn from an older version is refused as out of date.
    let (status, _, body) = post(
        &gw,
        &lee,
        &accept,
        &[("csrf", &lee_csrf), ("version", "99")],
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.contains("changed while you had it open"), "{body}");
    assert_eq!(task(&gw, &id).await["status"], "requested");

    // Rejecting needs a reason: the error links to the field.
    let (status, _, body) = post(
        &gw,
        &lee,
        &format!("{page}/reject"),
        &[("csrf", &lee_csrf), ("version", &version), ("reason", " ")],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body.contains("href=\"#reason\"") && body.contains("Say why you are rejecting"),
        "{body}"
    );
    assert_eq!(task(&gw, &id).await["status"], "requested");

    let (status, location, body) = post(
        &gw,
        &lee,
        &accept,
        &[("csrf", &lee_csrf), ("version", &version)],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(location.as_deref(), Some(page.as_str()));
    assert_eq!(task(&gw, &id).await["status"], "accepted");
}

#[tokio::test]
async fn the_directory_search_shows_capacity_and_takes_a_waiting_list_place_only_when_ticked() {
    let gw = TestGateway::spawn().await;
    let ids = walks(
        &gw,
        &[
            ("sunday-walk", "Mill Lane Sunday Walk", "waitlist", 0, None),
            (
                "saturday-walk",
                "Mill Lane Saturday Walk",
                "capacity",
                3,
                Some((53.3811, -1.4701)),
            ),
        ],
    )
    .await;
    let (waitlist, room) = (&ids[0], &ids[1]);
    let (sr, lw_task) = gw.referral_with_task().await;
    let id = lw_task["id"].as_str().expect("id").to_owned();
    gw.move_task("riverside-lw", &lw_task, "accepted").await;
    link_worker(
        &gw,
        "LWS001",
        "Lee Link",
        "lee@riverside-sp.example",
        "a long enough passphrase",
    )
    .await;
    let (lee, csrf) = sign_in(&gw, "lee@riverside-sp.example", "a long enough passphrase").await;
    let refer = format!("/console/link-worker/referrals/{id}/refer");

    // The search shows each service's capacity, and offers the waiting list only where there is one.
    let (status, found) = get(&gw, &lee, &format!("{refer}?name=walk")).await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert!(found.contains("2 found"), "{found}");
    assert!(
        found.contains("Full, with a waiting list") && found.contains("3 places free"),
        "{found}"
    );
    assert!(
        found.contains(&format!("id=\"result-{waitlist}-waitlist\"")),
        "{found}"
    );
    assert!(
        !found.contains(&format!("id=\"result-{room}-waitlist\"")),
        "{found}"
    );
    // By distance from a point: only the walk that says where it meets, within the distance.
    let (_, near) = get(&gw, &lee, &format!("{refer}?near=53.3781%2C+-1.4620&km=2")).await;
    assert!(
        near.contains("1 found") && near.contains("Mill Lane Saturday Walk"),
        "{near}"
    );
    let (_, far) = get(&gw, &lee, &format!("{refer}?near=54.0%2C+-1.4620&km=2")).await;
    assert!(far.contains("0 found"), "{far}");
    // A search the directory refuses is the form's error, at its field.
    for (query, field) in [
        ("name=two+words", "name"),
        ("near=53.3781%2C+-1.4620&km=500", "near"),
        ("near=somewhere", "near"),
        ("postcode=nowhere", "postcode"),
    ] {
        let (status, refused) = get(&gw, &lee, &format!("{refer}?{query}")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            refused.contains(&format!("href=\"#{field}\"")) && refused.contains("0 found"),
            "{query}: {refused}"
        );
    }

    let (status, _, body) =
        post(&gw, &lee, &refer, &[("csrf", &csrf), ("service", waitlist)]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body.contains("did not accept a waiting-list place"),
        "{body}"
    );
    assert!(
        body.contains(&format!("id=\"refer-alternative-{room}\"")),
        "{body}"
    );
    let (_, _, none) = gw
        .get_as("riverside-lw", &format!("Task?part-of=Task/{id}"))
        .await;
    assert_eq!(none["total"], 0, "{none}");

    let (status, location, body) = post(
        &gw,
        &lee,
        &refer,
        &[("csrf", &csrf), ("service", waitlist), ("waitlist", "yes")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(
        location.as_deref(),
        Some(format!("/console/link-worker/referrals/{id}").as_str())
    );
    let (_, _, onward) = gw
        .get_as("riverside-lw", &format!("Task?part-of=Task/{id}"))
        .await;
    assert_eq!(onward["total"], 1, "{onward}");
    let vcs_task = &onward["entry"][0]["resource"];
    assert_eq!(
        vcs_task["owner"]["identifier"]["value"], "VCS001",
        "{vcs_task}"
    );
    // The onward ServiceRequest is the API's: basedOn the GP's, to the service, from the link worker.
    let focus = vcs_task["focus"]["reference"].as_str().expect("focus");
    let (_, _, onward_sr) = gw.get_as("riverside-lw", focus).await;
    assert_eq!(
        onward_sr["basedOn"][0]["reference"],
        format!("ServiceRequest/{}", sr["id"].as_str().expect("id")),
        "{onward_sr}"
    );
    assert_eq!(
        onward_sr["performer"][0]["reference"],
        format!("HealthcareService/{waitlist}")
    );
    assert_eq!(onward_sr["requester"]["identifier"]["value"], "LWS001");
    // The CSRF token is needed here too.
    let (status, _, _) = post(&gw, &lee, &refer, &[("service", room)]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
