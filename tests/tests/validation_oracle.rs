//! Signpost's validator judged against an independent one (tests/oracle: Medplum's
//! validateResource) over the differential corpus (support/corpus.rs): whatever the oracle
//! rejects, Signpost rejects; whatever Signpost alone rejects is explained by a named rule.
//!
//! Regenerate the summary (written to `target/validation-oracle.md`) with
//! `cargo test -p signpost-conformance --test integration validation_oracle:: -- --nocapture`.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use serde_json::Value;
use signpost_profiles::{Issue, Severity, Validator};

use crate::support::corpus::{self, Item, Kind};
use crate::support::oracle::{self, Verdict};

/// What Signpost said about one corpus item: the body checked as `signpost validate` checks a file
/// (the strict R4 parse intake applies, then every rule).
fn signpost(validator: &Validator, text: &str) -> Vec<Issue> {
    validator.check(text.as_bytes(), None).issues
}

fn errors(issues: &[Issue]) -> Vec<&Issue> {
    issues
        .iter()
        .filter(|i| i.severity == Severity::Error)
        .collect()
}

fn show_signpost(issues: &[Issue]) -> String {
    errors(issues)
        .iter()
        .map(|i| {
            format!(
                "{} at {}: {}",
                i.code.code(),
                i.expression.as_deref().unwrap_or("-"),
                i.diagnostics
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn show_oracle(verdict: &Verdict) -> String {
    verdict
        .errors()
        .iter()
        .map(|i| format!("{} at {}: {}", i["code"], i["expression"], i["diagnostics"]))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The element path, by type, that an issue's expression names in `resource`: the steps after
/// the last resource boundary (a contained resource or Bundle entry starts its own type), with
/// array indexes dropped, e.g. `ServiceRequest.contained[0].identifier[0].value` → `Patient.identifier.value`.
fn type_path(resource: &Value, expression: &str) -> Option<String> {
    let mut steps = expression.split('.');
    let mut path = steps.next()?.to_owned();
    let mut node = resource;
    for step in steps {
        let (name, index) = match step.split_once('[') {
            Some((n, rest)) => (n, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (step, None),
        };
        // An element reported missing is named by the path it would have had.
        let Some(next) = node.get(name) else {
            write!(path, ".{name}").expect("write to a string");
            return Some(path);
        };
        node = next;
        if let Some(i) = index {
            node = node.get(i)?;
        } else if let Some(first) = node.as_array().and_then(|a| a.first()) {
            node = first;
        }
        match node.get("resourceType").and_then(Value::as_str) {
            Some(t) if node.is_object() => path = t.to_owned(),
            _ => write!(path, ".{name}").expect("write to a string"),
        }
    }
    Some(path)
}

/// Elements the Signpost profiles constrain (min, fixed value, target type, binding), by path.
fn profile_paths() -> Vec<(String, String)> {
    let dir = corpus::workspace().join("profiles/definitions");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("profiles/definitions") {
        let path = entry.expect("entry").path();
        let is_profile = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("StructureDefinition-"));
        if !is_profile {
            continue;
        }
        let sd: Value = serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("JSON");
        let name = sd["name"].as_str().unwrap_or("profile").to_owned();
        for e in sd
            .pointer("/differential/element")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(p) = e["path"].as_str().filter(|p| p.contains('.')) {
                out.push((p.trim_end_matches("[x]").to_owned(), name.clone()));
            }
        }
    }
    out.sort();
    out
}

/// The rule (one the oracle does not check) that explains a Signpost error, if any.
fn rule_of(
    issue: &Issue,
    resource: Option<&Value>,
    profiles: &[(String, String)],
) -> Option<String> {
    let words = issue.diagnostics.to_lowercase();
    if issue.code.code() == "code-invalid" {
        return Some("required binding (the oracle checks no codes)".into());
    }
    if words.contains("nhs number") {
        return Some("NHS number: ten ASCII digits, modulus 11".into());
    }
    if words.contains("ods") {
        return Some("ODS code form".into());
    }
    if words.contains("more than once") || words.contains("duplicate") {
        return Some("duplicate member names".into());
    }
    let at = issue.expression.as_deref()?;
    let typed = type_path(resource?, at)?;
    profiles
        .iter()
        .find(|(p, _)| typed == *p || typed.starts_with(&format!("{p}.")))
        .map(|(_, name)| format!("Signpost profile ({name})"))
}

/// One item's outcome.
struct Outcome<'a> {
    item: &'a Item,
    oracle: &'a Verdict,
    signpost: Vec<Issue>,
}

impl Outcome<'_> {
    fn signpost_rejects(&self) -> bool {
        !errors(&self.signpost).is_empty()
    }
}

#[derive(Default)]
struct Tally {
    items: usize,
    both_reject: usize,
    both_accept: usize,
    signpost_only: usize,
    misses: usize,
}

#[test]
fn signpost_rejects_everything_the_independent_validator_rejects() {
    let items = corpus::build(&[]);
    let again = corpus::build(&[]);
    assert!(
        items.len() == again.len()
            && items
                .iter()
                .zip(&again)
                .all(|(a, b)| a.label == b.label && a.text == b.text),
        "the corpus is generated the same way every time"
    );
    assert!(
        items.len() >= 2000,
        "the corpus has {} resources",
        items.len()
    );
    let texts: Vec<String> = items.iter().map(|i| i.text.clone()).collect();
    let verdicts = oracle::validate_lines(&texts);
    let validator = Validator::standard().expect("the shipped definitions load");
    let outcomes: Vec<Outcome<'_>> = items
        .iter()
        .zip(&verdicts)
        .map(|(item, oracle)| Outcome {
            item,
            oracle,
            signpost: signpost(validator, &item.text),
        })
        .collect();
    let by_label: HashMap<&str, &Outcome<'_>> = outcomes
        .iter()
        .map(|o| (o.item.label.as_str(), o))
        .collect();
    let profiles = profile_paths();

    let mut tallies: BTreeMap<Kind, Tally> = BTreeMap::new();
    let mut explained: BTreeMap<String, usize> = BTreeMap::new();
    let mut neither: BTreeMap<String, usize> = BTreeMap::new();
    let mut misses = Vec::new();
    let mut unexplained = Vec::new();
    for o in &outcomes {
        let t = tallies.entry(o.item.kind).or_default();
        t.items += 1;
        match (o.oracle.valid, o.signpost_rejects()) {
            (false, true) => t.both_reject += 1,
            (true, false) => {
                t.both_accept += 1;
                if o.item.kind != Kind::Original {
                    *neither.entry(o.item.rule.clone()).or_default() += 1;
                }
            }
            (false, false) => {
                t.misses += 1;
                misses.push(format!(
                    "{}\n    oracle: {}\n    signpost: {}",
                    o.item.label,
                    show_oracle(o.oracle),
                    show_signpost(&o.signpost)
                ));
            }
            (true, true) => {
                t.signpost_only += 1;
                match explain(o, &by_label, &profiles) {
                    Ok(rules) => {
                        for rule in rules {
                            *explained.entry(rule).or_default() += 1;
                        }
                    }
                    Err(why) => unexplained.push(format!(
                        "{}\n    {why}\n    signpost: {}",
                        o.item.label,
                        show_signpost(&o.signpost)
                    )),
                }
            }
        }
    }

    // The oracle's JSON.parse keeps a repeated member's last value, so it cannot see these; the
    // rule stands in for it (RFC 8259 section 4: names SHOULD be unique, and a receiver's
    // behaviour on repeats is unpredictable; DESIGN.md section 10 refuses them).
    let duplicates_accepted: Vec<String> = outcomes
        .iter()
        .filter(|o| o.item.kind == Kind::DuplicateMember && !o.signpost_rejects())
        .map(|o| o.item.label.clone())
        .collect();
    let summary = summary(&tallies, &explained, &neither, &misses, &unexplained);
    let target = std::env::var("CARGO_TARGET_DIR")
        .map_or_else(|_| corpus::workspace().join("target"), Into::into);
    std::fs::create_dir_all(&target).expect("target dir");
    let file = target.join("validation-oracle.md");
    std::fs::write(&file, &summary).expect("write the summary");
    println!("{summary}\n(written to {})", file.display());
    let first = |list: &[String]| list.iter().take(40).cloned().collect::<Vec<_>>().join("\n");
    assert!(
        misses.is_empty(),
        "{} resources the oracle rejects were accepted by Signpost (all in {}):\n{}",
        misses.len(),
        file.display(),
        first(&misses)
    );
    assert!(
        duplicates_accepted.is_empty(),
        "{} resources with a repeated member name were accepted by Signpost:\n{}",
        duplicates_accepted.len(),
        first(&duplicates_accepted)
    );
    assert!(
        unexplained.is_empty(),
        "{} resources Signpost alone rejects with no rule to explain it (all in {}):\n{}",
        unexplained.len(),
        file.display(),
        first(&unexplained)
    );
}

/// The named rules behind a rejection by Signpost alone.
fn explain(
    o: &Outcome<'_>,
    by_label: &HashMap<&str, &Outcome<'_>>,
    profiles: &[(String, String)],
) -> Result<Vec<String>, String> {
    let base = by_label
        .get(o.item.base.as_str())
        .ok_or("no base resource")?;
    if o.item.kind == Kind::DuplicateMember {
        return Ok(vec![
            "duplicate member names (JSON.parse keeps the last)".into(),
        ]);
    }
    if o.item.kind != Kind::Original {
        if !base.signpost_rejects() {
            // The mutation is the only change from a resource Signpost accepts, and it breaks
            // the rule it was made to break: the oracle does not check that rule.
            return Ok(vec![format!("oracle does not check: {}", o.item.rule)]);
        }
        if base.oracle.valid {
            // Made from a resource Signpost alone rejects: explained as that resource is.
            return explain(base, by_label, profiles)
                .map(|rules| {
                    rules
                        .into_iter()
                        .map(|r| format!("{r} (in the unmutated resource)"))
                        .collect()
                })
                .map_err(|why| format!("the unmutated resource is unexplained: {why}"));
        }
    }
    let resource: Option<Value> = serde_json::from_str(&o.item.text).ok();
    let mut rules = Vec::new();
    for issue in errors(&o.signpost) {
        match rule_of(issue, resource.as_ref(), profiles) {
            Some(rule) => rules.push(rule),
            None => {
                return Err(format!(
                    "no rule explains {} at {}",
                    issue.code.code(),
                    issue.expression.as_deref().unwrap_or("-")
                ));
            }
        }
    }
    rules.sort();
    rules.dedup();
    Ok(rules)
}

fn summary(
    tallies: &BTreeMap<Kind, Tally>,
    explained: &BTreeMap<String, usize>,
    neither: &BTreeMap<String, usize>,
    misses: &[String],
    unexplained: &[String],
) -> String {
    let mut s = String::new();
    let total: usize = tallies.values().map(|t| t.items).sum();
    let agree: usize = tallies
        .values()
        .map(|t| t.both_reject + t.both_accept)
        .sum();
    writeln!(
        s,
        "# Signpost's validator against the oracle (@medplum/core 4.5.2)\n"
    )
    .expect("w");
    writeln!(
        s,
        "{total} resources; both agree on {agree}; misses (oracle rejects, Signpost accepts): {}; \
         rejected by Signpost alone: {}, of which unexplained: {}.\n",
        misses.len(),
        tallies.values().map(|t| t.signpost_only).sum::<usize>(),
        unexplained.len()
    )
    .expect("w");
    writeln!(
        s,
        "| kind | resources | both reject | both accept | Signpost only | misses |"
    )
    .expect("w");
    writeln!(s, "|---|---:|---:|---:|---:|---:|").expect("w");
    for kind in Kind::ALL {
        if let Some(t) = tallies.get(&kind) {
            writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} |",
                kind.name(),
                t.items,
                t.both_reject,
                t.both_accept,
                t.signpost_only,
                t.misses
            )
            .expect("w");
        }
    }
    writeln!(
        s,
        "\nRejected by Signpost alone, by the rule that explains it:\n"
    )
    .expect("w");
    for (rule, n) in explained {
        writeln!(s, "- {rule}: {n}").expect("w");
    }
    writeln!(
        s,
        "\nMutations neither validator rejects, by the rule they were made to break:\n"
    )
    .expect("w");
    for (rule, n) in neither {
        writeln!(s, "- {rule}: {n}").expect("w");
    }
    writeln!(s, "\nMisses:\n").expect("w");
    for m in misses {
        writeln!(s, "- {m}").expect("w");
    }
    writeln!(s, "\nUnexplained:\n").expect("w");
    for u in unexplained {
        writeln!(s, "- {u}").expect("w");
    }
    s
}

