//! Outcome measures a link worker reports on completion, checked before they are stored.
//!
//! No LOINC or SNOMED CT codes for these score totals could be verified, so they are coded
//! in Signpost's own code system (see the README); each output carries its time point.

use serde_json::Value;
use signpost_profiles::outcome_measure::{MEASURES, MeasureValue, measure};
pub use signpost_profiles::outcome_measure::{OUTCOME_SYSTEM, TIMEPOINT_EXTENSION, TIMEPOINTS};
use signpost_profiles::{Issue, IssueType, ODS_SYSTEM};

/// Checks every `Task.output`: a known measure code, a value of the right kind and range, and a time point for scores.
pub fn check_outputs(task: &Value) -> Vec<Issue> {
    let mut issues = Vec::new();
    let Some(outputs) = task.get("output").and_then(Value::as_array) else {
        return issues;
    };
    for (i, output) in outputs.iter().enumerate() {
        let at = format!("Task.output[{i}]");
        let code = output
            .pointer("/type/coding")
            .and_then(Value::as_array)
            .and_then(|codings| {
                codings
                    .iter()
                    .find(|c| c.get("system").and_then(Value::as_str) == Some(OUTCOME_SYSTEM))
            })
            .and_then(|c| c.get("code").and_then(Value::as_str));
        let Some(found) = code.and_then(measure) else {
            let known: Vec<&str> = MEASURES.iter().map(|m| m.code).collect();
            issues.push(
                Issue::error(
                    IssueType::Value,
                    format!(
                        "the output type must be coded in {OUTCOME_SYSTEM}, one of: {}",
                        known.join(", ")
                    ),
                )
                .at(format!("{at}.type")),
            );
            continue;
        };
        match found.value {
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
                let timepoint = output
                    .get("extension")
                    .and_then(Value::as_array)
                    .and_then(|exts| {
                        exts.iter().find(|e| {
                            e.get("url").and_then(Value::as_str) == Some(TIMEPOINT_EXTENSION)
                        })
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
            }
        }
    }
    issues
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
}
