//! Checking a proposed new version of a Task against the current one.

use serde_json::Value;
use signpost_profiles::{Issue, IssueType, ODS_SYSTEM, OdsCode};

use super::outcomes::check_outputs;
use super::person_declined::check_decline;
use super::task_status::{Actor, Refusal, TaskStatus, can_move};

/// Elements the parties may change; everything else is fixed when the Task is created. Narrative
/// (`text`) is fixed too: another party's system shows it, so no party may rewrite it.
const MUTABLE: &[&str] = &[
    "status",
    "statusReason",
    "businessStatus",
    "note",
    "output",
    "lastModified",
    "meta",
];
/// Elements only the owner may change (the requester may change status, to cancel, and add notes).
const OWNER_ONLY: &[&str] = &["businessStatus", "output"];

/// Why an update is refused.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// Content problems (422), all of them.
    #[error("the update is not valid")]
    Invalid(Vec<Issue>),
    /// The state machine refuses the move (409 or, for the wrong party, 403).
    #[error("{0}")]
    Transition(#[from] Refusal),
    /// The requester tried to change an owner-only element (403).
    #[error("only the Task's owner may change {0}")]
    OwnerOnly(String),
}

/// The ODS code in an organisation reference.
pub fn ods_of(reference: Option<&Value>) -> Option<OdsCode> {
    let identifier = reference?.get("identifier")?;
    if identifier.get("system").and_then(Value::as_str) != Some(ODS_SYSTEM) {
        return None;
    }
    OdsCode::parse(identifier.get("value")?.as_str()?).ok()
}

/// Which party `organisation` is on a Task.
pub fn actor_of(task: &Value, organisation: &OdsCode) -> Actor {
    if ods_of(task.get("owner")).as_ref() == Some(organisation) {
        Actor::Owner
    } else if ods_of(task.get("requester")).as_ref() == Some(organisation) {
        Actor::Requester
    } else {
        Actor::Other
    }
}

/// The status of a Task as stored (always valid: Signpost wrote it).
pub fn status_of(task: &Value) -> Option<TaskStatus> {
    task.get("status")
        .and_then(Value::as_str)
        .and_then(TaskStatus::parse)
}

/// The new version: the full current Task with only the mutable elements taken from `proposed`.
/// Elements hidden from the caller (a VCS provider's minimised view) are kept as stored.
pub fn merge(current: &Value, proposed: &Value) -> Value {
    let mut merged = current.clone();
    if let Some(object) = merged.as_object_mut() {
        for key in MUTABLE
            .iter()
            .filter(|k| !matches!(**k, "meta" | "lastModified"))
        {
            match proposed.get(*key) {
                Some(v) => {
                    object.insert((*key).to_owned(), v.clone());
                }
                None => {
                    object.remove(*key);
                }
            }
        }
    }
    merged
}

