//! Refusals of unauthenticated requests: counted per source address and minute and audited as one
//! record per source and minute, and answered 429 past a per-source rate, so a loop of
//! token-less requests can neither fill the disk through the audit trail nor flood the store.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use serde_json::json;

use crate::search_index::index_entries;
use crate::store::{ChangeSet, Instant, ResourceWrite, Store, StoreError, StoredResource};

/// Distinct sources tallied one by one in a minute; the rest share one "other sources" tally, so
/// rotating source addresses cannot grow the audit either.
pub const MAX_SOURCES_PER_MINUTE: usize = 1000;

/// Where refused requests came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// The peer address of the connection.
    Address(IpAddr),
    /// Any source beyond the per-minute cap of distinct sources.
    Other,
    /// A request that reached the router without a peer address (in-process tests).
    Unknown,
}

/// Refused requests from one source in one minute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    /// The source.
    pub source: Source,
    /// Unix time of the minute's start, in seconds.
    pub minute: i64,
    /// Refused requests in all.
    pub refused: u64,
    /// Of those, answered 429 because the source was over its rate.
    pub limited: u64,
}

/// What to answer a refused request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The usual 401.
    Refuse,
    /// Over the source's rate: 429, retry after this many seconds (the minute's end).
    Limited {
        /// Seconds until the source's count starts again.
        retry_after_seconds: u64,
    },
}

#[derive(Default)]
struct Window {
    minute: i64,
    tallies: HashMap<Source, Tally>,
    finished: Vec<Tally>,
}

/// The counters, shared by every request of the process.
pub struct UnauthenticatedRefusals {
    per_minute: u64,
    window: Mutex<Window>,
}

impl UnauthenticatedRefusals {
    /// Counters that answer 429 past `per_minute` refusals from one source in a minute.
    pub fn new(per_minute: u64) -> Self {
        Self {
            per_minute,
            window: Mutex::default(),
        }
    }

    /// Counts one refusal from `source` at `now_seconds` (Unix time) and says how to answer it.
    pub fn note(&self, source: Option<IpAddr>, now_seconds: i64) -> Verdict {
        let minute = now_seconds - now_seconds.rem_euclid(60);
        // Only refused requests take this lock, each for a map update.
        let mut window = self.window.lock().unwrap_or_else(|e| e.into_inner());
        if window.minute != minute {
            let ended: Vec<Tally> = window.tallies.drain().map(|(_, t)| t).collect();
            window.finished.extend(ended);
            window.minute = minute;
        }
        let mut source = source.map_or(Source::Unknown, Source::Address);
        if !window.tallies.contains_key(&source) && window.tallies.len() >= MAX_SOURCES_PER_MINUTE {
            source = Source::Other;
        }
        let tally = window.tallies.entry(source).or_insert(Tally {
            source,
            minute,
            refused: 0,
            limited: 0,
        });
        tally.refused += 1;
        // "Other sources" share a tally, so they are not limited as one source would be.
        if source != Source::Other && tally.refused > self.per_minute {
            tally.limited += 1;
            let retry = u64::try_from(minute + 60 - now_seconds).unwrap_or(1).max(1);
            return Verdict::Limited {
                retry_after_seconds: retry,
            };
        }
        Verdict::Refuse
    }

    /// The tallies of minutes that have ended by `now_seconds`, taken out.
    pub fn take_finished(&self, now_seconds: i64) -> Vec<Tally> {
        let minute = now_seconds - now_seconds.rem_euclid(60);
        let mut window = self.window.lock().unwrap_or_else(|e| e.into_inner());
        if window.minute < minute {
            let ended: Vec<Tally> = window.tallies.drain().map(|(_, t)| t).collect();
            window.finished.extend(ended);
        }
        std::mem::take(&mut window.finished)
    }

    /// Every tally, the current minute's included (at shutdown).
    pub fn take_all(&self) -> Vec<Tally> {
        let mut window = self.window.lock().unwrap_or_else(|e| e.into_inner());
        let ended: Vec<Tally> = window.tallies.drain().map(|(_, t)| t).collect();
        window.finished.extend(ended);
        std::mem::take(&mut window.finished)
    }
}

