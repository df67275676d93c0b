//! Writes every invariant evaluation over a corpus, with this engine's result, so another
//! FHIRPath engine can evaluate the same expressions at the same nodes and be compared
//! (tests/bench/RESULTS.md, "FHIRPath engine: crates compared"). Run on demand:
//! `SIGNPOST_FHIRPATH_DUMP=/tmp/evals.json cargo test -p signpost-profiles --lib -- --ignored dump_`.

use std::cell::RefCell;

use serde_json::{Value, json};

use super::{Env, Invariant};

/// One evaluation, with the nodes as addresses until they are turned into JSON pointers.
struct Seen {
    key: String,
    expression: String,
    path: String,
    node: *const Value,
    resource: *const Value,
    root: *const Value,
    result: Option<bool>,
}

thread_local! {
    static SEEN: RefCell<Option<Vec<Seen>>> = const { RefCell::new(None) };
}

/// Notes an evaluation when this thread is recording.
pub(super) fn record(
    inv: &Invariant,
    node: &Value,
    env: Env<'_>,
    path: &str,
    result: Option<bool>,
) {
    SEEN.with(|s| {
        if let Some(list) = s.borrow_mut().as_mut() {
            list.push(Seen {
                key: inv.key.clone(),
                expression: inv.expression.clone(),
                path: path.to_owned(),
                node,
                resource: env.resource,
                root: env.root,
                result,
            });
        }
    });
}

/// The JSON pointer of `target` (by address) inside `value`.
fn pointer(value: &Value, target: *const Value, at: &mut String) -> bool {
    if std::ptr::eq(value, target) {
        return true;
    }
    let len = at.len();
    let found = match value {
        Value::Object(map) => map.iter().any(|(k, v)| {
            at.truncate(len);
            at.push('/');
            at.push_str(&k.replace('~', "~0").replace('/', "~1"));
            pointer(v, target, at)
        }),
        Value::Array(items) => items.iter().enumerate().any(|(i, v)| {
            at.truncate(len);
            at.push('/');
            at.push_str(&i.to_string());
            pointer(v, target, at)
        }),
        _ => false,
    };
    if !found {
        at.truncate(len);
    }
    found
}

fn find(value: &Value, target: *const Value) -> Value {
    let mut at = String::new();
    if pointer(value, target, &mut at) {
        Value::String(at)
    } else {
        Value::Null
    }
}

fn corpus() -> Vec<(String, Value)> {
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    let mut dirs = vec![
        manifest.join("examples/valid"),
        manifest.join("examples/invalid"),
        manifest.join("../../shared/fixtures"),
    ];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "json")
                && let Ok(text) = std::fs::read_to_string(&path)
                && let Ok(json) = serde_json::from_str::<Value>(&text)
                && json.get("resourceType").is_some()
            {
                files.push((path.display().to_string(), json));
            }
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    // Each file, then copies with one member removed (which breaks invariants and cardinality).
    let mut out = files.clone();
    for (name, json) in &files {
        let mut pointers = Vec::new();
        members(json, "", &mut pointers);
        let step = (pointers.len() / 15).max(1);
        for p in pointers.iter().step_by(step) {
            let mut copy = json.clone();
            if remove(&mut copy, p) {
                out.push((format!("{name} without {p}"), copy));
            }
        }
    }
    out
}

fn members(value: &Value, at: &str, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let p = format!("{at}/{k}");
                if k != "resourceType" {
                    out.push(p.clone());
                }
                members(v, &p, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                members(v, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn remove(value: &mut Value, p: &str) -> bool {
    let Some((parent, key)) = p.rsplit_once('/') else {
        return false;
    };
    match value.pointer_mut(parent) {
        Some(Value::Object(map)) => map.remove(key).is_some(),
        _ => false,
    }
}

#[test]
#[ignore = "writes the comparison input on demand"]
fn dump_invariant_evaluations() {
    let Ok(out) = std::env::var("SIGNPOST_FHIRPATH_DUMP") else {
        return;
    };
    let base = crate::r4::Base::standard().expect("definitions");
    let mut resources = Vec::new();
    let mut evals = Vec::new();
    for (r, (name, json)) in corpus().into_iter().enumerate() {
        SEEN.with(|s| *s.borrow_mut() = Some(Vec::new()));
        let root = json
            .get("resourceType")
            .and_then(Value::as_str)
            .unwrap_or("Resource")
            .to_owned();
        base.check(&json, &root);
        let seen = SEEN.with(|s| s.borrow_mut().take()).unwrap_or_default();
        for e in seen {
            evals.push(json!({
                "r": r,
                "key": e.key,
                "expression": e.expression,
                "path": e.path,
                "node": find(&json, e.node),
                "resource": find(&json, e.resource),
                "root": find(&json, e.root),
                "ours": e.result,
            }));
        }
        resources.push(json!({"name": name, "json": json}));
    }
    let doc = json!({"resources": resources, "evaluations": evals});
    std::fs::write(&out, serde_json::to_vec(&doc).expect("json")).expect("write");
}
