//! The checks a gateway must pass, in the order they run.

use serde_json::{Value, json};

use super::{FHIR_JSON, GatewayContext, ODS, issues, version};
use crate::keys::{ClientKey, KeyAlgorithm};
use crate::kit::check::{Body, Check, fail};
use crate::kit::http::shorten;
use crate::smart::{AssertionClaims, request_token_raw};

/// Every gateway check.
pub static CHECKS: &[Check<GatewayContext>] = &[
    Check {
        id: "metadata.capability-statement",
        title: "GET /metadata answers a FHIR R4 CapabilityStatement offering referral create",
        requirement: "FHIR R4 RESTful API 3.1.0.3 capabilities; README, HTTP API",
        run: capability_statement,
    },
    Check {
        id: "smart.discovery",
        title: "SMART configuration at the FHIR base names the token endpoint and private_key_jwt",
        requirement: "SMART App Launch 2 (Backend Services): .well-known/smart-configuration",
        run: smart_discovery,
    },
    Check {
        id: "auth.token",
        title: "a registered client's signed assertion gets a bearer access token",
        requirement: "SMART Backend Services: token request (client_credentials, private_key_jwt)",
        run: token_issued,
    },
    Check {
        id: "auth.unregistered-key-refused",
        title: "an assertion signed with a key the gateway does not hold is refused",
        requirement: "SMART Backend Services / RFC 6749 section 5.2: invalid_client",
        run: unregistered_key,
    },
    Check {
        id: "auth.no-token",
        title: "a request without a token is 401 with an OperationOutcome",
        requirement: "README, Security: every endpoint token-secured",
        run: no_token,
    },
    Check {
        id: "intake.referral-creates-task",
        title: "a valid referral is 201 with Location and ETag, and a requested Task for the link worker",
        requirement: "README, The referral journey; HL7 Gravity SDOH referral Task",
        run: referral_creates_task,
    },
    Check {
        id: "intake.bad-nhs-number",
        title: "an NHS number with a wrong check digit is 422 naming the element",
        requirement: "NHS number modulus 11; UK Core Patient identifier; README, Errors (422)",
        run: bad_nhs_number,
    },
    Check {
        id: "intake.unknown-element",
        title: "an element FHIR R4 does not define is 400 structure naming it",
        requirement: "FHIR R4 JSON representation; README, Errors (400)",
        run: unknown_element,
    },
    Check {
        id: "intake.missing-requester",
        title: "a referral without a requester is 422 required",
        requirement: "Signpost ServiceRequest profile: requester 1..1",
        run: missing_requester,
    },
    Check {
        id: "intake.if-none-exist",
        title: "a repeated conditional create returns the first referral, not a second",
        requirement: "FHIR R4 conditional create (If-None-Exist); README, HTTP API",
        run: if_none_exist,
    },
    Check {
        id: "tenancy.vcs-cannot-read-gp-referral",
        title: "a VCS provider not party to a referral cannot read it",
        requirement: "README, Security: organisations see only referrals they are party to",
        run: vcs_cannot_read,
    },
    Check {
        id: "tenancy.requester-is-caller",
        title: "a client cannot refer on behalf of another organisation",
        requirement: "README, Security: requester must be the caller's organisation (403)",
        run: requester_is_caller,
    },
    Check {
        id: "update.if-match-required",
        title: "a Task update without If-Match is 428",
        requirement: "FHIR R4 versioned update; README, HTTP API",
        run: if_match_required,
    },
    Check {
        id: "update.stale-if-match",
        title: "a Task update on a stale version is 412 and changes nothing",
        requirement: "FHIR R4 managing resource contention (If-Match, 412)",
        run: stale_if_match,
    },
    Check {
        id: "workflow.forbidden-transition",
        title: "a Task cannot jump from requested to completed",
        requirement: "FHIR R4 Task state machine; README, The referral journey",
        run: forbidden_transition,
    },
    Check {
        id: "directory.search-any-party",
        title: "any party searches the service directory (HealthcareService) and gets a searchset",
        requirement: "DESIGN section 11; README, Service directory: open to every party, no patient data",
        run: super::directory::search_any_party,
    },
    Check {
        id: "directory.capacity-codes",
        title: "capacity is in SDOH Clinical Care 3.0.0 codes, and capacity=capacity finds only services showing room",
        requirement: "HL7 SDOH Clinical Care 3.0.0 capacity-status extension; stale is unknown",
        run: super::directory::capacity_codes,
    },
    Check {
        id: "directory.full-service-refused",
        title: "an onward referral to a full service is 409 naming the performer, with at most five alternatives",
        requirement: "README, Service directory: onward referral to a service",
        run: super::directory::full_service_refused,
    },
    Check {
        id: "directory.near",
        title: "a near search refuses coordinates off the Earth (400 naming near) and finds only services within the distance, nearest first",
        requirement: "FHIR R4 Location near (latitude|longitude|distance|unit), as declared for HealthcareService in the CapabilityStatement",
        run: super::directory::near,
    },
    Check {
        id: "journey.referral-to-outcome",
        title: "GP refers, link worker refers onward, the VCS provider completes, the GP sees the outcome",
        requirement: "README, The referral journey; HL7 Gravity SDOH referral",
        run: journey,
    },
];

