//! A directory entry: what Signpost reads from a HealthcareService (its provider, categories,
//! area) and the search values it is found by beyond the plain element paths.

use serde_json::Value;
use signpost_profiles::{ODS_SYSTEM, OdsCode};

use super::{capacity, geo};
use crate::store::{IndexEntry, Instant};

/// Search value of `capacity-until` for a declaration without expiry.
const NEVER_EXPIRES: &str = "99999999999999999999";

/// An instant as a search value that sorts as text the way it sorts as time.
pub fn sortable_instant(at: Instant) -> String {
    format!("{:020}", at.0.max(0))
}

/// The postcode district (outward code) a postcode or district is in: `S1 2AB` and `s12ab` are
/// both `S1`. `None` if it is not shaped like a UK postcode or district.
pub fn postcode_district(postcode: &str) -> Option<String> {
    let compact: String = postcode
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if !(2..=7).contains(&compact.len()) || !compact.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    if !compact.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    // A full postcode ends in an inward code of digit + two letters; the rest is the district.
    let inward = compact.len() >= 5 && {
        let tail: Vec<char> = compact.chars().rev().take(3).collect();
        tail[0].is_ascii_alphabetic() && tail[1].is_ascii_alphabetic() && tail[2].is_ascii_digit()
    };
    let district = if inward {
        &compact[..compact.len() - 3]
    } else {
        &compact[..]
    };
    (2..=4)
        .contains(&district.len())
        .then(|| district.to_owned())
}

/// A UK postcode or district as written canonically: upper case, one space before the inward
/// code (`s1  2ab` is `S1 2AB`, `s12ab` too; a district stays `S1`), or `None` if it is neither.
pub fn normalise_postcode(postcode: &str) -> Option<String> {
    let district = postcode_district(postcode)?;
    let compact: String = postcode
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    Some(match compact.get(district.len()..) {
        Some(inward) if !inward.is_empty() => format!("{district} {inward}"),
        _ => district,
    })
}

/// The UK charity registers, by their org-id.guide scheme code (the codes Open Referral UK's
/// `organization_identifiers[].identifier_scheme` uses), and the identifier system Signpost
/// gives each: the register's org-id.guide list.
pub const CHARITY_REGISTERS: [(&str, &str); 3] = [
    ("GB-CHC", "https://org-id.guide/list/GB-CHC"),
    ("GB-SC", "https://org-id.guide/list/GB-SC"),
    ("GB-NIC", "https://org-id.guide/list/GB-NIC"),
];

/// A charity registration: (identifier system, registered number).
pub type CharityId = (String, String);

/// Reads an org-id such as `GB-CHC-1123456` as a charity registration, or says why not.
pub fn charity_from_org_id(org_id: &str) -> Result<CharityId, String> {
    CHARITY_REGISTERS
        .iter()
        .find_map(|(scheme, system)| {
            let number = org_id.strip_prefix(scheme)?.strip_prefix('-')?;
            (!number.is_empty() && number.chars().all(|c| c.is_ascii_alphanumeric()))
                .then(|| ((*system).to_owned(), number.to_owned()))
        })
        .ok_or_else(|| {
            format!(
                "\"{org_id}\" is not a charity org-id: {}, then the registered number",
                CHARITY_REGISTERS.map(|(s, _)| s).join(", ")
            )
        })
}

/// The provider's charity registration, when `providedBy.identifier` names one.
pub fn charity_provider(service: &Value) -> Option<CharityId> {
    let identifier = service.pointer("/providedBy/identifier")?;
    let system = identifier.get("system").and_then(Value::as_str)?;
    let value = identifier.get("value").and_then(Value::as_str)?;
    CHARITY_REGISTERS
        .iter()
        .any(|(_, s)| *s == system)
        .then(|| (system.to_owned(), value.to_owned()))
}

/// The organisation providing the service, by ODS code (`providedBy.identifier`).
pub fn provider(service: &Value) -> Option<OdsCode> {
    let identifier = service.pointer("/providedBy/identifier")?;
    if identifier.get("system").and_then(Value::as_str) != Some(ODS_SYSTEM) {
        return None;
    }
    OdsCode::parse(identifier.get("value")?.as_str()?).ok()
}

/// Whether the service is active (an absent `active` counts as active, as FHIR's default).
pub fn is_active(service: &Value) -> bool {
    service.get("active").and_then(Value::as_bool) != Some(false)
}

/// The `system|code` pairs of the service's categories.
pub fn categories(service: &Value) -> Vec<(String, String)> {
    codings(service, "category")
}

fn codings(service: &Value, element: &str) -> Vec<(String, String)> {
    service
        .get(element)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|cc| cc.get("coding").and_then(Value::as_array))
        .flatten()
        .filter_map(|c| {
            let code = c.get("code").and_then(Value::as_str)?;
            let system = c.get("system").and_then(Value::as_str).unwrap_or_default();
            Some((system.to_owned(), code.to_owned()))
        })
        .collect()
}

