//! Evaluates a compiled expression over FHIR JSON, borrowing the resource rather than copying it.
//!
//! Numbers are exact decimals (FHIRPath's Decimal), and an operator or function that needs one
//! value but is given several is an error (FHIRPath N1, "singleton evaluation of collections"),
//! never a silent true or false.

use std::borrow::Cow;

use serde_json::Value;

use super::decimal::Decimal;
use super::parse::{Expr, Func, Op, TypeName, Var};

const UCUM: &str = "http://unitsofmeasure.org";

/// One item of a FHIRPath collection.
#[derive(Debug, Clone)]
pub(crate) enum Item<'a> {
    /// A node of the resource, with its type when the JSON name carries it: a choice element
    /// reached by its stem (`value` finds `valueQuantity`, of type `Quantity`).
    Node(&'a Value, Option<&'a str>),
    /// A string made by the expression: a literal of it (borrowed) or a computed one.
    Str(Cow<'a, str>),
    Num(Decimal),
    Bool(bool),
}

/// Why an expression has no value at a node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum EvalError {
    /// FHIRPath N1: an operator or function that takes one value was given a collection of more.
    #[error("{what} takes a single value, but was given {count}")]
    NotSingleton {
        /// The operator or function.
        what: &'static str,
        /// How many values it was given.
        count: usize,
    },
    /// A number beyond what exact decimal arithmetic here holds (38 digits, 30 after the point).
    #[error("the number {0} has too many digits to compute with exactly")]
    Number(String),
}

/// The resources `%resource` and `%rootResource` stand for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Env<'a> {
    pub(crate) resource: &'a Value,
    pub(crate) root: &'a Value,
    /// `%context`: the element the invariant is evaluated at.
    pub(crate) context: &'a Value,
}

type Coll<'a> = Vec<Item<'a>>;
type Res<'a> = Result<Coll<'a>, EvalError>;

enum Scalar<'s> {
    Str(&'s str),
    Num(Decimal),
    Bool(bool),
}

fn scalar<'s>(item: &'s Item<'_>) -> Result<Option<Scalar<'s>>, EvalError> {
    Ok(match item {
        Item::Node(Value::String(s), _) => Some(Scalar::Str(s)),
        Item::Node(Value::Number(n), _) => Some(Scalar::Num(
            Decimal::from_json(n).ok_or_else(|| EvalError::Number(n.to_string()))?,
        )),
        Item::Node(Value::Bool(b), _) => Some(Scalar::Bool(*b)),
        Item::Node(..) => None,
        Item::Str(s) => Some(Scalar::Str(s)),
        Item::Num(n) => Some(Scalar::Num(*n)),
        Item::Bool(b) => Some(Scalar::Bool(*b)),
    })
}

fn as_str<'s>(item: &'s Item<'_>) -> Option<&'s str> {
    match item {
        Item::Node(Value::String(s), _) => Some(s),
        Item::Str(s) => Some(s),
        _ => None,
    }
}

/// The one item of `c`, `None` when empty, an error when there are more.
fn single<'c, 'a>(c: &'c Coll<'a>, what: &'static str) -> Result<Option<&'c Item<'a>>, EvalError> {
    match c.as_slice() {
        [] => Ok(None),
        [item] => Ok(Some(item)),
        many => Err(EvalError::NotSingleton {
            what,
            count: many.len(),
        }),
    }
}

/// A collection as a boolean: `None` when empty, a single boolean as itself, any other single
/// item true (FHIRPath N1 singleton evaluation); more than one item is an error.
pub(crate) fn truth(c: &Coll<'_>, what: &'static str) -> Result<Option<bool>, EvalError> {
    Ok(match single(c, what)? {
        None => None,
        Some(item) => match scalar(item)? {
            Some(Scalar::Bool(b)) => Some(b),
            _ => Some(true),
        },
    })
}

fn boolean<'a>(b: Option<bool>) -> Coll<'a> {
    b.map(Item::Bool).into_iter().collect()
}

