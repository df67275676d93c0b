//! SMART scopes: `system/Task.rs` (v2) and `system/Task.read` (v1) parsed into one form.

use std::fmt;

/// A FHIR interaction a scope can permit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interaction {
    /// `c`
    Create,
    /// `r` (read, vread, history)
    Read,
    /// `u`
    Update,
    /// `d`
    Delete,
    /// `s`
    Search,
}

impl Interaction {
    const ALL: [Interaction; 5] = [
        Self::Create,
        Self::Read,
        Self::Update,
        Self::Delete,
        Self::Search,
    ];

    fn letter(self) -> char {
        match self {
            Self::Create => 'c',
            Self::Read => 'r',
            Self::Update => 'u',
            Self::Delete => 'd',
            Self::Search => 's',
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }

    /// The SMART v2 letter as a word, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Read => "read",
            Self::Update => "update",
            Self::Delete => "delete",
            Self::Search => "search",
        }
    }
}

/// One granted or requested scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// `system/<Resource|*>.<perms>`.
    Resource {
        /// `None` for `*`.
        resource: Option<String>,
        /// Bit set of [`Interaction`]s.
        perms: u8,
    },
    /// Operator access: deliveries, audit and the aggregate reports, no patient data.
    Admin,
    /// Commissioner access: the aggregate reports (`Measure`, `MeasureReport`, their CSV) and
    /// nothing about a person.
    Commissioner,
}

/// The resource types that hold only aggregates: what a `commissioner` token reads.
pub const AGGREGATE_TYPES: [&str; 2] = ["Measure", "MeasureReport"];

/// Why a scope string was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "\"{0}\" is not a scope Signpost understands (system/<Resource>.<cruds>, system/<Resource>.read|write|*, admin or commissioner)"
)]
pub struct ScopeError(pub String);

impl Scope {
    /// `system/{resource}` with exactly these interactions.
    pub fn resource(resource: &str, interactions: &[Interaction]) -> Self {
        Scope::Resource {
            resource: Some(resource.to_owned()),
            perms: interactions.iter().fold(0, |perms, i| perms | i.bit()),
        }
    }

    /// Parses one scope.
    pub fn parse(raw: &str) -> Result<Self, ScopeError> {
        if raw == "admin" {
            return Ok(Scope::Admin);
        }
        if raw == "commissioner" {
            return Ok(Scope::Commissioner);
        }
        let err = || ScopeError(raw.to_owned());
        let rest = raw.strip_prefix("system/").ok_or_else(err)?;
        let (resource, suffix) = rest.split_once('.').ok_or_else(err)?;
        if resource.is_empty()
            || !(resource == "*" || resource.chars().all(|c| c.is_ascii_alphabetic()))
        {
            return Err(err());
        }
        let perms = match suffix {
            "read" => Interaction::Read.bit() | Interaction::Search.bit(),
            "write" => {
                Interaction::Create.bit() | Interaction::Update.bit() | Interaction::Delete.bit()
            }
            "*" => Interaction::ALL.iter().fold(0, |acc, i| acc | i.bit()),
            letters => {
                // v2: a non-empty, in-order subset of "cruds".
                let mut perms = 0;
                let mut position = 0;
                for ch in letters.chars() {
                    let found = Interaction::ALL[position..]
                        .iter()
                        .position(|i| i.letter() == ch)
                        .ok_or_else(err)?;
                    perms |= Interaction::ALL[position + found].bit();
                    position += found + 1;
                }
                if perms == 0 {
                    return Err(err());
                }
                perms
            }
        };
        Ok(Scope::Resource {
            resource: (resource != "*").then(|| resource.to_owned()),
            perms,
        })
    }

