//! What the codex-agent provider sends upstream and what it makes of the answer.

use scillm_core::secrecy::SecretString;
use scillm_core::wire::{ChatRequest, Content};
use scillm_core::{ApiBase, CallContext, ErrorKind};
use serde_json::{json, Value};
use wiremock::ResponseTemplate;

use crate::support::{codex, completion, hi, http_json, ok, upstream, RawReply, RawServer};

fn request(json: Value) -> ChatRequest {
    serde_json::from_value(json).unwrap()
}

fn header(req: &wiremock::Request, name: &str) -> Option<String> {
    req.headers
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
}

#[tokio::test]
async fn body_fields_headers_and_key_arrive_upstream() {
    let (server, seen) = upstream(vec![ok("ok")]).await;
    let p = codex(&server.uri(), &[("CODEX_AGENT_API_KEY", "token-123")]);
    let ctx = CallContext::new()
        .with_header("X-Test", "1")
        .with_header("Connection", "close")
        .with_header("Keep-Alive", "timeout=5")
        .with_header("Proxy-Authorization", "Basic abc");
    let req = request(json!({
        "model": "codex-agent/gpt-5",
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0.2,
        "max_tokens": 33,
        "top_p": 0.5,
        "presence_penalty": 0.1,
        "frequency_penalty": 0.1,
        "reasoning_effort": "high",
        "response_format": {"type": "json_object"},
        "vendor_field": [1, 2]
    }));
    p.chat(req, &ctx).await.unwrap();
    let got = &seen.requests()[0];
    assert_eq!(got.url.path(), "/v1/chat/completions");
    let body: Value = got.body_json().unwrap();
    assert_eq!(body["model"], "gpt-5");
    assert_eq!(body["temperature"], json!(0.2));
    assert_eq!(body["max_tokens"], 33);
    assert_eq!(body["reasoning_effort"], "high");
    assert_eq!(body["reasoning"], json!({"effort": "high"}));
    assert_eq!(body["response_format"], json!({"type": "json_object"}));
    assert_eq!(body["vendor_field"], json!([1, 2]));
    for gone in ["top_p", "presence_penalty", "frequency_penalty", "stream"] {
        assert!(body.get(gone).is_none(), "{gone} was sent");
    }
    assert_eq!(
        header(got, "authorization").as_deref(),
        Some("Bearer token-123")
    );
    assert_eq!(header(got, "x-test").as_deref(), Some("1"));
    assert_eq!(header(got, "x-codex-force-local").as_deref(), Some("1"));
    assert_eq!(
        header(got, "content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(header(got, "keep-alive"), None);
    assert_eq!(header(got, "proxy-authorization"), None);
}

#[tokio::test]
async fn a_plain_model_id_goes_to_codex_unchanged_and_codex_prefix_is_stripped() {
    let (server, seen) = upstream(vec![ok("ok")]).await;
    let p = codex(&server.uri(), &[]);
    p.chat(hi(), &CallContext::new()).await.unwrap();
    let mut r = hi();
    r.model = "codex/gpt-5-mini".into();
    p.chat(r, &CallContext::new()).await.unwrap();
    let models: Vec<Value> = seen
        .requests()
        .iter()
        .map(|r| r.body_json::<Value>().unwrap()["model"].clone())
        .collect();
    assert_eq!(models, vec![json!("gpt-5"), json!("gpt-5-mini")]);
    // No key configured: no Authorization header is invented.
    assert_eq!(header(&seen.requests()[0], "authorization"), None);
}

#[tokio::test]
async fn a_per_call_key_and_a_caller_authorization_take_precedence() {
    let (server, seen) = upstream(vec![ok("ok")]).await;
    let p = codex(&server.uri(), &[("CODEX_AGENT_API_KEY", "token-123")]);
    let mut ctx = CallContext::new();
    ctx.api_key = Some(SecretString::from("per-call"));
    p.chat(hi(), &ctx).await.unwrap();
    let ctx = CallContext::new().with_header("Authorization", "Bearer caller");
    p.chat(hi(), &ctx).await.unwrap();
    let reqs = seen.requests();
    assert_eq!(
        header(&reqs[0], "authorization").as_deref(),
        Some("Bearer per-call")
    );
    assert_eq!(
        header(&reqs[1], "authorization").as_deref(),
        Some("Bearer caller")
    );
}

#[tokio::test]
async fn a_vision_message_arrives_with_its_parts_intact() {
    let (server, seen) = upstream(vec![ok("a cat")]).await;
    let messages = json!([
        {"role": "system", "content": "describe"},
        {"role": "user", "content": [
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "high"}},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
            {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}
        ]}
    ]);
    let req = request(json!({"model": "gpt-5", "messages": messages}));
    let resp = codex(&server.uri(), &[])
        .chat(req, &CallContext::new())
        .await
        .unwrap();
    assert_eq!(resp.first_text(), "a cat");
    let body: Value = seen.requests()[0].body_json().unwrap();
    assert_eq!(body["messages"], messages);
}

