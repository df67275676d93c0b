//! A service's capacity as the directory holds it: HL7 Gravity's capacity-status extension
//! (SDOH Clinical Care 3.0.0 codes) plus Signpost's extension for counts, who said so and until when.

use serde_json::{Value, json};

use crate::store::Instant;

/// Gravity (SDOH Clinical Care 3.0.0) capacity-status extension on HealthcareService.
pub const GRAVITY_CAPACITY_URL: &str = "http://hl7.org/fhir/us/sdoh-clinicalcare/StructureDefinition/SDOHCC-ExtensionHealthcareServiceCapacityStatus";
/// The code system of Gravity's capacity codes (pinned to 3.0.0).
pub const GRAVITY_CAPACITY_SYSTEM: &str =
    "http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes";
/// Signpost's own capacity codes: `unknown`, which Gravity's value set lacks.
pub const SIGNPOST_CAPACITY_SYSTEM: &str =
    "https://signpost.example/fhir/CodeSystem/capacity-status";
/// Signpost's extension for the counts, source, as-of and expiry of a declaration.
pub const SIGNPOST_CAPACITY_URL: &str =
    "https://signpost.example/fhir/StructureDefinition/service-capacity";
/// `Task.statusReason` code a VCS provider gives when it declines because it is full.
pub const AT_CAPACITY_REASON_SYSTEM: &str =
    "https://signpost.example/fhir/CodeSystem/decline-reason";
/// The at-capacity decline code in [`AT_CAPACITY_REASON_SYSTEM`].
pub const AT_CAPACITY_REASON_CODE: &str = "at-capacity";

/// Whether a service can take a new person now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapacityStatus {
    /// Room for a new referral.
    Capacity,
    /// Full.
    NoCapacity,
    /// Full, but keeps a waiting list.
    Waitlist,
    /// Takes referrals only after its own assessment.
    AdditionalAssessmentRequired,
    /// Nobody has said, or what was said has expired.
    Unknown,
}

impl CapacityStatus {
    /// Every status, in the order documented.
    pub const ALL: [CapacityStatus; 5] = [
        CapacityStatus::Capacity,
        CapacityStatus::NoCapacity,
        CapacityStatus::Waitlist,
        CapacityStatus::AdditionalAssessmentRequired,
        CapacityStatus::Unknown,
    ];

    /// The code as written in the extension and searched by `capacity`.
    pub fn code(self) -> &'static str {
        match self {
            CapacityStatus::Capacity => "capacity",
            CapacityStatus::NoCapacity => "no-capacity",
            CapacityStatus::Waitlist => "waitlist",
            CapacityStatus::AdditionalAssessmentRequired => "additional-assessment-required",
            CapacityStatus::Unknown => "unknown",
        }
    }

    /// The code system the code belongs to.
    pub fn system(self) -> &'static str {
        match self {
            CapacityStatus::Unknown => SIGNPOST_CAPACITY_SYSTEM,
            _ => GRAVITY_CAPACITY_SYSTEM,
        }
    }

    /// Parses a code (any of [`CapacityStatus::ALL`]).
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }
}

/// Who declared a capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapacitySource {
    /// The provider itself (API, webhook, console).
    Provider,
    /// An imported directory feed.
    Feed,
    /// A Signpost operator.
    Operator,
    /// Signpost, from the Tasks it counted or an at-capacity decline.
    Inferred,
}

impl CapacitySource {
    const ALL: [CapacitySource; 4] = [
        CapacitySource::Provider,
        CapacitySource::Feed,
        CapacitySource::Operator,
        CapacitySource::Inferred,
    ];

    /// The code in the Signpost extension.
    pub fn code(self) -> &'static str {
        match self {
            CapacitySource::Provider => "provider",
            CapacitySource::Feed => "feed",
            CapacitySource::Operator => "operator",
            CapacitySource::Inferred => "inferred",
        }
    }

    fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }
}

/// A capacity declaration as read from a HealthcareService.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capacity {
    /// The declared status.
    pub status: CapacityStatus,
    /// Free-text notes (Gravity's `capacityNotes`).
    pub notes: Option<String>,
    /// Places free now, if counted.
    pub available: Option<u32>,
    /// Places in all, if the provider declared a maximum.
    pub maximum: Option<u32>,
    /// Who said so.
    pub source: CapacitySource,
    /// When.
    pub as_of: Instant,
    /// Until when it holds; after that the status is `unknown`.
    pub expires: Option<Instant>,
}