/// Checks `proposed` against `current` (as the caller saw it) for `actor`; returns the move it makes.
pub fn check_update(
    current: &Value,
    proposed: &Value,
    actor: Actor,
) -> Result<(TaskStatus, TaskStatus), UpdateError> {
    let mut issues = Vec::new();
    let keys = |v: &Value| {
        v.as_object()
            .map(|o| o.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
    };
    let mut all = keys(current);
    all.extend(keys(proposed));
    all.sort();
    all.dedup();
    for key in all.iter().filter(|k| {
        !MUTABLE.contains(&k.as_str()) && k.as_str() != "id" && k.as_str() != "resourceType"
    }) {
        if current.get(key) != proposed.get(key) {
            issues.push(
                Issue::error(
                    IssueType::BusinessRule,
                    format!("Task.{key} is fixed when the Task is created and cannot be changed"),
                )
                .at(format!("Task.{key}")),
            );
        }
    }
    let from = status_of(current).ok_or_else(|| {
        UpdateError::Invalid(vec![Issue::error(
            IssueType::Exception,
            "the stored Task has no valid status",
        )])
    })?;
    let to = match proposed.get("status").and_then(Value::as_str) {
        Some(code) => TaskStatus::parse(code),
        None => None,
    };
    let Some(to) = to else {
        issues.push(
            Issue::error(IssueType::Value, "status must be a FHIR Task status code")
                .at("Task.status"),
        );
        return Err(UpdateError::Invalid(issues));
    };
    // Notes are a shared record: they can be added to, never edited or removed.
    let notes = |v: &Value| {
        v.get("note")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let (before, after) = (notes(current), notes(proposed));
    if after.len() < before.len() || after[..before.len()] != before[..] {
        issues.push(
            Issue::error(
                IssueType::BusinessRule,
                "notes can be added to a Task, not changed or removed",
            )
            .at("Task.note"),
        );
    }
    issues.extend(check_outputs(proposed));
    issues.extend(check_decline(proposed, to));
    if !issues.is_empty() {
        return Err(UpdateError::Invalid(issues));
    }
    if actor != Actor::Owner
        && let Some(key) = OWNER_ONLY
            .iter()
            .find(|k| current.get(**k) != proposed.get(**k))
    {
        return Err(UpdateError::OwnerOnly(format!("Task.{key}")));
    }
    can_move(from, to, actor)?;
    Ok((from, to))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn task() -> Value {
        json!({"resourceType": "Task", "id": "t", "status": "requested", "intent": "order",
            "focus": {"reference": "ServiceRequest/s"},
            "requester": {"identifier": {"system": ODS_SYSTEM, "value": "A81001"}},
            "owner": {"identifier": {"system": ODS_SYSTEM, "value": "LWS001"}}})
    }

    #[test]
    fn the_owner_accepts_with_a_note_and_business_status() {
        let mut proposed = task();
        proposed["status"] = json!("accepted");
        proposed["note"] = json!([{"text": "first call booked"}]);
        proposed["businessStatus"] = json!({"text": "contacted"});
        assert_eq!(
            check_update(&task(), &proposed, Actor::Owner).expect("allowed"),
            (TaskStatus::Requested, TaskStatus::Accepted)
        );
    }

    #[test]
    fn narrative_is_fixed_like_every_element_not_listed_as_mutable() {
        let mut proposed = task();
        proposed["status"] = json!("received");
        proposed["text"] = json!({"status": "generated",
            "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\"><script>alert(1)</script></div>"});
        match check_update(&task(), &proposed, Actor::Owner) {
            Err(UpdateError::Invalid(issues)) => {
                let at: Vec<_> = issues.iter().filter_map(|i| i.expression.clone()).collect();
                assert_eq!(at, vec!["Task.text"]);
            }
            other => panic!("expected refusal, got {other:?}"),
        }
        let merged = merge(&task(), &proposed);
        assert!(merged.get("text").is_none(), "{merged}");
    }

    #[test]
    fn fixed_elements_cannot_change() {
        let mut proposed = task();
        proposed["owner"]["identifier"]["value"] = json!("LWS002");
        proposed["focus"] = json!({"reference": "ServiceRequest/other"});
        match check_update(&task(), &proposed, Actor::Owner) {
            Err(UpdateError::Invalid(issues)) => {
                let at: Vec<_> = issues.iter().filter_map(|i| i.expression.clone()).collect();
                assert_eq!(at, vec!["Task.focus", "Task.owner"]);
            }
            other => panic!("expected refusal, got {other:?}"),
        }
    }

    #[test]
    fn notes_are_added_never_removed() {
        let mut with_note = task();
        with_note["note"] = json!([{"text": "VCS001 declined"}]);
        let mut erased = with_note.clone();
        erased["note"] = json!([]);
        assert!(matches!(
            check_update(&with_note, &erased, Actor::Requester),
            Err(UpdateError::Invalid(_))
        ));
        let mut added = with_note.clone();
        added["note"] = json!([{"text": "VCS001 declined"}, {"text": "called the person"}]);
        assert!(check_update(&with_note, &added, Actor::Owner).is_ok());
    }

    #[test]
    fn the_requester_cannot_report_outcomes() {
        let mut proposed = task();
        proposed["businessStatus"] = json!({"text": "done"});
        assert!(matches!(
            check_update(&task(), &proposed, Actor::Requester),
            Err(UpdateError::OwnerOnly(_))
        ));
    }

    #[test]
    fn actors_are_found_by_ods_code() {
        assert_eq!(
            actor_of(&task(), &OdsCode::parse("LWS001").expect("ods")),
            Actor::Owner
        );
        assert_eq!(
            actor_of(&task(), &OdsCode::parse("A81001").expect("ods")),
            Actor::Requester
        );
        assert_eq!(
            actor_of(&task(), &OdsCode::parse("VCS001").expect("ods")),
            Actor::Other
        );
    }
}
