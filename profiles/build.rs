//! Embeds every file under `definitions/` (Signpost's profiles, value sets and code systems) and
//! `definitions/r4/` (the FHIR R4 base definitions, named with an `r4/` prefix), so a new
//! definition is a data change.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("definitions");
    let mut files = Vec::new();
    for (sub, prefix) in [(dir.clone(), ""), (dir.join("r4"), "r4/")] {
        println!("cargo:rerun-if-changed={}", sub.display());
        let mut here: Vec<_> = std::fs::read_dir(&sub)
            .expect("profiles/definitions and definitions/r4 exist")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .map(|p| (prefix, p))
            .collect();
        here.sort();
        files.extend(here);
    }
    let mut out = String::from(
        "/// Every definition file, by name (`r4/...` for the base definitions), as shipped in `profiles/definitions/`.\n",
    );
    out.push_str("pub(crate) static EMBEDDED: &[(&str, &str)] = &[\n");
    for (prefix, path) in files {
        println!("cargo:rerun-if-changed={}", path.display());
        let file = path.file_name().expect("a file name").to_string_lossy();
        let name = format!("{prefix}{file}");
        writeln!(
            out,
            "    ({name:?}, include_str!({:?})),",
            path.display().to_string()
        )
        .expect("write to a String");
    }
    out.push_str("];\n");
    let target =
        Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR is set")).join("definitions.rs");
    std::fs::write(target, out).expect("write definitions.rs");
}
