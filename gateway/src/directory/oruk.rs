//! Open Referral UK feeds, v1 and 3.0: which version a feed speaks (from `GET /`), the two
//! page shapes of `GET /services`, and an ORUK service mapped to a FHIR HealthcareService
//! (the HL7 Human Services Directory mapping: service → HealthcareService, taxonomy terms →
//! category and type, service_at_location → contained Location, schedules → availableTime,
//! contacts and email → telecom). Every record that cannot be used is reported, not guessed.

use serde_json::{Map, Value, json};
use signpost_profiles::ODS_SYSTEM;

use super::geo::Position;

/// The ORUK API version a feed speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrukVersion {
    /// The original UK profile, `HSDS-UK-1.0`: pages `{totalElements, totalPages, number, size,
    /// first, last, empty, content}` numbered from 1 (its OpenAPI `page` schema and `page`
    /// parameter, as the ORUK validator holds them), and no `GET /` endpoint.
    V1,
    /// The UK profile of HSDS 3.0 (pages `{total_items, total_pages, page_number, contents}`).
    V3,
}

/// The version named by a feed's `GET /` answer; like the official validator, v1 unless it says 3.
pub fn detect_version(root: &Value) -> OrukVersion {
    let named = root
        .get("version")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if named.trim_start_matches(['v', 'V']).starts_with('3') {
        OrukVersion::V3
    } else {
        OrukVersion::V1
    }
}

/// One page of `GET /services`: the records and whether more pages follow.
#[derive(Debug, Clone)]
pub struct Page {
    /// The page's records as sent.
    pub records: Vec<Value>,
    /// Whether this was the last page.
    pub last: bool,
}

/// Reads a services page in either shape (a bare array is one last page).
pub fn read_page(body: &Value) -> Result<Page, String> {
    if let Some(records) = body.as_array() {
        return Ok(Page {
            records: records.clone(),
            last: true,
        });
    }
    let (records, last, number, total) = if body.get("contents").is_some() {
        (
            body.get("contents"),
            body.get("last_page").and_then(Value::as_bool),
            body.get("page_number").and_then(Value::as_u64),
            body.get("total_pages").and_then(Value::as_u64),
        )
    } else if body.get("content").is_some() {
        (
            body.get("content"),
            body.get("last").and_then(Value::as_bool),
            // The v1 API numbers pages from 1, but some feeds count from 0; `last` decides when present.
            body.get("number").and_then(Value::as_u64),
            body.get("totalPages").and_then(Value::as_u64),
        )
    } else {
        return Err("the services page has neither contents (v3) nor content (v1)".into());
    };
    let records = records
        .and_then(Value::as_array)
        .cloned()
        .ok_or("the page's records are not an array")?;
    let last = match (last, number, total) {
        (Some(l), _, _) => l,
        (None, Some(n), Some(t)) => n >= t,
        _ => records.is_empty(),
    };
    Ok(Page { records, last })
}

/// A problem with one record of a feed, for the import's quality report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// The record's id, if it has one.
    pub record: Option<String>,
    /// Where in the record, e.g. `status`.
    pub element: String,
    /// What is wrong.
    pub message: String,
}

const STATUSES: [&str; 4] = ["active", "inactive", "defunct", "temporarily closed"];

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn list<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    v.get(key).and_then(Value::as_array).into_iter().flatten()
}

/// The identifier system for services of the feed at `base`.
pub fn service_system(base: &str) -> String {
    format!("{}/services", base.trim_end_matches('/'))
}

/// The taxonomy terms a service is classified by (v3 `attributes[].taxonomy_term`, v1
/// `service_taxonomys[].taxonomy`), as FHIR codings.
fn codings(service: &Value) -> Vec<Value> {
    list(service, "attributes")
        .filter_map(|a| a.get("taxonomy_term"))
        .chain(list(service, "service_taxonomys").filter_map(|t| t.get("taxonomy")))
        .filter_map(|term| {
            let code = text(term, "id")?;
            let vocabulary = text(term, "taxonomy")
                .or_else(|| text(term, "vocabulary"))
                .unwrap_or("oruk");
            let mut coding = json!({
                "system": format!("https://openreferraluk.org/taxonomy/{vocabulary}"),
                "code": code,
            });
            if let Some(name) = text(term, "name") {
                coding["display"] = json!(name);
            }
            Some(coding)
        })
        .collect()
}

