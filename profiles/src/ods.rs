//! ODS codes: the Organisation Data Service identifiers that key every tenant.

use std::fmt;

/// The identifier system for ODS organisation codes (UK Core Organization).
pub const ODS_SYSTEM: &str = "https://fhir.nhs.uk/Id/ods-organization-code";

/// Why a string is not an ODS code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an ODS code is 3 to 10 upper-case letters and digits, e.g. A81001")]
pub struct OdsCodeError;

/// An ODS organisation code such as `A81001` (GP practice) or `RYE` (trust).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct OdsCode(String);

impl OdsCode {
    /// Parses a code: 3 to 10 characters, upper-case ASCII letters and digits only.
    pub fn parse(raw: &str) -> Result<Self, OdsCodeError> {
        let ok = (3..=10).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(OdsCodeError)
        }
    }

    /// The code as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OdsCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for OdsCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        OdsCode::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_practice_trust_and_service_codes() {
        for c in ["A81001", "RYE", "LWS001", "VCS002", "15F"] {
            assert!(OdsCode::parse(c).is_ok(), "{c}");
        }
    }

    #[test]
    fn rejects_lower_case_punctuation_and_bad_lengths() {
        for c in ["a81001", "A8-001", "AB", "ABCDEFGHIJK", "", "A81 01"] {
            assert_eq!(OdsCode::parse(c), Err(OdsCodeError), "{c}");
        }
    }
}
