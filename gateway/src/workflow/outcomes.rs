//! Outcome measures a link worker reports on completion, checked before they are stored and
//! stored under their preferred code.
//!
//! The measures, their codes, aliases and value rules are defined once in
//! `signpost_profiles::outcome_measure`; each score or answer carries its time point.

use serde_json::{Value, json};
use signpost_profiles::outcome_measure::{Code, MEASURES, Measure, MeasureValue, measure};
pub use signpost_profiles::outcome_measure::{OUTCOME_SYSTEM, TIMEPOINT_EXTENSION, TIMEPOINTS};
use signpost_profiles::{Issue, IssueType, ODS_SYSTEM};

/// The measure an output's `type` codes, by preferred code or alias, and the coding's index.
fn coded_measure(output: &Value) -> Option<(usize, &'static Measure)> {
    let codings = output.pointer("/type/coding")?.as_array()?;
    codings.iter().enumerate().find_map(|(i, c)| {
        let system = c.get("system")?.as_str()?;
        let code = c.get("code")?.as_str()?;
        measure(system, code).map(|m| (i, m))
    })
}

fn coding(code: &Code) -> Value {
    json!({"system": code.system, "code": code.code, "display": code.display})
}

/// Checks every `Task.output`: a known measure code, a value of the right kind and range, and a time point for scores and answers.
pub fn check_outputs(task: &Value) -> Vec<Issue> {
    let mut issues = Vec::new();
    let Some(outputs) = task.get("output").and_then(Value::as_array) else {
        return issues;
    };
    for (i, output) in outputs.iter().enumerate() {
        let at = format!("Task.output[{i}]");
        let Some((_, found)) = coded_measure(output) else {
            let known: Vec<String> = MEASURES
                .iter()
                .map(|m| format!("{}|{}", m.code.system, m.code.code))
                .collect();
            issues.push(
                Issue::error(
                    IssueType::Value,
                    format!(
                        "the output type must be one of the outcome measures: {}",
                        known.join(", ")
                    ),
                )
                .at(format!("{at}.type")),
            );
            continue;
        };
        let timed = match found.value {
            MeasureValue::Score { min, max } => {
                match output.get("valueInteger").and_then(Value::as_i64) {
                    Some(v) if (min..=max).contains(&v) => {}
                    Some(v) => issues.push(
                        Issue::error(
                            IssueType::Value,
                            format!("{v} is out of range: this score runs from {min} to {max}"),
                        )
                        .at(format!("{at}.valueInteger")),
                    ),
                    None => issues.push(
                        Issue::error(
                            IssueType::Required,
                            format!("this measure needs a valueInteger from {min} to {max}"),
                        )
                        .at(format!("{at}.value[x]")),
                    ),
                }
                true
            }
            MeasureValue::Answer(answers) => {
                let given = output
                    .pointer("/valueCodeableConcept/coding")
                    .and_then(Value::as_array)
                    .is_some_and(|codings| {
                        codings.iter().any(|c| {
                            answers.iter().any(|a| {
                                c.get("system").and_then(Value::as_str) == Some(a.system)
                                    && c.get("code").and_then(Value::as_str) == Some(a.code)
                            })
                        })
                    });
                if !given {
                    let codes: Vec<&str> = answers.iter().map(|a| a.code).collect();
                    let system = answers.first().map_or("", |a| a.system);
                    issues.push(
                        Issue::error(
                            IssueType::Value,
                            format!(
                                "this question needs a valueCodeableConcept coded in {system}, one of: {}",
                                codes.join(", ")
                            ),
                        )
                        .at(format!("{at}.value[x]")),
                    );
                }
                true
            }
            MeasureValue::Organisation => {
                let ods = output.pointer("/valueReference/identifier").filter(|id| {
                    id.get("system").and_then(Value::as_str) == Some(ODS_SYSTEM)
                        && id
                            .get("value")
                            .and_then(Value::as_str)
                            .is_some_and(|v| signpost_profiles::OdsCode::parse(v).is_ok())
                });
                if ods.is_none() {
                    issues.push(
                        Issue::error(IssueType::Value, "a service attended is a valueReference to the VCS organisation by ODS code")
                            .at(format!("{at}.valueReference")),
                    );
                }
                false
            }
        };
        if timed {
            let timepoint = output
                .get("extension")
                .and_then(Value::as_array)
                .and_then(|exts| {
                    exts.iter()
                        .find(|e| e.get("url").and_then(Value::as_str) == Some(TIMEPOINT_EXTENSION))
                })
                .and_then(|e| e.get("valueCode").and_then(Value::as_str));
            if !timepoint.is_some_and(|t| TIMEPOINTS.contains(&t)) {
                issues.push(
                    Issue::error(
                        IssueType::Required,
                        format!("a score needs the {TIMEPOINT_EXTENSION} extension with valueCode baseline or follow-up"),
                    )
                    .at(format!("{at}.extension")),
                );
            }
        }
    }
    issues
}

