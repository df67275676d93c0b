//! `GET /console/operator/reports`: the outcome report's charts (outcome change per measure,
//! referrals and decline rates over time, unmet demand by category), each an inline SVG with a
//! data table beside it, and `GET /console/operator/reports.csv`, the same file as
//! `/reports/outcomes.csv`.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use time::{Duration, OffsetDateTime};

use super::chart::{Bar, Fill, bar_chart, shown};
use super::view;
use crate::console::account::ConsoleRole;
use crate::console::acting::SignedIn;
use crate::console::page;
use crate::reports_csv::{CsvParams, csv_response};
use crate::state::AppState;
use crate::workflow::reports::measures::{DIMENSIONS, dimension_code};
use crate::workflow::reports::query::{QueryError, interval_code};
use crate::workflow::reports::{Disclosed, Figure, Group, Period, Report, ReportQuery};
use crate::workflow::unmet_demand::{UnmetDemand, unmet_demand};

fn value(d: Disclosed) -> Option<f64> {
    match d {
        Disclosed::Count(n) => Some(n as f64),
        Disclosed::Number(x) => Some(x),
        Disclosed::Suppressed => None,
    }
}

/// The form's values when none were sent: the last twelve months by practice, shown in the form.
fn proposed() -> CsvParams {
    let today = OffsetDateTime::now_utc().date();
    let this_month = today.replace_day(1).unwrap_or(today);
    let next = (this_month + Duration::days(32))
        .replace_day(1)
        .unwrap_or(this_month);
    let mut from = this_month;
    for _ in 0..11 {
        from = (from - Duration::days(1)).replace_day(1).unwrap_or(from);
    }
    CsvParams {
        by: Some("practice".into()),
        interval: Some("month".into()),
        from: Some(from.to_string()),
        to: Some(next.to_string()),
        group: None,
    }
}

fn form(params: &CsvParams, error: Option<&QueryError>) -> Markup {
    let chosen = |v: &Option<String>, want: &str| v.as_deref() == Some(want);
    html! {
        @if let Some(e) = error {
            div class="nhsuk-error-summary" aria-labelledby="report-error" role="alert" tabindex="-1" {
                h2 class="nhsuk-error-summary__title" id="report-error" { "There is a problem" }
                div class="nhsuk-error-summary__body" { p { (e.parameter) ": " (e.message) } }
            }
        }
        form method="get" action="/console/operator/reports" class="nhsuk-u-margin-bottom-5" {
            div class="nhsuk-form-group" {
                label class="nhsuk-label" for="by" { "Figures by" }
                select class="nhsuk-select" id="by" name="by" {
                    @for d in DIMENSIONS {
                        option value=(dimension_code(d)) selected[chosen(&params.by, dimension_code(d))] { (dimension_code(d)) }
                    }
                }
            }
            div class="nhsuk-form-group" {
                label class="nhsuk-label" for="interval" { "Interval" }
                select class="nhsuk-select" id="interval" name="interval" {
                    option value="month" selected[chosen(&params.interval, "month")] { "month" }
                    option value="quarter" selected[chosen(&params.interval, "quarter")] { "quarter" }
                }
            }
            div class="nhsuk-form-group" {
                label class="nhsuk-label" for="from" { "From (the first day of a month or quarter, YYYY-MM-DD)" }
                input class="nhsuk-input nhsuk-input--width-10" id="from" name="from" type="text" value=(params.from.clone().unwrap_or_default());
            }
            div class="nhsuk-form-group" {
                label class="nhsuk-label" for="to" { "To (the first day not covered, YYYY-MM-DD)" }
                input class="nhsuk-input nhsuk-input--width-10" id="to" name="to" type="text" value=(params.to.clone().unwrap_or_default());
            }
            button class="nhsuk-button" type="submit" { "Show report" }
        }
    }
}

fn cell(report: &Report, group: &Group, period: &Period, figure: &Figure) -> Option<Disclosed> {
    report
        .cells
        .iter()
        .find(|c| {
            &c.group == group && &c.period == period && &c.figure == figure && c.stratum.is_none()
        })
        .map(|c| c.value)
}

fn name(group: &Group) -> String {
    match &group.display {
        Some(d) => format!("{d} ({})", group.code),
        None => group.code.clone(),
    }
}

