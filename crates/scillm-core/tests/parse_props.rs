//! Property tests of request parsing: no input makes `ChatRequest` parsing panic, and
//! every valid request (any role, string / parts / null content, vendor extras) serialises
//! back to exactly the JSON it was parsed from.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use scillm_core::wire::ChatRequest;
use serde_json::{json, Map, Value};

/// Any JSON value, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        // Decimals with at most ~10 significant digits. serde_json (without its
        // `float_roundtrip` feature) may parse a 17-digit float off by one ULP, so text with
        // such a float does not survive parse → print → parse bit for bit; that is a
        // property of the JSON parser, not of the request types.
        (any::<i32>(), 0i32..6).prop_map(|(m, e)| Value::from(f64::from(m) / 10f64.powi(e))),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A JSON object built from request-like keys, so parsing gets past the first field
/// more often than with arbitrary keys.
fn request_like() -> impl Strategy<Value = Value> {
    let keys = prop::sample::select(vec![
        "model",
        "messages",
        "stream",
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "response_format",
        "tools",
        "tool_choice",
        "reasoning_effort",
        "reasoning",
        "role",
        "content",
        "x_vendor",
    ]);
    prop::collection::btree_map(keys, any_json(), 0..8).prop_map(|m| {
        let mut obj: Map<String, Value> = m.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        if let Some(Value::Array(items)) = obj.get_mut("messages") {
            for item in items.iter_mut().filter(|i| i.is_object()) {
                item["role"] = json!("user");
            }
        }
        Value::Object(obj)
    })
}

const ROLES: &[&str] = &[
    "system",
    "developer",
    "user",
    "assistant",
    "tool",
    "function",
];

/// Message content: a string, `null`, or a list of text / image / other parts.
fn content() -> impl Strategy<Value = Value> {
    let part = prop_oneof![
        ".{0,16}".prop_map(|t| json!({"type": "text", "text": t})),
        (".{0,16}", prop::option::of(prop::sample::select(vec!["auto", "low", "high"]))).prop_map(
            |(u, d)| match d {
                Some(d) => json!({"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{u}"), "detail": d}}),
                None => json!({"type": "image_url", "image_url": {"url": format!("https://x.test/{u}")}}),
            }
        ),
        // The bare-string form of older clients, and an explicit null detail.
        ".{0,16}".prop_map(|u| json!({"type": "image_url", "image_url": format!("https://x.test/{u}")})),
        ".{0,16}".prop_map(|u| json!({"type": "image_url", "image_url": {"url": format!("https://x.test/{u}"), "detail": null}})),
        (".{0,8}", any_json()).prop_map(|(s, v)| json!({"type": "input_audio", "input_audio": {"data": s, "extra": v}})),
    ];
    prop_oneof![
        ".{0,24}".prop_map(Value::from),
        Just(Value::Null),
        prop::collection::vec(part, 0..4).prop_map(Value::Array),
    ]
}

/// Vendor fields whose names the typed fields never use.
fn extras() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map("x_[a-z]{1,8}", any_json(), 0..4)
        .prop_map(|m| m.into_iter().collect())
}

/// A field that is absent, an explicit `null`, or set.
fn absent_null_or<S: Strategy<Value = Value>>(set: S) -> impl Strategy<Value = Option<Value>> {
    prop_oneof![Just(None), Just(Some(Value::Null)), set.prop_map(Some)]
}

/// Tool calls, with or without `type`.
fn tool_calls() -> impl Strategy<Value = Value> {
    prop::collection::vec(
        ("[a-z0-9_]{1,8}", "[a-z_]{1,8}", ".{0,16}", any::<bool>()).prop_map(
            |(id, name, args, typed)| {
                let mut c = json!({"id": id, "function": {"name": name, "arguments": args}});
                if typed {
                    c["type"] = json!("function");
                }
                c
            },
        ),
        0..3,
    )
    .prop_map(Value::Array)
}

