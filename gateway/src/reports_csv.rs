//! `GET /reports/outcomes.csv`: a disclosed report as CSV (RFC 4180), one row per cell, for
//! `admin` and `commissioner` tokens; the console serves the same file to its operators.
//!
//! The policy is a column of every row rather than a first line: RFC 4180 has no comment
//! lines, so a preamble breaks spreadsheet and `csv` readers, and a row filtered or pasted
//! elsewhere still says which disclosure control its value went through.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use signpost_profiles::{Issue, IssueType};

use crate::auth::Principal;
use crate::fhir::ApiError;
use crate::state::AppState;
use crate::workflow::reports::measures::{dimension_code, figure_code, measure_id, stratum_code};
use crate::workflow::reports::query::{QueryError, RawQuery, parse_query};
use crate::workflow::reports::{Disclosed, Figure, Report, ReportQuery};

/// The header row.
pub const COLUMNS: [&str; 15] = [
    "dimension",
    "group",
    "group_name",
    "period",
    "period_start",
    "period_end",
    "measure",
    "figure",
    "outcome_measure",
    "stratum_kind",
    "stratum",
    "stratum_name",
    "value",
    "suppressed",
    "policy",
];

/// One field, quoted when it holds a comma, a quote, or a line break (quotes doubled).
pub fn field(value: &str) -> String {
    if value.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

fn outcome_measure(figure: &Figure) -> &str {
    match figure {
        Figure::OutcomePaired(m)
        | Figure::OutcomeMeanBaseline(m)
        | Figure::OutcomeMeanFollowUp(m)
        | Figure::OutcomeMeanChange(m)
        | Figure::Ons4BandBaseline(m)
        | Figure::Ons4BandFollowUp(m) => m,
        _ => "",
    }
}

/// The report as CSV, CRLF line ends as RFC 4180 has them.
pub fn csv(report: &Report) -> String {
    let mut out = COLUMNS.join(",");
    out.push_str("\r\n");
    for cell in &report.cells {
        let (value, suppressed) = match cell.value {
            Disclosed::Count(n) => (n.to_string(), "false"),
            Disclosed::Number(x) => (x.to_string(), "false"),
            Disclosed::Suppressed => (String::new(), "true"),
        };
        let stratum = cell.stratum.as_ref();
        let row = [
            dimension_code(cell.group.dimension).to_owned(),
            cell.group.code.clone(),
            cell.group.display.clone().unwrap_or_default(),
            cell.period.label.clone(),
            cell.period.start.to_string(),
            cell.period.end.to_string(),
            measure_id(&cell.figure),
            figure_code(&cell.figure).to_owned(),
            outcome_measure(&cell.figure).to_owned(),
            stratum
                .map(|s| stratum_code(s.kind))
                .unwrap_or_default()
                .to_owned(),
            stratum.map(|s| s.code.clone()).unwrap_or_default(),
            stratum.and_then(|s| s.display.clone()).unwrap_or_default(),
            value,
            suppressed.to_owned(),
            report.policy.clone(),
        ];
        let fields: Vec<String> = row.iter().map(|f| field(f)).collect();
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    }
    out
}

/// `?by=&interval=&from=&to=&group=`, as the CSV link and the console's form send it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvParams {
    /// Dimension code.
    pub by: Option<String>,
    /// `month` or `quarter`.
    pub interval: Option<String>,
    /// First day.
    pub from: Option<String>,
    /// First day not covered.
    pub to: Option<String>,
    /// One group only.
    pub group: Option<String>,
}

impl CsvParams {
    /// The report query these ask for.
    pub fn query(&self) -> Result<ReportQuery, QueryError> {
        parse_query(&RawQuery {
            by: ("by", self.by.as_deref()),
            interval: ("interval", self.interval.as_deref()),
            from: ("from", self.from.as_deref()),
            to: ("to", self.to.as_deref()),
            group: self.group.clone().filter(|g| !g.is_empty()),
        })
    }
}

/// A CSV download answer, with a file name saying what it holds.
pub fn csv_response(report: &Report, query: &ReportQuery) -> Response {
    let name = format!(
        "signpost-report-{}-{}-{}.csv",
        dimension_code(query.by),
        query.from,
        query.to
    );
    let mut response = (StatusCode::OK, csv(report)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8; header=present"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

async fn download(
    State(state): State<AppState>,
    who: Principal,
    Query(params): Query<CsvParams>,
) -> Result<Response, ApiError> {
    if !who.scopes.reads_reports() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            Issue::error(
                IssueType::Forbidden,
                "the admin or commissioner scope is needed for /reports",
            ),
        ));
    }
    let query = params.query().map_err(|e| {
        ApiError::bad_request(
            IssueType::Invalid,
            format!("parameter {}: {}", e.parameter, e.message),
        )
    })?;
    let report = crate::workflow::reports::report(
        state.store.as_ref(),
        &state.projection,
        &state.config,
        &query,
    )
    .await?;
    Ok(csv_response(&report, &query))
}

/// The `/reports` routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/reports/outcomes.csv", get(download))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_with_commas_quotes_or_line_breaks_are_quoted_and_quotes_doubled() {
        assert_eq!(field("A81001"), "A81001");
        assert_eq!(field("Smith, Jones & Co"), "\"Smith, Jones & Co\"");
        assert_eq!(field("the \"Mill\" group"), "\"the \"\"Mill\"\" group\"");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
        assert_eq!(field(""), "");
    }
}
