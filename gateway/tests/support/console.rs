//! The console's test client: accounts as `signpost user add` makes them, signing in over HTTP,
//! and reading what a page or an answer carries (its CSRF token, its session cookie).

use reqwest::StatusCode;
use reqwest::header::{LOCATION, SET_COOKIE};
use signpost_gateway::console::password;
use signpost_gateway::store::AccountRecord;

use super::TestGateway;

/// An HTTP client that does not follow redirects: the console's answers are checked as sent.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// The value of the hidden `csrf` input in a page.
pub fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a csrf input") + 19;
    page[at..].split('"').next().expect("a value").to_owned()
}

/// The session cookie a response sets, as `name=value`, and the whole header.
pub fn session_cookie(response: &reqwest::Response) -> (String, String) {
    let header = response
        .headers()
        .get(SET_COOKIE)
        .expect("a Set-Cookie header")
        .to_str()
        .expect("ascii")
        .to_owned();
    let pair = header.split(';').next().expect("a pair").to_owned();
    (pair, header)
}

/// The cookie a response sets, as `name=value`.
pub fn cookie_of(response: &reqwest::Response) -> String {
    session_cookie(response).0
}

/// An account of `role` at `ods` with a password, as `signpost user add` makes one; its id.
pub async fn account(
    gw: &TestGateway,
    ods: &str,
    role: &str,
    name: &str,
    email: &str,
    secret: &str,
) -> String {
    let account = AccountRecord {
        id: uuid::Uuid::new_v4().to_string(),
        organisation: ods.into(),
        role: role.into(),
        name: name.into(),
        email: email.into(),
        password_hash: Some(password::hash(secret).expect("hash")),
    };
    assert!(gw.store.add_account(&account).await.expect("account"));
    account.id
}

/// A volunteer's account (`--role vcs`).
pub async fn volunteer(gw: &TestGateway, ods: &str, name: &str, email: &str, secret: &str) {
    account(gw, ods, "vcs", name, email, secret).await;
}

/// A link worker's account (`--role link-worker`).
pub async fn link_worker(gw: &TestGateway, ods: &str, name: &str, email: &str, secret: &str) {
    account(gw, ods, "link-worker", name, email, secret).await;
}

/// An operator's account (the sandbox's demo operator acts for LWS001 too); its id.
pub async fn operator(gw: &TestGateway, email: &str, secret: &str) -> String {
    account(gw, "LWS001", "operator", "Oona Operator", email, secret).await
}

/// Signs in over HTTP (the sign-in form's own token, then the home page's): (session cookie,
/// its CSRF token).
pub async fn sign_in(gw: &TestGateway, email: &str, secret: &str) -> (String, String) {
    let http = client();
    let form = http
        .get(format!("{}/console/sign-in", gw.base))
        .send()
        .await
        .expect("get");
    let anonymous = cookie_of(&form);
    let csrf = csrf_of(&form.text().await.expect("body"));
    let signed_in = http
        .post(format!("{}/console/sign-in", gw.base))
        .header("cookie", &anonymous)
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", email),
            ("password", secret),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let session = cookie_of(&signed_in);
    let (status, home) = get(gw, &session, "/console").await;
    assert_eq!(status, StatusCode::OK);
    let csrf = csrf_of(&home);
    (session, csrf)
}

/// A page, as the session sees it: (status, body).
pub async fn get(gw: &TestGateway, session: &str, path: &str) -> (StatusCode, String) {
    let answer = client()
        .get(format!("{}{path}", gw.base))
        .header("cookie", session)
        .send()
        .await
        .expect("get");
    (answer.status(), answer.text().await.expect("body"))
}

/// A form posted in the session: (status, where it redirects, body).
pub async fn post(
    gw: &TestGateway,
    session: &str,
    path: &str,
    form: &[(&str, &str)],
) -> (StatusCode, Option<String>, String) {
    let answer = client()
        .post(format!("{}{path}", gw.base))
        .header("cookie", session)
        .form(form)
        .send()
        .await
        .expect("post");
    let status = answer.status();
    let location = answer
        .headers()
        .get(LOCATION)
        .map(|l| l.to_str().expect("ascii").to_owned());
    (status, location, answer.text().await.expect("body"))
}
