//! The facts a report needs of one ServiceRequest or Task, read from its stored versions: who
//! referred whom and when, where it got to and why, and the scores recorded. No NHS number or
//! name is kept: the person is a one-way key, enough to pair one person's scores across
//! referrals.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use signpost_profiles::outcome_measure::{MEASURES, MeasureValue, TIMEPOINT_EXTENSION, measure};
use signpost_profiles::{NHS_NUMBER_SYSTEM, ODS_SYSTEM};

use crate::store::StoredResource;

/// Facts of a ServiceRequest (the GP's referral, or an onward one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestFacts {
    /// The GP referral an onward referral is based on.
    pub based_on: Option<String>,
    /// The requester's ODS code.
    pub requester: Option<String>,
    /// The directory service (HealthcareService id) an onward referral names.
    pub service: Option<String>,
    /// Need codes (`reasonCode`), `system|code`.
    pub needs: Vec<String>,
    /// The person's birth date (`YYYY-MM-DD`, or as precise as given).
    pub birth_date: Option<String>,
    /// The person's administrative gender.
    pub sex: Option<String>,
    /// The person's pseudonymous key.
    pub person: Option<String>,
}

/// Facts of a Task (the link worker's, or a VCS provider's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskFacts {
    /// The ServiceRequest it fulfils.
    pub focus: Option<String>,
    /// The link worker's Task an onward Task is part of.
    pub part_of: Option<String>,
    /// The owner's ODS code.
    pub owner: Option<String>,
    /// Its status now.
    pub status: String,
    /// Why it was declined or cancelled, `system|code` when coded.
    pub reason: Option<String>,
    /// When it was created (µs since the epoch).
    pub created: i64,
    /// When it was first accepted (or got past acceptance).
    pub accepted: Option<i64>,
    /// When its owner first answered (accepted or declined).
    pub answered: Option<i64>,
    /// Scores in its current outputs.
    pub scores: Vec<Score>,
}

/// One score recorded in `Task.output`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// The measure, `system|code` (its preferred code).
    pub measure: ScoreMeasure,
    /// Taken at `baseline` (else follow-up).
    pub baseline: bool,
    /// The score.
    pub value: i64,
}

/// Statuses that mean the owner took the Task on.
const ACCEPTED: &[&str] = &["accepted", "in-progress", "on-hold", "completed"];
/// Statuses before the owner has answered.
const UNANSWERED: &[&str] = &["draft", "requested", "received", "ready"];

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

fn reference_id(v: Option<&Value>, kind: &str) -> Option<String> {
    let r = v?.get("reference")?.as_str()?;
    let r = r.split("/_history/").next().unwrap_or(r);
    r.strip_prefix(kind)?.strip_prefix('/').map(str::to_owned)
}

fn ods(v: Option<&Value>) -> Option<String> {
    let id = v?.get("identifier")?;
    (id.get("system").and_then(Value::as_str) == Some(ODS_SYSTEM))
        .then(|| id.get("value").and_then(Value::as_str).map(str::to_owned))
        .flatten()
}

/// A person's key: SHA-256 of the NHS number under a fixed label, cut to 128 bits. It is no
/// secret (the resources it sits beside hold the number itself); it keeps the number out of the
/// facts and anything computed from them.
pub fn person_key(nhs_number: &str) -> String {
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        format!("signpost-report-person\0{nhs_number}").as_bytes(),
    );
    digest.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn body(resource: &StoredResource) -> Option<Value> {
    serde_json::from_str(resource.body.get()).ok()
}

/// The facts of a ServiceRequest's current version; `None` if it is not JSON.
pub fn request_facts(current: &StoredResource) -> Option<RequestFacts> {
    let sr = body(current)?;
    let based_on = sr
        .get("basedOn")
        .and_then(Value::as_array)
        .and_then(|b| b.first())
        .and_then(|b| reference_id(Some(b), "ServiceRequest"));
    let service = super::super::service_target::named_service(&sr).map(|(_, id)| id);
    let needs = sr
        .get("reasonCode")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.pointer("/coding/0"))
        .filter_map(|c| Some(format!("{}|{}", str_at(c, "/system")?, str_at(c, "/code")?)))
        .collect();
    // The subject is the contained Patient the reference points at, else the first contained.
    let local = str_at(&sr, "/subject/reference").and_then(|r| r.strip_prefix('#'));
    let patient = sr
        .get("contained")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|c| str_at(c, "/resourceType") == Some("Patient"))
        .find(|c| local.is_none_or(|id| str_at(c, "/id") == Some(id)));
    let nhs = (str_at(&sr, "/subject/identifier/system") == Some(NHS_NUMBER_SYSTEM))
        .then(|| str_at(&sr, "/subject/identifier/value"))
        .flatten();
    Some(RequestFacts {
        based_on,
        requester: ods(sr.get("requester")),
        service,
        needs,
        birth_date: patient
            .and_then(|p| str_at(p, "/birthDate"))
            .map(str::to_owned),
        sex: patient
            .and_then(|p| str_at(p, "/gender"))
            .map(str::to_owned),
        person: nhs.map(person_key),
    })
}