/// Why a capacity declaration cannot be read; each names the element.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CapacityError {
    /// What is wrong.
    pub message: String,
    /// The element at fault, e.g. `HealthcareService.extension[0].extension[0]`.
    pub at: String,
}

fn err(at: String, message: impl Into<String>) -> CapacityError {
    CapacityError {
        message: message.into(),
        at,
    }
}

fn parse_instant(value: &Value, at: String) -> Result<Instant, CapacityError> {
    let text = value
        .as_str()
        .ok_or_else(|| err(at.clone(), "must be a FHIR instant"))?;
    ::time::OffsetDateTime::parse(text, &::time::format_description::well_known::Rfc3339)
        .map(Instant::from_datetime)
        .map_err(|_| err(at, format!("\"{text}\" is not a FHIR instant")))
}

fn parse_count(value: &Value, at: String) -> Result<u32, CapacityError> {
    value
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| err(at, "must be a whole number of places (unsignedInt)"))
}

fn extensions(resource: &Value) -> impl Iterator<Item = (usize, &Value)> {
    resource
        .get("extension")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
}

fn url_of(extension: &Value) -> Option<&str> {
    extension.get("url").and_then(Value::as_str)
}

/// Reads the capacity a HealthcareService declares; `None` if it declares none.
pub fn read(service: &Value) -> Result<Option<Capacity>, CapacityError> {
    let mut status = None;
    let mut notes = None;
    let mut counts = None;
    for (i, ext) in extensions(service) {
        let here = format!("HealthcareService.extension[{i}]");
        match url_of(ext) {
            Some(GRAVITY_CAPACITY_URL) => {
                for (j, sub) in extensions(ext) {
                    let at = format!("{here}.extension[{j}]");
                    match url_of(sub) {
                        Some("capacityStatus") => {
                            let coding = sub
                                .pointer("/valueCodeableConcept/coding")
                                .and_then(Value::as_array)
                                .into_iter()
                                .flatten()
                                .find_map(|c| {
                                    let code = c.get("code").and_then(Value::as_str)?;
                                    let parsed = CapacityStatus::parse(code)?;
                                    (c.get("system").and_then(Value::as_str)
                                        == Some(parsed.system()))
                                    .then_some(parsed)
                                });
                            status = Some(coding.ok_or_else(|| {
                                err(
                                    format!("{at}.valueCodeableConcept"),
                                    format!(
                                        "capacityStatus needs a coding from {GRAVITY_CAPACITY_SYSTEM} \
                                         (capacity, no-capacity, waitlist, additional-assessment-required) \
                                         or {SIGNPOST_CAPACITY_SYSTEM}|unknown"
                                    ),
                                )
                            })?);
                        }
                        Some("capacityNotes") => {
                            notes = sub
                                .get("valueString")
                                .and_then(Value::as_str)
                                .map(str::to_owned);
                        }
                        _ => {}
                    }
                }
                if status.is_none() {
                    return Err(err(
                        here,
                        "the capacity-status extension needs capacityStatus",
                    ));
                }
            }
            Some(SIGNPOST_CAPACITY_URL) => counts = Some((here, ext)),
            _ => {}
        }
    }
    let Some(status) = status else {
        return match counts {
            Some((at, _)) => Err(err(
                at,
                "the service-capacity extension goes with Gravity's capacity-status extension",
            )),
            None => Ok(None),
        };
    };
    let mut capacity = Capacity {
        status,
        notes,
        available: None,
        maximum: None,
        source: CapacitySource::Provider,
        as_of: Instant(0),
        expires: None,
    };
    let Some((here, ext)) = counts else {
        return Ok(Some(capacity));
    };
    let mut as_of = None;
    for (j, sub) in extensions(ext) {
        let at = format!("{here}.extension[{j}]");
        match url_of(sub) {
            Some("available") => {
                capacity.available = Some(parse_count(
                    sub.get("valueUnsignedInt").unwrap_or(&Value::Null),
                    format!("{at}.valueUnsignedInt"),
                )?);
            }
            Some("maximum") => {
                capacity.maximum = Some(parse_count(
                    sub.get("valueUnsignedInt").unwrap_or(&Value::Null),
                    format!("{at}.valueUnsignedInt"),
                )?);
            }
            Some("source") => {
                let code = sub.get("valueCode").and_then(Value::as_str).unwrap_or("");
                capacity.source = CapacitySource::parse(code).ok_or_else(|| {
                    err(
                        format!("{at}.valueCode"),
                        "source must be provider, feed, operator or inferred",
                    )
                })?;
            }
            Some("asOf") => {
                as_of = Some(parse_instant(
                    sub.get("valueInstant").unwrap_or(&Value::Null),
                    format!("{at}.valueInstant"),
                )?);
            }
            Some("expires") => {
                capacity.expires = Some(parse_instant(
                    sub.get("valueInstant").unwrap_or(&Value::Null),
                    format!("{at}.valueInstant"),
                )?);
            }
            other => {
                return Err(err(
                    format!("{at}.url"),
                    format!(
                        "unknown part {:?} of the service-capacity extension (available, maximum, source, asOf, expires)",
                        other.unwrap_or("")
                    ),
                ));
            }
        }
    }
    if let (Some(a), Some(m)) = (capacity.available, capacity.maximum)
        && a > m
    {
        return Err(err(
            here,
            format!("available ({a}) cannot exceed maximum ({m})"),
        ));
    }
    if let Some(t) = as_of {
        capacity.as_of = t;
    }
    Ok(Some(capacity))
}

