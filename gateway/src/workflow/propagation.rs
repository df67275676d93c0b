//! What one Task change sets off up and down the referral chain (DESIGN.md section 5):
//! a VCS Task's decision is recorded on the link-worker Task; the link-worker Task's end is
//! mirrored on the GP's ServiceRequest; a GP's cancellation cancels every open Task below.
//! Every Task that changes is delivered to its parties other than the one who acted.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use signpost_adapters::DeliveryEvent;
use signpost_profiles::OdsCode;

use super::referral::with_identity;
use super::task_status::TaskStatus;
use super::task_update::{ods_of, status_of};
use crate::routing::Directory;
use crate::search_index::index_entries;
use crate::store::{
    ChangeSet, Criterion, Instant, OutboxEntry, ResourceWrite, SearchQuery, SortOrder, Store,
    StoreError, StoredResource,
};

/// New versions of resources and the Tasks to announce, gathered before one commit.
pub struct ChainChange<'a> {
    store: &'a dyn Store,
    directory: &'a Directory,
    at: Instant,
    correlation_id: String,
    /// (type, id) -> (new JSON, version it replaces).
    writes: BTreeMap<(String, String), (Value, i64)>,
    /// Tasks to deliver, and the organisation that acted (not told of its own act).
    announce: Vec<(String, Option<OdsCode>)>,
}

impl<'a> ChainChange<'a> {
    /// An empty change.
    pub fn new(
        store: &'a dyn Store,
        directory: &'a Directory,
        at: Instant,
        correlation_id: String,
    ) -> Self {
        Self {
            store,
            directory,
            at,
            correlation_id,
            writes: BTreeMap::new(),
            announce: Vec::new(),
        }
    }

