//! Search query strings: `a=b&c=d` parsed against the search-parameter table into a store query.

use percent_encoding::percent_decode_str;
use signpost_profiles::{IssueType, ODS_SYSTEM};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::ApiError;
use crate::directory::capacity::CapacityStatus;
use crate::directory::geo::{self, Near};
use crate::directory::service::{
    name_words, normalise_postcode, postcode_district, sortable_instant,
};
use crate::search_index::{Kind, SearchParam, params_for};
use crate::store::{Comparator, Criterion, Instant, SearchQuery, SortOrder, now};

/// Page size when the client gives no `_count`.
pub const DEFAULT_COUNT: usize = 20;
/// Largest page served.
pub const MAX_COUNT: usize = 100;

/// A parsed query string: the store query plus the pairs to echo in Bundle links.
#[derive(Debug)]
pub struct ParsedSearch {
    /// What the store runs.
    pub query: SearchQuery,
    /// The parameters used, decoded, in order (without `_offset`).
    pub used: Vec<(String, String)>,
    /// A directory search by distance: the store's query holds only the map cells around the
    /// point, and the workflow keeps, orders and pages the services within the distance.
    pub near: Option<Near>,
    /// A directory search by distance from a postcode (`postcode` with `distance`): the workflow
    /// finds where the postcode is, then searches as `near` does.
    pub near_postcode: Option<NearPostcode>,
}

/// `postcode=...&distance=...`: the postcode (normalised) and how far from it, in kilometres.
#[derive(Debug, Clone, PartialEq)]
pub struct NearPostcode {
    /// Upper case, one space before the inward code; or a district alone.
    pub postcode: String,
    /// How far, in kilometres.
    pub km: f64,
}

fn invalid_param(name: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(
        IssueType::Invalid,
        format!("search parameter {name}: {why}"),
    )
}