/// A scalar item's value as a hashable key (a number by its normalised decimal, so 1.10 and
/// 1.1 are one key).
#[derive(PartialEq, Eq, Hash)]
enum Key<'s> {
    Str(&'s str),
    Num(Decimal),
    Bool(bool),
}

/// `None` for a node with children, which is compared whole.
fn key<'s>(item: &'s Item<'_>) -> Result<Option<Key<'s>>, EvalError> {
    Ok(match scalar(item)? {
        Some(Scalar::Str(s)) => Some(Key::Str(s)),
        Some(Scalar::Num(n)) => Some(Key::Num(n)),
        Some(Scalar::Bool(b)) => Some(Key::Bool(b)),
        None => None,
    })
}

/// The items without repeats (`|`), in order of first appearance, and whether any repeated
/// (`isDistinct()`). Hashing keeps this linear: dom-3 unions every string of a resource.
fn distinct<'a>(items: impl Iterator<Item = Item<'a>>) -> Result<(Coll<'a>, bool), EvalError> {
    let all: Coll<'a> = items.collect();
    let mut keep = vec![true; all.len()];
    let mut repeated = false;
    {
        let mut seen = std::collections::HashSet::new();
        let mut nodes: Vec<&Value> = Vec::new();
        for (i, item) in all.iter().enumerate() {
            let fresh = match key(item)? {
                Some(k) => seen.insert(k),
                None => match item {
                    Item::Node(v, _) if nodes.contains(v) => false,
                    Item::Node(v, _) => {
                        nodes.push(v);
                        true
                    }
                    _ => true,
                },
            };
            if !fresh {
                keep[i] = false;
                repeated = true;
            }
        }
    }
    let out = all
        .into_iter()
        .zip(keep)
        .filter_map(|(item, k)| k.then_some(item))
        .collect();
    Ok((out, repeated))
}

fn equal(a: &Item<'_>, b: &Item<'_>) -> Result<bool, EvalError> {
    Ok(match (scalar(a)?, scalar(b)?) {
        (Some(Scalar::Str(x)), Some(Scalar::Str(y))) => x == y,
        (Some(Scalar::Num(x)), Some(Scalar::Num(y))) => x == y,
        (Some(Scalar::Bool(x)), Some(Scalar::Bool(y))) => x == y,
        (None, None) => match (a, b) {
            (Item::Node(x, _), Item::Node(y, _)) => x == y,
            _ => false,
        },
        _ => false,
    })
}

/// Pushes a member's values: arrays are flattened, nulls (list alignment) dropped.
fn push_member<'a>(value: &'a Value, ty: Option<&'a str>, out: &mut Coll<'a>) {
    match value {
        Value::Array(items) => out.extend(
            items
                .iter()
                .filter(|v| !v.is_null())
                .map(|v| Item::Node(v, ty)),
        ),
        Value::Null => {}
        v => out.push(Item::Node(v, ty)),
    }
}

fn member<'a>(item: &Item<'a>, name: &str, out: &mut Coll<'a>) {
    let Item::Node(Value::Object(map), _) = item else {
        return;
    };
    if let Some(v) = map.get(name) {
        push_member(v, None, out);
        return;
    }
    // A choice element (`value[x]`) is reached by its stem; the rest of the name is its type.
    for (key, v) in map {
        if let Some(rest) = key.strip_prefix(name)
            && rest.starts_with(|c: char| c.is_ascii_uppercase())
        {
            push_member(v, Some(rest), out);
        }
    }
}

fn children<'a>(item: &Item<'a>, out: &mut Coll<'a>) {
    let Item::Node(Value::Object(map), _) = item else {
        return;
    };
    for (key, v) in map {
        if key == "resourceType" {
            continue;
        }
        // A primitive and its `_name` companion are one element.
        if let Some(stem) = key.strip_prefix('_')
            && map.contains_key(stem)
        {
            continue;
        }
        push_member(v, None, out);
    }
}

fn descendants<'a>(item: &Item<'a>, out: &mut Coll<'a>) {
    let start = out.len();
    children(item, out);
    let end = out.len();
    for i in start..end {
        let child = out[i].clone();
        descendants(&child, out);
    }
}

