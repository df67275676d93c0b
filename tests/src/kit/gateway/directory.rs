//! Checks of the service directory and its capacity rules: the directory is open to every party,
//! capacity is written in HL7 Gravity's 3.0.0 codes and never shown as room once stale, and an
//! onward referral to a full service is refused with alternatives.

use serde_json::{Value, json};

use super::{GatewayContext, version};
use crate::kit::check::{Body, fail};
use crate::kit::http::shorten;
use crate::kit::runner::skip;

/// Gravity's (SDOH Clinical Care 3.0.0) capacity-status extension.
const CAPACITY_URL: &str = "http://hl7.org/fhir/us/sdoh-clinicalcare/StructureDefinition/SDOHCC-ExtensionHealthcareServiceCapacityStatus";
/// Gravity's capacity codes, pinned to 3.0.0.
const GRAVITY_CODES: [&str; 4] = [
    "capacity",
    "no-capacity",
    "waitlist",
    "additional-assessment-required",
];

/// The capacity code a HealthcareService carries, if any.
fn capacity_code(service: &Value) -> Option<String> {
    service["extension"]
        .as_array()?
        .iter()
        .find(|e| e["url"] == CAPACITY_URL)?["extension"]
        .as_array()?
        .iter()
        .find(|e| e["url"] == "capacityStatus")?["valueCodeableConcept"]["coding"][0]["code"]
        .as_str()
        .map(str::to_owned)
}

fn entries(bundle: &Value) -> Vec<Value> {
    bundle["entry"]
        .as_array()
        .map(|a| a.iter().map(|e| e["resource"].clone()).collect())
        .unwrap_or_default()
}

/// `directory.search-any-party`
pub fn search_any_party(cx: &GatewayContext) -> Body<'_> {
    Box::pin(async move {
        let answer = cx.get(&cx.parties.gp, "HealthcareService?_count=5").await?;
        answer.expect_status(200, "the GP system searches the directory")?;
        let bundle = answer.json();
        if bundle["resourceType"] != "Bundle" || bundle["type"] != "searchset" {
            return Err(fail(
                "a searchset Bundle of HealthcareService",
                shorten(&answer.body),
            ));
        }
        if entries(&bundle)
            .iter()
            .any(|r| r["resourceType"] != "HealthcareService")
        {
            return Err(fail(
                "only HealthcareService entries",
                shorten(&answer.body),
            ));
        }
        Ok(())
    })
}

/// `directory.capacity-codes`
pub fn capacity_codes(cx: &GatewayContext) -> Body<'_> {
    Box::pin(async move {
        let answer = cx
            .get(&cx.parties.gp, "HealthcareService?_count=100")
            .await?;
        answer.expect_status(200, "the directory")?;
        for service in entries(&answer.json()) {
            if let Some(code) = capacity_code(&service)
                && !GRAVITY_CODES.contains(&code.as_str())
                && code != "unknown"
            {
                return Err(fail(
                    "capacity codes from SDOH Clinical Care 3.0.0 (or unknown)",
                    format!("HealthcareService/{} says {code}", service["id"]),
                ));
            }
        }
        let with_room = cx
            .get(
                &cx.parties.gp,
                "HealthcareService?capacity=capacity&_count=100",
            )
            .await?;
        with_room.expect_status(200, "services with room")?;
        for service in entries(&with_room.json()) {
            if capacity_code(&service).as_deref() != Some("capacity") {
                return Err(fail(
                    "every service found by capacity=capacity shows capacity (a stale declaration is unknown)",
                    format!(
                        "HealthcareService/{} shows {:?}",
                        service["id"],
                        capacity_code(&service)
                    ),
                ));
            }
        }
        Ok(())
    })
}