    /// Whether this scope permits `interaction` on `resource_type`.
    pub fn allows(&self, resource_type: &str, interaction: Interaction) -> bool {
        match self {
            Scope::Resource { resource, perms } => {
                // The audit trail is for operators: no resource scope reaches it, not even system/AuditEvent.
                // Nor the reports: they are granted by role (admin, commissioner), not by type.
                let matches = resource_type != "AuditEvent"
                    && !AGGREGATE_TYPES.contains(&resource_type)
                    && resource.as_deref().is_none_or(|r| r == resource_type);
                matches && perms & interaction.bit() != 0
            }
            // Operators read the audit trail and the reports, never patient data.
            Scope::Admin => {
                (resource_type == "AuditEvent" || AGGREGATE_TYPES.contains(&resource_type))
                    && matches!(interaction, Interaction::Read | Interaction::Search)
            }
            // Commissioners read the reports and nothing else: no resource about a person.
            Scope::Commissioner => {
                AGGREGATE_TYPES.contains(&resource_type)
                    && matches!(interaction, Interaction::Read | Interaction::Search)
            }
        }
    }

    /// What both scopes permit, if anything.
    fn intersect(&self, other: &Scope) -> Option<Scope> {
        match (self, other) {
            (Scope::Admin, Scope::Admin) => Some(Scope::Admin),
            (Scope::Commissioner, Scope::Commissioner) => Some(Scope::Commissioner),
            (
                Scope::Resource {
                    resource: a,
                    perms: pa,
                },
                Scope::Resource {
                    resource: b,
                    perms: pb,
                },
            ) => {
                let resource = match (a, b) {
                    (Some(a), Some(b)) if a != b => return None,
                    (Some(a), _) => Some(a.clone()),
                    (None, b) => b.clone(),
                };
                let perms = pa & pb;
                (perms != 0).then_some(Scope::Resource { resource, perms })
            }
            _ => None,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Admin => f.write_str("admin"),
            Scope::Commissioner => f.write_str("commissioner"),
            Scope::Resource { resource, perms } => {
                let letters: String = Interaction::ALL
                    .iter()
                    .filter(|i| perms & i.bit() != 0)
                    .map(|i| i.letter())
                    .collect();
                write!(f, "system/{}.{letters}", resource.as_deref().unwrap_or("*"))
            }
        }
    }
}

/// The scopes a token carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes(pub Vec<Scope>);

impl Scopes {
    /// Parses a space-separated list.
    pub fn parse(raw: &str) -> Result<Self, ScopeError> {
        raw.split_whitespace()
            .map(Scope::parse)
            .collect::<Result<Vec<_>, _>>()
            .map(Scopes)
    }

    /// Requested ∩ configured: each requested scope narrowed to what the client may have.
    pub fn grant(requested: &Scopes, configured: &Scopes) -> Scopes {
        let mut granted: Vec<Scope> = Vec::new();
        for r in &requested.0 {
            for c in &configured.0 {
                if let Some(s) = r.intersect(c)
                    && !granted.contains(&s)
                {
                    granted.push(s);
                }
            }
        }
        Scopes(granted)
    }

    /// Whether any scope permits the interaction. Reading and searching the service directory
    /// needs no scope of its own: it holds no patient data and every party refers through it. A
    /// token that is only `commissioner` reads the reports and nothing else, the directory included.
    pub fn allows(&self, resource_type: &str, interaction: Interaction) -> bool {
        (resource_type == "HealthcareService"
            && matches!(interaction, Interaction::Read | Interaction::Search)
            && !self.is_commissioner_only())
            || self.0.iter().any(|s| s.allows(resource_type, interaction))
    }

    /// Whether the aggregate reports (Measure, MeasureReport, the CSV) may be read: `admin` or
    /// `commissioner`.
    pub fn reads_reports(&self) -> bool {
        self.0
            .iter()
            .any(|s| matches!(s, Scope::Admin | Scope::Commissioner))
    }

    /// Whether every scope granted is `commissioner` (and there is at least one).
    pub fn is_commissioner_only(&self) -> bool {
        !self.0.is_empty() && self.0.iter().all(|s| *s == Scope::Commissioner)
    }

    /// Whether operator access was granted.
    pub fn is_admin(&self) -> bool {
        self.0.contains(&Scope::Admin)
    }

