//! Property tests of reading upstream answers (SPEC §11): any JSON object with a string at
//! `choices[0].message.content` (every other field arbitrary JSON) parses and yields that
//! content; any sequence of chunk objects with string `delta.content` aggregates to their
//! concatenation; and no JSON at all makes the readers panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use scillm_core::upstream::{
    canonical_completion, chunk_from_str, completion_from_slice, completion_from_value, StreamIds,
};
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

/// The first of `choices` 19 times in 20 (the answer as OpenAI sends it), else any of
/// them (`None`: the field left out).
fn one_of(choices: Vec<Option<Value>>) -> impl Strategy<Value = Option<Value>> {
    let usual = choices.first().cloned().flatten();
    prop_oneof![19 => Just(usual), 1 => prop::sample::select(choices)]
}

fn put(obj: &mut Map<String, Value>, key: &str, v: Option<Value>) {
    if let Some(v) = v {
        obj.insert(key.into(), v);
    }
}

/// A tool call, well-formed or missing one of the parts §11 fills in.
fn tool_call() -> impl Strategy<Value = Value> {
    (
        one_of(vec![Some("call_1".into()), Some(Value::from(7)), None]),
        one_of(vec![Some("function".into()), Some(Value::Null), None]),
        one_of(vec![
            Some(serde_json::json!({"name": "f", "arguments": "{}"})),
            Some(serde_json::json!({"name": "f", "arguments": {"a": 1}})),
            Some(serde_json::json!({"arguments": "{}"})),
            None,
        ]),
    )
        .prop_map(|(id, kind, function)| {
            let mut call = Map::new();
            put(&mut call, "id", id);
            put(&mut call, "type", kind);
            put(&mut call, "function", function);
            Value::Object(call)
        })
}

/// A choice at position `pos`, mostly as OpenAI sends it, sometimes as other servers do.
fn typed_choice(pos: usize) -> impl Strategy<Value = Value> {
    (
        one_of(vec![
            Some(Value::from(pos)),
            Some(Value::from(pos + 3)),
            Some("0".into()),
            None,
        ]),
        one_of(vec![
            Some("stop".into()),
            Some(Value::Null),
            Some("error".into()),
            Some(Value::from(1)),
            None,
        ]),
        one_of(vec![
            Some("assistant".into()),
            Some("tool".into()),
            Some("bot".into()),
            Some(Value::Null),
            None,
        ]),
        one_of(vec![
            Some("hi".into()),
            Some(Value::Null),
            Some(Value::from(3)),
            None,
        ]),
        one_of(vec![Some("n".into()), Some(Value::Null), None]),
        one_of(vec![Some("why".into()), Some(Value::Null), None]),
        prop_oneof![3 => Just(None), 1 => prop::collection::vec(tool_call(), 0..3).prop_map(Some)],
        one_of(vec![None, Some(Value::Null), Some("text".into())]),
    )
        .prop_map(
            |(index, finish, role, content, name, reasoning, calls, legacy)| {
                let mut m = Map::new();
                put(&mut m, "role", role);
                put(&mut m, "content", content);
                put(&mut m, "name", name);
                put(&mut m, "reasoning_content", reasoning);
                put(&mut m, "tool_calls", calls.map(Value::Array));
                let mut c = Map::new();
                put(&mut c, "index", index);
                put(&mut c, "finish_reason", finish);
                put(&mut c, "text", legacy);
                c.insert("message".into(), Value::Object(m));
                Value::Object(c)
            },
        )
}

/// A completion mostly as OpenAI sends it, each field sometimes missing, null or retyped.
fn typed_completion() -> impl Strategy<Value = Value> {
    (
        one_of(vec![Some("chatcmpl-1".into()), Some("".into()), Some(Value::from(5)), None]),
        one_of(vec![Some("chat.completion".into()), Some(Value::Null), None]),
        one_of(vec![Some(Value::from(1_700_000_000u64)), Some(Value::from(0)), Some(Value::from(1.5e9)), Some("17".into()), None]),
        one_of(vec![Some("gpt-4o".into()), Some(Value::Null), Some(Value::from(4)), None]),
        one_of(vec![
            Some(serde_json::json!({"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5})),
            Some(serde_json::json!({"prompt_tokens": "3", "completion_tokens": 2.0})),
            Some(serde_json::json!({"prompt_tokens": 3, "prompt_tokens_details": {"cached_tokens": 0}})),
            Some(Value::Null),
            Some(Value::from(7)),
            None,
        ]),
        one_of(vec![None, Some(serde_json::json!({"message": "slow down"})), Some(Value::Null)]),
        one_of(vec![Some("fp_1".into()), None]),
        (1usize..4).prop_flat_map(|n| (0..n).map(typed_choice).collect::<Vec<_>>()),
    )
        .prop_map(|(id, object, created, model, usage, error, fp, choices)| {
            let mut top = Map::new();
            put(&mut top, "id", id);
            put(&mut top, "object", object);
            put(&mut top, "created", created);
            put(&mut top, "model", model);
            put(&mut top, "usage", usage);
            put(&mut top, "error", error);
            put(&mut top, "system_fingerprint", fp);
            top.insert("choices".into(), Value::Array(choices));
            Value::Object(top)
        })
}

/// The fast reading of an answer, when it answers, equals the lenient one (§11); both
/// readings are exercised (each of 2,048 generated answers takes one of them).
#[test]
fn the_fast_reading_equals_the_lenient_one() {
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 2048,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let (mut fast_reads, mut lenient_reads) = (0usize, 0usize);
    let tally = std::cell::RefCell::new((&mut fast_reads, &mut lenient_reads));
    runner
        .run(&typed_completion(), |body| {
            let bytes = serde_json::to_vec(&body).unwrap();
            let mut t = tally.borrow_mut();
            match canonical_completion(&bytes) {
                Some(fast) => {
                    *t.0 += 1;
                    let lenient =
                        completion_from_value(200, body.clone(), &bytes).map_err(|e| {
                            TestCaseError::fail(format!("fast read {body} but lenient failed: {e}"))
                        })?;
                    prop_assert_eq!(fast, lenient, "{}", body);
                }
                None => *t.1 += 1,
            }
            Ok(())
        })
        .unwrap();
    assert!(
        fast_reads >= 200 && lenient_reads >= 200,
        "both readings must be exercised: {fast_reads} fast, {lenient_reads} lenient"
    );
}

#[test]
fn an_openai_answer_takes_the_fast_reading() {
    let body = br#"{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"ok","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4},"system_fingerprint":"fp_1"}"#;
    let fast = canonical_completion(body).expect("canonical");
    let lenient = completion_from_value(200, serde_json::from_slice(body).unwrap(), body).unwrap();
    assert_eq!(fast, lenient);
    assert_eq!(fast.first_text(), "ok");
}
