//! `signpost validate FILE...`: the gateway's own checks, offline, for an integration engineer's payloads.

use std::path::PathBuf;

use serde_json::Value;
use signpost_profiles::{Issue, IssueType, Severity, Validator, operation_outcome};

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One OperationOutcome per file (one JSON document per line when there are several files).
    Json,
    /// A table a person can read.
    Text,
}

/// What one file produced.
struct FileResult {
    path: PathBuf,
    issues: Vec<Issue>,
}

/// Validates every file; returns the report to print and whether any file had an error.
pub fn validate_files(validator: &Validator, files: &[PathBuf], format: Format) -> (String, bool) {
    let results: Vec<FileResult> = files
        .iter()
        .map(|path| FileResult {
            path: path.clone(),
            issues: match std::fs::read(path) {
                Ok(bytes) => validator.check(&bytes, None).issues,
                Err(e) => vec![Issue::error(
                    IssueType::NotFound,
                    format!("cannot read {}: {e}", path.display()),
                )],
            },
        })
        .collect();
    let failed = results
        .iter()
        .any(|r| signpost_profiles::has_errors(&r.issues));
    let report = match format {
        Format::Json => json_report(&results),
        Format::Text => text_report(&results),
    };
    (report, failed)
}

/// An OperationOutcome always has an issue: a clean file gets an informational one.
fn outcome(result: &FileResult) -> Value {
    if result.issues.is_empty() {
        return operation_outcome(&[Issue::new(
            Severity::Information,
            IssueType::Informational,
            format!("{}: no problems found", result.path.display()),
        )]);
    }
    operation_outcome(&result.issues)
}

fn json_report(results: &[FileResult]) -> String {
    match results {
        [one] => serde_json::to_string_pretty(&outcome(one)).unwrap_or_default(),
        many => many
            .iter()
            .map(|r| outcome(r).to_string())
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

fn text_report(results: &[FileResult]) -> String {
    let mut out = String::new();
    for result in results {
        let count = |s: Severity| result.issues.iter().filter(|i| i.severity == s).count();
        out.push_str(&format!(
            "{}: {} error(s), {} warning(s)\n",
            result.path.display(),
            count(Severity::Error),
            count(Severity::Warning)
        ));
        if result.issues.is_empty() {
            continue;
        }
        let rows: Vec<[&str; 4]> = result
            .issues
            .iter()
            .map(|i| {
                [
                    i.severity.code(),
                    i.code.code(),
                    i.expression.as_deref().unwrap_or("-"),
                    i.diagnostics.as_str(),
                ]
            })
            .collect();
        let header = ["SEVERITY", "CODE", "EXPRESSION", "DIAGNOSTICS"];
        let widths: Vec<usize> = (0..3)
            .map(|c| {
                rows.iter()
                    .map(|r| r[c].len())
                    .chain([header[c].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for row in std::iter::once(&header).chain(rows.iter()) {
            out.push_str(&format!(
                "  {:w0$}  {:w1$}  {:w2$}  {}\n",
                row[0],
                row[1],
                row[2],
                row[3],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2]
            ));
        }
    }
    out
}
