//! `GET /fhir/MeasureReport?...`: a disclosed [`Report`] as summary `MeasureReport`s, one per
//! group, period and `Measure`, in a searchset Bundle.

use std::collections::BTreeMap;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};
use signpost_profiles::{IssueType, ODS_SYSTEM};
use time::Duration;
use time::format_description::well_known::Rfc3339;

use super::measure::{POPULATION_SYSTEM, figure_concept, stratifier_concept};
use super::{ApiError, fhir_response};
use crate::audit;
use crate::auth::{Interaction, Principal};
use crate::state::AppState;
use crate::workflow::reports::measures::{
    GroupDef, MEASURE_BASE, MeasureDef, Scoring, dimension_code, figure_code, measure, measure_id,
};
use crate::workflow::reports::query::{QueryError, RawQuery as ReportParts, parse_query};
use crate::workflow::reports::{Dimension, Disclosed, Group, Period, Report, ReportCell, Stratum};

/// The extension naming the disclosure policy a report's values went through.
pub const POLICY_EXTENSION: &str =
    "https://signpost.example/fhir/StructureDefinition/disclosure-policy";
/// The extension naming what a report is for: its dimension and group.
pub const GROUP_EXTENSION: &str = "https://signpost.example/fhir/StructureDefinition/report-group";
/// R4's data-absent-reason extension, `masked` on a suppressed value.
pub const DATA_ABSENT_REASON: &str = "http://hl7.org/fhir/StructureDefinition/data-absent-reason";

/// `a=b&c=d` decoded into pairs, in order.
pub fn pairs(raw: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (n, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(n), decode(v))
        })
        .collect()
}

fn invalid(name: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(
        IssueType::Invalid,
        format!("search parameter {name}: {why}"),
    )
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        invalid(&e.parameter, e.message)
    }
}

/// The MeasureReport search, parsed.
#[derive(Debug)]
struct Search {
    query: crate::workflow::reports::ReportQuery,
    /// Only these Measures (ids), when `measure` was given.
    measures: Option<Vec<String>>,
}

/// The id of a `measure` value: a canonical URL of Signpost's, `Measure/{id}`, or an id.
fn measure_of(value: &str) -> Option<String> {
    let id = value
        .strip_prefix(MEASURE_BASE)
        .and_then(|r| r.strip_prefix('/'))
        .or_else(|| value.strip_prefix("Measure/"))
        .unwrap_or(value);
    measure(id).map(|m| m.id)
}

fn parse(raw: &str) -> Result<Search, ApiError> {
    let mut group_by: Option<String> = None;
    let mut interval: Option<String> = None;
    let mut from: Option<String> = None;
    let mut to: Option<String> = None;
    let mut group: Option<(String, String)> = None;
    let mut measures: Option<Vec<String>> = None;
    let once = |slot: &Option<String>, name: &str| {
        if slot.is_some() {
            Err(invalid(name, "is given twice"))
        } else {
            Ok(())
        }
    };
    for (name, value) in pairs(raw) {
        match name.as_str() {
            "group-by" => {
                once(&group_by, &name)?;
                group_by = Some(value);
            }
            "interval" => {
                once(&interval, &name)?;
                interval = Some(value);
            }
            "period" => {
                if let Some(day) = value.strip_prefix("ge") {
                    once(&from, "period=ge")?;
                    from = Some(day.to_owned());
                } else if let Some(day) = value.strip_prefix("lt") {
                    once(&to, "period=lt")?;
                    to = Some(day.to_owned());
                } else {
                    return Err(invalid(
                        &name,
                        format!(
                            "\"{value}\": give the span as period=geYYYY-MM-DD&period=ltYYYY-MM-DD"
                        ),
                    ));
                }
            }
            "reporter" => {
                let code = value.strip_prefix("Organization/").ok_or_else(|| {
                    invalid(
                        &name,
                        format!("\"{value}\" is not Organization/{{ODS code}}"),
                    )
                })?;
                if group.is_some() {
                    return Err(invalid(
                        &name,
                        "only one of reporter, reporter:identifier and group may be given",
                    ));
                }
                group = Some((name.clone(), code.to_owned()));
            }
            "reporter:identifier" => {
                let code = value
                    .strip_prefix(ODS_SYSTEM)
                    .and_then(|r| r.strip_prefix('|'))
                    .ok_or_else(|| {
                        invalid(
                            &name,
                            format!("\"{value}\" is not {ODS_SYSTEM}|{{ODS code}}"),
                        )
                    })?;
                if group.is_some() {
                    return Err(invalid(
                        &name,
                        "only one of reporter, reporter:identifier and group may be given",
                    ));
                }
                group = Some((name.clone(), code.to_owned()));
            }
            "group" => {
                if group.is_some() {
                    return Err(invalid(
                        &name,
                        "only one of reporter, reporter:identifier and group may be given",
                    ));
                }
                let code = value.strip_prefix("HealthcareService/").unwrap_or(&value);
                group = Some((name.clone(), code.to_owned()));
            }
            "measure" => {
                let mut ids = Vec::new();
                for one in value.split(',') {
                    ids.push(measure_of(one).ok_or_else(|| {
                        invalid(
                            &name,
                            format!(
                                "\"{one}\" is not a Measure Signpost publishes (see /fhir/Measure)"
                            ),
                        )
                    })?);
                }
                measures.get_or_insert_with(Vec::new).extend(ids);
            }
            _ => {
                return Err(ApiError::bad_request(
                    IssueType::NotSupported,
                    format!(
                        "search parameter {name} is not supported for MeasureReport: use measure, period (ge and lt), group-by, interval, reporter or group"
                    ),
                ));
            }
        }
    }
    let query = parse_query(&ReportParts {
        by: ("group-by", group_by.as_deref()),
        interval: ("interval", interval.as_deref()),
        from: ("period", from.as_deref()),
        to: ("period", to.as_deref()),
        group: group.as_ref().map(|(_, code)| code.clone()),
    })?;
    if let Some((name, _)) = &group
        && name.starts_with("reporter")
        && query.by == Dimension::VcsService
    {
        return Err(invalid(
            name,
            "a VCS service is a HealthcareService, not a reporter: use group=HealthcareService/{id}",
        ));
    }
    Ok(Search { query, measures })
}