fn capability_statement(cx: &GatewayContext) -> Body<'_> {
    Box::pin(async move {
        let answer = cx.get(&cx.parties.gp, "metadata").await?;
        answer.expect_status(200, "GET /metadata")?;
        let cs = answer.json();
        if cs["resourceType"] != "CapabilityStatement" || cs["fhirVersion"] != "4.0.1" {
            return Err(fail(
                "a CapabilityStatement with fhirVersion 4.0.1",
                shorten(&answer.body),
            ));
        }
        let creates_referrals = cs["rest"][0]["resource"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|r| {
                r["type"] == "ServiceRequest"
                    && r["interaction"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|i| i["code"] == "create")
            });
        if !creates_referrals {
            return Err(fail(
                "ServiceRequest with the create interaction",
                shorten(&answer.body),
            ));
        }
        Ok(())
    })
}

fn smart_discovery(cx: &GatewayContext) -> Body<'_> {
    Box::pin(async move {
        cx.token_url().await?;
        let answer = cx
            .http
            .exchanges()
            .last()
            .map(|e| e.response_body.clone())
            .unwrap_or_default();
        let config: Value = serde_json::from_str(&answer).unwrap_or(Value::Null);
        let methods = config["token_endpoint_auth_methods_supported"].to_string();
        if !methods.contains("private_key_jwt") {
            return Err(fail(
                "token_endpoint_auth_methods_supported including private_key_jwt",
                answer,
            ));
        }
        Ok(())
    })
}

fn token_issued(cx: &GatewayContext) -> Body<'_> {
    Box::pin(async move {
        let gp = &cx.parties.gp;
        let url = cx.token_url().await?;
        let assertion = AssertionClaims::new(&gp.client_id, &url, 240)
            .sign(&gp.key)
            .map_err(|e| fail("a signed assertion", e.to_string()))?;
        let answer = cx
            .http
            .send(cx.http.client().post(&url).form(&[
                ("grant_type", "client_credentials"),
                ("scope", gp.scope.as_str()),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", assertion.as_str()),
            ]))
            .await?;
        answer.expect_status(200, "token issued")?;
        let body = answer.json();
        let ok = body["access_token"].as_str().is_some_and(|t| !t.is_empty())
            && body["token_type"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case("bearer"))
            && body["expires_in"].as_u64().is_some();
        if !ok {
            return Err(fail(
                "access_token, token_type bearer and expires_in",
                shorten(&answer.body),
            ));
        }
        Ok(())
    })
}

fn unregistered_key(cx: &GatewayContext) -> Body<'_> {
    Box::pin(async move {
        let gp = &cx.parties.gp;
        let url = cx.token_url().await?;
        let stranger =
            ClientKey::generate(KeyAlgorithm::Es384).map_err(|e| fail("a key", e.to_string()))?;
        let assertion = AssertionClaims::new(&gp.client_id, &url, 240)
            .sign(&stranger)
            .map_err(|e| fail("a signed assertion", e.to_string()))?;
        let (status, body) = request_token_raw(cx.http.client(), &url, &assertion, &gp.scope)
            .await
            .map_err(|e| fail("an answer", e.to_string()))?;
        let error: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        if !matches!(status, 400 | 401) || error["error"] != "invalid_client" {
            return Err(fail(
                "400 or 401 with error invalid_client",
                format!("HTTP {status}: {}", shorten(&body)),
            ));
        }
        Ok(())
    })
}

fn no_token(cx: &GatewayContext) -> Body<'_> {
    Box::pin(async move {
        let body = cx.referral(&cx.parties.gp);
        let answer = cx
            .http
            .send(
                cx.http
                    .client()
                    .post(format!("{}/ServiceRequest", cx.fhir))
                    .header("content-type", FHIR_JSON)
                    .body(body.to_string()),
            )
            .await?;
        answer.expect_status(401, "no token")?;
        if answer.json()["resourceType"] != "OperationOutcome"
            || answer.header("www-authenticate").is_none()
        {
            return Err(fail(
                "an OperationOutcome and a WWW-Authenticate challenge",
                shorten(&answer.body),
            ));
        }
        Ok(())
    })
}

