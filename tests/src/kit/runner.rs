//! Running a role's checks, in order, with a progress bar.

use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use super::check::{Check, Finding, Verdict};
use super::http::Exchange;

/// A context a check runs in: it records the exchanges the check makes.
pub trait Context {
    /// Everything this context has sent and received.
    fn exchanges(&self) -> Vec<Exchange>;
}

/// Whether `id` is selected by `--only` (comma-separated patterns, `*` matching anything).
pub fn selected(id: &str, only: Option<&str>) -> bool {
    let Some(only) = only else {
        return true;
    };
    only.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .any(|pattern| glob(pattern, id))
}

/// `*` matches any run of characters; without a `*` the pattern matches ids containing it.
fn glob(pattern: &str, id: &str) -> bool {
    if !pattern.contains('*') {
        return id.contains(pattern);
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = id;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

/// Runs every selected check, each in a fresh context from `context`.
pub async fn run<C: Context + Sync>(
    checks: &[Check<C>],
    only: Option<&str>,
    context: impl Fn() -> C,
) -> Vec<Finding> {
    let chosen: Vec<&Check<C>> = checks.iter().filter(|c| selected(c.id, only)).collect();
    let bar = ProgressBar::new(chosen.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut findings = Vec::new();
    for check in chosen {
        bar.set_message(check.id);
        let cx = context();
        let started = Instant::now();
        let verdict = match (check.run)(&cx).await {
            Ok(()) => Verdict::Passed,
            Err(failure) if failure.expected == SKIP => Verdict::Skipped(failure.got),
            Err(failure) => Verdict::Failed(failure),
        };
        findings.push(Finding {
            id: check.id,
            title: check.title,
            requirement: check.requirement,
            verdict,
            exchanges: cx.exchanges(),
            elapsed: started.elapsed(),
        });
        bar.inc(1);
    }
    bar.finish_and_clear();
    findings
}

/// The `expected` text a check returns (through [`skip`]) to say it did not apply.
const SKIP: &str = "\u{0}skip";

/// Ends a check as skipped, saying why.
pub fn skip(why: impl Into<String>) -> super::check::Failure {
    super::check::fail(SKIP, why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_selects_by_substring_or_glob() {
        assert!(selected("intake.bad-nhs-number", None));
        assert!(selected("intake.bad-nhs-number", Some("nhs")));
        assert!(selected("intake.bad-nhs-number", Some("auth.*,intake.*")));
        assert!(!selected("intake.bad-nhs-number", Some("auth.*")));
        assert!(selected("tenancy.vcs-cannot-read", Some("*read")));
        assert!(!selected("tenancy.vcs-cannot-read", Some("*write")));
        assert!(selected("a.b.c", Some("a*c")));
    }
}
