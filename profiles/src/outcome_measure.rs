//! Signpost's outcome-measure code system: the codes a link worker reports in `Task.output`,
//! with the value each must carry.
//!
//! The codes and displays are those of `definitions/CodeSystem-outcome-measure.json`, which the
//! validator binds `Task.output.type` to; a test keeps the two identical. The value rules live
//! here because a CodeSystem has nowhere to say "an integer from 0 to 10".

/// Signpost's code system for social prescribing outcome measures.
pub const OUTCOME_SYSTEM: &str = "https://signpost.example/fhir/CodeSystem/outcome-measure";
/// The ValueSet of every outcome measure, bound to `Task.output.type`.
pub const OUTCOME_VALUE_SET: &str = "https://signpost.example/fhir/ValueSet/outcome-measure";
/// Extension on `Task.output` saying when a measure was taken (`baseline` or `follow-up`).
pub const TIMEPOINT_EXTENSION: &str =
    "https://signpost.example/fhir/StructureDefinition/measure-timepoint";
/// The time points.
pub const TIMEPOINTS: [&str; 2] = ["baseline", "follow-up"];

/// What a measure's value must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeasureValue {
    /// `valueInteger` within the inclusive range, taken at a time point.
    Score {
        /// The lowest score.
        min: i64,
        /// The highest score.
        max: i64,
    },
    /// `valueReference` to an organisation by ODS code.
    Organisation,
}

/// One code of the outcome-measure code system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measure {
    /// The code, in [`OUTCOME_SYSTEM`].
    pub code: &'static str,
    /// Its display, as in the CodeSystem.
    pub display: &'static str,
    /// What its value must be.
    pub value: MeasureValue,
}

const fn score(code: &'static str, display: &'static str, min: i64, max: i64) -> Measure {
    Measure {
        code,
        display,
        value: MeasureValue::Score { min, max },
    }
}

/// Every code in the outcome code system, in the CodeSystem's order.
pub const MEASURES: &[Measure] = &[
    score(
        "ons4-life-satisfaction",
        "ONS4: how satisfied are you with your life nowadays (0-10)",
        0,
        10,
    ),
    score(
        "ons4-worthwhile",
        "ONS4: to what extent do you feel the things you do are worthwhile (0-10)",
        0,
        10,
    ),
    score(
        "ons4-happiness",
        "ONS4: how happy did you feel yesterday (0-10)",
        0,
        10,
    ),
    score(
        "ons4-anxiety",
        "ONS4: how anxious did you feel yesterday (0-10)",
        0,
        10,
    ),
    score(
        "swemwbs-total",
        "Short Warwick-Edinburgh Mental Wellbeing Scale total (7-35)",
        7,
        35,
    ),
    score(
        "ucla3-total",
        "UCLA 3-item loneliness scale total (3-9)",
        3,
        9,
    ),
    Measure {
        code: "vcs-service-attended",
        display: "A VCS service the person attended",
        value: MeasureValue::Organisation,
    },
];

/// The measure with this code, if the code system has it.
pub fn measure(code: &str) -> Option<&'static Measure> {
    MEASURES.iter().find(|m| m.code == code)
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn definition(json: &str) -> Value {
        serde_json::from_str(json).expect("the shipped definition is JSON")
    }

    #[test]
    fn the_measures_are_exactly_the_shipped_code_system() {
        let system = definition(include_str!(
            "../definitions/CodeSystem-outcome-measure.json"
        ));
        assert_eq!(system["url"], OUTCOME_SYSTEM);
        let shipped: Vec<(&str, &str)> = system["concept"]
            .as_array()
            .expect("concepts")
            .iter()
            .map(|c| {
                (
                    c["code"].as_str().expect("code"),
                    c["display"].as_str().expect("display"),
                )
            })
            .collect();
        let ours: Vec<(&str, &str)> = MEASURES.iter().map(|m| (m.code, m.display)).collect();
        assert_eq!(ours, shipped);
    }

    #[test]
    fn the_shipped_value_set_is_the_whole_code_system() {
        let value_set = definition(include_str!("../definitions/ValueSet-outcome-measure.json"));
        assert_eq!(value_set["url"], OUTCOME_VALUE_SET);
        assert_eq!(
            value_set["compose"]["include"],
            serde_json::json!([{"system": OUTCOME_SYSTEM}])
        );
    }
}
