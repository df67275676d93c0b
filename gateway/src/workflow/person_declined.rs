//! A person declining social prescribing, recorded as SNOMED CT 871711000000103 in
//! `Task.statusReason` (STANDARDS.md 7.1), so the GP system records the standard code rather than
//! free text.

use serde_json::{Value, json};
use signpost_profiles::outcome_measure::PERSON_DECLINED;
use signpost_profiles::{Issue, IssueType};

use super::task_status::TaskStatus;

/// Whether the Task's `statusReason` says the person declined.
pub fn says_person_declined(task: &Value) -> bool {
    task.pointer("/statusReason/coding")
        .and_then(Value::as_array)
        .is_some_and(|codings| codings.iter().any(is_person_declined))
}

fn is_person_declined(coding: &Value) -> bool {
    coding.get("system").and_then(Value::as_str) == Some(PERSON_DECLINED.system)
        && coding.get("code").and_then(Value::as_str) == Some(PERSON_DECLINED.code)
}

/// A person's decline ends the Task without completing it: it is a reason for `rejected` (before
/// the owner accepted), `failed` (the owner's only ending after accepting, other than `completed`)
/// or `cancelled` (the requester), never for a Task that goes on.
pub fn check_decline(proposed: &Value, to: TaskStatus) -> Option<Issue> {
    (says_person_declined(proposed) && !matches!(to, TaskStatus::Rejected | TaskStatus::Failed | TaskStatus::Cancelled))
        .then(|| {
            Issue::error(
                IssueType::BusinessRule,
                format!(
                    "SNOMED CT {} ({}) ends the Task: its status must be rejected, failed or cancelled, not {}",
                    PERSON_DECLINED.code,
                    PERSON_DECLINED.display,
                    to.code()
                ),
            )
            .at("Task.statusReason")
        })
}

/// Gives the decline coding its display, so every party's system shows the same words.
pub fn complete_decline(task: &mut Value) {
    let Some(codings) = task
        .pointer_mut("/statusReason/coding")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for coding in codings.iter_mut().filter(|c| is_person_declined(c)) {
        if coding.get("display").is_none() {
            coding["display"] = json!(PERSON_DECLINED.display);
        }
    }
}
