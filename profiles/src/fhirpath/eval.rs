//! Evaluates a compiled expression over FHIR JSON, borrowing the resource rather than copying it.

use serde_json::Value;

use super::parse::{Expr, Func, Op, TypeName, Var};

const UCUM: &str = "http://unitsofmeasure.org";

/// One item of a FHIRPath collection.
#[derive(Debug, Clone)]
pub(crate) enum Item<'a> {
    Node(&'a Value),
    Str(String),
    Num(f64),
    Bool(bool),
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

enum Scalar<'s> {
    Str(&'s str),
    Num(f64),
    Bool(bool),
}

fn scalar<'s>(item: &'s Item<'_>) -> Option<Scalar<'s>> {
    match item {
        Item::Node(Value::String(s)) => Some(Scalar::Str(s)),
        Item::Node(Value::Number(n)) => n.as_f64().map(Scalar::Num),
        Item::Node(Value::Bool(b)) => Some(Scalar::Bool(*b)),
        Item::Node(_) => None,
        Item::Str(s) => Some(Scalar::Str(s)),
        Item::Num(n) => Some(Scalar::Num(*n)),
        Item::Bool(b) => Some(Scalar::Bool(*b)),
    }
}

fn as_str<'s>(item: &'s Item<'_>) -> Option<&'s str> {
    match scalar(item)? {
        Scalar::Str(s) => Some(s),
        _ => None,
    }
}

/// `Some(b)` for a single boolean, `None` for empty; anything else single counts as true.
pub(crate) fn truth(c: &Coll<'_>) -> Option<bool> {
    match c.as_slice() {
        [] => None,
        [item] => match scalar(item) {
            Some(Scalar::Bool(b)) => Some(b),
            _ => Some(true),
        },
        _ => Some(true),
    }
}

fn boolean<'a>(b: Option<bool>) -> Coll<'a> {
    b.map(Item::Bool).into_iter().collect()
}

fn equal(a: &Item<'_>, b: &Item<'_>) -> bool {
    match (scalar(a), scalar(b)) {
        (Some(Scalar::Str(x)), Some(Scalar::Str(y))) => x == y,
        (Some(Scalar::Num(x)), Some(Scalar::Num(y))) => x == y,
        (Some(Scalar::Bool(x)), Some(Scalar::Bool(y))) => x == y,
        (None, None) => match (a, b) {
            (Item::Node(x), Item::Node(y)) => x == y,
            _ => false,
        },
        _ => false,
    }
}

/// Pushes a member's values: arrays are flattened, nulls (list alignment) dropped.
fn push_member<'a>(value: &'a Value, out: &mut Coll<'a>) {
    match value {
        Value::Array(items) => out.extend(items.iter().filter(|v| !v.is_null()).map(Item::Node)),
        Value::Null => {}
        v => out.push(Item::Node(v)),
    }
}

fn member<'a>(item: &Item<'a>, name: &str, out: &mut Coll<'a>) {
    let Item::Node(Value::Object(map)) = item else {
        return;
    };
    if let Some(v) = map.get(name) {
        push_member(v, out);
        return;
    }
    // A choice element (`value[x]`) is reached by its stem.
    for (key, v) in map {
        if let Some(rest) = key.strip_prefix(name)
            && rest.starts_with(|c: char| c.is_ascii_uppercase())
        {
            push_member(v, out);
        }
    }
}

