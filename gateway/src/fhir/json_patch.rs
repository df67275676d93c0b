//! JSON Patch (RFC 6902) with JSON Pointer (RFC 6901), applied all-or-nothing.

use serde_json::Value;

/// Why a patch could not be applied: which operation, and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("patch operation {index}: {message}")]
pub struct PatchError {
    /// 0-based position of the failing operation.
    pub index: usize,
    /// What went wrong.
    pub message: String,
}

fn tokens(pointer: &str) -> Result<Vec<String>, String> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let rest = pointer
        .strip_prefix('/')
        .ok_or_else(|| format!("\"{pointer}\" is not a JSON Pointer (it must start with /)"))?;
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn index(token: &str, len: usize, allow_end: bool) -> Result<usize, String> {
    if allow_end && token == "-" {
        return Ok(len);
    }
    let i: usize = token
        .parse()
        .map_err(|_| format!("\"{token}\" is not an array index"))?;
    let limit = if allow_end {
        len
    } else {
        len.saturating_sub(1)
    };
    if (allow_end && i <= len) || (!allow_end && i < len) {
        Ok(i)
    } else {
        Err(format!("index {i} is out of bounds (at most {limit})"))
    }
}

fn parent<'a>(doc: &'a mut Value, path: &[String]) -> Result<&'a mut Value, String> {
    let mut current = doc;
    for token in path {
        current = match current {
            Value::Object(map) => map
                .get_mut(token)
                .ok_or_else(|| format!("no element \"{token}\""))?,
            Value::Array(items) => {
                let i = index(token, items.len(), false)?;
                &mut items[i]
            }
            _ => {
                return Err(format!(
                    "\"{token}\" is inside a value that has no children"
                ));
            }
        };
    }
    Ok(current)
}

fn get(doc: &Value, pointer: &str) -> Result<Value, String> {
    doc.pointer(pointer)
        .cloned()
        .ok_or_else(|| format!("nothing at {pointer}"))
}

