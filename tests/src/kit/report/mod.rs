//! What the kit writes: a summary for the terminal, JUnit XML for CI, HTML for people.

mod html;
mod junit;
mod summary;

pub use html::html;
pub use junit::junit;
pub use summary::summary;

/// Escapes text for XML and HTML.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 forbids most control characters even when escaped.
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\r' | '\t') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Counts of (passed, failed, skipped).
fn counts(findings: &[super::check::Finding]) -> (usize, usize, usize) {
    use super::check::Verdict;
    findings
        .iter()
        .fold((0, 0, 0), |(p, f, s), finding| match finding.verdict {
            Verdict::Passed => (p + 1, f, s),
            Verdict::Failed(_) => (p, f + 1, s),
            Verdict::Skipped(_) => (p, f, s + 1),
        })
}
