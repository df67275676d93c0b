//! FHIRPath numbers as exact decimals: `0.1 + 0.2 = 0.3` and `1.10 = 1.1` hold, as the
//! specification's Decimal type requires, where binary floating point would not.

use std::cmp::Ordering;

/// A decimal number: `mantissa × 10^-scale`.
/// Kept with no trailing zeros, so the derived equality is equality of value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Decimal {
    mantissa: i128,
    scale: u32,
}

/// Digits beyond this are not exact in an `i128`; such numbers are refused rather than rounded.
const MAX_SCALE: u32 = 30;

impl Decimal {
    /// An integer.
    pub(crate) fn int(n: i64) -> Decimal {
        Decimal {
            mantissa: i128::from(n),
            scale: 0,
        }
    }

    /// The size of a collection.
    pub(crate) fn count(n: usize) -> Decimal {
        Decimal {
            mantissa: i128::try_from(n).unwrap_or(i128::MAX),
            scale: 0,
        }
    }

    /// Reads a JSON or FHIRPath number literal (`-12.50`, `1e-3`); `None` outside the exact range.
    pub(crate) fn parse(text: &str) -> Option<Decimal> {
        let (number, exponent) = match text.find(['e', 'E']) {
            Some(i) => (&text[..i], text[i + 1..].parse::<i32>().ok()?),
            None => (text, 0),
        };
        let (negative, digits) = match number.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, number.strip_prefix('+').unwrap_or(number)),
        };
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        if whole.is_empty() && fraction.is_empty()
            || !whole
                .bytes()
                .chain(fraction.bytes())
                .all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let mut mantissa: i128 = 0;
        for b in whole.bytes().chain(fraction.bytes()) {
            mantissa = mantissa
                .checked_mul(10)?
                .checked_add(i128::from(b - b'0'))?;
        }
        let mut scale = i64::try_from(fraction.len()).ok()? - i64::from(exponent);
        while scale < 0 {
            mantissa = mantissa.checked_mul(10)?;
            scale += 1;
        }
        let d = Decimal {
            mantissa: if negative { -mantissa } else { mantissa },
            scale: u32::try_from(scale).ok()?,
        }
        .normal();
        (d.scale <= MAX_SCALE).then_some(d)
    }

    /// Trailing zeros carry no value; dropping them keeps large scales in range.
    fn normal(mut self) -> Decimal {
        while self.scale > 0 && self.mantissa % 10 == 0 {
            self.mantissa /= 10;
            self.scale -= 1;
        }
        self
    }

    /// A JSON number: integers exactly, others from their shortest decimal text, which is the
    /// text sent for any number of up to 15 significant digits.
    pub(crate) fn from_json(n: &serde_json::Number) -> Option<Decimal> {
        if let Some(i) = n.as_i64() {
            return Some(Decimal::int(i));
        }
        if let Some(u) = n.as_u64() {
            return Some(Decimal {
                mantissa: i128::from(u),
                scale: 0,
            });
        }
        Decimal::parse(&n.to_string())
    }

    fn rescale(self, scale: u32) -> Option<i128> {
        self.mantissa
            .checked_mul(10i128.checked_pow(scale - self.scale)?)
    }

    /// `self + other`, `None` on overflow.
    pub(crate) fn add(self, other: Decimal) -> Option<Decimal> {
        let scale = self.scale.max(other.scale);
        let sum = Decimal {
            mantissa: self.rescale(scale)?.checked_add(other.rescale(scale)?)?,
            scale,
        };
        Some(sum.normal())
    }

    /// The order of two values, `None` when they cannot be brought to one scale.
    pub(crate) fn compare(self, other: Decimal) -> Option<Ordering> {
        let scale = self.scale.max(other.scale);
        Some(self.rescale(scale)?.cmp(&other.rescale(scale)?))
    }

    /// The value as a count or index, when it is a whole number of at least zero.
    pub(crate) fn to_index(self) -> Option<usize> {
        if self.scale != 0 {
            return None;
        }
        usize::try_from(self.mantissa).ok()
    }

    /// The value as an integer, when it is a whole number.
    pub(crate) fn is_integer(self) -> bool {
        self.scale == 0
    }
}

impl std::fmt::Display for Decimal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let digits = self.mantissa.unsigned_abs().to_string();
        let sign = if self.mantissa < 0 { "-" } else { "" };
        let scale = self.scale as usize;
        if scale == 0 {
            return write!(f, "{sign}{digits}");
        }
        let padded = format!("{digits:0>width$}", width = scale + 1);
        let (whole, fraction) = padded.split_at(padded.len() - scale);
        write!(f, "{sign}{whole}.{fraction}")
    }
}

#[cfg(test)]
mod tests {
    use super::Decimal;
    use std::cmp::Ordering;

    fn d(s: &str) -> Decimal {
        Decimal::parse(s).expect(s)
    }

    #[test]
    fn sums_and_comparisons_are_exact() {
        assert_eq!(
            d("0.1").add(d("0.2")).map(|x| x.to_string()),
            Some("0.3".into())
        );
        assert_eq!(
            d("0.1").add(d("0.2")).and_then(|x| x.compare(d("0.3"))),
            Some(Ordering::Equal)
        );
        assert_eq!(d("1.10").compare(d("1.1")), Some(Ordering::Equal));
        assert_eq!(d("-2.5").compare(d("1e-3")), Some(Ordering::Less));
        assert_eq!(d("1e3").to_string(), "1000");
        assert_eq!(d("0.05").to_string(), "0.05");
        assert_eq!(d("0.15").add(d("0.05")), Some(d("0.2")));
    }

    #[test]
    fn json_numbers_keep_their_written_value() {
        let n: serde_json::Number = serde_json::from_str("0.3").expect("number");
        assert_eq!(
            Decimal::from_json(&n).map(|x| x.to_string()),
            Some("0.3".into())
        );
        let big: serde_json::Number = serde_json::from_str("18446744073709551615").expect("u64");
        assert_eq!(
            Decimal::from_json(&big).map(|x| x.to_string()),
            Some("18446744073709551615".into())
        );
    }

    #[test]
    fn malformed_or_out_of_range_text_is_refused() {
        for bad in ["", "-", ".", "1.2.3", "1e", "abc", "1e-40"] {
            assert!(Decimal::parse(bad).is_none(), "{bad}");
        }
    }
}
