//! SMART Backend Services, scopes, tenancy and audit, over real HTTP with real keys.

use crate::support;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};
use signpost_conformance::keys::{ClientKey, KeyAlgorithm};
use signpost_conformance::smart::{AssertionClaims, request_token_raw, unix_now};
use signpost_gateway::auth::AccessClaims;
use signpost_gateway::store::OutboxCounts;
use support::{REFERRAL, TestGateway, answer, issue, referral};

const NHS_NUMBER: &str = "9434765919";

async fn get_with(
    gw: &TestGateway,
    authorization: Option<&str>,
    path: &str,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut request = gw.http.get(format!("{}/{path}", gw.fhir));
    if let Some(a) = authorization {
        request = request.header("authorization", a);
    }
    answer(request.send().await.expect("get")).await
}

async fn post_with(
    gw: &TestGateway,
    authorization: Option<&str>,
    body: &str,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut request = gw
        .http
        .post(format!("{}/ServiceRequest", gw.fhir))
        .header("content-type", "application/fhir+json")
        .body(body.to_owned());
    if let Some(a) = authorization {
        request = request.header("authorization", a);
    }
    answer(request.send().await.expect("post")).await
}

/// Access-token claims as the gateway would issue them for riverside-gp.
fn claims(exp: u64) -> AccessClaims {
    AccessClaims {
        iss: "http://gateway.test".into(),
        sub: "riverside-gp".into(),
        aud: "http://gateway.test/fhir".into(),
        exp,
        iat: unix_now(),
        jti: "t1".into(),
        org: "A81001".into(),
        scope: "system/ServiceRequest.crs system/Task.rs".into(),
    }
}

fn sign(claims: &AccessClaims, key: &ClientKey) -> String {
    let mut header = jsonwebtoken::Header::new(key.algorithm.jwt());
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &key.encoding_key().expect("key")).expect("sign")
}

#[tokio::test]
async fn metadata_and_smart_configuration_need_no_token() {
    let gw = TestGateway::spawn().await;
    let (status, _, cs) = get_with(&gw, None, "metadata").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        cs["rest"][0]["security"]["service"][0]["coding"][0]["code"],
        "SMART-on-FHIR"
    );
    let smart: Value = gw
        .http
        .get(format!("{}/.well-known/smart-configuration", gw.base))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(smart["token_endpoint"], "http://gateway.test/auth/token");
    assert_eq!(
        smart["token_endpoint_auth_methods_supported"],
        json!(["private_key_jwt"])
    );
    assert_eq!(
        smart["token_endpoint_auth_signing_alg_values_supported"],
        json!(["RS384", "ES384"])
    );
}

#[tokio::test]
async fn missing_malformed_expired_forged_none_and_hmac_tokens_get_401() {
    let gw = TestGateway::spawn().await;
    let gateway_key =
        ClientKey::from_pem(&std::fs::read_to_string(gw.dir.join("token-key.pem")).expect("key"))
            .expect("pem");
    let stranger = ClientKey::generate(KeyAlgorithm::Es384).expect("key");
    let payload =
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(unix_now() + 60)).expect("json"));
    let none = format!(
        "{}.{payload}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#)
    );
    let public_jwk = gateway_key.jwk.to_string();
    let hmac = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims(unix_now() + 60),
        &jsonwebtoken::EncodingKey::from_secret(public_jwk.as_bytes()),
    )
    .expect("sign");
    // Sanity: the gateway's own key with good claims is accepted, so the refusals below are about the token.
    let genuine = sign(&claims(unix_now() + 60), &gateway_key);
    assert_eq!(
        get_with(&gw, Some(&format!("Bearer {genuine}")), "Task?owner=LWS001")
            .await
            .0,
        StatusCode::OK
    );

    let cases = [
        ("no token", None),
        ("not bearer", Some("Basic cmVhZDpvbmx5".to_owned())),
        ("not a JWT", Some("Bearer not-a-jwt".to_owned())),
        (
            "expired",
            Some(format!(
                "Bearer {}",
                sign(&claims(unix_now() - 5), &gateway_key)
            )),
        ),
        (
            "unknown key",
            Some(format!(
                "Bearer {}",
                sign(&claims(unix_now() + 60), &stranger)
            )),
        ),
        ("alg none", Some(format!("Bearer {none}"))),
        ("HS256 with the public key", Some(format!("Bearer {hmac}"))),
    ];
    for (what, authorization) in cases {
        let (status, headers, outcome) =
            get_with(&gw, authorization.as_deref(), "Task?owner=LWS001").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {outcome}");
        assert!(
            headers["www-authenticate"]
                .to_str()
                .expect("ascii")
                .starts_with("Bearer realm=\"signpost\""),
            "{what}"
        );
        assert_eq!(issue(&outcome).0, "login", "{what}");
        assert!(
            outcome["entry"].is_null(),
            "{what}: a refusal must not carry data"
        );
        let (status, _, _) = post_with(&gw, authorization.as_deref(), REFERRAL).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}");
    }
    assert_eq!(
        gw.stored().await,
        (0, 0, OutboxCounts::default()),
        "a refused request stored something"
    );
}

