//! What a check is, and what running one found.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use super::http::Exchange;

/// Why a check failed: what it expected and what it got instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What the requirement asks for.
    pub expected: String,
    /// What the target did.
    pub got: String,
}

/// A failure, from anything printable.
pub fn fail(expected: impl Into<String>, got: impl Into<String>) -> Failure {
    Failure {
        expected: expected.into(),
        got: got.into(),
    }
}

/// The result of a check's body.
pub type Outcome = Result<(), Failure>;

/// A boxed check body borrowing its context.
pub type Body<'a> = Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// A check: an id to select and report it by, what it tests, and the requirement behind it.
pub struct Check<C> {
    /// Stable id, e.g. `intake.bad-nhs-number`.
    pub id: &'static str,
    /// One line on what is checked.
    pub title: &'static str,
    /// The rule it tests: a section of the README, or the FHIR, BaRS, SMART or Standard Webhooks rule.
    pub requirement: &'static str,
    /// The check itself.
    pub run: for<'a> fn(&'a C) -> Body<'a>,
}

/// How a check ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The target met the requirement.
    Passed,
    /// It did not.
    Failed(Failure),
    /// Not run, and why (e.g. a step it needs was not available).
    Skipped(String),
}

/// One check's result with its evidence.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The check's id.
    pub id: &'static str,
    /// What it checks.
    pub title: &'static str,
    /// The requirement tested.
    pub requirement: &'static str,
    /// How it ended.
    pub verdict: Verdict,
    /// Every HTTP exchange it made, in order.
    pub exchanges: Vec<Exchange>,
    /// How long it took.
    pub elapsed: Duration,
}

impl Finding {
    /// Whether the check failed.
    pub fn failed(&self) -> bool {
        matches!(self.verdict, Verdict::Failed(_))
    }
}
