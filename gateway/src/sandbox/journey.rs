//! The whole referral journey through the sandbox, written down once as steps: the printed guide
//! renders them as shell commands, the tour sends them itself.

use std::time::Duration;

use serde_json::{Value, json};

use super::DATA_DIR;
use super::examples::{OUTCOMES, REFERRAL, VCS_COMPLETION};
use crate::config::Config;

/// Who acts: a demo client, the shell variable its token is kept in, and the scopes it asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Party {
    /// The demo client's id (its key is `signpost-data/keys/{client}.pem`).
    pub client: &'static str,
    /// The ODS code of the organisation it acts for.
    pub organisation: &'static str,
    /// Shell variable holding its token.
    pub token_var: &'static str,
    /// Scopes it asks for.
    pub scope: &'static str,
    /// Who it is, in words.
    pub who: &'static str,
}

/// The GP practice's clinical system.
pub const GP: Party = Party {
    client: "riverside-gp-system",
    organisation: "A81001",
    token_var: "GP_TOKEN",
    scope: "system/ServiceRequest.crs system/Task.rus",
    who: "Riverside Surgery's GP system (A81001)",
};
/// The link-worker platform.
pub const LINK_WORKER: Party = Party {
    client: "riverside-link-worker-platform",
    organisation: "LWS001",
    token_var: "LW_TOKEN",
    scope: "system/ServiceRequest.crs system/Task.rus",
    who: "the link-worker platform (LWS001)",
};
/// The walking group's app.
pub const VCS: Party = Party {
    client: "mill-lane-walking-app",
    organisation: "VCS001",
    token_var: "VCS_TOKEN",
    scope: "system/ServiceRequest.rs system/Task.rus",
    who: "Mill Lane Walking Group's app (VCS001)",
};
/// The gateway's operator.
pub const OPERATOR: Party = Party {
    client: "signpost-operator",
    organisation: "LWS001",
    token_var: "OPERATOR_TOKEN",
    scope: "admin",
    who: "the operator (admin: deliveries and the audit trail, no patient data)",
};

/// Every party, in the order the guide gets their tokens.
pub const PARTIES: [Party; 4] = [GP, LINK_WORKER, VCS, OPERATOR];

/// What a request sends.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// Nothing.
    Empty,
    /// A FHIR resource from a file the sandbox wrote.
    Resource(&'static str),
    /// A JSON Patch from a file the sandbox wrote.
    PatchFile(&'static str),
    /// A JSON Patch written out in the step.
    Patch(Value),
    /// The onward referral file, `basedOn` the GP referral in the shell variable, addressed to a
    /// VCS provider.
    Onward {
        /// Shell variable holding the GP referral's id.
        based_on: &'static str,
        /// The VCS provider's ODS code and name.
        performer: (&'static str, &'static str),
    },
    /// The onward referral file, `basedOn` the GP referral in `based_on`, addressed to the
    /// directory service whose id is in the shell variable `service`.
    OnwardToService {
        /// Shell variable holding the GP referral's id.
        based_on: &'static str,
        /// Shell variable holding the HealthcareService's id.
        service: &'static str,
    },
}

/// HTTP methods the journey uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Read or search.
    Get,
    /// Create, or an admin action.
    Post,
}

/// One step's request.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Get a token for a party.
    Token(Party),
    /// One request. `path` is below the server's base URL and may name shell variables (`$SR`).
    Request {
        /// Who sends it.
        party: Party,
        /// GET or POST.
        method: Method,
        /// e.g. `/fhir/Task?owner=LWS001`.
        path: String,
        /// What it sends.
        body: Body,
        /// Keep this part of the answer (a JSON pointer) in this shell variable.
        capture: Option<(&'static str, &'static str)>,
        /// The parts of the answer worth showing: (label, JSON pointer).
        show: Vec<(&'static str, &'static str)>,
    },
    /// Update a Task by JSON Patch, naming its current version in `If-Match`.
    PatchTask {
        /// Who sends it.
        party: Party,
        /// Shell variable holding the Task's id.
        task: &'static str,
        /// The patch.
        body: Body,
    },
    /// A referral the gateway is expected to refuse with 409 (a full service), showing why.
    Refused {
        /// Who sends it.
        party: Party,
        /// e.g. `/fhir/ServiceRequest`.
        path: String,
        /// What it sends.
        body: Body,
        /// The parts of the refusal worth showing: (label, JSON pointer).
        show: Vec<(&'static str, &'static str)>,
    },
    /// Give the delivery worker a moment.
    Pause(Duration),
}

