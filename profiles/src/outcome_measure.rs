//! The outcome measures a link worker reports in `Task.output`, defined once: their codes (SNOMED
//! CT where a verified code exists, Signpost's own code system otherwise), the older codes still
//! accepted on input, and the value each must carry.
//!
//! The shipped definitions (`definitions/CodeSystem-outcome-measure.json`,
//! `ValueSet-outcome-measure.json`, `CodeSystem-loneliness-frequency.json`), which the validator
//! binds `Task.output.type` to, are kept identical to this table by the tests below; the workflow
//! checks values and stores the preferred coding from it. The value rules live here because a
//! CodeSystem has nowhere to say "an integer from 0 to 10".

/// SNOMED CT.
pub const SNOMED_SYSTEM: &str = "http://snomed.info/sct";
/// Signpost's code system for the outcome measures that have no verified standard code.
pub const OUTCOME_SYSTEM: &str = "https://signpost.example/fhir/CodeSystem/outcome-measure";
/// The ValueSet of every outcome measure (preferred codes and accepted aliases), bound to `Task.output.type`.
pub const OUTCOME_VALUE_SET: &str = "https://signpost.example/fhir/ValueSet/outcome-measure";
/// Signpost's code system for the answers to the ONS direct loneliness question.
pub const LONELINESS_SYSTEM: &str = "https://signpost.example/fhir/CodeSystem/loneliness-frequency";
/// Extension on `Task.output` saying when a measure was taken (`baseline` or `follow-up`).
pub const TIMEPOINT_EXTENSION: &str =
    "https://signpost.example/fhir/StructureDefinition/measure-timepoint";
/// The time points.
pub const TIMEPOINTS: [&str; 2] = ["baseline", "follow-up"];

/// SNOMED CT 871711000000103, the situation recorded in `Task.statusReason` when the person
/// declines social prescribing (STANDARDS.md 7.1).
pub const PERSON_DECLINED: Code = Code {
    system: SNOMED_SYSTEM,
    code: "871711000000103",
    display: "Social prescribing declined",
};

/// A code in a code system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code {
    /// The code system's canonical URL.
    pub system: &'static str,
    /// The code.
    pub code: &'static str,
    /// Its display.
    pub display: &'static str,
}

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
    /// `valueCodeableConcept` with one of these answers, taken at a time point.
    Answer(&'static [Code]),
    /// `valueReference` to an organisation by ODS code.
    Organisation,
}

/// One outcome measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measure {
    /// The preferred code, the one Signpost stores.
    pub code: Code,
    /// Older codes accepted on input for the same measure; stored as [`Measure::code`].
    pub aliases: &'static [Code],
    /// What its value must be.
    pub value: MeasureValue,
}

const fn own(code: &'static str, display: &'static str) -> Code {
    Code {
        system: OUTCOME_SYSTEM,
        code,
        display,
    }
}

const fn snomed(code: &'static str, display: &'static str) -> Code {
    Code {
        system: SNOMED_SYSTEM,
        code,
        display,
    }
}

const fn answer(code: &'static str, display: &'static str) -> Code {
    Code {
        system: LONELINESS_SYSTEM,
        code,
        display,
    }
}

const fn score(code: Code, min: i64, max: i64) -> Measure {
    Measure {
        code,
        aliases: &[],
        value: MeasureValue::Score { min, max },
    }
}

/// The five answers of the ONS direct loneliness question (GSS harmonised standard), in its order.
pub const LONELINESS_ANSWERS: &[Code] = &[
    answer("often-always", "Often or always"),
    answer("some-of-the-time", "Some of the time"),
    answer("occasionally", "Occasionally"),
    answer("hardly-ever", "Hardly ever"),
    answer("never", "Never"),
];

/// Every outcome measure.
pub const MEASURES: &[Measure] = &[
    score(
        own(
            "ons4-life-satisfaction",
            "ONS4: how satisfied are you with your life nowadays (0-10)",
        ),
        0,
        10,
    ),
    score(
        own(
            "ons4-worthwhile",
            "ONS4: to what extent do you feel the things you do are worthwhile (0-10)",
        ),
        0,
        10,
    ),
    score(
        own(
            "ons4-happiness",
            "ONS4: how happy did you feel yesterday (0-10)",
        ),
        0,
        10,
    ),
    score(
        own(
            "ons4-anxiety",
            "ONS4: how anxious did you feel yesterday (0-10)",
        ),
        0,
        10,
    ),
    Measure {
        code: snomed(
            "718466001",
            "Short Warwick-Edinburgh Mental Well-being Scale score",
        ),
        aliases: &[
            snomed(
                "960481000000107",
                "Short Warwick-Edinburgh Mental Well-being Scale score",
            ),
            own(
                "swemwbs-total",
                "Short Warwick-Edinburgh Mental Wellbeing Scale total (7-35)",
            ),
        ],
        value: MeasureValue::Score { min: 7, max: 35 },
    },
    Measure {
        code: snomed(
            "718426000",
            "Warwick-Edinburgh Mental Well-being Scale score",
        ),
        aliases: &[snomed(
            "885541000000103",
            "Warwick-Edinburgh Mental Well-being Scale score",
        )],
        value: MeasureValue::Score { min: 14, max: 70 },
    },
    score(
        own("ucla3-total", "UCLA 3-item loneliness scale total (3-9)"),
        3,
        9,
    ),
    Measure {
        code: own(
            "ons-loneliness",
            "ONS direct loneliness question: how often do you feel lonely?",
        ),
        aliases: &[],
        value: MeasureValue::Answer(LONELINESS_ANSWERS),
    },
    Measure {
        code: own("vcs-service-attended", "A VCS service the person attended"),
        aliases: &[],
        value: MeasureValue::Organisation,
    },
];

