//! The independent validator (tests/oracle: Medplum's validateResource, pinned by its lock
//! file), for resources Signpost computes rather than stores.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

/// The error issues the oracle reports for each resource, in order.
pub fn errors(resources: &[Value]) -> Vec<Vec<Value>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/oracle");
    assert!(
        dir.join("node_modules/@medplum/core").is_dir(),
        "the oracle is not installed: run `npm ci --prefix tests/oracle`"
    );
    let mut child = Command::new("node")
        .args(["validate.mjs", "-"])
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs");
    let input: String = resources.iter().map(|r| format!("{r}\n")).collect();
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
    let verdicts: Vec<Vec<Value>> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).expect("the oracle prints JSON lines");
            v["issues"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|i| matches!(i["severity"].as_str(), Some("error" | "fatal")))
                .cloned()
                .collect()
        })
        .collect();
    assert_eq!(verdicts.len(), resources.len(), "one verdict per resource");
    verdicts
}