    /// Records a new version of a resource (replacing `base_version`).
    pub fn put(&mut self, resource: Value, base_version: i64) {
        let rtype = resource["resourceType"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let id = resource["id"].as_str().unwrap_or_default().to_owned();
        self.writes.insert((rtype, id), (resource, base_version));
    }

    /// Delivers this Task (as finally written) to its parties, except `actor`.
    pub fn announce(&mut self, task_id: &str, actor: Option<OdsCode>) {
        self.announce.push((task_id.to_owned(), actor));
    }

    /// The latest JSON and version of a resource: as changed here, else as stored.
    async fn latest(&self, rtype: &str, id: &str) -> Result<Option<(Value, i64)>, StoreError> {
        if let Some((json, base)) = self.writes.get(&(rtype.to_owned(), id.to_owned())) {
            return Ok(Some((json.clone(), *base)));
        }
        match self.store.read(rtype, id).await? {
            Some(r) => Ok(Some((parse(&r)?, r.version))),
            None => Ok(None),
        }
    }

    /// Applies the chain rules for a Task that moved from `from` to `to` by `actor`.
    pub async fn follow(
        &mut self,
        task: &Value,
        from: TaskStatus,
        to: TaskStatus,
        actor: &OdsCode,
    ) -> Result<(), StoreError> {
        let task_id = task["id"].as_str().unwrap_or_default().to_owned();
        self.announce(&task_id, Some(actor.clone()));
        if from == to {
            return Ok(());
        }
        match reference_id(task.pointer("/partOf/0"), "Task") {
            Some(parent_id) => self.record_on_parent(task, &parent_id, to).await,
            None => {
                self.mirror_on_service_request(task, &task_id, to, actor)
                    .await
            }
        }
    }

    async fn record_on_parent(
        &mut self,
        child: &Value,
        parent_id: &str,
        to: TaskStatus,
    ) -> Result<(), StoreError> {
        let verb = match to {
            TaskStatus::Accepted => "accepted",
            TaskStatus::Rejected => "declined",
            TaskStatus::Completed => "completed",
            TaskStatus::Cancelled => "cancelled",
            TaskStatus::Failed => "could not complete",
            _ => return Ok(()),
        };
        let Some((mut parent, version)) = self.latest("Task", parent_id).await? else {
            return Ok(());
        };
        let owner = child.get("owner");
        let name = owner
            .and_then(|o| o.get("display"))
            .and_then(Value::as_str)
            .unwrap_or("The VCS provider");
        let ods = ods_of(owner).map(|o| o.to_string()).unwrap_or_default();
        let child_id = child["id"].as_str().unwrap_or_default();
        let mut text = format!("{name} ({ods}) {verb} the onward referral (Task/{child_id})");
        if super::person_declined::says_person_declined(child) {
            text.push_str(&format!(
                ": the person declined social prescribing (SNOMED CT {})",
                signpost_profiles::outcome_measure::PERSON_DECLINED.code
            ));
        } else if let Some(reason) = child.pointer("/statusReason/text").and_then(Value::as_str) {
            text.push_str(&format!(": {reason}"));
        }
        push_note(&mut parent, &text, self.at);
        self.put(parent, version);
        // The VCS provider acted; both the link worker and the GP hear of it.
        self.announce(parent_id, ods_of(owner));
        Ok(())
    }

    async fn mirror_on_service_request(
        &mut self,
        task: &Value,
        task_id: &str,
        to: TaskStatus,
        actor: &OdsCode,
    ) -> Result<(), StoreError> {
        let sr_status = match to {
            TaskStatus::Completed => "completed",
            TaskStatus::Rejected | TaskStatus::Cancelled | TaskStatus::Failed => "revoked",
            _ => return Ok(()),
        };
        if let Some(sr_id) = reference_id(task.get("focus"), "ServiceRequest")
            && let Some((mut sr, version)) = self.latest("ServiceRequest", &sr_id).await?
        {
            sr["status"] = json!(sr_status);
            self.put(sr, version);
        }
        if to == TaskStatus::Cancelled {
            self.cancel_children(task_id, actor).await?;
        }
        Ok(())
    }

    async fn cancel_children(
        &mut self,
        parent_id: &str,
        actor: &OdsCode,
    ) -> Result<(), StoreError> {
        let query = SearchQuery {
            resource_type: "Task".into(),
            criteria: vec![Criterion::Index {
                param: "part-of",
                any_of: vec![(None, format!("Task/{parent_id}"))],
            }],
            count: 1000,
            offset: 0,
            sort: SortOrder::default(),
        };
        for child in self.store.search(&query).await?.resources {
            let mut json = parse(&child)?;
            let focus = reference_id(json.get("focus"), "ServiceRequest");
            if status_of(&json).is_none_or(TaskStatus::is_terminal) {
                continue;
            }
            json["status"] = json!("cancelled");
            json["statusReason"] = json!({"text": "The referral was cancelled by the referrer"});
            let id = child.id.clone();
            self.put(json, child.version);
            self.announce(&id, Some(actor.clone()));
            if let Some(sr_id) = focus
                && let Some((mut sr, version)) = self.latest("ServiceRequest", &sr_id).await?
            {
                sr["status"] = json!("revoked");
                self.put(sr, version);
            }
        }
        Ok(())
    }

    /// The resource writes and deliveries, ready to commit.
    pub async fn into_change_set(self) -> Result<ChangeSet, StoreError> {
        let mut writes = Vec::new();
        let mut versions: BTreeMap<(String, String), (Value, i64)> = BTreeMap::new();
        for ((rtype, id), (json, base)) in &self.writes {
            let version = base + 1;
            let mut stored = with_identity(json, id, version, self.at);
            if rtype == "Task" {
                stored["lastModified"] = json!(self.at.to_fhir());
            }
            versions.insert((rtype.clone(), id.clone()), (stored.clone(), version));
            writes.push(write(rtype, id, version, stored, self.at));
        }
        let mut outbox = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (task_id, actor) in &self.announce {
            let latest = match versions.get(&("Task".to_owned(), task_id.clone())) {
                Some(v) => Some(v.clone()),
                None => match self.store.read("Task", task_id).await? {
                    Some(r) => Some((parse(&r)?, r.version)),
                    None => None,
                },
            };
            let Some((task, task_version)) = latest else {
                continue;
            };
            let Some(focus_id) = reference_id(task.get("focus"), "ServiceRequest") else {
                continue;
            };
            // Read now for its version; parsed only if an adapter asks to see it.
            let mut focus = match versions.get(&("ServiceRequest".to_owned(), focus_id.clone())) {
                Some((json, version)) => Focus::Written(json, *version),
                None => match self.store.read("ServiceRequest", &focus_id).await? {
                    Some(stored) => Focus::Stored(stored, None),
                    None => {
                        return Err(StoreError::Corrupt(format!(
                            "Task/{task_id} is about ServiceRequest/{focus_id}, which is not stored"
                        )));
                    }
                },
            };
            let focus_version = focus.version();
            for party in [ods_of(task.get("owner")), ods_of(task.get("requester"))]
                .into_iter()
                .flatten()
            {
                if Some(&party) == actor.as_ref() || !seen.insert((task_id.clone(), party.clone()))
                {
                    continue;
                }
                if let Some(adapter) = self.directory.adapter(&party)
                    && adapter.can_announce(&task, focus.json()?, party.as_str())
                {
                    outbox.push(OutboxEntry {
                        id: uuid::Uuid::now_v7().to_string(),
                        destination: party.clone(),
                        adapter: adapter.kind().into(),
                        event: DeliveryEvent::TaskUpdated,
                        task_id: task_id.clone(),
                        task_version,
                        focus_id: focus_id.clone(),
                        focus_version,
                        idempotency_key: uuid::Uuid::new_v4().to_string(),
                        correlation_id: self.correlation_id.clone(),
                        traceparent: crate::telemetry::traces::current_traceparent(),
                    });
                }
            }
        }
        let writes = writes
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(ChangeSet {
            writes,
            outbox,
            condition: None,
            ..ChangeSet::default()
        })
    }
}

fn write(
    rtype: &str,
    id: &str,
    version: i64,
    json: Value,
    at: Instant,
) -> Result<ResourceWrite, serde_json::Error> {
    Ok(ResourceWrite {
        index: index_entries(&json),
        resource: StoredResource {
            resource_type: rtype.to_owned(),
            id: id.to_owned(),
            version,
            last_updated: at,
            body: serde_json::value::to_raw_value(&json)?,
        },
    })
}

fn parse(r: &StoredResource) -> Result<Value, StoreError> {
    serde_json::from_str(r.body.get()).map_err(|e| {
        StoreError::Corrupt(format!(
            "{}/{} version {} is not JSON: {e}",
            r.resource_type, r.id, r.version
        ))
    })
}

/// A Task's focus: as written in this change, or as stored and parsed at most once.
enum Focus<'v> {
    Written(&'v Value, i64),
    Stored(StoredResource, Option<Value>),
}

impl Focus<'_> {
    fn version(&self) -> i64 {
        match self {
            Focus::Written(_, version) => *version,
            Focus::Stored(stored, _) => stored.version,
        }
    }

    fn json(&mut self) -> Result<&Value, StoreError> {
        match self {
            Focus::Written(json, _) => Ok(json),
            Focus::Stored(stored, parsed) => match parsed {
                Some(json) => Ok(json),
                None => Ok(parsed.insert(parse(stored)?)),
            },
        }
    }
}

/// The id in a reference like `Task/123` (relative, or absolute ending in the type and id).
pub fn reference_id(reference: Option<&Value>, rtype: &str) -> Option<String> {
    let r = reference?.get("reference")?.as_str()?;
    let r = r.split("/_history/").next().unwrap_or(r);
    let mut parts = r.rsplit('/');
    let id = parts.next()?;
    (parts.next()? == rtype).then(|| id.to_owned())
}

fn push_note(task: &mut Value, text: &str, at: Instant) {
    let note = json!({"authorString": "Signpost", "time": at.to_fhir(), "text": text});
    match task.get_mut("note").and_then(Value::as_array_mut) {
        Some(notes) => notes.push(note),
        None => task["note"] = json!([note]),
    }
}