/// The measure coded `code` in `system`, by its preferred code or an alias.
pub fn measure(system: &str, code: &str) -> Option<&'static Measure> {
    MEASURES.iter().find(|m| {
        std::iter::once(&m.code)
            .chain(m.aliases)
            .any(|c| c.system == system && c.code == code)
    })
}

/// Every code in Signpost's outcome-measure code system (preferred and alias), in table order.
pub fn own_codes() -> impl Iterator<Item = &'static Code> {
    MEASURES
        .iter()
        .flat_map(|m| std::iter::once(&m.code).chain(m.aliases))
        .filter(|c| c.system == OUTCOME_SYSTEM)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn definition(json: &str) -> Value {
        serde_json::from_str(json).expect("the shipped definition is JSON")
    }

    fn concepts(system: &Value) -> Vec<(String, String)> {
        system["concept"]
            .as_array()
            .expect("concepts")
            .iter()
            .map(|c| {
                (
                    c["code"].as_str().expect("code").to_owned(),
                    c["display"].as_str().expect("display").to_owned(),
                )
            })
            .collect()
    }

    fn pairs<'a>(codes: impl Iterator<Item = &'a Code>) -> Vec<(String, String)> {
        codes
            .map(|c| (c.code.to_owned(), c.display.to_owned()))
            .collect()
    }

    #[test]
    fn the_own_codes_are_exactly_the_shipped_code_system() {
        let system = definition(include_str!(
            "../definitions/CodeSystem-outcome-measure.json"
        ));
        assert_eq!(system["url"], OUTCOME_SYSTEM);
        assert_eq!(concepts(&system), pairs(own_codes()));
    }

    #[test]
    fn the_loneliness_answers_are_exactly_the_shipped_code_system() {
        let system = definition(include_str!(
            "../definitions/CodeSystem-loneliness-frequency.json"
        ));
        assert_eq!(system["url"], LONELINESS_SYSTEM);
        assert_eq!(concepts(&system), pairs(LONELINESS_ANSWERS.iter()));
    }

    #[test]
    fn the_shipped_value_set_holds_every_preferred_code_and_alias() {
        let value_set = definition(include_str!("../definitions/ValueSet-outcome-measure.json"));
        assert_eq!(value_set["url"], OUTCOME_VALUE_SET);
        let snomed: Vec<Value> = MEASURES
            .iter()
            .flat_map(|m| std::iter::once(&m.code).chain(m.aliases))
            .filter(|c| c.system == SNOMED_SYSTEM)
            .map(|c| json!({"code": c.code, "display": c.display}))
            .collect();
        assert_eq!(
            value_set["compose"]["include"],
            json!([{"system": SNOMED_SYSTEM, "concept": snomed}, {"system": OUTCOME_SYSTEM}])
        );
    }

    #[test]
    fn aliases_find_the_measure_they_stand_for() {
        let swemwbs = measure(SNOMED_SYSTEM, "960481000000107").expect("alias");
        assert_eq!(swemwbs.code.code, "718466001");
        assert_eq!(
            measure(OUTCOME_SYSTEM, "swemwbs-total").map(|m| m.code.code),
            Some("718466001")
        );
        let wemwbs = measure(SNOMED_SYSTEM, "885541000000103").expect("alias");
        assert_eq!(
            (wemwbs.code.code, wemwbs.value),
            ("718426000", MeasureValue::Score { min: 14, max: 70 })
        );
        assert_eq!(measure(OUTCOME_SYSTEM, "718466001"), None, "systems matter");
    }

    #[test]
    fn the_readme_names_every_measure_alias_and_answer() {
        let readme = include_str!("../../README.md");
        let codes = MEASURES
            .iter()
            .flat_map(|m| std::iter::once(&m.code).chain(m.aliases))
            .chain(LONELINESS_ANSWERS)
            .chain([&PERSON_DECLINED]);
        for code in codes {
            assert!(
                readme.contains(&format!("`{}`", code.code)),
                "README.md does not name {}|{}",
                code.system,
                code.code
            );
        }
    }
}