/// Whether `item` is of type `ty`. A choice element's type is known from its JSON name and a
/// resource's from `resourceType`; other nodes are typed by their JSON form (a string is any
/// string-valued primitive), and an object of no known type is no datatype named.
fn is_type(item: &Item<'_>, ty: &TypeName) -> Result<bool, EvalError> {
    if let Item::Node(_, Some(tag)) = item {
        return Ok(ty.is_named(tag));
    }
    if let Item::Node(Value::Object(m), _) = item {
        return Ok(match ty {
            TypeName::Complex(name) => {
                m.get("resourceType").and_then(Value::as_str) == Some(name.as_str())
            }
            _ => false,
        });
    }
    Ok(match (ty, scalar(item)?) {
        (TypeName::StringPrimitive(_), Some(Scalar::Str(_))) => true,
        (TypeName::Boolean, Some(Scalar::Bool(_))) => true,
        (TypeName::Number { integer }, Some(Scalar::Num(n))) => !integer || n.is_integer(),
        _ => false,
    })
}

/// The resource a reference (a Reference or its `reference` string) points to, when the
/// resource being checked holds it: `#id` among the root's contained resources, or a Bundle
/// entry's `fullUrl`.
fn resolve<'a>(item: &Item<'a>, env: Env<'a>, out: &mut Coll<'a>) {
    let target = match item {
        Item::Node(Value::Object(map), _) => map.get("reference").and_then(Value::as_str),
        Item::Node(Value::String(s), _) => Some(s.as_str()),
        Item::Str(s) => Some(s.as_ref()),
        _ => None,
    };
    let Some(target) = target else {
        return;
    };
    if let Some(local) = target.strip_prefix('#') {
        for held in env
            .root
            .get("contained")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if held.get("id").and_then(Value::as_str) == Some(local) {
                out.push(Item::Node(held, None));
            }
        }
        return;
    }
    for entry in env
        .root
        .get("entry")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if entry.get("fullUrl").and_then(Value::as_str) == Some(target)
            && let Some(resource) = entry.get("resource")
        {
            out.push(Item::Node(resource, None));
        }
    }
}

/// Evaluates `expr` with `focus` as `$this`.
pub(crate) fn eval<'a>(expr: &'a Expr, focus: &Coll<'a>, env: Env<'a>) -> Res<'a> {
    Ok(match expr {
        Expr::This => focus.clone(),
        Expr::Var(Var::Resource) => vec![Item::Node(env.resource, None)],
        Expr::Var(Var::RootResource) => vec![Item::Node(env.root, None)],
        Expr::Var(Var::Context) => vec![Item::Node(env.context, None)],
        Expr::Var(Var::Ucum) => vec![Item::Str(Cow::Borrowed(UCUM))],
        Expr::Str(s) => vec![Item::Str(Cow::Borrowed(s))],
        Expr::Num(n) => vec![Item::Num(*n)],
        Expr::Member(on, name) => {
            let mut out = Vec::new();
            let input;
            let from = match on {
                Some(e) => {
                    input = eval(e, focus, env)?;
                    &input
                }
                None => focus,
            };
            for item in from {
                member(item, name, &mut out);
            }
            out
        }
        Expr::Call(on, func) => {
            let input = match on {
                Some(e) => eval(e, focus, env)?,
                None => focus.clone(),
            };
            call(func, input, focus, env)?
        }
        Expr::Bin(op, l, r) => binary(*op, l, r, focus, env)?,
    })
}

fn each<'a>(expr: &'a Expr, item: &Item<'a>, env: Env<'a>) -> Res<'a> {
    eval(expr, &vec![item.clone()], env)
}

/// Whether `crit` is true for `item` (a `where`/`all`/`exists` criterion).
fn test<'a>(crit: &'a Expr, item: &Item<'a>, env: Env<'a>) -> Result<bool, EvalError> {
    Ok(truth(&each(crit, item, env)?, "a criterion")? == Some(true))
}

