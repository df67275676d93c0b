//! The table printed at the end of a run, with the details of every failure.

use crate::kit::check::{Finding, Verdict};

/// A table of every check, then what was sent, what came back and what was expected for each failure.
pub fn summary(target: &str, role: &str, findings: &[Finding]) -> String {
    let width = findings
        .iter()
        .map(|f| f.id.len())
        .max()
        .unwrap_or(5)
        .max(5);
    let mut out = format!("Signpost conformance: {role} at {target}\n\n");
    out.push_str(&format!(
        "  {:<width$}  {:<7}  {:>7}  {}\n",
        "CHECK", "RESULT", "TIME", "REQUIREMENT"
    ));
    for f in findings {
        let result = match f.verdict {
            Verdict::Passed => "pass",
            Verdict::Failed(_) => "FAIL",
            Verdict::Skipped(_) => "skip",
        };
        out.push_str(&format!(
            "  {:<width$}  {:<7}  {:>5}ms  {}\n",
            f.id,
            result,
            f.elapsed.as_millis(),
            f.requirement
        ));
    }
    let (passed, failed, skipped) = super::counts(findings);
    out.push_str(&format!(
        "\n{passed} passed, {failed} failed, {skipped} skipped\n"
    ));
    for f in findings {
        match &f.verdict {
            Verdict::Failed(failure) => {
                out.push_str(&format!(
                    "\nFAIL {}: {}\n  requirement: {}\n  expected: {}\n  got:      {}\n",
                    f.id, f.title, f.requirement, failure.expected, failure.got
                ));
                for e in &f.exchanges {
                    out.push_str(&format!("  > {}\n", e.request));
                    if !e.request_body.is_empty() {
                        out.push_str(&format!(
                            "    {}\n",
                            crate::kit::http::shorten(&e.request_body)
                        ));
                    }
                    match e.status {
                        Some(status) => out.push_str(&format!(
                            "  < {status} {}\n",
                            crate::kit::http::shorten(&e.response_body)
                        )),
                        None => out.push_str(&format!("  < {}\n", e.response_body)),
                    }
                }
            }
            Verdict::Skipped(why) => out.push_str(&format!("\nskip {}: {why}\n", f.id)),
            Verdict::Passed => {}
        }
    }
    out
}
