//! Who acts in the console: the signed-in person, as a [`Principal`] of their organisation, so
//! every workflow rule (tenancy, minimisation, the state machine, audit) applies as it does to an
//! API client, and the audit trail names the person.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};

use super::account::ConsoleRole;
use super::posted::{Fields, field};
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

    /// Checks a form post before anything it asks is done: this role's (else 404), carrying
    /// this session's CSRF token (else 403), and, when `allowed` names one, of an interaction
    /// the principal's scopes allow (else 404).
    #[allow(clippy::result_large_err)]
    pub fn check_post(
        &self,
        role: ConsoleRole,
        csrf: Option<&str>,
        allowed: Option<(&str, Interaction)>,
    ) -> Result<&Principal, Response> {
        self.checked(role, csrf, || Ok(()), allowed)
            .map(|(who, ())| who)
    }

    /// [`SignedIn::check_post`] for a form that changes a resource: it also carries the version
    /// it was drawn from (else 403), returned with the principal.
    #[allow(clippy::result_large_err)]
    pub fn check_versioned_post(
        &self,
        role: ConsoleRole,
        fields: &Fields,
        resource: &str,
        interaction: Interaction,
    ) -> Result<(&Principal, i64), Response> {
        // A form of ours always carries the version it was drawn from; without it, it is not ours.
        let version = || {
            field(fields, "version")
                .parse::<i64>()
                .map_err(|_| page::forbidden())
        };
        self.checked(
            role,
            fields.get("csrf").map(String::as_str),
            version,
            Some((resource, interaction)),
        )
    }

    // The order is the refusals' order: role, token, what the form carries, then scope.
    #[allow(clippy::result_large_err)]
    fn checked<T>(
        &self,
        role: ConsoleRole,
        csrf: Option<&str>,
        carried: impl FnOnce() -> Result<T, Response>,
        allowed: Option<(&str, Interaction)>,
    ) -> Result<(&Principal, T), Response> {
        let who = self.require(role)?;
        self.check_csrf(csrf)?;
        let carried = carried()?;
        if let Some((resource, interaction)) = allowed
            && !who.scopes.allows(resource, interaction)
        {
            return Err(page::not_found());
        }
        Ok((who, carried))
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