/// The one string of `c`, if it is one; an error when there are several items.
fn single_str(c: &Coll<'_>, what: &'static str) -> Result<Option<String>, EvalError> {
    Ok(single(c, what)?.and_then(as_str).map(str::to_owned))
}

fn call<'a>(func: &'a Func, input: Coll<'a>, focus: &Coll<'a>, env: Env<'a>) -> Res<'a> {
    Ok(match func {
        Func::Exists(None) => vec![Item::Bool(!input.is_empty())],
        Func::Exists(Some(crit)) => {
            let mut any = false;
            for i in &input {
                if test(crit, i, env)? {
                    any = true;
                    break;
                }
            }
            vec![Item::Bool(any)]
        }
        Func::Empty => vec![Item::Bool(input.is_empty())],
        Func::Not => boolean(truth(&input, "not()")?.map(|b| !b)),
        Func::HasValue => vec![Item::Bool(match input.as_slice() {
            [item] => scalar(item)?.is_some(),
            _ => false,
        })],
        Func::Count => vec![Item::Num(Decimal::count(input.len()))],
        Func::First => input.into_iter().take(1).collect(),
        Func::Tail => input.into_iter().skip(1).collect(),
        Func::Children => {
            let mut out = Vec::new();
            for item in &input {
                children(item, &mut out);
            }
            out
        }
        Func::Descendants => {
            let mut out = Vec::new();
            for item in &input {
                descendants(item, &mut out);
            }
            out
        }
        Func::Where(crit) => {
            let mut out = Vec::new();
            for i in input {
                if test(crit, &i, env)? {
                    out.push(i);
                }
            }
            out
        }
        Func::Select(e) => {
            let mut out = Vec::new();
            for i in &input {
                out.extend(each(e, i, env)?);
            }
            out
        }
        Func::All(crit) => {
            let mut all = true;
            for i in &input {
                if !test(crit, i, env)? {
                    all = false;
                    break;
                }
            }
            vec![Item::Bool(all)]
        }
        Func::IsDistinct => vec![Item::Bool(!distinct(input.into_iter())?.1)],
        Func::AllFalse => {
            for i in &input {
                if !matches!(scalar(i)?, Some(Scalar::Bool(false))) {
                    return Ok(vec![Item::Bool(false)]);
                }
            }
            vec![Item::Bool(true)]
        }
        Func::Combine(other) => {
            let mut out = input;
            out.extend(eval(other, focus, env)?);
            out
        }
        Func::Iif(criterion, then, otherwise) => {
            if truth(&eval(criterion, &input, env)?, "iif()")? == Some(true) {
                eval(then, &input, env)?
            } else {
                match otherwise {
                    Some(e) => eval(e, &input, env)?,
                    None => Vec::new(),
                }
            }
        }
        Func::Resolve => {
            let mut out = Vec::new();
            for item in &input {
                resolve(item, env, &mut out);
            }
            out
        }
        Func::Intersect(other) => {
            let other = eval(other, focus, env)?;
            let mut out = Vec::new();
            for a in input {
                let mut found = false;
                for b in &other {
                    if equal(&a, b)? {
                        found = true;
                        break;
                    }
                }
                if found {
                    out.push(a);
                }
            }
            out
        }
        Func::StartsWith(arg) => {
            let s = single_str(&input, "startsWith()")?;
            let p = single_str(&eval(arg, focus, env)?, "startsWith()")?;
            match (s, p) {
                (Some(s), Some(p)) => vec![Item::Bool(s.starts_with(&p))],
                _ => Vec::new(),
            }
        }
        Func::Contains(arg) => {
            let s = single_str(&input, "contains()")?;
            let p = single_str(&eval(arg, focus, env)?, "contains()")?;
            match (s, p) {
                (Some(s), Some(p)) => vec![Item::Bool(s.contains(&p))],
                _ => Vec::new(),
            }
        }
        Func::Substring(start, len) => {
            let Some(s) = single_str(&input, "substring()")? else {
                return Ok(Vec::new());
            };
            let index = |e: &'a Expr| -> Result<Option<usize>, EvalError> {
                let value = eval(e, focus, env)?;
                Ok(match single(&value, "substring()")? {
                    Some(item) => match scalar(item)? {
                        Some(Scalar::Num(n)) => n.to_index(),
                        _ => None,
                    },
                    None => None,
                })
            };
            let Some(from) = index(start)? else {
                return Ok(Vec::new());
            };
            if from >= s.chars().count() {
                return Ok(Vec::new());
            }
            let chars = s.chars().skip(from);
            let text: String = match len {
                Some(len) => match index(len)? {
                    Some(n) => chars.take(n).collect(),
                    None => return Ok(Vec::new()),
                },
                None => chars.collect(),
            };
            vec![Item::Str(Cow::Owned(text))]
        }
        Func::Matches(re) => match single_str(&input, "matches()")? {
            Some(s) => vec![Item::Bool(re.is_match(&s))],
            None => Vec::new(),
        },
        Func::ReplaceMatches(re, substitution) => match single_str(&input, "replaceMatches()")? {
            Some(s) => vec![Item::Str(Cow::Owned(
                re.replace_all(&s, substitution.as_str()).into_owned(),
            ))],
            None => Vec::new(),
        },
        Func::ToString => match single(&input, "toString()")? {
            // A JSON number keeps its text as sent (`2.50`).
            Some(Item::Node(Value::Number(raw), _)) => vec![Item::Str(Cow::Owned(raw.to_string()))],
            Some(item) => match scalar(item)? {
                Some(Scalar::Str(s)) => vec![Item::Str(Cow::Owned(s.to_owned()))],
                Some(Scalar::Num(n)) => vec![Item::Str(Cow::Owned(n.to_string()))],
                Some(Scalar::Bool(b)) => vec![Item::Str(Cow::Owned(b.to_string()))],
                None => Vec::new(),
            },
            None => Vec::new(),
        },
        Func::ToInteger => match single(&input, "toInteger()")? {
            Some(item) => match scalar(item)? {
                Some(Scalar::Str(s)) => s
                    .parse::<i64>()
                    .map(|n| vec![Item::Num(Decimal::int(n))])
                    .unwrap_or_default(),
                Some(Scalar::Num(n)) if n.is_integer() => vec![Item::Num(n)],
                Some(Scalar::Bool(b)) => vec![Item::Num(Decimal::int(i64::from(b)))],
                _ => Vec::new(),
            },
            None => Vec::new(),
        },
        Func::Trace => input,
        Func::Is(ty) => match single(&input, "is")? {
            Some(item) => vec![Item::Bool(is_type(item, ty)?)],
            None => Vec::new(),
        },
        // A filter, as `ofType()`: the R4 invariants apply `as()` to whole collections (dom-3:
        // `descendants().as(canonical)`), which a singleton-only `as` would make an error.
        Func::As(ty) => {
            let mut out = Vec::new();
            for i in input {
                if is_type(&i, ty)? {
                    out.push(i);
                }
            }
            out
        }
        Func::HtmlChecks => vec![Item::Bool(true)],
    })
}