fn message() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(ROLES),
        content(),
        extras(),
        absent_null_or("[a-z]{1,8}".prop_map(Value::from)),
        absent_null_or(tool_calls()),
        absent_null_or("[a-z0-9_]{1,8}".prop_map(Value::from)),
        absent_null_or(".{0,12}".prop_map(Value::from)),
    )
        .prop_map(|(role, content, extra, name, calls, call_id, reasoning)| {
            let mut m = extra;
            m.insert("role".into(), json!(role));
            m.insert("content".into(), content);
            for (k, v) in [
                ("name", name),
                ("tool_calls", calls),
                ("tool_call_id", call_id),
                ("reasoning_content", reasoning),
            ] {
                if let Some(v) = v {
                    m.insert(k.into(), v);
                }
            }
            Value::Object(m)
        })
}

/// Typed optional request fields, each absent, `null` or set.
fn typed_request_fields() -> impl Strategy<Value = Vec<(&'static str, Option<Value>)>> {
    (
        absent_null_or((0u32..200).prop_map(|n| json!(f64::from(n) / 200.0)))
            .prop_map(|v| ("top_p", v)),
        absent_null_or(any::<u32>().prop_map(Value::from))
            .prop_map(|v| ("max_completion_tokens", v)),
        absent_null_or(Just(json!({"type": "json_object"}))).prop_map(|v| ("response_format", v)),
        absent_null_or(Just(
            json!([{"type": "function", "function": {"name": "f"}}]),
        ))
        .prop_map(|v| ("tools", v)),
        absent_null_or(Just(json!("auto"))).prop_map(|v| ("tool_choice", v)),
        absent_null_or(Just(json!("low"))).prop_map(|v| ("reasoning_effort", v)),
        absent_null_or(Just(json!({"effort": "high"}))).prop_map(|v| ("reasoning", v)),
    )
        .prop_map(|(a, b, c, d, e, f, g)| vec![a, b, c, d, e, f, g])
}

/// A valid request: model, 1–4 messages, typed fields absent, `null` or set, vendor
/// extras.
fn valid_request() -> impl Strategy<Value = Value> {
    (
        "[a-z0-9/._-]{1,20}",
        prop::collection::vec(message(), 1..4),
        prop::option::of(any::<bool>()),
        prop::option::of(0u32..200),
        prop::option::of(any::<u64>()),
        extras(),
        typed_request_fields(),
        any::<bool>(),
    )
        .prop_map(
            |(model, messages, stream, temp, max_tokens, extra, typed, null_stream)| {
                let mut m = extra;
                for (k, v) in typed {
                    if let Some(v) = v {
                        m.insert(k.into(), v);
                    }
                }
                if null_stream && stream.is_none() {
                    m.insert("stream".into(), Value::Null);
                }
                m.insert("model".into(), json!(model));
                m.insert("messages".into(), Value::Array(messages));
                if let Some(s) = stream {
                    m.insert("stream".into(), json!(s));
                }
                if let Some(t) = temp {
                    m.insert("temperature".into(), json!(f64::from(t) / 100.0));
                }
                if let Some(n) = max_tokens {
                    m.insert("max_tokens".into(), json!(n));
                }
                Value::Object(m)
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_json_value_never_panics(v in any_json()) {
        let _ = serde_json::from_value::<ChatRequest>(v);
    }

    #[test]
    fn request_like_objects_never_panic(v in request_like()) {
        if let Ok(req) = serde_json::from_value::<ChatRequest>(v) {
            let _ = req.validate();
            let _ = req.to_value();
        }
    }

    #[test]
    fn valid_requests_round_trip(v in valid_request()) {
        let req: ChatRequest = serde_json::from_value(v.clone())
            .map_err(|e| TestCaseError::fail(format!("{e}: {v}")))?;
        prop_assert_eq!(req.validate(), Ok(()));
        prop_assert_eq!(serde_json::to_value(&req).unwrap(), v.clone());
        let text = serde_json::to_string(&req).unwrap();
        let again: ChatRequest = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(again, req);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = serde_json::from_slice::<ChatRequest>(&bytes);
    }

    #[test]
    fn mangled_valid_bodies_never_panic(v in valid_request(), cut in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut bytes = serde_json::to_vec(&v).unwrap();
        let at = cut.index(bytes.len());
        bytes[at] = byte;
        let _ = serde_json::from_slice::<ChatRequest>(&bytes);
        let _ = serde_json::from_slice::<ChatRequest>(&bytes[..at]);
    }
}
