//! A generated demo population for the sandbox's reports and charts (and the report benchmark):
//! referrals from every configured practice over the past year, each with its link worker's
//! Task through its statuses, outcome scores before and after, and onward referrals answered
//! by VCS providers. Written straight into the store, as intake would have written them, in
//! batches; nobody in it is real (NHS numbers from the 999 range, which is never issued).

use serde_json::value::RawValue;
use serde_json::{Value, json};
use signpost_profiles::outcome_measure::{OUTCOME_SYSTEM, PERSON_DECLINED, TIMEPOINT_EXTENSION};
use signpost_profiles::{NHS_NUMBER_SYSTEM, ODS_SYSTEM};

use crate::config::{Config, Role};
use crate::search_index::index_entries;
use crate::store::{ChangeSet, Instant, ResourceWrite, Store, StoreError, StoredResource, now};

/// Resource versions per commit.
const PER_COMMIT: usize = 200;
/// The span referrals are spread over, back from now.
const SPAN_US: i64 = 365 * 86_400_000_000;
const HOUR_US: i64 = 3_600_000_000;

/// Why a demo population could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The config has no practice, link-worker service or VCS organisation to use.
    #[error("the config needs at least one {0} organisation for a demo population")]
    Missing(&'static str),
    /// Writing failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A generated resource could not be serialised.
    #[error("cannot build a demo resource: {0}")]
    Json(#[from] serde_json::Error),
}

/// A small deterministic generator (xorshift), so a seed gives the same population.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn org(ods: &str) -> Value {
    json!({"identifier": {"system": ODS_SYSTEM, "value": ods}})
}

/// A 999 NHS number with a valid check digit (the 999 range is never issued to anyone).
fn nhs_number(n: u64) -> String {
    (0..)
        .map(|k| format!("999{:06}", (n * 7 + k) % 1_000_000))
        .find_map(|nine| {
            let sum: u32 = nine
                .chars()
                .zip((2..=10).rev())
                .map(|(c, w)| c.to_digit(10).unwrap_or(0) * w)
                .sum();
            match 11 - sum % 11 {
                11 => Some(format!("{nine}0")),
                10 => None,
                check => Some(format!("{nine}{check}")),
            }
        })
        .unwrap_or_else(|| "9990000000".to_owned())
}

