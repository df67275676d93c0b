//! NHS number: ten digits whose last is a modulus-11 check digit.

use std::fmt;

/// The identifier system for NHS numbers (fixed in UK Core Patient).
pub const NHS_NUMBER_SYSTEM: &str = "https://fhir.nhs.uk/Id/nhs-number";

/// Why a string is not an NHS number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NhsNumberError {
    /// Not exactly ten digits.
    #[error("an NHS number has exactly 10 digits")]
    Length,
    /// Spaces or separators between the digit groups, as the number is often printed.
    #[error(
        "an NHS number is sent as ten digits with no spaces or separators (9434765919, not 943 476 5919 or 943-476-5919)"
    )]
    Separators,
    /// A character that is neither an ASCII digit nor a separator.
    #[error("an NHS number holds only the ASCII digits 0-9")]
    NotDigits,
    /// The modulus-11 check digit does not match.
    #[error("the check digit is wrong (modulus 11)")]
    CheckDigit,
}

/// A well-formed NHS number with a correct check digit.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct NhsNumber(String);

impl NhsNumber {
    /// Parses exactly ten ASCII digits and checks the modulus-11 digit.
    ///
    /// Nothing is normalised: a number stored as "943 476 5919" would be missed by every search
    /// for 9434765919 (STANDARDS.md 2.2), so the sender is told to send the digits alone.
    pub fn parse(raw: &str) -> Result<Self, NhsNumberError> {
        let is_separator = |c: char| c.is_whitespace() || matches!(c, '-' | '.' | '/' | '_');
        if raw.chars().any(is_separator)
            && raw.chars().all(|c| c.is_ascii_digit() || is_separator(c))
        {
            return Err(NhsNumberError::Separators);
        }
        if !raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err(NhsNumberError::NotDigits);
        }
        if raw.len() != 10 {
            return Err(NhsNumberError::Length);
        }
        let compact = raw;
        let digits: Vec<u32> = compact.bytes().map(|b| u32::from(b - b'0')).collect();
        let sum: u32 = digits[..9]
            .iter()
            .zip((2..=10).rev())
            .map(|(d, w)| d * w)
            .sum();
        let check = match 11 - sum % 11 {
            11 => 0,
            10 => return Err(NhsNumberError::CheckDigit),
            c => c,
        };
        if check != digits[9] {
            return Err(NhsNumberError::CheckDigit);
        }
        Ok(Self(compact.to_owned()))
    }

    /// The ten digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

// Debug deliberately hides the digits: an NHS number must never reach a log by accident.
impl fmt::Debug for NhsNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NhsNumber(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_numbers_with_a_correct_check_digit() {
        for n in ["9434765919", "9912003888", "9476719931", "9000000009"] {
            assert!(NhsNumber::parse(n).is_ok(), "{n} should be valid");
        }
    }

    #[test]
    fn refuses_spaces_and_separators_instead_of_normalising() {
        for n in [
            "943 476 5919",
            "943-476-5919",
            " 9434765919",
            "9434765919\n",
        ] {
            assert_eq!(
                NhsNumber::parse(n),
                Err(NhsNumberError::Separators),
                "{n:?}"
            );
        }
        let message = NhsNumberError::Separators.to_string();
        assert!(message.contains("no spaces or separators"), "{message}");
        // Fullwidth or Arabic-Indic digits are not ASCII digits.
        assert_eq!(
            NhsNumber::parse("９４３４７６５９１９"),
            Err(NhsNumberError::NotDigits)
        );
    }

    #[test]
    fn rejects_published_examples_that_fail_modulus_11() {
        for n in ["3478526985", "9912003890", "4857773456", "9434765918"] {
            assert_eq!(NhsNumber::parse(n), Err(NhsNumberError::CheckDigit), "{n}");
        }
    }

    #[test]
    fn rejects_a_number_whose_check_would_be_ten() {
        // 1000000010: weighted sum 10 -> 11 - 10 = 1? pick digits so that the remainder is 1.
        // 0000000060: 6*2 = 12, 12 % 11 = 1, 11 - 1 = 10 -> never valid whatever the last digit.
        for last in 0..=9 {
            assert_eq!(
                NhsNumber::parse(&format!("000000006{last}")),
                Err(NhsNumberError::CheckDigit)
            );
        }
    }

    #[test]
    fn rejects_wrong_length_and_letters() {
        assert_eq!(NhsNumber::parse("943476591"), Err(NhsNumberError::Length));
        assert_eq!(NhsNumber::parse("94347659190"), Err(NhsNumberError::Length));
        assert_eq!(
            NhsNumber::parse("94347X5919"),
            Err(NhsNumberError::NotDigits)
        );
        assert_eq!(NhsNumber::parse(""), Err(NhsNumberError::Length));
    }

    #[test]
    fn debug_does_not_reveal_the_number() {
        let n = NhsNumber::parse("9434765919").expect("valid");
        assert!(!format!("{n:?}").contains("9434765919"));
    }
}