impl Capacity {
    /// The status that holds at `at`: a declaration past its expiry is `unknown`, never `capacity`.
    pub fn effective(&self, at: Instant) -> CapacityStatus {
        match self.expires {
            Some(until) if until <= at => CapacityStatus::Unknown,
            _ => self.status,
        }
    }

    /// Whether a new referral may be given a place at `at`: refused when full, `waitlist` only
    /// when the link worker asks for it. `unknown` and `additional-assessment-required` are not
    /// "full": the referral goes, and the provider decides (its decline teaches Signpost).
    pub fn admits(&self, at: Instant, waitlist_accepted: bool) -> bool {
        match self.effective(at) {
            CapacityStatus::Capacity => self.available.is_none_or(|n| n > 0),
            CapacityStatus::Waitlist => waitlist_accepted,
            CapacityStatus::NoCapacity => false,
            CapacityStatus::Unknown | CapacityStatus::AdditionalAssessmentRequired => true,
        }
    }

    /// The capacity after one more person was given a place: the count goes down, and the last
    /// place taken makes the service full (inferred).
    pub fn after_place_taken(&self, at: Instant) -> Capacity {
        let mut next = self.clone();
        if let Some(n) = self.available
            && self.effective(at) == CapacityStatus::Capacity
        {
            next.available = Some(n.saturating_sub(1));
            if n <= 1 {
                next.status = CapacityStatus::NoCapacity;
                next.source = CapacitySource::Inferred;
                next.as_of = at;
            }
        }
        next
    }

    /// The capacity after a place was given back (a Task ended): counted services get it back.
    pub fn after_place_freed(&self, at: Instant) -> Capacity {
        let mut next = self.clone();
        if let (Some(n), Some(max)) = (self.available, self.maximum)
            && n < max
        {
            next.available = Some(n + 1);
            if self.status == CapacityStatus::NoCapacity && self.source == CapacitySource::Inferred
            {
                next.status = CapacityStatus::Capacity;
                next.as_of = at;
            }
        }
        next
    }

    /// The capacity after the provider declined a referral because it is full.
    pub fn after_at_capacity_decline(&self, at: Instant) -> Capacity {
        Capacity {
            status: CapacityStatus::NoCapacity,
            available: self.available.map(|_| 0),
            source: CapacitySource::Inferred,
            as_of: at,
            ..self.clone()
        }
    }

    /// The two extensions this capacity is written as.
    fn extensions(&self) -> [Value; 2] {
        let mut status = vec![json!({
            "url": "capacityStatus",
            "valueCodeableConcept": {"coding": [{"system": self.status.system(), "code": self.status.code()}]}
        })];
        if let Some(notes) = &self.notes {
            status.push(json!({"url": "capacityNotes", "valueString": notes}));
        }
        let mut counts = Vec::new();
        if let Some(n) = self.available {
            counts.push(json!({"url": "available", "valueUnsignedInt": n}));
        }
        if let Some(n) = self.maximum {
            counts.push(json!({"url": "maximum", "valueUnsignedInt": n}));
        }
        counts.push(json!({"url": "source", "valueCode": self.source.code()}));
        counts.push(json!({"url": "asOf", "valueInstant": self.as_of.to_fhir()}));
        if let Some(t) = self.expires {
            counts.push(json!({"url": "expires", "valueInstant": t.to_fhir()}));
        }
        [
            json!({"url": GRAVITY_CAPACITY_URL, "extension": status}),
            json!({"url": SIGNPOST_CAPACITY_URL, "extension": counts}),
        ]
    }