fn write(
    resource: &mut Value,
    id: &str,
    version: i64,
    at: Instant,
) -> Result<ResourceWrite, DemoError> {
    resource["id"] = json!(id);
    resource["meta"] = json!({"versionId": version.to_string(), "lastUpdated": at.to_fhir()});
    Ok(ResourceWrite {
        index: index_entries(resource),
        resource: StoredResource {
            resource_type: resource["resourceType"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            id: id.to_owned(),
            version,
            last_updated: at,
            body: RawValue::from_string(serde_json::to_string(resource)?)?,
        },
    })
}

fn score(code: &str, value: u64, timepoint: &str) -> Value {
    json!({
        "extension": [{"url": TIMEPOINT_EXTENSION, "valueCode": timepoint}],
        "type": {"coding": [{"system": OUTCOME_SYSTEM, "code": code}]},
        "valueInteger": value
    })
}

const NEEDS: &[(&str, &str)] = &[
    ("267076002", "Feeling lonely"),
    ("422650009", "Social isolation"),
    ("105529008", "Lives alone"),
    ("81877007", "Housing problems"),
    ("160932005", "Financial problem"),
    ("407542009", "Informal caregiver"),
];

/// The versions one referral's resources went through, oldest first, as (round, write): every
/// first version in round 0, second versions in round 1, and so on.
fn referral(
    rng: &mut Rng,
    seed: u64,
    n: u64,
    practices: &[&str],
    link_workers: &[&str],
    vcs: &[&str],
    end: i64,
) -> Result<Vec<(usize, ResourceWrite)>, DemoError> {
    let mut out = Vec::new();
    let received = Instant(end - rng.below(SPAN_US as u64) as i64);
    let practice = practices[rng.below(practices.len() as u64) as usize];
    let lw = link_workers[rng.below(link_workers.len() as u64) as usize];
    // About one referral in six is of someone referred before.
    let person = if rng.chance(16) {
        rng.below(n.max(1))
    } else {
        n
    };
    let nhs = nhs_number(person);
    let gender = ["female", "male", "female", "male", "other", "unknown"][(person % 6) as usize];
    let birth = format!("{}-{:02}-15", 1935 + person % 70, 1 + person % 12);
    let (need, display) = NEEDS[rng.below(NEEDS.len() as u64) as usize];
    let sr_id = format!("demo-{seed}-sr-{n}");
    let mut sr = json!({
        "resourceType": "ServiceRequest",
        "contained": [{"resourceType": "Patient", "id": "pat",
            "identifier": [{"system": NHS_NUMBER_SYSTEM, "value": nhs}],
            "name": [{"family": "Demo", "given": [format!("Person {person}")]}],
            "gender": gender, "birthDate": birth}],
        "status": "active",
        "intent": "order",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "871731000000106"}]},
        "subject": {"reference": "#pat", "identifier": {"system": NHS_NUMBER_SYSTEM, "value": nhs}},
        "authoredOn": received.to_fhir(),
        "requester": org(practice),
        "performer": [org(lw)],
        "reasonCode": [{"coding": [{"system": "http://snomed.info/sct", "code": need, "display": display}]}],
    });
    out.push((0, write(&mut sr, &sr_id, 1, received)?));
    let task_id = format!("demo-{seed}-task-{n}");
    let mut task = json!({
        "resourceType": "Task",
        "status": "requested",
        "intent": "order",
        "focus": {"reference": format!("ServiceRequest/{sr_id}")},
        "for": {"identifier": {"system": NHS_NUMBER_SYSTEM, "value": nhs}},
        "authoredOn": received.to_fhir(),
        "requester": org(practice),
        "owner": org(lw),
    });
    out.push((0, write(&mut task, &task_id, 1, received)?));
    // Nothing is dated after `end`: the report projection reads forward from its watermark.
    let answered = Instant((received.0 + HOUR_US * (1 + rng.below(24 * 10) as i64)).min(end));
    let fate = rng.below(100);
    if fate < 15 {
        task["status"] = json!("rejected");
        task["statusReason"] = if rng.chance(70) {
            json!({"coding": [{"system": PERSON_DECLINED.system, "code": PERSON_DECLINED.code}]})
        } else {
            json!({"text": "Not suitable for social prescribing"})
        };
        out.push((1, write(&mut task, &task_id, 2, answered)?));
        return Ok(out);
    }
    if fate < 30 {
        return Ok(out);
    }
    task["status"] = json!("accepted");
    out.push((1, write(&mut task, &task_id, 2, answered)?));
    if rng.chance(50) {
        let to = vcs[rng.below(vcs.len() as u64) as usize];
        let onward_id = format!("demo-{seed}-onward-{n}");
        let sent = Instant((answered.0 + HOUR_US * (1 + rng.below(24 * 5) as i64)).min(end));
        let mut onward = sr.clone();
        onward["basedOn"] = json!([{"reference": format!("ServiceRequest/{sr_id}")}]);
        onward["intent"] = json!("filler-order");
        onward["requester"] = org(lw);
        onward["performer"] = json!([org(to)]);
        out.push((0, write(&mut onward, &onward_id, 1, sent)?));
        let vcs_id = format!("demo-{seed}-vcs-task-{n}");
        let mut vcs_task = json!({
            "resourceType": "Task",
            "status": "requested",
            "intent": "order",
            "focus": {"reference": format!("ServiceRequest/{onward_id}")},
            "partOf": [{"reference": format!("Task/{task_id}")}],
            "for": {"identifier": {"system": NHS_NUMBER_SYSTEM, "value": nhs}},
            "requester": org(lw),
            "owner": org(to),
        });
        out.push((0, write(&mut vcs_task, &vcs_id, 1, sent)?));
        let reply = Instant(sent.0 + HOUR_US * (1 + rng.below(24 * 20) as i64));
        let answer = rng.below(100);
        if answer < 90 && reply.0 <= end {
            vcs_task["status"] = json!(if answer < 70 { "accepted" } else { "rejected" });
            out.push((1, write(&mut vcs_task, &vcs_id, 2, reply)?));
        }
    }
    let closed = Instant(answered.0 + HOUR_US * 24 * (30 + rng.below(120) as i64));
    if closed.0 > end {
        return Ok(out);
    }
    if rng.chance(10) {
        task["status"] = json!("cancelled");
        out.push((2, write(&mut task, &task_id, 3, closed)?));
        return Ok(out);
    }
    // Scores before and after: most people a little better, some not.
    let mut outputs = Vec::new();
    for code in [
        "ons4-life-satisfaction",
        "ons4-worthwhile",
        "ons4-happiness",
    ] {
        let before = 2 + rng.below(6);
        outputs.push(score(code, before, "baseline"));
        outputs.push(score(
            code,
            (before + rng.below(5)).saturating_sub(1).min(10),
            "follow-up",
        ));
    }
    let anxious = 3 + rng.below(7);
    outputs.push(score("ons4-anxiety", anxious, "baseline"));
    outputs.push(score(
        "ons4-anxiety",
        anxious.saturating_sub(rng.below(4)),
        "follow-up",
    ));
    let lonely = 5 + rng.below(5);
    outputs.push(score("ucla3-total", lonely, "baseline"));
    outputs.push(score(
        "ucla3-total",
        lonely.saturating_sub(rng.below(4)).max(3),
        "follow-up",
    ));
    task["status"] = json!("completed");
    task["output"] = Value::Array(outputs);
    out.push((2, write(&mut task, &task_id, 3, closed)?));
    Ok(out)
}