fn referral_creates_task(cx: &GatewayContext) -> Body<'_> {
    Box::pin(async move {
        let gp = &cx.parties.gp;
        let answer = cx.post_referral(gp, &cx.referral(gp), None).await?;
        answer.expect_status(201, "a valid referral")?;
        if answer.header("location").is_none() || answer.header("etag").is_none() {
            return Err(fail(
                "Location and ETag headers",
                format!("{:?}", answer.headers),
            ));
        }
        let (_, task) = cx.refer().await?;
        let owner = task["owner"]["identifier"]["value"]
            .as_str()
            .unwrap_or_default();
        // Without a link-worker client the kit does not know whose the Task should be, only
        // that it must be someone's.
        let expected_owner = cx.parties.link_worker.as_ref().map(|lw| lw.ods.as_str());
        let owned = match expected_owner {
            Some(ods) => owner == ods,
            None => !owner.is_empty(),
        };
        if task["status"] != "requested" || !owned {
            return Err(fail(
                format!(
                    "a requested Task owned by {}",
                    expected_owner.unwrap_or("a link-worker organisation")
                ),
                format!("status {}, owner {owner}", task["status"]),
            ));
        }
        Ok(())
    })
}

/// Posts a broken referral and expects `status` with an issue of `code` at `expression`.
async fn refused(
    cx: &GatewayContext,
    body: Value,
    status: u16,
    code: &str,
    expression: &str,
) -> Result<(), crate::kit::check::Failure> {
    let answer = cx.post_referral(&cx.parties.gp, &body, None).await?;
    answer.expect_status(status, "the refusal")?;
    let found = issues(&answer.json());
    if !found.iter().any(|(c, e)| c == code && e == expression) {
        return Err(fail(
            format!("an issue {code} at {expression}"),
            format!("{found:?}"),
        ));
    }
    Ok(())
}

fn bad_nhs_number(cx: &GatewayContext) -> Body<'_> {
    Box::pin(async move {
        let body = cx
            .referral(&cx.parties.gp)
            .to_string()
            .replace("9434765919", "9434765918");
        let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        refused(
            cx,
            body,
            422,
            "value",
            "ServiceRequest.subject.identifier.value",
        )
        .await
    })
}

fn unknown_element(cx: &GatewayContext) -> Body<'_> {
    Box::pin(async move {
        let mut body = cx.referral(&cx.parties.gp);
        body["patientName"] = json!("Margaret Okafor");
        refused(cx, body, 400, "structure", "ServiceRequest.patientName").await
    })
}

fn missing_requester(cx: &GatewayContext) -> Body<'_> {
    Box::pin(async move {
        let mut body = cx.referral(&cx.parties.gp);
        if let Some(o) = body.as_object_mut() {
            o.remove("requester");
        }
        refused(cx, body, 422, "required", "ServiceRequest.requester").await
    })
}

fn if_none_exist(cx: &GatewayContext) -> Body<'_> {
    Box::pin(async move {
        let gp = &cx.parties.gp;
        let body = cx.referral(gp);
        let criteria = format!(
            "identifier={}|{}",
            body["identifier"][0]["system"].as_str().unwrap_or_default(),
            body["identifier"][0]["value"].as_str().unwrap_or_default()
        );
        let first = cx.post_referral(gp, &body, Some(&criteria)).await?;
        first.expect_status(201, "the first conditional create")?;
        let again = cx.post_referral(gp, &body, Some(&criteria)).await?;
        again.expect_status(200, "the repeated conditional create")?;
        if first.json()["id"] != again.json()["id"] {
            return Err(fail(
                "the same referral id both times",
                format!("{} then {}", first.json()["id"], again.json()["id"]),
            ));
        }
        Ok(())
    })
}

fn vcs_cannot_read(cx: &GatewayContext) -> Body<'_> {
    Box::pin(async move {
        let vcs = cx.vcs()?;
        let (sr, _) = cx.refer().await?;
        let id = sr["id"].as_str().unwrap_or_default();
        let answer = cx.get(vcs, &format!("ServiceRequest/{id}")).await?;
        if answer.status != 404 {
            return Err(fail(
                "404: the VCS provider is not party to the GP's referral",
                format!("HTTP {}: {}", answer.status, shorten(&answer.body)),
            ));
        }
        Ok(())
    })
}

fn requester_is_caller(cx: &GatewayContext) -> Body<'_> {
    Box::pin(async move {
        // The GP's client posts a referral naming the link worker's organisation as requester.
        let body = cx.referral(cx.link_worker()?);
        let answer = cx.post_referral(&cx.parties.gp, &body, None).await?;
        answer.expect_status(403, "a referral on behalf of another organisation")?;
        Ok(())
    })
}

fn if_match_required(cx: &GatewayContext) -> Body<'_> {
    Box::pin(async move {
        let lw = cx.link_worker()?;
        let (_, task) = cx.refer().await?;
        let mut next = task.clone();
        next["status"] = json!("accepted");
        let answer = cx.put_task(lw, &next, None).await?;
        answer.expect_status(428, "an update without If-Match")?;
        Ok(())
    })
}