fn binary<'a>(op: Op, l: &'a Expr, r: &'a Expr, focus: &Coll<'a>, env: Env<'a>) -> Res<'a> {
    match op {
        Op::And | Op::Or | Op::Xor | Op::Implies => {
            let what = match op {
                Op::And => "and",
                Op::Or => "or",
                Op::Xor => "xor",
                _ => "implies",
            };
            let a = truth(&eval(l, focus, env)?, what)?;
            // Short cuts keep the right side unevaluated where its value cannot matter.
            match (op, a) {
                (Op::And, Some(false)) => return Ok(vec![Item::Bool(false)]),
                (Op::Or, Some(true)) => return Ok(vec![Item::Bool(true)]),
                (Op::Implies, Some(false)) => return Ok(vec![Item::Bool(true)]),
                _ => {}
            }
            let b = truth(&eval(r, focus, env)?, what)?;
            Ok(boolean(match op {
                Op::And => match (a, b) {
                    (_, Some(false)) => Some(false),
                    (Some(true), Some(true)) => Some(true),
                    _ => None,
                },
                Op::Or => match (a, b) {
                    (_, Some(true)) => Some(true),
                    (Some(false), Some(false)) => Some(false),
                    _ => None,
                },
                Op::Xor => match (a, b) {
                    (Some(x), Some(y)) => Some(x != y),
                    _ => None,
                },
                _ => match (a, b) {
                    (Some(true), b) => b,
                    (None, Some(true)) => Some(true),
                    _ => None,
                },
            }))
        }
        _ => {
            let a = eval(l, focus, env)?;
            let b = eval(r, focus, env)?;
            values(op, a, b)
        }
    }
}