#[tokio::test]
async fn upstream_id_usage_finish_reason_and_tool_calls_are_kept_and_null_content_is_empty() {
    let answer = json!({
        "id": "chatcmpl-upstream-42",
        "object": "chat.completion",
        "created": 1_700_000_123,
        "model": "gpt-5",
        "system_fingerprint": "fp_1",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "echo", "arguments": "{\"x\":1}"}}
            ]},
            "finish_reason": "tool_calls"
        }],
        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
    });
    let (server, _) = upstream(vec![ResponseTemplate::new(200).set_body_json(&answer)]).await;
    let resp = codex(&server.uri(), &[])
        .chat(hi(), &CallContext::new())
        .await
        .unwrap();
    assert_eq!(resp.id, "chatcmpl-upstream-42");
    assert_eq!(resp.created, 1_700_000_123);
    assert_eq!(resp.choices[0].finish_reason.as_deref(), Some("tool_calls"));
    assert_eq!(
        resp.choices[0].message.content,
        Some(Content::Text(String::new()))
    );
    let calls = resp.first_tool_calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].function.name, "echo");
    assert_eq!(calls[0].function.arguments, "{\"x\":1}");
    let usage = resp.usage.as_ref().unwrap();
    assert_eq!(
        (
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.total_tokens
        ),
        (11, 7, 18)
    );
    assert_eq!(resp.extra["system_fingerprint"], "fp_1");
}

#[tokio::test]
async fn a_per_call_base_overrides_the_configured_one() {
    let (configured, configured_seen) = upstream(vec![ok("configured")]).await;
    let (other, other_seen) = upstream(vec![ok("override")]).await;
    let p = codex(&configured.uri(), &[]);
    let mut ctx = CallContext::new();
    ctx.api_base = Some(ApiBase::parse(&other.uri()).unwrap());
    let resp = p.chat(hi(), &ctx).await.unwrap();
    assert_eq!(resp.first_text(), "override");
    assert_eq!((configured_seen.count(), other_seen.count()), (0, 1));
}

#[tokio::test]
async fn calls_through_one_provider_reuse_one_connection() {
    let server = RawServer::start(RawReply::KeepAlive(http_json(&completion("ok")))).await;
    let p = codex(&server.base, &[]);
    for _ in 0..3 {
        let resp = p.chat(hi(), &CallContext::new()).await.unwrap();
        assert_eq!(resp.first_text(), "ok");
    }
    assert_eq!(server.connections(), 1);
}

#[tokio::test]
async fn secrets_stay_out_of_debug_output_and_errors() {
    let denied = ResponseTemplate::new(401).set_body_json(json!({"error": {"message": "bad key"}}));
    let (server, _) = upstream(vec![denied]).await;
    let p = codex(&server.uri(), &[("CODEX_AGENT_API_KEY", "token-123")]);
    let debug = format!("{p:?}");
    assert!(!debug.contains("token-123"), "{debug}");
    assert!(debug.contains("[REDACTED]"), "{debug}");
    let err = p.chat(hi(), &CallContext::new()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Auth);
    assert_eq!(err.message, "bad key");
    assert!(!format!("{err:?} {err}").contains("token-123"));
}

#[tokio::test]
async fn an_invalid_caller_header_fails_before_sending_and_still_yields_stats() {
    let (server, seen) = upstream(vec![ok("ok")]).await;
    let ctx = CallContext::new().with_header("X-Bad", "line\nbreak");
    let err = codex(&server.uri(), &[])
        .chat(hi(), &ctx)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidRequest);
    assert_eq!(seen.count(), 0);
    let s = ctx.stats.get().unwrap();
    assert_eq!((s.failures, s.attempts, s.final_status), (1, 0, None));
}