/// Posts an assertion and returns the status and OAuth error code.
async fn try_assertion(gw: &TestGateway, assertion: &str, scope: &str) -> (u16, String) {
    let (status, body) = request_token_raw(&gw.http, &gw.token_endpoint(), assertion, scope)
        .await
        .expect("request");
    let json: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    (status, json["error"].as_str().unwrap_or("").to_owned())
}

#[tokio::test]
async fn client_assertions_are_checked_before_any_token_is_issued() {
    let gw = TestGateway::spawn().await;
    let key = &gw.keys["riverside-gp"];
    let scope = "system/Task.rs";
    let aud = gw.token_audience();
    let good = |edit: &dyn Fn(&mut AssertionClaims)| {
        let mut c = AssertionClaims::new("riverside-gp", aud, 120);
        edit(&mut c);
        c
    };
    let wrong_aud = good(&|c| c.aud = "http://elsewhere.test/auth/token".into())
        .sign(key)
        .expect("sign");
    assert_eq!(
        try_assertion(&gw, &wrong_aud, scope).await,
        (401, "invalid_client".into())
    );
    let expired = good(&|c| c.exp = unix_now() - 60).sign(key).expect("sign");
    assert_eq!(
        try_assertion(&gw, &expired, scope).await,
        (401, "invalid_client".into())
    );
    let too_long = good(&|c| c.exp = unix_now() + 600).sign(key).expect("sign");
    assert_eq!(
        try_assertion(&gw, &too_long, scope).await,
        (401, "invalid_client".into())
    );
    let sub_differs = good(&|c| c.sub = "hillside-gp".into())
        .sign(key)
        .expect("sign");
    assert_eq!(
        try_assertion(&gw, &sub_differs, scope).await,
        (401, "invalid_client".into())
    );
    let stranger_key = ClientKey::generate(KeyAlgorithm::Es384).expect("key");
    let unknown_client = AssertionClaims::new("stranger", aud, 120)
        .sign(&stranger_key)
        .expect("sign");
    assert_eq!(
        try_assertion(&gw, &unknown_client, scope).await,
        (401, "invalid_client".into())
    );
    let unregistered_key = good(&|_| {}).sign(&stranger_key).expect("sign");
    assert_eq!(
        try_assertion(&gw, &unregistered_key, scope).await,
        (401, "invalid_client".into())
    );
    // Signed by another key under the registered kid: the signature check must fail.
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES384);
    header.kid = Some(key.kid.clone());
    let borrowed_kid = jsonwebtoken::encode(
        &header,
        &good(&|_| {}),
        &stranger_key.encoding_key().expect("key"),
    )
    .expect("sign");
    assert_eq!(
        try_assertion(&gw, &borrowed_kid, scope).await,
        (401, "invalid_client".into())
    );

    let once = good(&|_| {}).sign(key).expect("sign");
    assert_eq!(try_assertion(&gw, &once, scope).await.0, 200);
    assert_eq!(
        try_assertion(&gw, &once, scope).await,
        (401, "invalid_client".into()),
        "a replayed jti was accepted"
    );

    let bad_grant = gw
        .http
        .post(gw.token_endpoint())
        .form(&[("grant_type", "password"), ("username", "x")])
        .send()
        .await
        .expect("post");
    assert_eq!(bad_grant.status(), StatusCode::BAD_REQUEST);
    let body: Value = bad_grant.json().await.expect("json");
    assert_eq!(body["error"], "unsupported_grant_type");
}