/// The operators whose sides are both evaluated.
fn values<'a>(op: Op, a: Coll<'a>, b: Coll<'a>) -> Res<'a> {
    Ok(match op {
        Op::Union => distinct(a.into_iter().chain(b))?.0,
        Op::In | Op::Has => {
            let (item, within, what) = if op == Op::In {
                (&a, &b, "in")
            } else {
                (&b, &a, "contains")
            };
            match single(item, what)? {
                None => Vec::new(),
                Some(item) => {
                    let mut found = false;
                    for o in within {
                        if equal(item, o)? {
                            found = true;
                            break;
                        }
                    }
                    vec![Item::Bool(found)]
                }
            }
        }
        Op::Eq | Op::Ne => {
            if a.is_empty() || b.is_empty() {
                return Ok(Vec::new());
            }
            let mut same = a.len() == b.len();
            if same {
                for (x, y) in a.iter().zip(&b) {
                    if !equal(x, y)? {
                        same = false;
                        break;
                    }
                }
            }
            vec![Item::Bool(same == (op == Op::Eq))]
        }
        Op::Concat => {
            let text = |c: &Coll<'a>| -> Result<Option<String>, EvalError> {
                Ok(match single(c, "&")? {
                    None => Some(String::new()),
                    Some(item) => as_str(item).map(str::to_owned),
                })
            };
            match (text(&a)?, text(&b)?) {
                (Some(x), Some(y)) => vec![Item::Str(Cow::Owned(x + &y))],
                _ => Vec::new(),
            }
        }
        Op::Plus => {
            let (Some(x), Some(y)) = (single(&a, "+")?, single(&b, "+")?) else {
                return Ok(Vec::new());
            };
            match (scalar(x)?, scalar(y)?) {
                (Some(Scalar::Str(x)), Some(Scalar::Str(y))) => {
                    vec![Item::Str(Cow::Owned(format!("{x}{y}")))]
                }
                (Some(Scalar::Num(x)), Some(Scalar::Num(y))) => {
                    let sum = x
                        .add(y)
                        .ok_or_else(|| EvalError::Number(format!("{x} + {y}")))?;
                    vec![Item::Num(sum)]
                }
                _ => Vec::new(),
            }
        }
        _ => {
            let what = match op {
                Op::Lt => "<",
                Op::Gt => ">",
                Op::Le => "<=",
                _ => ">=",
            };
            let (Some(x), Some(y)) = (single(&a, what)?, single(&b, what)?) else {
                return Ok(Vec::new());
            };
            match super::order::compare(x, y)? {
                Some(ord) => vec![Item::Bool(match op {
                    Op::Lt => ord.is_lt(),
                    Op::Gt => ord.is_gt(),
                    Op::Le => ord.is_le(),
                    _ => ord.is_ge(),
                })],
                None => Vec::new(),
            }
        }
    })
}

/// The number an item is, for ordering.
pub(crate) fn number(item: &Item<'_>) -> Result<Option<Decimal>, EvalError> {
    Ok(match scalar(item)? {
        Some(Scalar::Num(n)) => Some(n),
        _ => None,
    })
}

/// The string view of an item, for ordering.
pub(crate) fn text<'s>(item: &'s Item<'_>) -> Option<&'s str> {
    as_str(item)
}
