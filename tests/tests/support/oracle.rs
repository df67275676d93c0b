//! The independent validator (tests/oracle: Medplum's validateResource, pinned by its lock file),
//! run over resources as one batch. Anything it reports as an error, Signpost must not send.
//! The gateway's tests include this file too (`gateway/tests/support/mod.rs`): one copy for both.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

/// What the oracle said about one resource.
#[derive(Debug)]
pub struct Verdict {
    /// No error or fatal issue.
    pub valid: bool,
    /// Every issue, as the oracle reported it (severity, code, diagnostics, expression).
    pub issues: Vec<Value>,
}

impl Verdict {
    /// The error issues only.
    pub fn errors(&self) -> Vec<&Value> {
        self.issues
            .iter()
            .filter(|i| matches!(i["severity"].as_str(), Some("error" | "fatal")))
            .collect()
    }
}

/// Validates each resource; panics with the way to install the oracle when it is not installed.
pub fn validate(resources: &[Value]) -> Vec<Verdict> {
    let lines: Vec<String> = resources.iter().map(Value::to_string).collect();
    validate_lines(&lines)
}

/// Validates resources given as JSON text, one line each (so a text may repeat a member name,
/// which the oracle's JSON.parse resolves by keeping the last).
pub fn validate_lines(lines: &[String]) -> Vec<Verdict> {
    // From either crate's directory, so that both crates' tests can include this file.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/oracle");
    assert!(
        dir.join("node_modules/@medplum/core").is_dir(),
        "the oracle is not installed: run `npm ci --prefix tests/oracle` (needs Node.js 20.19 or later)"
    );
    let mut child = Command::new("node")
        .arg("validate.mjs")
        .arg("-")
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs (Node.js 20.19 or later is needed for the oracle)");
    let input: String = lines.iter().map(|r| format!("{r}\n")).collect();
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write to the oracle");
    let output = child.wait_with_output().expect("the oracle finishes");
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "the oracle failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let verdicts: Vec<Verdict> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).expect("the oracle prints JSON lines");
            Verdict {
                valid: v["valid"] == true,
                issues: v["issues"].as_array().cloned().unwrap_or_default(),
            }
        })
        .collect();
    assert_eq!(verdicts.len(), lines.len(), "one verdict per resource");
    verdicts
}