fn text(d: Option<Disclosed>) -> String {
    match d {
        None => "none".into(),
        Some(d) => shown(value(d)),
    }
}

/// Referrals received and declined per group and period, and the decline rate from them.
fn referrals(report: &Report) -> Markup {
    let mut bars = Vec::new();
    let mut rows = Vec::new();
    for group in &report.groups {
        for period in &report.periods {
            let received = cell(report, group, period, &Figure::ReferralsReceived);
            let declined = cell(report, group, period, &Figure::Declined);
            if received.is_none() && declined.is_none() {
                continue;
            }
            let label = format!("{} {}", group.code, period.label);
            bars.push(Bar {
                label: format!("{label} received"),
                value: received.and_then(value),
                fill: Fill::Solid,
            });
            bars.push(Bar {
                label: format!("{label} declined"),
                value: declined.and_then(value),
                fill: Fill::Hatched,
            });
            // The rate is of the published (rounded) counts, as the disclosure policy requires.
            let rate = match (received.and_then(value), declined.and_then(value)) {
                (Some(r), Some(d)) if r > 0.0 => format!("{:.0}%", d / r * 100.0),
                (Some(_), Some(_)) => "none".into(),
                _ => "suppressed".into(),
            };
            rows.push(vec![
                html! { (name(group)) },
                html! { (period.label) },
                html! { (text(received)) },
                html! { (text(declined)) },
                html! { (rate) },
            ]);
        }
    }
    html! {
        h2 { "Referrals and declines over time" }
        @if rows.is_empty() {
            p { "No referrals in this span." }
        } @else {
            (bar_chart("Referrals received and declined", "Solid bars are referrals received, hatched bars referrals declined, per group and period; each bar is labelled with its value, and suppressed values are written as suppressed. The table below has the same figures.", &bars))
            (view::table("Referrals received and declined, and the decline rate", &["Group", "Period", "Received", "Declined", "Decline rate"], &rows))
        }
    }
}

/// One outcome measure's bars and table rows, per group and period.
fn outcome_rows(
    report: &Report,
    measure: &str,
    keys: &[(&Group, &Period)],
) -> (Vec<Bar>, Vec<Vec<Markup>>) {
    let mut bars = Vec::new();
    let mut rows = Vec::new();
    for (group, period) in keys {
        let m = measure.to_owned();
        let baseline = cell(
            report,
            group,
            period,
            &Figure::OutcomeMeanBaseline(m.clone()),
        );
        let follow_up = cell(
            report,
            group,
            period,
            &Figure::OutcomeMeanFollowUp(m.clone()),
        );
        let change = cell(report, group, period, &Figure::OutcomeMeanChange(m.clone()));
        let paired = cell(report, group, period, &Figure::OutcomePaired(m));
        let label = format!("{} {}", group.code, period.label);
        bars.push(Bar {
            label: format!("{label} baseline"),
            value: baseline.and_then(value),
            fill: Fill::Hatched,
        });
        bars.push(Bar {
            label: format!("{label} follow-up"),
            value: follow_up.and_then(value),
            fill: Fill::Solid,
        });
        rows.push(vec![
            html! { (name(group)) },
            html! { (period.label) },
            html! { (text(paired)) },
            html! { (text(baseline)) },
            html! { (text(follow_up)) },
            html! { (text(change)) },
        ]);
    }
    (bars, rows)
}

/// Mean baseline against mean follow-up per outcome measure, group and period.
fn outcomes(report: &Report) -> Markup {
    let mut measures: BTreeMap<&str, Vec<(&Group, &Period)>> = BTreeMap::new();
    for c in &report.cells {
        // A measure nobody has paired scores for has nothing to chart.
        if let Figure::OutcomePaired(m) = &c.figure
            && c.value != Disclosed::Count(0)
        {
            measures.entry(m).or_default().push((&c.group, &c.period));
        }
    }
    html! {
        h2 { "Outcome change per measure" }
        @if measures.is_empty() {
            p { "No one has both a baseline and a follow-up score in this span." }
        }
        @for (measure, keys) in &measures {
            @let code = measure.rsplit('|').next().unwrap_or(measure);
            @let (bars, rows) = outcome_rows(report, measure, keys);
            h3 { (code) }
            (bar_chart(&format!("Outcome {code}: mean baseline and follow-up"), "Hatched bars are the mean baseline score, solid bars the mean follow-up score of the people with both, per group and period; each bar is labelled with its value, and suppressed means are written as suppressed. The table below has the same figures.", &bars))
            (view::table(&format!("{code}: people paired, mean baseline, follow-up and change"), &["Group", "Period", "People paired", "Mean baseline", "Mean follow-up", "Mean change"], &rows))
        }
    }
}

