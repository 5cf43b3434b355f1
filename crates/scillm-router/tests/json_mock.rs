//! JSON / JSON-Schema checks, schema-first fallback and vision payloads, through the real
//! openai provider against the mock upstream.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{item, meta, router};
use scillm_router::{ErrorType, ParallelOptions, RouterRequest};
use scillm_testkit::chat_mock::{ChatMock, MockReply};
use serde_json::{json, Value};

fn schema() -> Value {
    json!({"type": "object", "required": ["answer"], "properties": {"answer": {"type": "integer"}}})
}

fn one(mock: &ChatMock) -> scillm_router::Router {
    router(
        json!([{"model_name": "m", "provider": "openai", "api_base": mock.base_url()}]),
        &[],
    )
}

#[tokio::test]
async fn valid_json_failing_the_schema_is_invalid_json_with_errors() {
    let mock = ChatMock::builder()
        .content(r#"{"answer": "forty-two"}"#)
        .start()
        .await
        .unwrap();
    let mut raw = item("m", "q");
    raw["response_format"] =
        json!({"type": "json_schema", "json_schema": {"name": "a", "schema": schema()}});
    let r = one(&mock).completion(raw).await;
    let m = meta(&r);
    assert_eq!(m["error_type"], "invalid_json");
    assert_eq!(m["json_valid"], true);
    assert_eq!(m["schema_valid"], false);
    assert_eq!(m["schema_mode"], "json_schema");
    assert_eq!(m["fallback_used"], false);
    let errors = m["schema_errors"].as_array().unwrap();
    assert!(!errors.is_empty());
    assert!(
        errors[0].as_str().unwrap().starts_with("/answer:"),
        "{errors:?}"
    );
    assert_eq!(
        r.content(),
        r#"{"answer": "forty-two"}"#,
        "content kept verbatim"
    );
    assert_eq!(mock.request_count(), 1);
}

#[tokio::test]
async fn schema_first_falls_back_to_json_object_once() {
    let mock = ChatMock::builder()
        .then(MockReply::ok("Sure! here it is"))
        .then(MockReply::ok(r#"{"answer": 42}"#))
        .start()
        .await
        .unwrap();
    let req = RouterRequest::from_value(item("m", "q"))
        .unwrap()
        .schema_first(schema());
    let r = one(&mock).completion(req).await;
    let m = meta(&r);
    assert_eq!(m["error_type"], "ok", "{m}");
    assert_eq!(m["schema_mode"], "schema_first");
    assert_eq!(m["fallback_used"], true);
    assert_eq!(m["json_valid"], true);
    assert_eq!(m["schema_valid"], true);
    assert_eq!(r.content(), r#"{"answer": 42}"#);
    let sent = mock.requests();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].body["response_format"]["type"], "json_schema");
    assert_eq!(
        sent[0].body["response_format"]["json_schema"]["schema"],
        schema()
    );
    assert_eq!(
        sent[1].body["response_format"],
        json!({"type": "json_object"})
    );
    for s in &sent {
        assert!(s.body.get("response_mode").is_none() && s.body.get("json_schema").is_none());
    }
}

#[tokio::test]
async fn schema_first_that_never_gets_json_keeps_the_content() {
    let mock = ChatMock::builder()
        .content("shim ok")
        .start()
        .await
        .unwrap();
    let mut raw = item("m", "q");
    raw["response_mode"] = json!("schema_first");
    raw["json_schema"] = schema();
    let out = one(&mock).parallel(vec![raw], ParallelOptions::new()).await;
    let m = meta(&out[0]);
    assert_eq!(out[0].content(), "shim ok");
    assert_eq!(m["error_type"], "invalid_json");
    assert_eq!(m["json_valid"], false);
    assert_eq!(m["schema_valid"], json!(null));
    assert_eq!(m["fallback_used"], true);
    assert_eq!(mock.request_count(), 2);
}

#[tokio::test]
async fn a_vision_request_reaches_the_upstream_with_its_parts_intact() {
    let parts = json!([
        {"type": "text", "text": "what is in this image?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}}
    ]);
    let expected = parts.clone();
    let mock = ChatMock::builder()
        .check_body(move |body| {
            let content = &body["messages"][0]["content"];
            if *content == expected {
                Ok(())
            } else {
                Err(format!("content changed on the way: {content}"))
            }
        })
        .content("a cat")
        .start()
        .await
        .unwrap();
    let raw = json!({"model": "m", "messages": [{"role": "user", "content": parts}]});
    let out = one(&mock).parallel(vec![raw], ParallelOptions::new()).await;
    assert!(
        mock.body_failures().is_empty(),
        "{:?}",
        mock.body_failures()
    );
    assert_eq!(out[0].meta.error_type, ErrorType::Ok, "{:?}", out[0].meta);
    assert_eq!(out[0].content(), "a cat");
    assert!(mock.requests()[0].body["messages"][0]["content"].is_array());
}
