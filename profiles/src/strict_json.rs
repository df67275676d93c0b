//! A JSON reader that refuses duplicate member names.
//!
//! serde_json keeps the last of two equal keys, so `{"subject": A, "subject": B}` would be read as
//! B while a system that reads the first would see A. RFC 8259 leaves the meaning undefined;
//! FHIR JSON never repeats a name, so a body that does is refused, naming the member and where.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// The key serde_json uses, with `arbitrary_precision`, to hand a number over as its text.
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

/// Why a body could not be read as JSON.
#[derive(Debug)]
pub enum StrictJsonError {
    /// Not JSON (or nested beyond serde_json's recursion limit).
    Syntax(serde_json::Error),
    /// A member name appears twice in one object.
    Duplicate {
        /// Where the object is: keys and array indexes from the document root.
        location: Vec<Step>,
        /// The repeated member name.
        member: String,
    },
}

/// One step from the document root towards a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// An object member.
    Key(String),
    /// An array item.
    Index(usize),
}

/// Renders `steps` after `root` in FHIRPath style: `root.a.b[2].c`.
pub fn render(root: &str, steps: &[Step]) -> String {
    let mut out = root.to_owned();
    for step in steps {
        match step {
            Step::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Step::Index(i) => {
                out.push('[');
                out.push_str(&i.to_string());
                out.push(']');
            }
        }
    }
    out
}

/// Parses `bytes` into a `Value`, refusing any object with a repeated member name.
pub fn from_slice(bytes: &[u8]) -> Result<Value, StrictJsonError> {
    let found = RefCell::new(None);
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let seed = Seed {
        at: &Trail::Root,
        found: &found,
    };
    let parsed = seed
        .deserialize(&mut deserializer)
        .and_then(|v| deserializer.end().map(|()| v));
    match (parsed, found.into_inner()) {
        (_, Some((location, member))) => Err(StrictJsonError::Duplicate { location, member }),
        (Ok(v), None) => Ok(v),
        (Err(e), None) => Err(StrictJsonError::Syntax(e)),
    }
}

/// The path to the value being read, as a chain on the stack: nothing is allocated unless a
/// duplicate is found.
enum Trail<'a> {
    Root,
    Key(&'a Trail<'a>, &'a str),
    Index(&'a Trail<'a>, usize),
}

impl Trail<'_> {
    fn steps(&self) -> Vec<Step> {
        let mut steps = Vec::new();
        let mut at = self;
        loop {
            match at {
                Trail::Root => break,
                Trail::Key(parent, k) => {
                    steps.push(Step::Key((*k).to_owned()));
                    at = parent;
                }
                Trail::Index(parent, i) => {
                    steps.push(Step::Index(*i));
                    at = parent;
                }
            }
        }
        steps.reverse();
        steps
    }
}

type Found = RefCell<Option<(Vec<Step>, String)>>;

#[derive(Clone, Copy)]
struct Seed<'a> {
    at: &'a Trail<'a>,
    found: &'a Found,
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number JSON cannot hold"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            let at = Trail::Index(self.at, items.len());
            let seed = Seed {
                at: &at,
                found: self.found,
            };
            match seq.next_element_seed(seed)? {
                Some(v) => items.push(v),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if key == NUMBER_TOKEN {
                // serde_json's way of passing a number's exact text through `deserialize_any`.
                let text: String = map.next_value()?;
                return text
                    .parse::<Number>()
                    .map(Value::Number)
                    .map_err(de::Error::custom);
            }
            if out.contains_key(&key) {
                *self.found.borrow_mut() = Some((self.at.steps(), key.clone()));
                return Err(de::Error::custom(format!("duplicate member {key:?}")));
            }
            let at = Trail::Key(self.at, &key);
            let value = map.next_value_seed(Seed {
                at: &at,
                found: self.found,
            })?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_serde_json_reads() {
        let text =
            r#"{"a":[1,2.50,-3e2,{"b":null}],"c":"d","e":true,"big":12345678901234567890123}"#;
        let strict = from_slice(text.as_bytes()).expect("no duplicates");
        let plain: Value = serde_json::from_str(text).expect("json");
        assert_eq!(strict, plain);
        assert_eq!(strict["a"][1].to_string(), "2.50");
    }

    #[test]
    fn names_the_duplicate_and_where_it_is() {
        let text = r#"{"x":[{},{"subject":{"identifier":1,"identifier":2}}]}"#;
        match from_slice(text.as_bytes()) {
            Err(StrictJsonError::Duplicate { location, member }) => {
                assert_eq!(member, "identifier");
                assert_eq!(render("R", &location), "R.x[1].subject");
            }
            other => panic!("expected a duplicate, got {other:?}"),
        }
    }

    #[test]
    fn syntax_errors_and_trailing_content_stay_syntax_errors() {
        assert!(matches!(
            from_slice(b"{\"a\":"),
            Err(StrictJsonError::Syntax(_))
        ));
        assert!(matches!(
            from_slice(b"{} {}"),
            Err(StrictJsonError::Syntax(_))
        ));
    }
}