    /// Whether nothing was granted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&parts.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(raw: &str) -> Scopes {
        Scopes::parse(raw).expect("valid scopes")
    }

    #[test]
    fn v2_letters_and_v1_words_mean_the_same() {
        assert_eq!(
            Scope::parse("system/Task.read"),
            Scope::parse("system/Task.rs")
        );
        assert_eq!(
            Scope::parse("system/Task.write"),
            Scope::parse("system/Task.cud")
        );
        assert_eq!(
            Scope::parse("system/Task.*"),
            Scope::parse("system/Task.cruds")
        );
        assert_eq!(scopes("system/*.rs").to_string(), "system/*.rs");
    }

    #[test]
    fn out_of_order_or_unknown_suffixes_and_other_contexts_are_refused() {
        for bad in [
            "system/Task.sr",
            "system/Task.rr",
            "system/Task.x",
            "system/Task.",
            "user/Task.rs",
            "patient/*.read",
            "system/Ta-sk.rs",
            "Task.rs",
        ] {
            assert!(Scope::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn each_interaction_needs_its_letter() {
        let s = scopes("system/ServiceRequest.cr system/Task.rs");
        assert!(s.allows("ServiceRequest", Interaction::Create));
        assert!(s.allows("ServiceRequest", Interaction::Read));
        assert!(!s.allows("ServiceRequest", Interaction::Search));
        assert!(s.allows("Task", Interaction::Search));
        assert!(!s.allows("Task", Interaction::Update));
        assert!(!s.allows("AuditEvent", Interaction::Read));
    }

    #[test]
    fn granted_is_requested_intersected_with_configured() {
        let configured = scopes("system/ServiceRequest.cr system/Task.rs");
        assert_eq!(
            Scopes::grant(&scopes("system/Task.read"), &configured).to_string(),
            "system/Task.rs"
        );
        assert_eq!(
            Scopes::grant(&scopes("system/Task.cruds"), &configured).to_string(),
            "system/Task.rs"
        );
        assert_eq!(
            Scopes::grant(&scopes("system/*.rs"), &configured).to_string(),
            "system/ServiceRequest.r system/Task.rs"
        );
        assert!(Scopes::grant(&scopes("system/Patient.rs admin"), &configured).is_empty());
        let admin = scopes("admin");
        assert!(Scopes::grant(&admin, &admin).is_admin());
        assert!(admin.allows("AuditEvent", Interaction::Search));
        assert!(
            !admin.allows("Task", Interaction::Read)
                && !admin.allows("ServiceRequest", Interaction::Search)
        );
        assert!(
            !scopes("system/*.cruds").allows("AuditEvent", Interaction::Read),
            "only admin reads the audit trail"
        );
        assert!(
            !scopes("system/AuditEvent.rs").allows("AuditEvent", Interaction::Search),
            "only admin reads the audit trail"
        );
    }

    #[test]
    fn commissioners_read_the_reports_and_nothing_about_a_person() {
        let commissioner = scopes("commissioner");
        assert_eq!(commissioner.to_string(), "commissioner");
        for t in AGGREGATE_TYPES {
            assert!(commissioner.allows(t, Interaction::Read), "{t}");
            assert!(commissioner.allows(t, Interaction::Search), "{t}");
            assert!(!commissioner.allows(t, Interaction::Create), "{t}");
            assert!(scopes("admin").allows(t, Interaction::Search), "{t}");
            assert!(
                !scopes("system/*.cruds").allows(t, Interaction::Search),
                "{t} is granted by role, not by a resource scope"
            );
        }
        for t in [
            "Patient",
            "ServiceRequest",
            "Task",
            "AuditEvent",
            "HealthcareService",
        ] {
            assert!(!commissioner.allows(t, Interaction::Read), "{t}");
            assert!(!commissioner.allows(t, Interaction::Search), "{t}");
        }
        assert!(commissioner.reads_reports() && scopes("admin").reads_reports());
        assert!(!scopes("system/*.rs").reads_reports());
        assert!(!commissioner.is_admin());
        assert!(Scopes::grant(&commissioner, &commissioner).is_commissioner_only());
        assert!(Scopes::grant(&commissioner, &scopes("admin")).is_empty());
    }

    #[test]
    fn a_scope_built_in_code_is_the_one_its_string_names() {
        assert_eq!(
            Scope::resource("Task", &[Interaction::Read, Interaction::Update]),
            Scope::parse("system/Task.ru").expect("valid")
        );
    }
}