fn stale_if_match(cx: &GatewayContext) -> Body<'_> {
    Box::pin(async move {
        let lw = cx.link_worker()?;
        let (_, task) = cx.refer().await?;
        let v1 = version(&task).unwrap_or(1);
        let mut accepted = task.clone();
        accepted["status"] = json!("accepted");
        cx.put_task(lw, &accepted, Some(v1))
            .await?
            .expect_status(200, "accepting the Task")?;
        let mut stale = task.clone();
        stale["status"] = json!("rejected");
        let answer = cx.put_task(lw, &stale, Some(v1)).await?;
        answer.expect_status(412, "an update based on version 1 after version 2")?;
        let id = task["id"].as_str().unwrap_or_default();
        let now = cx.get(lw, &format!("Task/{id}")).await?;
        if now.json()["status"] != "accepted" {
            return Err(fail(
                "the Task still accepted",
                format!("status {}", now.json()["status"]),
            ));
        }
        Ok(())
    })
}

fn forbidden_transition(cx: &GatewayContext) -> Body<'_> {
    Box::pin(async move {
        let lw = cx.link_worker()?;
        let (_, task) = cx.refer().await?;
        let mut done = task.clone();
        done["status"] = json!("completed");
        let answer = cx.put_task(lw, &done, version(&task)).await?;
        answer.expect_status(409, "requested straight to completed")?;
        Ok(())
    })
}

fn journey(cx: &GatewayContext) -> Body<'_> {
    Box::pin(async move {
        let (lw, vcs) = (cx.link_worker()?, cx.vcs()?);
        let (sr, task) = cx.refer().await?;
        let sr_id = sr["id"].as_str().unwrap_or_default().to_owned();
        let task_id = task["id"].as_str().unwrap_or_default().to_owned();
        // The link worker accepts and starts work.
        let mut current = cx
            .get(lw, &format!("Task/{task_id}"))
            .await?
            .expect_status(200, "the link worker reads its Task")?
            .json();
        for status in ["accepted", "in-progress"] {
            let mut next = current.clone();
            next["status"] = json!(status);
            current = cx
                .put_task(lw, &next, version(&current))
                .await?
                .expect_status(200, &format!("the link worker moves the Task to {status}"))?
                .json();
        }
        // It refers onward to the VCS provider.
        let mut onward = cx.referral(lw);
        onward["performer"] = json!([{"identifier": {"system": ODS, "value": vcs.ods}}]);
        onward["basedOn"] = json!([{"reference": format!("ServiceRequest/{sr_id}")}]);
        onward["intent"] = json!("filler-order");
        cx.post_referral(lw, &onward, None)
            .await?
            .expect_status(201, "the onward referral")?;
        let children = cx
            .get(lw, &format!("Task?part-of=Task/{task_id}"))
            .await?
            .expect_status(200, "the onward Task")?
            .json();
        let vcs_task_id = children["entry"][0]["resource"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        // The VCS provider sees what it needs and no more, then accepts and completes.
        let seen = cx.get(vcs, &format!("Task/{vcs_task_id}")).await?;
        seen.expect_status(200, "the VCS provider reads its Task")?;
        if seen.body.contains("9434765919") {
            return Err(fail(
                "the VCS provider's view without the NHS number",
                shorten(&seen.body),
            ));
        }
        let mut vcs_task = seen.json();
        for status in ["accepted", "in-progress", "completed"] {
            let mut next = vcs_task.clone();
            next["status"] = json!(status);
            vcs_task = cx
                .put_task(vcs, &next, version(&vcs_task))
                .await?
                .expect_status(200, &format!("the VCS provider moves its Task to {status}"))?
                .json();
        }
        // The link worker completes with an outcome; the GP sees it.
        let mut current = cx
            .get(lw, &format!("Task/{task_id}"))
            .await?
            .expect_status(200, "the link worker rereads its Task")?
            .json();
        current["status"] = json!("completed");
        current["output"] = json!([{
            "extension": [{"url": "https://signpost.example/fhir/StructureDefinition/measure-timepoint", "valueCode": "follow-up"}],
            "type": {"coding": [{"system": "https://signpost.example/fhir/CodeSystem/outcome-measure", "code": "ucla3-total"}]},
            "valueInteger": 4
        }]);
        cx.put_task(lw, &current, version(&current))
            .await?
            .expect_status(200, "the link worker completes with an outcome")?;
        let seen = cx
            .get(&cx.parties.gp, &format!("Task/{task_id}"))
            .await?
            .expect_status(200, "the GP reads the Task")?
            .json();
        if seen["status"] != "completed" || seen["output"][0]["valueInteger"] != 4 {
            return Err(fail(
                "the GP sees the Task completed with its outcome",
                shorten(&seen.to_string()),
            ));
        }
        Ok(())
    })
}