/// A numbered step of the journey.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// What happens, in a line.
    pub title: &'static str,
    /// What to notice, if anything.
    pub note: Option<String>,
    /// The requests, in order.
    pub actions: Vec<Action>,
}

fn step(title: &'static str, actions: Vec<Action>) -> Step {
    Step {
        title,
        note: None,
        actions,
    }
}

fn get(party: Party, path: impl Into<String>) -> Action {
    Action::Request {
        party,
        method: Method::Get,
        path: path.into(),
        body: Body::Empty,
        capture: None,
        show: Vec::new(),
    }
}

fn post(party: Party, path: impl Into<String>, body: Body) -> Action {
    Action::Request {
        party,
        method: Method::Post,
        path: path.into(),
        body,
        capture: None,
        show: Vec::new(),
    }
}

fn capturing(mut action: Action, var: &'static str, pointer: &'static str) -> Action {
    if let Action::Request { capture, .. } = &mut action {
        *capture = Some((var, pointer));
    }
    action
}

fn showing(mut action: Action, fields: &[(&'static str, &'static str)]) -> Action {
    if let Action::Request { show, .. } = &mut action {
        *show = fields.to_vec();
    }
    action
}

fn status_to(party: Party, task: &'static str, status: &str) -> Action {
    Action::PatchTask {
        party,
        task,
        body: Body::Patch(json!([{"op": "replace", "path": "/status", "value": status}])),
    }
}

/// The link worker's onward referral to `performer`, `basedOn` the GP's referral in `$SR`.
fn refer_onward(performer: (&'static str, &'static str)) -> Action {
    showing(
        post(
            LINK_WORKER,
            "/fhir/ServiceRequest",
            Body::Onward {
                based_on: "SR",
                performer,
            },
        ),
        &[("id", "/id"), ("status", "/status")],
    )
}

