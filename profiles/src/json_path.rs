//! Finds which element a byte position in a JSON document falls inside.
//!
//! fhirbolt and serde_json report errors by line and column only; an integration
//! engineer needs the element (`ServiceRequest.subject.identifier[0].value`), so we
//! replay the document up to the error position and keep the path we are in.

enum Frame {
    Object {
        key: Option<String>,
        expecting_key: bool,
    },
    Array {
        index: usize,
    },
}

/// Converts serde_json's 1-based line and column into a byte offset.
pub fn offset_of(bytes: &[u8], line: usize, column: usize) -> usize {
    let mut current_line = 1;
    let mut line_start = 0;
    for (i, b) in bytes.iter().enumerate() {
        if current_line == line {
            break;
        }
        if *b == b'\n' {
            current_line += 1;
            line_start = i + 1;
        }
    }
    (line_start + column).min(bytes.len())
}

/// The FHIRPath-style path of the element open at `offset`, rooted at `root` (the resource type).
pub fn path_at(bytes: &[u8], offset: usize, root: &str) -> String {
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    let end = offset.min(bytes.len());
    while i < end {
        match bytes[i] {
            b'"' => {
                let start = i + 1;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                if let Some(Frame::Object { key, expecting_key }) = stack.last_mut()
                    && *expecting_key
                {
                    let raw = &bytes[start..i.min(bytes.len())];
                    *key = Some(String::from_utf8_lossy(raw).into_owned());
                    *expecting_key = false;
                }
            }
            b'{' => stack.push(Frame::Object {
                key: None,
                expecting_key: true,
            }),
            b'[' => stack.push(Frame::Array { index: 0 }),
            b'}' | b']' => {
                stack.pop();
            }
            b',' => match stack.last_mut() {
                Some(Frame::Array { index }) => *index += 1,
                Some(Frame::Object { expecting_key, .. }) => *expecting_key = true,
                None => {}
            },
            _ => {}
        }
        i += 1;
    }
    let mut path = root.to_owned();
    // The outermost frame is the resource itself: its keys are the first path segment.
    for frame in &stack {
        match frame {
            Frame::Object { key: Some(k), .. } => {
                path.push('.');
                path.push_str(k);
            }
            Frame::Object { key: None, .. } => {}
            Frame::Array { index } => path.push_str(&format!("[{index}]")),
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path_before(doc: &str, marker: &str) -> String {
        let at = doc.find(marker).expect("marker present") + marker.len();
        path_at(doc.as_bytes(), at, "ServiceRequest")
    }

    #[test]
    fn follows_keys_and_array_indexes() {
        let doc = r#"{"resourceType":"ServiceRequest","identifier":[{"system":"a"},{"value":"x","bogus":1}]}"#;
        assert_eq!(
            path_before(doc, "\"bogus\""),
            "ServiceRequest.identifier[1].bogus"
        );
    }

    #[test]
    fn leaves_closed_objects() {
        let doc = r##"{"subject":{"reference":"#p"},"status":"activ"}"##;
        assert_eq!(
            path_before(doc, "\"status\":\"activ\""),
            "ServiceRequest.status"
        );
    }

    #[test]
    fn ignores_braces_and_escaped_quotes_inside_strings() {
        let doc = r#"{"note":[{"text":"a \"{[\" b"}],"code":{"text":1}}"#;
        assert_eq!(path_before(doc, "\"text\":1"), "ServiceRequest.code.text");
    }

    #[test]
    fn converts_line_and_column_to_offset() {
        let doc = b"{\n  \"a\": 1,\n  \"b\": 2\n}";
        let off = offset_of(doc, 3, 5);
        assert_eq!(&doc[off - 3..off], b"\"b\"");
    }
}

/// Finds the element a serde error message names, when the parser gave no position.
///
/// Handles `unknown field `x`` (the first key `x` in document order) and
/// `invalid type: integer `12`, ...` / `invalid value: string "x", ...` (the first leaf
/// with that literal). Anything else points at the resource itself.
pub fn locate(json: &serde_json::Value, message: &str, root: &str) -> String {
    let target = if let Some(rest) = message.strip_prefix("unknown field `") {
        rest.split('`').next().map(|k| Target::Key(k.to_owned()))
    } else if message.starts_with("invalid type: ") || message.starts_with("invalid value: ") {
        literal(message).map(Target::Literal)
    } else {
        None
    };
    let mut path = root.to_owned();
    match target {
        Some(t) if find(json, &t, &mut path) => path,
        _ => root.to_owned(),
    }
}

enum Target {
    Key(String),
    Literal(String),
}

/// The literal serde quotes: integer `12`, boolean `true`, string "abc", floating point `1.5`.
fn literal(message: &str) -> Option<String> {
    let after = message.split_once(": ")?.1;
    let (_, rest) = after.split_once(' ')?;
    if let Some(s) = rest.strip_prefix('"') {
        return s.split('"').next().map(|v| format!("\"{v}\""));
    }
    let s = rest.strip_prefix('`')?;
    s.split('`').next().map(str::to_owned)
}

fn find(value: &serde_json::Value, target: &Target, path: &mut String) -> bool {
    use serde_json::Value;
    let len = path.len();
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                path.push('.');
                path.push_str(k);
                let hit = match target {
                    Target::Key(key) => k == key,
                    Target::Literal(lit) => {
                        !v.is_object() && !v.is_array() && &v.to_string() == lit
                    }
                };
                if hit || find(v, target, path) {
                    return true;
                }
                path.truncate(len);
            }
            false
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                path.push_str(&format!("[{i}]"));
                let hit = matches!(target, Target::Literal(lit) if !v.is_object() && !v.is_array() && &v.to_string() == lit);
                if hit || find(v, target, path) {
                    return true;
                }
                path.truncate(len);
            }
            false
        }
        _ => false,
    }
}

#[cfg(test)]
mod locate_tests {
    use super::locate;
    use serde_json::json;

    #[test]
    fn finds_an_unknown_key_anywhere() {
        let doc = json!({"subject": {"reference": "x"}, "note": [{"text": "a"}, {"txt": "b"}]});
        assert_eq!(
            locate(&doc, "unknown field `txt`, expected one of `text`", "SR"),
            "SR.note[1].txt"
        );
    }

    #[test]
    fn finds_the_offending_literal() {
        let doc = json!({"identifier": [{"value": "a"}, {"value": 12}]});
        assert_eq!(
            locate(&doc, "invalid type: integer `12`, expected a string", "SR"),
            "SR.identifier[1].value"
        );
        let doc = json!({"status": "active", "doNotPerform": "yes"});
        assert_eq!(
            locate(
                &doc,
                "invalid type: string \"yes\", expected a boolean",
                "SR"
            ),
            "SR.doNotPerform"
        );
    }

    #[test]
    fn falls_back_to_the_root() {
        assert_eq!(
            locate(&json!({"a": 1}), "missing field `status`", "SR"),
            "SR"
        );
    }
}
