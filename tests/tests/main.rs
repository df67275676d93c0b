//! The end-to-end tests in one binary: each file here is a module, so the gateway and the kit are
//! linked once for all of them rather than once per file.

mod bars_outbound;
mod cli;
mod conformance;
mod deploy;
mod directory;
mod faults;
mod fhirbolt_oracle;
mod journey;
mod operations;
mod replicas;
mod sandbox_guide;
mod soak;
mod support;
mod validation_oracle;
mod walking_skeleton;

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