#[tokio::test]
async fn rs384_and_es384_clients_get_the_intersection_of_requested_and_configured_scopes() {
    let gw = TestGateway::spawn().await;
    let rsa = gw
        .token_with(
            "hillside-gp",
            "system/Task.cruds system/ServiceRequest.read",
        )
        .await
        .expect("RS384 client gets a token");
    assert_eq!(rsa.scope, "system/Task.rs system/ServiceRequest.rs");
    assert_eq!(rsa.token_type, "bearer");
    assert_eq!(rsa.expires_in, 300);
    let ec = gw
        .token_with("riverside-gp", "system/Task.read")
        .await
        .expect("ES384 client gets a token");
    assert_eq!(ec.scope, "system/Task.rs");
    let refused = gw
        .token_with("riverside-gp", "system/Patient.rs")
        .await
        .expect_err("no overlap");
    assert!(refused.to_string().contains("invalid_scope"), "{refused}");
    let malformed = gw
        .token_with("riverside-gp", "system/Task.sr")
        .await
        .expect_err("out of order");
    assert!(
        malformed.to_string().contains("invalid_scope"),
        "{malformed}"
    );
}

#[tokio::test]
async fn a_replayed_jti_is_refused_after_a_restart() {
    let gw = TestGateway::spawn().await;
    let assertion = AssertionClaims::new("riverside-gp", gw.token_audience(), 120)
        .sign(&gw.keys["riverside-gp"])
        .expect("sign");
    assert_eq!(
        try_assertion(&gw, &assertion, "system/Task.rs").await.0,
        200
    );
    let restarted = gw.restart().await;
    assert_eq!(
        try_assertion(&restarted, &assertion, "system/Task.rs").await,
        (401, "invalid_client".into())
    );
    // A fresh assertion still works on the restarted gateway, and the gateway key was kept.
    let fresh = AssertionClaims::new("riverside-gp", gw.token_audience(), 120)
        .sign(&gw.keys["riverside-gp"])
        .expect("sign");
    assert_eq!(
        try_assertion(&restarted, &fresh, "system/Task.rs").await.0,
        200
    );
    let old_token = gw.token("riverside-gp").await;
    let (status, _, _) = get_with(
        &restarted,
        Some(&format!("Bearer {old_token}")),
        "Task?owner=LWS001",
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "tokens survive a restart because the signing key is kept"
    );
}

#[tokio::test]
async fn each_interaction_needs_its_scope() {
    let gw = TestGateway::spawn().await;
    let (status, _, sr) = gw
        .post_as("create-only-gp", "ServiceRequest", REFERRAL, &[])
        .await;
    assert_eq!(status, StatusCode::CREATED, "create needs only c: {sr}");
    let id = sr["id"].as_str().expect("id");

    let forbidden = |r: (StatusCode, reqwest::header::HeaderMap, Value)| {
        assert_eq!(r.0, StatusCode::FORBIDDEN, "{}", r.2);
        assert_eq!(issue(&r.2).0, "forbidden");
        assert!(r.2.get("entry").is_none());
    };
    forbidden(
        gw.get_as("create-only-gp", &format!("ServiceRequest/{id}"))
            .await,
    );
    forbidden(
        gw.get_as("create-only-gp", "ServiceRequest?status=active")
            .await,
    );
    forbidden(
        gw.get_as("create-only-gp", &format!("ServiceRequest/{id}/_history"))
            .await,
    );
    forbidden(gw.get_as("create-only-gp", "Task?owner=LWS001").await);

    assert_eq!(
        gw.get_as("read-only-gp", &format!("ServiceRequest/{id}"))
            .await
            .0,
        StatusCode::OK
    );
    forbidden(
        gw.get_as("read-only-gp", "ServiceRequest?status=active")
            .await,
    );
    forbidden(
        gw.post_as("read-only-gp", "ServiceRequest", REFERRAL, &[])
            .await,
    );
    assert_eq!(gw.stored().await.0, 1, "a refused create stored something");

    forbidden(gw.get_as("operator", &format!("ServiceRequest/{id}")).await);
    forbidden(gw.get_as("operator", "Task?owner=LWS001").await);
    forbidden(gw.get_as("riverside-gp", "AuditEvent").await);

    // Update needs u: the read-only client is the Task's requester, but may not cancel it.
    let (_, _, tasks) = gw
        .get_as("riverside-gp", &format!("Task?focus=ServiceRequest/{id}"))
        .await;
    let mut task = tasks["entry"][0]["resource"].clone();
    task["status"] = json!("cancelled");
    forbidden(gw.put_task("read-only-gp", &task, Some(1)).await);
    let task_id = task["id"].as_str().expect("id");
    assert_eq!(
        gw.get_as("riverside-gp", &format!("Task/{task_id}"))
            .await
            .2["status"],
        "requested",
        "a refused update changed the Task"
    );
}