/// Unmet demand per category, district and week, as `/admin/unmet-demand` counts it.
fn unmet(demand: &UnmetDemand) -> Markup {
    let mut bars = Vec::new();
    let mut rows = Vec::new();
    for r in &demand.rows {
        let label = format!(
            "{} {} {}",
            r.category.rsplit('|').next().unwrap_or(&r.category),
            r.district,
            r.week
        );
        bars.push(Bar {
            label: format!("{label} refused"),
            value: r.refused_for_capacity.map(|n| n as f64),
            fill: Fill::Solid,
        });
        bars.push(Bar {
            label: format!("{label} searches"),
            value: r.searches_without_room.map(|n| n as f64),
            fill: Fill::Hatched,
        });
        rows.push(vec![
            html! { span class="nhsuk-u-text-break-word" { (r.category) } },
            html! { (r.district) },
            html! { (r.week) },
            html! { (shown(r.refused_for_capacity.map(|n| n as f64))) },
            html! { (shown(r.searches_without_room.map(|n| n as f64))) },
        ]);
    }
    html! {
        h2 { "Unmet demand by category" }
        @if rows.is_empty() {
            p { "No unmet demand has been recorded." }
        } @else {
            (bar_chart("Unmet demand by service category", "Solid bars are onward referrals refused because the service was full, hatched bars directory searches that found nothing with room, per category, district and week; each bar is labelled with its value, and suppressed counts are written as suppressed. The table below has the same figures.", &bars))
            (view::table("Unmet demand per service category, postcode district and ISO week", &["Category", "District", "Week", "Refused for capacity", "Searches without room"], &rows))
        }
    }
}

fn csv_link(q: &ReportQuery) -> String {
    format!(
        "/console/operator/reports.csv?by={}&interval={}&from={}&to={}",
        dimension_code(q.by),
        interval_code(q.interval),
        q.from,
        q.to
    )
}

/// `GET /console/operator/reports`.
pub async fn page(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(sent): Query<CsvParams>,
) -> Response {
    if let Err(refused) = signed_in.require(ConsoleRole::Operator) {
        return refused;
    }
    let params =
        if sent.by.is_none() && sent.interval.is_none() && sent.from.is_none() && sent.to.is_none()
        {
            proposed()
        } else {
            sent
        };
    let query = match params.query() {
        Ok(q) => q,
        Err(e) => {
            let body = html! { h1 { "Reports" } (form(&params, Some(&e))) };
            return page::respond(
                StatusCode::BAD_REQUEST,
                view::frame(&signed_in, "Reports", body),
            );
        }
    };
    let report = match crate::workflow::reports::report(
        state.store.as_ref(),
        &state.projection,
        &state.config,
        &query,
    )
    .await
    {
        Ok(r) => r,
        Err(e) => return page::unavailable(&e),
    };
    let demand = match unmet_demand(state.store.as_ref(), state.config.reports.policy.0).await {
        Ok(d) => d,
        Err(e) => return page::unavailable(&e),
    };
    let body = html! {
        h1 { "Reports" }
        p { "Every figure has been through the disclosure policy " strong { (report.policy) } ": a value written as suppressed is withheld, not zero." }
        (form(&params, None))
        p { a href=(csv_link(&query)) { "Download these figures as CSV" } }
        (outcomes(&report))
        (referrals(&report))
        (unmet(&demand))
    };
    page::respond(StatusCode::OK, view::frame(&signed_in, "Reports", body))
}

/// `GET /console/operator/reports.csv`.
pub async fn csv(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(sent): Query<CsvParams>,
) -> Response {
    if let Err(refused) = signed_in.require(ConsoleRole::Operator) {
        return refused;
    }
    let Ok(query) = sent.query() else {
        return page::not_found();
    };
    match crate::workflow::reports::report(
        state.store.as_ref(),
        &state.projection,
        &state.config,
        &query,
    )
    .await
    {
        Ok(report) => csv_response(&report, &query),
        Err(e) => page::unavailable(&e),
    }
}
