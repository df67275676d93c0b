//! Who is calling: an authenticated client, or a person signed in to the console, acting for one
//! organisation, as a plain value.

use signpost_profiles::OdsCode;

use super::Scopes;
use crate::config::Role;

/// A person signed in to the web console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// Their console account's id.
    pub account_id: String,
    /// Their name, as the audit trail records it.
    pub name: String,
}

/// An authenticated client or person acting for one organisation.
#[derive(Debug, Clone)]
pub struct Principal {
    /// Client id (`console:<account id>` for a person).
    pub client_id: String,
    /// The organisation it acts for.
    pub organisation: OdsCode,
    /// That organisation's role.
    pub role: Role,
    /// Scopes granted to this token.
    pub scopes: Scopes,
    /// The person acting, when a person rather than a system acts: audited by name.
    pub person: Option<Person>,
}

impl Principal {
    /// The organisation as an indexed reference (`Organization/ODS`).
    pub fn party(&self) -> String {
        format!("Organization/{}", self.organisation)
    }
}
