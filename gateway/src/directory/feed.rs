//! Reading an Open Referral UK feed: from a URL (`GET /` for the version, `GET /services` page by
//! page, then `GET /services/{id}` for each full record) or from a file (one service, one page,
//! or an array of services). Each record that cannot be fetched or used is a problem in the
//! report; the rest are mapped to HealthcareService resources.

use std::time::Duration;

use serde_json::Value;

use super::oruk::{
    OrukVersion, Problem, detect_version, read_page, service_system, to_healthcare_service,
};

/// Most pages read from one feed: a feed that never says "last page" cannot loop forever.
const MAX_PAGES: u32 = 1_000;

/// What a feed gave: the services to import and every problem met.
#[derive(Debug, Default)]
pub struct FeedRead {
    /// The feed's base (URL, or `file:` path), which scopes its service identifiers.
    pub base: String,
    /// The version it speaks (`None` for a file).
    pub version: Option<OrukVersion>,
    /// Mapped services.
    pub services: Vec<Value>,
    /// Records skipped, and why.
    pub problems: Vec<Problem>,
    /// Values left out of records that were imported (a position not on the Earth), and why.
    pub left_out: Vec<Problem>,
    /// Whether every page of the feed was read (only then may missing services be deactivated).
    pub complete: bool,
}

/// Why a feed could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The file or URL could not be read.
    #[error("cannot read {0}: {1}")]
    Unreadable(String, String),
    /// What it sent is not an ORUK answer.
    #[error("{0} is not an Open Referral UK feed: {1}")]
    NotAFeed(String, String),
}

fn mapped(read: &mut FeedRead, record: &Value) {
    match to_healthcare_service(record, &read.base) {
        Ok((service, left_out)) => {
            read.services.push(service);
            read.left_out.extend(left_out);
        }
        Err(problems) => read.problems.extend(problems),
    }
}

/// Reads a feed from a JSON file.
pub fn read_file(path: &std::path::Path) -> Result<FeedRead, FeedError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| FeedError::Unreadable(shown.clone(), e.to_string()))?;
    let body: Value = serde_json::from_str(&text)
        .map_err(|e| FeedError::NotAFeed(shown.clone(), e.to_string()))?;
    let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    let mut read = FeedRead {
        base: format!("file://{}", canonical.display()),
        complete: true,
        ..FeedRead::default()
    };
    let records = if body.get("id").is_some() {
        vec![body]
    } else {
        read_page(&body)
            .map_err(|e| FeedError::NotAFeed(shown, e))?
            .records
    };
    for record in &records {
        mapped(&mut read, record);
    }
    Ok(read)
}

async fn get_json(client: &reqwest::Client, url: &str) -> Result<Value, String> {
    let response = client
        .get(url)
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
    }
    response.json().await.map_err(|e| format!("not JSON: {e}"))
}

/// Reads a feed from its base URL: version, every page of services, then each full record.
pub async fn read_url(base: &str) -> Result<FeedRead, FeedError> {
    let base = base.trim_end_matches('/').to_owned();
    let client =
        signpost_adapters::http::client(Some(Duration::from_secs(10)), Duration::from_secs(30))
            .map_err(|e| FeedError::Unreadable(base.clone(), e.to_string()))?;
    let root = get_json(&client, &format!("{base}/"))
        .await
        .unwrap_or(Value::Null);
    let version = detect_version(&root);
    let mut read = FeedRead {
        base: base.clone(),
        version: Some(version),
        ..FeedRead::default()
    };
    let mut listed = Vec::new();
    let mut page = 1;
    loop {
        let url = format!("{base}/services?page={page}&per_page=100");
        let body = get_json(&client, &url)
            .await
            .map_err(|e| FeedError::Unreadable(url.clone(), e))?;
        let parsed = read_page(&body).map_err(|e| FeedError::NotAFeed(url.clone(), e))?;
        let empty = parsed.records.is_empty();
        listed.extend(parsed.records);
        if parsed.last || empty {
            read.complete = true;
            break;
        }
        if page >= MAX_PAGES {
            break;
        }
        page += 1;
    }
    for summary in &listed {
        let Some(id) = summary
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
        else {
            read.problems.push(Problem {
                record: None,
                element: "id".into(),
                message: "a listed service has no id, so its full record cannot be fetched".into(),
            });
            continue;
        };
        let encoded = percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC);
        match get_json(&client, &format!("{base}/services/{encoded}")).await {
            Ok(full) => mapped(&mut read, &full),
            Err(e) => read.problems.push(Problem {
                record: Some(id.to_owned()),
                element: "(record)".into(),
                message: format!("GET /services/{id}: {e}"),
            }),
        }
    }
    Ok(read)
}

/// The identifier system of the services a read feed holds.
pub fn system_of(read: &FeedRead) -> String {
    service_system(&read.base)
}