/// One AuditEvent for a source's refusals in a minute.
pub fn event(tally: &Tally) -> Result<ResourceWrite, serde_json::Error> {
    let id = uuid::Uuid::now_v7().to_string();
    let start = Instant(tally.minute.saturating_mul(1_000_000));
    let end = Instant(tally.minute.saturating_add(60).saturating_mul(1_000_000));
    let mut agent = json!({"who": {"display": "unauthenticated caller"}, "requestor": true});
    match tally.source {
        Source::Address(ip) => {
            // AuditEvent.agent.network.type 2: an IP address.
            agent["network"] = json!({"address": ip.to_string(), "type": "2"});
        }
        Source::Other => agent["who"]["display"] = json!("unauthenticated callers (other sources)"),
        Source::Unknown => {}
    }
    let body = json!({
        "resourceType": "AuditEvent",
        "id": id,
        "meta": {"versionId": "1", "lastUpdated": end.to_fhir()},
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest", "display": "RESTful Operation"},
        "action": "E",
        "period": {"start": start.to_fhir(), "end": end.to_fhir()},
        "recorded": end.to_fhir(),
        "outcome": "4",
        "outcomeDesc": format!(
            "{} requests without a valid token refused with HTTP 401 in this minute, {} of them with 429 (over the rate)",
            tally.refused, tally.limited
        ),
        "agent": [agent],
        "source": {"observer": {"display": "Signpost"}},
        "entity": [{
            "what": {"display": "requests without a valid token"},
            "detail": [
                {"type": "refused", "valueString": tally.refused.to_string()},
                {"type": "rate-limited", "valueString": tally.limited.to_string()},
            ],
        }],
    });
    let index = index_entries(&body);
    Ok(ResourceWrite {
        resource: StoredResource {
            resource_type: "AuditEvent".into(),
            id,
            version: 1,
            last_updated: end,
            body: serde_json::value::to_raw_value(&body)?,
        },
        index,
    })
}

/// Writes one AuditEvent per tally, in one commit.
pub async fn record(store: &dyn Store, tallies: &[Tally]) -> Result<(), StoreError> {
    if tallies.is_empty() {
        return Ok(());
    }
    let writes = tallies
        .iter()
        .map(event)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    store
        .commit(ChangeSet {
            writes,
            ..ChangeSet::default()
        })
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The start of a minute (a multiple of 60 seconds).
    const T0: i64 = 1_800_000_000;

    fn ip(n: u8) -> Option<IpAddr> {
        Some(IpAddr::from([192, 0, 2, n]))
    }

    #[test]
    fn a_minute_of_refusals_is_one_tally_per_source() {
        let counts = UnauthenticatedRefusals::new(1000);
        for i in 0..500 {
            assert_eq!(counts.note(ip(1), T0 + i % 60), Verdict::Refuse);
        }
        counts.note(ip(2), T0 + 5);
        assert!(
            counts.take_finished(T0 + 59).is_empty(),
            "the minute is not over"
        );
        let mut tallies = counts.take_finished(T0 + 60);
        tallies.sort_by_key(|t| t.refused);
        assert_eq!(
            tallies,
            vec![
                Tally {
                    source: Source::Address(IpAddr::from([192, 0, 2, 2])),
                    minute: T0,
                    refused: 1,
                    limited: 0
                },
                Tally {
                    source: Source::Address(IpAddr::from([192, 0, 2, 1])),
                    minute: T0,
                    refused: 500,
                    limited: 0
                },
            ]
        );
        assert!(counts.take_finished(T0 + 61).is_empty(), "taken once");
    }

    #[test]
    fn a_source_over_its_rate_is_told_when_to_retry_and_others_are_not() {
        let counts = UnauthenticatedRefusals::new(3);
        for _ in 0..3 {
            assert_eq!(counts.note(ip(1), T0 + 10), Verdict::Refuse);
        }
        assert_eq!(
            counts.note(ip(1), T0 + 10),
            Verdict::Limited {
                retry_after_seconds: 50
            }
        );
        assert_eq!(counts.note(ip(2), T0 + 10), Verdict::Refuse);
        assert_eq!(counts.note(ip(1), T0 + 60), Verdict::Refuse, "a new minute");
        let all = counts.take_all();
        let first = all
            .iter()
            .find(|t| t.minute == T0 && t.source == Source::Address(IpAddr::from([192, 0, 2, 1])))
            .expect("first minute");
        assert_eq!((first.refused, first.limited), (4, 1));
    }

    #[test]
    fn rotating_sources_share_one_tally_past_the_cap() {
        let counts = UnauthenticatedRefusals::new(10);
        for i in 0..(MAX_SOURCES_PER_MINUTE as u32 + 500) {
            counts.note(Some(IpAddr::from(i.to_be_bytes())), T0);
        }
        let tallies = counts.take_all();
        assert_eq!(tallies.len(), MAX_SOURCES_PER_MINUTE + 1);
        let other = tallies
            .iter()
            .find(|t| t.source == Source::Other)
            .expect("other");
        assert_eq!(other.refused, 500);
    }

    #[test]
    fn the_audit_record_holds_the_counts() {
        let write = event(&Tally {
            source: Source::Address(IpAddr::from([192, 0, 2, 1])),
            minute: T0,
            refused: 42,
            limited: 7,
        })
        .expect("event");
        let body: serde_json::Value =
            serde_json::from_str(write.resource.body.get()).expect("json");
        assert_eq!(body["entity"][0]["detail"][0]["valueString"], "42");
        assert_eq!(body["entity"][0]["detail"][1]["valueString"], "7");
        assert_eq!(body["agent"][0]["network"]["address"], "192.0.2.1");
    }
}