fn masked() -> Value {
    json!({"extension": [{"url": DATA_ABSENT_REASON, "valueCode": "masked"}]})
}

/// The group a report is for, as a reference.
fn group_reference(group: &Group) -> Value {
    let mut reference = match group.dimension {
        Dimension::VcsService => json!({
            "reference": format!("HealthcareService/{}", group.code),
            "type": "HealthcareService",
        }),
        _ => json!({
            "type": "Organization",
            "identifier": {"system": ODS_SYSTEM, "value": group.code},
        }),
    };
    if let Some(display) = &group.display {
        reference["display"] = json!(display);
    }
    reference
}

/// A stratum's value: a coding for coded strata (`system|code`, sex), else its text.
fn stratum_value(stratum: &Stratum) -> Value {
    let mut concept = match stratum.code.split_once('|') {
        Some((system, code)) => json!({"coding": [{"system": system, "code": code}]}),
        None if stratum.kind == crate::workflow::reports::StratumKind::Sex => json!({
            "coding": [{"system": "http://hl7.org/fhir/administrative-gender", "code": stratum.code}]
        }),
        None => json!({"text": stratum.code}),
    };
    if let Some(display) = &stratum.display {
        match concept.get_mut("coding").and_then(|c| c.get_mut(0)) {
            Some(coding) => coding["display"] = json!(display),
            None => concept["text"] = json!(display),
        }
    }
    concept
}

/// A value as population counts and a score: counts in the population, other values as the score.
fn value_members(value: Disclosed, scoring: Scoring, unit: Option<&str>, into: &mut Value) {
    let population = match scoring {
        Scoring::ContinuousVariable => "measure-population",
        _ => "initial-population",
    };
    let code = json!({"coding": [{"system": POPULATION_SYSTEM, "code": population}]});
    let score = |v: Option<f64>| {
        let mut q = match v {
            Some(n) => json!({"value": n}),
            None => masked(),
        };
        if let Some(unit) = unit {
            q["unit"] = json!(unit);
            q["system"] = json!("http://unitsofmeasure.org");
            q["code"] = json!(unit);
        }
        q
    };
    match (value, unit) {
        (Disclosed::Count(n), _) => into["population"] = json!([{"code": code, "count": n}]),
        (Disclosed::Number(n), _) => into["measureScore"] = score(Some(n)),
        // A suppressed count stays a population without its count; a suppressed statistic a
        // score without its value: either way marked masked, never shown as 0.
        (Disclosed::Suppressed, None) => {
            into["population"] = json!([{"code": code, "_count": masked()}]);
        }
        (Disclosed::Suppressed, Some(_)) => into["measureScore"] = score(None),
    }
}

