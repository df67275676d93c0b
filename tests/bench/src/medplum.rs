//! The peer issue 27 measures Signpost against: Medplum's `FhirRouter` validating each
//! ServiceRequest into its in-memory repository (`tests/bench/medplum/server.mjs`, Node). It
//! needs `node` and an installed `node_modules`; without them the run skips it and says how to
//! install it, so the harness still works where there is no npm.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::process::{ServerProcess, free_port};

/// Where the peer's `package.json` and `server.mjs` live in this repository.
pub fn default_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("medplum")
}

/// Whether the peer can be run, decided before anything is started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    /// `node` found and the packages installed.
    Ready {
        /// The `node` executable.
        node: PathBuf,
        /// The peer's `server.mjs`.
        script: PathBuf,
    },
    /// Why it is skipped, with what to run to make it available.
    Skipped(String),
}

/// The first executable file called `name` in a `PATH`-style list of directories.
pub fn find_on_path(name: &str, path: Option<&OsStr>) -> Option<PathBuf> {
    std::env::split_paths(path?)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Decides whether the peer in `dir` can run with `node` (as found on `PATH`, if at all).
pub fn availability(node: Option<PathBuf>, dir: &Path) -> Availability {
    let install = format!("npm ci --prefix {}", dir.display());
    let Some(node) = node else {
        return Availability::Skipped(format!(
            "no `node` on PATH; install Node.js ≥ 20.19, then `{install}`"
        ));
    };
    let script = dir.join("server.mjs");
    if !script.is_file() {
        return Availability::Skipped(format!("no peer at {}", script.display()));
    }
    // The router is the package the peer cannot start without; checking it (not just the
    // node_modules folder) also catches a half-finished install.
    let router = dir.join("node_modules/@medplum/fhir-router/package.json");
    if !router.is_file() {
        return Availability::Skipped(format!(
            "its packages are not installed (no {}); run `{install}`",
            router.display()
        ));
    }
    Availability::Ready { node, script }
}

/// Starts the peer (`node server.mjs PORT`) and waits for its `/healthz`.
pub async fn start(node: &Path, script: &Path) -> anyhow::Result<ServerProcess> {
    let port = free_port()?;
    let mut command = Command::new(node);
    command
        .arg(script)
        .arg(port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    ServerProcess::start(command, port, "medplum").await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }

    fn peer_dir(installed: bool) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        write(&dir.path().join("server.mjs"), "// peer");
        if installed {
            write(
                &dir.path()
                    .join("node_modules/@medplum/fhir-router/package.json"),
                "{}",
            );
        }
        dir
    }

    #[test]
    fn the_peer_runs_only_with_node_and_its_packages() {
        let node = PathBuf::from("/usr/bin/node");
        let installed = peer_dir(true);
        assert_eq!(
            availability(Some(node.clone()), installed.path()),
            Availability::Ready {
                node: node.clone(),
                script: installed.path().join("server.mjs"),
            }
        );

        let Availability::Skipped(why) = availability(None, installed.path()) else {
            panic!("ran without node");
        };
        assert!(why.contains("no `node` on PATH"), "{why}");
        assert!(why.contains("npm ci --prefix"), "{why}");

        let bare = peer_dir(false);
        let Availability::Skipped(why) = availability(Some(node), bare.path()) else {
            panic!("ran without node_modules");
        };
        assert!(
            why.contains(&format!("npm ci --prefix {}", bare.path().display())),
            "{why}"
        );
    }

    #[test]
    fn a_half_installed_node_modules_is_not_enough() {
        let dir = peer_dir(false);
        std::fs::create_dir_all(dir.path().join("node_modules/@medplum/core")).expect("mkdir");
        assert!(matches!(
            availability(Some(PathBuf::from("/usr/bin/node")), dir.path()),
            Availability::Skipped(_)
        ));
    }

    #[test]
    fn node_is_found_only_as_an_executable_file_on_path() {
        use std::os::unix::fs::PermissionsExt;
        let empty = tempfile::tempdir().expect("tempdir");
        let bin = tempfile::tempdir().expect("tempdir");
        let node = bin.path().join("node");
        write(&node, "#!/bin/sh\n");
        let path = std::env::join_paths([empty.path(), bin.path()]).expect("PATH");

        std::fs::set_permissions(&node, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert_eq!(find_on_path("node", Some(&path)), None, "not executable");

        std::fs::set_permissions(&node, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        assert_eq!(find_on_path("node", Some(&path)), Some(node));
        assert_eq!(find_on_path("node", None), None, "no PATH at all");
    }
}
