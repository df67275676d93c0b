//! The layering rule (README, Architecture), checked: no module's production code imports a
//! layer above it.

use std::path::{Path, PathBuf};

/// What the HTTP edge and the composition above it are called: below the edge, nothing names them.
const EDGE: &[&str] = &[
    "axum",
    "crate::fhir",
    "crate::app",
    "crate::state",
    "crate::health",
    "crate::admin",
    "crate::reports_csv",
    "crate::webhooks",
    "crate::console",
    "crate::root",
    "crate::server",
    "crate::connections",
    "crate::sandbox",
    "crate::auth::bearer",
    "crate::auth::endpoint",
];

/// The workflow commands and audit: persistence and delivery sit below them.
const WORKFLOW: &[&str] = &["crate::workflow", "crate::audit"];

fn source_files(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_owned()];
    }
    let Ok(entries) = std::fs::read_dir(path) else {
        // A layer that does not exist (yet) has nothing to check.
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .flat_map(|e| source_files(&e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .collect();
    files.sort();
    files
}

/// Every `file:line: text` under `module` (a file or folder of src/) naming one of `above`.
fn upward_imports(module: &str, above: &[&str], except: &[&str]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    for file in source_files(&root.join(module)) {
        let relative = file
            .strip_prefix(&root)
            .unwrap_or(&file)
            .display()
            .to_string();
        if except.contains(&relative.as_str()) {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("a source file is readable");
        // A unit test module (`#[cfg(test)] mod tests { .. }`, last in its file) may build
        // whatever it needs, a fake partner or a referral; the rule is about production code.
        let lines: Vec<&str> = text.lines().collect();
        let production = lines
            .windows(2)
            .position(|w| {
                w[0].trim() == "#[cfg(test)]"
                    && w[1].trim_start().starts_with("mod ")
                    && w[1].trim_end().ends_with('{')
            })
            .unwrap_or(lines.len());
        for (n, line) in lines[..production].iter().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            let names = |name: &&str| {
                code.match_indices(*name).any(|(i, _)| {
                    let before = code[..i].chars().last();
                    let after = code[i + name.len()..].chars().next();
                    !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
                        && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
                })
            };
            if above.iter().any(names) {
                found.push(format!("{relative}:{}: {code}", n + 1));
            }
        }
    }
    found
}

#[test]
fn domain_workflow_store_and_delivery_know_nothing_of_http() {
    let mut found = Vec::new();
    for module in [
        "workflow",
        "store",
        "delivery",
        "directory",
        "routing.rs",
        "search_index.rs",
        "audit",
    ] {
        found.extend(upward_imports(module, EDGE, &[]));
    }
    // auth/ is policy, but its token endpoint and bearer extractor are the HTTP edge of it.
    found.extend(upward_imports(
        "auth",
        EDGE,
        &["auth/bearer.rs", "auth/endpoint.rs"],
    ));
    assert!(found.is_empty(), "upward imports:\n{}", found.join("\n"));
}

#[test]
fn store_and_delivery_know_nothing_of_workflow() {
    let mut found = Vec::new();
    for module in ["store", "delivery", "directory"] {
        found.extend(upward_imports(module, WORKFLOW, &[]));
    }
    assert!(found.is_empty(), "upward imports:\n{}", found.join("\n"));
}
