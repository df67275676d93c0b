//! The gateway's integration tests in one binary: each file here is a module, so the gateway is
//! linked once for all of them rather than once per file. `tracing.rs` is its own binary (see
//! Cargo.toml).

mod auth;
mod bars;
mod bars_journey;
mod console;
mod console_browser;
mod console_link_worker;
mod console_link_worker_browser;
mod console_operator;
mod console_operator_browser;
mod console_vcs;
mod dead_letters;
mod delivery;
mod directory;
mod directory_import;
mod directory_near;
mod directory_webhook;
mod fhir_api;
mod hardening;
mod properties;
mod report_outputs;
mod reports;
mod store_contract;
mod support;
mod transaction;
mod workflow;

/// With `autotests = false` a file added here runs only once it is declared above.
#[test]
fn every_test_file_is_compiled() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let main = std::fs::read_to_string(dir.join("tests/main.rs")).expect("main.rs");
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).expect("Cargo.toml");
    for entry in std::fs::read_dir(dir.join("tests")).expect("tests/") {
        let path = entry.expect("entry").path();
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        if path.extension().is_some_and(|e| e == "rs") && stem != "main" {
            assert!(
                main.contains(&format!("\nmod {stem};\n"))
                    || manifest.contains(&format!("path = \"tests/{stem}.rs\"")),
                "tests/{stem}.rs is in no test binary: declare it in tests/main.rs"
            );
        }
    }
}
