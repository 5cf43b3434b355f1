//! The openai provider: same client, request sent as given, no codex specifics.

use std::sync::Arc;

use futures::StreamExt;
use scillm_core::registry::{self, ProviderSettings};
use scillm_core::secrecy::SecretString;
use scillm_core::{ApiBase, CallContext, SharedProvider};
use serde_json::{json, Value};
use wiremock::ResponseTemplate;

use crate::support::{config, ok, sse_event, upstream};

fn openai(base: &str, key: Option<&str>) -> SharedProvider {
    // The codex-agent base is deliberately elsewhere: the openai provider must not use it.
    let settings = ProviderSettings {
        config: Arc::new(config("http://127.0.0.1:9", &[])),
        api_base: Some(ApiBase::parse(base).unwrap()),
        api_key: key.map(SecretString::from),
        ..ProviderSettings::default()
    };
    registry::build("openai", &settings).unwrap()
}

#[tokio::test]
async fn the_request_is_sent_as_given_with_the_bearer_key_and_no_codex_headers() {
    let null_content = json!({
        "id": "chatcmpl-o1", "object": "chat.completion", "created": 1, "model": "gpt-4o",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": null,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            "finish_reason": "tool_calls"}]
    });
    let (server, seen) =
        upstream(vec![ResponseTemplate::new(200).set_body_json(&null_content)]).await;
    let p = openai(&server.uri(), Some("sk-test"));
    assert_eq!(p.name(), "openai");
    assert!(!format!("{p:?}").contains("sk-test"));
    let req = serde_json::from_value(json!({
        "model": "codex/gpt-4o",
        "messages": [{"role": "user", "content": "hi"}],
        "top_p": 0.5, "presence_penalty": 0.1, "frequency_penalty": 0.2,
        "reasoning_effort": "high"
    }))
    .unwrap();
    let resp = p.chat(req, &CallContext::new()).await.unwrap();
    assert_eq!(resp.first_tool_calls().len(), 1);
    let got = &seen.requests()[0];
    let body: Value = got.body_json().unwrap();
    assert_eq!(body["model"], "codex/gpt-4o");
    assert_eq!(body["top_p"], json!(0.5));
    assert_eq!(body["presence_penalty"], json!(0.1));
    assert_eq!(body["frequency_penalty"], json!(0.2));
    assert!(body.get("reasoning").is_none());
    assert_eq!(got.headers.get("authorization").unwrap(), "Bearer sk-test");
    assert!(got.headers.get("x-codex-force-local").is_none());
}

#[tokio::test]
async fn the_openai_provider_retries_with_the_same_rules() {
    let (server, seen) = upstream(vec![ResponseTemplate::new(502), ok("ok")]).await;
    let ctx = CallContext::new();
    let resp = openai(&server.uri(), None)
        .chat(crate::support::hi(), &ctx)
        .await
        .unwrap();
    assert_eq!(resp.first_text(), "ok");
    assert_eq!(seen.count(), 2);
    assert_eq!(ctx.stats.get().unwrap().statuses, vec![502, 200]);
    assert!(seen.requests()[0].headers.get("authorization").is_none());
}

#[tokio::test]
async fn the_openai_provider_streams() {
    let body = format!(
        "{}{}data: [DONE]\n\n",
        sse_event("a", None),
        sse_event("b", Some("stop"))
    );
    let sse = ResponseTemplate::new(200).set_body_raw(body.into_bytes(), "text/event-stream");
    let (server, _) = upstream(vec![sse]).await;
    let mut s = openai(&server.uri(), None)
        .chat_stream(crate::support::hi(), &CallContext::new())
        .await
        .unwrap();
    let mut text = String::new();
    while let Some(item) = s.next().await {
        text.push_str(item.unwrap().choices[0].delta.text_str());
    }
    assert_eq!(text, "ab");
}