fn report_group(def: &GroupDef, scoring: Scoring, cells: &[&ReportCell]) -> Value {
    let mut group = json!({"code": figure_concept(&def.code)});
    if let Some(total) = cells.iter().find(|c| c.stratum.is_none()) {
        value_members(total.value, scoring, def.unit, &mut group);
    }
    let strata: Vec<Value> = cells
        .iter()
        .filter_map(|c| c.stratum.as_ref().map(|s| (s, c.value)))
        .map(|(s, value)| {
            let mut stratum = json!({"value": stratum_value(s)});
            value_members(value, scoring, def.unit, &mut stratum);
            stratum
        })
        .collect();
    if let Some(kind) = def.stratifier
        && !strata.is_empty()
    {
        group["stratifier"] = json!([{"code": [stratifier_concept(kind)], "stratum": strata}]);
    }
    group
}

/// One `MeasureReport`: a group's figures of one `Measure` in one period.
fn measure_report(
    report: &Report,
    def: &MeasureDef,
    group: &Group,
    period: &Period,
    cells: &[&ReportCell],
    date: &str,
) -> Value {
    let groups: Vec<Value> = def
        .groups
        .iter()
        .filter_map(|g| {
            let mine: Vec<&ReportCell> = cells
                .iter()
                .copied()
                .filter(|c| figure_code(&c.figure) == g.code)
                .collect();
            (!mine.is_empty()).then(|| report_group(g, def.scoring, &mine))
        })
        .collect();
    // R4's Period.end is the last day included: the report's periods end the day before.
    let last_day = period.end - Duration::days(1);
    let mut resource = json!({
        "resourceType": "MeasureReport",
        "extension": [
            {"url": POLICY_EXTENSION, "valueString": report.policy},
            {"url": GROUP_EXTENSION, "extension": [
                {"url": "dimension", "valueCode": dimension_code(group.dimension)},
                {"url": "group", "valueReference": group_reference(group)},
                {"url": "period", "valueString": period.label},
            ]},
        ],
        "status": "complete",
        "type": "summary",
        "measure": def.url(),
        "date": date,
        "period": {"start": period.start.to_string(), "end": last_day.to_string()},
        "group": groups,
    });
    if group.dimension != Dimension::VcsService {
        resource["reporter"] = group_reference(group);
    }
    resource
}

/// Every `MeasureReport` of a report (of the given Measures only, when given), ordered by
/// group, period and Measure.
pub fn measure_reports(report: &Report, only: Option<&[String]>, date: &str) -> Vec<Value> {
    let mut by_key: BTreeMap<(&Group, &Period, String), Vec<&ReportCell>> = BTreeMap::new();
    for cell in &report.cells {
        by_key
            .entry((&cell.group, &cell.period, measure_id(&cell.figure)))
            .or_default()
            .push(cell);
    }
    by_key
        .into_iter()
        .filter(|((_, _, id), _)| only.is_none_or(|o| o.contains(id)))
        .filter_map(|((group, period, id), cells)| {
            measure(&id).map(|def| measure_report(report, &def, group, period, &cells, date))
        })
        .collect()
}

/// `GET /fhir/MeasureReport?group-by=…&interval=…&period=ge…&period=lt…[&measure=…][&reporter=…|&group=…]`
pub async fn search(
    State(state): State<AppState>,
    who: Principal,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let raw = raw.unwrap_or_default();
    let target = format!("MeasureReport?{raw}");
    crate::auth::bearer::require(&who, &state, "MeasureReport", Interaction::Search, &target)
        .await?;
    let search = parse(&raw)?;
    let report = crate::workflow::reports::report(
        state.store.as_ref(),
        &state.projection,
        &state.config,
        &search.query,
    )
    .await?;
    audit::access(state.store.as_ref(), &who, Interaction::Search, &target).await?;
    let date = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .ok_or_else(|| ApiError::internal("the clock could not be formatted"))?;
    let reports = measure_reports(&report, search.measures.as_deref(), &date);
    let base = state.config.server.fhir_base();
    let entries: Vec<Value> = reports
        .into_iter()
        .map(|r| json!({"resource": r, "search": {"mode": "match"}}))
        .collect();
    let bundle = json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "total": entries.len(),
        "link": [{"relation": "self", "url": format!("{base}/MeasureReport?{raw}")}],
        "entry": entries,
    });
    Ok(fhir_response(StatusCode::OK, bundle.to_string()))
}