    /// Writes this capacity onto a HealthcareService, replacing any capacity it held.
    pub fn write_to(&self, service: &mut Value) {
        let mut kept: Vec<Value> = extensions(service)
            .filter(|(_, e)| {
                !matches!(
                    url_of(e),
                    Some(GRAVITY_CAPACITY_URL | SIGNPOST_CAPACITY_URL)
                )
            })
            .map(|(_, e)| e.clone())
            .collect();
        kept.extend(self.extensions());
        if let Some(object) = service.as_object_mut() {
            object.insert("extension".into(), Value::Array(kept));
        }
    }
}

/// The service as served at `at`: an expired declaration is shown as `unknown`, with its counts
/// kept so the provider can see what it last said.
pub fn as_served(service: &Value, at: Instant) -> Option<Value> {
    let capacity = read(service).ok().flatten()?;
    if capacity.effective(at) == capacity.status {
        return None;
    }
    let mut shown = service.clone();
    Capacity {
        status: CapacityStatus::Unknown,
        ..capacity
    }
    .write_to(&mut shown);
    Some(shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared(status: CapacityStatus, available: Option<u32>, expires: Option<i64>) -> Capacity {
        Capacity {
            status,
            notes: None,
            available,
            maximum: available.map(|_| 10),
            source: CapacitySource::Provider,
            as_of: Instant(1_000),
            expires: expires.map(Instant),
        }
    }

    #[test]
    fn round_trips_through_the_extensions() {
        let capacity = Capacity {
            notes: Some("Tuesdays only".into()),
            expires: Some(Instant(1_795_427_918_000_000)),
            as_of: Instant(1_795_427_000_000_000),
            ..declared(CapacityStatus::Waitlist, Some(3), None)
        };
        let mut service = json!({"resourceType": "HealthcareService", "extension": [{"url": "urn:other", "valueString": "kept"}]});
        capacity.write_to(&mut service);
        assert_eq!(read(&service), Ok(Some(capacity)));
        assert_eq!(service["extension"][0]["url"], "urn:other");
    }

    #[test]
    fn stale_is_unknown_never_capacity() {
        let c = declared(CapacityStatus::Capacity, Some(2), Some(5_000));
        assert_eq!(c.effective(Instant(4_999)), CapacityStatus::Capacity);
        assert_eq!(c.effective(Instant(5_000)), CapacityStatus::Unknown);
        assert!(c.admits(Instant(6_000), false), "unknown is not full");
        let full = declared(CapacityStatus::NoCapacity, Some(0), Some(5_000));
        assert!(!full.admits(Instant(4_000), true));
    }

    #[test]
    fn the_last_place_taken_makes_the_service_full() {
        let c = declared(CapacityStatus::Capacity, Some(1), None);
        let after = c.after_place_taken(Instant(2_000));
        assert_eq!(after.available, Some(0));
        assert_eq!(after.status, CapacityStatus::NoCapacity);
        assert_eq!(after.source, CapacitySource::Inferred);
        assert!(!after.admits(Instant(2_000), false));
        let freed = after.after_place_freed(Instant(3_000));
        assert_eq!(
            (freed.available, freed.status),
            (Some(1), CapacityStatus::Capacity)
        );
    }

    #[test]
    fn waitlist_only_when_asked() {
        let c = declared(CapacityStatus::Waitlist, None, None);
        assert!(!c.admits(Instant(0), false));
        assert!(c.admits(Instant(0), true));
    }

    #[test]
    fn bad_declarations_name_the_element() {
        let service = json!({"resourceType": "HealthcareService", "extension": [
            {"url": GRAVITY_CAPACITY_URL, "extension": [{"url": "capacityStatus", "valueCodeableConcept": {"coding": [{"system": GRAVITY_CAPACITY_SYSTEM, "code": "lots"}]}}]}
        ]});
        let e = read(&service).expect_err("bad code");
        assert_eq!(
            e.at,
            "HealthcareService.extension[0].extension[0].valueCodeableConcept"
        );
        let service = json!({"resourceType": "HealthcareService", "extension": [
            {"url": GRAVITY_CAPACITY_URL, "extension": [{"url": "capacityStatus", "valueCodeableConcept": {"coding": [{"system": GRAVITY_CAPACITY_SYSTEM, "code": "capacity"}]}}]},
            {"url": SIGNPOST_CAPACITY_URL, "extension": [{"url": "available", "valueUnsignedInt": -1}]}
        ]});
        let e = read(&service).expect_err("negative count");
        assert_eq!(
            e.at,
            "HealthcareService.extension[1].extension[0].valueUnsignedInt"
        );
    }
}
