//! Property tests of reading upstream answers (SPEC §11): any JSON object with a string at
//! `choices[0].message.content` (every other field arbitrary JSON) parses and yields that
//! content; any sequence of chunk objects with string `delta.content` aggregates to their
//! concatenation; and no JSON at all makes the readers panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use scillm_core::upstream::{chunk_from_str, completion_from_slice, StreamIds};
use scillm_core::wire::Aggregator;
use serde_json::{Map, Value};

/// Any JSON value, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        "[0-9]{1,6}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An object whose keys come from `keys` (each present or not) with arbitrary values.
fn fields(keys: &'static [&'static str]) -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map(prop::sample::select(keys), any_json(), 0..keys.len())
        .prop_map(|m| m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

/// Keys an upstream answer's top level may carry (never `error`: that makes it an error).
const TOP: &[&str] = &[
    "id",
    "object",
    "created",
    "model",
    "usage",
    "system_fingerprint",
    "service_tier",
    "x_groq",
    "provider",
    "prompt_filter_results",
];
const CHOICE: &[&str] = &["index", "finish_reason", "logprobs", "native_finish_reason"];
const MESSAGE: &[&str] = &[
    "role",
    "name",
    "tool_calls",
    "tool_call_id",
    "reasoning_content",
    "reasoning",
    "refusal",
    "audio",
];

/// `finish_reason: "error"` marks a failed answer; anything else is fair game.
fn not_an_error(mut choice: Map<String, Value>) -> Map<String, Value> {
    if choice.get("finish_reason").and_then(Value::as_str) == Some("error") {
        choice.remove("finish_reason");
    }
    choice
}

fn completion() -> impl Strategy<Value = (Value, String)> {
    (
        fields(TOP),
        fields(CHOICE),
        fields(MESSAGE),
        ".{0,40}",
        prop::collection::vec(any_json(), 0..3),
    )
        .prop_map(|(mut top, choice, mut message, content, more_choices)| {
            message.insert("content".into(), Value::String(content.clone()));
            let mut choice = not_an_error(choice);
            choice.insert("message".into(), Value::Object(message));
            let mut choices = vec![Value::Object(choice)];
            choices.extend(
                more_choices
                    .into_iter()
                    .filter(|c| c.get("finish_reason").and_then(Value::as_str) != Some("error")),
            );
            top.insert("choices".into(), Value::Array(choices));
            (Value::Object(top), content)
        })
}

/// A chunk adding `text` to choice 0 (its index absent or 0 in some form).
fn chunk() -> impl Strategy<Value = (Value, String)> {
    (
        fields(TOP),
        fields(&["finish_reason", "logprobs"]),
        fields(&[
            "role",
            "reasoning_content",
            "tool_calls",
            "refusal",
            "token_id",
        ]),
        prop_oneof![
            Just(None),
            Just(Some(Value::from(0))),
            Just(Some(Value::from("0"))),
            Just(Some(Value::from(0.0))),
            Just(Some(Value::Null)),
        ],
        ".{0,12}",
    )
        .prop_map(|(mut top, choice, mut delta, index, text)| {
            delta.insert("content".into(), Value::String(text.clone()));
            let mut choice = not_an_error(choice);
            choice.insert("delta".into(), Value::Object(delta));
            if let Some(i) = index {
                choice.insert("index".into(), i);
            }
            top.insert("choices".into(), Value::Array(vec![Value::Object(choice)]));
            (Value::Object(top), text)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_completion_with_string_content_yields_it((body, content) in completion()) {
        let bytes = serde_json::to_vec(&body).unwrap();
        let r = completion_from_slice(200, &bytes)
            .map_err(|e| TestCaseError::fail(format!("{e}: {body}")))?;
        prop_assert_eq!(r.first_text(), content);
    }

    #[test]
    fn any_chunk_sequence_aggregates_to_the_concatenation(chunks in prop::collection::vec(chunk(), 0..8)) {
        let mut ids = StreamIds::default();
        let mut agg = Aggregator::default();
        let mut want = String::new();
        for (chunk, text) in &chunks {
            let data = serde_json::to_string(chunk).unwrap();
            let c = chunk_from_str(&data, &mut ids)
                .map_err(|e| TestCaseError::fail(format!("{e}: {data}")))?;
            agg.push(c);
            want.push_str(text);
        }
        prop_assert_eq!(agg.finish("m").first_text(), want);
    }

    #[test]
    fn no_json_makes_the_readers_panic(v in any_json()) {
        let text = serde_json::to_string(&v).unwrap();
        let _ = completion_from_slice(200, text.as_bytes());
        let _ = chunk_from_str(&text, &mut StreamIds::default());
    }
}