/// One place a service is at: its postcodes (v3 `addresses[]`, v1 `physical_addresses[]`) and,
/// when the feed gives usable coordinates, its position.
struct Place {
    postcodes: Vec<String>,
    position: Option<Position>,
}

/// A coordinate as feeds send it: a number, or a number in a string.
fn degrees(v: &Value) -> Option<f64> {
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

/// The places of a service (`service_at_locations[].location`), with a problem for each
/// position that is not a point on the Earth: that place is kept without it, since its postcode
/// still finds the service and a wrong position would put it in the wrong town.
fn places(
    service: &Value,
    problem: &dyn Fn(&str, String) -> Problem,
) -> (Vec<Place>, Vec<Problem>) {
    let mut problems = Vec::new();
    let places = list(service, "service_at_locations")
        .enumerate()
        .filter_map(|(i, sal)| Some((i, sal.get("location")?)))
        .map(|(i, loc)| {
            let postcodes = list(loc, "addresses")
                .chain(list(loc, "physical_addresses"))
                .filter_map(|a| text(a, "postal_code"))
                .map(str::to_owned)
                .collect();
            let given = |key: &str| loc.get(key).filter(|v| !v.is_null());
            let at = format!("service_at_locations[{i}].location");
            let position = match (given("latitude"), given("longitude")) {
                (None, None) => None,
                (Some(lat), Some(long)) => match (degrees(lat), degrees(long)) {
                    (Some(lat), Some(long)) => match Position::new(lat, long) {
                        Ok(p) => Some(p),
                        Err(why) => {
                            problems.push(problem(
                                &format!("{at}.latitude"),
                                format!("{why}; the location is imported without its position"),
                            ));
                            None
                        }
                    },
                    _ => {
                        problems.push(problem(
                            &format!("{at}.latitude"),
                            format!("latitude {lat} and longitude {long} are not both numbers; the location is imported without its position"),
                        ));
                        None
                    }
                },
                (lat, _) => {
                    problems.push(problem(
                        &format!("{at}.{}", if lat.is_some() { "longitude" } else { "latitude" }),
                        "a position needs both latitude and longitude; the location is imported without its position".into(),
                    ));
                    None
                }
            };
            Place {
                postcodes,
                position,
            }
        })
        .collect();
    (places, problems)
}

/// The contained Locations of a service's places: one per postcode, each with its place's
/// position, or one with only the position for a place without a postcode.
fn contained_locations(places: &[Place]) -> Vec<Value> {
    places
        .iter()
        .flat_map(|place| {
            let position = place
                .position
                .map(|p| json!({"latitude": p.latitude, "longitude": p.longitude}));
            let mut locations: Vec<Value> = place
                .postcodes
                .iter()
                .map(|p| json!({"resourceType": "Location", "address": {"postalCode": p}}))
                .collect();
            if locations.is_empty() && position.is_some() {
                locations.push(json!({"resourceType": "Location"}));
            }
            if let Some(position) = position {
                for l in &mut locations {
                    l["position"] = position.clone();
                }
            }
            locations
        })
        .enumerate()
        .map(|(i, mut l)| {
            l["id"] = json!(format!("loc{i}"));
            l
        })
        .collect()
}

/// The provider: by ODS code when the feed gives one (an organisation identifier whose scheme
/// says ODS), else by a charity registration (scheme `GB-CHC`, `GB-SC` or `GB-NIC`), else by
/// the feed's organisation id, a Signpost-assigned identifier.
fn provided_by(service: &Value, base: &str) -> Option<Value> {
    let org = service.get("organization")?;
    let ods = list(org, "organization_identifiers").find_map(|i| {
        let scheme = text(i, "identifier_scheme")
            .unwrap_or_default()
            .to_ascii_uppercase();
        (scheme.contains("ODS") || scheme == "GB-NHS")
            .then(|| text(i, "identifier"))
            .flatten()
    });
    let charity = || {
        list(org, "organization_identifiers").find_map(|i| {
            let scheme = text(i, "identifier_scheme")?.to_ascii_uppercase();
            let number = text(i, "identifier")?;
            crate::directory::service::charity_from_org_id(&format!("{scheme}-{number}")).ok()
        })
    };
    let identifier = match (ods, charity()) {
        (Some(code), _) => json!({"system": ODS_SYSTEM, "value": code}),
        (None, Some((system, number))) => json!({"system": system, "value": number}),
        (None, None) => {
            json!({"system": format!("{}/organizations", base.trim_end_matches('/')), "value": text(org, "id")?})
        }
    };
    let mut reference = json!({"type": "Organization", "identifier": identifier});
    if let Some(name) = text(org, "name") {
        reference["display"] = json!(name);
    }
    Some(reference)
}

/// Whether a schedule time reads as `hh:mm:ss`.
fn is_time(v: &str) -> bool {
    ::time::Time::parse(
        v,
        ::time::macros::format_description!("[hour]:[minute]:[second]"),
    )
    .is_ok()
}

fn available_times(service: &Value) -> Vec<Value> {
    const DAYS: [(&str, &str); 7] = [
        ("MO", "mon"),
        ("TU", "tue"),
        ("WE", "wed"),
        ("TH", "thu"),
        ("FR", "fri"),
        ("SA", "sat"),
        ("SU", "sun"),
    ];
    list(service, "schedules")
        .filter_map(|s| {
            let days: Vec<&str> = text(s, "byday")?
                .split(',')
                .filter_map(|d| {
                    DAYS.iter()
                        .find(|(r, _)| d.trim().ends_with(r))
                        .map(|(_, f)| *f)
                })
                .collect();
            if days.is_empty() {
                return None;
            }
            let mut t = json!({"daysOfWeek": days});
            if let (Some(open), Some(close)) = (text(s, "opens_at"), text(s, "closes_at"))
                && is_time(open)
                && is_time(close)
            {
                t["availableStartTime"] = json!(open);
                t["availableEndTime"] = json!(close);
            }
            Some(t)
        })
        .collect()
}

/// Maps one full ORUK service record from the feed at `base` to a HealthcareService with the
/// problems of what was left out of it (a position that is not on the Earth), or says why it
/// cannot be used at all.
pub fn to_healthcare_service(
    service: &Value,
    base: &str,
) -> Result<(Value, Vec<Problem>), Vec<Problem>> {
    let record = text(service, "id").map(str::to_owned);
    let mut problems = Vec::new();
    let problem = |element: &str, message: String| Problem {
        record: record.clone(),
        element: element.into(),
        message,
    };
    if record.is_none() {
        problems.push(problem("id", "a service needs an id".into()));
    }
    let name = text(service, "name");
    if name.is_none() {
        problems.push(problem("name", "a service needs a name".into()));
    }
    let status = service.get("status").and_then(Value::as_str);
    match status {
        Some(s) if STATUSES.contains(&s) => {}
        Some(s) => problems.push(problem(
            "status",
            format!("\"{s}\" is not one of {}", STATUSES.join(", ")),
        )),
        None => problems.push(problem("status", "a service needs a status".into())),
    }
    let provider = provided_by(service, base);
    if provider.is_none() {
        problems.push(problem(
            "organization",
            "a service needs its organisation (with an id)".into(),
        ));
    }
    for (element, key) in [
        ("minimum_age", "minimum_age"),
        ("maximum_age", "maximum_age"),
    ] {
        if let Some(v) = service.get(key)
            && !v.is_null()
            && v.as_u64().is_none()
        {
            problems.push(problem(
                element,
                format!("{v} is not an age in whole years"),
            ));
        }
    }
    // What is sent but cannot be read is reported, never dropped or defaulted in silence.
    for (i, attribute) in list(service, "attributes").enumerate() {
        if let Some(term) = attribute.get("taxonomy_term")
            && text(term, "id").is_none()
        {
            problems.push(problem(
                &format!("attributes[{i}].taxonomy_term.id"),
                "a taxonomy term needs an id to be searched by".into(),
            ));
        }
    }
    for (i, schedule) in list(service, "schedules").enumerate() {
        let days = text(schedule, "byday").map(|d| {
            d.split(',').all(|day| {
                ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
                    .iter()
                    .any(|r| day.trim().ends_with(r))
            })
        });
        if days == Some(false) {
            problems.push(problem(
                &format!("schedules[{i}].byday"),
                "days are RRULE weekdays (MO,TU,...)".into(),
            ));
        }
        for key in ["opens_at", "closes_at"] {
            if let Some(t) = text(schedule, key)
                && !is_time(t)
            {
                problems.push(problem(
                    &format!("schedules[{i}].{key}"),
                    format!("\"{t}\" is not a time (hh:mm:ss)"),
                ));
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let (places, warnings) = places(service, &problem);
    let contained = contained_locations(&places);
    let (Some(id), Some(name), Some(provider)) = (record, name, provider) else {
        return Err(problems);
    };
    let mut hs = Map::new();
    hs.insert("resourceType".into(), json!("HealthcareService"));
    hs.insert(
        "identifier".into(),
        json!([{"system": service_system(base), "value": id}]),
    );
    hs.insert("active".into(), json!(status == Some("active")));
    hs.insert("providedBy".into(), provider);
    let codings = codings(service);
    if !codings.is_empty() {
        hs.insert("category".into(), json!([{"coding": codings}]));
        hs.insert("type".into(), json!([{"coding": [codings[0].clone()]}]));
    }
    hs.insert("name".into(), json!(name));
    if let Some(d) = text(service, "description") {
        hs.insert("comment".into(), json!(d));
    }
    if !contained.is_empty() {
        let refs: Vec<Value> = (0..contained.len())
            .map(|i| json!({"reference": format!("#loc{i}")}))
            .collect();
        hs.insert("contained".into(), Value::Array(contained));
        hs.insert("location".into(), Value::Array(refs));
    }
    let mut telecom = Vec::new();
    if let Some(e) = text(service, "email") {
        telecom.push(json!({"system": "email", "value": e}));
    }
    for phone in list(service, "contacts").flat_map(|c| list(c, "phones")) {
        if let Some(n) = text(phone, "number") {
            telecom.push(json!({"system": "phone", "value": n}));
        }
    }
    if !telecom.is_empty() {
        hs.insert("telecom".into(), Value::Array(telecom));
    }
    let mut eligibility = Vec::new();
    let ages = (
        service.get("minimum_age").and_then(Value::as_u64),
        service.get("maximum_age").and_then(Value::as_u64),
    );
    let age_text = match ages {
        (Some(a), Some(b)) => Some(format!("Ages {a} to {b}")),
        (Some(a), None) => Some(format!("Ages {a} and over")),
        (None, Some(b)) => Some(format!("Ages up to {b}")),
        (None, None) => None,
    };
    if let Some(t) = text(service, "eligibility_description")
        .map(str::to_owned)
        .or(age_text)
    {
        eligibility.push(json!({"comment": t}));
    }
    if !eligibility.is_empty() {
        hs.insert("eligibility".into(), Value::Array(eligibility));
    }
    let times = available_times(service);
    if !times.is_empty() {
        hs.insert("availableTime".into(), Value::Array(times));
    }
    if let Some(url) = text(service, "url") {
        hs.insert("extension".into(), json!([{"url": "https://signpost.example/fhir/StructureDefinition/service-website", "valueUrl": url}]));
    }
    Ok((Value::Object(hs), warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_comes_from_the_root_and_defaults_to_v1() {
        assert_eq!(detect_version(&json!({"version": "3.0"})), OrukVersion::V3);
        assert_eq!(
            detect_version(&json!({"version": "V3.0.1"})),
            OrukVersion::V3
        );
        assert_eq!(
            detect_version(&json!({"name": "a v1 feed"})),
            OrukVersion::V1
        );
    }

    #[test]
    fn both_page_shapes_are_read() {
        let v3 = json!({"total_items": 2, "total_pages": 2, "page_number": 1, "size": 1, "first_page": true, "last_page": false, "empty": false, "contents": [{"id": "a"}]});
        let page = read_page(&v3).expect("v3");
        assert_eq!((page.records.len(), page.last), (1, false));
        let v1 = json!({"totalElements": 2, "totalPages": 2, "number": 2, "size": 1, "first": false, "last": true, "content": [{"id": "b"}]});
        let page = read_page(&v1).expect("v1");
        assert_eq!((page.records.len(), page.last), (1, true));
        assert!(read_page(&json!({"items": []})).is_err());
    }

    #[test]
    fn unreadable_terms_and_schedules_are_problems_not_silently_dropped() {
        let record = json!({"id": "s1", "name": "Walk", "status": "active",
            "organization": {"id": "o1", "name": "Walkers"},
            "attributes": [{"taxonomy_term": {"name": "no id"}}],
            "schedules": [{"byday": "someday", "opens_at": "10am", "closes_at": "18:00:00"}]});
        let problems = to_healthcare_service(&record, "https://feed.test").expect_err("problems");
        let elements: Vec<&str> = problems.iter().map(|p| p.element.as_str()).collect();
        assert_eq!(
            elements,
            [
                "attributes[0].taxonomy_term.id",
                "schedules[0].byday",
                "schedules[0].opens_at"
            ]
        );
        assert!(problems.iter().all(|p| p.record.as_deref() == Some("s1")));
    }

    #[test]
    fn positions_are_kept_and_impossible_ones_reported() {
        let record = json!({"id": "s1", "name": "Walk", "status": "active",
        "organization": {"id": "o1", "name": "Walkers"},
        "service_at_locations": [
            {"location": {"latitude": 53.3781, "longitude": "-1.4620",
                "addresses": [{"postal_code": "S1 2AB"}]}},
            {"location": {"latitude": 100, "longitude": 101,
                "addresses": [{"postal_code": "S2 4SU"}]}},
            {"location": {"latitude": 53.4}},
            {"location": {"latitude": 53.39, "longitude": -1.47}}
        ]});
        let (hs, problems) = to_healthcare_service(&record, "https://feed.test").expect("valid");
        let elements: Vec<&str> = problems.iter().map(|p| p.element.as_str()).collect();
        assert_eq!(
            elements,
            [
                "service_at_locations[1].location.latitude",
                "service_at_locations[2].location.longitude"
            ]
        );
        assert!(problems[0].message.contains("latitude 100"), "{problems:?}");
        let contained = hs["contained"].as_array().expect("locations");
        assert_eq!(contained.len(), 3, "{contained:?}");
        assert_eq!(
            contained[0]["position"],
            json!({"latitude": 53.3781, "longitude": -1.462})
        );
        assert_eq!(contained[1]["address"]["postalCode"], "S2 4SU");
        assert!(
            contained[1].get("position").is_none(),
            "left out, not guessed"
        );
        assert!(contained[2].get("address").is_none());
        assert_eq!(contained[2]["position"]["latitude"], 53.39);
        assert_eq!(hs["location"].as_array().map(Vec::len), Some(3));
    }

    #[test]
    fn a_provider_with_only_a_charity_number_is_named_by_it() {
        let record = |scheme: &str| {
            json!({"id": "s1", "name": "Befriending", "status": "active",
                "organization": {"id": "o1", "name": "Northside",
                    "organization_identifiers": [{"identifier_scheme": scheme, "identifier": "1123456"}]}})
        };
        let (hs, _) = to_healthcare_service(&record("GB-CHC"), "https://feed.test").expect("valid");
        assert_eq!(
            hs["providedBy"]["identifier"],
            json!({"system": "https://org-id.guide/list/GB-CHC", "value": "1123456"})
        );
        // A company number is not a charity registration: the feed's own organisation id stands.
        let (hs, _) = to_healthcare_service(&record("GB-COH"), "https://feed.test").expect("valid");
        assert_eq!(
            hs["providedBy"]["identifier"],
            json!({"system": "https://feed.test/organizations", "value": "o1"})
        );
    }

    #[test]
    fn the_v1_page_as_its_openapi_defines_it() {
        // HSDS-UK-1.0 `page` schema: every field, first of two pages.
        let first = json!({"totalElements": 3, "totalPages": 2, "number": 1, "size": 2,
            "first": true, "last": false, "empty": false, "content": [{"id": "a"}, {"id": "b"}]});
        let page = read_page(&first).expect("v1");
        assert_eq!((page.records.len(), page.last), (2, false));
        // Without `last`, the page number against the page count decides (numbered from 1).
        let second = json!({"totalElements": 3, "totalPages": 2, "number": 2, "size": 2, "content": [{"id": "c"}]});
        assert!(read_page(&second).expect("v1").last);
        let middle = json!({"totalElements": 3, "totalPages": 2, "number": 1, "size": 2, "content": [{"id": "a"}]});
        assert!(!read_page(&middle).expect("v1").last);
        let empty = json!({"totalElements": 0, "totalPages": 0, "number": 1, "size": 0,
            "first": true, "last": true, "empty": true, "content": []});
        assert_eq!(read_page(&empty).expect("v1").records.len(), 0);
    }
}