/// Writes `referrals` generated referrals from `seed` into `store`, from the organisations
/// `config` names, then drops the report projection so the next report reads them (they are
/// dated in the past, behind its watermark). Ids are `demo-{seed}-...`: another seed adds another population beside it;
/// the same seed again fails on the first resource it finds already stored.
pub async fn load(
    store: &dyn Store,
    config: &Config,
    referrals: u64,
    seed: u64,
) -> Result<u64, DemoError> {
    let of = |role: Role| -> Vec<&str> {
        config
            .organisations
            .iter()
            .filter(|o| o.role == role)
            .map(|o| o.ods.as_str())
            .collect()
    };
    let (practices, link_workers, vcs) = (of(Role::Gp), of(Role::LinkWorker), of(Role::Vcs));
    for (list, name) in [
        (&practices, "gp"),
        (&link_workers, "link-worker"),
        (&vcs, "vcs"),
    ] {
        if list.is_empty() {
            return Err(DemoError::Missing(name));
        }
    }
    let mut rng = Rng(seed.max(1));
    let end = now().0;
    let mut rounds: Vec<Vec<ResourceWrite>> = vec![Vec::new(), Vec::new(), Vec::new()];
    let flush = |rounds: &mut Vec<Vec<ResourceWrite>>| {
        std::mem::replace(rounds, vec![Vec::new(), Vec::new(), Vec::new()])
    };
    for n in 0..referrals {
        for (round, w) in referral(&mut rng, seed, n, &practices, &link_workers, &vcs, end)? {
            rounds[round].push(w);
        }
        if rounds[0].len() >= PER_COMMIT * 4 || n + 1 == referrals {
            // A later version goes in only once the one it replaces is stored.
            for writes in flush(&mut rounds) {
                for chunk in writes.chunks(PER_COMMIT) {
                    store
                        .commit(ChangeSet {
                            writes: chunk.to_vec(),
                            ..ChangeSet::default()
                        })
                        .await?;
                }
            }
        }
    }
    // Every version is dated in the past, before the projection's watermark: build it again.
    store.forget_facts().await?;
    Ok(referrals)
}
