//! Ordering for `<`, `<=`, `>`, `>=`: numbers, dates and date-times of any precision (per-1,
//! Task inv-1) and quantities of one unit (rng-2).

use std::cmp::Ordering;

use serde_json::Value;

use super::decimal::Decimal;
use super::eval::{EvalError, Item, number, text};

/// `None` when the two cannot be ordered (different kinds, units or an uncertain precision).
pub(crate) fn compare(a: &Item<'_>, b: &Item<'_>) -> Result<Option<Ordering>, EvalError> {
    if let (Some(x), Some(y)) = (number(a)?, number(b)?) {
        return Ok(x.compare(y));
    }
    if let (Some(x), Some(y)) = (text(a), text(b)) {
        return Ok(match (moment(x), moment(y)) {
            (Some(x), Some(y)) => x.compare(&y),
            _ => None,
        });
    }
    quantities(a, b)
}

/// Two Quantities of one unit, by value.
fn quantities(a: &Item<'_>, b: &Item<'_>) -> Result<Option<Ordering>, EvalError> {
    if let (Item::Node(Value::Object(x), _), Item::Node(Value::Object(y), _)) = (a, b) {
        let unit = |m: &serde_json::Map<String, Value>| {
            m.get("code")
                .or_else(|| m.get("unit"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        if unit(x) != unit(y) {
            return Ok(None);
        }
        let value = |m: &serde_json::Map<String, Value>| match m.get("value") {
            Some(Value::Number(n)) => Decimal::from_json(n)
                .map(Some)
                .ok_or_else(|| EvalError::Number(n.to_string())),
            _ => Ok(None),
        };
        return Ok(match (value(x)?, value(y)?) {
            (Some(vx), Some(vy)) => vx.compare(vy),
            _ => None,
        });
    }
    Ok(None)
}

/// A date or date-time, as far as it was given.
struct Moment {
    /// Year, month, day, hour, minute, second (milliseconds), as given.
    parts: Vec<i64>,
    /// Offset east of UTC in minutes, when a time was given with one.
    offset: Option<i64>,
}

fn moment(s: &str) -> Option<Moment> {
    let (date, time) = match s.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let mut parts = Vec::new();
    for (i, p) in date.split('-').enumerate() {
        if i > 2 || p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        parts.push(p.parse().ok()?);
    }
    if parts.first().is_none_or(|_| date.len() < 4) {
        return None;
    }
    let mut offset = None;
    if let Some(t) = time {
        let (clock, zone) = match t.find(['Z', '+', '-']) {
            Some(i) => (&t[..i], Some(&t[i..])),
            None => (t, None),
        };
        let mut fields = clock.split(':');
        for _ in 0..2 {
            parts.push(fields.next()?.parse().ok()?);
        }
        if let Some(sec) = fields.next() {
            let secs: f64 = sec.parse().ok()?;
            parts.push((secs * 1000.0).round() as i64);
        }
        offset = match zone {
            None => None,
            Some("Z") => Some(0),
            Some(z) => {
                let sign = if z.starts_with('-') { -1 } else { 1 };
                let (h, m) = z[1..].split_once(':')?;
                Some(sign * (h.parse::<i64>().ok()? * 60 + m.parse::<i64>().ok()?))
            }
        };
    }
    Some(Moment { parts, offset })
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl Moment {
    fn compare(&self, other: &Moment) -> Option<Ordering> {
        // Both instants with zones: compare on one clock.
        if self.parts.len() >= 5
            && other.parts.len() >= 5
            && let (Some(a), Some(b)) = (self.offset, other.offset)
        {
            let ms = |m: &Moment, off: i64| {
                let p = &m.parts;
                let minutes = days(p[0], p[1], p[2]) * 1440 + p[3] * 60 + p[4] - off;
                minutes * 60_000 + p.get(5).copied().unwrap_or(0)
            };
            return Some(ms(self, a).cmp(&ms(other, b)));
        }
        let common = self.parts.len().min(other.parts.len());
        match self.parts[..common].cmp(&other.parts[..common]) {
            Ordering::Equal if self.parts.len() != other.parts.len() => None,
            ord => Some(ord),
        }
    }
}
