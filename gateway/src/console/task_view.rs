//! The pieces the volunteer's and the link worker's referral pages share: the owned referrals
//! loaded for a list, the organisation's name, a status tag, a summary-list row, and the hidden
//! fields every Task form carries back.

use maud::{Markup, html};
use serde_json::Value;

use super::vcs::referral::{Loaded, focus_of};
use crate::auth::Principal;
use crate::routing::Directory;
use crate::store::Store;
use crate::workflow::WorkflowError;
use crate::workflow::worklist::owned_tasks;

/// The Tasks `who`'s organisation owns, newest change first, each with its referral as `who`
/// sees it. A stored Task that is not JSON is logged and left out rather than failing the list.
pub async fn owned_referrals(
    store: &dyn Store,
    who: &Principal,
) -> Result<Vec<Loaded>, WorkflowError> {
    let tasks = owned_tasks(store, who).await?;
    let mut rows = Vec::with_capacity(tasks.len());
    for stored in &tasks {
        let Ok(task) = serde_json::from_str::<Value>(stored.body.get()) else {
            tracing::error!(task = %stored.id, "a stored Task is not JSON");
            continue;
        };
        let sr = focus_of(store, who, &task).await?;
        rows.push(Loaded {
            id: stored.id.clone(),
            version: stored.version,
            task,
            sr,
        });
    }
    Ok(rows)
}

/// The name of `who`'s organisation as registered, else its ODS code.
pub fn organisation_name(directory: &Directory, who: &Principal) -> String {
    directory
        .organisation(&who.organisation)
        .map(|o| o.name.clone())
        .unwrap_or_else(|| who.organisation.to_string())
}

/// A status as an NHS tag: its words and colour, as a role's `status_tag` gives them.
pub fn tag((label, colour): (&str, &str)) -> Markup {
    html! { strong class={ "nhsuk-tag " (colour) } { (label) } }
}

/// A row of an NHS summary list.
pub fn summary_row(key: &str, value: Markup) -> Markup {
    html! {
        div class="nhsuk-summary-list__row" {
            dt class="nhsuk-summary-list__key" { (key) }
            dd class="nhsuk-summary-list__value" { (value) }
        }
    }
}

/// What every Task form carries back: the session's CSRF token and the version it was drawn from.
pub fn hidden(csrf: &str, version: i64) -> Markup {
    html! {
        input type="hidden" name="csrf" value=(csrf);
        input type="hidden" name="version" value=(version);
    }
}
