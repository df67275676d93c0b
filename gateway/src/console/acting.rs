//! Who acts in the console: the signed-in person, as a [`Principal`] of their organisation, so
//! every workflow rule (tenancy, minimisation, the state machine, audit) applies as it does to an
//! API client, and the audit trail names the person.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};

use super::account::ConsoleRole;
use super::{page, session};
use crate::auth::{Interaction, Person, Principal, Scope, Scopes};
use crate::config::Role;
use crate::routing::Directory;
use crate::state::AppState;
use crate::store::AccountRecord;

/// A signed-in person: their session, account and the principal they act as.
pub struct SignedIn {
    /// The live session (its CSRF token goes in every form).
    pub live: session::Live,
    /// Their account.
    pub account: AccountRecord,
    /// Their console role.
    pub role: ConsoleRole,
    /// Who they act as.
    pub who: Principal,
}

/// What a person of each console role may do, in API scopes: what the same organisation's
/// integration would be granted.
fn scopes(role: ConsoleRole) -> Scopes {
    use Interaction::{Create, Read, Search, Update};
    Scopes(match role {
        ConsoleRole::Vcs => vec![
            Scope::resource("Task", &[Read, Update, Search]),
            Scope::resource("ServiceRequest", &[Read, Search]),
            Scope::resource("HealthcareService", &[Read, Update, Search]),
        ],
        ConsoleRole::LinkWorker => vec![
            Scope::resource("Task", &[Read, Update, Search]),
            Scope::resource("ServiceRequest", &[Create, Read, Search]),
            Scope::resource("HealthcareService", &[Read, Search]),
        ],
        ConsoleRole::Operator => vec![Scope::Admin],
    })
}

/// The principal an account acts as; `None` when its organisation is not registered, or is of a
/// kind its console role does not fit (a `vcs` account of a GP practice).
pub fn principal(
    account: &AccountRecord,
    directory: &Directory,
) -> Option<(ConsoleRole, Principal)> {
    let role = ConsoleRole::parse(&account.role)?;
    let organisation = signpost_profiles::OdsCode::parse(&account.organisation).ok()?;
    let registered = directory.organisation(&organisation)?;
    let fits = match role {
        ConsoleRole::Vcs => registered.role == Role::Vcs,
        ConsoleRole::LinkWorker => registered.role == Role::LinkWorker,
        ConsoleRole::Operator => true,
    };
    fits.then(|| {
        (
            role,
            Principal {
                client_id: format!("console:{}", account.id),
                organisation,
                role: registered.role,
                scopes: scopes(role),
                person: Some(Person {
                    account_id: account.id.clone(),
                    name: account.name.clone(),
                }),
            },
        )
    })
}

impl SignedIn {
    /// The principal, if this person's console role is `role`; otherwise the 404 page: another
    /// role's pages do not exist for them.
    // The refusal is the page the handler answers with at once; boxing it would gain nothing.
    #[allow(clippy::result_large_err)]
    pub fn require(&self, role: ConsoleRole) -> Result<&Principal, Response> {
        if self.role == role {
            Ok(&self.who)
        } else {
            Err(page::not_found())
        }
    }

    /// Refuses (403 page) a form posted without this session's CSRF token.
    #[allow(clippy::result_large_err)]
    pub fn check_csrf(&self, posted: Option<&str>) -> Result<(), Response> {
        if posted.is_some_and(|c| session::csrf_matches(&self.live, c)) {
            Ok(())
        } else {
            Err(page::forbidden())
        }
    }
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let live = match session::current(state.store.as_ref(), &parts.headers).await {
            Ok(Some(live)) => live,
            Ok(None) => return Err(Redirect::to("/console/sign-in").into_response()),
            Err(e) => return Err(page::unavailable(&e)),
        };
        let Some(account) = live.account.clone() else {
            return Err(Redirect::to("/console/sign-in").into_response());
        };
        let Some((role, who)) = principal(&account, &state.directory) else {
            tracing::warn!(account = %account.id, "a console account's organisation is not registered in a role it fits");
            return Err(page::not_found());
        };
        Ok(SignedIn {
            live,
            account,
            role,
            who,
        })
    }
}
