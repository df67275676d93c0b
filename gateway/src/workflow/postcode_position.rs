//! Where a postcode is, from the directory's own data: Signpost holds no postcode gazetteer, but
//! the services' locations carry both a postcode and a position. A full postcode is where the
//! locations at it are; failing that (or for a district alone), the middle of the located places
//! in its district.

use serde_json::Value;

use super::WorkflowError;
use crate::directory::geo::{Position, centroid, located};
use crate::directory::service::{normalise_postcode, postcode_district};
use crate::store::{Criterion, ResourceStore, SearchQuery, SortOrder, StoreError};

/// Services read a page at a time while looking for a district's located places.
const PAGE: usize = 500;

/// The position of `postcode` (normalised: upper case, one space; or a district alone), or a
/// 400-kind error saying the directory does not know where it is.
pub async fn locate(store: &dyn ResourceStore, postcode: &str) -> Result<Position, WorkflowError> {
    let unknown = |why: String| WorkflowError::Invalid {
        message: format!(
            "search parameter postcode: {why}, so Signpost cannot tell where it is; search by \
             near=latitude|longitude|distance|unit instead"
        ),
        at: "postcode".into(),
    };
    let district = postcode_district(postcode)
        .ok_or_else(|| unknown(format!("\"{postcode}\" is not a UK postcode or district")))?;
    let full = postcode != district;
    let mut exact: Vec<Position> = Vec::new();
    let mut around: Vec<Position> = Vec::new();
    let mut offset = 0;
    loop {
        // Every service at or covering the district; only the ones located in it count.
        let page = store
            .search(&SearchQuery {
                resource_type: "HealthcareService".into(),
                criteria: vec![Criterion::Index {
                    param: "postcode",
                    any_of: vec![(None, district.clone())],
                }],
                count: PAGE,
                offset,
                sort: SortOrder::default(),
            })
            .await?;
        for stored in &page.resources {
            let service: Value = serde_json::from_str(stored.body.get()).map_err(|e| {
                StoreError::Corrupt(format!("HealthcareService/{} is not JSON: {e}", stored.id))
            })?;
            for (at, position) in located(&service) {
                let Some(at) = at.and_then(normalise_postcode) else {
                    continue;
                };
                if full && at == postcode {
                    exact.push(position);
                }
                if postcode_district(&at).as_deref() == Some(district.as_str()) {
                    around.push(position);
                }
            }
        }
        if page.resources.len() < PAGE {
            break;
        }
        offset += PAGE;
    }
    // Several services at one hall count once: the middle of places, not of services.
    for points in [&mut exact, &mut around] {
        points.sort_by(|a, b| {
            a.latitude
                .total_cmp(&b.latitude)
                .then(a.longitude.total_cmp(&b.longitude))
        });
        points.dedup();
    }
    centroid(&exact).or_else(|| centroid(&around)).ok_or_else(|| {
        unknown(if full {
            format!(
                "no service in the directory has a location with a position at {postcode} or \
                 elsewhere in {district}"
            )
        } else {
            format!(
                "no service in the directory has a location with a position in the district {district}"
            )
        })
    })
}
