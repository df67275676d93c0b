//! A report request as the outputs receive it (`by`, `interval`, `from`, `to`, `group` as text)
//! parsed into a [`ReportQuery`], whichever output asked: FHIR, CSV or the console.

use time::{Date, Month, format_description::well_known::Iso8601};

use super::measures::{DIMENSIONS, dimension_code};
use super::model::{Dimension, Interval, ReportQuery};

/// The longest span one report covers, in months: a report is computed on request.
pub const MAX_SPAN_MONTHS: i32 = 36;

/// Why a report request was refused; `parameter` names the parameter as the caller sent it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{parameter}: {message}")]
pub struct QueryError {
    /// The parameter at fault, named as the caller's protocol names it.
    pub parameter: String,
    /// What is wrong with it.
    pub message: String,
}

/// One part of a request: the name the caller's protocol gives it, and its value if sent.
pub type Part<'a> = (&'a str, Option<&'a str>);

/// The raw parts of a request, each with the name its caller's protocol gives it.
#[derive(Debug, Clone)]
pub struct RawQuery<'a> {
    /// The dimension.
    pub by: Part<'a>,
    /// The interval.
    pub interval: Part<'a>,
    /// The first day.
    pub from: Part<'a>,
    /// The first day not covered.
    pub to: Part<'a>,
    /// The group asked for, if any.
    pub group: Option<String>,
}

fn error(parameter: &str, message: impl Into<String>) -> QueryError {
    QueryError {
        parameter: parameter.to_owned(),
        message: message.into(),
    }
}

/// A dimension by its code (`practice`, `pcn`, …).
pub fn parse_dimension(raw: &str) -> Option<Dimension> {
    DIMENSIONS.into_iter().find(|d| dimension_code(*d) == raw)
}

/// An interval by its code (`month`, `quarter`).
pub fn parse_interval(raw: &str) -> Option<Interval> {
    match raw {
        "month" => Some(Interval::Month),
        "quarter" => Some(Interval::Quarter),
        _ => None,
    }
}

/// The code of an interval.
pub fn interval_code(interval: Interval) -> &'static str {
    match interval {
        Interval::Month => "month",
        Interval::Quarter => "quarter",
    }
}

fn months_since_zero(d: Date) -> i32 {
    d.year() * 12 + i32::from(u8::from(d.month())) - 1
}

fn day(parameter: &str, raw: &str, interval: Interval) -> Result<Date, QueryError> {
    let date = Date::parse(raw, &Iso8601::DATE)
        .map_err(|_| error(parameter, format!("\"{raw}\" is not a date (YYYY-MM-DD)")))?;
    let starts_interval = date.day() == 1
        && match interval {
            Interval::Month => true,
            Interval::Quarter => matches!(
                date.month(),
                Month::January | Month::April | Month::July | Month::October
            ),
        };
    if !starts_interval {
        return Err(error(
            parameter,
            format!(
                "{raw} does not start a {}: a report covers whole {}s",
                interval_code(interval),
                interval_code(interval)
            ),
        ));
    }
    Ok(date)
}

fn required<'a>((name, value): Part<'a>) -> Result<(&'a str, &'a str), QueryError> {
    value
        .map(|v| (name, v))
        .ok_or_else(|| error(name, "is required"))
}

/// Parses a request: every part present and well formed, the span whole intervals, `from`
/// before `to`, at most [`MAX_SPAN_MONTHS`].
pub fn parse_query(raw: &RawQuery<'_>) -> Result<ReportQuery, QueryError> {
    let (by_name, by_raw) = required(raw.by)?;
    let by = parse_dimension(by_raw).ok_or_else(|| {
        let known: Vec<&str> = DIMENSIONS.into_iter().map(dimension_code).collect();
        error(
            by_name,
            format!("\"{by_raw}\" is not one of {}", known.join(", ")),
        )
    })?;
    let (interval_name, interval_raw) = required(raw.interval)?;
    let interval = parse_interval(interval_raw).ok_or_else(|| {
        error(
            interval_name,
            format!("\"{interval_raw}\" is not month or quarter"),
        )
    })?;
    let (from_name, from_raw) = required(raw.from)?;
    let (to_name, to_raw) = required(raw.to)?;
    let from = day(from_name, from_raw, interval)?;
    let to = day(to_name, to_raw, interval)?;
    if to <= from {
        return Err(error(
            to_name,
            format!("{to_raw} must be after the start, {from_raw}"),
        ));
    }
    if months_since_zero(to) - months_since_zero(from) > MAX_SPAN_MONTHS {
        return Err(error(
            to_name,
            format!("a report covers at most {MAX_SPAN_MONTHS} months"),
        ));
    }
    Ok(ReportQuery {
        by,
        interval,
        from,
        to,
        group: raw.group.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn raw<'a>(by: &'a str, interval: &'a str, from: &'a str, to: &'a str) -> RawQuery<'a> {
        RawQuery {
            by: ("by", Some(by)),
            interval: ("interval", Some(interval)),
            from: ("from", Some(from)),
            to: ("to", Some(to)),
            group: None,
        }
    }

    #[test]
    fn a_span_of_whole_intervals_parses() {
        let q = parse_query(&raw("pcn", "quarter", "2026-01-01", "2026-07-01")).expect("valid");
        assert_eq!(
            (q.by, q.interval, q.from, q.to),
            (
                Dimension::Pcn,
                Interval::Quarter,
                date!(2026 - 01 - 01),
                date!(2026 - 07 - 01)
            )
        );
    }

    #[test]
    fn each_fault_names_the_parameter_as_sent() {
        let fault = |r: RawQuery<'_>| parse_query(&r).expect_err("refused").parameter;
        assert_eq!(
            fault(raw("ward", "month", "2026-01-01", "2026-02-01")),
            "by"
        );
        assert_eq!(
            fault(raw("practice", "week", "2026-01-01", "2026-02-01")),
            "interval"
        );
        assert_eq!(
            fault(raw("practice", "quarter", "2026-02-01", "2026-07-01")),
            "from"
        );
        assert_eq!(
            fault(raw("practice", "month", "2026-03-01", "2026-03-01")),
            "to"
        );
        assert_eq!(
            fault(raw("practice", "month", "2020-01-01", "2026-03-01")),
            "to"
        );
        assert_eq!(
            fault(raw("practice", "month", "yesterday", "2026-03-01")),
            "from"
        );
        let mut named = raw("practice", "month", "2026-01-15", "2026-03-01");
        named.from = ("period", Some("2026-01-15"));
        assert_eq!(fault(named), "period");
    }
}