fn add(doc: &mut Value, pointer: &str, value: Value) -> Result<(), String> {
    let path = tokens(pointer)?;
    let Some((last, init)) = path.split_last() else {
        *doc = value;
        return Ok(());
    };
    match parent(doc, init)? {
        Value::Object(map) => {
            map.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(items) => {
            let i = index(last, items.len(), true)?;
            items.insert(i, value);
            Ok(())
        }
        _ => Err(format!("cannot add inside a value at {pointer}")),
    }
}

fn remove(doc: &mut Value, pointer: &str) -> Result<Value, String> {
    let path = tokens(pointer)?;
    let (last, init) = path
        .split_last()
        .ok_or("cannot remove the whole resource")?;
    match parent(doc, init)? {
        Value::Object(map) => map
            .remove(last)
            .ok_or_else(|| format!("nothing at {pointer}")),
        Value::Array(items) => {
            let i = index(last, items.len(), false)?;
            Ok(items.remove(i))
        }
        _ => Err(format!("nothing at {pointer}")),
    }
}

/// Most operations one patch may hold.
pub const MAX_OPERATIONS: usize = 500;

/// Applies every operation to a copy; `doc` changes only if all succeed. `copy` is the one
/// operation that can grow a document beyond the body it came in: the result may not exceed `max_bytes`.
pub fn apply(doc: &mut Value, patch: &Value, max_bytes: usize) -> Result<(), PatchError> {
    let ops = patch.as_array().ok_or(PatchError {
        index: 0,
        message: "a JSON Patch is an array of operations".into(),
    })?;
    if ops.len() > MAX_OPERATIONS {
        return Err(PatchError {
            index: MAX_OPERATIONS,
            message: format!("a patch may hold at most {MAX_OPERATIONS} operations"),
        });
    }
    let mut working = doc.clone();
    for (i, op) in ops.iter().enumerate() {
        let fail = |message: String| PatchError { index: i, message };
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or_else(|| fail("needs a \"path\" string".into()))?;
        let value = || {
            op.get("value")
                .cloned()
                .ok_or_else(|| fail("needs a \"value\"".into()))
        };
        let from = || {
            op.get("from")
                .and_then(Value::as_str)
                .ok_or_else(|| fail("needs a \"from\" string".into()))
        };
        match op.get("op").and_then(Value::as_str) {
            Some("add") => add(&mut working, path, value()?).map_err(fail)?,
            Some("remove") => {
                remove(&mut working, path).map_err(fail)?;
            }
            Some("replace") => {
                remove(&mut working, path).map_err(fail)?;
                add(&mut working, path, value()?).map_err(fail)?;
            }
            Some("move") => {
                let moved = remove(&mut working, from()?).map_err(fail)?;
                add(&mut working, path, moved).map_err(fail)?;
            }
            Some("copy") => {
                let copied = get(&working, from()?).map_err(fail)?;
                add(&mut working, path, copied).map_err(fail)?;
                if serde_json::to_vec(&working).map_or(usize::MAX, |b| b.len()) > max_bytes {
                    return Err(fail(format!(
                        "the patched resource would exceed {max_bytes} bytes"
                    )));
                }
            }
            Some("test") => {
                if get(&working, path).map_err(fail)? != value()? {
                    return Err(fail(format!(
                        "test failed: {path} does not hold the given value"
                    )));
                }
            }
            other => {
                return Err(fail(format!(
                    "unknown op {other:?}; use add, remove, replace, move, copy or test"
                )));
            }
        }
    }
    *doc = working;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn apply_test(doc: &mut Value, patch: &Value) -> Result<(), PatchError> {
        apply(doc, patch, 1 << 20)
    }

    #[test]
    fn copies_cannot_blow_a_document_up() {
        let mut doc = json!({"note": [{"text": "x".repeat(1000)}]});
        let doubling: Vec<Value> = (0..40)
            .map(|_| json!({"op": "copy", "from": "/note", "path": "/note/-"}))
            .collect();
        let err = apply(&mut doc, &Value::Array(doubling), 1 << 20).expect_err("bounded");
        assert!(err.message.contains("exceed"), "{err}");
        assert_eq!(
            doc["note"].as_array().map(Vec::len),
            Some(1),
            "nothing applied"
        );
    }

    #[test]
    fn replace_add_remove_and_append() {
        let mut doc =
            json!({"status": "requested", "note": [{"text": "a"}], "owner": {"display": "x"}});
        apply_test(
            &mut doc,
            &json!([
                {"op": "test", "path": "/status", "value": "requested"},
                {"op": "replace", "path": "/status", "value": "accepted"},
                {"op": "add", "path": "/note/-", "value": {"text": "b"}},
                {"op": "add", "path": "/businessStatus", "value": {"text": "triaged"}},
                {"op": "remove", "path": "/owner/display"},
                {"op": "copy", "from": "/note/0", "path": "/note/0"}
            ]),
        )
        .expect("applies");
        assert_eq!(
            doc,
            json!({"status": "accepted", "note": [{"text": "a"}, {"text": "a"}, {"text": "b"}], "owner": {}, "businessStatus": {"text": "triaged"}})
        );
    }

    #[test]
    fn a_failing_operation_changes_nothing_and_is_named() {
        let original = json!({"status": "requested"});
        let mut doc = original.clone();
        let err = apply_test(
            &mut doc,
            &json!([
                {"op": "replace", "path": "/status", "value": "accepted"},
                {"op": "test", "path": "/status", "value": "requested"}
            ]),
        )
        .expect_err("test fails");
        assert_eq!(err.index, 1);
        assert_eq!(doc, original);
        for bad in [
            json!({}),
            json!([{"op": "frobnicate", "path": "/a"}]),
            json!([{"op": "remove", "path": "/missing"}]),
            json!([{"op": "add", "path": "status"}]),
        ] {
            assert!(apply_test(&mut doc, &bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pointer_escapes_are_understood() {
        let mut doc = json!({"a/b": 1, "m~n": 2});
        apply_test(&mut doc, &json!([{"op": "replace", "path": "/a~1b", "value": 3}, {"op": "remove", "path": "/m~0n"}])).expect("applies");
        assert_eq!(doc, json!({"a/b": 3}));
    }
}