/// The journey, from the GP's referral to the outcome the GP sees, then what the operator sees.
pub fn steps(config: &Config) -> Vec<Step> {
    let ttl = config.auth.token_ttl_seconds;
    let mut tokens = step(
        "Get a token for each party (SMART Backend Services: each demo client signs a JWT with its key)",
        PARTIES.into_iter().map(Action::Token).collect(),
    );
    tokens.note = Some(format!(
        "Tokens last {} minutes; if a command later answers 401, run these four again. Scopes: \
         GP and link worker `{}`, the walking group `{}` (it may not create referrals), the \
         operator `admin`.",
        ttl / 60,
        GP.scope,
        VCS.scope
    ));
    let mut full_service = step(
        "Tuesday's walk is full: Signpost refuses the referral and lists services of the same category and area with room",
        vec![Action::Refused {
            party: LINK_WORKER,
            path: "/fhir/ServiceRequest".into(),
            body: Body::OnwardToService {
                based_on: "SR",
                service: "FULL",
            },
            show: vec![("refused", "/issue/0/diagnostics"), ("issues", "/issue")],
        }],
    );
    full_service.note = Some(
        "The answer is 409 with an OperationOutcome: the first issue says why, the information \
         issues after it name the alternatives. Nothing of the refused referral is stored but the \
         routing decision, which operators read as an AuditEvent (subtype routing-decision)."
            .into(),
    );
    let mut onward_vcs002 = step(
        "The link worker also refers the person to the debt advice service (VCS002)",
        vec![refer_onward(("VCS002", "Sheffield Money and Debt Advice"))],
    );
    onward_vcs002.note = Some(
        "The debt advice service's demo system refuses the first delivery of every message, as a \
         partner's system sometimes does, so this delivery becomes a dead letter for the operator \
         (see the operator's steps at the end)."
            .into(),
    );
    let mut deliveries = step(
        "The operator sees what was pushed to the partners, and the dead letter",
        vec![
            Action::Pause(Duration::from_secs(1)),
            get(OPERATOR, "/admin/deliveries?state=delivered"),
            capturing(
                get(OPERATOR, "/admin/deliveries?state=dead"),
                "DEAD",
                "/deliveries/0/id",
            ),
        ],
    );
    deliveries.note = Some(format!(
        "Both VCS providers are pushed to by webhook, received inside the sandbox itself (watch its \
         log); the walking group's receiver asks for one retry of each message first, so its \
         deliveries show 2 attempts. Delivery settings are in [delivery] of a config file \
         (backoff, attempts, dead letters); the sandbox's data is under {DATA_DIR}/."
    ));
    vec![
        tokens,
        step(
            "The GP system posts the referral (a FHIR ServiceRequest)",
            vec![capturing(
                post(GP, "/fhir/ServiceRequest", Body::Resource(REFERRAL)),
                "SR",
                "/id",
            )],
        ),
        step(
            "Signpost routed it to the link-worker service as a Task; the link worker finds it",
            vec![capturing(
                get(
                    LINK_WORKER,
                    "/fhir/Task?owner=LWS001&status=requested&focus=ServiceRequest/$SR",
                ),
                "LW_TASK",
                "/entry/0/resource/id",
            )],
        ),
        step(
            "The link worker accepts the referral and starts work",
            vec![
                status_to(LINK_WORKER, "LW_TASK", "accepted"),
                status_to(LINK_WORKER, "LW_TASK", "in-progress"),
            ],
        ),
        step(
            "The link worker refers the person onward to Mill Lane Walking Group (VCS001)",
            vec![refer_onward(("VCS001", "Mill Lane Walking Group"))],
        ),
        step(
            "The link worker looks in the service directory for social activities near the person (postcode district S1)",
            vec![
                showing(
                    get(LINK_WORKER, DIRECTORY_SEARCH),
                    &[("services", "/total"), ("names", "/entry")],
                ),
                capturing(
                    get(LINK_WORKER, FULL_SERVICE),
                    "FULL",
                    "/entry/0/resource/id",
                ),
            ],
        ),
        full_service,
        onward_vcs002,
        step(
            "The walking group finds its Task (it sees the person's name and phone, not the NHS number)",
            vec![capturing(
                get(VCS, "/fhir/Task?owner=VCS001&part-of=Task/$LW_TASK"),
                "VCS_TASK",
                "/entry/0/resource/id",
            )],
        ),
        step(
            "The walking group accepts, the person comes along, and it completes its Task",
            vec![
                status_to(VCS, "VCS_TASK", "accepted"),
                status_to(VCS, "VCS_TASK", "in-progress"),
                Action::PatchTask {
                    party: VCS,
                    task: "VCS_TASK",
                    body: Body::PatchFile(VCS_COMPLETION),
                },
            ],
        ),
        step(
            "The link worker completes the referral with the person's outcome scores",
            vec![Action::PatchTask {
                party: LINK_WORKER,
                task: "LW_TASK",
                body: Body::PatchFile(OUTCOMES),
            }],
        ),
        step(
            "The GP sees the referral completed, with the outcomes and the whole story",
            vec![
                showing(
                    get(GP, "/fhir/ServiceRequest/$SR"),
                    &[("status", "/status")],
                ),
                showing(
                    get(GP, "/fhir/Task/$LW_TASK"),
                    &[
                        ("status", "/status"),
                        ("outcomes", "/output"),
                        ("notes", "/note"),
                    ],
                ),
                showing(
                    get(GP, "/fhir/Task/$LW_TASK/_history"),
                    &[("versions", "/total")],
                ),
            ],
        ),
        deliveries,
        step(
            "The operator replays the dead letter, and reads the referral's audit trail",
            vec![
                post(OPERATOR, "/admin/deliveries/$DEAD/replay", Body::Empty),
                showing(
                    get(OPERATOR, "/fhir/AuditEvent?entity=ServiceRequest/$SR"),
                    &[("events", "/total")],
                ),
            ],
        ),
    ]
}

/// The directory search the guide shows: the sandbox's social activities in district S1.
const DIRECTORY_SEARCH: &str = "/fhir/HealthcareService?service-category=https://openreferraluk.org/taxonomy/sandbox|social-activity&postcode=S1&_count=5";
/// The sandbox's full service, found by its identifier.
const FULL_SERVICE: &str =
    "/fhir/HealthcareService?identifier=https://signpost.example/sandbox/services|walk-tuesday";

/// `ServiceRequest.performer` naming one directory service.
pub fn service_performer_json(service_id: &str) -> Value {
    json!([{ "reference": format!("HealthcareService/{service_id}") }])
}

/// `ServiceRequest.performer` naming one organisation by ODS code.
pub fn performer_json((ods, name): (&str, &str)) -> Value {
    json!([{
        "identifier": { "system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": ods },
        "display": name
    }])
}

/// The onward referral file's content addressed to `performer`, `basedOn` the GP referral `sr`.
pub fn onward_body(
    file: &str,
    sr: &str,
    performer: (&str, &str),
) -> Result<Value, serde_json::Error> {
    let mut body: Value = serde_json::from_str(file)?;
    if !body.is_object() {
        return Err(serde::de::Error::custom(
            "the onward referral is not a JSON object",
        ));
    }
    body["basedOn"] = json!([{ "reference": format!("ServiceRequest/{sr}") }]);
    body["performer"] = performer_json(performer);
    Ok(body)
}
