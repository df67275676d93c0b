//! The web console over HTTP against the real gateway and store: invitation, password rules,
//! sign-in with CSRF and session rotation, cookie flags, security headers, sign-out.

use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, LOCATION};
use signpost_gateway::console::account::{ConsoleRole, add_account};
use signpost_profiles::OdsCode;

use crate::support::TestGateway;
use crate::support::console::{client, csrf_of, session_cookie};

#[tokio::test]
async fn a_volunteer_takes_up_an_invitation_signs_in_and_out() {
    let gw = TestGateway::spawn().await;
    let http = client();
    let vcs = OdsCode::parse("VCS001").expect("ods");
    let token = add_account(
        gw.store.as_ref(),
        &vcs,
        ConsoleRole::Vcs,
        "Ada Volunteer",
        "ada@mill-lane.example",
    )
    .await
    .expect("account");

    // The invitation page: a form with a CSRF token in an anonymous session.
    let invitation = format!("{}/console/invitation/{token}", gw.base);
    let page = http.get(&invitation).send().await.expect("get");
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()[CACHE_CONTROL], "no-store");
    let csp = page.headers()[CONTENT_SECURITY_POLICY]
        .to_str()
        .expect("csp")
        .to_owned();
    assert!(
        csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    let (cookie, _) = session_cookie(&page);
    let body = page.text().await.expect("body");
    let csrf = csrf_of(&body);
    assert!(
        body.contains("<label class=\"nhsuk-label\" for=\"password\">"),
        "{body}"
    );

    // Too short, then long enough but guessable (a leaked password, a repeated word, a keyboard
    // row): refused with an error summary linking to the field.
    for (password, says) in [
        ("short", "at least 12 characters"),
        ("Password1234", "too easy to guess"),
        ("iloveyouiloveyou", "too easy to guess"),
        ("qwertyuiopasdf", "too easy to guess"),
    ] {
        let refused = http
            .post(&invitation)
            .header("cookie", &cookie)
            .form(&[("csrf", csrf.as_str()), ("password", password)])
            .send()
            .await
            .expect("post");
        assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body = refused.text().await.expect("body");
        assert!(
            body.contains("nhsuk-error-summary") && body.contains("href=\"#password\""),
            "{body}"
        );
        assert!(body.contains(says), "{body}");
    }
    // A wrong CSRF token is refused whatever the password.
    let forged = http
        .post(&invitation)
        .header("cookie", &cookie)
        .form(&[
            ("csrf", "not-the-token"),
            ("password", "a long enough passphrase"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let set = http
        .post(&invitation)
        .header("cookie", &cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("password", "a long enough passphrase"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(set.status(), StatusCode::SEE_OTHER);
    // Single use.
    let again = http.get(&invitation).send().await.expect("get");
    assert_eq!(again.status(), StatusCode::NOT_FOUND);

    // Signing in: the form's anonymous session, then a POST without a token, a wrong password,
    // and the right one.
    let form = http
        .get(format!("{}/console/sign-in", gw.base))
        .send()
        .await
        .expect("get");
    let (anonymous, flags) = session_cookie(&form);
    for flag in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/console"] {
        assert!(flags.contains(flag), "{flags} lacks {flag}");
    }
    let csrf = csrf_of(&form.text().await.expect("body"));
    let sign_in = format!("{}/console/sign-in", gw.base);
    let without = http
        .post(&sign_in)
        .header("cookie", &anonymous)
        .form(&[
            ("email", "ada@mill-lane.example"),
            ("password", "a long enough passphrase"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(without.status(), StatusCode::FORBIDDEN);
    let wrong = http
        .post(&sign_in)
        .header("cookie", &anonymous)
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", "ada@mill-lane.example"),
            ("password", "not her password"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let signed_in = http
        .post(&sign_in)
        .header("cookie", &anonymous)
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", "ada@mill-lane.example"),
            ("password", "a long enough passphrase"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(signed_in.headers()[LOCATION], "/console");
    let (session, _) = session_cookie(&signed_in);
    assert_ne!(session, anonymous, "the session id is rotated at sign-in");

    // The planted anonymous id is worth nothing; the new one shows the person.
    let planted = http
        .get(format!("{}/console", gw.base))
        .header("cookie", &anonymous)
        .send()
        .await
        .expect("get");
    assert_eq!(planted.status(), StatusCode::SEE_OTHER);
    let home = http
        .get(format!("{}/console", gw.base))
        .header("cookie", &session)
        .send()
        .await
        .expect("get");
    assert_eq!(home.status(), StatusCode::OK);
    let body = home.text().await.expect("body");
    assert!(
        body.contains("Ada Volunteer") && body.contains("VCS001"),
        "{body}"
    );

    // Sign-out needs the token too, then ends the session.
    let csrf = csrf_of(&body);
    let forged = http
        .post(format!("{}/console/sign-out", gw.base))
        .header("cookie", &session)
        .form(&[("csrf", "forged")])
        .send()
        .await
        .expect("post");
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let out = http
        .post(format!("{}/console/sign-out", gw.base))
        .header("cookie", &session)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let after = http
        .get(format!("{}/console", gw.base))
        .header("cookie", &session)
        .send()
        .await
        .expect("get");
    assert_eq!(after.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn sign_in_is_rate_limited_per_account() {
    let gw = TestGateway::spawn().await;
    let http = client();
    let form = http
        .get(format!("{}/console/sign-in", gw.base))
        .send()
        .await
        .expect("get");
    let (cookie, _) = session_cookie(&form);
    let csrf = csrf_of(&form.text().await.expect("body"));
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let answer = http
            .post(format!("{}/console/sign-in", gw.base))
            .header("cookie", &cookie)
            .form(&[
                ("csrf", csrf.as_str()),
                ("email", "nobody-rate@example.org"),
                ("password", "guess guess guess"),
            ])
            .send()
            .await
            .expect("post");
        statuses.push(answer.status());
    }
    assert_eq!(statuses[..5], [StatusCode::UNPROCESSABLE_ENTITY; 5]);
    assert_eq!(statuses[5], StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn one_address_trying_many_accounts_is_stopped_for_every_account() {
    let gw = TestGateway::spawn().await;
    let http = client();
    let form = http
        .get(format!("{}/console/sign-in", gw.base))
        .send()
        .await
        .expect("get");
    let (cookie, _) = session_cookie(&form);
    let csrf = csrf_of(&form.text().await.expect("body"));
    let attempt = |email: String| {
        let (http, cookie, csrf, url) = (
            http.clone(),
            cookie.clone(),
            csrf.clone(),
            format!("{}/console/sign-in", gw.base),
        );
        async move {
            http.post(url)
                .header("cookie", cookie)
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("email", email.as_str()),
                    ("password", "Summer2026 Summer2026"),
                ])
                .send()
                .await
                .expect("post")
                .status()
        }
    };
    // One password tried against twenty accounts, once each: no account reaches its own limit.
    for n in 0..20 {
        assert_eq!(
            attempt(format!("person{n}@spray.example")).await,
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
    // The address has: an account never tried before is refused from it too.
    assert_eq!(
        attempt("untried@spray.example".into()).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another gateway keeps its own counts.
    let other = TestGateway::spawn().await;
    let form = http
        .get(format!("{}/console/sign-in", other.base))
        .send()
        .await
        .expect("get");
    let (cookie, _) = session_cookie(&form);
    let csrf = csrf_of(&form.text().await.expect("body"));
    let fresh = http
        .post(format!("{}/console/sign-in", other.base))
        .header("cookie", cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", "untried@spray.example"),
            ("password", "Summer2026 Summer2026"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(fresh.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn the_nhs_styles_are_served_from_the_installed_package_and_nothing_else() {
    let gw = TestGateway::spawn().await;
    let http = client();
    let traversal = http
        .get(format!(
            "{}/console/assets/..%2F..%2F..%2FCargo.toml",
            gw.base
        ))
        .send()
        .await
        .expect("get");
    assert_eq!(traversal.status(), StatusCode::NOT_FOUND);
    let installed = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../console/node_modules/nhsuk-frontend/dist/nhsuk/nhsuk-frontend.min.css");
    assert!(
        installed.is_file(),
        "the NHS styles are not installed: run `npm ci --prefix console`"
    );
}

#[tokio::test]
async fn an_unknown_console_address_is_the_consoles_page_not_found() {
    let gw = TestGateway::spawn().await;
    let answer = client()
        .get(format!("{}/console/no/such/page", gw.base))
        .send()
        .await
        .expect("get");
    assert_eq!(answer.status(), StatusCode::NOT_FOUND);
    let csp = answer
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let body = answer.text().await.expect("body");
    assert!(
        body.contains("<h1>Page not found</h1>") && body.contains("nhsuk-"),
        "{body}"
    );
}