#[tokio::test]
async fn organisations_see_only_referrals_they_are_party_to() {
    let gw = TestGateway::spawn().await;
    let (_, _, sr) = gw.post_referral(REFERRAL).await;
    let id = sr["id"].as_str().expect("id");
    let (_, _, tasks) = gw
        .get_as("riverside-gp", &format!("Task?focus=ServiceRequest/{id}"))
        .await;
    let task_id = tasks["entry"][0]["resource"]["id"]
        .as_str()
        .expect("task")
        .to_owned();

    for outsider in ["hillside-gp", "city-lw", "walking-app"] {
        for path in [
            format!("ServiceRequest/{id}"),
            format!("ServiceRequest/{id}/_history"),
            format!("ServiceRequest/{id}/_history/1"),
            format!("Task/{task_id}"),
            format!("Task/{task_id}/_history"),
        ] {
            let (status, _, outcome) = gw.get_as(outsider, &path).await;
            assert_eq!(
                status,
                StatusCode::NOT_FOUND,
                "{outsider} {path}: {outcome}"
            );
            assert!(
                !outcome.to_string().contains(NHS_NUMBER),
                "{outsider} {path} leaked the NHS number"
            );
        }
        for search in [
            "ServiceRequest?identifier=https://fhir.riverside-surgery.example/referral|RS-2026-000184".to_owned(),
            "ServiceRequest?subject:identifier=https://fhir.nhs.uk/Id/nhs-number|9434765919".to_owned(),
            "ServiceRequest".to_owned(),
            format!("Task?focus=ServiceRequest/{id}"),
            "Task?owner=LWS001".to_owned(),
        ] {
            let (status, _, bundle) = gw.get_as(outsider, &search).await;
            if status == StatusCode::FORBIDDEN {
                continue;
            }
            assert_eq!(status, StatusCode::OK, "{outsider} {search}");
            assert_eq!(bundle["total"], 0, "{outsider} {search} saw: {bundle}");
        }
    }
    // The link-worker service the referral was routed to is party to it.
    assert_eq!(
        gw.get_as("riverside-lw", &format!("ServiceRequest/{id}"))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        gw.get_as("riverside-lw", "Task?owner=LWS001&status=requested")
            .await
            .2["total"],
        1
    );
    assert_eq!(
        gw.get_as("riverside-lw", &format!("Task/{task_id}"))
            .await
            .0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_gp_cannot_refer_on_behalf_of_another_practice() {
    let gw = TestGateway::spawn().await;
    let (status, _, outcome) = gw
        .post_as("hillside-gp", "ServiceRequest", REFERRAL, &[])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{outcome}");
    assert_eq!(
        issue(&outcome),
        ("forbidden", "ServiceRequest.requester.identifier.value")
    );
    assert_eq!(gw.stored().await, (0, 0, OutboxCounts::default()));
}

#[tokio::test]
async fn a_vcs_provider_sees_a_minimised_referral() {
    let gw = TestGateway::spawn().await;
    // A VCS provider is party to a referral as the one performer of the link worker's onward
    // referral (a GP referral may name link-worker services only).
    let (gp_sr, lw_task) = gw.referral_with_task().await;
    gw.move_task("riverside-lw", &lw_task, "accepted").await;
    let mut sr = referral();
    sr["requester"] = json!({"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "LWS001"}});
    sr["performer"] = json!([{"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "VCS001"}}]);
    sr["basedOn"] =
        json!([{"reference": format!("ServiceRequest/{}", gp_sr["id"].as_str().expect("id"))}]);
    sr["intent"] = json!("filler-order");
    let (status, _, created) = gw
        .post_as("riverside-lw", "ServiceRequest", sr.to_string(), &[])
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().expect("id");
    assert!(
        created.to_string().contains(NHS_NUMBER),
        "the link worker gets its own referral back whole"
    );

    let (status, headers, view) = gw
        .get_as("walking-app", &format!("ServiceRequest/{id}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(headers["etag"], "W/\"1\"");
    let (_, _, search) = gw
        .get_as("walking-app", "ServiceRequest?status=active")
        .await;
    assert_eq!(search["total"], 1);
    let (_, _, history) = gw
        .get_as("walking-app", &format!("ServiceRequest/{id}/_history"))
        .await;
    for (what, body) in [("read", &view), ("search", &search), ("history", &history)] {
        let text = body.to_string();
        for hidden in [
            NHS_NUMBER,
            "1948-03-14",
            "12 Mill Lane",
            "S1 2AB",
            "female",
            "Prefers phone contact",
        ] {
            assert!(
                !text.contains(hidden),
                "{what}: {hidden} reached the VCS provider"
            );
        }
        for needed in ["Okafor", "07700 900123", "267076002"] {
            assert!(
                text.contains(needed),
                "{what}: {needed} is missing for the VCS provider"
            );
        }
    }
    let (_, _, full) = gw
        .get_as("riverside-lw", &format!("ServiceRequest/{id}"))
        .await;
    assert!(
        full.to_string().contains(NHS_NUMBER),
        "the link worker sees the whole referral"
    );
}

#[tokio::test]
async fn every_access_is_audited_and_only_operators_read_the_trail() {
    let gw = TestGateway::spawn().await;
    let (_, _, sr) = gw.post_referral(REFERRAL).await;
    let id = sr["id"].as_str().expect("id");
    assert_eq!(
        gw.get_as("riverside-gp", &format!("ServiceRequest/{id}"))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        gw.get_as("hillside-gp", &format!("ServiceRequest/{id}"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        gw.get_as("riverside-gp", "ServiceRequest?status=active")
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        get_with(&gw, None, &format!("ServiceRequest/{id}")).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        gw.get_as("create-only-gp", &format!("ServiceRequest/{id}"))
            .await
            .0,
        StatusCode::FORBIDDEN
    );

    let (status, _, trail) = gw
        .get_as(
            "operator",
            &format!("AuditEvent?entity=ServiceRequest/{id}&_count=100"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{trail}");
    let events: Vec<(String, String, String)> = trail["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            let r = &e["resource"];
            (
                r["action"].as_str().unwrap_or_default().to_owned(),
                r["outcome"].as_str().unwrap_or_default().to_owned(),
                r["agent"][0]["who"]["identifier"]["value"]
                    .as_str()
                    .unwrap_or("unauthenticated")
                    .to_owned(),
            )
        })
        .collect();
    let expect = |a: &str, o: &str, who: &str| (a.to_owned(), o.to_owned(), who.to_owned());
    for want in [
        expect("C", "0", "riverside-gp"),
        expect("R", "0", "riverside-gp"),
        expect("R", "4", "hillside-gp"),
        expect("R", "4", "create-only-gp"),
    ] {
        assert!(events.contains(&want), "missing {want:?} in {events:?}");
    }
    let (_, _, searches) = gw.get_as("operator", "AuditEvent?action=E&outcome=0").await;
    assert!(
        searches["total"].as_i64().unwrap_or(0) >= 1,
        "the search was not audited"
    );
    // The 401 is counted for its source and minute (written when the minute ends, see
    // hardening.rs), not recorded against the resource it named.
    assert!(
        !events.iter().any(|(_, _, who)| who == "unauthenticated"),
        "a token-less request was audited one by one: {events:?}"
    );

    // The create's audit record was written with the referral: same instant, same transaction.
    let create = trail["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| &e["resource"])
        .find(|r| r["action"] == "C")
        .expect("create event");
    assert_eq!(create["recorded"], sr["meta"]["lastUpdated"]);
    assert!(
        !trail.to_string().contains(NHS_NUMBER),
        "audit records must not hold patient identifiers"
    );
}

/// A client's JWKS served over HTTP, counting fetches; the served key set can be swapped.
async fn jwks_server(initial: Value) -> (String, std::sync::Arc<std::sync::Mutex<(Value, usize)>>) {
    use axum::routing::get;
    let state = std::sync::Arc::new(std::sync::Mutex::new((initial, 0usize)));
    let shared = state.clone();
    let app = axum::Router::new().route(
        "/jwks.json",
        get(move || {
            let shared = shared.clone();
            async move {
                let mut s = shared.lock().expect("lock");
                s.1 += 1;
                axum::Json(s.0.clone())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/jwks.json"), state)
}

#[tokio::test]
async fn a_jwks_url_is_fetched_once_cached_and_fetched_again_for_a_new_kid() {
    let first = ClientKey::generate(KeyAlgorithm::Es384).expect("key");
    let (url, served) = jwks_server(first.jwks()).await;
    let extra = format!(
        "[[client]]\nid = \"remote-gp\"\norganisation = \"A81001\"\njwks_url = \"{url}\"\nscopes = [\"system/Task.rs\"]\n"
    );
    let gw = TestGateway::spawn_with(&extra).await;
    let assertion = |key: &ClientKey| {
        AssertionClaims::new("remote-gp", gw.token_audience(), 120)
            .sign(key)
            .expect("sign")
    };

    assert_eq!(
        try_assertion(&gw, &assertion(&first), "system/Task.rs")
            .await
            .0,
        200
    );
    assert_eq!(
        try_assertion(&gw, &assertion(&first), "system/Task.rs")
            .await
            .0,
        200
    );
    assert_eq!(
        served.lock().expect("lock").1,
        1,
        "the JWKS must be cached, not fetched per request"
    );

    // The client rotates its key: the new kid is unknown, so the gateway fetches the set again.
    let second = ClientKey::generate(KeyAlgorithm::Rs384).expect("key");
    served.lock().expect("lock").0 = second.jwks();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        try_assertion(&gw, &assertion(&second), "system/Task.rs")
            .await
            .0,
        200
    );
    assert_eq!(served.lock().expect("lock").1, 2);
    // A kid nobody published is still refused.
    let stranger = ClientKey::generate(KeyAlgorithm::Es384).expect("key");
    assert_eq!(
        try_assertion(&gw, &assertion(&stranger), "system/Task.rs").await,
        (401, "invalid_client".into())
    );
}

#[tokio::test]
async fn an_assertion_inside_the_clock_skew_leeway_is_still_refused_when_replayed() {
    let gw = TestGateway::spawn().await;
    let mut claims = AssertionClaims::new("riverside-gp", gw.token_audience(), 0);
    claims.exp = unix_now() - 2; // expired, but within the 5-second leeway
    let assertion = claims.sign(&gw.keys["riverside-gp"]).expect("sign");
    assert_eq!(
        try_assertion(&gw, &assertion, "system/Task.rs").await.0,
        200
    );
    assert_eq!(
        try_assertion(&gw, &assertion, "system/Task.rs").await,
        (401, "invalid_client".into())
    );
}

#[tokio::test]
async fn a_vcs_provider_cannot_search_by_nhs_number_or_get_the_whole_referral_back() {
    let gw = TestGateway::spawn().await;
    let (status, _, outcome) = gw
        .get_as(
            "walking-app",
            &format!(
                "ServiceRequest?subject:identifier=https://fhir.nhs.uk/Id/nhs-number|{NHS_NUMBER}"
            ),
        )
        .await;
    assert_eq!(
        (status, issue(&outcome).0),
        (StatusCode::FORBIDDEN, "forbidden")
    );
}
