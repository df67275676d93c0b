//! One self-contained HTML page a person can open: summary first, then each check's evidence.

use super::{counts, escape};
use crate::kit::check::{Finding, Verdict};

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem;max-width:72rem;color:#1d1d1d}\
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.35rem .6rem;border-bottom:1px solid #ddd;vertical-align:top}\
.pass{color:#0a6b2d;font-weight:600}.fail{color:#b00020;font-weight:600}.skip{color:#7a5b00}\
pre{background:#f5f5f5;padding:.6rem;overflow-x:auto;white-space:pre-wrap;word-break:break-all}details{margin:.6rem 0}";

/// The report page.
pub fn html(target: &str, role: &str, findings: &[Finding]) -> String {
    let (passed, failed, skipped) = counts(findings);
    let mut rows = String::new();
    let mut details = String::new();
    for f in findings {
        let (class, label) = match f.verdict {
            Verdict::Passed => ("pass", "pass"),
            Verdict::Failed(_) => ("fail", "FAIL"),
            Verdict::Skipped(_) => ("skip", "skip"),
        };
        rows.push_str(&format!(
            "<tr><td><a href=\"#{id}\">{id}</a></td><td class=\"{class}\">{label}</td><td>{}</td><td>{}</td><td>{} ms</td></tr>\n",
            escape(f.title),
            escape(f.requirement),
            f.elapsed.as_millis(),
            id = escape(f.id),
        ));
        let verdict = match &f.verdict {
            Verdict::Passed => "<p class=\"pass\">Passed.</p>".to_owned(),
            Verdict::Failed(failure) => format!(
                "<p class=\"fail\">Failed.</p><p><b>Expected:</b> {}</p><p><b>Got:</b> {}</p>",
                escape(&failure.expected),
                escape(&failure.got)
            ),
            Verdict::Skipped(why) => format!("<p class=\"skip\">Skipped: {}</p>", escape(why)),
        };
        let exchanges: String = f
            .exchanges
            .iter()
            .map(|e| {
                let headers: String = e
                    .request_headers
                    .iter()
                    .map(|(k, v)| format!("{k}: {v}\n"))
                    .collect();
                format!(
                    "<details{}><summary>{} → {}</summary><pre>{}{}</pre><pre>{}</pre></details>",
                    if f.failed() { " open" } else { "" },
                    escape(&e.request),
                    e.status.map_or("no answer".into(), |s| s.to_string()),
                    escape(&headers),
                    escape(&e.request_body),
                    escape(&e.response_body)
                )
            })
            .collect();
        details.push_str(&format!(
            "<section id=\"{}\"><h3>{}</h3><p>{}<br><i>{}</i></p>{verdict}{exchanges}</section>\n",
            escape(f.id),
            escape(f.id),
            escape(f.title),
            escape(f.requirement)
        ));
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Signpost conformance: {role}</title><style>{STYLE}</style></head><body>\n\
         <h1>Signpost conformance report</h1><p>Role <b>{role}</b> against <b>{target}</b>: \
         <span class=\"pass\">{passed} passed</span>, <span class=\"fail\">{failed} failed</span>, <span class=\"skip\">{skipped} skipped</span>.</p>\n\
         <table><thead><tr><th>Check</th><th>Result</th><th>What</th><th>Requirement</th><th>Time</th></tr></thead><tbody>\n{rows}</tbody></table>\n\
         <h2>Evidence</h2>\n{details}</body></html>\n",
        role = escape(role),
        target = escape(target),
    )
}
