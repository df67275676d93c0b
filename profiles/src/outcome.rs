//! OperationOutcome: how every refusal is explained to the caller.

use serde_json::{Value, json};

/// `OperationOutcome.issue.severity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The action failed and nothing was changed.
    Error,
    /// The action succeeded but something deserves attention.
    Warning,
    /// Purely informative.
    Information,
}

impl Severity {
    /// The code as written in FHIR JSON.
    pub fn code(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Information => "information",
        }
    }
}

/// `OperationOutcome.issue.code`, from http://hl7.org/fhir/issue-type (the subset Signpost uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueType {
    /// Content invalid against the specification or a profile.
    Invalid,
    /// A structural issue: not valid JSON, or not valid FHIR structure.
    Structure,
    /// A required element is missing.
    Required,
    /// An element's value is not allowed.
    Value,
    /// A code is not in the value set or code system it must come from.
    CodeInvalid,
    /// An authentication problem.
    Login,
    /// Not allowed to do this.
    Forbidden,
    /// The content or operation is not supported.
    NotSupported,
    /// A duplicate of something that already exists.
    Duplicate,
    /// More than one match where one was expected.
    MultipleMatches,
    /// The resource or endpoint does not exist.
    NotFound,
    /// Content too long (e.g. a body over the size limit).
    TooLong,
    /// A business rule was broken.
    BusinessRule,
    /// An invariant (a FHIRPath constraint of the specification) is not met.
    Invariant,
    /// An edit conflict (e.g. a stale version).
    Conflict,
    /// Unexpected internal error.
    Exception,
    /// A temporary problem: try again later.
    Transient,
    /// Too many requests.
    Throttled,
    /// Nothing wrong: the outcome reports a success.
    Informational,
}

impl IssueType {
    /// The code as written in FHIR JSON.
    pub fn code(self) -> &'static str {
        match self {
            IssueType::Invalid => "invalid",
            IssueType::Structure => "structure",
            IssueType::Required => "required",
            IssueType::Value => "value",
            IssueType::CodeInvalid => "code-invalid",
            IssueType::Login => "login",
            IssueType::Forbidden => "forbidden",
            IssueType::NotSupported => "not-supported",
            IssueType::Duplicate => "duplicate",
            IssueType::MultipleMatches => "multiple-matches",
            IssueType::NotFound => "not-found",
            IssueType::TooLong => "too-long",
            IssueType::BusinessRule => "business-rule",
            IssueType::Invariant => "invariant",
            IssueType::Conflict => "conflict",
            IssueType::Exception => "exception",
            IssueType::Transient => "transient",
            IssueType::Throttled => "throttled",
            IssueType::Informational => "informational",
        }
    }
}

/// One problem found with a request, pointing at the element at fault when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// How bad it is.
    pub severity: Severity,
    /// What kind of problem it is.
    pub code: IssueType,
    /// Plain words for a person.
    pub diagnostics: String,
    /// FHIRPath-style location, e.g. `ServiceRequest.subject.identifier.value`.
    pub expression: Option<String>,
}

impl Issue {
    /// An issue of any severity.
    pub fn new(severity: Severity, code: IssueType, diagnostics: impl Into<String>) -> Self {
        Self {
            severity,
            code,
            diagnostics: diagnostics.into(),
            expression: None,
        }
    }

    /// An error-severity issue.
    pub fn error(code: IssueType, diagnostics: impl Into<String>) -> Self {
        Self::new(Severity::Error, code, diagnostics)
    }

    /// Points the issue at an element.
    pub fn at(mut self, expression: impl Into<String>) -> Self {
        self.expression = Some(expression.into());
        self
    }

    fn to_json(&self) -> Value {
        let mut issue = json!({
            "severity": self.severity.code(),
            "code": self.code.code(),
            "diagnostics": self.diagnostics,
        });
        if let Some(expression) = &self.expression {
            issue["expression"] = json!([expression]);
        }
        issue
    }
}

/// Builds the OperationOutcome resource for a list of issues.
pub fn operation_outcome(issues: &[Issue]) -> Value {
    json!({
        "resourceType": "OperationOutcome",
        "issue": issues.iter().map(Issue::to_json).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_severity_code_diagnostics_and_expression() {
        let oo = operation_outcome(&[Issue::error(IssueType::Value, "bad check digit")
            .at("ServiceRequest.subject.identifier.value")]);
        assert_eq!(oo["resourceType"], "OperationOutcome");
        assert_eq!(oo["issue"][0]["severity"], "error");
        assert_eq!(oo["issue"][0]["code"], "value");
        assert_eq!(oo["issue"][0]["diagnostics"], "bad check digit");
        assert_eq!(
            oo["issue"][0]["expression"][0],
            "ServiceRequest.subject.identifier.value"
        );
    }

    #[test]
    fn omits_expression_when_no_element_is_at_fault() {
        let oo = operation_outcome(&[Issue::error(IssueType::TooLong, "too big")]);
        assert!(oo["issue"][0].get("expression").is_none());
    }
}
