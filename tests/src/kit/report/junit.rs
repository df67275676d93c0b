//! JUnit XML, the format CI systems read test results from.

use super::{counts, escape};
use crate::kit::check::{Finding, Verdict};

/// One `<testsuite>` for the role, one `<testcase>` per check.
pub fn junit(role: &str, findings: &[Finding]) -> String {
    let (_, failed, skipped) = counts(findings);
    let total: f64 = findings.iter().map(|f| f.elapsed.as_secs_f64()).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuites name=\"signpost-conformance\" tests=\"{}\" failures=\"{failed}\" skipped=\"{skipped}\" time=\"{total:.3}\">\n",
        findings.len()
    ));
    out.push_str(&format!(
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failed}\" errors=\"0\" skipped=\"{skipped}\" time=\"{total:.3}\">\n",
        escape(role),
        findings.len()
    ));
    for f in findings {
        out.push_str(&format!(
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\">\n",
            escape(role),
            escape(f.id),
            f.elapsed.as_secs_f64()
        ));
        out.push_str(&format!(
            "      <properties><property name=\"requirement\" value=\"{}\"/></properties>\n",
            escape(f.requirement)
        ));
        match &f.verdict {
            Verdict::Passed => {}
            Verdict::Failed(failure) => {
                let exchanges: String = f
                    .exchanges
                    .iter()
                    .map(|e| {
                        format!(
                            "> {}\n{}\n< {}\n{}\n",
                            e.request,
                            e.request_body,
                            e.status.map_or("-".into(), |s| s.to_string()),
                            e.response_body
                        )
                    })
                    .collect();
                out.push_str(&format!(
                    "      <failure message=\"{}\" type=\"conformance\">expected: {}\ngot: {}\n\n{}</failure>\n",
                    escape(&format!("{}: expected {}", f.title, failure.expected)),
                    escape(&failure.expected),
                    escape(&failure.got),
                    escape(&exchanges)
                ));
            }
            Verdict::Skipped(why) => {
                out.push_str(&format!("      <skipped message=\"{}\"/>\n", escape(why)))
            }
        }
        out.push_str("    </testcase>\n");
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}
