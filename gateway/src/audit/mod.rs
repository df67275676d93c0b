//! AuditEvent: who did what to which resource, and whether it was allowed.
//!
//! Creates and updates put their AuditEvent in the same change set as the change; reads,
//! searches and refusals write theirs on their own. Audit records hold references, never patient
//! data: searched identifier values are keyed hashes ([`AuditKey`]), every audited path or query is
//! bounded, and unauthenticated refusals are counted per source and minute ([`unauthenticated`]).

mod key;
pub mod unauthenticated;

use serde_json::{Value, json};

pub use key::{AuditKey, AuditKeyError};

use crate::auth::{Interaction, Principal};
use crate::search_index::index_entries;
use crate::store::{ChangeSet, Instant, ResourceWrite, Store, StoreError, StoredResource, now};

/// Identifier system for Signpost client ids in audit records.
pub const CLIENT_ID_SYSTEM: &str = "urn:signpost:client-id";
/// Identifier system for console accounts (people) in audit records.
pub const CONSOLE_ACCOUNT_SYSTEM: &str = "urn:signpost:console-account";

/// How an interaction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done.
    Success,
    /// Refused with this HTTP status (401, 403, 404).
    Refused(u16),
}

/// What was done, as the FHIR restful-interaction code and AuditEvent action.
fn codes(interaction: Interaction) -> (&'static str, &'static str) {
    match interaction {
        Interaction::Create => ("create", "C"),
        Interaction::Read => ("read", "R"),
        Interaction::Update => ("update", "U"),
        Interaction::Delete => ("delete", "D"),
        Interaction::Search => ("search-type", "E"),
    }
}

/// Longest audited target kept whole, in bytes; a longer one keeps its start and a hash of all of
/// it, so a 60 kB path costs a few hundred bytes of audit, not 60 kB.
pub const MAX_TARGET_BYTES: usize = 512;

/// Bytes of a long target's start kept before its hash.
const KEPT_PREFIX_BYTES: usize = 256;

/// `target` itself if short, else its first bytes (on a character boundary), its length and the
/// SHA-256 of the whole, which tells two long targets apart and matches one known to an auditor.
pub fn bounded(target: &str) -> std::borrow::Cow<'_, str> {
    if target.len() <= MAX_TARGET_BYTES {
        return target.into();
    }
    let mut end = KEPT_PREFIX_BYTES;
    while !target.is_char_boundary(end) {
        end -= 1;
    }
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, target.as_bytes());
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}...[{} bytes, sha256:{hex}]",
        &target[..end],
        target.len()
    )
    .into()
}

/// Builds the AuditEvent write for one interaction. `target` is `Type/id` or, for a search, its URL path and query.
pub fn event(
    who: Option<&Principal>,
    interaction: Interaction,
    target: &str,
    outcome: Outcome,
    at: Instant,
) -> Result<ResourceWrite, serde_json::Error> {
    let id = uuid::Uuid::now_v7().to_string();
    let target = bounded(target);
    let target = target.as_ref();
    let (subtype, action) = codes(interaction);
    let agent = match who {
        // A person is recorded by their console account and name, as acting for their organisation.
        Some(
            p @ Principal {
                person: Some(person),
                ..
            },
        ) => json!({
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/extra-security-role-type", "code": "humanuser"}]},
            "who": {"identifier": {"system": CONSOLE_ACCOUNT_SYSTEM, "value": person.account_id}, "display": person.name},
            "name": person.name,
            "requestor": true,
            "policy": [format!("urn:signpost:organisation:{}", p.organisation)],
        }),
        Some(p) => json!({
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/extra-security-role-type", "code": "datacollector"}]},
            "who": {"identifier": {"system": CLIENT_ID_SYSTEM, "value": p.client_id}},
            "requestor": true,
            "policy": [format!("urn:signpost:organisation:{}", p.organisation)],
        }),
        None => json!({"who": {"display": "unauthenticated caller"}, "requestor": true}),
    };
    let entity = if interaction == Interaction::Search {
        json!({"what": {"display": target}, "query": base64_encode(target)})
    } else {
        json!({"what": {"reference": target}})
    };
    let (code, description) = match outcome {
        Outcome::Success => ("0", None),
        Outcome::Refused(status) => ("4", Some(format!("refused with HTTP {status}"))),
    };
    let mut body = json!({
        "resourceType": "AuditEvent",
        "id": id,
        "meta": {"versionId": "1", "lastUpdated": at.to_fhir()},
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest", "display": "RESTful Operation"},
        "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": subtype}],
        "action": action,
        "recorded": at.to_fhir(),
        "outcome": code,
        "agent": [agent],
        "source": {"observer": {"display": "Signpost"}},
        "entity": [entity],
    });
    if let Some(d) = description {
        body["outcomeDesc"] = Value::String(d);
    }
    let index = index_entries(&body);
    Ok(ResourceWrite {
        resource: StoredResource {
            resource_type: "AuditEvent".into(),
            id,
            version: 1,
            last_updated: at,
            body: serde_json::value::to_raw_value(&body)?,
        },
        index,
    })
}

fn base64_encode(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// Records a successful read or search; if the record cannot be written the read must not be served.
pub async fn access(
    store: &dyn Store,
    who: &Principal,
    interaction: Interaction,
    target: &str,
) -> Result<(), StoreError> {
    let event = event(Some(who), interaction, target, Outcome::Success, now())
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    store
        .commit(ChangeSet {
            writes: vec![event],
            ..ChangeSet::default()
        })
        .await?;
    Ok(())
}

/// Records a refused access.
pub async fn refusal(
    store: &dyn Store,
    who: Option<&Principal>,
    interaction: Interaction,
    target: &str,
    outcome: Outcome,
) {
    // The log names the path only; the query (which may name a person) stays in the AuditEvent.
    tracing::info!(
        client = who.map(|p| p.client_id.as_str()).unwrap_or("-"),
        target = target.split('?').next().unwrap_or_default(),
        ?outcome,
        "access refused"
    );
    let written = match event(who, interaction, target, outcome, now()) {
        Ok(event) => store
            .commit(ChangeSet {
                writes: vec![event],
                ..ChangeSet::default()
            })
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = written {
        tracing::error!(error = %e, "could not write an audit record of a refusal");
    }
}

/// Records what an operator did to an outbox delivery (`replayed`, `discarded`): an update of
/// the outbox, whose entity names the delivery (it is not a FHIR resource) and what was done.
pub async fn operator_action(
    store: &dyn Store,
    who: &Principal,
    delivery: &str,
    done: &str,
) -> Result<(), StoreError> {
    let corrupt = |e: serde_json::Error| StoreError::Corrupt(e.to_string());
    let mut write =
        event(Some(who), Interaction::Update, "", Outcome::Success, now()).map_err(corrupt)?;
    let mut body: Value = serde_json::from_str(write.resource.body.get()).map_err(corrupt)?;
    body["entity"] = json!([{
        "what": {"display": format!("outbox delivery {delivery}")},
        "description": done,
    }]);
    write.index = index_entries(&body);
    write.resource.body = serde_json::value::to_raw_value(&body).map_err(corrupt)?;
    store
        .commit(ChangeSet {
            writes: vec![write],
            ..ChangeSet::default()
        })
        .await?;
    Ok(())
}
