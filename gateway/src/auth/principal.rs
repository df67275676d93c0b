//! Who is calling: an authenticated client acting for one organisation, as a plain value.

use signpost_profiles::OdsCode;

use super::Scopes;
use crate::config::Role;

/// An authenticated client acting for one organisation.
#[derive(Debug, Clone)]
pub struct Principal {
    /// Client id.
    pub client_id: String,
    /// The organisation it acts for.
    pub organisation: OdsCode,
    /// That organisation's role.
    pub role: Role,
    /// Scopes granted to this token.
    pub scopes: Scopes,
}

impl Principal {
    /// The organisation as an indexed reference (`Organization/ODS`).
    pub fn party(&self) -> String {
        format!("Organization/{}", self.organisation)
    }
}
