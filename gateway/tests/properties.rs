//! Properties of the two paths that take arbitrary JSON from outside, through the real router
//! and store: a referral body (JSON → referral) and a JSON Patch on a Task. Whatever is sent,
//! the answer is a success or an OperationOutcome, never a server error or a dropped connection.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{REFERRAL, TestGateway, referral};

/// Cases per property: bounded so CI stays quick, enough to reach odd shapes.
const CASES: u32 = 64;

/// Any JSON value, a few levels deep, with strings that look like FHIR and like trouble.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop_oneof![
            Just("".to_owned()),
            Just("9434765919".to_owned()),
            Just("#pat".to_owned()),
            Just("ServiceRequest/x".to_owned()),
            Just("https://fhir.nhs.uk/Id/nhs-number".to_owned()),
            Just("2026-02-30".to_owned()),
            Just("<div xmlns=\"http://www.w3.org/1999/xhtml\"><script/></div>".to_owned()),
            "\\PC{0,24}",
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Element names a referral has, and some it must not.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("resourceType".to_owned()),
        Just("identifier".to_owned()),
        Just("subject".to_owned()),
        Just("reference".to_owned()),
        Just("system".to_owned()),
        Just("value".to_owned()),
        Just("contained".to_owned()),
        Just("performer".to_owned()),
        Just("basedOn".to_owned()),
        Just("extension".to_owned()),
        Just("url".to_owned()),
        Just("text".to_owned()),
        Just("div".to_owned()),
        Just("_status".to_owned()),
        "[a-z]{1,8}",
    ]
}

/// Every JSON pointer into `v`, the root included.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, c) in o {
                pointers(
                    c,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                pointers(c, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

/// The example referral with one element replaced, removed or added, or its bytes cut short.
fn mutated_referral() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<prop::sample::Index>(),
        0..4u8,
        any_json(),
        key(),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(at, how, value, name, cut)| {
            let mut doc = referral();
            let mut all = Vec::new();
            pointers(&doc, String::new(), &mut all);
            let pointer = all[at.index(all.len())].clone();
            match how {
                0 => {
                    if let Some(slot) = doc.pointer_mut(&pointer) {
                        *slot = value;
                    }
                }
                1 => {
                    if let Some((parent, last)) = pointer.rsplit_once('/')
                        && let Some(p) = doc.pointer_mut(parent)
                    {
                        match p {
                            Value::Object(o) => {
                                o.remove(&last.replace("~1", "/").replace("~0", "~"));
                            }
                            Value::Array(a) => {
                                if let Ok(i) = last.parse::<usize>() {
                                    a.remove(i);
                                }
                            }
                            _ => {}
                        }
                    }
                }
                2 => {
                    if let Some(Value::Object(o)) = doc.pointer_mut(&pointer) {
                        o.insert(name, value);
                    }
                }
                _ => {
                    let bytes = REFERRAL.as_bytes();
                    return bytes[..cut.index(bytes.len())].to_vec();
                }
            }
            serde_json::to_vec(&doc).expect("serialise")
        })
}

fn is_outcome(body: &Value) -> bool {
    body["resourceType"] == "OperationOutcome"
        && body["issue"].as_array().is_some_and(|issues| {
            !issues.is_empty() && issues.iter().all(|i| i["diagnostics"].is_string())
        })
}

#[test]
fn any_referral_body_gets_a_referral_or_an_operation_outcome() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let gw = rt.block_on(TestGateway::spawn());
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&mutated_referral(), |body| {
            let (status, _, answer) = rt.block_on(gw.post_referral(body));
            prop_assert!(!status.is_server_error(), "{} {}", status, answer);
            if status == StatusCode::CREATED {
                prop_assert_eq!(&answer["resourceType"], "ServiceRequest");
            } else {
                prop_assert!(status.is_client_error(), "{}", status);
                prop_assert!(is_outcome(&answer), "{}", answer);
            }
            Ok(())
        })
        .expect("property");
}

/// A patch of up to a few operations of any kind on paths that exist, nearly exist or do not.
fn any_patch(task: Value) -> impl Strategy<Value = Value> {
    let mut paths = Vec::new();
    pointers(&task, String::new(), &mut paths);
    paths.extend(
        [
            "/text",
            "/status",
            "/output/-",
            "/note/0",
            "/-",
            "/owner/identifier/value",
            "~",
            "",
        ]
        .map(String::from),
    );
    let op = (
        prop_oneof![
            Just("add"),
            Just("remove"),
            Just("replace"),
            Just("move"),
            Just("copy"),
            Just("test"),
            Just("nonsense"),
        ],
        prop::sample::select(paths.clone()),
        prop::sample::select(paths),
        any_json(),
        0..3u8,
    )
        .prop_map(|(op, path, from, value, shape)| match shape {
            0 => json!({"op": op, "path": path, "from": from, "value": value}),
            1 => json!({"op": op, "path": path, "value": value}),
            _ => value,
        });
    prop_oneof![
        prop::collection::vec(op, 0..5).prop_map(Value::Array),
        any_json(),
    ]
}

#[test]
fn any_json_patch_on_a_task_gets_the_task_or_an_operation_outcome() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let gw = rt.block_on(TestGateway::spawn());
    let (_, task) = rt.block_on(gw.referral_with_task());
    let id = task["id"].as_str().expect("id").to_owned();
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&any_patch(task), |patch| {
            let (_, _, current) = rt.block_on(gw.get_as("riverside-lw", &format!("Task/{id}")));
            let version: i64 = current["meta"]["versionId"]
                .as_str()
                .and_then(|v| v.parse().ok())
                .expect("version");
            let (status, _, answer) =
                rt.block_on(gw.patch_task("riverside-lw", &id, &patch, version));
            prop_assert!(
                !status.is_server_error(),
                "{} {} for {}",
                status,
                answer,
                patch
            );
            if status == StatusCode::OK {
                prop_assert_eq!(&answer["resourceType"], "Task");
            } else {
                prop_assert!(status.is_client_error(), "{}", status);
                prop_assert!(is_outcome(&answer), "{} for {}", answer, patch);
            }
            Ok(())
        })
        .expect("property");
}