fn children<'a>(item: &Item<'a>, out: &mut Coll<'a>) {
    let Item::Node(Value::Object(map)) = item else {
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
        push_member(v, out);
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

fn is_type(item: &Item<'_>, ty: &TypeName) -> bool {
    match ty {
        TypeName::Resource(name) => matches!(item, Item::Node(Value::Object(m))
            if m.get("resourceType").and_then(Value::as_str) == Some(name.as_str())),
        TypeName::StringPrimitive => as_str(item).is_some(),
        TypeName::Boolean => matches!(scalar(item), Some(Scalar::Bool(_))),
        TypeName::Number { integer } => match scalar(item) {
            Some(Scalar::Num(n)) => !integer || n.fract() == 0.0,
            _ => false,
        },
    }
}

/// The resource a reference (a Reference or its `reference` string) points to, when the
/// resource being checked holds it: `#id` among the root's contained resources, or a Bundle
/// entry's `fullUrl`.
fn resolve<'a>(item: &Item<'a>, env: Env<'a>, out: &mut Coll<'a>) {
    let target = match item {
        Item::Node(Value::Object(map)) => map.get("reference").and_then(Value::as_str),
        Item::Node(Value::String(s)) => Some(s.as_str()),
        Item::Str(s) => Some(s.as_str()),
        _ => None,
    };
    let Some(target) = target else {
        return;
    };
    let holders: [(&str, &str); 2] = [("contained", "id"), ("entry", "fullUrl")];
    for (list, key) in holders {
        let Some(items) = env.root.get(list).and_then(Value::as_array) else {
            continue;
        };
        for held in items {
            let (resource, name) = if list == "contained" {
                (
                    Some(held),
                    held.get(key).and_then(Value::as_str).map(|id| ("#", id)),
                )
            } else {
                (
                    held.get("resource"),
                    held.get(key).and_then(Value::as_str).map(|u| ("", u)),
                )
            };
            if let (Some(resource), Some((prefix, name))) = (resource, name)
                && target.strip_prefix(prefix) == Some(name)
            {
                out.push(Item::Node(resource));
            }
        }
    }
}

/// Evaluates `expr` with `focus` as `$this`.
pub(crate) fn eval<'a>(expr: &Expr, focus: &Coll<'a>, env: Env<'a>) -> Coll<'a> {
    match expr {
        Expr::This => focus.clone(),
        Expr::Var(Var::Resource) => vec![Item::Node(env.resource)],
        Expr::Var(Var::RootResource) => vec![Item::Node(env.root)],
        Expr::Var(Var::Context) => vec![Item::Node(env.context)],
        Expr::Var(Var::Ucum) => vec![Item::Str(UCUM.to_owned())],
        Expr::Str(s) => vec![Item::Str(s.clone())],
        Expr::Num(n) => vec![Item::Num(*n)],
        Expr::Member(on, name) => {
            let input = match on {
                Some(e) => eval(e, focus, env),
                None => focus.clone(),
            };
            let mut out = Vec::new();
            for item in &input {
                member(item, name, &mut out);
            }
            out
        }
        Expr::Call(on, func) => {
            let input = match on {
                Some(e) => eval(e, focus, env),
                None => focus.clone(),
            };
            call(func, input, focus, env)
        }
        Expr::Bin(op, l, r) => binary(*op, l, r, focus, env),
    }
}

fn each<'a>(expr: &Expr, item: &Item<'a>, env: Env<'a>) -> Coll<'a> {
    eval(expr, &vec![item.clone()], env)
}

