//! `signpost validate FILE...`: the gateway's own checks, offline, for an integration engineer's payloads.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;
use signpost_profiles::{Issue, IssueType, Severity, Validator, operation_outcome};

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One OperationOutcome per file (one JSON document per line when there are several files);
    /// the totals go to stderr, so stdout stays JSON.
    Json,
    /// A table a person can read, then the totals.
    Text,
}

/// What one file produced.
struct FileResult {
    path: PathBuf,
    issues: Vec<Issue>,
}

/// What a run found, over all its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    /// Files checked.
    pub files: usize,
    /// Files with at least one error.
    pub files_with_errors: usize,
    /// Errors, over all files.
    pub errors: usize,
    /// Warnings, over all files.
    pub warnings: usize,
}

impl Summary {
    /// Whether any file had an error (the command then exits 1).
    pub fn failed(&self) -> bool {
        self.files_with_errors > 0
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plural = |n: usize, word: &str| {
            if n == 1 {
                format!("{n} {word}")
            } else {
                format!("{n} {word}s")
            }
        };
        write!(f, "{}: ", plural(self.files, "file"))?;
        if self.failed() {
            write!(
                f,
                "{} with errors ({})",
                self.files_with_errors,
                plural(self.errors, "error")
            )?;
        } else {
            write!(f, "no errors")?;
        }
        write!(f, ", {}", plural(self.warnings, "warning"))
    }
}

/// The per-file report in the chosen format, and the totals.
#[derive(Debug, Clone)]
pub struct Report {
    /// One OperationOutcome per file, or the table.
    pub body: String,
    /// Totals over every file.
    pub summary: Summary,
}

/// Validates every file, calling `progress` with each file's position (from 1) and path
/// before checking it.
pub fn validate_files(
    validator: &Validator,
    files: &[PathBuf],
    format: Format,
    progress: &mut dyn FnMut(usize, &Path),
) -> Report {
    let results: Vec<FileResult> = files
        .iter()
        .enumerate()
        .map(|(i, path)| {
            progress(i + 1, path);
            FileResult {
                path: path.clone(),
                issues: match std::fs::read(path) {
                    Ok(bytes) => validator.check(&bytes, None).issues,
                    Err(e) => vec![Issue::error(
                        IssueType::NotFound,
                        format!("cannot read {}: {e}", path.display()),
                    )],
                },
            }
        })
        .collect();
    let mut summary = Summary {
        files: results.len(),
        ..Summary::default()
    };
    for result in &results {
        let count = |s: Severity| result.issues.iter().filter(|i| i.severity == s).count();
        let errors = count(Severity::Error);
        summary.errors += errors;
        summary.warnings += count(Severity::Warning);
        if errors > 0 {
            summary.files_with_errors += 1;
        }
    }
    let body = match format {
        Format::Json => json_report(&results),
        Format::Text => text_report(&results),
    };
    Report { body, summary }
}

/// Progress on stderr: `[3/120] path` as each file is checked, one line per file, or one line
/// rewritten in place when stderr is a terminal (so the report is not pushed off the screen).
pub struct Progress {
    total: usize,
    terminal: bool,
    drawn: bool,
}

impl Progress {
    /// Progress over `total` files, written to this process's stderr.
    pub fn stderr(total: usize) -> Self {
        Self {
            total,
            terminal: std::io::stderr().is_terminal(),
            drawn: false,
        }
    }

    /// Shows that file number `n` (from 1) is being checked; nothing for a lone file, which has
    /// no progress to follow.
    pub fn file(&mut self, n: usize, path: &Path) {
        if self.total < 2 {
            return;
        }
        let line = format!("[{n}/{}] {}", self.total, path.display());
        // A closed stderr is no reason to stop validating.
        let mut err = std::io::stderr().lock();
        let _ = if self.terminal {
            write!(err, "\r\x1b[K{line}").and_then(|()| err.flush())
        } else {
            writeln!(err, "{line}")
        };
        self.drawn = true;
    }

    /// Clears the in-place line, so that what follows starts on a clean one.
    pub fn finish(&mut self) {
        if self.terminal && self.drawn {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[K").and_then(|()| err.flush());
            self.drawn = false;
        }
    }
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