/// (severity, issue code, element path, the rule that calls for it).
type Expected = (&'static str, &'static str, &'static str, &'static str);

/// Every official fixture's expected issues (errors and warnings; a warning for a claimed
/// profile Signpost does not hold is checked separately), as (severity, code, element, rule).
/// Each entry was checked against the fixture's content and the rule it names.
const FIXTURE_EXPECTATIONS: &[(&str, &[Expected])] = &[
    (
        "bars/bars-REFREQ03-referral.json",
        &[
            (
                "error",
                "required",
                "Bundle.entry[1].resource.code",
                "Signpost profile: code min 1",
            ),
            (
                "error",
                "required",
                "Bundle.entry[1].resource.requester.identifier",
                "Signpost profile: requester.identifier min 1",
            ),
            (
                "error",
                "value",
                "Bundle.entry[4].resource.code",
                "SignpostTask: code fixed to task-code#fulfill",
            ),
            (
                "error",
                "required",
                "Bundle.entry[4].resource.focus",
                "Signpost profile: focus min 1",
            ),
            (
                "error",
                "required",
                "Bundle.entry[4].resource.for",
                "Signpost profile: for min 1",
            ),
            (
                "error",
                "required",
                "Bundle.entry[4].resource.owner",
                "Signpost profile: owner min 1",
            ),
            (
                "error",
                "value",
                "Bundle.entry[6].resource.identifier[0].value",
                "NHS number modulus 11 (STANDARDS 2.2; 3478526985 fails, STANDARDS 1.8)",
            ),
            (
                "error",
                "required",
                "Bundle.entry[8].resource.identifier",
                "Signpost profile: identifier min 1",
            ),
            (
                "error",
                "required",
                "Bundle.entry[8].resource.identifier",
                "SignpostOrganization: identifier:odsOrganisationCode 1..1 (system https://fhir.nhs.uk/Id/ods-organization-code)",
            ),
            (
                "error",
                "required",
                "Bundle.entry[9].resource.identifier",
                "SignpostOrganization: identifier:odsOrganisationCode 1..1 (system https://fhir.nhs.uk/Id/ods-organization-code)",
            ),
            (
                "error",
                "required",
                "Bundle.entry[11].resource.identifier",
                "SignpostOrganization: identifier:odsOrganisationCode 1..1 (system https://fhir.nhs.uk/Id/ods-organization-code)",
            ),
            (
                "error",
                "required",
                "Bundle.entry[12].resource.identifier",
                "SignpostOrganization: identifier:odsOrganisationCode 1..1 (system https://fhir.nhs.uk/Id/ods-organization-code)",
            ),
        ],
    ),
    (
        "bars/bars-ValidationRequest-official.json",
        &[
            (
                "error",
                "required",
                "Bundle.entry[1].resource.code",
                "Signpost profile: code min 1",
            ),
            (
                "error",
                "required",
                "Bundle.entry[1].resource.requester.identifier",
                "Signpost profile: requester.identifier min 1",
            ),
            (
                "error",
                "value",
                "Bundle.entry[5].resource.identifier[0].value",
                "NHS number modulus 11 (STANDARDS 2.2; 3478526985 fails, STANDARDS 1.8)",
            ),
            (
                "error",
                "required",
                "Bundle.entry[6].resource.identifier",
                "SignpostOrganization: identifier:odsOrganisationCode 1..1 (system https://fhir.nhs.uk/Id/ods-organization-code)",
            ),
            (
                "error",
                "required",
                "Bundle.entry[9].resource.identifier",
                "Signpost profile: identifier min 1",
            ),
            (
                "error",
                "required",
                "Bundle.entry[9].resource.identifier",
                "SignpostOrganization: identifier:odsOrganisationCode 1..1 (system https://fhir.nhs.uk/Id/ods-organization-code)",
            ),
            (
                "error",
                "required",
                "Bundle.entry[10].resource.identifier",
                "SignpostOrganization: identifier:odsOrganisationCode 1..1 (system https://fhir.nhs.uk/Id/ods-organization-code)",
            ),
            (
                "error",
                "required",
                "Bundle.entry[11].resource.identifier",
                "Signpost profile: identifier min 1",
            ),
            (
                "error",
                "required",
                "Bundle.entry[11].resource.identifier",
                "SignpostOrganization: identifier:odsOrganisationCode 1..1 (system https://fhir.nhs.uk/Id/ods-organization-code)",
            ),
            (
                "error",
                "required",
                "Bundle.entry[12].resource.identifier",
                "SignpostOrganization: identifier:odsOrganisationCode 1..1 (system https://fhir.nhs.uk/Id/ods-organization-code)",
            ),
        ],
    ),
    (
        "bars/bars-booking-request-official.json",
        &[
            (
                "error",
                "required",
                "Bundle.entry[3].resource.identifier",
                "SignpostOrganization: identifier:odsOrganisationCode 1..1 (system https://fhir.nhs.uk/Id/ods-organization-code)",
            ),
            (
                "error",
                "required",
                "Bundle.entry[10].resource.identifier",
                "Signpost profile: identifier min 1",
            ),
            (
                "error",
                "required",
                "Bundle.entry[10].resource.identifier",
                "SignpostOrganization: identifier:odsOrganisationCode 1..1 (system https://fhir.nhs.uk/Id/ods-organization-code)",
            ),
            (
                "error",
                "required",
                "Bundle.entry[11].resource.identifier",
                "Signpost profile: identifier min 1",
            ),
            (
                "error",
                "required",
                "Bundle.entry[11].resource.identifier",
                "SignpostOrganization: identifier:odsOrganisationCode 1..1 (system https://fhir.nhs.uk/Id/ods-organization-code)",
            ),
        ],
    ),
    (
        "bars/capabilitystatement-bars-proxy.json",
        &[
            (
                "error",
                "structure",
                "CapabilityStatement.rest[0].security",
                "R4: CapabilityStatement.rest.security is 0..1, the fixture gives an array",
            ),
            (
                "error",
                "structure",
                "CapabilityStatement.rest[1].security",
                "R4: CapabilityStatement.rest.security is 0..1, the fixture gives an array",
            ),
        ],
    ),
    (
        "bars/messagedefinition-searchset-bundle.json",
        &[(
            "error",
            "structure",
            "Bundle.entry[0].resource.useContext[0].code",
            "R4: UsageContext.code is 1..1 Coding, the fixture gives an array of two",
        )],
    ),
    (
        "bars/operationoutcome-400-rec-bad-request-invariant.json",
        &[],
    ),
    ("bars/operationoutcome-409-rec-conflict-duplicate.json", &[]),
    ("bars/operationoutcome-422-rec-unprocessable.json", &[]),
    (
        "bars/servicerequest-request-sync-response-bundle.json",
        // The base definitions are the first gate (400): a resource that is not valid R4 is
        // refused with every base-definition issue, and Signpost's profiles (422) are applied
        // only to resources that pass it, so the profile problems this Bundle also has
        // (no ServiceRequest.code, Organizations without ODS codes) are not reported yet.
        &[(
            "error",
            "value",
            "Bundle.entry[1].resource.performer[0].reference",
            "R4 Reference.reference: a bare UUID is neither a relative, absolute, urn:uuid nor local reference",
        )],
    ),
    ("ukcore/ukcore-Organization-WhiteRose.json", &[]),
    ("ukcore/ukcore-Patient-RichardSmith.json", &[]),
    (
        "ukcore/ukcore-ServiceRequest-Colonoscopy.json",
        &[
            (
                "warning",
                "code-invalid",
                "ServiceRequest.code",
                "extensible binding: a code outside the value set is a warning",
            ),
            (
                "error",
                "invalid",
                "ServiceRequest.requester.reference",
                "Signpost profile: requester target types",
            ),
            (
                "error",
                "required",
                "ServiceRequest.requester.identifier",
                "Signpost profile: requester.identifier min 1",
            ),
            (
                "error",
                "invalid",
                "ServiceRequest.performer[0].reference",
                "Signpost profile: performer target types",
            ),
            (
                "warning",
                "code-invalid",
                "ServiceRequest.reasonCode[0]",
                "extensible binding: a code outside the value set is a warning",
            ),
            (
                "error",
                "invalid",
                "ServiceRequest.reasonReference[0].reference",
                "Signpost profile: reasonReference target types",
            ),
        ],
    ),
    (
        "gravity/ServiceRequest-SDOHCC-ServiceRequestSubreferralGardenProgramExample.json",
        &[
            (
                "warning",
                "code-invalid",
                "ServiceRequest.code",
                "extensible binding: a code outside the value set is a warning",
            ),
            (
                "error",
                "required",
                "ServiceRequest.requester",
                "Signpost profile: requester min 1",
            ),
        ],
    ),
    (
        "gravity/Task-SDOHCC-TaskReferralManagementOrderFulfillmentAcceptedExample.json",
        &[(
            "error",
            "invalid",
            "Task.requester.reference",
            "Signpost profile: requester target types",
        )],
    ),
    (
        "gravity/Task-SDOHCC-TaskReferralManagementOrderSubtaskAcceptedExample.json",
        &[],
    ),
    (
        "gravity/gravity-ServiceRequest-FoodPantry.json",
        &[
            (
                "warning",
                "code-invalid",
                "ServiceRequest.code",
                "extensible binding: a code outside the value set is a warning",
            ),
            (
                "error",
                "required",
                "ServiceRequest.requester",
                "Signpost profile: requester min 1",
            ),
        ],
    ),
];