/// The facts of a Task from every one of its versions (any order); `None` if there are none
/// or the newest is not JSON.
pub fn task_facts(versions: &[StoredResource]) -> Option<TaskFacts> {
    let newest = versions.iter().max_by_key(|v| v.version)?;
    let task = body(newest)?;
    let created = versions.iter().map(|v| v.last_updated.0).min()?;
    let mut accepted = None;
    let mut answered = None;
    for v in versions {
        let Some(status) = body(v).and_then(|b| b.get("status")?.as_str().map(str::to_owned))
        else {
            continue;
        };
        let at = v.last_updated.0;
        if ACCEPTED.contains(&status.as_str()) {
            accepted = Some(accepted.map_or(at, |a: i64| a.min(at)));
        }
        if !UNANSWERED.contains(&status.as_str()) {
            answered = Some(answered.map_or(at, |a: i64| a.min(at)));
        }
    }
    let reason = task
        .pointer("/statusReason/coding/0")
        .and_then(|c| Some(format!("{}|{}", str_at(c, "/system")?, str_at(c, "/code")?)));
    Some(TaskFacts {
        focus: reference_id(task.get("focus"), "ServiceRequest"),
        part_of: task
            .get("partOf")
            .and_then(Value::as_array)
            .and_then(|p| p.first())
            .and_then(|p| reference_id(Some(p), "Task")),
        owner: ods(task.get("owner")),
        status: str_at(&task, "/status").unwrap_or("unknown").to_owned(),
        reason,
        created,
        accepted,
        answered,
        scores: scores(&task),
    })
}

/// The integer scores of a Task's outputs, under their measure's preferred code.
fn scores(task: &Value) -> Vec<Score> {
    let mut out = Vec::new();
    for output in task
        .get("output")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let found = output
            .pointer("/type/coding")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find_map(|c| measure(str_at(c, "/system")?, str_at(c, "/code")?));
        let Some(found) = found else { continue };
        if !matches!(found.value, MeasureValue::Score { .. }) {
            continue;
        }
        let timepoint = output
            .get("extension")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|e| str_at(e, "/url") == Some(TIMEPOINT_EXTENSION))
            .and_then(|e| str_at(e, "/valueCode"));
        let (Some(timepoint), Some(value)) = (
            timepoint,
            output.get("valueInteger").and_then(Value::as_i64),
        ) else {
            continue;
        };
        let key = format!("{}|{}", found.code.system, found.code.code);
        let Some(measure) = SCORE_MEASURES.iter().find(|m| **m == key) else {
            continue;
        };
        out.push(Score {
            measure: ScoreMeasure(measure.as_str()),
            baseline: timepoint == "baseline",
            value,
        });
    }
    out
}

/// Every score measure, `system|code`, in the table's order.
static SCORE_MEASURES: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
    MEASURES
        .iter()
        .filter(|m| matches!(m.value, MeasureValue::Score { .. }))
        .map(|m| format!("{}|{}", m.code.system, m.code.code))
        .collect()
});

/// Every score measure, `system|code`, in the table's order.
pub fn score_measures() -> impl Iterator<Item = String> {
    SCORE_MEASURES.iter().cloned()
}

/// A scored measure, `system|code`: one of [`score_measures`], shared rather than copied into
/// every score a report keeps in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct ScoreMeasure(pub &'static str);

impl<'de> Deserialize<'de> for ScoreMeasure {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let key = String::deserialize(d)?;
        SCORE_MEASURES
            .iter()
            .find(|m| **m == key)
            .map(|m| ScoreMeasure(m.as_str()))
            .ok_or_else(|| serde::de::Error::custom(format!("{key} is not a scored measure")))
    }
}