/// Parses `a=b&c=d` for a resource type. Unknown parameters are refused rather than ignored:
/// silently dropping a misspelt filter would return more than the caller asked for.
pub fn parse_search(resource_type: &str, raw_query: &str) -> Result<ParsedSearch, ApiError> {
    let params = params_for(resource_type).ok_or_else(|| {
        ApiError::not_found(format!("Signpost does not serve {resource_type} resources"))
    })?;
    let mut query = SearchQuery {
        resource_type: resource_type.to_owned(),
        criteria: Vec::new(),
        count: DEFAULT_COUNT,
        offset: 0,
        sort: SortOrder::default(),
    };
    let mut used = Vec::new();
    let mut near = None;
    let mut distance: Option<f64> = None;
    let mut postcode: Option<String> = None;
    for pair in raw_query.split('&').filter(|p| !p.is_empty()) {
        let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s: &str| {
            percent_decode_str(&s.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        };
        let (name, value) = (decode(raw_name), decode(raw_value));
        match name.as_str() {
            "_count" => {
                let n: usize = value
                    .parse()
                    .map_err(|_| invalid_param("_count", "must be a whole number"))?;
                query.count = n.min(MAX_COUNT);
            }
            "_offset" => {
                query.offset = value
                    .parse()
                    .map_err(|_| invalid_param("_offset", "must be a whole number"))?;
                continue;
            }
            "_sort" => {
                query.sort = match value.as_str() {
                    "_lastUpdated" => SortOrder::LastUpdatedAscending,
                    "-_lastUpdated" => SortOrder::LastUpdatedDescending,
                    _ => {
                        return Err(invalid_param(
                            "_sort",
                            "only _lastUpdated and -_lastUpdated are supported",
                        ));
                    }
                };
            }
            "_format" => {
                if !value.contains("json") {
                    return Err(invalid_param("_format", "Signpost speaks JSON only"));
                }
            }
            "_lastUpdated" => query.criteria.extend(last_updated(&value)?),
            // FHIR's chained spelling through HealthcareService.location means the same here.
            "near" | "location.near" if resource_type == "HealthcareService" => {
                if near.is_some() {
                    return Err(invalid_param(&name, "give one point to search near"));
                }
                let parsed = Near::parse(&value).map_err(|why| invalid_param(&name, why))?;
                near = Some(near_position(&mut query, parsed.centre, parsed.km));
            }
            // Not a FHIR parameter: with `postcode`, a search by distance from it.
            "distance" if resource_type == "HealthcareService" => {
                let (amount, unit) = match value.split_once('|') {
                    Some((d, u)) => (d, Some(u)),
                    None => (value.as_str(), None),
                };
                if amount.trim().is_empty() || distance.is_some() {
                    return Err(invalid_param(
                        "distance",
                        "give one distance, e.g. distance=5 (km) or distance=800|m",
                    ));
                }
                distance = Some(
                    geo::distance_km(Some(amount), unit)
                        .map_err(|why| invalid_param("distance", why))?,
                );
            }
            "postcode" if resource_type == "HealthcareService" => {
                postcode = Some(value.clone());
                query
                    .criteria
                    .extend(criterion(params, resource_type, &name, &value)?);
            }
            "location" if resource_type == "HealthcareService" => {
                return Err(invalid_param(
                    "location",
                    "a service's locations are contained in it, so they have no id to search by: \
                     search by distance with near=latitude|longitude|distance|unit \
                     (or location.near=...), or by postcode district with postcode=",
                ));
            }
            _ => query
                .criteria
                .extend(criterion(params, resource_type, &name, &value)?),
        }
        used.push((name, value));
    }
    let near_postcode = match (distance, postcode) {
        (None, _) => None,
        (Some(_), _) if near.is_some() => {
            return Err(invalid_param(
                "distance",
                "near carries its own distance; give distance only with postcode",
            ));
        }
        (Some(_), None) => {
            return Err(invalid_param(
                "distance",
                "is a distance from a postcode: give postcode= as well (or search near=latitude|longitude|distance|unit)",
            ));
        }
        (Some(km), Some(value)) => {
            let normalised = normalise_postcode(&value)
                .filter(|_| !value.contains(','))
                .ok_or_else(|| {
                    invalid_param(
                        "postcode",
                        format!("\"{value}\": give one UK postcode or district to search a distance from"),
                    )
                })?;
            // Within the distance, whatever district a service is in.
            query.criteria.retain(|c| {
                !matches!(
                    c,
                    Criterion::Index {
                        param: "postcode",
                        ..
                    }
                )
            });
            Some(NearPostcode {
                postcode: normalised,
                km,
            })
        }
    };
    Ok(ParsedSearch {
        query,
        used,
        near,
        near_postcode,
    })
}

/// The `near` search a postcode's position makes: the map cells around it, in `query`.
pub fn near_position(query: &mut SearchQuery, centre: geo::Position, km: f64) -> Near {
    query.criteria.push(Criterion::Index {
        param: geo::CELL_PARAM,
        any_of: geo::covering(&centre, km)
            .into_iter()
            .map(|c| (None, c))
            .collect(),
    });
    Near { centre, km }
}

fn criterion(
    params: &[SearchParam],
    resource_type: &str,
    name: &str,
    value: &str,
) -> Result<Vec<Criterion>, ApiError> {
    // A declared name wins (`subject:identifier`); otherwise the part after ':' is a modifier.
    let (base, modifier) = match name.split_once(':') {
        Some((b, m)) if !params.iter().any(|p| p.name == name) => (b, Some(m)),
        _ => (name, None),
    };
    let param = params.iter().find(|p| p.name == base).ok_or_else(|| {
        let known: Vec<&str> = params.iter().map(|p| p.name).collect();
        invalid_param(
            name,
            format!(
                "not supported for {resource_type}; supported: {}, _lastUpdated, _count, _sort",
                known.join(", ")
            ),
        )
    })?;
    if value.is_empty() {
        return Err(invalid_param(name, "needs a value"));
    }
    if modifier.is_some() && param.kind.computed() {
        return Err(invalid_param(
            name,
            "modifiers are not supported on this parameter",
        ));
    }
    match param.kind {
        Kind::Capacity => return capacity_criteria(name, value),
        Kind::Words => {
            return Ok(vec![Criterion::Index {
                param: param.name,
                any_of: value
                    .split(',')
                    .map(|alt| {
                        let words = name_words(alt);
                        match words.as_slice() {
                            [word] => Ok((None, word.clone())),
                            _ => Err(invalid_param(
                                name,
                                format!("\"{alt}\": give one word of the name (alternatives with a comma)"),
                            )),
                        }
                    })
                    .collect::<Result<_, _>>()?,
            }]);
        }
        Kind::Postcode => {
            return Ok(vec![Criterion::Index {
                param: param.name,
                any_of: value
                    .split(',')
                    .map(|alt| {
                        postcode_district(alt).map(|d| (None, d)).ok_or_else(|| {
                            invalid_param(
                                name,
                                format!("\"{alt}\" is not a UK postcode or postcode district"),
                            )
                        })
                    })
                    .collect::<Result<_, _>>()?,
            }]);
        }
        _ => {}
    }
    let any_of = value
        .split(',')
        .map(|alt| match (param.kind, modifier) {
            (Kind::Extension(_), None) => Ok((None, alt.to_owned())),
            (Kind::Token, None) => Ok(match alt.split_once('|') {
                Some((system, code)) => (Some(system.to_owned()), code.to_owned()),
                None => (None, alt.to_owned()),
            }),
            // Organisations are keyed by ODS code, so `:identifier` with the ODS system is the same search.
            (Kind::Reference("Organization"), Some("identifier")) => match alt.split_once('|') {
                Some((ODS_SYSTEM, code)) | Some(("", code)) => {
                    Ok((None, format!("Organization/{code}")))
                }
                _ => Err(invalid_param(
                    name,
                    format!("organisations are identified by {ODS_SYSTEM}|CODE"),
                )),
            },
            (Kind::Reference(target), None) => {
                let r = alt.split("/_history/").next().unwrap_or(alt);
                let mut parts = r.rsplit('/');
                let id = parts.next().unwrap_or_default();
                let rtype = parts.next().unwrap_or(target);
                Ok((None, format!("{rtype}/{id}")))
            }
            (_, Some(m)) => Err(invalid_param(
                name,
                format!("modifier :{m} is not supported"),
            )),
            (Kind::Words | Kind::Postcode | Kind::Capacity | Kind::Near, None) => {
                Err(invalid_param(name, "is computed, not a plain token"))
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(vec![Criterion::Index {
        param: param.name,
        any_of,
    }])
}

/// `capacity=capacity,waitlist`: declared so and not expired; `capacity=unknown`: nothing
/// declared that still holds. The two cannot be mixed in one parameter.
fn capacity_criteria(name: &str, value: &str) -> Result<Vec<Criterion>, ApiError> {
    let statuses = value
        .split(',')
        .map(|alt| {
            let code = alt.rsplit('|').next().unwrap_or(alt);
            CapacityStatus::parse(code).ok_or_else(|| {
                let codes: Vec<&str> = CapacityStatus::ALL.iter().map(|s| s.code()).collect();
                invalid_param(
                    name,
                    format!("\"{alt}\" is not one of {}", codes.join(", ")),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let fresh_from = sortable_instant(now());
    let unknown = statuses.contains(&CapacityStatus::Unknown);
    if unknown && statuses.len() > 1 {
        return Err(invalid_param(
            name,
            "unknown cannot be combined with other statuses; search them separately",
        ));
    }
    if unknown {
        return Ok(vec![Criterion::IndexedFrom {
            param: "capacity-until",
            from: fresh_from,
            present: false,
        }]);
    }
    Ok(vec![
        Criterion::Index {
            param: "capacity",
            any_of: statuses
                .iter()
                .map(|s| (Some(s.system().to_owned()), s.code().to_owned()))
                .collect(),
        },
        Criterion::IndexedFrom {
            param: "capacity-until",
            from: fresh_from,
            present: true,
        },
    ])
}

/// `_lastUpdated=gt2026-11-20T10:00:00Z`; a bare date covers that whole day.
fn last_updated(value: &str) -> Result<Vec<Criterion>, ApiError> {
    let (prefix, rest) =
        if value.len() > 2 && value.as_bytes()[..2].iter().all(u8::is_ascii_alphabetic) {
            value.split_at(2)
        } else {
            ("eq", value)
        };
    let bad = || {
        invalid_param(
            "_lastUpdated",
            "use [prefix]YYYY-MM-DD or [prefix]YYYY-MM-DDThh:mm:ss(.sss)Z with prefix eq, gt, ge, lt or le",
        )
    };
    let (start, end) = if rest.len() == 10 {
        let date = time::Date::parse(
            rest,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .map_err(|_| bad())?;
        let start = Instant::from_datetime(date.midnight().assume_utc());
        (start, start.plus_millis(24 * 3600 * 1000))
    } else {
        let t = Instant::from_datetime(OffsetDateTime::parse(rest, &Rfc3339).map_err(|_| bad())?);
        (t, Instant(t.0 + 1))
    };
    Ok(match prefix {
        "eq" => vec![
            Criterion::LastUpdated(Comparator::GreaterOrEqual, start),
            Criterion::LastUpdated(Comparator::Less, end),
        ],
        "gt" => vec![Criterion::LastUpdated(Comparator::GreaterOrEqual, end)],
        "ge" => vec![Criterion::LastUpdated(Comparator::GreaterOrEqual, start)],
        "lt" => vec![Criterion::LastUpdated(Comparator::Less, start)],
        "le" => vec![Criterion::LastUpdated(Comparator::Less, end)],
        _ => return Err(bad()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_owner_status_alternatives_and_paging() {
        let parsed = parse_search(
            "Task",
            "owner=Organization/LWS001&status=requested,accepted&_count=5&_offset=10",
        )
        .expect("valid");
        assert_eq!(parsed.query.count, 5);
        assert_eq!(parsed.query.offset, 10);
        assert_eq!(
            parsed.query.criteria[1],
            Criterion::Index {
                param: "status",
                any_of: vec![(None, "requested".into()), (None, "accepted".into())]
            }
        );
        assert_eq!(parsed.used.len(), 3, "_offset is not echoed");
    }

    #[test]
    fn bare_ids_full_urls_and_ods_identifiers_mean_the_same_organisation() {
        for q in [
            "owner=LWS001",
            "owner=Organization/LWS001",
            "owner=http://127.0.0.1:8080/fhir/Organization/LWS001",
            "owner:identifier=https://fhir.nhs.uk/Id/ods-organization-code|LWS001",
        ] {
            let parsed = parse_search("Task", q).expect(q);
            assert_eq!(
                parsed.query.criteria,
                vec![Criterion::Index {
                    param: "owner",
                    any_of: vec![(None, "Organization/LWS001".into())]
                }],
                "{q}"
            );
        }
    }

    #[test]
    fn subject_identifier_is_a_token_with_system() {
        let parsed = parse_search(
            "ServiceRequest",
            "subject:identifier=https://fhir.nhs.uk/Id/nhs-number|9434765919",
        )
        .expect("valid");
        assert_eq!(
            parsed.query.criteria,
            vec![Criterion::Index {
                param: "subject:identifier",
                any_of: vec![(
                    Some("https://fhir.nhs.uk/Id/nhs-number".into()),
                    "9434765919".into()
                )]
            }]
        );
    }

    #[test]
    fn unknown_parameters_and_bad_values_are_refused() {
        for q in [
            "colour=red",
            "_count=many",
            "_sort=status",
            "_lastUpdated=yesterday",
            "status=",
            "owner:missing=true",
        ] {
            let err = parse_search("Task", q).expect_err(q);
            assert_eq!(err.status, axum::http::StatusCode::BAD_REQUEST, "{q}");
        }
    }

    #[test]
    fn last_updated_prefixes_bound_the_range() {
        let parsed = parse_search(
            "Task",
            "_lastUpdated=gt2026-11-20T10:00:00Z&_lastUpdated=lt2026-11-21",
        )
        .expect("valid");
        assert_eq!(parsed.query.criteria.len(), 2);
        assert!(matches!(
            parsed.query.criteria[0],
            Criterion::LastUpdated(Comparator::GreaterOrEqual, _)
        ));
        assert!(matches!(
            parsed.query.criteria[1],
            Criterion::LastUpdated(Comparator::Less, _)
        ));
    }
}