#[test]
fn every_official_fixture_gets_exactly_the_issues_its_content_calls_for() {
    let validator = Validator::standard().expect("the shipped definitions load");
    let known = known_profiles();
    let fixtures = corpus::fixture_files();
    let mut names: Vec<&str> = fixtures.iter().map(|(n, _)| n.as_str()).collect();
    let mut listed: Vec<&str> = FIXTURE_EXPECTATIONS.iter().map(|(n, _)| *n).collect();
    names.sort_unstable();
    listed.sort_unstable();
    assert_eq!(names, listed, "one expectation per FHIR fixture");
    let mut wrong = Vec::new();
    for (name, json) in &fixtures {
        let expected = FIXTURE_EXPECTATIONS
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, e)| *e)
            .expect("listed");
        let bytes = std::fs::read(corpus::fixtures_dir().join(name)).expect("read fixture");
        let checked = validator.check(&bytes, None);
        let parsed = checked.resource.is_some();
        let issues = checked.issues;
        // The specification's warning invariants are worked out from the fixture itself.
        let mut warned_invariants: Vec<(String, String)> = issues
            .iter()
            .filter(|i| i.severity == Severity::Warning && i.code.code() == "invariant")
            .map(|i| {
                let key = i.diagnostics.split(": ").nth(1).unwrap_or_default();
                (key.to_owned(), i.expression.clone().unwrap_or_default())
            })
            .collect();
        let mut due = Vec::new();
        warning_invariants_due(json, root_name(json), &mut due);
        warned_invariants.sort();
        due.sort();
        if warned_invariants != due {
            wrong.push(format!(
                "{name}: warning invariants\n    expected {due:?}\n    got      {warned_invariants:?}"
            ));
        }
        let got: Vec<(String, String, String)> = issues
            .iter()
            .filter(|i| i.severity != Severity::Information && i.code.code() != "not-supported")
            .filter(|i| !(i.severity == Severity::Warning && i.code.code() == "invariant"))
            .map(|i| {
                (
                    i.severity.code().to_owned(),
                    i.code.code().to_owned(),
                    i.expression.clone().unwrap_or_default(),
                )
            })
            .collect();
        let want: Vec<(String, String, String)> = expected
            .iter()
            .map(|(s, c, e, _)| ((*s).to_owned(), (*c).to_owned(), (*e).to_owned()))
            .collect();
        if got != want {
            wrong.push(format!(
                "{name}:\n    expected {want:?}\n    got      {got:?}"
            ));
        }
        // A profile the fixture claims and Signpost does not hold is named, as a warning, once
        // the body is R4 (a body that does not parse is not checked against profiles).
        let mut claims = Vec::new();
        if parsed {
            unheld_claims(json, root_name(json), &known, &mut claims);
        }
        let mut warned: Vec<String> = issues
            .iter()
            .filter(|i| i.code.code() == "not-supported")
            .map(|i| i.expression.clone().unwrap_or_default())
            .collect();
        warned.sort();
        claims.sort();
        if warned != claims {
            wrong.push(format!(
                "{name}: unheld profiles\n    expected {claims:?}\n    got      {warned:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The R4 warning invariants a resource (and each resource inside it) falls foul of: dom-6 (no
/// narrative, DomainResources only) and cpb-0/msd-0 (a name with no capital letter).
fn warning_invariants_due(resource: &Value, path: &str, due: &mut Vec<(String, String)>) {
    // Bundle, Parameters and Binary are not DomainResources: they have no narrative.
    let domain = !matches!(
        resource["resourceType"].as_str(),
        Some("Bundle" | "Parameters" | "Binary")
    );
    if domain && resource.pointer("/text/div").is_none() {
        due.push(("dom-6".to_owned(), path.to_owned()));
    }
    let key = match resource["resourceType"].as_str() {
        Some("CapabilityStatement") => Some("cpb-0"),
        Some("MessageDefinition") => Some("msd-0"),
        _ => None,
    };
    if let (Some(key), Some(name)) = (key, resource["name"].as_str()) {
        // `name.matches('[A-Z]([A-Za-z0-9_]){0,254}')`: FHIRPath N1's matches() is a partial
        // match, and the pattern's tail may be empty, so any capital letter satisfies it.
        let matches = name.contains(|c: char| c.is_ascii_uppercase());
        if !matches {
            due.push((key.to_owned(), path.to_owned()));
        }
    }
    for (i, inner) in resource["contained"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        warning_invariants_due(inner, &format!("{path}.contained[{i}]"), due);
    }
    for (i, entry) in resource["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        if entry["resource"].is_object() {
            warning_invariants_due(
                &entry["resource"],
                &format!("{path}.entry[{i}].resource"),
                due,
            );
        }
    }
}

fn root_name(json: &Value) -> &str {
    json["resourceType"].as_str().unwrap_or("Resource")
}

/// The `meta.profile` claims naming a profile Signpost neither holds nor derives one of its
/// own from (a held profile's `baseDefinition`), with their locations, in `resource` and the
/// resources inside it.
fn unheld_claims(resource: &Value, expr: &str, known: &[String], out: &mut Vec<String>) {
    for (i, claim) in resource
        .pointer("/meta/profile")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        if claim
            .as_str()
            .is_some_and(|url| !known.iter().any(|k| k == url))
        {
            out.push(format!("{expr}.meta.profile[{i}]"));
        }
    }
    for (n, item) in resource["contained"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        unheld_claims(item, &format!("{expr}.contained[{n}]"), known, out);
    }
    for (n, item) in resource["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        if item["resource"].is_object() {
            unheld_claims(
                &item["resource"],
                &format!("{expr}.entry[{n}].resource"),
                known,
                out,
            );
        }
    }
}

/// The held profiles' URLs and the URLs they derive from.
fn known_profiles() -> Vec<String> {
    let dir = corpus::workspace().join("profiles/definitions");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("profiles/definitions") {
        let path = entry.expect("entry").path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("StructureDefinition-"))
        {
            let sd: Value =
                serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("JSON");
            for key in ["url", "baseDefinition"] {
                if let Some(url) = sd[key].as_str() {
                    out.push(url.to_owned());
                }
            }
        }
    }
    out
}