fn call<'a>(func: &Func, input: Coll<'a>, focus: &Coll<'a>, env: Env<'a>) -> Coll<'a> {
    let single_str = |c: &Coll<'a>| match c.as_slice() {
        [item] => as_str(item).map(str::to_owned),
        _ => None,
    };
    match func {
        Func::Exists(None) => vec![Item::Bool(!input.is_empty())],
        Func::Exists(Some(crit)) => vec![Item::Bool(
            input
                .iter()
                .any(|i| truth(&each(crit, i, env)) == Some(true)),
        )],
        Func::Empty => vec![Item::Bool(input.is_empty())],
        Func::Not => boolean(truth(&input).map(|b| !b)),
        Func::HasValue => vec![Item::Bool(matches!(
            input.as_slice(),
            [item] if scalar(item).is_some()
        ))],
        Func::Count => vec![Item::Num(input.len() as f64)],
        Func::First => input.into_iter().take(1).collect(),
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
        Func::Where(crit) => input
            .into_iter()
            .filter(|i| truth(&each(crit, i, env)) == Some(true))
            .collect(),
        Func::Select(e) => input.iter().flat_map(|i| each(e, i, env)).collect(),
        Func::All(crit) => vec![Item::Bool(
            input
                .iter()
                .all(|i| truth(&each(crit, i, env)) == Some(true)),
        )],
        Func::IsDistinct => {
            let distinct = input
                .iter()
                .enumerate()
                .all(|(i, a)| input[..i].iter().all(|b| !equal(a, b)));
            vec![Item::Bool(distinct)]
        }
        Func::AllFalse => vec![Item::Bool(
            input
                .iter()
                .all(|i| matches!(scalar(i), Some(Scalar::Bool(false)))),
        )],
        Func::Combine(other) => {
            let mut out = input;
            out.extend(eval(other, focus, env));
            out
        }
        Func::Tail => input.into_iter().skip(1).collect(),
        Func::Iif(criterion, then, otherwise) => {
            if truth(&eval(criterion, &input, env)) == Some(true) {
                eval(then, &input, env)
            } else {
                match otherwise {
                    Some(e) => eval(e, &input, env),
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
        Func::ReplaceMatches(re, substitution) => match single_str(&input) {
            Some(s) => vec![Item::Str(
                re.replace_all(&s, substitution.as_str()).into_owned(),
            )],
            None => Vec::new(),
        },
        Func::Intersect(other) => {
            let other = eval(other, focus, env);
            input
                .into_iter()
                .filter(|a| other.iter().any(|b| equal(a, b)))
                .collect()
        }
        Func::StartsWith(arg) => {
            let (Some(s), Some(p)) = (single_str(&input), single_str(&eval(arg, focus, env)))
            else {
                return Vec::new();
            };
            vec![Item::Bool(s.starts_with(&p))]
        }
        Func::Contains(arg) => {
            let (Some(s), Some(p)) = (single_str(&input), single_str(&eval(arg, focus, env)))
            else {
                return Vec::new();
            };
            vec![Item::Bool(s.contains(&p))]
        }
        Func::Substring(start, len) => {
            let Some(s) = single_str(&input) else {
                return Vec::new();
            };
            let number = |e: &Expr| match eval(e, focus, env).as_slice() {
                [item] => match scalar(item) {
                    Some(Scalar::Num(n)) if n >= 0.0 => Some(n as usize),
                    _ => None,
                },
                _ => None,
            };
            let Some(from) = number(start) else {
                return Vec::new();
            };
            let chars = s.chars().skip(from);
            let text: String = match len.as_deref().map(number) {
                Some(Some(n)) => chars.take(n).collect(),
                Some(None) => return Vec::new(),
                None => chars.collect(),
            };
            if from >= s.chars().count() {
                return Vec::new();
            }
            vec![Item::Str(text)]
        }
        Func::Matches(re) => match single_str(&input) {
            Some(s) => vec![Item::Bool(re.is_match(&s))],
            None => Vec::new(),
        },
        Func::ToString => match input.as_slice() {
            [item] => match scalar(item) {
                Some(Scalar::Str(s)) => vec![Item::Str(s.to_owned())],
                Some(Scalar::Num(n)) => match item {
                    Item::Node(Value::Number(raw)) => vec![Item::Str(raw.to_string())],
                    _ => vec![Item::Str(n.to_string())],
                },
                Some(Scalar::Bool(b)) => vec![Item::Str(b.to_string())],
                None => Vec::new(),
            },
            _ => Vec::new(),
        },
        Func::ToInteger => match input.as_slice() {
            [item] => match scalar(item) {
                Some(Scalar::Str(s)) => s
                    .parse::<i64>()
                    .map(|n| vec![Item::Num(n as f64)])
                    .unwrap_or_default(),
                Some(Scalar::Num(n)) if n.fract() == 0.0 => vec![Item::Num(n)],
                Some(Scalar::Bool(b)) => vec![Item::Num(f64::from(u8::from(b)))],
                _ => Vec::new(),
            },
            _ => Vec::new(),
        },
        Func::Trace => input,
        Func::Is(ty) => match input.as_slice() {
            [item] => vec![Item::Bool(is_type(item, ty))],
            _ => Vec::new(),
        },
        Func::As(ty) => input.into_iter().filter(|i| is_type(i, ty)).collect(),
        Func::HtmlChecks => vec![Item::Bool(true)],
    }
}

fn binary<'a>(op: Op, l: &Expr, r: &Expr, focus: &Coll<'a>, env: Env<'a>) -> Coll<'a> {
    match op {
        Op::And | Op::Or | Op::Xor | Op::Implies => {
            let a = truth(&eval(l, focus, env));
            // Short cuts keep the right side unevaluated where its value cannot matter.
            match (op, a) {
                (Op::And, Some(false)) => return vec![Item::Bool(false)],
                (Op::Or, Some(true)) => return vec![Item::Bool(true)],
                (Op::Implies, Some(false)) => return vec![Item::Bool(true)],
                _ => {}
            }
            let b = truth(&eval(r, focus, env));
            boolean(match op {
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
            })
        }
        _ => {
            let a = eval(l, focus, env);
            let b = eval(r, focus, env);
            match op {
                Op::Union => {
                    let mut out: Coll<'a> = Vec::with_capacity(a.len() + b.len());
                    for item in a.into_iter().chain(b) {
                        if !out.iter().any(|o| equal(o, &item)) {
                            out.push(item);
                        }
                    }
                    out
                }
                Op::In | Op::Has => {
                    let (item, within) = if op == Op::In { (&a, &b) } else { (&b, &a) };
                    match item.as_slice() {
                        [] => Vec::new(),
                        [item] => vec![Item::Bool(within.iter().any(|o| equal(item, o)))],
                        _ => Vec::new(),
                    }
                }
                Op::Eq | Op::Ne => {
                    if a.is_empty() || b.is_empty() {
                        return Vec::new();
                    }
                    let same = a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| equal(x, y));
                    vec![Item::Bool(same == (op == Op::Eq))]
                }
                Op::Plus | Op::Concat => {
                    let text = |c: &Coll<'a>| match c.as_slice() {
                        [] if op == Op::Concat => Some(String::new()),
                        [item] => as_str(item).map(str::to_owned),
                        _ => None,
                    };
                    match (text(&a), text(&b)) {
                        (Some(x), Some(y)) => vec![Item::Str(x + &y)],
                        _ if op == Op::Plus => match (a.as_slice(), b.as_slice()) {
                            ([x], [y]) => match (scalar(x), scalar(y)) {
                                (Some(Scalar::Num(x)), Some(Scalar::Num(y))) => {
                                    vec![Item::Num(x + y)]
                                }
                                _ => Vec::new(),
                            },
                            _ => Vec::new(),
                        },
                        _ => Vec::new(),
                    }
                }
                _ => match (a.as_slice(), b.as_slice()) {
                    ([x], [y]) => match super::order::compare(x, y) {
                        Some(ord) => vec![Item::Bool(match op {
                            Op::Lt => ord.is_lt(),
                            Op::Gt => ord.is_gt(),
                            Op::Le => ord.is_le(),
                            _ => ord.is_ge(),
                        })],
                        None => Vec::new(),
                    },
                    _ => Vec::new(),
                },
            }
        }
    }
}

/// The scalar view of an item, for ordering.
pub(crate) fn number(item: &Item<'_>) -> Option<f64> {
    match scalar(item)? {
        Scalar::Num(n) => Some(n),
        _ => None,
    }
}

/// The string view of an item, for ordering.
pub(crate) fn text<'s>(item: &'s Item<'_>) -> Option<&'s str> {
    as_str(item)
}
