//! The NHS design system's compiled styles and images, served from the installed npm package.

use std::path::{Component, Path, PathBuf};

use axum::extract::Path as UrlPath;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Where `npm ci --prefix console` puts the package's build, relative to the working directory;
/// `SIGNPOST_CONSOLE_ASSETS` overrides it.
pub const DEFAULT_DIR: &str = "console/node_modules/nhsuk-frontend/dist/nhsuk";

/// The stylesheet the pages link to, as a path under the assets directory.
pub const STYLESHEET: &str = "nhsuk-frontend.min.css";

/// The same directory in the checkout this binary was built from: found when the working
/// directory is elsewhere in the checkout (`cargo test` runs in `gateway/`).
const CHECKOUT_DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../console/node_modules/nhsuk-frontend/dist/nhsuk"
);

/// The assets directory in force.
pub fn dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SIGNPOST_CONSOLE_ASSETS") {
        return PathBuf::from(dir);
    }
    let relative = PathBuf::from(DEFAULT_DIR);
    if !relative.is_dir() && Path::new(CHECKOUT_DIR).is_dir() {
        return PathBuf::from(CHECKOUT_DIR);
    }
    relative
}

/// Logs once at start whether the styles are there, and how to install them if not.
pub fn log_presence() {
    let sheet = dir().join(STYLESHEET);
    if !sheet.is_file() {
        tracing::warn!(
            missing = %sheet.display(),
            "the console's NHS styles are not installed (run `npm ci --prefix console`, or set SIGNPOST_CONSOLE_ASSETS); the console works unstyled"
        );
    }
}

fn content_type(path: &Path) -> Option<&'static str> {
    match path.extension()?.to_str()? {
        "css" => Some("text/css; charset=utf-8"),
        "svg" => Some("image/svg+xml"),
        "png" => Some("image/png"),
        "ico" => Some("image/x-icon"),
        "woff2" => Some("font/woff2"),
        _ => None,
    }
}

/// `GET /console/assets/{file}`: only plain relative paths of the listed kinds.
pub async fn serve(UrlPath(file): UrlPath<String>) -> Response {
    let relative = Path::new(&file);
    let plain = relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)));
    let Some(kind) = content_type(relative).filter(|_| plain) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match tokio::fs::read(dir().join(relative)).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, kind),
                (header::CACHE_CONTROL, "public, max-age=3600"),
            ],
            bytes,
        )
            .into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}