/// `directory.full-service-refused`
pub fn full_service_refused(cx: &GatewayContext) -> Body<'_> {
    Box::pin(async move {
        let lw = cx.link_worker()?;
        let full = cx
            .get(
                lw,
                "HealthcareService?capacity=no-capacity&active=true&_count=1",
            )
            .await?;
        full.expect_status(200, "a full service")?;
        let Some(service) = entries(&full.json()).into_iter().next() else {
            return Err(skip("the directory holds no full service to refer to"));
        };
        let (sr, task) = cx.refer().await?;
        let mut current = cx
            .get(
                lw,
                &format!("Task/{}", task["id"].as_str().unwrap_or_default()),
            )
            .await?
            .expect_status(200, "the link worker reads its Task")?
            .json();
        current["status"] = json!("accepted");
        cx.put_task(lw, &current, version(&current))
            .await?
            .expect_status(200, "the link worker accepts")?;
        let mut onward = cx.referral(lw);
        onward["performer"] = json!([{"reference": format!("HealthcareService/{}", service["id"].as_str().unwrap_or_default())}]);
        onward["basedOn"] = json!([{"reference": format!("ServiceRequest/{}", sr["id"].as_str().unwrap_or_default())}]);
        onward["intent"] = json!("filler-order");
        let refused = cx.post_referral(lw, &onward, None).await?;
        refused.expect_status(409, "an onward referral to a full service")?;
        let outcome = refused.json();
        let issues = outcome["issue"].as_array().cloned().unwrap_or_default();
        let first_at = issues
            .first()
            .and_then(|i| i["expression"][0].as_str())
            .unwrap_or_default();
        if outcome["resourceType"] != "OperationOutcome"
            || !first_at.starts_with("ServiceRequest.performer")
        {
            return Err(fail(
                "an OperationOutcome whose first issue points at ServiceRequest.performer",
                shorten(&refused.body),
            ));
        }
        if issues.len() > 6 || issues[1..].iter().any(|i| i["severity"] != "information") {
            return Err(fail(
                "at most five alternatives, each an information issue",
                shorten(&refused.body),
            ));
        }
        Ok(())
    })
}

/// Great-circle distance in km between two WGS84 points (haversine, mean Earth radius): the
/// kit's own, so it checks the gateway's answer rather than repeating its code.
fn distance_km((lat1, lon1): (f64, f64), (lat2, lon2): (f64, f64)) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let a = ((p2 - p1) / 2.0).sin().powi(2)
        + p1.cos() * p2.cos() * ((lon2 - lon1).to_radians() / 2.0).sin().powi(2);
    2.0 * 6371.0088 * a.sqrt().min(1.0).asin()
}

/// The positions of the contained Locations a service names in `location`.
fn positions(service: &Value) -> Vec<(f64, f64)> {
    let contained = service["contained"].as_array().cloned().unwrap_or_default();
    service["location"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| {
            r["reference"]
                .as_str()?
                .strip_prefix('#')
                .map(str::to_owned)
        })
        .filter_map(|id| contained.iter().find(|c| c["id"] == id.as_str()).cloned())
        .filter_map(|l| {
            Some((
                l["position"]["latitude"].as_f64()?,
                l["position"]["longitude"].as_f64()?,
            ))
        })
        .collect()
}

/// `directory.near`
pub fn near(cx: &GatewayContext) -> Body<'_> {
    Box::pin(async move {
        let metadata = cx.get(&cx.parties.gp, "metadata").await?;
        metadata.expect_status(200, "the CapabilityStatement")?;
        let declared = metadata.json()["rest"][0]["resource"]
            .as_array()
            .and_then(|r| r.iter().find(|r| r["type"] == "HealthcareService"))
            .and_then(|hs| hs["searchParam"].as_array())
            .is_some_and(|p| p.iter().any(|p| p["name"] == "near"));
        if !declared {
            return Err(skip(
                "the CapabilityStatement declares no near search on HealthcareService",
            ));
        }
        // Latitude 100 is not on the Earth (the Open Referral UK example carries it).
        let bad = cx
            .get(&cx.parties.gp, "HealthcareService?near=100|101|5|km")
            .await?;
        bad.expect_status(400, "a near search from latitude 100")?;
        let outcome = bad.json();
        let diagnostics = outcome["issue"][0]["diagnostics"]
            .as_str()
            .unwrap_or_default();
        if outcome["resourceType"] != "OperationOutcome" || !diagnostics.contains("near") {
            return Err(fail(
                "an OperationOutcome naming the near parameter",
                shorten(&bad.body),
            ));
        }
        // Central Sheffield, 25 km: every service found has a location that close, nearest first.
        let centre = (53.3801, -1.4701);
        let found = cx
            .get(
                &cx.parties.gp,
                "HealthcareService?near=53.3801|-1.4701|25|km&_count=100",
            )
            .await?;
        found.expect_status(200, "a near search")?;
        let mut last = 0.0;
        for service in entries(&found.json()) {
            let nearest = positions(&service)
                .into_iter()
                .map(|p| distance_km(p, centre))
                .min_by(f64::total_cmp);
            match nearest {
                Some(km) if km <= 25.0 + 1e-6 && km + 1e-6 >= last => last = km,
                other => {
                    return Err(fail(
                        "services with a location within 25 km, nearest first",
                        format!(
                            "HealthcareService/{} is at {other:?} km after one at {last:.3} km",
                            service["id"]
                        ),
                    ));
                }
            }
        }
        Ok(())
    })
}