/// Rewrites each output coded by an alias (an older UK SNOMED CT id, a retired Signpost code) to
/// the measure's preferred coding, so that every stored score of one measure is found by one code.
/// Runs after [`check_outputs`] found no problem.
pub fn prefer_codes(task: &mut Value) {
    let Some(outputs) = task.get_mut("output").and_then(Value::as_array_mut) else {
        return;
    };
    for output in outputs {
        let Some((index, found)) = coded_measure(output) else {
            continue;
        };
        let Some(codings) = output
            .pointer_mut("/type/coding")
            .and_then(Value::as_array_mut)
        else {
            continue;
        };
        let preferred = coding(&found.code);
        let is_preferred = |c: &Value| {
            c.get("system").and_then(Value::as_str) == Some(found.code.system)
                && c.get("code").and_then(Value::as_str) == Some(found.code.code)
        };
        if !codings.iter().any(is_preferred)
            && let Some(slot) = codings.get_mut(index)
        {
            *slot = preferred;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn score(code: &str, value: Value, timepoint: &str) -> Value {
        json!({
            "extension": [{"url": TIMEPOINT_EXTENSION, "valueCode": timepoint}],
            "type": {"coding": [{"system": OUTCOME_SYSTEM, "code": code}]},
            "valueInteger": value
        })
    }

    fn issues(outputs: Vec<Value>) -> Vec<(String, &'static str)> {
        check_outputs(&json!({"resourceType": "Task", "output": outputs}))
            .into_iter()
            .map(|i| (i.expression.unwrap_or_default(), i.code.code()))
            .collect()
    }

    #[test]
    fn in_range_scores_and_an_attended_service_pass() {
        let ok = vec![
            score("ons4-life-satisfaction", json!(3), "baseline"),
            score("ons4-life-satisfaction", json!(7), "follow-up"),
            score("swemwbs-total", json!(7), "baseline"),
            score("swemwbs-total", json!(35), "follow-up"),
            score("ucla3-total", json!(9), "baseline"),
            json!({"type": {"coding": [{"system": OUTCOME_SYSTEM, "code": "vcs-service-attended"}]},
                   "valueReference": {"identifier": {"system": ODS_SYSTEM, "value": "VCS001"}}}),
        ];
        assert_eq!(issues(ok), vec![]);
    }

    #[test]
    fn out_of_range_wrongly_coded_and_untimed_outputs_are_named() {
        let found = issues(vec![
            score("ons4-happiness", json!(11), "baseline"),
            score("swemwbs-total", json!(6), "follow-up"),
            score("ucla3-total", json!(10), "baseline"),
            json!({"type": {"coding": [{"system": "http://loinc.org", "code": "12345-6"}]}, "valueInteger": 3}),
            score("ons4-anxiety", json!(2), "sometime"),
            json!({"type": {"coding": [{"system": OUTCOME_SYSTEM, "code": "ucla3-total"}]},
                   "extension": [{"url": TIMEPOINT_EXTENSION, "valueCode": "baseline"}], "valueString": "5"}),
        ]);
        assert_eq!(
            found,
            vec![
                ("Task.output[0].valueInteger".into(), "value"),
                ("Task.output[1].valueInteger".into(), "value"),
                ("Task.output[2].valueInteger".into(), "value"),
                ("Task.output[3].type".into(), "value"),
                ("Task.output[4].extension".into(), "required"),
                ("Task.output[5].value[x]".into(), "required"),
            ]
        );
    }

    fn snomed(code: &str, value: i64) -> Value {
        json!({
            "extension": [{"url": TIMEPOINT_EXTENSION, "valueCode": "baseline"}],
            "type": {"coding": [{"system": "http://snomed.info/sct", "code": code}]},
            "valueInteger": value
        })
    }

    #[test]
    fn snomed_totals_their_aliases_and_the_loneliness_question_are_checked() {
        let lonely = |code: &str| {
            json!({"extension": [{"url": TIMEPOINT_EXTENSION, "valueCode": "follow-up"}],
                   "type": {"coding": [{"system": OUTCOME_SYSTEM, "code": "ons-loneliness"}]},
                   "valueCodeableConcept": {"coding": [{"system": "https://signpost.example/fhir/CodeSystem/loneliness-frequency", "code": code}]}})
        };
        let found = issues(vec![
            snomed("718466001", 35),
            snomed("960481000000107", 7),
            snomed("718426000", 70),
            snomed("885541000000103", 14),
            lonely("hardly-ever"),
            snomed("718426000", 13),
            snomed("718466001", 36),
            lonely("sometimes"),
            snomed("123456", 20),
        ]);
        assert_eq!(
            found,
            vec![
                ("Task.output[5].valueInteger".into(), "value"),
                ("Task.output[6].valueInteger".into(), "value"),
                ("Task.output[7].value[x]".into(), "value"),
                ("Task.output[8].type".into(), "value"),
            ]
        );
    }

    #[test]
    fn aliases_are_stored_under_the_preferred_snomed_code() {
        let mut task = json!({"resourceType": "Task", "output": [
            snomed("960481000000107", 20),
            score("swemwbs-total", json!(21), "follow-up"),
            snomed("885541000000103", 50),
            score("ucla3-total", json!(4), "baseline"),
        ]});
        prefer_codes(&mut task);
        let codes: Vec<(&str, &str)> = task["output"]
            .as_array()
            .expect("outputs")
            .iter()
            .map(|o| {
                (
                    o["type"]["coding"][0]["system"].as_str().expect("system"),
                    o["type"]["coding"][0]["code"].as_str().expect("code"),
                )
            })
            .collect();
        assert_eq!(
            codes,
            vec![
                ("http://snomed.info/sct", "718466001"),
                ("http://snomed.info/sct", "718466001"),
                ("http://snomed.info/sct", "718426000"),
                (OUTCOME_SYSTEM, "ucla3-total"),
            ]
        );
    }
}
