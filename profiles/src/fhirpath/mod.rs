//! A FHIRPath engine for the base specification's invariants: each `constraint` expression of
//! the R4 definitions compiled once, then evaluated at every element it applies to.

mod decimal;
mod eval;
mod order;
mod parse;

use serde_json::Value;

pub(crate) use eval::{Env, EvalError};

use crate::outcome::{Issue, IssueType, Severity};

/// One compiled invariant from a StructureDefinition's `constraint`.
#[derive(Debug)]
pub(crate) struct Invariant {
    pub(crate) key: String,
    severity: Severity,
    human: String,
    /// The expression as written in the definition (the comparison with other engines reads it).
    #[cfg_attr(not(test), allow(dead_code))]
    expression: String,
    expr: parse::Expr,
}

impl Invariant {
    /// Compiles a constraint entry; the caller names the definition in any error.
    pub(crate) fn compile(
        key: &str,
        severity: &str,
        human: &str,
        expression: &str,
    ) -> Result<Invariant, String> {
        let severity = match severity {
            "error" => Severity::Error,
            "warning" => Severity::Warning,
            other => return Err(format!("{key}: unknown severity {other}")),
        };
        let expr = parse::compile(expression).map_err(|e| format!("{key}: {expression}: {e}"))?;
        Ok(Invariant {
            key: key.to_owned(),
            severity,
            human: human.to_owned(),
            expression: expression.to_owned(),
            expr,
        })
    }

    /// Reports the invariant at `path` when it is false for `node`, or cannot be evaluated there.
    pub(crate) fn check(&self, node: &Value, env: Env<'_>, path: &str, issues: &mut Vec<Issue>) {
        let result = self.holds(node, env);
        #[cfg(test)]
        dump::record(self, node, env, path, result.clone().ok().flatten());
        let message = match result {
            Ok(Some(false)) => format!("{path}: {}: {}", self.key, self.human),
            // Neither true nor false: the rule is not known to hold, so it is reported.
            Err(e) => format!(
                "{path}: {} could not be evaluated here ({e}), so it is not known that: {}",
                self.key, self.human
            ),
            Ok(_) => return,
        };
        issues.push(Issue::new(self.severity, IssueType::Invariant, message).at(path.to_owned()));
    }

    /// The invariant's value at `node`: `None` when it evaluates to nothing.
    pub(crate) fn holds(&self, node: &Value, env: Env<'_>) -> Result<Option<bool>, EvalError> {
        let env = Env {
            context: node,
            ..env
        };
        let result = eval::eval(&self.expr, &vec![eval::Item::Node(node, None)], env)?;
        eval::truth(&result, "the invariant's result")
    }
}

#[cfg(test)]
mod dump;
#[cfg(test)]
mod tests;