/// The postcode districts the service is at or covers: the postcodes of its contained
/// Locations named in `location` or `coverageArea`.
pub fn districts(service: &Value) -> Vec<String> {
    let contained: Vec<&Value> = service
        .get("contained")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    let mut out: Vec<String> = ["location", "coverageArea"]
        .iter()
        .filter_map(|e| service.get(*e).and_then(Value::as_array))
        .flatten()
        .filter_map(|r| {
            r.get("reference")
                .and_then(Value::as_str)?
                .strip_prefix('#')
        })
        .filter_map(|id| {
            contained
                .iter()
                .find(|c| c.get("id").and_then(Value::as_str) == Some(id))
        })
        .filter_map(|loc| loc.pointer("/address/postalCode").and_then(Value::as_str))
        .filter_map(postcode_district)
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The words of a name as searched: lower case, letters and digits only.
pub fn name_words(name: &str) -> Vec<String> {
    name.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn entry(param: &'static str, system: &str, value: String) -> IndexEntry {
    IndexEntry {
        param,
        system: system.to_owned(),
        value,
    }
}

/// The search values of a HealthcareService that are not a plain element path: name words,
/// postcode districts, the map cells of its locations' positions and the declared capacity
/// with its expiry.
pub fn index_entries(service: &Value) -> Vec<IndexEntry> {
    let mut entries: Vec<IndexEntry> = service
        .get("name")
        .and_then(Value::as_str)
        .map(name_words)
        .unwrap_or_default()
        .into_iter()
        .map(|w| entry("name", "", w))
        .collect();
    entries.extend(
        districts(service)
            .into_iter()
            .map(|d| entry("postcode", "", d)),
    );
    let mut cells: Vec<String> = geo::positions(service)
        .iter()
        .flat_map(geo::cells)
        .collect();
    cells.sort();
    cells.dedup();
    entries.extend(cells.into_iter().map(|c| entry(geo::CELL_PARAM, "", c)));
    // An unreadable declaration is refused on write; one that slipped in counts as unknown.
    if let Ok(Some(declared)) = capacity::read(service)
        && declared.status != capacity::CapacityStatus::Unknown
    {
        entries.push(entry(
            "capacity",
            declared.status.system(),
            declared.status.code().to_owned(),
        ));
        entries.push(entry(
            "capacity-until",
            "",
            declared
                .expires
                .map_or_else(|| NEVER_EXPIRES.to_owned(), sortable_instant),
        ));
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn postcodes_and_districts_share_a_district() {
        for (given, want) in [
            ("S1 2AB", Some("S1")),
            ("s12ab", Some("S1")),
            ("SW1A 1AA", Some("SW1A")),
            ("M1", Some("M1")),
            ("LS6", Some("LS6")),
            ("12345", None),
            ("", None),
        ] {
            assert_eq!(postcode_district(given).as_deref(), want, "{given}");
        }
    }

    #[test]
    fn postcodes_are_normalised_to_upper_case_and_one_space() {
        assert_eq!(normalise_postcode("s1  2ab").as_deref(), Some("S1 2AB"));
        assert_eq!(normalise_postcode("S12AB").as_deref(), Some("S1 2AB"));
        assert_eq!(
            normalise_postcode(" sw1a 1aa ").as_deref(),
            Some("SW1A 1AA")
        );
        assert_eq!(normalise_postcode("s1").as_deref(), Some("S1"));
        assert_eq!(normalise_postcode("ABC 1234"), None);
    }

    #[test]
    fn districts_come_from_contained_locations_and_coverage() {
        let service = json!({"resourceType": "HealthcareService",
            "contained": [
                {"resourceType": "Location", "id": "hall", "address": {"postalCode": "S1 2AB"}},
                {"resourceType": "Location", "id": "area", "address": {"postalCode": "S2"}},
                {"resourceType": "Location", "id": "unused", "address": {"postalCode": "M1 1AA"}}
            ],
            "location": [{"reference": "#hall"}],
            "coverageArea": [{"reference": "#area"}]});
        assert_eq!(districts(&service), ["S1", "S2"]);
    }

    #[test]
    fn charity_org_ids_name_their_register() {
        assert_eq!(
            charity_from_org_id("GB-CHC-1123456"),
            Ok(("https://org-id.guide/list/GB-CHC".into(), "1123456".into()))
        );
        assert_eq!(
            charity_from_org_id("GB-SC-SC012345").map(|c| c.1),
            Ok("SC012345".into())
        );
        for bad in ["GB-COH-01234567", "GB-CHC-", "1123456", "GB-CHC-12 34"] {
            assert!(charity_from_org_id(bad).is_err(), "{bad}");
        }
        let service = json!({"providedBy": {"identifier": {"system": "https://org-id.guide/list/GB-NIC", "value": "100123"}}});
        assert_eq!(
            charity_provider(&service),
            Some(("https://org-id.guide/list/GB-NIC".into(), "100123".into()))
        );
        assert_eq!(provider(&service), None, "not an ODS code");
    }

    #[test]
    fn names_are_found_by_any_word() {
        assert_eq!(
            name_words("Men's Shed — Riverside"),
            ["men", "s", "shed", "riverside"]
        );
    }
}
