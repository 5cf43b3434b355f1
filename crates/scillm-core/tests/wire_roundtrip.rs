//! Realistic OpenAI documents parse into the typed wire structs and serialise back to
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! equal JSON.

use std::path::PathBuf;

use scillm_core::wire::{ChatChunk, ChatRequest, ChatResponse, Content, ContentPart, ErrorBody};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

fn fixtures() -> Vec<(String, Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/wire");
    let mut out: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let v = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            (name, v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn roundtrip<T: DeserializeOwned + Serialize>(name: &str, v: &Value) -> T {
    let parsed: T = serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
    let back = serde_json::to_value(&parsed).unwrap();
    assert_eq!(&back, v, "{name} did not round-trip");
    parsed
}

#[test]
fn every_fixture_round_trips() {
    let all = fixtures();
    assert!(
        all.len() >= 15,
        "expected at least 15 fixtures, found {}",
        all.len()
    );
    for (name, v) in &all {
        match name.split('_').next() {
            Some("req") => {
                roundtrip::<ChatRequest>(name, v);
            }
            Some("resp") => {
                roundtrip::<ChatResponse>(name, v);
            }
            Some("chunk") => {
                roundtrip::<ChatChunk>(name, v);
            }
            Some("error") => {
                roundtrip::<ErrorBody>(name, v);
            }
            _ => panic!("fixture {name} has no known prefix"),
        }
    }
}

#[test]
fn vision_parts_stay_a_list() {
    let (_, v) = fixtures()
        .into_iter()
        .find(|(n, _)| n == "req_vision_data_url.json")
        .unwrap();
    let req: ChatRequest = serde_json::from_value(v).unwrap();
    match &req.messages[0].content {
        Some(Content::Parts(parts)) => {
            assert_eq!(parts.len(), 2);
            assert!(
                matches!(&parts[0], ContentPart::Text { text, .. } if text.starts_with("What"))
            );
            match &parts[1] {
                ContentPart::ImageUrl { image_url, .. } => {
                    assert!(image_url.url.starts_with("data:image/png;base64,"));
                    assert_eq!(image_url.detail.as_deref(), Some("high"));
                }
                other => panic!("expected an image part, got {other:?}"),
            }
        }
        other => panic!("expected parts, got {other:?}"),
    }
    let out = serde_json::to_value(&req).unwrap();
    assert!(out["messages"][0]["content"].is_array());
}

#[test]
fn unknown_parts_and_vendor_fields_are_kept() {
    let all = fixtures();
    let (_, v) = all
        .iter()
        .find(|(n, _)| n == "req_unknown_part.json")
        .unwrap();
    let req: ChatRequest = serde_json::from_value(v.clone()).unwrap();
    let Some(Content::Parts(parts)) = &req.messages[0].content else {
        panic!("parts expected")
    };
    assert!(matches!(&parts[0], ContentPart::Other(p) if p["type"] == "input_audio"));
    let (_, v) = all
        .iter()
        .find(|(n, _)| n == "req_vendor_extras.json")
        .unwrap();
    let req: ChatRequest = serde_json::from_value(v.clone()).unwrap();
    assert!(req.extra.contains_key("extra_body"));
    assert!(req.extra.contains_key("stream_options"));
    assert!(req.is_stream());
}

#[test]
fn null_content_is_kept_apart_from_absent_content() {
    let v: Value = serde_json::json!({"role":"assistant","content":null,"tool_calls":[]});
    let m: scillm_core::wire::Message = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(m.content, Some(Content::Null));
    assert_eq!(serde_json::to_value(&m).unwrap(), v);
    let v: Value = serde_json::json!({"role":"assistant","tool_calls":[]});
    let m: scillm_core::wire::Message = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(m.content, None);
    assert_eq!(serde_json::to_value(&m).unwrap(), v);
}

#[test]
fn malformed_documents_are_rejected_with_a_reason() {
    let bad = [
        (r#"{"messages":[]}"#, "model"),
        (
            r#"{"model":"m","messages":[{"role":"wizard","content":"x"}]}"#,
            "wizard",
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":[{"text":"no type"}]}]}"#,
            "type",
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":[{"type":"image_url"}]}]}"#,
            "image_url",
        ),
        (r#"{"model":"m","messages":"hi"}"#, "sequence"),
        (
            r#"{"model":"m","messages":[{"role":"user","content":42}]}"#,
            "string, null or a list of parts",
        ),
    ];
    for (doc, hint) in bad {
        let err = serde_json::from_str::<ChatRequest>(doc)
            .unwrap_err()
            .to_string();
        assert!(err.contains(hint), "{doc}: {err}");
    }
}

#[test]
fn numbers_pass_through_digit_for_digit() {
    // Sampling parameters and vendor extras are forwarded: a float must come back as the
    // same decimal, not one a rounding step away (serde_json's `float_roundtrip`).
    let text = r#"{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":0.30000000000000004,"top_p":0.1,"seed":18446744073709551615,"x_vendor":{"a":2.2250738585072014e-308,"b":5e-324,"c":1.7976931348623157e308,"d":9007199254740993,"e":-0.0,"f":1.0000000000000002,"g":123456.78901234567,"h":1.0715660391465826e-75}}"#;
    let parsed: ChatRequest = serde_json::from_str(text).unwrap();
    let back = serde_json::to_string(&parsed).unwrap();
    let reparsed: serde_json::Value = serde_json::from_str(&back).unwrap();
    let original: serde_json::Value = serde_json::from_str(text).unwrap();
    assert_eq!(reparsed, original, "{back}");
    for literal in [
        "0.30000000000000004",
        "2.2250738585072014e-308",
        "5e-324",
        "9007199254740993",
        "18446744073709551615",
        "1.0000000000000002",
        "123456.78901234567",
        // Parsed one step off without `float_roundtrip`.
        "1.0715660391465826e-75",
    ] {
        assert!(back.contains(literal), "{literal} changed in {back}");
    }
}

#[test]
fn a_kept_null_yields_to_a_value_set_later() {
    let (_, v) = fixtures()
        .into_iter()
        .find(|(n, _)| n == "req_explicit_nulls.json")
        .unwrap();
    let mut req: ChatRequest = serde_json::from_value(v).unwrap();
    assert_eq!(req.temperature, None);
    assert_eq!(req.extra.get("temperature"), Some(&Value::Null));
    req.temperature = Some(serde_json::Number::from_f64(0.5).unwrap());
    req.messages[0].name = Some("sys".into());
    let text = serde_json::to_string(&req).unwrap();
    assert_eq!(text.matches("\"temperature\"").count(), 1, "{text}");
    let back: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(back["temperature"], serde_json::json!(0.5));
    assert_eq!(back["messages"][0]["name"], "sys");
    assert_eq!(back["top_p"], Value::Null);
    assert_eq!(back["user"], Value::Null);
}
