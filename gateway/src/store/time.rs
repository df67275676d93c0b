//! Time as the store keeps it: microseconds since the epoch, shown as FHIR instants.

use ::time::OffsetDateTime;
use ::time::format_description::well_known::Rfc3339;

/// A point in time with microsecond precision, comparable as an integer in SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Instant(pub i64);

/// The current time.
pub fn now() -> Instant {
    Instant::from_datetime(OffsetDateTime::now_utc())
}

impl Instant {
    /// From a date-time in any offset.
    pub fn from_datetime(dt: OffsetDateTime) -> Self {
        Self((dt.unix_timestamp_nanos() / 1000) as i64)
    }

    /// As a UTC date-time.
    pub fn to_datetime(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// FHIR `instant`, e.g. `2026-11-23T09:38:38.123456Z`.
    pub fn to_fhir(self) -> String {
        self.to_datetime().format(&Rfc3339).unwrap_or_default()
    }

    /// HTTP date for `Last-Modified`, e.g. `Mon, 23 Nov 2026 09:38:38 GMT`.
    pub fn to_http_date(self) -> String {
        let format = ::time::macros::format_description!(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
        );
        self.to_datetime().format(&format).unwrap_or_default()
    }

    /// This instant plus some milliseconds.
    pub fn plus_millis(self, ms: u64) -> Self {
        Self(
            self.0
                .saturating_add(i64::try_from(ms).unwrap_or(i64::MAX).saturating_mul(1000)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_as_fhir_instant_and_http_date() {
        let t = Instant(1_795_427_918_123_456);
        assert_eq!(t.to_fhir(), "2026-11-23T09:58:38.123456Z");
        assert_eq!(t.to_http_date(), "Mon, 23 Nov 2026 09:58:38 GMT");
    }
}
