//! Console sessions: a random 256-bit id in an `HttpOnly; Secure; SameSite=Strict` cookie,
//! stored only as its SHA-256, with an absolute expiry, an idle timeout and a CSRF token.

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::store::{AccountRecord, Instant, SessionRecord, Store, StoreError, now};

/// The cookie's name.
pub const COOKIE: &str = "signpost_console";
/// A session ends this long after it started, used or not.
const LIFETIME_US: i64 = 8 * 3600 * 1_000_000;
/// A session unused this long is over.
const IDLE_US: i64 = 30 * 60 * 1_000_000;

/// `N` random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The system generator only fails when the OS has no entropy source, which is unrecoverable.
    if SystemRandom::new().fill(&mut bytes).is_err() {
        panic!("the operating system's random number generator failed");
    }
    bytes
}

/// A random 256-bit token, URL-safe.
pub fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// What the store keeps of a token.
pub fn hash_token(token: &str) -> String {
    digest(&SHA256, token.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The `Set-Cookie` value for a session id.
pub fn cookie(id: &str) -> String {
    format!("{COOKIE}={id}; HttpOnly; Secure; SameSite=Strict; Path=/console")
}

/// The `Set-Cookie` value that ends the cookie.
pub fn cleared_cookie() -> String {
    format!("{COOKIE}=; HttpOnly; Secure; SameSite=Strict; Path=/console; Max-Age=0")
}

/// The session id the request's cookie carries.
pub fn cookie_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// A live session: its id (as the cookie has it), record and account, if signed in.
pub struct Live {
    /// The id the cookie carries.
    pub id: String,
    /// As stored.
    pub record: SessionRecord,
    /// The signed-in person.
    pub account: Option<AccountRecord>,
}

/// Starts a session (for `account`, or anonymous for the sign-in form) and answers its id.
pub async fn start(store: &dyn Store, account: Option<&str>) -> Result<Live, StoreError> {
    let id = random_token();
    let at = now();
    let record = SessionRecord {
        id_hash: hash_token(&id),
        account_id: account.map(str::to_owned),
        csrf: random_token(),
        last_seen: at,
        expires: Instant(at.0 + LIFETIME_US),
    };
    store.add_session(&record).await?;
    let account = match account {
        Some(a) => store.account(a).await?,
        None => None,
    };
    Ok(Live {
        id,
        record,
        account,
    })
}

/// The request's live session, if its cookie names one not expired nor idle too long.
pub async fn current(store: &dyn Store, headers: &HeaderMap) -> Result<Option<Live>, StoreError> {
    let Some(id) = cookie_id(headers) else {
        return Ok(None);
    };
    let hash = hash_token(&id);
    let Some(record) = store.session(&hash).await? else {
        return Ok(None);
    };
    let at = now();
    if record.expires <= at || record.last_seen.0 + IDLE_US <= at.0 {
        store.end_session(&hash, at).await?;
        return Ok(None);
    }
    store.touch_session(&hash, at).await?;
    let account = match &record.account_id {
        Some(a) => store.account(a).await?,
        None => None,
    };
    Ok(Some(Live {
        id,
        record,
        account,
    }))
}

/// The caller's live session, or a new anonymous one so a form can carry a CSRF token.
pub async fn current_or_anonymous(
    store: &dyn Store,
    headers: &HeaderMap,
) -> Result<Live, StoreError> {
    match current(store, headers).await? {
        Some(live) => Ok(live),
        None => start(store, None).await,
    }
}

/// Whether a posted CSRF token is this session's (compared in constant time).
pub fn csrf_matches(live: &Live, posted: &str) -> bool {
    let expected = live.record.csrf.as_bytes();
    let posted = posted.as_bytes();
    expected.len() == posted.len()
        && expected
            .iter()
            .zip(posted)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}
